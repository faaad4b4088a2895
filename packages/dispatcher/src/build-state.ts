import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  ErrorCode,
  ReplicationError,
  ValidationError,
  buildEnvironmentOf,
  defineSettings,
  parseBuildStateChangeEvent,
  toReplicationError,
} from '@ecr-replicate/common';
import { type JobStore } from '@ecr-replicate/common/state';
import { scheduleJobRetry } from './job-retry';

/** Build states that end a build without the worker having finished its jobs. */
export const DEAD_BUILD_STATUSES: ReadonlySet<string> = new Set(['FAILED', 'FAULT', 'STOPPED', 'TIMED_OUT']);

/** Phases a build goes through before its container runs: a build that ended in them never ran the worker. */
const PHASES_BEFORE_RUNNING: ReadonlySet<string> = new Set(['SUBMITTED', 'QUEUED', 'COMPLETED']);

/**
 * Whether a dead build never ran the worker: every phase the event lists is one before the container started (a build
 * that timed out in CodeBuild's queue, or was stopped there). Its jobs are retried without counting an attempt.
 */
export function diedBeforeRunning(detail: Record<string, unknown>): boolean {
  const info = detail['additional-information'];
  const phases = typeof info === 'object' && info !== null ? (info as { phases?: unknown }).phases : undefined;
  if (!Array.isArray(phases) || phases.length === 0) return false;
  return phases.every((phase: unknown) => {
    const type = typeof phase === 'object' && phase !== null ? (phase as Record<string, unknown>)['phase-type'] : '';
    return typeof type === 'string' && PHASES_BEFORE_RUNNING.has(type);
  });
}

/** JOB_KEYS and LEASE_OWNER, read from the build's environment with the worker's own schemas. */
const BuildJobs = defineSettings('worker build', ['jobKeys', 'leaseOwner']);

export interface BuildStateDependencies {
  store: JobStore;
  sqs: SQSClient;
  retryQueueUrl: string;
  workerProjectName: string;
  maxAttempts: number;
  logger: Logger;
  metrics: Metrics;
  clock?: () => number;
}

export type JobRetryOutcome = 'retry' | 'failed' | 'not-owner';

export type BuildStateResult =
  | { kind: 'ignored'; reason: 'other-project' | 'not-a-dead-build' | 'no-jobs' }
  | { kind: 'handled'; outcomes: Record<string, JobRetryOutcome> };

/**
 * Handles a worker build that ended. SUCCEEDED (and any non-final state)
 * needs nothing: the worker recorded its outcomes. For FAILED, FAULT, STOPPED
 * and TIMED_OUT, every job of the build still leased by the build's owner is
 * released for a retry: re-queued through the retry queue with a backoff
 * while attempts remain, else given up (an error log and the
 * `ReplicationsFailed` metric, which an alarm watches). Jobs the worker
 * finished, or that another run took over, are left alone.
 *
 * Throws (so that Lambda retries the event) when a job could not be handled;
 * the others are handled first, and on the retry the handled ones are no
 * longer leased by the owner and are skipped.
 */
export async function handleBuildStateChange(input: unknown, deps: BuildStateDependencies): Promise<BuildStateResult> {
  const { logger } = deps;
  const event = parseBuildStateChangeEvent(input);
  const detail = event.detail;
  const status = detail['build-status'];
  const buildId = detail['build-id'];

  if (detail['project-name'] !== deps.workerProjectName) {
    logger.debug('build of another project', { project: detail['project-name'], buildId });
    return { kind: 'ignored', reason: 'other-project' };
  }
  const ended = deps.metrics.singleMetric();
  ended.addDimension('status', status);
  ended.addMetric('WorkerBuildStates', MetricUnit.Count, 1);
  if (!DEAD_BUILD_STATUSES.has(status)) {
    logger.debug('worker build state needs no action', { buildId, status });
    return { kind: 'ignored', reason: 'not-a-dead-build' };
  }

  let jobs;
  try {
    jobs = BuildJobs.parse(buildEnvironmentOf(event));
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    logger.warn('worker build without valid jobs; nothing to retry', { buildId, status, reason: error.message });
    return { kind: 'ignored', reason: 'no-jobs' };
  }

  const countAttempt = !diedBeforeRunning(detail);
  logger.info('worker build died; retrying its unfinished jobs', {
    buildId,
    status,
    leaseOwner: jobs.leaseOwner,
    jobKeys: jobs.jobKeys,
    ...(countAttempt ? {} : { neverRan: true }),
  });
  const error = {
    code: `WORKER_BUILD_${status}`,
    message: `worker build ${buildId} ended with status ${status}${countAttempt ? '' : ' before it ran'}`,
  };
  const settled = await Promise.allSettled(
    jobs.jobKeys.map((jobKey) => retryOrFail(jobKey, jobs.leaseOwner, error, countAttempt, deps)),
  );

  const outcomes: Record<string, JobRetryOutcome> = {};
  const failures: string[] = [];
  settled.forEach((result, i) => {
    const jobKey = jobs.jobKeys[i] as string;
    if (result.status === 'fulfilled') {
      outcomes[jobKey] = result.value;
    } else {
      const failure = toReplicationError(result.reason);
      logger.error('could not retry a job of a dead worker build', {
        jobKey,
        buildId,
        code: failure.code,
        reason: failure.message,
      });
      failures.push(`${jobKey}: ${failure.message}`);
    }
  });
  if (failures.length > 0) {
    throw new ReplicationError(
      ErrorCode.AwsService,
      `could not handle ${failures.length} job(s) of worker build ${buildId}: ${failures.join('; ')}`,
      {
        retryable: true,
        details: { buildId },
      },
    );
  }
  return { kind: 'handled', outcomes };
}

/**
 * One job of a dead build. The retry message is sent BEFORE the lease is
 * released when a retry is expected, so that a failed send leaves the job
 * leased by the owner and the event's retry tries again; a message sent for
 * nothing (the job changed hands meanwhile) is harmless: the dispatcher finds
 * the request stale and covered, or takes the lease.
 */
async function retryOrFail(
  jobKey: string,
  leaseOwner: string,
  error: { code: string; message: string },
  countAttempt: boolean,
  deps: BuildStateDependencies,
): Promise<JobRetryOutcome> {
  const { store, logger, metrics } = deps;
  const clock = deps.clock ?? Date.now;

  const before = await store.get(jobKey);
  if (before?.leaseOwner !== leaseOwner) {
    logger.debug('job no longer leased by the dead build', { jobKey, leaseOwner });
    return 'not-owner';
  }
  let sentFor: number | undefined;
  const attempt = before.attempts + (countAttempt ? 1 : 0);
  if (!countAttempt || attempt < deps.maxAttempts) {
    sentFor = Math.max(1, attempt);
    await scheduleJobRetry(deps.sqs, deps.retryQueueUrl, before, sentFor);
  }

  const released = await store.releaseForRetry(jobKey, leaseOwner, error, deps.maxAttempts, clock(), {
    countAttempt,
  });
  switch (released.outcome) {
    case 'not-owner':
      logger.debug('job no longer leased by the dead build', { jobKey, leaseOwner });
      return 'not-owner';
    case 'retry': {
      const attempts = released.record.attempts;
      const delaySeconds =
        sentFor === undefined
          ? await scheduleJobRetry(deps.sqs, deps.retryQueueUrl, released.record, Math.max(1, attempts))
          : undefined;
      logger.info('scheduled a retry', {
        jobKey,
        attempt: attempts,
        maxAttempts: deps.maxAttempts,
        ...(delaySeconds === undefined ? {} : { delaySeconds }),
      });
      metrics.addMetric('JobRetriesScheduled', MetricUnit.Count, 1);
      return 'retry';
    }
    case 'failed':
      logger.error('replication failed: gave up the job after its last attempt', {
        jobKey,
        attempts: released.record.attempts,
        lastError: released.record.lastError,
        sourceRepository: released.record.sourceRepository,
        destinationRepository: released.record.destinationRepository,
        tag: released.record.tag,
      });
      metrics.addMetric('ReplicationsFailed', MetricUnit.Count, 1);
      return 'failed';
  }
}
