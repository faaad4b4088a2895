import { CodeBuildClient, StartBuildCommand } from '@aws-sdk/client-codebuild';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { parseCopyInvocation } from '@ecr-replicate/common';
import { JobStore } from '@ecr-replicate/common/state';
import { mockClient } from 'aws-sdk-client-mock';
import { dispatchBatch } from '../../src/dispatch';
import {
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
import { startLocalDynamoDb, type LocalDynamoDb } from '@ecr-replicate/testing';

/** The dispatcher hands leased jobs to the copy Lambda first; CodeBuild when the Lambda cannot be invoked. */

const codebuildMock = mockClient(CodeBuildClient);
const lambdaMock = mockClient(LambdaClient);
const sqsMock = mockClient(SQSClient);
const COPY_FUNCTION = 'ecr-partition-replicate-dev-copy';
let dynamo: LocalDynamoDb;

beforeAll(async () => {
  dynamo = await startLocalDynamoDb();
});

afterAll(async () => {
  await dynamo.stop();
});

beforeEach(() => {
  sqsMock.reset();
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'deferred' });
  codebuildMock.reset();
  codebuildMock.on(StartBuildCommand).resolves({ build: { id: `${WORKER_PROJECT}:build-1` } });
  lambdaMock.reset();
  lambdaMock.on(InvokeCommand).resolves({ StatusCode: 202, $metadata: { requestId: 'request-1' } });
});

async function dispatch(tags: string[], owner: string): Promise<{ store: JobStore; failed: string[] }> {
  const store = new JobStore(dynamo.documentClient, await freshTable(dynamo));
  const { logger, metrics } = quietObservability();
  const response = await dispatchBatch(sqsEvent(...tags.map((tag) => sqsRecord(request(tag)))), {
    store,
    codebuild: new CodeBuildClient({ region: 'us-west-2' }),
    sqs: new SQSClient({ region: 'us-west-2' }),
    copyLambda: { client: new LambdaClient({ region: 'us-west-2' }), functionName: COPY_FUNCTION },
    retryQueueUrl: RETRY_QUEUE_URL,
    workerProjectName: WORKER_PROJECT,
    leaseMs: 900_000,
    logger,
    metrics,
    clock: steppingClock().now,
    newLeaseOwner: () => owner,
  });
  return { store, failed: response.batchItemFailures.map((f) => f.itemIdentifier) };
}

describe('the copy Lambda path', () => {
  it('invokes the copy Lambda once per batch, asynchronously, with the jobs and their lease owner; no build', async () => {
    const { store, failed } = await dispatch(['v1', 'v2'], 'dispatch-abc');
    expect(failed).toEqual([]);
    expect(codebuildMock.commandCalls(StartBuildCommand)).toHaveLength(0);
    const calls = lambdaMock.commandCalls(InvokeCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input).toMatchObject({ FunctionName: COPY_FUNCTION, InvocationType: 'Event' });
    const payload = parseCopyInvocation(JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8')));
    expect(payload).toEqual({ version: 1, jobKeys: [keyOf('v1'), keyOf('v2')], leaseOwner: 'dispatch-abc' });
    // The lease records the invocation: it covers requests as a started build does.
    for (const tag of ['v1', 'v2'])
      expect(await store.get(keyOf(tag))).toMatchObject({
        status: 'IN_PROGRESS',
        leaseOwner: 'dispatch-abc',
        leaseBuildId: 'lambda:request-1',
      });
  });

  it('starts a worker build for the same leases when Lambda refuses the invocation', async () => {
    lambdaMock
      .on(InvokeCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));
    const { store, failed } = await dispatch(['v1'], 'dispatch-def');
    expect(failed).toEqual([]);
    const builds = codebuildMock.commandCalls(StartBuildCommand);
    expect(builds).toHaveLength(1);
    expect(builds[0]!.args[0].input.environmentVariablesOverride).toEqual([
      { name: 'JOB_KEYS', value: JSON.stringify([keyOf('v1')]), type: 'PLAINTEXT' },
      { name: 'LEASE_OWNER', value: 'dispatch-def', type: 'PLAINTEXT' },
    ]);
    expect(await store.get(keyOf('v1'))).toMatchObject({
      leaseOwner: 'dispatch-def',
      leaseBuildId: `${WORKER_PROJECT}:build-1`,
    });
  });
});
