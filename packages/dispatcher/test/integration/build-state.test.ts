import { CodeBuildClient, StartBuildCommand } from '@aws-sdk/client-codebuild';
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { ValidationError, parseReplicationRequestJson } from '@ecr-replicate/common';
import { JobStore } from '@ecr-replicate/common/state';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { handleBuildStateChange, type BuildStateResult } from '../../src/build-state';
import { dispatchBatch } from '../../src/dispatch';
import { forwardJobRetries } from '../../src/job-retry-forward';
import {
  REQUEST_QUEUE_URL,
  RETRY_QUEUE_URL,
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
const sqsMock = mockClient(SQSClient);
const codebuildMock = mockClient(CodeBuildClient);
let dynamo: LocalDynamoDb;

beforeAll(async () => {
  dynamo = await startLocalDynamoDb();
});

afterAll(async () => {
  await dynamo.stop();
});

beforeEach(() => {
  sqsMock.reset();
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'sent' });
  codebuildMock.reset();
  codebuildMock.on(StartBuildCommand).resolves({ build: { id: 'b-next' } });
});

/** A "CodeBuild Build State Change" event of the worker project, as EventBridge delivers it. */
function buildEvent(
  status: string,
  jobKeys: string[] | undefined,
  leaseOwner: string | undefined,
  project = WORKER_PROJECT,
) {
  const variables = [
    { name: 'DEST_SECRET_ID', value: 'ecr-replicate/destination', type: 'PLAINTEXT' },
    ...(jobKeys === undefined ? [] : [{ name: 'JOB_KEYS', value: JSON.stringify(jobKeys), type: 'PLAINTEXT' }]),
    ...(leaseOwner === undefined ? [] : [{ name: 'LEASE_OWNER', value: leaseOwner, type: 'PLAINTEXT' }]),
  ];
  return {
    version: '0',
    id: 'bb2ed6a5-0f9e-4b1f-a8c7-0f2d1f0d7c11',
    'detail-type': 'CodeBuild Build State Change',
    source: 'aws.codebuild',
    account: '123456789012',
    time: '2026-11-16T02:10:00Z',
    region: 'us-west-2',
    resources: [`arn:aws:codebuild:us-west-2:123456789012:build/${project}:7f0a`],
    detail: {
      'build-status': status,
      'project-name': project,
      'build-id': `arn:aws:codebuild:us-west-2:123456789012:build/${project}:7f0a`,
      'current-phase': 'COMPLETED',
      version: '1',
      'additional-information': {
        environment: {
          image: 'aws/codebuild/standard:7.0',
          type: 'LINUX_CONTAINER',
          'environment-variables': variables,
        },
        'build-complete': true,
      },
    },
  };
}

async function setup(maxAttempts = 3) {
  const store = new JobStore(dynamo.documentClient, await freshTable(dynamo));
  const clock = steppingClock();
  const handle = async (event: unknown) => {
    const { logger, metrics } = quietObservability();
    const captured = await captureOutput(async () => {
      try {
        return await handleBuildStateChange(event, {
          store,
          sqs: new SQSClient({ region: 'us-west-2' }),
          retryQueueUrl: RETRY_QUEUE_URL,
          workerProjectName: WORKER_PROJECT,
          maxAttempts,
          logger,
          metrics,
          clock: clock.now,
        });
      } finally {
        metrics.publishStoredMetrics();
      }
    });
    return captured as { result?: BuildStateResult; error?: unknown; output: string };
  };
  /** Records a request for each tag and leases the jobs to `owner`, as a dispatch would. */
  const leased = async (owner: string, ...tags: string[]) => {
    for (const tag of tags) {
      await store.recordRequest(request(tag), clock.now());
      await store.acquireLease(keyOf(tag), owner, LEASE_MS, clock.now());
    }
  };
  return { store, clock, handle, leased };
}

function retryMessages() {
  return sqsMock.commandCalls(SendMessageCommand).map((call) => call.args[0].input);
}

describe('handleBuildStateChange', () => {
  it('re-queues the jobs of a FAILED build through the retry queue with a backoff', async () => {
    const { store, handle, leased } = await setup();
    await leased('dispatch-1', 'v1', 'v2');
    const { result, error } = await handle(buildEvent('FAILED', [keyOf('v1'), keyOf('v2')], 'dispatch-1'));
    expect(error).toBeUndefined();
    expect(result).toEqual({ kind: 'handled', outcomes: { [keyOf('v1')]: 'retry', [keyOf('v2')]: 'retry' } });

    const messages = retryMessages();
    expect(messages).toHaveLength(2);
    for (const message of messages) {
      expect(message.QueueUrl).toBe(RETRY_QUEUE_URL);
      expect(message.DelaySeconds).toBe(30);
      expect(message.MessageAttributes).toEqual({ attempt: { DataType: 'Number', StringValue: '1' } });
      expect(message.MessageGroupId).toBeUndefined();
    }
    const record = await store.get(keyOf('v1'));
    expect(record).toMatchObject({ status: 'PENDING', attempts: 1, lastError: { code: 'WORKER_BUILD_FAILED' } });
    expect(record?.leaseOwner).toBeUndefined();
    // The re-queued request is the job's newest request, rebuilt from its record.
    const requeued = parseReplicationRequestJson(
      messages.find((m) => m.MessageBody?.includes('"v1"'))?.MessageBody ?? '',
    );
    expect(requeued).toMatchObject({
      eventId: record?.lastEventId,
      tag: 'v1',
      destination: { repository: 'mirror/team/app' },
      digest: record?.desiredDigest,
    });
  });

  it.each(['FAULT', 'STOPPED', 'TIMED_OUT'])('retries the jobs of a %s build', async (status) => {
    const { store, handle, leased } = await setup();
    await leased('dispatch-1', 'v1');
    await handle(buildEvent(status, [keyOf('v1')], 'dispatch-1'));
    expect(await store.get(keyOf('v1'))).toMatchObject({
      status: 'PENDING',
      attempts: 1,
      lastError: { code: `WORKER_BUILD_${status}` },
    });
    expect(retryMessages()).toHaveLength(1);
  });

  it('backs off 30 s, then 60 s, then gives up at the maximum: FAILED, an error log and ReplicationsFailed', async () => {
    const { store, handle, clock } = await setup(3);
    await store.recordRequest(request('v1'), clock.now());
    const results: Array<BuildStateResult | undefined> = [];
    let lastOutput = '';
    for (const owner of ['w1', 'w2', 'w3']) {
      await store.acquireLease(keyOf('v1'), owner, LEASE_MS, clock.now());
      const { result, output } = await handle(buildEvent('FAILED', [keyOf('v1')], owner));
      results.push(result);
      lastOutput = output;
    }
    expect(results.map((r) => r?.kind === 'handled' && r.outcomes[keyOf('v1')])).toEqual(['retry', 'retry', 'failed']);
    expect(retryMessages().map((m) => m.DelaySeconds)).toEqual([30, 60]);
    expect(await store.get(keyOf('v1'))).toMatchObject({
      status: 'FAILED',
      attempts: 3,
      expiresAt: expect.any(Number),
    });

    expect(metricLines(lastOutput, 'ReplicationsFailed')[0]).toMatchObject({
      ReplicationsFailed: 1,
      service: 'dispatcher',
    });
    expect(jsonLines(lastOutput)).toContainEqual(
      expect.objectContaining({
        level: 'ERROR',
        message: 'replication failed: gave up the job after its last attempt',
        jobKey: keyOf('v1'),
        attempts: 3,
      }),
    );
  });

  it('does nothing for a SUCCEEDED build', async () => {
    const { store, handle, leased } = await setup();
    await leased('dispatch-1', 'v1');
    const before = await store.get(keyOf('v1'));
    const { result, output } = await handle(buildEvent('SUCCEEDED', [keyOf('v1')], 'dispatch-1'));
    expect(result).toEqual({ kind: 'ignored', reason: 'not-a-dead-build' });
    expect(retryMessages()).toHaveLength(0);
    expect(await store.get(keyOf('v1'))).toEqual(before);
    expect(metricLines(output, 'WorkerBuildStates')[0]).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('leaves alone the jobs the worker finished or another run took over', async () => {
    const { store, handle, leased, clock } = await setup();
    await leased('dispatch-1', 'finished', 'taken', 'unfinished');
    await store.finish(
      keyOf('finished'),
      'dispatch-1',
      { status: 'COMPLETE', bytesCopied: 1, durationSeconds: 1 },
      clock.now(),
    );
    clock.advance(LEASE_MS);
    await store.acquireLease(keyOf('taken'), 'dispatch-2', LEASE_MS, clock.now());
    const before = { finished: await store.get(keyOf('finished')), taken: await store.get(keyOf('taken')) };

    const { result } = await handle(
      buildEvent('TIMED_OUT', [keyOf('finished'), keyOf('taken'), keyOf('unfinished')], 'dispatch-1'),
    );
    expect(result).toEqual({
      kind: 'handled',
      outcomes: { [keyOf('finished')]: 'not-owner', [keyOf('taken')]: 'not-owner', [keyOf('unfinished')]: 'retry' },
    });
    expect(await store.get(keyOf('finished'))).toEqual(before.finished);
    expect(await store.get(keyOf('taken'))).toEqual(before.taken);
    expect(retryMessages()).toHaveLength(1);
  });

  it('is a no-op for a build whose lease owner holds nothing', async () => {
    const { store, handle, leased } = await setup();
    await leased('dispatch-1', 'v1');
    const before = await store.list();
    const { result } = await handle(buildEvent('FAILED', [keyOf('v1')], 'dispatch-someone-else'));
    expect(result).toEqual({ kind: 'handled', outcomes: { [keyOf('v1')]: 'not-owner' } });
    expect(await store.list()).toEqual(before);
    expect(retryMessages()).toHaveLength(0);
  });

  it('ignores builds of other projects and builds without jobs', async () => {
    const { handle } = await setup();
    expect((await handle(buildEvent('FAILED', [keyOf('v1')], 'd', 'another-project'))).result).toEqual({
      kind: 'ignored',
      reason: 'other-project',
    });
    const noJobs = await handle(buildEvent('FAILED', undefined, undefined));
    expect(noJobs.result).toEqual({ kind: 'ignored', reason: 'no-jobs' });
    expect(jsonLines(noJobs.output)).toContainEqual(
      expect.objectContaining({ level: 'WARN', reason: expect.stringContaining('JOB_KEYS: is required') }),
    );
    expect(retryMessages()).toHaveLength(0);
  });

  it('throws for an event that is not a build state change', async () => {
    const { handle } = await setup();
    const { error } = await handle({ 'detail-type': 'ECR Image Action', detail: {} });
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toContain('invalid CodeBuild Build State Change event');
  });

  it('keeps the lease when the retry cannot be queued, so that the event retry succeeds', async () => {
    const { store, handle, leased } = await setup();
    await leased('dispatch-1', 'v1', 'v2');
    sqsMock
      .on(SendMessageCommand)
      .rejectsOnce(Object.assign(new Error('throttled'), { name: 'RequestThrottled' }))
      .resolves({ MessageId: 'ok' });
    const event = buildEvent('FAILED', [keyOf('v1'), keyOf('v2')], 'dispatch-1');

    const first = await handle(event);
    expect((first.error as Error).message).toMatch(
      /could not handle 1 job\(s\) of worker build .*RequestThrottled: throttled/,
    );
    const records = [await store.get(keyOf('v1')), await store.get(keyOf('v2'))];
    expect(records.filter((r) => r?.leaseOwner === 'dispatch-1')).toHaveLength(1);

    const second = await handle(event);
    expect(second.error).toBeUndefined();
    expect(Object.values(second.result?.kind === 'handled' ? second.result.outcomes : {}).sort()).toEqual([
      'not-owner',
      'retry',
    ]);
    expect((await store.list()).map((r) => [r.status, r.attempts])).toEqual([
      ['PENDING', 1],
      ['PENDING', 1],
    ]);
  });
});

describe('a dead build, end to end', () => {
  it('comes back through the retry queue and the request queue to a new build', async () => {
    const { store, handle } = await setup();
    const { logger, metrics } = quietObservability();
    const dispatch = (records: SQSRecord[], owner: string) =>
      captureOutput(() =>
        dispatchBatch(sqsEvent(...records), {
          store,
          codebuild: new CodeBuildClient({ region: 'us-west-2' }),
          sqs: new SQSClient({ region: 'us-west-2' }),
          retryQueueUrl: RETRY_QUEUE_URL,
          workerProjectName: WORKER_PROJECT,
          leaseMs: LEASE_MS,
          logger,
          metrics,
          newLeaseOwner: () => owner,
        }),
      );

    await dispatch([sqsRecord(request('v1'))], 'dispatch-1');
    await handle(buildEvent('FAILED', [keyOf('v1')], 'dispatch-1'));

    // The retry queue delivers the delayed message to the retry handler...
    const retry = retryMessages()[0]!;
    const retryRecord = sqsRecord(retry.MessageBody ?? '');
    delete retryRecord.attributes.MessageGroupId; // a standard queue has no groups
    retryRecord.messageAttributes = {
      attempt: { dataType: 'Number', stringValue: retry.MessageAttributes?.attempt?.StringValue },
    };
    sqsMock.resetHistory();
    const forwarded = await captureOutput(() =>
      forwardJobRetries(sqsEvent(retryRecord), {
        sqs: new SQSClient({ region: 'us-west-2' }),
        requestQueueUrl: REQUEST_QUEUE_URL,
        logger,
        metrics,
      }),
    );
    expect(forwarded.result).toEqual({ batchItemFailures: [] });

    // ...which forwards it into the FIFO queue, whence the dispatcher starts a new build.
    const fifo = retryMessages()[0]!;
    expect(fifo.QueueUrl).toBe(REQUEST_QUEUE_URL);
    expect(fifo.MessageGroupId).toBe(keyOf('v1'));
    const { result } = await dispatch(
      [sqsRecord(fifo.MessageBody ?? '', { groupId: fifo.MessageGroupId ?? '' })],
      'dispatch-2',
    );
    expect(result).toEqual({ batchItemFailures: [] });
    expect(codebuildMock.commandCalls(StartBuildCommand)).toHaveLength(2);
    expect(await store.get(keyOf('v1'))).toMatchObject({
      status: 'IN_PROGRESS',
      leaseOwner: 'dispatch-2',
      attempts: 1,
    });
  });
});
