import { createHash } from 'node:crypto';
import { jobKeyOf, messageGroupIdOf, type ReplicationRequest } from '@ecr-replicate/common';
import { createJobTable } from '@ecr-replicate/common/state';
import { createLogger, createMetrics } from '@ecr-replicate/common/observability';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { LocalDynamoDb } from '@ecr-replicate/testing';

export const DIGEST_A = `sha256:${'a'.repeat(64)}`;
export const DIGEST_B = `sha256:${'b'.repeat(64)}`;
export const T0 = Date.UTC(2026, 10, 16, 2, 0, 0);
export const WORKER_PROJECT = 'ecr-replicate-worker';
export const REQUEST_QUEUE_URL = 'https://sqs.us-west-2.amazonaws.com/123456789012/ecr-replicate-requests.fifo';
export const RETRY_QUEUE_URL = 'https://sqs.us-west-2.amazonaws.com/123456789012/ecr-replicate-retries';

let eventCounter = 0;

/** A request for `tag` of mirror/team/app; each call is a new event, one second later than the previous one. */
export function request(tag: string, overrides: Partial<ReplicationRequest> = {}): ReplicationRequest {
  eventCounter += 1;
  return {
    version: 1,
    eventId: `event-${String(eventCounter).padStart(6, '0')}`,
    eventTime: new Date(Date.UTC(2026, 10, 16, 1, 0, 0) + eventCounter * 1000).toISOString(),
    action: 'PUSH',
    source: { accountId: '123456789012', region: 'us-west-2', repository: 'team/app' },
    destination: { repository: 'mirror/team/app' },
    tag,
    digest: DIGEST_A,
    ...overrides,
  };
}

export const keyOf = (tag: string) => `mirror/team/app:${tag}`;

let messageCounter = 0;

/** An SQS FIFO record as Lambda delivers it; the group is the request's unless given. */
export function sqsRecord(
  body: ReplicationRequest | string,
  options: { groupId?: string; messageId?: string; attributes?: Record<string, string> } = {},
): SQSRecord {
  messageCounter += 1;
  const groupId = options.groupId ?? (typeof body === 'string' ? 'malformed' : messageGroupIdOf(body));
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return {
    messageId: options.messageId ?? `m-${messageCounter}`,
    receiptHandle: `rh-${messageCounter}`,
    body: text,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(T0),
      SenderId: 'AROAEXAMPLE',
      ApproximateFirstReceiveTimestamp: String(T0),
      SequenceNumber: String(messageCounter).padStart(20, '0'),
      MessageGroupId: groupId,
      MessageDeduplicationId: typeof body === 'string' ? `d-${messageCounter}` : body.eventId,
    },
    messageAttributes: Object.fromEntries(
      Object.entries(options.attributes ?? {}).map(([name, value]) => [
        name,
        { dataType: 'Number', stringValue: value, stringListValues: [], binaryListValues: [] },
      ]),
    ),
    md5OfBody: createHash('md5').update(text).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-west-2:123456789012:ecr-replicate-requests.fifo',
    awsRegion: 'us-west-2',
  };
}

export function sqsEvent(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

/** A clock that starts at T0 and moves 1 ms per reading (so times are distinct and ordered). */
export function steppingClock(start = T0): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return {
    now: () => (time += 1),
    advance: (ms: number) => {
      time += ms;
    },
  };
}

let tableCounter = 0;

/** A fresh job table on the shared local DynamoDB. */
export async function freshTable(dynamo: LocalDynamoDb): Promise<string> {
  tableCounter += 1;
  const name = `jobs-${tableCounter}`;
  await createJobTable(dynamo.client, name);
  return name;
}

export function quietObservability() {
  const logger = createLogger('dispatcher');
  return { logger, metrics: createMetrics('dispatcher', logger) };
}

export { jobKeyOf };
