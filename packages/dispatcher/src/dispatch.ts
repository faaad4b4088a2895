import { randomUUID } from 'node:crypto';
import { SqsFifoPartialProcessorAsync, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { CodeBuildClient } from '@aws-sdk/client-codebuild';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  ErrorCode,
  ReplicationError,
  jobKeyOf,
  originOf,
  parseReplicationRequestJson,
  toReplicationError,
  type JobRecord,
  type ReplicationRequest,
} from '@ecr-replicate/common';
import { normalizeEventTime, type JobStore } from '@ecr-replicate/common/state';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { deferRequest, deferralFor, deferralsOf, type Deferral } from './back-pressure';
import { startWorkerBuild } from './codebuild';
import { invokeCopyLambda } from './copy-lambda';
import { fifoBatchItemFailures } from './fifo-order';

export interface DispatchDependencies {
  store: JobStore;
  codebuild: CodeBuildClient;
  /** Where refused or throttled work goes to come back later (the standard retry queue). */
  sqs: SQSClient;
  retryQueueUrl: string;
  workerProjectName: string;
  /**
   * The copy Lambda, the first executor: leased jobs are handed to it (it hands what does not fit its time to a worker
   * build, lease kept). Absent: every batch starts a worker build, as when the Lambda path is turned off.
   */
  copyLambda?: { client: LambdaClient; functionName: string };
  /** Lease length given to the worker build; it renews the lease while it runs. */
  leaseMs: number;
  logger: Logger;
  metrics: Metrics;
  /** Epoch milliseconds; `Date.now` by default. */
  clock?: () => number;
  /** A fresh lease owner id per dispatch; `dispatch-<uuid>` by default. */
  newLeaseOwner?: () => string;
  /** Jitter of deferral delays (tests). */
  random?: () => number;
  /**
   * The invocation's remaining time (Lambda's context.getRemainingTimeInMillis). The batch never runs into the
   * timeout, which would fail it whole, use up a receive of every message (the fifth sends them to the dead-letter
   * queue) and bring back the ones already deferred a second time. See `TIME_SHARES`.
   */
  remainingMs?: () => number;
}

/**
 * How a batch spends its invocation's time, as shares of the time it started with. No record starts once less than
 * `startRecords` is left; a record still waiting for DynamoDB when `recordsEnd` is left is abandoned and deferred;
 * the build starts only while `startBuild` is left, and a copy Lambda Invoke or a StartBuild still unanswered
 * when `buildEnd` is left is given up (an Invoke for a build; a build for its leases released and its requests
 * deferred); recording the run with its leases stops at `buildsRecordedEnd` (the worker records it too). What
 * remains after that is for the deferrals themselves.
 * An abandoned call may still land: a lease it takes records no build, covers nothing, and the deferred request
 * takes it over when it comes back.
 */
export const TIME_SHARES = {
  startRecords: 0.5,
  recordsEnd: 0.35,
  startBuild: 0.3,
  buildEnd: 0.15,
  buildsRecordedEnd: 0.1,
} as const;

const OUT_OF_TIME = Symbol('out of time');

/**
 * The work's result, or OUT_OF_TIME when it is still running once only `reserveMs` of the invocation is left (the
 * work goes on unobserved: its failure is swallowed).
 */
async function beforeDeadline<T>(
  work: Promise<T>,
  remainingMs: (() => number) | undefined,
  reserveMs: number,
): Promise<T | typeof OUT_OF_TIME> {
  if (remainingMs === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof OUT_OF_TIME>((resolve) => {
    timer = setTimeout(() => resolve(OUT_OF_TIME), Math.max(0, remainingMs() - reserveMs));
  });
  try {
    const outcome = await Promise.race([work, deadline]);
    if (outcome === OUT_OF_TIME) work.catch(() => undefined);
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What the batch did to a job: its lease was taken for the build, another run holds it (now dirty), or a run already
 * covers it.
 */
type JobDisposition = 'acquired' | 'held' | 'covered';

/**
 * Whether a request that changed nothing (a redelivery, or an older ECR
 * event) is already taken care of: a run started after the job's newest
 * request was recorded, and it has finished, or it is running in a build
 * that holds a live lease. A lease whose build never started (StartBuild
 * failed or has not answered yet) covers nothing. Such a run reads the
 * source after the event, so another run would only repeat it.
 *
 * That holds for `request` only when it is the recorded request itself (a
 * redelivery) or its event time is an earlier second than the recorded
 * one's: events of the same second (EventBridge's resolution) are ordered by
 * their random ids, so a "stale" one may be a push that happened after the
 * run read the source. Requests of other origins than ECR (sync, repair,
 * retry, sweep) are never covered: they exist to ask for a run.
 */
export function isCoveredByRun(
  record: JobRecord,
  now: number,
  request?: Pick<ReplicationRequest, 'eventId' | 'eventTime' | 'origin'>,
): boolean {
  if (request !== undefined && originOf(request) !== 'ecr') return false;
  if (
    request !== undefined &&
    request.eventId !== record.lastEventId &&
    !(normalizeEventTime(request.eventTime) < normalizeEventTime(record.lastEventTime))
  ) {
    return false;
  }
  if (record.startedAt === undefined || record.startedAt < record.requestedAt) return false;
  if (record.status === 'COMPLETE' || record.status === 'FAILED') return true;
  return (
    record.status === 'IN_PROGRESS' &&
    record.leaseBuildId !== undefined &&
    record.leaseExpiresAt !== undefined &&
    record.leaseExpiresAt > now
  );
}

/**
 * Handles one batch of the FIFO request queue:
 *
 * 1. Record by record, in order (Powertools' SqsFifoPartialProcessorAsync,
 *    `skipGroupOnError`): parse the body, record the request, and take the
 *    job's lease for this dispatch's owner unless it is ours already, a
 *    started build holds it (the job is marked dirty) or a run already
 *    covers it. A record whose DynamoDB calls were throttled (or failed
 *    transiently) is deferred through the retry queue; one that fails
 *    otherwise fails, and so do the later records of its group.
 * 2. Once for the batch: the jobs whose lease was taken go to the copy
 *    Lambda (one asynchronous invocation; `lambda:<request id>` is recorded
 *    with each lease), or, when its path is off or Lambda refuses, to one
 *    worker build; its build id is recorded with each lease. When CodeBuild refuses
 *    (capacity, throttling) those leases are released and one request per
 *    job is deferred with a growing delay; the messages are deleted, their
 *    receives not used up. Any other StartBuild failure fails the messages.
 * 3. The failures are reported by the FIFO rule (see fifoBatchItemFailures).
 */
export async function dispatchBatch(event: SQSEvent, deps: DispatchDependencies): Promise<SQSBatchResponse> {
  const { store, logger, metrics } = deps;
  const clock = deps.clock ?? Date.now;
  const leaseOwner = (deps.newLeaseOwner ?? (() => `dispatch-${randomUUID()}`))();
  const jobOfMessage = new Map<string, string>();
  const jobs = new Map<string, JobDisposition>();
  let deferredRecords = 0;
  const startedWithMs = deps.remainingMs?.() ?? 0;
  const share = (name: keyof typeof TIME_SHARES): number => startedWithMs * TIME_SHARES[name];
  const lessThan = (name: keyof typeof TIME_SHARES): boolean =>
    deps.remainingMs !== undefined && deps.remainingMs() < share(name);

  /** Sends a message's body to the retry queue; false when that failed too (the message must fail). */
  const defer = async (record: SQSRecord, kind: Deferral, reason: string): Promise<boolean> => {
    const deferrals = deferralsOf(record.messageAttributes);
    try {
      const delaySeconds = await deferRequest(deps.sqs, deps.retryQueueUrl, record.body, deferrals, deps.random);
      logger.info('deferred a request', {
        messageId: record.messageId,
        jobKey: jobOfMessage.get(record.messageId),
        kind,
        reason,
        deferrals: deferrals + 1,
        delaySeconds,
      });
      metrics.addMetric(kind === 'capacity' ? 'RequestsDeferredForCapacity' : 'RequestsDeferred', MetricUnit.Count, 1);
      return true;
    } catch (error) {
      logger.error('could not defer a request; it fails and comes back', {
        messageId: record.messageId,
        reason: toReplicationError(error).message,
      });
      return false;
    }
  };

  /** Records the request and takes the job's lease unless a run has it or covers it; what the job became. */
  const recordAndLease = async (request: ReplicationRequest, jobKey: string, messageId: string) => {
    const recorded = await store.recordRequest(request, clock());
    if (jobs.get(jobKey) === 'acquired') return 'acquired';
    if (recorded.outcome === 'stale' && isCoveredByRun(recorded.record, clock(), request)) {
      logger.debug('request already covered by a run', { messageId, jobKey, eventId: request.eventId });
      return 'covered';
    }
    return store.acquireLease(jobKey, leaseOwner, deps.leaseMs, clock());
  };

  const handleRecord = async (record: SQSRecord): Promise<void> => {
    const outOfTime = 'the invocation is running out of time';
    if (lessThan('startRecords') && (await defer(record, 'transient', outOfTime))) {
      deferredRecords += 1;
      return;
    }
    try {
      const request = parseReplicationRequestJson(record.body);
      const jobKey = jobKeyOf(request);
      jobOfMessage.set(record.messageId, jobKey);
      const outcome = await beforeDeadline(
        recordAndLease(request, jobKey, record.messageId),
        deps.remainingMs,
        share('recordsEnd'),
      );
      if (outcome === OUT_OF_TIME) {
        if (await defer(record, 'transient', `${outOfTime} (DynamoDB has not answered)`)) {
          deferredRecords += 1;
          return;
        }
        throw new ReplicationError(ErrorCode.AwsService, 'DynamoDB did not answer in the time the batch has left');
      }
      if (outcome === 'covered') {
        if (!jobs.has(jobKey)) jobs.set(jobKey, 'covered');
        return;
      }
      jobs.set(jobKey, outcome);
      if (outcome === 'held') {
        logger.info('job is being reconciled by another run; marked it dirty', { jobKey, eventId: request.eventId });
        metrics.addMetric('JobsMarkedDirty', MetricUnit.Count, 1);
      }
    } catch (error) {
      const failure = toReplicationError(error);
      const kind = deferralFor(error, deferralsOf(record.messageAttributes));
      if (kind !== undefined && (await defer(record, kind, failure.message))) {
        deferredRecords += 1;
        return;
      }
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
  let started = 0;
  let invoked = false;
  /**
   * Starts the run of the acquired jobs (`start`: a copy Lambda Invoke or a StartBuild) within the batch's time, tells
   * `onStarted` its id, and records it with each lease. Should a run given up start after all, it finds its leases
   * released or taken over and writes nothing (fencing).
   */
  const launch = async (what: string, start: Promise<string>, onStarted: (runId: string) => void): Promise<void> => {
    const runId = await beforeDeadline(start, deps.remainingMs, share('buildEnd'));
    if (runId === OUT_OF_TIME)
      throw new ReplicationError(ErrorCode.AwsService, `${what} did not answer in the time left`);
    started = acquired.length;
    onStarted(runId);
    metrics.addMetric('JobsDispatched', MetricUnit.Count, acquired.length);
    await beforeDeadline(
      recordLeaseBuilds(acquired, leaseOwner, runId, deps, clock),
      deps.remainingMs,
      share('buildsRecordedEnd'),
    );
  };
  if (acquired.length > 0 && deps.copyLambda !== undefined) {
    const { client, functionName } = deps.copyLambda;
    try {
      await launch(
        'Lambda Invoke',
        invokeCopyLambda(client, { functionName, jobKeys: acquired, leaseOwner }),
        (invocationId) => {
          invoked = true;
          logger.info('handed jobs to the copy Lambda', { invocationId, leaseOwner, jobKeys: acquired });
          metrics.addMetric('CopyInvocations', MetricUnit.Count, 1);
        },
      );
    } catch (error) {
      // The jobs are not lost: the same leases go to a worker build below.
      logger.warn('could not invoke the copy Lambda; starting a worker build instead', {
        leaseOwner,
        jobKeys: acquired,
        reason: toReplicationError(error).message,
      });
      metrics.addMetric('CopyInvokeFailures', MetricUnit.Count, 1);
    }
  }
  if (acquired.length > 0 && !invoked) {
    try {
      if (lessThan('startBuild'))
        throw new ReplicationError(ErrorCode.AwsService, 'no time left in the invocation to start a worker build');
      await launch(
        'CodeBuild StartBuild',
        startWorkerBuild(deps.codebuild, { projectName: deps.workerProjectName, jobKeys: acquired, leaseOwner }),
        (buildId) => {
          logger.info('started a worker build', { buildId, leaseOwner, jobKeys: acquired });
          metrics.addMetric('BuildsStarted', MetricUnit.Count, 1);
        },
      );
    } catch (error) {
      const failure = toReplicationError(error);
      const messages = event.Records.filter((r) => acquired.includes(jobOfMessage.get(r.messageId) ?? ''));
      const kind = deferralFor(error, Math.max(0, ...messages.map((r) => deferralsOf(r.messageAttributes))));
      logger.warn('could not start a worker build; releasing its leases', {
        leaseOwner,
        jobKeys: acquired,
        code: failure.code,
        reason: failure.message,
        ...(kind === undefined ? {} : { deferral: kind }),
      });
      metrics.addMetric(kind === 'capacity' ? 'BuildStartsRefused' : 'BuildStartFailures', MetricUnit.Count, 1);
      await releaseLeases(acquired, leaseOwner, deps, clock);
      for (const jobKey of acquired) {
        const ofJob = messages.filter((r) => jobOfMessage.get(r.messageId) === jobKey && !failed.has(r.messageId));
        // One deferred request per job is enough: the record keeps the newest event.
        const deferredOne =
          kind !== undefined && ofJob[0] !== undefined && (await defer(ofJob[0], kind, failure.message));
        if (!deferredOne) for (const r of ofJob) failed.add(r.messageId);
      }
    }
  }

  const batchItemFailures = fifoBatchItemFailures(event.Records, failed);
  logger.info('dispatched a batch', {
    messages: event.Records.length,
    failed: batchItemFailures.length,
    deferred: deferredRecords,
    jobsStarted: started,
    jobsHeld: [...jobs.values()].filter((d) => d === 'held').length,
    jobsCovered: [...jobs.values()].filter((d) => d === 'covered').length,
  });
  return { batchItemFailures };
}

/**
 * Records the started build with each lease, so that the lease covers requests; a failure is logged (the worker
 * records its build id itself at its first heart-beat).
 */
async function recordLeaseBuilds(
  jobKeys: readonly string[],
  leaseOwner: string,
  buildId: string,
  deps: DispatchDependencies,
  clock: () => number,
): Promise<void> {
  await Promise.all(
    jobKeys.map(async (jobKey) => {
      try {
        await deps.store.setLeaseBuild(jobKey, leaseOwner, buildId, clock());
      } catch (error) {
        deps.logger.warn('could not record the build of a lease; the worker will', {
          jobKey,
          buildId,
          reason: toReplicationError(error).message,
        });
      }
    }),
  );
}

/**
 * Gives back leases of a build that did not start. A failure is logged: a lease without a build covers nothing and
 * the next request for the job takes it over.
 */
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
        deps.logger.warn('could not release a lease; the next request for the job takes it over', {
          jobKey,
          leaseOwner,
          code: failure.code,
          reason: failure.message,
        });
      }
    }),
  );
}
