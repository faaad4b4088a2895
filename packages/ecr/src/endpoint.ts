import type { DestinationSecret } from '@ecr-replicate/common';
import { ErrorCode, ReplicationError, ecrHost, type EcrRegistry } from '@ecr-replicate/common/core';
import type { Pacer, RequestRetryPolicy } from '@ecr-replicate/oci';
import { RegistryClient, usesPlainHttp } from '@ecr-replicate/oci';
import { ecrCredentials, type AwsKeys } from './token';

/** A registry the worker talks to: who it is (for ECR tokens and API calls) and where it answers. */
export interface RegistryEndpoint {
  /** The ECR registry whose credentials are used. */
  identity: EcrRegistry;
  /** Where the registry API answers: the ECR host, or an override (local runs). */
  host: string;
  plainHttp: boolean;
  /** True when the host is the real ECR endpoint (ECR API calls are then possible). */
  isEcr: boolean;
}

/** Parses an override such as `http://127.0.0.1:5000`, `https://host` or `host:port`. */
export function parseOverride(override: string): { host: string; plainHttp: boolean } {
  const match = /^(?:(https?):\/\/)?([^/]+)\/?$/.exec(override);
  if (!match)
    throw new ReplicationError(ErrorCode.InvalidInput, `registry override "${override}" is not host[:port]`, {});
  const host = match[2] as string;
  const plainHttp = match[1] === 'http' || (match[1] === undefined && usesPlainHttp(host));
  return { host, plainHttp };
}

/** The endpoint of an ECR registry, or of the override standing in for it. */
export function endpointOf(identity: EcrRegistry, override: string | undefined): RegistryEndpoint {
  if (override === undefined) return { identity, host: ecrHost(identity), plainHttp: false, isEcr: true };
  return { identity, ...parseOverride(override), isEcr: false };
}

/**
 * The destination registry from the secret: its account and partition, in the secret's region or the configured one.
 */
export function destinationIdentity(secret: DestinationSecret, region: string | undefined): EcrRegistry {
  const destinationRegion = secret.region ?? region;
  if (destinationRegion === undefined) {
    throw new ReplicationError(
      ErrorCode.InvalidInput,
      'the destination region is unknown: set "region" in the destination secret or DEST_REGION',
      {},
    );
  }
  // ecrHost validates the account and that the region has a partition.
  ecrHost({ accountId: secret.accountid, region: destinationRegion });
  return { accountId: secret.accountid, region: destinationRegion, partition: secret.partition, fips: false };
}

/**
 * A registry client that logs in with an ECR token: the source with the
 * worker's own role (no keys), the destination with the secret's keys.
 */
export function ecrClient(
  endpoint: RegistryEndpoint,
  keys: AwsKeys | undefined,
  retry?: RequestRetryPolicy,
  /** The destination's quota budget (the worker's, shared through the job table); none for a source. */
  pacer?: Pacer,
): RegistryClient {
  return new RegistryClient({
    host: endpoint.host,
    plainHttp: endpoint.plainHttp,
    basicUpFront: true,
    credentials: () => ecrCredentials(endpoint.identity, keys),
    ...(retry ? { retry } : {}),
    ...(pacer ? { pacer } : {}),
  });
}
