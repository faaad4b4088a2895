import { CodeBuildClient, StartBuildCommand, type StartBuildCommandInput } from '@aws-sdk/client-codebuild';
import { JobStore } from '@ecr-replicate/common/state';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { dispatchBatch, isCoveredByRun } from '../../src/dispatch';
import { fifoBatchItemFailures } from '../../src/fifo-order';
import {
  DIGEST_B,
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
let dynamo: LocalDynamoDb;

beforeAll(async () => {
  dynamo = await startLocalDynamoDb();
});

afterAll(async () => {
  await dynamo.stop();
});

let buildCounter = 0;
beforeEach(() => {
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

  it('releases the leases and fails the messages of those jobs when StartBuild fails; held jobs still succeed', async () => {
    const d = await dispatcher();
    await d.run(sqsEvent(sqsRecord(request('held'))), 'dispatch-other');
    codebuildMock
      .on(StartBuildCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'AccountLimitExceededException' }));

    const v1a = sqsRecord(request('v1'));
    const held = sqsRecord(request('held'));
    const v1b = sqsRecord(request('v1'));
    const v2 = sqsRecord(request('v2'));
    const { failed, output } = await d.run(sqsEvent(v1a, held, v1b, v2), 'dispatch-failing');

    expect(failed.sort()).toEqual([v1a.messageId, v1b.messageId, v2.messageId].sort());
    for (const tag of ['v1', 'v2']) {
      const record = await d.store.get(keyOf(tag));
      expect(record).toMatchObject({ status: 'PENDING', attempts: 0 });
      expect(record?.leaseOwner).toBeUndefined();
    }
    expect(await d.store.get(keyOf('held'))).toMatchObject({ leaseOwner: 'dispatch-other', dirty: true });
    expect(jsonLines(output)).toContainEqual(
      expect.objectContaining({
        level: 'ERROR',
        message: 'could not start a worker build; releasing its leases',
        reason: expect.stringContaining('AccountLimitExceededException'),
      }),
    );

    // The redelivery, with CodeBuild back, starts the build.
    codebuildMock.on(StartBuildCommand).resolves({ build: { id: 'b-ok' } });
    const retried = await d.run(sqsEvent(v1a, v1b, v2), 'dispatch-retry');
    expect(retried.failed).toEqual([]);
    expect(jobKeysOf(startBuildInputs().at(-1)!)).toEqual([keyOf('v1'), keyOf('v2')]);
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
    codebuildMock.on(StartBuildCommand).rejects(new Error('boom'));
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
      'running, lease alive',
      true,
      { status: 'IN_PROGRESS' as const, startedAt: T0 + 1, leaseOwner: 'w', leaseExpiresAt: T0 + 100 },
    ],
    [
      'running, lease expired',
      false,
      { status: 'IN_PROGRESS' as const, startedAt: T0 + 1, leaseOwner: 'w', leaseExpiresAt: T0 + 50 },
    ],
    ['released for a retry', false, { status: 'PENDING' as const, startedAt: T0 + 1 }],
  ])('%s → covered: %s', (_name, expected, fields) => {
    expect(isCoveredByRun({ ...base, ...fields }, T0 + 50)).toBe(expected);
  });

  it.each([
    ['the recorded request (a redelivery)', true, { eventId: 'e', eventTime: '2026-11-16T01:00:00Z' }],
    ['an event of an earlier second', true, { eventId: 'f', eventTime: '2026-11-16T00:59:59Z' }],
    ['another event of the same second', false, { eventId: 'd', eventTime: '2026-11-16T01:00:00Z' }],
  ])('after a finished run, %s → covered: %s', (_name, expected, request) => {
    expect(isCoveredByRun({ ...base, status: 'COMPLETE', startedAt: T0 }, T0 + 50, request)).toBe(expected);
  });
});
