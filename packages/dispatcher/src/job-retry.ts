import { createHash } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
  ErrorCode,
  ReplicationError,
  messageGroupIdOf,
  type JobRecord,
  type ReplicationRequest,
  type RequestOrigin,
} from '@ecr-replicate/common';
import { DEFERRALS_ATTRIBUTE } from './back-pressure';

/**
 * Retries with a delay. SQS FIFO queues have no per-message delay, so a job
 * whose worker build died goes through a standard "retry" queue first: the
 * build-state handler sends the job's request there with DelaySeconds =
 * backoff, and the retry handler forwards it into the FIFO request queue
 * (same group as any request for that job), where the dispatcher handles it
 * like any other request.
 */

export const FIRST_JOB_RETRY_DELAY_SECONDS = 30;
/** SQS's largest message delay. */
export const MAX_JOB_RETRY_DELAY_SECONDS = 900;

/** Message attribute carrying the attempt number a retry follows. */
export const ATTEMPT_ATTRIBUTE = 'attempt';

/** 30 s × 2^(attempt - 1), at most 900 s: 30, 60, 120, 240, 480, 900, 900... */
export function jobRetryDelaySeconds(attempt: number): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  return Math.min(MAX_JOB_RETRY_DELAY_SECONDS, FIRST_JOB_RETRY_DELAY_SECONDS * 2 ** Math.min(exponent, 16));
}

/**
 * A request for one more run of a job, rebuilt from its record, with the
 * origin of who asks (`retry`, `sweep`): it never outranks an ECR event, so
 * the dispatcher records nothing but that a run is wanted, and takes the
 * lease again (or marks a running job dirty).
 */
export function requestFromRecord(record: JobRecord, origin: RequestOrigin = 'retry'): ReplicationRequest {
  return {
    version: 1,
    eventId: record.lastEventId,
    eventTime: record.lastEventTime,
    origin,
    action: record.action,
    source: { accountId: record.sourceAccountId, region: record.sourceRegion, repository: record.sourceRepository },
    destination: { repository: record.destinationRepository },
    ...(record.tag === undefined ? {} : { tag: record.tag }),
    digest: record.desiredDigest,
  };
}

/** Sends a job's request to the retry queue, to come back after the backoff of `attempt`. Returns the delay. */
export async function scheduleJobRetry(
  sqs: SQSClient,
  retryQueueUrl: string,
  record: JobRecord,
  attempt: number,
): Promise<number> {
  const delaySeconds = jobRetryDelaySeconds(attempt);
  await sendOrThrow(sqs, retryQueueUrl, record.jobKey, {
    QueueUrl: retryQueueUrl,
    MessageBody: JSON.stringify(requestFromRecord(record)),
    DelaySeconds: delaySeconds,
    MessageAttributes: { [ATTEMPT_ATTRIBUTE]: { DataType: 'Number', StringValue: String(attempt) } },
  });
  return delaySeconds;
}

/**
 * Deduplication id of a forwarded retry: a hash of job, event and attempt (or,
 * without an attempt, the retry message's id). Not the event id, which SQS
 * may still remember from the first delivery; stable, so that a retry message
 * the standard queue delivers twice is forwarded once.
 */
export function jobRetryDeduplicationId(
  request: ReplicationRequest,
  jobKey: string,
  attemptOrMessageId: string,
): string {
  return `retry-${createHash('sha256').update(`${jobKey}\n${request.eventId}\n${attemptOrMessageId}`).digest('hex')}`;
}

/**
 * Forwards a retry into the FIFO request queue, in the job's group; `deferrals` (of a deferred request) travels as a
 * message attribute.
 */
export async function forwardJobRetry(
  sqs: SQSClient,
  requestQueueUrl: string,
  request: ReplicationRequest,
  jobKey: string,
  attemptOrMessageId: string,
  deferrals?: number,
): Promise<void> {
  await sendOrThrow(sqs, requestQueueUrl, jobKey, {
    QueueUrl: requestQueueUrl,
    MessageBody: JSON.stringify(request),
    MessageGroupId: messageGroupIdOf(request),
    MessageDeduplicationId: jobRetryDeduplicationId(request, jobKey, attemptOrMessageId),
    ...(deferrals === undefined
      ? {}
      : { MessageAttributes: { [DEFERRALS_ATTRIBUTE]: { DataType: 'Number', StringValue: String(deferrals) } } }),
  });
}

async function sendOrThrow(
  sqs: SQSClient,
  queueUrl: string,
  jobKey: string,
  input: SendMessageCommand['input'],
): Promise<void> {
  try {
    await sqs.send(new SendMessageCommand(input));
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new ReplicationError(
      ErrorCode.AwsService,
      `SQS SendMessage of job "${jobKey}" to ${queueUrl} failed: ${reason}`,
      {
        cause: error,
        details: { jobKey, queueUrl },
      },
    );
  }
}
