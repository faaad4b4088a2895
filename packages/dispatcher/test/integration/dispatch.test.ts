import { CodeBuildClient, StartBuildCommand, type StartBuildCommandInput } from '@aws-sdk/client-codebuild';
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { ErrorCode, ReplicationError } from '@ecr-replicate/common';
import { JobStore } from '@ecr-replicate/common/state';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { dispatchBatch, isCoveredByRun } from '../../src/dispatch';
import { fifoBatchItemFailures } from '../../src/fifo-order';
import {
  DIGEST_B,
  RETRY_QUEUE_URL,
  T0,
  WORKER_PROJECT,
  freshTable,
  keyOf,
  quietObservability,
  request,
  sqsEvent,
  sqsRecord,
  steppingClock,
} from '../support/fixtures';
import { startLocalDynamoDb, type LocalDynamoDb, captureOutput, jsonLines, metricLines } from '@ecr-replicate/testing';

const LEASE_MS = 900_000;
const codebuildMock = mockClient(CodeBuildClient);
const sqsMock = mockClient(SQSClient);
let dynamo: LocalDynamoDb;

beforeAll(async () => {
  dynamo = await startLocalDynamoDb();
});

afterAll(async () => {
  await dynamo.stop();
});

let buildCounter = 0;
beforeEach(() => {
  sqsMock.reset();
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'deferred' });
  codebuildMock.reset();
  codebuildMock.on(StartBuildCommand).callsFake(async () => {
    buildCounter += 1;
    return { build: { id: `${WORKER_PROJECT}:build-${buildCounter}` } };
  });
});

interface Dispatcher {
  store: JobStore;
  clock: ReturnType<typeof steppingClock>;
  /** One dispatch, its output captured. */
  run(event: SQSEvent, owner?: string): Promise<{ failed: string[]; output: string }>;
  /** One dispatch without capturing (for concurrent runs inside one capture). */
  dispatch(event: SQSEvent, owner: string): Promise<string[]>;
}

async function dispatcher(): Promise<Dispatcher> {
  const store = new JobStore(dynamo.documentClient, await freshTable(dynamo));
  const clock = steppingClock();
  let owners = 0;
  const dispatch = async (event: SQSEvent, leaseOwner: string): Promise<string[]> => {
    const { logger, metrics } = quietObservability();
    try {
      const response = await dispatchBatch(event, {
        store,
        codebuild: new CodeBuildClient({ region: 'us-west-2' }),
        sqs: new SQSClient({ region: 'us-west-2' }),
        retryQueueUrl: RETRY_QUEUE_URL,
        workerProjectName: WORKER_PROJECT,
        leaseMs: LEASE_MS,
        logger,
        metrics,
        clock: clock.now,
        newLeaseOwner: () => leaseOwner,
      });
      return response.batchItemFailures.map((f) => f.itemIdentifier);
    } finally {
      metrics.publishStoredMetrics();
    }
  };
  return {
    store,
    clock,
    dispatch,
    async run(event, owner) {
      owners += 1;
      const { result, error, output } = await captureOutput(() => dispatch(event, owner ?? `dispatch-${owners}`));
      if (error !== undefined) throw error;
      return { failed: result ?? [], output };
    },
  };
}

function startBuildInputs(): StartBuildCommandInput[] {
  return codebuildMock.commandCalls(StartBuildCommand).map((call) => call.args[0].input);
}

function overridesOf(input: StartBuildCommandInput): Record<string, { value?: string; type?: string }> {
  return Object.fromEntries(
    (input.environmentVariablesOverride ?? []).map((v) => [v.name, { value: v.value, type: v.type }]),
  );
}

function jobKeysOf(input: StartBuildCommandInput): string[] {
  return JSON.parse(overridesOf(input).JOB_KEYS?.value ?? '[]') as string[];
}

describe('dispatchBatch', () => {
  it('starts ONE build for a batch of several tags, with the jobs and the lease owner as plain-text overrides', async () => {
    const d = await dispatcher();
    const { failed, output } = await d.run(
      sqsEvent(sqsRecord(request('v1')), sqsRecord(request('v2')), sqsRecord(request('latest'))),
      'dispatch-abc',
    );
    expect(failed).toEqual([]);

    const inputs = startBuildInputs();
    expect(inputs).toHaveLength(1);
    const input = inputs[0]!;
    expect(input.projectName).toBe(WORKER_PROJECT);
    expect(input.idempotencyToken).toBe('dispatch-abc');
    expect(overridesOf(input)).toEqual({
      JOB_KEYS: { value: JSON.stringify([keyOf('v1'), keyOf('v2'), keyOf('latest')]), type: 'PLAINTEXT' },
      LEASE_OWNER: { value: 'dispatch-abc', type: 'PLAINTEXT' },
    });
    for (const tag of ['v1', 'v2', 'latest']) {
      expect(await d.store.get(keyOf(tag))).toMatchObject({
        status: 'IN_PROGRESS',
        leaseOwner: 'dispatch-abc',
        dirty: false,
      });
    }
    expect(metricLines(output, 'BuildsStarted')[0]).toMatchObject({
      BuildsStarted: 1,
      JobsDispatched: 3,
      service: 'dispatcher',
    });
  });

  it('coalesces several requests for one tag into one job holding the newest request', async () => {
    const d = await dispatcher();
    const first = request('v1');
    const second = request('v1', { digest: DIGEST_B });
    const { failed } = await d.run(sqsEvent(sqsRecord(first), sqsRecord(second), sqsRecord(first)));
    expect(failed).toEqual([]);
    expect(startBuildInputs().map(jobKeysOf)).toEqual([[keyOf('v1')]]);
    expect(await d.store.get(keyOf('v1'))).toMatchObject({
      lastEventId: second.eventId,
      desiredDigest: DIGEST_B,
      dirty: false,
    });
  });

  it('does nothing twice for a redelivered batch: no second build, no dirty flag', async () => {
    const d = await dispatcher();
    const batch = sqsEvent(sqsRecord(request('v1')), sqsRecord(request('v2')));
    await d.run(batch);
    const before = await d.store.list();
    const again = await d.run(batch);
    expect(again.failed).toEqual([]);
    expect(startBuildInputs()).toHaveLength(1);
    expect(await d.store.list()).toEqual(before);
  });

  it('treats a redelivery after a finished run as covered, but starts a run for a newer request', async () => {
    const d = await dispatcher();
    const r = request('v1');
    await d.run(sqsEvent(sqsRecord(r)), 'dispatch-1');
    await d.store.finish(
      keyOf('v1'),
      'dispatch-1',
      { status: 'COMPLETE', bytesCopied: 1, durationSeconds: 1 },
      d.clock.now(),
    );
    // The run that finished started after the request was recorded: a redelivery is covered.
    await d.run(sqsEvent(sqsRecord(r)), 'dispatch-2');
    expect(startBuildInputs()).toHaveLength(1);
    // A newer request is not.
    await d.run(sqsEvent(sqsRecord(request('v1'))), 'dispatch-3');
    expect(startBuildInputs()).toHaveLength(2);
    expect((await d.store.get(keyOf('v1')))?.leaseOwner).toBe('dispatch-3');
  });

  it('does not treat a stale event of the same second as covered: it may be a later push than the run read', async () => {
    const d = await dispatcher();
    const first = request('v1', { eventId: 'event-zzzz' });
    // Pushed after the run read the source, in the same second, with a smaller (random) id: "older" by the record's
    // order.
    const later = request('v1', { eventId: 'event-aaaa', eventTime: first.eventTime, digest: DIGEST_B });
    await d.run(sqsEvent(sqsRecord(first)), 'dispatch-1');
    await d.store.finish(
      keyOf('v1'),
      'dispatch-1',
      { status: 'COMPLETE', bytesCopied: 1, durationSeconds: 1 },
      d.clock.now(),
    );
    await d.run(sqsEvent(sqsRecord(later)), 'dispatch-2');
    expect(startBuildInputs()).toHaveLength(2);
    expect(await d.store.get(keyOf('v1'))).toMatchObject({ leaseOwner: 'dispatch-2', lastEventId: 'event-zzzz' });
    // While a run holds the lease, such an event marks the job dirty instead (the run reconciles once more).
    await d.run(sqsEvent(sqsRecord({ ...later, eventId: 'event-aaab' })), 'dispatch-3');
    expect(startBuildInputs()).toHaveLength(2);
    expect(await d.store.get(keyOf('v1'))).toMatchObject({ leaseOwner: 'dispatch-2', dirty: true });
  });

  it('leaves a job held by another run to that run, marking it dirty; the message succeeds', async () => {
    const d = await dispatcher();
    await d.run(sqsEvent(sqsRecord(request('v1'))), 'dispatch-1');
    const { failed, output } = await d.run(sqsEvent(sqsRecord(request('v1'))), 'dispatch-2');
    expect(failed).toEqual([]);
    expect(startBuildInputs()).toHaveLength(1);
    expect(await d.store.get(keyOf('v1'))).toMatchObject({ leaseOwner: 'dispatch-1', dirty: true });
    expect(metricLines(output, 'JobsMarkedDirty')).toHaveLength(1);
  });

  it('lets exactly one of two racing dispatchers start a build for a tag; the other marks it dirty', async () => {
    const d = await dispatcher();
    const [a, b] = [request('v1'), request('v1', { digest: DIGEST_B })];
    const { result: failures } = await captureOutput(() =>
      Promise.all([d.dispatch(sqsEvent(sqsRecord(a)), 'dispatch-a'), d.dispatch(sqsEvent(sqsRecord(b)), 'dispatch-b')]),
    );
    expect(failures).toEqual([[], []]);

    const builds = startBuildInputs();
    expect(builds).toHaveLength(1);
    const record = await d.store.get(keyOf('v1'));
    expect(record?.leaseOwner).toBe(overridesOf(builds[0]!).LEASE_OWNER?.value);
    expect(record?.lastEventId).toBe(b.eventId);
  });

  it.each([2, 3, 4])('never starts two builds for one tag among %i racing dispatchers', async (n) => {
    const d = await dispatcher();
    const requests = Array.from({ length: n }, () => request('race'));
    const { result: failures } = await captureOutput(() =>
      Promise.all(requests.map((r, i) => d.dispatch(sqsEvent(sqsRecord(r)), `dispatch-${i}`))),
    );
    expect(failures?.flat()).toEqual([]);
    expect(startBuildInputs()).toHaveLength(1);
    expect(await d.store.get(keyOf('race'))).toMatchObject({
      status: 'IN_PROGRESS',
      lastEventId: requests[n - 1]!.eventId,
    });
  });

  it('defers the work when CodeBuild refuses for capacity: leases released, one delayed request per job, no message failed', async () => {
    const d = await dispatcher();
    await d.run(sqsEvent(sqsRecord(request('held'))), 'dispatch-other');
    codebuildMock
      .on(StartBuildCommand)
      .rejects(
        Object.assign(new Error('Cannot have more than 3 active builds'), { name: 'AccountLimitExceededException' }),
      );

    const v1a = sqsRecord(request('v1'));
    const held = sqsRecord(request('held'));
    const v1b = sqsRecord(request('v1'));
    const v2 = sqsRecord(request('v2'));
    const { failed, output } = await d.run(sqsEvent(v1a, held, v1b, v2), 'dispatch-failing');

    // No receive used up: every message is deleted, the work comes back through the retry queue.
    expect(failed).toEqual([]);
    for (const tag of ['v1', 'v2']) {
      const record = await d.store.get(keyOf(tag));
      expect(record).toMatchObject({ status: 'PENDING', attempts: 0 });
      expect(record?.leaseOwner).toBeUndefined();
    }
    expect(await d.store.get(keyOf('held'))).toMatchObject({ leaseOwner: 'dispatch-other', dirty: true });
    const deferred = sqsMock.commandCalls(SendMessageCommand).map((call) => call.args[0].input);
    expect(deferred.map((m) => [m.QueueUrl, m.MessageBody])).toEqual([
      [RETRY_QUEUE_URL, v1a.body],
      [RETRY_QUEUE_URL, v2.body],
    ]);
    for (const message of deferred) {
      expect(message.DelaySeconds).toBeGreaterThanOrEqual(5);
      expect(message.DelaySeconds).toBeLessThanOrEqual(10);
      expect(message.MessageAttributes).toEqual({ deferrals: { DataType: 'Number', StringValue: '1' } });
    }
    expect(jsonLines(output)).toContainEqual(
      expect.objectContaining({
        level: 'WARN',
        message: 'could not start a worker build; releasing its leases',
        deferral: 'capacity',
        reason: expect.stringContaining('AccountLimitExceededException'),
      }),
    );
    expect(metricLines(output, 'BuildStartsRefused')[0]).toMatchObject({ BuildStartsRefused: 1 });

    // Refused again: the delay grows with the deferrals the message carries.
    sqsMock.resetHistory();
    const again = sqsRecord(request('v1'), { attributes: { deferrals: '6' } });
    expect((await d.run(sqsEvent(again), 'dispatch-again')).failed).toEqual([]);
    const second = sqsMock.commandCalls(SendMessageCommand)[0]!.args[0].input;
    expect(second.DelaySeconds).toBeGreaterThanOrEqual(150);
    expect(second.DelaySeconds).toBeLessThanOrEqual(300);
    expect(second.MessageAttributes?.deferrals?.StringValue).toBe('7');

    // The deferred request, with CodeBuild back, starts the build.
    codebuildMock.on(StartBuildCommand).resolves({ build: { id: 'b-ok' } });
    const retried = await d.run(sqsEvent(v1a, v2), 'dispatch-retry');
    expect(retried.failed).toEqual([]);
    expect(jobKeysOf(startBuildInputs().at(-1)!)).toEqual([keyOf('v1'), keyOf('v2')]);
  });

  it('fails the messages when the deferral cannot be sent either (they come back at the visibility timeout)', async () => {
    const d = await dispatcher();
    codebuildMock
      .on(StartBuildCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    sqsMock.on(SendMessageCommand).rejects(Object.assign(new Error('down'), { name: 'InternalError' }));
    const v1 = sqsRecord(request('v1'));
    const { failed } = await d.run(sqsEvent(v1), 'dispatch-x');
    expect(failed).toEqual([v1.messageId]);
    expect((await d.store.get(keyOf('v1')))?.leaseOwner).toBeUndefined();
  });

  it('defers a request whose DynamoDB calls are throttled, instead of failing it', async () => {
    const d = await dispatcher();
    const throttled = Object.assign(new Error('Rate of requests exceeds the allowed throughput'), {
      name: 'ProvisionedThroughputExceededException',
    });
    const spy = jest.spyOn(d.store, 'recordRequest').mockRejectedValueOnce(throttled);
    const v1 = sqsRecord(request('v1'));
    const v2 = sqsRecord(request('v2'));
    const { failed, output } = await d.run(sqsEvent(v1, v2));
    spy.mockRestore();
    expect(failed).toEqual([]);
    expect(sqsMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input.MessageBody)).toEqual([v1.body]);
    expect(jobKeysOf(startBuildInputs()[0]!)).toEqual([keyOf('v2')]);
    expect(metricLines(output, 'RequestsDeferredForCapacity')[0]).toMatchObject({ RequestsDeferredForCapacity: 1 });
  });

  it('fails a request once its transient deferrals are used up (its receives and the DLQ take over)', async () => {
    const d = await dispatcher();
    const spy = jest
      .spyOn(d.store, 'recordRequest')
      .mockRejectedValue(new ReplicationError(ErrorCode.AwsService, 'DynamoDB: InternalServerError'));
    const young = sqsRecord(request('v1'), { attributes: { deferrals: '1' } });
    const old = sqsRecord(request('v2'), { attributes: { deferrals: '10' } });
    const { failed } = await d.run(sqsEvent(young, old));
    spy.mockRestore();
    expect(failed).toEqual([old.messageId]);
    expect(sqsMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input.MessageBody)).toEqual([young.body]);
  });

  /** An invocation's time in the tests that hang a call: a busy machine still runs the deferrals in its last 15%. */
  const INVOCATION_MS = 8_000;

  /** Runs a batch with an invocation that has `remainingMs()` left (real time unless the test moves it). */
  async function runTimed(event: SQSEvent, store: JobStore, remainingMs: () => number) {
    const { logger, metrics } = quietObservability();
    const started = Date.now();
    const { result } = await captureOutput(() =>
      dispatchBatch(event, {
        store,
        codebuild: new CodeBuildClient({ region: 'us-west-2' }),
        sqs: new SQSClient({ region: 'us-west-2' }),
        retryQueueUrl: RETRY_QUEUE_URL,
        workerProjectName: WORKER_PROJECT,
        leaseMs: LEASE_MS,
        logger,
        metrics,
        remainingMs,
      }),
    );
    return { failures: result?.batchItemFailures, ms: Date.now() - started };
  }

  it('defers the records left when the invocation runs out of time, instead of timing out with the batch', async () => {
    const d = await dispatcher();
    let left = 3_000;
    const record = d.store.recordRequest.bind(d.store);
    jest.spyOn(d.store, 'recordRequest').mockImplementation(async (...args) => {
      const recorded = await record(...args);
      left = 1_000; // the first record took two seconds: less than half is left
      return recorded;
    });
    const v1 = sqsRecord(request('v1'));
    const v2 = sqsRecord(request('v2'));
    const { failures } = await runTimed(sqsEvent(v1, v2), d.store, () => left);
    expect(failures).toEqual([]);
    expect(jobKeysOf(startBuildInputs()[0]!)).toEqual([keyOf('v1')]);
    expect(sqsMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input.MessageBody)).toEqual([v2.body]);
    expect(await d.store.get(keyOf('v2'))).toBeUndefined();
  });

  it('abandons and defers a record whose DynamoDB call hangs, and returns before the timeout', async () => {
    const d = await dispatcher();
    jest.spyOn(d.store, 'recordRequest').mockReturnValue(new Promise(() => undefined));
    const v1 = sqsRecord(request('v1'));
    const deadline = Date.now() + INVOCATION_MS;
    const { failures, ms } = await runTimed(sqsEvent(v1), d.store, () => deadline - Date.now());
    expect(failures).toEqual([]);
    expect(ms).toBeLessThan(INVOCATION_MS);
    expect(sqsMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input.MessageBody)).toEqual([v1.body]);
    expect(startBuildInputs()).toEqual([]);
  });

  it('gives up a StartBuild that does not answer in time: leases released, requests deferred, nothing failed', async () => {
    const d = await dispatcher();
    codebuildMock.on(StartBuildCommand).callsFake(() => new Promise(() => undefined));
    const v1 = sqsRecord(request('v1'));
    const deadline = Date.now() + INVOCATION_MS;
    const { failures, ms } = await runTimed(sqsEvent(v1), d.store, () => deadline - Date.now());
    expect(failures).toEqual([]);
    expect(ms).toBeLessThan(INVOCATION_MS);
    expect(sqsMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input.MessageBody)).toEqual([v1.body]);
    const job = await d.store.get(keyOf('v1'));
    expect(job?.leaseOwner).toBeUndefined();
  });

  it('takes over a lease no build holds: StartBuild and the lease release both failed, the redelivery starts a build', async () => {
    const d = await dispatcher();
    codebuildMock.on(StartBuildCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
    const release = jest
      .spyOn(d.store, 'releaseLease')
      .mockRejectedValue(new ReplicationError(ErrorCode.AwsService, 'DynamoDB: ThrottlingException'));
    const v1 = sqsRecord(request('v1'));
    await d.run(sqsEvent(v1), 'dispatch-lost');
    release.mockRestore();
    const stranded = await d.store.get(keyOf('v1'));
    expect(stranded).toMatchObject({ status: 'IN_PROGRESS', leaseOwner: 'dispatch-lost' });
    expect(stranded?.leaseBuildId).toBeUndefined();
    // The same request comes back (the deferral): a lease without a build covers nothing.
    expect(isCoveredByRun(stranded!, d.clock.now(), JSON.parse(v1.body))).toBe(false);

    codebuildMock.on(StartBuildCommand).resolves({ build: { id: `${WORKER_PROJECT}:b-taken` } });
    expect((await d.run(sqsEvent(v1), 'dispatch-taker')).failed).toEqual([]);
    expect(jobKeysOf(startBuildInputs().at(-1)!)).toEqual([keyOf('v1')]);
    const taken = await d.store.get(keyOf('v1'));
    expect(taken).toMatchObject({
      leaseOwner: 'dispatch-taker',
      leaseBuildId: `${WORKER_PROJECT}:b-taken`,
      leaseEpoch: (stranded?.leaseEpoch ?? 0) + 1,
    });
    // Now a started build holds it: the next redelivery is covered and marks nothing.
    expect(isCoveredByRun(taken!, d.clock.now(), JSON.parse(v1.body))).toBe(true);
  });

  it('fails a malformed message alone, logging why; the other messages go on', async () => {
    const d = await dispatcher();
    const bad = sqsRecord('{"version":1,"eventId":"x","tag":"NOT VALID"}', { groupId: 'group-bad' });
    const notJson = sqsRecord('not json at all', { groupId: 'group-worse' });
    const good = sqsRecord(request('v1'));
    const { failed, output } = await d.run(sqsEvent(bad, good, notJson));
    expect(failed).toEqual([bad.messageId, notJson.messageId]);
    expect(startBuildInputs().map(jobKeysOf)).toEqual([[keyOf('v1')]]);
    const errors = jsonLines(output).filter((line) => line.message === 'could not handle a request message');
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({
      messageId: bad.messageId,
      code: 'INVALID_INPUT',
      reason: expect.stringContaining('invalid replication request'),
    });
    expect(errors[1]).toMatchObject({
      messageId: notJson.messageId,
      reason: expect.stringContaining('is not valid JSON'),
    });
  });

  it('fails the rest of a group after a failed message, and nothing of the other groups', async () => {
    const d = await dispatcher();
    const a1 = sqsRecord(request('a'));
    const aBad = sqsRecord('{}', { groupId: a1.attributes.MessageGroupId });
    const b1 = sqsRecord(request('b'));
    const a2 = sqsRecord(request('a', { digest: DIGEST_B }));
    const b2 = sqsRecord(request('b'));
    const { failed } = await d.run(sqsEvent(a1, aBad, b1, a2, b2));

    expect(failed).toEqual([aBad.messageId, a2.messageId]);
    // a2 was not processed: the job holds a1's request, and both jobs are in the build.
    expect((await d.store.get(keyOf('a')))?.lastEventId).toBe(JSON.parse(a1.body).eventId);
    expect((await d.store.get(keyOf('b')))?.lastEventId).toBe(JSON.parse(b2.body).eventId);
    expect(startBuildInputs().map(jobKeysOf)).toEqual([[keyOf('a'), keyOf('b')]]);
  });

  it('keeps the FIFO rule when StartBuild fails after a group already had a failure', async () => {
    const d = await dispatcher();
    codebuildMock
      .on(StartBuildCommand)
      .rejects(Object.assign(new Error('no such project'), { name: 'ResourceNotFoundException' }));
    const a1 = sqsRecord(request('a'));
    const aBad = sqsRecord('{}', { groupId: a1.attributes.MessageGroupId });
    const a2 = sqsRecord(request('a'));
    const { failed } = await d.run(sqsEvent(a1, aBad, a2));
    expect(failed).toEqual([a1.messageId, aBad.messageId, a2.messageId]);
    expect((await d.store.get(keyOf('a')))?.leaseOwner).toBeUndefined();
  });

  it('reports every message when the whole batch fails, without throwing', async () => {
    const d = await dispatcher();
    const records = [sqsRecord('x', { groupId: 'g1' }), sqsRecord('y', { groupId: 'g2' })];
    const { failed } = await d.run(sqsEvent(...records));
    expect(failed).toEqual(records.map((r) => r.messageId));
    expect(startBuildInputs()).toHaveLength(0);
  });

  it('starts no build when every job is covered or held', async () => {
    const d = await dispatcher();
    await d.run(sqsEvent(sqsRecord(request('v1'))), 'dispatch-1');
    codebuildMock.resetHistory();
    await d.run(sqsEvent(sqsRecord(request('v1'))), 'dispatch-2');
    expect(startBuildInputs()).toHaveLength(0);
  });
});

describe('fifoBatchItemFailures', () => {
  it('fails the later records of a failed group only, in batch order', () => {
    const records = [
      sqsRecord('1', { groupId: 'a', messageId: 'a1' }),
      sqsRecord('2', { groupId: 'b', messageId: 'b1' }),
      sqsRecord('3', { groupId: 'a', messageId: 'a2' }),
      sqsRecord('4', { groupId: 'b', messageId: 'b2' }),
      sqsRecord('5', { groupId: 'a', messageId: 'a3' }),
      sqsRecord('6', { groupId: 'c', messageId: 'c1' }),
    ];
    expect(fifoBatchItemFailures(records, new Set(['a2', 'b2'])).map((f) => f.itemIdentifier)).toEqual([
      'a2',
      'b2',
      'a3',
    ]);
    expect(fifoBatchItemFailures(records, new Set())).toEqual([]);
  });
});

describe('isCoveredByRun', () => {
  const base = {
    jobKey: 'k:t',
    sourceAccountId: '123456789012',
    sourceRegion: 'us-west-2',
    sourceRepository: 'r',
    destinationRepository: 'r',
    action: 'PUSH' as const,
    desiredDigest: DIGEST_B,
    lastEventId: 'e',
    lastEventTime: '2026-11-16T01:00:00.000Z',
    dirty: false,
    attempts: 0,
    requestedAt: T0,
    updatedAt: T0,
  };

  it.each([
    ['never started', false, { status: 'PENDING' as const }],
    ['started before the newest request', false, { status: 'COMPLETE' as const, startedAt: T0 - 1 }],
    ['completed a run started after it', true, { status: 'COMPLETE' as const, startedAt: T0 }],
    ['given up after a run started after it', true, { status: 'FAILED' as const, startedAt: T0 + 5 }],
    [
      'running in a started build, lease alive',
      true,
      {
        status: 'IN_PROGRESS' as const,
        startedAt: T0 + 1,
        leaseOwner: 'w',
        leaseExpiresAt: T0 + 100,
        leaseBuildId: 'project:b1',
      },
    ],
    [
      'leased, lease alive, but no build started (StartBuild failed or has not answered)',
      false,
      { status: 'IN_PROGRESS' as const, startedAt: T0 + 1, leaseOwner: 'w', leaseExpiresAt: T0 + 100 },
    ],
    [
      'running, lease expired',
      false,
      {
        status: 'IN_PROGRESS' as const,
        startedAt: T0 + 1,
        leaseOwner: 'w',
        leaseExpiresAt: T0 + 50,
        leaseBuildId: 'project:b1',
      },
    ],
    ['released for a retry', false, { status: 'PENDING' as const, startedAt: T0 + 1 }],
  ])('%s → covered: %s', (_name, expected, fields) => {
    expect(isCoveredByRun({ ...base, ...fields }, T0 + 50)).toBe(expected);
  });

  it.each([
    ['the recorded request (a redelivery)', true, { eventId: 'e', eventTime: '2026-11-16T01:00:00Z' }],
    ['an event of an earlier second', true, { eventId: 'f', eventTime: '2026-11-16T00:59:59Z' }],
    ['another event of the same second', false, { eventId: 'd', eventTime: '2026-11-16T01:00:00Z' }],
    [
      'a sync request stamped by a clock ahead',
      false,
      { eventId: 'sync-1', eventTime: '2026-11-16T00:00:00Z', origin: 'sync' as const },
    ],
    [
      'a retry of the recorded request',
      false,
      { eventId: 'e', eventTime: '2026-11-16T01:00:00Z', origin: 'retry' as const },
    ],
  ])('after a finished run, %s → covered: %s', (_name, expected, request) => {
    expect(isCoveredByRun({ ...base, status: 'COMPLETE', startedAt: T0 }, T0 + 50, request)).toBe(expected);
  });
});
