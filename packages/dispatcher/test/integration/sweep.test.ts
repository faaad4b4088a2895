import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { parseReplicationRequestJson } from '@ecr-replicate/common';
import { JobStore } from '@ecr-replicate/common/state';
import { captureOutput, metricLines, startLocalDynamoDb, type LocalDynamoDb } from '@ecr-replicate/testing';
import { mockClient } from 'aws-sdk-client-mock';
import { strandedReason, sweepStrandedJobs } from '../../src/sweep';
import { REQUEST_QUEUE_URL, T0, freshTable, keyOf, quietObservability, request } from '../support/fixtures';

const sqsMock = mockClient(SQSClient);
let dynamo: LocalDynamoDb;

beforeAll(async () => {
  dynamo = await startLocalDynamoDb();
});

afterAll(async () => {
  await dynamo.stop();
});

beforeEach(() => {
  sqsMock.reset();
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm' });
});

const PENDING_AFTER_MS = 600_000;

async function sweep(store: JobStore, now: number) {
  const { logger, metrics } = quietObservability();
  const { result, output } = await captureOutput(async () => {
    try {
      return await sweepStrandedJobs({
        store,
        sqs: new SQSClient({ region: 'us-west-2' }),
        requestQueueUrl: REQUEST_QUEUE_URL,
        pendingAfterMs: PENDING_AFTER_MS,
        logger,
        metrics,
        clock: () => now,
        pageSize: 2,
      });
    } finally {
      metrics.publishStoredMetrics();
    }
  });
  return { result: result!, output };
}

describe('sweepStrandedJobs', () => {
  it('re-queues IN_PROGRESS jobs whose lease expired and PENDING jobs left alone too long, and nothing else', async () => {
    const store = new JobStore(dynamo.documentClient, await freshTable(dynamo));
    // Stranded: a lease that ran out (its worker died unseen), a request whose message was lost.
    await store.recordRequest(request('expired'), T0);
    await store.acquireLease(keyOf('expired'), 'dead-build', 1_000, T0);
    await store.recordRequest(request('lost'), T0);
    // Not stranded: a running build, a fresh PENDING job (its deferral is on its way), a finished job.
    await store.recordRequest(request('running'), T0);
    await store.acquireLease(keyOf('running'), 'live-build', 3_600_000, T0);
    await store.recordRequest(request('fresh'), T0 + PENDING_AFTER_MS);
    await store.recordRequest(request('done'), T0);
    await store.acquireLease(keyOf('done'), 'w', 1_000, T0);
    await store.finish(keyOf('done'), 'w', { status: 'COMPLETE', bytesCopied: 0, durationSeconds: 0 }, T0 + 1);

    const now = T0 + PENDING_AFTER_MS + 1_000;
    const { result, output } = await sweep(store, now);
    expect(result.stuck).toBe(2);
    expect(result.requeued.sort()).toEqual([keyOf('expired'), keyOf('lost')]);
    const sent = sqsMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    for (const message of sent) {
      expect(message.QueueUrl).toBe(REQUEST_QUEUE_URL);
      const body = parseReplicationRequestJson(message.MessageBody ?? '');
      // A sweep request: it asks for a run and never outranks an ECR event.
      expect(body.origin).toBe('sweep');
      expect(message.MessageGroupId).toBe(`mirror/team/app:${body.tag}`);
    }
    expect(metricLines(output, 'StuckJobs')[0]).toMatchObject({ StuckJobs: 2 });

    // The next pass, nothing changed: the same deduplication ids, so SQS keeps one message per stranded state.
    const first = sent.map((m) => m.MessageDeduplicationId).sort();
    sqsMock.resetHistory();
    await sweep(store, now + 60_000);
    expect(
      sqsMock
        .commandCalls(SendMessageCommand)
        .map((c) => c.args[0].input.MessageDeduplicationId)
        .sort(),
    ).toEqual(first);
  });

  it('keeps going when a send fails, and reports it', async () => {
    const store = new JobStore(dynamo.documentClient, await freshTable(dynamo));
    await store.recordRequest(request('a'), T0);
    await store.recordRequest(request('b'), T0);
    sqsMock.on(SendMessageCommand).rejectsOnce(new Error('InternalError')).resolves({ MessageId: 'm' });
    const { result } = await sweep(store, T0 + PENDING_AFTER_MS + 1);
    expect(result.requeued).toHaveLength(1);
    expect(result.failed).toHaveLength(1);
  });

  it.each([
    ['IN_PROGRESS, lease expired', { status: 'IN_PROGRESS' as const, leaseExpiresAt: T0 }, 'lease expired'],
    ['IN_PROGRESS, lease alive', { status: 'IN_PROGRESS' as const, leaseExpiresAt: T0 + 1 }, undefined],
    [
      'PENDING for long',
      { status: 'PENDING' as const, updatedAt: T0 - PENDING_AFTER_MS },
      'pending with nothing queued',
    ],
    ['PENDING, recent', { status: 'PENDING' as const, updatedAt: T0 - 1 }, undefined],
    ['FAILED', { status: 'FAILED' as const, updatedAt: 0 }, undefined],
  ])('%s → %s', (_name, fields, reason) => {
    const record = {
      jobKey: 'k:t',
      sourceAccountId: '123456789012',
      sourceRegion: 'us-west-2',
      sourceRepository: 'r',
      destinationRepository: 'r',
      action: 'PUSH' as const,
      desiredDigest: `sha256:${'a'.repeat(64)}`,
      lastEventId: 'e',
      lastEventTime: '2026-11-16T01:00:00.000Z',
      dirty: false,
      attempts: 0,
      requestedAt: 0,
      updatedAt: T0,
      ...fields,
    };
    expect(strandedReason(record, T0, PENDING_AFTER_MS)).toBe(reason);
  });
});
