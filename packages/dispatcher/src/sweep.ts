import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { toReplicationError, type JobRecord, type JobStatus } from '@ecr-replicate/common';
import type { JobStore } from '@ecr-replicate/common/state';
import { forwardJobRetry, requestFromRecord } from './job-retry';

/**
 * The sweeper: a scheduled pass over the job table that re-queues jobs no
 * message or build will ever finish, whatever fault stranded them:
 *
 * - IN_PROGRESS with an expired lease: the worker died without a
 *   build-state event being handled, or a lease was taken by a dispatch
 *   that never started its build and nothing came after;
 * - PENDING and unchanged for `pendingAfterMs`: the request that would run
 *   it was lost (a dead-lettered message, a retry that was never sent).
 *
 * Each gets a `sweep` request in its FIFO group: the dispatcher takes the
 * lease (an expired or build-less one too) and starts a build. A request
 * sent for a job that was not really stranded costs one more run that reads
 * the source and changes nothing. `StuckJobs` (emitted on every pass, 0
 * included) counts what was found; an alarm watches it.
 */

export interface SweepDependencies {
  store: JobStore;
  sqs: SQSClient;
  requestQueueUrl: string;
  /** A PENDING job unchanged this long is stranded (longer than the longest deferral and retry delay). */
  pendingAfterMs: number;
  logger: Logger;
  metrics: Metrics;
  clock?: () => number;
  /** Items DynamoDB examines per Scan page. */
  pageSize?: number;
}

export interface SweepResult {
  /** Jobs found stranded. */
  stuck: number;
  /** Of those, re-queued. */
  requeued: string[];
  /** Of those, not re-queued (SQS failed; the next pass tries again). */
  failed: string[];
}

/** Why a record is stranded at `now`, or undefined when something will still finish it. */
export function strandedReason(record: JobRecord, now: number, pendingAfterMs: number): string | undefined {
  if (record.status === 'IN_PROGRESS' && (record.leaseExpiresAt === undefined || record.leaseExpiresAt <= now))
    return 'lease expired';
  if (record.status === 'PENDING' && record.updatedAt <= now - pendingAfterMs) return 'pending with nothing queued';
  return undefined;
}

export async function sweepStrandedJobs(deps: SweepDependencies): Promise<SweepResult> {
  const { store, logger, metrics } = deps;
  const clock = deps.clock ?? Date.now;
  const now = clock();
  const stranded: Array<{ record: JobRecord; reason: string }> = [];
  for (const status of ['IN_PROGRESS', 'PENDING'] satisfies JobStatus[]) {
    let cursor: string | undefined;
    do {
      const page = await store.listPage({
        status,
        ...(deps.pageSize === undefined ? {} : { pageSize: deps.pageSize }),
        ...(cursor === undefined ? {} : { cursor }),
      });
      for (const record of page.records) {
        const reason = strandedReason(record, now, deps.pendingAfterMs);
        if (reason !== undefined) stranded.push({ record, reason });
      }
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  const result: SweepResult = { stuck: stranded.length, requeued: [], failed: [] };
  await Promise.all(
    stranded.map(async ({ record, reason }) => {
      try {
        // One message per stranded state: while the record does not change, later passes send the same
        // deduplication id (SQS drops it for 5 minutes), so a slow pipeline is not flooded with repeats.
        await forwardJobRetry(
          deps.sqs,
          deps.requestQueueUrl,
          requestFromRecord(record, 'sweep'),
          record.jobKey,
          `sweep-${record.leaseEpoch ?? 0}-${record.updatedAt}`,
        );
        result.requeued.push(record.jobKey);
        logger.warn('re-queued a stranded job', {
          jobKey: record.jobKey,
          status: record.status,
          reason,
          leaseOwner: record.leaseOwner,
        });
      } catch (error) {
        result.failed.push(record.jobKey);
        logger.error('could not re-queue a stranded job; the next pass tries again', {
          jobKey: record.jobKey,
          reason: toReplicationError(error).message,
        });
      }
    }),
  );
  metrics.addMetric('StuckJobs', MetricUnit.Count, result.stuck);
  metrics.addMetric('StuckJobsRequeued', MetricUnit.Count, result.requeued.length);
  logger.info('sweep done', { stuck: result.stuck, requeued: result.requeued.length, failed: result.failed.length });
  return result;
}
