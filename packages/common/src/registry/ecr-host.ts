import { ErrorCode, ReplicationError } from '../errors';
import { dnsSuffixOf, findPartitionOfRegion, partitionOfRegion, type Partition } from './partition';

/** An ECR private registry: one account in one region. */
export interface EcrRegistry {
  accountId: string;
  region: string;
  partition: Partition;
  /** Whether the host is the FIPS endpoint (`dkr.ecr-fips`). */
  fips: boolean;
}

const ACCOUNT_ID = /^\d{12}$/;

/** Builds `<account>.dkr.ecr[-fips].<region>.<dns suffix>`. */
export function ecrHost(registry: { accountId: string; region: string; fips?: boolean }): string {
  if (!ACCOUNT_ID.test(registry.accountId)) {
    throw new ReplicationError(ErrorCode.InvalidInput, 'an AWS account id has exactly 12 digits', {
      details: { accountId: registry.accountId },
    });
  }
  const partition = partitionOfRegion(registry.region);
  const service = registry.fips ? 'dkr.ecr-fips' : 'dkr.ecr';
  return `${registry.accountId}.${service}.${registry.region}.${dnsSuffixOf(partition)}`;
}

/**
 * Parses an ECR registry host; undefined for hosts that are not ECR (a port,
 * if any, is ignored). Checks that the DNS suffix is the region's partition's.
 */
export function tryParseEcrHost(host: string): EcrRegistry | undefined {
  const name = host.toLowerCase().replace(/:\d+$/, '');
  const match = /^(\d{12})\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.(.+)$/.exec(name);
  if (!match) return undefined;
  const [, accountId, fips, region, suffix] = match as unknown as [string, string, string | undefined, string, string];
  const partition = findPartitionOfRegion(region);
  if (partition === undefined || dnsSuffixOf(partition) !== suffix) return undefined;
  return { accountId, region, partition, fips: fips !== undefined };
}

/** Parses an ECR registry host or throws `INVALID_ECR_HOST` naming it. */
export function parseEcrHost(host: string): EcrRegistry {
  const registry = tryParseEcrHost(host);
  if (registry === undefined) {
    throw new ReplicationError(
      ErrorCode.InvalidEcrHost,
      `"${host}" is not an ECR registry host (<account>.dkr.ecr[-fips].<region>.<partition DNS suffix>)`,
      { details: { host } },
    );
  }
  return registry;
}

export function isEcrHost(host: string): boolean {
  return tryParseEcrHost(host) !== undefined;
}
