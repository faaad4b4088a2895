import { CodeBuildClient, StartBuildCommand } from '@aws-sdk/client-codebuild';
import { createLogger, createMetrics } from '@ecr-replicate/common/observability';
import { JobStore, createJobTable } from '@ecr-replicate/common/state';
import { startLocalDynamoDb, type LocalDynamoDb } from '@ecr-replicate/testing';
import { mockClient } from 'aws-sdk-client-mock';
import { handOverToBuild } from '../../src';

const codebuildMock = mockClient(CodeBuildClient);
const LEASE_MS = 60_000;
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);
let dynamo: LocalDynamoDb;
let tables = 0;

beforeAll(async () => {
  dynamo = await startLocalDynamoDb();
});

afterAll(async () => {
  await dynamo.stop();
});

beforeEach(() => codebuildMock.reset());

/** A table with `keys` leased to `owner` (epoch 1), held by invocation `lambda:r1`. */
async function leased(owner: string, keys: string[]): Promise<JobStore> {
  tables += 1;
  const store = new JobStore(dynamo.documentClient, `hand-over-${tables}`);
  await createJobTable(dynamo.client, store.tableName);
  for (const tag of keys) {
    await store.recordRequest(
      {
        version: 1,
        eventId: `event-${tag}`,
        eventTime: '2026-11-30T11:59:00Z',
        action: 'PUSH',
        source: { accountId: '123456789012', region: 'us-east-1', repository: 'apps/big' },
        destination: { repository: 'apps/big' },
        tag,
        digest: `sha256:${'a'.repeat(64)}`,
      },
      T0,
    );
    await store.acquireLease(`apps/big:${tag}`, owner, LEASE_MS, T0);
    await store.renewLease(`apps/big:${tag}`, owner, LEASE_MS, T0 + 1, { buildId: 'lambda:r1' });
  }
  return store;
}

function deps(store: JobStore) {
  const logger = createLogger('copy-lambda');
  return {
    store,
    codebuild: new CodeBuildClient({ region: 'us-east-1' }),
    workerProjectName: 'worker',
    leaseOwner: 'dispatch-1',
    leaseMs: LEASE_MS,
    logger,
    metrics: createMetrics('copy-lambda', logger),
    now: () => T0 + 10,
  };
}

describe('handOverToBuild', () => {
  it('moves each lease to its next epoch, starts one build with the same owner and records it on each lease', async () => {
    const store = await leased('dispatch-1', ['v1', 'v2']);
    codebuildMock.on(StartBuildCommand).resolves({ build: { id: 'worker:b1' } });
    const result = await handOverToBuild(
      ['apps/big:v2', 'apps/big:v1'],
      { 'apps/big:v1': 1, 'apps/big:v2': 1 },
      deps(store),
    );
    expect(result).toEqual({ buildId: 'worker:b1', handedOver: ['apps/big:v1', 'apps/big:v2'], lost: [] });
    const [call] = codebuildMock.commandCalls(StartBuildCommand);
    expect(call!.args[0].input).toMatchObject({
      projectName: 'worker',
      environmentVariablesOverride: [
        { name: 'JOB_KEYS', value: JSON.stringify(['apps/big:v1', 'apps/big:v2']), type: 'PLAINTEXT' },
        { name: 'LEASE_OWNER', value: 'dispatch-1', type: 'PLAINTEXT' },
      ],
    });
    // Its own idempotency token: not the owner's (the dispatcher's StartBuild, had there been one, used that).
    expect(call!.args[0].input.idempotencyToken).toMatch(/^handoff-[0-9a-f]{40}$/);
    for (const key of ['apps/big:v1', 'apps/big:v2'])
      expect(await store.get(key)).toMatchObject({
        status: 'IN_PROGRESS',
        leaseOwner: 'dispatch-1',
        leaseEpoch: 2,
        leaseBuildId: 'worker:b1',
      });
  });

  it('hands over nothing of a lease another run took, and throws (leases kept, no build recorded) when StartBuild fails', async () => {
    const store = await leased('dispatch-1', ['v1', 'v2']);
    await store.releaseLease('apps/big:v2', 'dispatch-1', T0 + 5);
    await store.acquireLease('apps/big:v2', 'dispatch-2', LEASE_MS, T0 + 6);
    codebuildMock
      .on(StartBuildCommand)
      .rejects(
        Object.assign(new Error('Cannot have more than 15 builds in queue'), { name: 'AccountLimitExceededException' }),
      );
    await expect(
      handOverToBuild(['apps/big:v1', 'apps/big:v2'], { 'apps/big:v1': 1, 'apps/big:v2': 1 }, deps(store)),
    ).rejects.toMatchObject({ code: 'AWS_SERVICE' });
    expect(codebuildMock.commandCalls(StartBuildCommand)[0]!.args[0].input.environmentVariablesOverride?.[0]).toEqual({
      name: 'JOB_KEYS',
      value: JSON.stringify(['apps/big:v1']),
      type: 'PLAINTEXT',
    });
    // v1: still the owner's, next epoch, no build (a new request may take it; Lambda's retry takes it by owner).
    const v1 = await store.get('apps/big:v1');
    expect(v1).toMatchObject({ leaseOwner: 'dispatch-1', leaseEpoch: 2 });
    expect(v1?.leaseBuildId).toBeUndefined();
    // v2: the other run's, untouched.
    expect(await store.get('apps/big:v2')).toMatchObject({ leaseOwner: 'dispatch-2', leaseEpoch: 2 });
  });
});
