import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import {
  ErrorCode,
  ReplicationError,
  parseReplicationConfig,
  parseReplicationRequestJson,
  type ReplicationConfigInput,
} from '@ecr-replicate/common';
import { createLogger, createMetrics } from '@ecr-replicate/common/observability';
import { mockClient } from 'aws-sdk-client-mock';
import { ingestEvent } from '../../src/ingest';
import { DIGEST_A, EVENT_ID, ecrEvent } from '../support/events';
import { captureOutput, jsonLines, metricLines } from '@ecr-replicate/testing';

const QUEUE_URL = 'https://sqs.us-west-2.amazonaws.com/123456789012/ecr-replicate-requests.fifo';
const sqsMock = mockClient(SQSClient);

beforeEach(() => {
  sqsMock.reset();
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
});

afterAll(() => {
  delete process.env.POWERTOOLS_LOG_LEVEL;
});

function run(event: unknown, input: ReplicationConfigInput = {}) {
  const logger = createLogger('ingest');
  const deps = {
    sqs: new SQSClient({ region: 'us-west-2' }),
    requestQueueUrl: QUEUE_URL,
    config: parseReplicationConfig(input),
    logger,
    metrics: createMetrics('ingest', logger),
  };
  return captureOutput(async () => {
    try {
      return await ingestEvent(event, deps);
    } finally {
      deps.metrics.publishStoredMetrics();
    }
  });
}

describe('ingestEvent', () => {
  it('sends one message: mapped request, job group, event id for deduplication', async () => {
    const { result, error } = await run(ecrEvent(), { mapping: { prefixes: [{ from: 'team/', to: 'mirror/' }] } });
    expect(error).toBeUndefined();
    expect(result).toEqual({ kind: 'sent', jobKey: 'mirror/app:v1.2.3', messageId: 'm-1' });

    const calls = sqsMock.commandCalls(SendMessageCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input.QueueUrl).toBe(QUEUE_URL);
    expect(input.MessageGroupId).toBe('mirror/app:v1.2.3');
    expect(input.MessageDeduplicationId).toBe(EVENT_ID);
    expect(input.DelaySeconds).toBeUndefined();
    const request = parseReplicationRequestJson(input.MessageBody ?? '');
    expect(request).toMatchObject({
      eventId: EVENT_ID,
      destination: { repository: 'mirror/app' },
      source: { repository: 'team/app' },
      tag: 'v1.2.3',
      digest: DIGEST_A,
    });
  });

  it('groups tagless requests by digest', async () => {
    await run(ecrEvent({ tag: null }), { taglessPushes: true });
    expect(sqsMock.commandCalls(SendMessageCommand)[0]!.args[0].input.MessageGroupId).toBe(`team/app@${DIGEST_A}`);
  });

  it('hashes an event id SQS would refuse as a deduplication id', async () => {
    await run(ecrEvent({ id: 'e'.repeat(128) + 'x' }));
    expect(sqsMock.commandCalls(SendMessageCommand)[0]!.args[0].input.MessageDeduplicationId).toMatch(
      /^sha256-[0-9a-f]{64}$/,
    );
  });

  it('hashes a job group longer than SQS allows', async () => {
    const repository = `team/${'r'.repeat(150)}`;
    await run(ecrEvent({ repository }));
    expect(sqsMock.commandCalls(SendMessageCommand)[0]!.args[0].input.MessageGroupId).toMatch(/^sha256-[0-9a-f]{64}$/);
  });

  it.each([
    ['action-failed', ecrEvent({ result: 'FAILURE' }), {}],
    ['deletes-disabled', ecrEvent({ action: 'DELETE' }), {}],
    ['tagless-push', ecrEvent({ tag: null }), {}],
    ['repository-not-selected', ecrEvent(), { repositories: { include: ['other/*'] } }],
    ['tag-not-selected', ecrEvent({ tag: 'nightly' }), { tags: { exclude: ['nightly'] } }],
  ] as const)('drops %s: no message, a debug line and EventsDropped with that reason', async (reason, event, input) => {
    const { result, output } = await run(event, input as ReplicationConfigInput);
    expect(result).toEqual({ kind: 'dropped', reason });
    expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(0);

    const [metric] = metricLines(output, 'EventsDropped');
    expect(metric).toMatchObject({ reason, service: 'ingest', EventsDropped: 1 });
    expect(metric!._aws.CloudWatchMetrics[0]!.Dimensions[0]).toEqual(expect.arrayContaining(['service', 'reason']));
    expect(jsonLines(output)).toContainEqual(
      expect.objectContaining({ level: 'DEBUG', message: 'dropped an ECR event', reason, eventId: EVENT_ID }),
    );
  });

  it('throws when SQS fails, so that Lambda retries the event', async () => {
    sqsMock
      .on(SendMessageCommand)
      .rejects(Object.assign(new Error('queue does not exist'), { name: 'QueueDoesNotExist' }));
    const { error, output } = await run(ecrEvent());
    expect(error).toBeInstanceOf(ReplicationError);
    expect((error as ReplicationError).code).toBe(ErrorCode.AwsService);
    expect((error as ReplicationError).message).toContain('QueueDoesNotExist: queue does not exist');
    expect(jsonLines(output)).toContainEqual(
      expect.objectContaining({ level: 'ERROR', message: 'could not queue a replication request', eventId: EVENT_ID }),
    );
  });

  it('throws for an invalid event, logging its id and the reason but not its content', async () => {
    const event = ecrEvent();
    event.detail['image-digest'] = 'sha256:NOT-A-DIGEST-bogus-content';
    const { error, output } = await run(event);
    expect(error).toBeInstanceOf(ReplicationError);
    expect((error as ReplicationError).message).toMatch(
      new RegExp(`^ECR event ${EVENT_ID} rejected: invalid ECR Image Action event: detail\\.image-digest`),
    );
    expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(output).not.toContain('NOT-A-DIGEST-bogus-content');
    expect(jsonLines(output)).toContainEqual(
      expect.objectContaining({ level: 'ERROR', eventId: EVENT_ID, code: 'INVALID_INPUT' }),
    );
  });

  it('throws for a mapping that yields an invalid name', async () => {
    const { error } = await run(ecrEvent(), { mapping: { repositories: { 'team/app': 'UPPER/case' } } });
    expect((error as Error).message).toContain('maps to "UPPER/case", which is not a valid repository name');
  });

  it('throws for something that is not an event at all', async () => {
    const { error } = await run('hello');
    expect((error as Error).message).toMatch(
      /^ECR event \(without a valid id\) rejected: invalid ECR Image Action event/,
    );
  });
});
