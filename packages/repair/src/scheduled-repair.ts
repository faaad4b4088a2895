import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  describeDestinationSecret,
  partitionOfRegion,
  type DestinationSecret,
  type EcrRegistry,
  type FipsSettings,
  type RepairSettings,
} from '@ecr-replicate/common';
import type { RegistryClient } from '@ecr-replicate/oci';
import { destinationIdentity, ecrClient, endpointOf } from '@ecr-replicate/ecr';
import { enqueuePlan, type SourceRegistryIdentity } from './enqueue';
import { countActions, planSync, type ActionCounts } from './plan';
import { listEcrRepositories } from '@ecr-replicate/ecr';

export interface ScheduledSyncDependencies {
  settings: RepairSettings;
  secret: DestinationSecret;
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

/** What one scheduled run found and queued; the action counts are the plan's entries by action. */
export interface RepairSummary extends ActionCounts {
  repositories: number;
  tags: number;
  /** Tags that differ: copy + update + delete. */
  drift: number;
  queued: number;
  failed: number;
  seconds: number;
}

/**
 * The deployed drift repair: compares the source registry (reached with the
 * function's own role, like the worker) with the destination (the secret's
 * keys, in its partition) and queues one request per differing tag for the
 * workers. Failures are logged one by one and counted; the run goes on.
 */
export async function runScheduledRepair(deps: ScheduledSyncDependencies): Promise<RepairSummary> {
  const { settings, secret, logger, metrics } = deps;
  const started = Date.now();
  const keys = { accessKeyId: secret.accesskey, secretAccessKey: secret.secretaccesskey };
  const destinationEndpoint = endpointOf(
    { ...destinationIdentity(secret, settings.destRegion), fips: deps.fips?.destUseFipsEndpoint ?? false },
    settings.destRegistry,
  );
  const destination = ecrClient(destinationEndpoint, keys);
  deps.clients.push(destination);
  const identity: EcrRegistry = {
    accountId: deps.source.accountId,
    region: deps.source.region,
    partition: partitionOfRegion(deps.source.region),
    fips: deps.fips?.useFipsEndpoint ?? false,
  };
  const sourceEndpoint = endpointOf(identity, settings.sourceRegistry);
  const source = ecrClient(sourceEndpoint, undefined);
  deps.clients.push(source);
  logger.info('repair started', {
    source: sourceEndpoint.host,
    destination: destinationEndpoint.host,
    secret: describeDestinationSecret(secret),
    deletes: settings.replicationConfig.deletes,
  });

  const plan = await planSync({
    source,
    destination,
    listRepositories: sourceEndpoint.isEcr
      ? () => listEcrRepositories(identity, deps.ecr)
      : () => source.listRepositories(),
    config: settings.replicationConfig,
    concurrency: settings.repairConcurrency,
    ...(deps.now ? { now: deps.now } : {}),
  });
  for (const failure of plan.failures) logger.warn('repair could not compare', { ...failure });
  for (const entry of plan.entries) {
    if (entry.action !== 'ok') logger.info('drift', { ...entry });
  }

  const results = await enqueuePlan(plan, {
    origin: 'repair',
    sqs: deps.sqs,
    queueUrl: settings.requestQueueUrl,
    source: deps.source,
    ...(deps.now ? { now: deps.now } : {}),
    onResult: (result) => {
      if (result.outcome === 'failed')
        logger.error('repair could not queue a request', {
          ...result.entry,
          eventId: result.eventId,
          error: result.error,
        });
    },
  });

  const counts = countActions(plan.entries);
  const drift = counts.copy + counts.update + counts.delete;
  const queued = results.filter((r) => r.outcome === 'queued').length;
  const failed = plan.failures.length + results.length - queued;
  metrics.addMetric('DriftDetected', MetricUnit.Count, drift);
  metrics.addMetric('RequestsQueued', MetricUnit.Count, queued);
  metrics.addMetric('RepairFailures', MetricUnit.Count, failed);
  const summary: RepairSummary = {
    repositories: plan.repositories,
    tags: plan.tags,
    ...counts,
    drift,
    queued,
    failed,
    seconds: (Date.now() - started) / 1000,
  };
  logger.info('repair done', { ...summary });
  return summary;
}
