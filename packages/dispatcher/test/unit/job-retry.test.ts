import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { parseReplicationRequestJson } from '@ecr-replicate/common';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { forwardJobRetries } from '../../src/job-retry-forward';
import { jobRetryDeduplicationId, jobRetryDelaySeconds } from '../../src/job-retry';
import { REQUEST_QUEUE_URL, keyOf, quietObservability, request, sqsEvent, sqsRecord } from '../support/fixtures';
import { captureOutput, jsonLines } from '@ecr-replicate/testing';

const sqsMock = mockClient(SQSClient);

beforeEach(() => {
  sqsMock.reset();
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'fwd' });
});

/** A message of the standard retry queue: no group, the attempt as a message attribute. */
function retryRecord(body: string, attempt?: number): SQSRecord {
  const record = sqsRecord(body);
  delete record.attributes.MessageGroupId;
  delete record.attributes.MessageDeduplicationId;
  record.messageAttributes =
    attempt === undefined ? {} : { attempt: { dataType: 'Number', stringValue: String(attempt) } };
  return record;
}

async function forward(...records: SQSRecord[]) {
  const { logger, metrics } = quietObservability();
  const { result, error, output } = await captureOutput(() =>
    forwardJobRetries(sqsEvent(...records), {
      sqs: new SQSClient({ region: 'us-west-2' }),
      requestQueueUrl: REQUEST_QUEUE_URL,
      logger,
      metrics,
    }),
  );
  if (error !== undefined) throw error;
  return { failed: (result?.batchItemFailures ?? []).map((f) => f.itemIdentifier), output };
}

const sent = () => sqsMock.commandCalls(SendMessageCommand).map((call) => call.args[0].input);

describe('jobRetryDelaySeconds', () => {
  it.each([
    [1, 30],
    [2, 60],
    [3, 120],
    [4, 240],
    [5, 480],
    [6, 900],
    [50, 900],
    [0, 30],
  ])('attempt %i waits %i s', (attempt, seconds) => expect(jobRetryDelaySeconds(attempt)).toBe(seconds));
});

describe('forwardJobRetries', () => {
  it('forwards each retry into the FIFO queue, in its job group, with a deduplication id of its own', async () => {
    const r = request('v1');
    const { failed } = await forward(retryRecord(JSON.stringify(r), 2));
    expect(failed).toEqual([]);
    const [input] = sent();
    expect(input?.QueueUrl).toBe(REQUEST_QUEUE_URL);
    expect(input?.MessageGroupId).toBe(keyOf('v1'));
    expect(input?.MessageDeduplicationId).toMatch(/^retry-[0-9a-f]{64}$/);
    expect(input?.MessageDeduplicationId).not.toBe(r.eventId);
    expect(input?.DelaySeconds).toBeUndefined();
    expect(parseReplicationRequestJson(input?.MessageBody ?? '')).toEqual(r);
  });

  it('gives the same retry the same id (a duplicate delivery is dropped by SQS) and another attempt another id', () => {
    const r = request('v1');
    expect(jobRetryDeduplicationId(r, keyOf('v1'), '2')).toBe(jobRetryDeduplicationId(r, keyOf('v1'), '2'));
    expect(jobRetryDeduplicationId(r, keyOf('v1'), '3')).not.toBe(jobRetryDeduplicationId(r, keyOf('v1'), '2'));
  });

  it('forwards two retries of one job with one attempt number (a queue timeout counts none) under two ids', async () => {
    const r = request('v1');
    const first = retryRecord(JSON.stringify(r), 1);
    const second = retryRecord(JSON.stringify(r), 1);
    await forward(first);
    await forward(first); // the standard queue delivers one message twice: the same id, SQS drops the copy
    await forward(second);
    const ids = sent().map((input) => input.MessageDeduplicationId);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[0]);
  });

  it('fails a malformed retry alone', async () => {
    const bad = retryRecord('{"nope":true}', 1);
    const good = retryRecord(JSON.stringify(request('v2')), 1);
    const { failed, output } = await forward(bad, good);
    expect(failed).toEqual([bad.messageId]);
    expect(sent()).toHaveLength(1);
    expect(jsonLines(output)).toContainEqual(
      expect.objectContaining({ level: 'ERROR', message: 'could not forward a retry', messageId: bad.messageId }),
    );
  });

  it('fails a retry SQS refuses, so that it comes back', async () => {
    sqsMock.on(SendMessageCommand).rejects(new Error('unavailable'));
    const record = retryRecord(JSON.stringify(request('v3')));
    const { failed } = await forward(record);
    expect(failed).toEqual([record.messageId]);
  });
});
