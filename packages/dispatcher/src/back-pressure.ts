import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ErrorCode, ReplicationError, toReplicationError } from '@ecr-replicate/common';

/**
 * Capacity is back-pressure, not failure. When CodeBuild refuses a build
 * (its concurrent-build or queue limit) or any AWS API throttles, the
 * request is not failed back to the FIFO queue (each redelivery would use up
 * one of its receives, and the last one sends it to the dead-letter queue):
 * it is sent to the standard retry queue with a growing delay
 * (DelaySeconds) and deleted from the FIFO queue; the retry forwarder brings
 * it back as a new message with all its receives. A message attribute counts
 * its deferrals, so the delay grows across them.
 *
 * Other transient AWS failures (5xx, timeouts) are deferred the same way a
 * bounded number of times; after that the message fails normally (its
 * receives, then the dead-letter queue, which an alarm watches).
 */

/** Message attribute carrying how many times a request was deferred. */
export const DEFERRALS_ATTRIBUTE = 'deferrals';
export const FIRST_DEFERRAL_SECONDS = 10;
export const MAX_DEFERRAL_SECONDS = 300;
/** Deferrals of a request for transient (non-capacity) failures before it fails normally. */
export const MAX_TRANSIENT_DEFERRALS = 10;

/** Error names of refused capacity and throttling, in every AWS service the pipeline calls. */
const CAPACITY_ERROR_NAMES: ReadonlySet<string> = new Set([
  'AccountLimitExceededException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'RequestThrottled',
  'RequestThrottledException',
  'LimitExceededException',
  'SlowDown',
]);

/** The names of an error and of its causes. */
function errorNames(error: unknown): string[] {
  const names: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    names.push(current.name);
    current = (current as { cause?: unknown }).cause;
  }
  return names;
}

/** Whether the error (or its cause) is a refusal for capacity or a throttle. */
export function isCapacityError(error: unknown): boolean {
  return errorNames(error).some((name) => CAPACITY_ERROR_NAMES.has(name));
}

export type Deferral = 'capacity' | 'transient';

/**
 * How a failure is handled with the request's deferrals so far: `capacity` and `transient` defer it, undefined fails
 * it (invalid input, a missing project: retrying changes nothing; or transient deferrals used up).
 */
export function deferralFor(error: unknown, deferrals: number): Deferral | undefined {
  if (isCapacityError(error)) return 'capacity';
  const failure = toReplicationError(error);
  if (failure.code === ErrorCode.AwsService && failure.retryable && deferrals < MAX_TRANSIENT_DEFERRALS)
    return 'transient';
  return undefined;
}

/** 10 s × 2^deferrals, at most 300 s, with jitter (the upper half): 5-10, 10-20, 20-40 ... 150-300. */
export function deferralDelaySeconds(deferrals: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_DEFERRAL_SECONDS, FIRST_DEFERRAL_SECONDS * 2 ** Math.min(Math.max(0, deferrals), 16));
  return Math.max(1, Math.round(ceiling / 2 + (random() * ceiling) / 2));
}

/** The deferral count of a message (its `deferrals` attribute; 0 when absent or malformed). */
export function deferralsOf(messageAttributes: Record<string, { stringValue?: string } | undefined>): number {
  const value = Number(messageAttributes[DEFERRALS_ATTRIBUTE]?.stringValue ?? '0');
  return Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

/**
 * Sends a request body to the retry queue, to come back after the delay of its next deferral. Returns the delay.
 * Throws AWS_SERVICE when SQS refuses (the caller then fails the message, to be redelivered).
 */
export async function deferRequest(
  sqs: SQSClient,
  retryQueueUrl: string,
  body: string,
  deferrals: number,
  random?: () => number,
): Promise<number> {
  const delaySeconds = deferralDelaySeconds(deferrals, random);
  try {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: retryQueueUrl,
        MessageBody: body,
        DelaySeconds: delaySeconds,
        MessageAttributes: { [DEFERRALS_ATTRIBUTE]: { DataType: 'Number', StringValue: String(deferrals + 1) } },
      }),
    );
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new ReplicationError(ErrorCode.AwsService, `SQS SendMessage of a deferred request failed: ${reason}`, {
      cause: error,
      details: { queueUrl: retryQueueUrl },
    });
  }
  return delaySeconds;
}
