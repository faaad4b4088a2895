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
  /** This invocation, recorded with each lease it holds (`lambda:<request id>`). */
  invocationId: string;
  /** Time left before the invocation's limit (context.getRemainingTimeInMillis). */
  remainingMs: () => number;
  now?: () => number;
}

export interface CopyOutcome extends RunSummary {
  /** The worker build the rest went to, lease kept. */
  handedOverTo?: string;
}

/**
 * The copy Lambda's work for one invocation: the jobs the dispatcher leased run through the worker's code (the same
 * runner, reconciliation, leases and fencing as a worker build), within the time budget. Whatever does not fit — an
 * image too large up front, a copy stopped when time ran low, a job that failed transiently — goes to one worker
 * build with its lease kept. A job is never recorded FAILED here for want of time.
 *
 * Throws (Lambda then retries the invocation, whose leases it takes again by owner) when jobs were left that could
 * not be handed over: StartBuild failed, or a job's lease could not even be taken for a transient reason.
 */
/**
 * Lambda may run an asynchronous invocation more than once, and retries a failed one with the same payload: each run
 * moves the leases it was given to their next epoch before it takes them, so that an earlier run of the same payload
 * (same owner) can neither renew nor fence any more. A lease not held by the owner is left alone (the run finds out
 * when it takes it); a failure here is only logged (the take then keeps the current epoch).
 */
async function takeNextEpochs(invocation: CopyInvocation, leaseMs: number, deps: CopyDependencies): Promise<void> {
  const now = deps.now ?? Date.now;
  await Promise.all(
    invocation.jobKeys.map(async (jobKey) => {
      try {
        const record = await deps.store.get(jobKey);
        if (record?.leaseOwner !== invocation.leaseOwner || record.leaseEpoch === undefined) return;
        await deps.store.handOffLease(jobKey, invocation.leaseOwner, record.leaseEpoch, leaseMs, now());
      } catch (error) {
        deps.logger.warn('could not move a lease to its next epoch; taking it as it is', {
          jobKey,
          reason: error instanceof Error ? error.message : String(error),
        });
      }
    }),
  );
}

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
  await takeNextEpochs(invocation, leaseMs, deps);

  const summary = await runWorkerJobs({
    settings: {
      jobTable: settings.jobTable,
      jobKeys: invocation.jobKeys,
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
  const epochs = summary.leaseEpochs;
  const toHand = [...summary.handedOver, ...summary.retry.filter((key) => epochs[key] !== undefined)];
  const stranded = summary.retry.filter((key) => epochs[key] === undefined);
  const outcome: CopyOutcome = { ...summary };
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
