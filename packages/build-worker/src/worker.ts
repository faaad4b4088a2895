import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  ErrorCode,
  ReplicationError,
  describeDestinationSecret,
  formatApiQuotas,
  partitionOfRegion,
  type DestinationSecret,
  type EcrRegistry,
  type Executor,
  type JobRecord,
  type WorkerGuardSettings,
  type WorkerSettings,
} from '@ecr-replicate/common';
import { type JobStore } from '@ecr-replicate/common/state';
import type { CopyEvent, RegistryClient } from '@ecr-replicate/oci';
import { reconcile } from './reconcile';
import { destinationIdentity, ecrClient, endpointOf } from '@ecr-replicate/ecr';
import { runJobs, type RunSummary } from './runner';
import { removeTag } from '@ecr-replicate/ecr';
import { refusalOf } from './request-guard';
import { repositoryPreparer } from './destination-repository';

export interface WorkerDependencies {
  settings: WorkerSettings;
  secret: DestinationSecret;
  store: JobStore;
  logger: Logger;
  metrics: Metrics;
  /** Every registry client created is added here, for the caller to close. */
  clients: RegistryClient[];
  /** The account and region served, repository creation, FIPS (default: none checked, none created, no FIPS). */
  guard?: WorkerGuardSettings;
  /** The build running the worker (CODEBUILD_BUILD_ID), or the copy Lambda's invocation, recorded with each lease. */
  buildId?: string;
  /** What an executor other than a worker build (the copy Lambda) adds to each job (default: a worker build). */
  executor?: ExecutorHooks;
}

/** An executor's part in each job: the copy Lambda stops jobs that do not fit its time (throwing JobHandOver). */
export interface ExecutorHooks {
  executor: Executor;
  /** Before a job's reconciliation (after it was admitted), with its source registry: may throw JobHandOver. */
  beforeJob?: (job: JobRecord, source: RegistryClient) => Promise<void>;
  /** Before each blob transfer of a job's copy: may throw JobHandOver (the copy stops before that blob). */
  beforeBlob?: (job: JobRecord, blob: { digest: string; size: number }) => void;
  /** Every event of a job's copy (bytes moved, blobs done). */
  onCopyEvent?: (job: JobRecord, event: CopyEvent) => void;
}

/**
 * Wires the destination (the secret's keys, in its partition) and the source
 * registries (the worker's own role; one client per source registry) to the
 * reconcile loop, and runs the build's jobs.
 */
export async function runWorkerJobs(deps: WorkerDependencies): Promise<RunSummary> {
  const { settings, secret, logger } = deps;
  const hooks = deps.executor;
  const keys = { accessKeyId: secret.accesskey, secretAccessKey: secret.secretaccesskey };
  const guard = deps.guard;
  const destinationEndpoint = endpointOf(
    { ...destinationIdentity(secret, settings.destRegion), fips: guard?.destUseFipsEndpoint ?? false },
    settings.destRegistry,
  );
  // The destination's quotas are one budget for every worker (builds and copy Lambdas), kept in the job table.
  const quotas = settings.destApiQuotas;
  const pacer =
    quotas === 'off'
      ? undefined
      : deps.store.pacingBudget(destinationEndpoint.host, quotas, {
          onTableError: (error) =>
            logger.warn('pacing: the job table failed a draw; pacing this worker alone meanwhile', {
              error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
            }),
        });
  const destination = ecrClient(destinationEndpoint, keys, undefined, pacer);
  deps.clients.push(destination);
  logger.info('destination', {
    registry: destinationEndpoint.host,
    secret: describeDestinationSecret(secret),
    quotas: quotas === 'off' ? 'off' : formatApiQuotas(quotas),
  });

  // The source registry is the event's account and region, reached with the worker's own role.
  const sourceRegistryOf = (job: JobRecord): EcrRegistry => ({
    accountId: job.sourceAccountId,
    region: job.sourceRegion,
    partition: partitionOfRegion(job.sourceRegion),
    fips: guard?.useFipsEndpoint ?? false,
  });
  const sources = new Map<string, RegistryClient>();
  const sourceFor = (job: JobRecord): RegistryClient => {
    const id = `${job.sourceAccountId}/${job.sourceRegion}`;
    let client = sources.get(id);
    if (client === undefined) {
      const endpoint = endpointOf(sourceRegistryOf(job), settings.sourceRegistry);
      client = ecrClient(endpoint, undefined);
      sources.set(id, client);
      deps.clients.push(client);
    }
    return client;
  };

  const prepare =
    guard?.createRepositories && destinationEndpoint.isEcr
      ? repositoryPreparer({
          destination: destinationEndpoint.identity,
          destinationKeys: keys,
          config: settings.replicationConfig,
          logger,
        })
      : undefined;

  /** Refuses what the configuration does not map (recorded FAILED, not retried); creates a missing destination. */
  const admit = async (job: JobRecord): Promise<void> => {
    const refusal = refusalOf(job, settings.replicationConfig, {
      accountId: guard?.sourceAccountId,
      region: guard?.sourceRegion,
    });
    if (refusal !== undefined) {
      deps.metrics.addMetric('RequestsRefused', MetricUnit.Count, 1);
      throw new ReplicationError(ErrorCode.InvalidInput, `request refused: ${refusal}`, {
        details: { jobKey: job.jobKey, sourceAccountId: job.sourceAccountId, sourceRepository: job.sourceRepository },
      });
    }
    if (prepare !== undefined && job.action === 'PUSH') {
      const registry = sourceRegistryOf(job);
      await prepare({ registry, repository: job.sourceRepository }, job.destinationRepository);
    }
  };

  const summary = await runJobs({
    store: deps.store,
    keys: settings.jobKeys,
    owner: settings.leaseOwner,
    leaseMs: settings.leaseSeconds * 1000,
    ...(deps.buildId === undefined ? {} : { buildId: deps.buildId }),
    logger,
    metrics: deps.metrics,
    executor: hooks?.executor ?? 'codebuild',
    reconcile: async (job, lease) => {
      await admit(job);
      const source = sourceFor(job);
      await hooks?.beforeJob?.(job, source);
      const beforeBlob = hooks?.beforeBlob;
      return reconcile(job, {
        source,
        destination,
        config: settings.replicationConfig,
        fence: () => lease.fence(),
        removeTag: (repository, tag, signal) =>
          removeTag({ endpoint: destinationEndpoint, client: destination, keys }, repository, tag, signal),
        onEvent: (event) => {
          hooks?.onCopyEvent?.(job, event);
          if (event.type === 'retry' || event.type === 'warning')
            logger.warn(`copy ${event.type}`, { jobKey: job.jobKey, ...event });
        },
        ...(beforeBlob === undefined ? {} : { beforeBlob: (blob) => beforeBlob(job, blob) }),
      });
    },
  });
  if (pacer !== undefined) {
    const { waitedMs, slowdowns, throttles, draws } = pacer.stats;
    deps.metrics.addMetric('PacingWaitSeconds', MetricUnit.Seconds, waitedMs / 1000);
    deps.metrics.addMetric('DestinationThrottles', MetricUnit.Count, slowdowns + throttles);
    logger.info('pacing', { draws, waitedSeconds: waitedMs / 1000, slowdowns, throttles });
  }
  return summary;
}
