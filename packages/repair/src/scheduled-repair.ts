import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  partitionOfRegion,
  type DestinationSecret,
  type EcrRegistry,
  type FipsSettings,
  type RepairSettings,
  type ScanSettings,
} from '@ecr-replicate/common';
import type { RegistryClient } from '@ecr-replicate/oci';
import {
  destinationIdentity,
  ecrClient,
  endpointOf,
  listEcrRepositories,
  type RegistryEndpoint,
} from '@ecr-replicate/ecr';
import type { SourceRegistryIdentity } from './enqueue';
import { fanOutScan } from './fan-out';

/** The source registry of a repair Lambda: its own account and region, or the override standing in for it. */
export function sourceEndpoint(
  source: SourceRegistryIdentity,
  override: string | undefined,
  fips: FipsSettings | undefined,
): { identity: EcrRegistry; endpoint: RegistryEndpoint } {
  const identity: EcrRegistry = {
    accountId: source.accountId,
    region: source.region,
    partition: partitionOfRegion(source.region),
    fips: fips?.useFipsEndpoint ?? false,
  };
  return { identity, endpoint: endpointOf(identity, override) };
}

/**
 * The registry clients of a scan: the source with the function's own role, the destination with the secret's keys in
 * its partition (the registry the workers write to). Both are added to `clients` for the caller to close.
 */
export function scanRegistries(
  settings: Pick<ScanSettings, 'destRegion' | 'destRegistry' | 'sourceRegistry'>,
  secret: DestinationSecret,
  source: SourceRegistryIdentity,
  fips: FipsSettings | undefined,
  clients: RegistryClient[],
): { source: RegistryClient; destination: RegistryClient; sourceHost: string; destinationHost: string } {
  const keys = { accessKeyId: secret.accesskey, secretAccessKey: secret.secretaccesskey };
  const destinationEndpoint = endpointOf(
    { ...destinationIdentity(secret, settings.destRegion), fips: fips?.destUseFipsEndpoint ?? false },
    settings.destRegistry,
  );
  const destination = ecrClient(destinationEndpoint, keys);
  clients.push(destination);
  const { endpoint } = sourceEndpoint(source, settings.sourceRegistry, fips);
  const sourceClient = ecrClient(endpoint, undefined);
  clients.push(sourceClient);
  return {
    source: sourceClient,
    destination,
    sourceHost: endpoint.host,
    destinationHost: destinationEndpoint.host,
  };
}

export interface ScheduledRepairDependencies {
  settings: RepairSettings;
  /** The source registry: the function's own account and region. */
  source: SourceRegistryIdentity;
  sqs: SQSClient;
  logger: Logger;
  metrics: Metrics;
  /** For DescribeRepositories on the source (the default credentials when absent). */
  ecr?: ECRClient;
  /** Every registry client created is added here, for the caller to close. */
  clients: RegistryClient[];
  /** FIPS endpoints on each side (default: off). */
  fips?: FipsSettings;
  now?: () => Date;
}

/** What one scheduled run started. */
export interface RepairSummary {
  scanId: string;
  /** Selected source repositories: one scan unit each. */
  repositories: number;
  /** Units on the scan queue. */
  queued: number;
  /** Repositories left out (mapping) and units that could not be sent. */
  failed: number;
  seconds: number;
}

/**
 * The deployed drift repair and backfill, started on a schedule: lists the source registry (with the function's own
 * role) and sends one scan unit per selected repository to the scan queue; the scan Lambdas compare the repositories
 * in parallel and queue a request per tag that differs (scan-batch.ts). Failures are logged one by one and counted
 * (`RepairFailures`); the run goes on, and the next one tries again.
 */
export async function runScheduledRepair(deps: ScheduledRepairDependencies): Promise<RepairSummary> {
  const { settings, logger, metrics } = deps;
  const started = Date.now();
  const { identity, endpoint } = sourceEndpoint(deps.source, settings.sourceRegistry, deps.fips);
  const listRepositories = endpoint.isEcr
    ? () => listEcrRepositories(identity, deps.ecr)
    : () => {
        const client = ecrClient(endpoint, undefined);
        deps.clients.push(client);
        return client.listRepositories();
      };
  logger.info('repair started', { source: endpoint.host, deletes: settings.replicationConfig.deletes });
  const fanOut = await fanOutScan({
    listRepositories,
    config: settings.replicationConfig,
    sqs: deps.sqs,
    scanQueueUrl: settings.scanQueueUrl,
    origin: 'repair',
    ...(deps.now ? { now: deps.now } : {}),
  });
  for (const failure of fanOut.failures) logger.error('repair could not scan a repository', { ...failure });
  metrics.addMetric('ScanUnitsQueued', MetricUnit.Count, fanOut.queued);
  metrics.addMetric('RepairFailures', MetricUnit.Count, fanOut.failures.length);
  const summary: RepairSummary = {
    scanId: fanOut.scanId,
    repositories: fanOut.repositories,
    queued: fanOut.queued,
    failed: fanOut.failures.length,
    seconds: (Date.now() - started) / 1000,
  };
  logger.info('repair fanned out', { ...summary });
  return summary;
}
