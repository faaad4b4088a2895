import { randomUUID } from 'node:crypto';
import { SqsFifoPartialProcessorAsync, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { CodeBuildClient } from '@aws-sdk/client-codebuild';
import {
  jobKeyOf,
  parseReplicationRequestJson,
  toReplicationError,
  type JobRecord,
  type ReplicationRequest,
} from '@ecr-replicate/common';
import { normalizeEventTime, type JobStore } from '@ecr-replicate/common/state';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { startWorkerBuild } from './codebuild';
import { fifoBatchItemFailures } from './fifo-order';

export interface DispatchDependencies {
  store: JobStore;
  codebuild: CodeBuildClient;
  workerProjectName: string;
  /** Lease length given to the worker build; it renews the lease while it runs. */
  leaseMs: number;
  logger: Logger;
  metrics: Metrics;
  /** Epoch milliseconds; `Date.now` by default. */
  clock?: () => number;
  /** A fresh lease owner id per dispatch; `dispatch-<uuid>` by default. */
  newLeaseOwner?: () => string;
}

/**
 * What the batch did to a job: its lease was taken for the build, another run holds it (now dirty), or a run already
 * covers it.
 */
type JobDisposition = 'acquired' | 'held' | 'covered';

/**
 * Whether a request that changed nothing (a redelivery, or an older event) is
 * already taken care of: a run started after the job's newest request was
 * recorded, and it is still running or it has finished. Such a run read the
 * source after the event, so another run would only repeat it.
 *
 * That holds for `request` only when it is the recorded request itself (a
 * redelivery) or its event time is an earlier second than the recorded
 * one's: events of the same second (EventBridge's resolution) are ordered by
 * their random ids, so a "stale" one may be a push that happened after the
 * run read the source. Such a request is not covered.
 */
export function isCoveredByRun(
  record: JobRecord,
  now: number,
  request?: Pick<ReplicationRequest, 'eventId' | 'eventTime'>,
): boolean {
  if (
    request !== undefined &&
    request.eventId !== record.lastEventId &&
    !(normalizeEventTime(request.eventTime) < normalizeEventTime(record.lastEventTime))
  ) {
    return false;
  }
  if (record.startedAt === undefined || record.startedAt < record.requestedAt) return false;
  if (record.status === 'COMPLETE' || record.status === 'FAILED') return true;
  return record.status === 'IN_PROGRESS' && record.leaseExpiresAt !== undefined && record.leaseExpiresAt > now;
}

/**
 * Handles one batch of the FIFO request queue:
 *
 * 1. Record by record, in order (Powertools' SqsFifoPartialProcessorAsync,
 *    `skipGroupOnError`): parse the body, record the request, and take the
 *    job's lease for this dispatch's owner unless it is ours already, another
 *    run holds it (the job is marked dirty) or a run already covers it. A
 *    record that throws fails, and so do the later records of its group;
 *    other groups go on.
 * 2. Once for the batch: one worker build for every job whose lease was taken.
 *    When StartBuild fails, those leases are released and every message of
 *    those jobs fails, to be redelivered.
 * 3. The failures are reported by the FIFO rule (see fifoBatchItemFailures).
 */
export async function dispatchBatch(event: SQSEvent, deps: DispatchDependencies): Promise<SQSBatchResponse> {
  const { store, logger, metrics } = deps;
  const clock = deps.clock ?? Date.now;
  const leaseOwner = (deps.newLeaseOwner ?? (() => `dispatch-${randomUUID()}`))();
  const jobOfMessage = new Map<string, string>();
  const jobs = new Map<string, JobDisposition>();

  const handleRecord = async (record: SQSRecord): Promise<void> => {
    try {
      const request = parseReplicationRequestJson(record.body);
      const jobKey = jobKeyOf(request);
      jobOfMessage.set(record.messageId, jobKey);
      const recorded = await store.recordRequest(request, clock());
      if (jobs.get(jobKey) === 'acquired') return;
      if (recorded.outcome === 'stale' && isCoveredByRun(recorded.record, clock(), request)) {
        logger.debug('request already covered by a run', {
          messageId: record.messageId,
          jobKey,
          eventId: request.eventId,
        });
        if (!jobs.has(jobKey)) jobs.set(jobKey, 'covered');
        return;
      }
      const lease = await store.acquireLease(jobKey, leaseOwner, deps.leaseMs, clock());
      jobs.set(jobKey, lease);
      if (lease === 'held') {
        logger.info('job is being reconciled by another run; marked it dirty', { jobKey, eventId: request.eventId });
        metrics.addMetric('JobsMarkedDirty', MetricUnit.Count, 1);
      }
    } catch (error) {
      const failure = toReplicationError(error);
      logger.error('could not handle a request message', {
        messageId: record.messageId,
        messageGroupId: record.attributes.MessageGroupId,
        jobKey: jobOfMessage.get(record.messageId),
        code: failure.code,
        reason: failure.message,
      });
      metrics.addMetric('RequestsFailed', MetricUnit.Count, 1);
      throw failure;
    }
  };

  metrics.addMetric('RequestsReceived', MetricUnit.Count, event.Records.length);
  const processed = await processPartialResponse(event, handleRecord, new SqsFifoPartialProcessorAsync(), {
    skipGroupOnError: true,
    throwOnFullBatchFailure: false,
  });
  const failed = new Set(processed.batchItemFailures.map((failure) => failure.itemIdentifier));

  const acquired = [...jobs].filter(([, disposition]) => disposition === 'acquired').map(([jobKey]) => jobKey);
  if (acquired.length > 0) {
    try {
      const buildId = await startWorkerBuild(deps.codebuild, {
        projectName: deps.workerProjectName,
        jobKeys: acquired,
        leaseOwner,
      });
      logger.info('started a worker build', { buildId, leaseOwner, jobKeys: acquired });
      metrics.addMetric('BuildsStarted', MetricUnit.Count, 1);
      metrics.addMetric('JobsDispatched', MetricUnit.Count, acquired.length);
    } catch (error) {
      const failure = toReplicationError(error);
      logger.error('could not start a worker build; releasing its leases', {
        leaseOwner,
        jobKeys: acquired,
        code: failure.code,
        reason: failure.message,
      });
      metrics.addMetric('BuildStartFailures', MetricUnit.Count, 1);
      await releaseLeases(acquired, leaseOwner, deps, clock);
      const released = new Set(acquired);
      for (const [messageId, jobKey] of jobOfMessage) if (released.has(jobKey)) failed.add(messageId);
    }
  }

  const batchItemFailures = fifoBatchItemFailures(event.Records, failed);
  logger.info('dispatched a batch', {
    messages: event.Records.length,
    failed: batchItemFailures.length,
    jobsStarted: acquired.length,
    jobsHeld: [...jobs.values()].filter((d) => d === 'held').length,
    jobsCovered: [...jobs.values()].filter((d) => d === 'covered').length,
  });
  return { batchItemFailures };
}

/** Gives back leases of a build that did not start; a failure is logged (the lease then runs out on its own). */
async function releaseLeases(
  jobKeys: readonly string[],
  leaseOwner: string,
  deps: DispatchDependencies,
  clock: () => number,
): Promise<void> {
  await Promise.all(
    jobKeys.map(async (jobKey) => {
      try {
        await deps.store.releaseLease(jobKey, leaseOwner, clock());
      } catch (error) {
        const failure = toReplicationError(error);
        deps.logger.error('could not release a lease; it will expire', {
          jobKey,
          leaseOwner,
          code: failure.code,
          reason: failure.message,
        });
      }
    }),
  );
}
