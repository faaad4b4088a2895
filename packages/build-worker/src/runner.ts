import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { ErrorCode, ReplicationError, toReplicationError, type Executor, type JobRecord } from '@ecr-replicate/common';
import { type JobStore } from '@ecr-replicate/common/state';
import { createLimiter } from '@ecr-replicate/oci';
import { isJobHandOver } from './hand-over';
import { JobLease } from './lease';
import type { Reconciliation } from './reconcile';

export interface RunJobsOptions {
  store: JobStore;
  keys: readonly string[];
  owner: string;
  leaseMs: number;
  /** The build running these jobs (CODEBUILD_BUILD_ID), recorded with each lease. */
  buildId?: string;
  /** Reconciles one job; `lease.fence()` must be called immediately before each destination tag move or delete. */
  reconcile: (job: JobRecord, lease: JobLease) => Promise<Reconciliation>;
  logger: Logger;
  metrics: Metrics;
  /** Jobs reconciled at once (default 3). */
  concurrency?: number;
  /** Who runs the jobs, recorded with each outcome (default codebuild). */
  executor?: Executor;
  now?: () => number;
}

/** How each job of the build ended. */
export interface RunSummary {
  /** Recorded COMPLETE. */
  completed: string[];
  /** Recorded FAILED: not worth retrying (immutable tag conflict, invalid content...). */
  failed: string[];
  /** Left leased for the build-state handler to retry: transient failures. */
  retry: string[];
  /** Another worker holds the lease now, or it could not be renewed; nothing recorded. */
  lost: string[];
  /** Stopped by a JobHandOver (the copy Lambda's budget): nothing recorded, the lease kept for the next executor. */
  handedOver: string[];
  /** The epoch of each lease this run held. */
  leaseEpochs: Record<string, number>;
}

/**
 * Runs a build's jobs: each one is reconciled under its lease (renewed while
 * the work goes on, proven before every destination tag write) and again
 * while newer requests marked it dirty; the outcome is recorded and the
 * lease released. A transient failure leaves the lease in place: the build
 * ends non-zero and the build-state handler retries those jobs with a delay.
 * A lost lease stops the job before its next write. One job failing never
 * stops the others.
 */
export async function runJobs(options: RunJobsOptions): Promise<RunSummary> {
  const summary: RunSummary = { completed: [], failed: [], retry: [], lost: [], handedOver: [], leaseEpochs: {} };
  const limit = createLimiter(options.concurrency ?? 3);
  // Every lease is taken (and heart-beaten) from the start: the jobs that wait for their turn keep theirs too.
  const leases = await Promise.all(options.keys.map((key) => takeLease(key, options, summary)));
  leases.forEach((lease) => {
    if (lease !== undefined) summary.leaseEpochs[lease.jobKey] = lease.epoch;
  });
  await Promise.all(
    options.keys.map((key, i) => {
      const lease = leases[i];
      return lease === undefined ? undefined : limit(() => runJob(key, lease, options, summary));
    }),
  );
  return summary;
}

/** The worker's hold on one job's lease, or undefined (recorded as lost or left for a retry) when it has none. */
async function takeLease(key: string, options: RunJobsOptions, summary: RunSummary): Promise<JobLease | undefined> {
  const { store, owner, leaseMs, logger } = options;
  const now = options.now ?? Date.now;
  try {
    return await JobLease.take({
      store,
      jobKey: key,
      owner,
      leaseMs,
      now,
      logger,
      ...(options.buildId === undefined ? {} : { buildId: options.buildId }),
    });
  } catch (error) {
    const failure = toReplicationError(error);
    logger.warn('job not held by this build; skipped', { jobKey: key, error: failure.toJSON() });
    (failure.code === ErrorCode.LeaseLost ? summary.lost : summary.retry).push(key);
    return undefined;
  }
}

async function runJob(key: string, lease: JobLease, options: RunJobsOptions, summary: RunSummary): Promise<void> {
  const { store, owner, logger, metrics } = options;
  const now = options.now ?? Date.now;
  try {
    for (let pass = 1; ; pass += 1) {
      lease.assertHeld();
      const job = await store.get(key);
      if (job === undefined) throw new ReplicationError(ErrorCode.NotFound, `job ${key} has no record`);
      const started = now();
      let finished: 'again' | 'done';
      try {
        const result = await options.reconcile(job, lease);
        const durationSeconds = (now() - started) / 1000;
        lease.assertHeld();
        finished = await store.finish(
          key,
          owner,
          {
            status: 'COMPLETE',
            ...(result.digest ? { replicatedDigest: result.digest } : {}),
            bytesCopied: result.bytesCopied,
            durationSeconds,
            executor: options.executor ?? 'codebuild',
          },
          now(),
        );
        logger.info('job reconciled', {
          jobKey: key,
          pass,
          action: result.action,
          digest: result.digest,
          bytesCopied: result.bytesCopied,
          seconds: durationSeconds,
          ...(finished === 'again' ? { again: true } : {}),
          ...(result.action === 'left-alone' ? { reason: result.reason } : {}),
        });
        metrics.addMetric('BytesCopied', MetricUnit.Bytes, result.bytesCopied);
        if (finished === 'done') {
          metrics.addMetric('ReplicationsSucceeded', MetricUnit.Count, 1);
          const eventTime = Date.parse(job.lastEventTime);
          if (!Number.isNaN(eventTime) && (job.origin ?? 'ecr') === 'ecr')
            metrics.addMetric('SecondsFromEventToDone', MetricUnit.Seconds, Math.max(0, (now() - eventTime) / 1000));
        }
      } catch (error) {
        if (isJobHandOver(error)) {
          logger.info('job handed over, lease kept', { jobKey: key, pass, reason: error.reason });
          summary.handedOver.push(key);
          return;
        }
        const failure = toReplicationError(error);
        if (failure.code === ErrorCode.LeaseLost) throw failure;
        if (failure.retryable) {
          logger.error('job failed; left for a retry', { jobKey: key, pass, error: failure.toJSON() });
          metrics.addMetric('JobRetries', MetricUnit.Count, 1);
          summary.retry.push(key);
          return;
        }
        lease.assertHeld();
        finished = await store.finish(
          key,
          owner,
          {
            status: 'FAILED',
            error: { code: failure.code, message: failure.message },
            durationSeconds: (now() - started) / 1000,
            executor: options.executor ?? 'codebuild',
          },
          now(),
        );
        if (finished === 'done') {
          // Only a job that finally failed counts: one that is run again may still succeed.
          logger.error('job failed; not retried', { jobKey: key, pass, error: failure.toJSON() });
          metrics.addMetric('ReplicationsFailed', MetricUnit.Count, 1);
          summary.failed.push(key);
          return;
        }
        logger.warn('job failed, but newer requests arrived: reconciling again', {
          jobKey: key,
          pass,
          error: failure.toJSON(),
        });
      }
      if (finished === 'done') {
        summary.completed.push(key);
        return;
      }
      logger.info('newer requests arrived during the work; reconciling again', { jobKey: key, pass });
    }
  } catch (error) {
    const failure = toReplicationError(error);
    if (failure.code === ErrorCode.LeaseLost) {
      logger.warn('lease lost; stopped before writing', { jobKey: key, reason: failure.message });
      summary.lost.push(key);
    } else {
      logger.error('job failed; left for a retry', { jobKey: key, error: failure.toJSON() });
      summary.retry.push(key);
    }
  } finally {
    lease.stop();
  }
}
