import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { ErrorCode, ReplicationError, toReplicationError, type JobRecord } from '@ecr-replicate/common';
import { type JobStore } from '@ecr-replicate/common/state';
import { createLimiter } from '@ecr-replicate/oci';
import type { Reconciliation } from './reconcile';

export interface RunJobsOptions {
  store: JobStore;
  keys: readonly string[];
  owner: string;
  leaseMs: number;
  reconcile: (job: JobRecord) => Promise<Reconciliation>;
  logger: Logger;
  metrics: Metrics;
  /** Jobs reconciled at once (default 3). */
  concurrency?: number;
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
  /** Another worker holds the lease now; nothing recorded. */
  lost: string[];
}

/**
 * Runs a build's jobs: each one is reconciled under its lease (renewed while
 * the work goes on) and again while newer requests marked it dirty; the
 * outcome is recorded and the lease released. A transient failure leaves
 * the lease in place: the build ends non-zero and the build-state handler
 * retries those jobs with a delay. One job failing never stops the others.
 */
export async function runJobs(options: RunJobsOptions): Promise<RunSummary> {
  const summary: RunSummary = { completed: [], failed: [], retry: [], lost: [] };
  const limit = createLimiter(options.concurrency ?? 3);
  await Promise.all(options.keys.map((key) => limit(() => runJob(key, options, summary))));
  return summary;
}

async function runJob(key: string, options: RunJobsOptions, summary: RunSummary): Promise<void> {
  const { store, owner, leaseMs, logger, metrics } = options;
  const now = options.now ?? Date.now;
  try {
    await store.renewLease(key, owner, leaseMs, now());
  } catch (error) {
    const failure = toReplicationError(error);
    logger.warn('job not held by this build; skipped', { jobKey: key, error: failure.toJSON() });
    (failure.code === ErrorCode.LeaseLost ? summary.lost : summary.retry).push(key);
    return;
  }
  let leaseLost = false;
  const heartbeat = setInterval(
    () => {
      store.renewLease(key, owner, leaseMs, now()).catch((error: unknown) => {
        leaseLost = toReplicationError(error).code === ErrorCode.LeaseLost;
        logger.warn('could not renew the lease', { jobKey: key, error: toReplicationError(error).toJSON() });
      });
    },
    Math.max(1_000, Math.floor(leaseMs / 3)),
  );
  heartbeat.unref();
  try {
    for (let pass = 1; ; pass += 1) {
      const job = await store.get(key);
      if (job === undefined) throw new ReplicationError(ErrorCode.NotFound, `job ${key} has no record`);
      const started = now();
      let finished: 'again' | 'done';
      try {
        const result = await options.reconcile(job);
        const durationSeconds = (now() - started) / 1000;
        if (leaseLost) throw new ReplicationError(ErrorCode.LeaseLost, `the lease on ${key} was lost during the work`);
        finished = await store.finish(
          key,
          owner,
          {
            status: 'COMPLETE',
            ...(result.digest ? { replicatedDigest: result.digest } : {}),
            bytesCopied: result.bytesCopied,
            durationSeconds,
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
          ...(result.action === 'left-alone' ? { reason: result.reason } : {}),
        });
        metrics.addMetric('ReplicationsSucceeded', MetricUnit.Count, 1);
        metrics.addMetric('BytesCopied', MetricUnit.Bytes, result.bytesCopied);
        const eventTime = Date.parse(job.lastEventTime);
        if (!Number.isNaN(eventTime))
          metrics.addMetric('SecondsFromEventToDone', MetricUnit.Seconds, Math.max(0, (now() - eventTime) / 1000));
      } catch (error) {
        const failure = toReplicationError(error);
        if (failure.code === ErrorCode.LeaseLost) throw failure;
        if (failure.retryable) {
          logger.error('job failed; left for a retry', { jobKey: key, pass, error: failure.toJSON() });
          metrics.addMetric('JobRetries', MetricUnit.Count, 1);
          summary.retry.push(key);
          return;
        }
        finished = await store.finish(
          key,
          owner,
          {
            status: 'FAILED',
            error: { code: failure.code, message: failure.message },
            durationSeconds: (now() - started) / 1000,
          },
          now(),
        );
        logger.error('job failed; not retried', { jobKey: key, pass, error: failure.toJSON() });
        metrics.addMetric('ReplicationsFailed', MetricUnit.Count, 1);
        if (finished === 'done') {
          summary.failed.push(key);
          return;
        }
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
      logger.warn('lease lost; another worker has the job', { jobKey: key });
      summary.lost.push(key);
    } else {
      logger.error('job failed; left for a retry', { jobKey: key, error: failure.toJSON() });
      summary.retry.push(key);
    }
  } finally {
    clearInterval(heartbeat);
  }
}
