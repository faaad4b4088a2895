import { createLogger } from '@ecr-replicate/common/observability';
import { JobStore, createJobTable } from '@ecr-replicate/common/state';
import { startLocalDynamoDb, type LocalDynamoDb } from '@ecr-replicate/testing';
import { claimJobs } from '../../src';

const LEASE_MS = 60_000;
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);
let dynamo: LocalDynamoDb;

beforeAll(async () => {
  dynamo = await startLocalDynamoDb();
});

afterAll(async () => {
  await dynamo.stop();
});

/** Job `apps/x:<tag>` leased to `owner` (epoch 1), its lease recording `holder` (none when undefined). */
async function lease(store: JobStore, tag: string, owner: string, holder?: string): Promise<string> {
  const key = `apps/x:${tag}`;
  await store.recordRequest(
    {
      version: 1,
      eventId: `event-${tag}`,
      eventTime: '2026-11-30T11:59:00Z',
      action: 'PUSH',
      source: { accountId: '123456789012', region: 'us-east-1', repository: 'apps/x' },
      destination: { repository: 'apps/x' },
      tag,
      digest: `sha256:${'a'.repeat(64)}`,
    },
    T0,
  );
  await store.acquireLease(key, owner, LEASE_MS, T0);
  if (holder !== undefined) await store.setLeaseBuild(key, owner, holder, T0 + 1);
  return key;
}

it("claims each job by its record: runs new ones, hands a failed run's to a build, never takes one back from a build", async () => {
  const store = new JobStore(dynamo.documentClient, 'claims');
  await createJobTable(dynamo.client, store.tableName);
  const fresh = await lease(store, 'fresh', 'dispatch-1', 'lambda:request-1'); // the dispatcher's record of the Invoke
  const failed = await lease(store, 'failed', 'dispatch-1', 'lambda-run:earlier'); // an earlier run that did not finish
  const mine = await lease(store, 'mine', 'dispatch-1', 'lambda-run:this'); // this run's own (a repeated take)
  const built = await lease(store, 'built', 'dispatch-1', 'worker:build-1'); // handed over already
  const other = await lease(store, 'other', 'dispatch-2', 'lambda:request-2'); // another dispatch's

  const claim = await claimJobs(
    { version: 1, jobKeys: [fresh, failed, mine, built, other], leaseOwner: 'dispatch-1' },
    'lambda-run:this',
    { store, leaseMs: LEASE_MS, logger: createLogger('copy-lambda'), now: () => T0 + 10 },
  );
  expect(claim).toEqual({ run: [fresh, mine, other], handOver: { [failed]: 2 }, skipped: [built] });
  // The leases kept moved to their next epoch (an earlier run of the payload can no longer fence)...
  for (const key of [fresh, failed, mine]) expect((await store.get(key))?.leaseEpoch).toBe(2);
  // ...but not the build's, nor another owner's.
  expect(await store.get(built)).toMatchObject({ leaseEpoch: 1, leaseBuildId: 'worker:build-1' });
  expect(await store.get(other)).toMatchObject({ leaseEpoch: 1, leaseOwner: 'dispatch-2' });
});
