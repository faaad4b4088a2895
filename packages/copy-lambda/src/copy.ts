import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { CodeBuildClient } from '@aws-sdk/client-codebuild';
import {
  ErrorCode,
  ReplicationError,
  type CopyInvocation,
  type CopyLambdaSettings,
  type DestinationSecret,
  type ReplicationConfig,
  type WorkerGuardSettings,
} from '@ecr-replicate/common';
import type { JobStore } from '@ecr-replicate/common/state';
import { JobHandOver, runWorkerJobs, type RunSummary } from '@ecr-replicate/build-worker';
import type { RegistryClient } from '@ecr-replicate/oci';
import { TimeBudget } from './budget';
import { claimJobs } from './claim';
import { handOverToBuild } from './hand-over';
import { imageBytes } from './image-size';

const MiB = 1024 * 1024;

export interface CopyDependencies {
  settings: Omit<CopyLambdaSettings, 'replicationConfig'> & { replicationConfig: ReplicationConfig };
  secret: DestinationSecret;
  store: JobStore;
  codebuild: CodeBuildClient;
  logger: Logger;
  metrics: Metrics;
  /** Every registry client created is added here, for the caller to close. */
  clients: RegistryClient[];
  guard?: WorkerGuardSettings;
  /** This invocation, recorded with each lease it holds (`lambda-run:<request id>`, INVOCATION_ID_PREFIX). */
  invocationId: string;
  /** Time left before the invocation's limit (context.getRemainingTimeInMillis). */
  remainingMs: () => number;
  now?: () => number;
}

export interface CopyOutcome extends RunSummary {
  /** The worker build the rest went to, lease kept. */
  handedOverTo?: string;
  /** Jobs a worker build held already (an earlier run of this payload handed them over). */
  skipped: string[];
}

/**
 * The copy Lambda's work for one invocation: the jobs the dispatcher leased run through the worker's code (the same
 * runner, reconciliation, leases and fencing as a worker build), within the time budget. Whatever does not fit — an
 * image too large up front, a copy stopped when time ran low, a job that failed transiently — goes to one worker
 * build with its lease kept. A job is never recorded FAILED here for want of time.
 *
 * Throws when jobs were left that could not be handed over (StartBuild failed, or a job's lease could not even be
 * taken for a transient reason): Lambda then retries the invocation, whose run claims the jobs again (claim.ts).
 */
export async function runCopyInvocation(invocation: CopyInvocation, deps: CopyDependencies): Promise<CopyOutcome> {
  const { settings, logger, metrics } = deps;
  const leaseMs = settings.leaseSeconds * 1000;
  const budget = new TimeBudget({
    remainingMs: deps.remainingMs,
    reserveMs: settings.copyReserveSeconds * 1000,
    assumedBytesPerSecond: settings.copyAssumedMibps * MiB,
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });
  logger.appendKeys({ leaseOwner: invocation.leaseOwner });
  const claim = await claimJobs(invocation, deps.invocationId, {
    store: deps.store,
    leaseMs,
    logger,
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });

  const summary = await runWorkerJobs({
    settings: {
      jobTable: settings.jobTable,
      jobKeys: claim.run,
      leaseOwner: invocation.leaseOwner,
      destSecretId: settings.destSecretId,
      replicationConfig: settings.replicationConfig,
      leaseSeconds: settings.leaseSeconds,
      destRegistry: settings.destRegistry,
      sourceRegistry: settings.sourceRegistry,
      destRegion: settings.destRegion,
      destApiQuotas: settings.destApiQuotas,
    },
    secret: deps.secret,
    store: deps.store,
    logger,
    metrics,
    clients: deps.clients,
    ...(deps.guard === undefined ? {} : { guard: deps.guard }),
    buildId: deps.invocationId,
    executor: {
      executor: 'lambda',
      beforeJob: async (job, source) => {
        if (budget.low !== undefined) throw new JobHandOver(budget.low);
        if (job.action !== 'PUSH') return;
        const reference = job.tag ?? job.desiredDigest;
        const bytes = await imageBytes(source, job.sourceRepository, reference);
        if (bytes !== undefined) budget.admitImage(bytes, `${job.sourceRepository}:${reference}`);
      },
      beforeBlob: (_job, blob) => budget.admitBlob(blob.digest, blob.size),
      onCopyEvent: (_job, event) => budget.observe(event),
    },
  });

  // Jobs stopped for time, and jobs that failed transiently (a worker build retries them, then the build-state path).
  const epochs = { ...summary.leaseEpochs, ...claim.handOver };
  const toHand = [
    ...summary.handedOver,
    ...summary.retry.filter((key) => epochs[key] !== undefined),
    ...Object.keys(claim.handOver),
  ];
  const stranded = summary.retry.filter((key) => epochs[key] === undefined);
  const outcome: CopyOutcome = { ...summary, skipped: claim.skipped };
  metrics.addMetric('CopyLambdaJobs', MetricUnit.Count, invocation.jobKeys.length);
  if (toHand.length > 0) {
    const handed = await handOverToBuild(toHand, epochs, {
      store: deps.store,
      codebuild: deps.codebuild,
      workerProjectName: settings.workerProjectName,
      leaseOwner: invocation.leaseOwner,
      leaseMs,
      logger,
      metrics,
      ...(deps.now === undefined ? {} : { now: deps.now }),
    });
    if (handed.buildId !== undefined) outcome.handedOverTo = handed.buildId;
  }
  logger.info('copy invocation done', {
    completed: summary.completed.length,
    failed: summary.failed.length,
    lost: summary.lost.length,
    handedOver: toHand,
    ...(outcome.handedOverTo === undefined ? {} : { build: outcome.handedOverTo }),
    ...(budget.low === undefined ? {} : { budget: budget.low }),
    mibps: Math.round((budget.bytesPerSecond() / MiB) * 10) / 10,
  });
  if (stranded.length > 0) {
    throw new ReplicationError(
      ErrorCode.AwsService,
      `the leases of ${stranded.length} job(s) could not be taken: ${stranded.join(', ')}; the invocation is retried`,
      { retryable: true, details: { jobKeys: stranded } },
    );
  }
  return outcome;
}
