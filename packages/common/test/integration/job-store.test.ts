import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { ErrorCode, ReplicationError, ValidationError, jobKeyOf, type ReplicationRequest } from '../../src';
import { DEFAULT_FINISHED_RECORD_TTL_SECONDS, JobStore, createJobTable } from '../../src/state';
import { DIGEST_A, DIGEST_B } from '../fixtures';
import { startLocalDynamoDb, type LocalDynamoDb } from '@ecr-replicate/testing';

const DIGEST_C = `sha256:${'c'.repeat(64)}`;
const T0 = Date.UTC(2026, 10, 16, 2, 0, 0);
const LEASE_MS = 60_000;

let dynamo: LocalDynamoDb;
let tableCount = 0;

beforeAll(async () => {
  dynamo = await startLocalDynamoDb();
});

afterAll(async () => {
  await dynamo.stop();
});

/** A fresh table per test: tests stay independent while sharing one server. */
async function freshStore(): Promise<JobStore> {
  tableCount += 1;
  const table = `jobs-${tableCount}`;
  await createJobTable(dynamo.client, table);
  return new JobStore(dynamo.documentClient, table);
}

function request(overrides: Partial<ReplicationRequest> = {}): ReplicationRequest {
  return {
    version: 1,
    eventId: 'event-1',
    eventTime: '2026-11-16T01:54:34Z',
    action: 'PUSH',
    source: { accountId: '123456789012', region: 'us-west-2', repository: 'team/app' },
    destination: { repository: 'mirror/team/app' },
    tag: 'latest',
    digest: DIGEST_A,
    ...overrides,
  };
}

const KEY = jobKeyOf(request());

async function thrown(promise: Promise<unknown>): Promise<ReplicationError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ReplicationError);
    return error as ReplicationError;
  }
  throw new Error('expected the call to throw');
}

describe('recordRequest', () => {
  it('creates a PENDING record with no attempts and not dirty', async () => {
    const store = await freshStore();
    const result = await store.recordRequest(request(), T0);
    expect(result.outcome).toBe('recorded');
    expect(await store.get(KEY)).toEqual({
      jobKey: 'mirror/team/app:latest',
      sourceAccountId: '123456789012',
      sourceRegion: 'us-west-2',
      sourceRepository: 'team/app',
      destinationRepository: 'mirror/team/app',
      tag: 'latest',
      action: 'PUSH',
      desiredDigest: DIGEST_A,
      lastEventId: 'event-1',
      lastEventTime: '2026-11-16T01:54:34.000Z',
      status: 'PENDING',
      dirty: false,
      attempts: 0,
      requestedAt: T0,
      updatedAt: T0,
    });
  });

  it('keys tagless requests by digest', async () => {
    const store = await freshStore();
    const { record } = await store.recordRequest(request({ tag: undefined }), T0);
    expect(record.jobKey).toBe(`mirror/team/app@${DIGEST_A}`);
    expect(record.tag).toBeUndefined();
  });

  const older = request({ eventId: 'event-b', eventTime: '2026-11-16T01:54:34Z', digest: DIGEST_A });
  const newer = request({ eventId: 'event-c', eventTime: '2026-11-16T01:54:35Z', digest: DIGEST_B });
  // Same time as `newer`, greater event id: the tie-break makes it the newest.
  const newest = request({
    eventId: 'event-d',
    eventTime: '2026-11-16T01:54:35.000Z',
    action: 'DELETE',
    digest: DIGEST_C,
  });

  it.each([
    ['in order', [older, newer, newest]],
    ['in reverse', [newest, newer, older]],
    ['shuffled', [newer, newest, older]],
    ['shuffled again', [older, newest, newer]],
  ])('keeps the newest request whatever the arrival order (%s)', async (_name, arrivals) => {
    const store = await freshStore();
    for (const [i, r] of arrivals.entries()) await store.recordRequest(r, T0 + i);
    const record = await store.get(KEY);
    expect(record).toMatchObject({
      lastEventId: 'event-d',
      desiredDigest: DIGEST_C,
      action: 'DELETE',
      lastEventTime: '2026-11-16T01:54:35.000Z',
    });
  });

  it('reports an older request as stale and changes nothing', async () => {
    const store = await freshStore();
    await store.recordRequest(newer, T0);
    const result = await store.recordRequest(older, T0 + 5);
    expect(result.outcome).toBe('stale');
    expect(result.record).toMatchObject({ lastEventId: 'event-c', updatedAt: T0, requestedAt: T0 });
  });

  it('compares times, not their spelling (fractions, offsets)', async () => {
    const store = await freshStore();
    await store.recordRequest(request({ eventId: 'a', eventTime: '2026-11-16T01:54:34.500Z' }), T0);
    // 34 s is earlier than 34.5 s although "34Z" sorts after "34.500Z" as text.
    expect(
      (await store.recordRequest(request({ eventId: 'z', eventTime: '2026-11-16T01:54:34Z' }), T0 + 1)).outcome,
    ).toBe('stale');
    // 03:54:35+02:00 is 01:54:35Z: newer.
    expect(
      (await store.recordRequest(request({ eventId: 'b', eventTime: '2026-11-16T03:54:35+02:00' }), T0 + 2)).outcome,
    ).toBe('recorded');
    expect((await store.get(KEY))?.lastEventTime).toBe('2026-11-16T01:54:35.000Z');
  });

  it('is idempotent: a redelivered request changes nothing the second time', async () => {
    const store = await freshStore();
    const first = await store.recordRequest(request(), T0);
    const second = await store.recordRequest(request(), T0 + 1_000);
    expect(first.outcome).toBe('recorded');
    expect(second.outcome).toBe('stale');
    expect(await store.get(KEY)).toEqual(first.record);
  });

  it('handles the same request delivered concurrently', async () => {
    const store = await freshStore();
    const results = await Promise.all([0, 1, 2, 3].map((i) => store.recordRequest(request(), T0 + i)));
    expect(results.filter((r) => r.outcome === 'recorded')).toHaveLength(1);
    expect((await store.list()).length).toBe(1);
  });

  it('brings a finished job back to PENDING with a fresh attempt budget and no TTL', async () => {
    const store = await freshStore();
    await store.recordRequest(older, T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0 + 1);
    await store.finish(
      KEY,
      'w1',
      { status: 'FAILED', error: { code: 'IMMUTABLE_TAG_CONFLICT', message: 'x' } },
      T0 + 2,
    );
    expect(await store.get(KEY)).toMatchObject({ status: 'FAILED', attempts: 1, expiresAt: expect.any(Number) });

    await store.recordRequest(newer, T0 + 3);
    const record = await store.get(KEY);
    expect(record).toMatchObject({ status: 'PENDING', attempts: 0, requestedAt: T0 + 3, lastEventId: 'event-c' });
    expect(record?.expiresAt).toBeUndefined();
  });

  it('leaves a leased job leased when a newer request arrives', async () => {
    const store = await freshStore();
    await store.recordRequest(older, T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0 + 1);
    await store.recordRequest(newer, T0 + 2);
    expect(await store.get(KEY)).toMatchObject({
      status: 'IN_PROGRESS',
      leaseOwner: 'w1',
      lastEventId: 'event-c',
      requestedAt: T0 + 2,
    });
  });
});

describe('recordRequest: one clock', () => {
  it('a sync request stamped by a clock 2 minutes ahead never outranks the ECR events after it', async () => {
    const store = await freshStore();
    // The operator's clock is 2 minutes fast: the sync request says 01:56:34 for a plan made at 01:54:34.
    const sync = request({ eventId: 'sync-1', eventTime: '2026-11-16T01:56:34Z', origin: 'sync', digest: DIGEST_B });
    expect((await store.recordRequest(sync, T0)).outcome).toBe('requested');
    // Then a real push, whose ECR event time is earlier than the sync's stamp: it is recorded, not stale.
    const push = request({ eventId: 'event-2', eventTime: '2026-11-16T01:55:00Z' });
    const recorded = await store.recordRequest(push, T0 + 10);
    expect(recorded.outcome).toBe('recorded');
    expect(recorded.record).toMatchObject({ lastEventId: 'event-2', desiredDigest: DIGEST_A, requestedAt: T0 + 10 });
    expect(recorded.record.origin).toBeUndefined();
    // A later sync request asks for a run but keeps the event: requestedAt moves, nothing else.
    const again = await store.recordRequest({ ...sync, eventId: 'sync-2' }, T0 + 20);
    expect(again.outcome).toBe('requested');
    expect(again.record).toMatchObject({ lastEventId: 'event-2', desiredDigest: DIGEST_A, requestedAt: T0 + 20 });
    // ECR events are still ordered among themselves.
    expect(
      (await store.recordRequest(request({ eventId: 'event-0', eventTime: '2026-11-16T01:54:00Z' }), T0 + 30)).outcome,
    ).toBe('stale');
  });

  it('a retry keeps the attempts; a sync gives a new budget', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    await store.releaseForRetry(KEY, 'w1', { code: 'X', message: 'x' }, 5, T0 + 1);
    await store.recordRequest(request({ origin: 'retry' }), T0 + 2);
    expect(await store.get(KEY)).toMatchObject({ status: 'PENDING', attempts: 1, requestedAt: T0 + 2 });
    await store.recordRequest(request({ origin: 'sync', eventId: 'sync-1' }), T0 + 3);
    expect(await store.get(KEY)).toMatchObject({ status: 'PENDING', attempts: 0 });
  });
});

describe('fenceLease', () => {
  it('proves owner and epoch, renews and records fencedAt; refuses a stale owner, epoch or an expired lease', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    const held = await store.renewLease(KEY, 'w1', LEASE_MS, T0 + 1, { buildId: 'project:b1' });
    expect(held).toMatchObject({ leaseEpoch: 1, leaseBuildId: 'project:b1' });
    expect(await store.fenceLease(KEY, 'w1', 1, LEASE_MS, T0 + 5)).toMatchObject({
      fencedAt: T0 + 5,
      leaseExpiresAt: T0 + 5 + LEASE_MS,
    });
    expect((await thrown(store.fenceLease(KEY, 'w1', 2, LEASE_MS, T0 + 6))).code).toBe(ErrorCode.LeaseLost);
    expect((await thrown(store.fenceLease(KEY, 'w2', 1, LEASE_MS, T0 + 6))).code).toBe(ErrorCode.LeaseLost);
    // Expired at the fence's time (heart-beats failed): refused, even to the owner.
    expect((await thrown(store.fenceLease(KEY, 'w1', 1, LEASE_MS, T0 + 5 + LEASE_MS))).code).toBe(ErrorCode.LeaseLost);
    // Taken over: the old epoch can neither renew nor fence.
    await store.acquireLease(KEY, 'w2', LEASE_MS, T0 + 5 + LEASE_MS);
    expect((await thrown(store.renewLease(KEY, 'w1', LEASE_MS, T0 + 6 + LEASE_MS, { epoch: 1 }))).code).toBe(
      ErrorCode.LeaseLost,
    );
    expect((await store.get(KEY))?.leaseEpoch).toBe(2);
  });
});

describe('handOffLease', () => {
  it("moves the lease to its next epoch for a build: the Lambda's hold can neither renew nor fence, the build's can", async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'd1', LEASE_MS, T0);
    await store.renewLease(KEY, 'd1', LEASE_MS, T0 + 1, { buildId: 'lambda:r1' });
    expect(await store.handOffLease(KEY, 'd1', 1, LEASE_MS, T0 + 10)).toBe(true);
    const handed = await store.get(KEY);
    expect(handed).toMatchObject({
      status: 'IN_PROGRESS',
      leaseOwner: 'd1',
      leaseEpoch: 2,
      leaseExpiresAt: T0 + 10 + LEASE_MS,
    });
    // No build until StartBuild answered: the lease covers nothing (a new request may take it).
    expect(handed?.leaseBuildId).toBeUndefined();
    // The Lambda's hold (epoch 1) is over.
    expect((await thrown(store.fenceLease(KEY, 'd1', 1, LEASE_MS, T0 + 11))).code).toBe(ErrorCode.LeaseLost);
    expect((await thrown(store.renewLease(KEY, 'd1', LEASE_MS, T0 + 11, { epoch: 1 }))).code).toBe(ErrorCode.LeaseLost);
    // The build takes it by owner, learns epoch 2 and fences with it.
    expect(await store.renewLease(KEY, 'd1', LEASE_MS, T0 + 12, { buildId: 'project:b1' })).toMatchObject({
      leaseEpoch: 2,
      leaseBuildId: 'project:b1',
    });
    expect(await store.fenceLease(KEY, 'd1', 2, LEASE_MS, T0 + 13)).toMatchObject({ fencedAt: T0 + 13 });
    // A second hand-off of the same epoch, or by another owner, or of an expired lease: refused.
    expect(await store.handOffLease(KEY, 'd1', 1, LEASE_MS, T0 + 14)).toBe(false);
    expect(await store.handOffLease(KEY, 'd2', 2, LEASE_MS, T0 + 14)).toBe(false);
    expect(await store.handOffLease(KEY, 'd1', 2, LEASE_MS, T0 + 13 + LEASE_MS)).toBe(false);
    expect((await store.get(KEY))?.leaseEpoch).toBe(2);
  });
});

describe('acquireLease', () => {
  it('takes a free lease: IN_PROGRESS, owner, expiry, startedAt', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    expect(await store.acquireLease(KEY, 'w1', LEASE_MS, T0 + 10)).toBe('acquired');
    expect(await store.get(KEY)).toMatchObject({
      status: 'IN_PROGRESS',
      leaseOwner: 'w1',
      leaseExpiresAt: T0 + 10 + LEASE_MS,
      startedAt: T0 + 10,
      dirty: false,
    });
  });

  it('of many concurrent callers, each acquisition gets its own epoch; a lease whose build started stays held', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    const owners = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const results = await Promise.all(owners.map((owner) => store.acquireLease(KEY, owner, LEASE_MS, T0 + 1)));
    // No build holds the lease yet: a later caller may take it over (only the last epoch can fence a write).
    const acquired = results.filter((r) => r === 'acquired').length;
    expect(acquired).toBeGreaterThanOrEqual(1);
    const record = await store.get(KEY);
    expect(record?.leaseEpoch).toBe(acquired);
    expect(owners.filter((_o, i) => results[i] === 'acquired')).toContain(record?.leaseOwner);

    // Once its build is recorded, the lease is the build's: every other caller marks the job dirty.
    expect(await store.setLeaseBuild(KEY, record?.leaseOwner ?? '', 'project:b1', T0 + 2)).toBe(true);
    const later = await Promise.all(owners.map((owner) => store.acquireLease(KEY, `${owner}2`, LEASE_MS, T0 + 3)));
    expect(later).toEqual(owners.map(() => 'held'));
    expect(await store.get(KEY)).toMatchObject({ leaseOwner: record?.leaseOwner, dirty: true, leaseEpoch: acquired });
  });

  it('takes over a lease no build holds (StartBuild failed, its release too), with a new epoch', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    expect(await store.acquireLease(KEY, 'w2', LEASE_MS, T0 + 1)).toBe('acquired');
    expect(await store.get(KEY)).toMatchObject({ leaseOwner: 'w2', leaseEpoch: 2, startedAt: T0 + 1 });
    expect(await store.setLeaseBuild(KEY, 'w1', 'project:late', T0 + 2)).toBe(false);
  });

  it('marks a held job dirty and leaves the lease alone', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    await store.setLeaseBuild(KEY, 'w1', 'project:b1', T0);
    expect(await store.acquireLease(KEY, 'w2', LEASE_MS, T0 + LEASE_MS - 1)).toBe('held');
    expect(await store.get(KEY)).toMatchObject({
      leaseOwner: 'w1',
      leaseExpiresAt: T0 + LEASE_MS,
      dirty: true,
      startedAt: T0,
    });
  });

  it('takes over an expired lease and clears dirty', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    await store.acquireLease(KEY, 'w2', LEASE_MS, T0 + 1);
    expect(await store.acquireLease(KEY, 'w3', LEASE_MS, T0 + LEASE_MS)).toBe('acquired');
    expect(await store.get(KEY)).toMatchObject({ leaseOwner: 'w3', startedAt: T0 + LEASE_MS, dirty: false });
  });

  it('is re-entrant for the owner that holds the lease', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    expect(await store.acquireLease(KEY, 'w1', LEASE_MS, T0 + 1)).toBe('acquired');
    expect((await store.get(KEY))?.dirty).toBe(false);
  });

  it('fails with NOT_FOUND for a job never recorded', async () => {
    const store = await freshStore();
    const error = await thrown(store.acquireLease('nothing:here', 'w1', LEASE_MS, T0));
    expect(error.code).toBe(ErrorCode.NotFound);
    expect(error.message).toContain('"nothing:here"');
    expect(await store.get('nothing:here')).toBeUndefined();
  });
});

describe('renewLease', () => {
  it('extends the lease so that nobody takes it over', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    await store.renewLease(KEY, 'w1', LEASE_MS, T0 + 50_000, { buildId: 'project:b1' });
    expect(await store.acquireLease(KEY, 'w2', LEASE_MS, T0 + LEASE_MS + 1)).toBe('held');
    expect((await store.get(KEY))?.leaseExpiresAt).toBe(T0 + 50_000 + LEASE_MS);
  });

  it('throws LEASE_LOST after another owner took the lease over', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    await store.acquireLease(KEY, 'w2', LEASE_MS, T0 + LEASE_MS + 1);
    const error = await thrown(store.renewLease(KEY, 'w1', LEASE_MS, T0 + LEASE_MS + 2));
    expect(error.code).toBe(ErrorCode.LeaseLost);
    expect(error.retryable).toBe(true);
    expect((await store.get(KEY))?.leaseOwner).toBe('w2');
  });
});

describe('finish', () => {
  it("returns 'again' while dirty (keeping the lease), then records the outcome and releases", async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    await store.setLeaseBuild(KEY, 'w1', 'project:b1', T0);
    expect(await store.acquireLease(KEY, 'd2', LEASE_MS, T0 + 1)).toBe('held');

    const outcome = {
      status: 'COMPLETE',
      replicatedDigest: DIGEST_A,
      bytesCopied: 1234,
      durationSeconds: 2.5,
    } as const;
    expect(await store.finish(KEY, 'w1', outcome, T0 + 2)).toBe('again');
    // The next pass starts now: startedAt moves, so requests recorded before it are covered by it.
    expect(await store.get(KEY)).toMatchObject({
      leaseOwner: 'w1',
      dirty: false,
      status: 'IN_PROGRESS',
      startedAt: T0 + 2,
    });

    expect(await store.finish(KEY, 'w1', outcome, T0 + 3)).toBe('done');
    const record = await store.get(KEY);
    expect(record).toMatchObject({
      status: 'COMPLETE',
      replicatedDigest: DIGEST_A,
      bytesCopied: 1234,
      durationSeconds: 2.5,
      completedAt: T0 + 3,
      expiresAt: Math.floor((T0 + 3) / 1000) + DEFAULT_FINISHED_RECORD_TTL_SECONDS,
      attempts: 0,
    });
    expect(record?.leaseOwner).toBeUndefined();
    expect(record?.leaseExpiresAt).toBeUndefined();
  });

  it('records a failure with its error and one more attempt', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    const error = { code: ErrorCode.ImmutableTagConflict, message: 'tag latest points at another digest' };
    expect(await store.finish(KEY, 'w1', { status: 'FAILED', error }, T0 + 1)).toBe('done');
    expect(await store.get(KEY)).toMatchObject({ status: 'FAILED', lastError: error, attempts: 1 });
  });

  it("stores a failure message with a registry's echoed credentials masked and control characters removed", async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    const message = 'PUT manifest: 400 (denied: header Authorization: Basic dXNlcjpodW50ZXIy\u001b[31m)';
    await store.finish(KEY, 'w1', { status: 'FAILED', error: { code: ErrorCode.RegistryProtocol, message } }, T0 + 1);
    const stored = (await store.get(KEY))?.lastError?.message ?? '';
    expect(stored).toContain('Authorization: Basic ***');
    expect(stored).not.toContain('dXNlcjpodW50ZXIy');
    expect(stored).not.toContain('\u001b');
  });

  it('removes the replicated digest and the last error after a successful delete', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    await store.finish(
      KEY,
      'w1',
      { status: 'COMPLETE', replicatedDigest: DIGEST_A, bytesCopied: 1, durationSeconds: 1 },
      T0 + 1,
    );
    await store.recordRequest(
      request({ eventId: 'event-2', eventTime: '2026-11-16T01:55:00Z', action: 'DELETE' }),
      T0 + 2,
    );
    await store.acquireLease(KEY, 'w2', LEASE_MS, T0 + 3);
    await store.releaseForRetry(KEY, 'w2', { code: 'BUILD_FAILED', message: 'x' }, 5, T0 + 4);
    await store.acquireLease(KEY, 'w3', LEASE_MS, T0 + 5);
    await store.finish(KEY, 'w3', { status: 'COMPLETE', bytesCopied: 0, durationSeconds: 1 }, T0 + 6);
    const record = await store.get(KEY);
    expect(record?.status).toBe('COMPLETE');
    expect(record?.replicatedDigest).toBeUndefined();
    expect(record?.lastError).toBeUndefined();
  });

  it('throws LEASE_LOST for an owner whose lease was taken over', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    await store.acquireLease(KEY, 'w2', LEASE_MS, T0 + LEASE_MS);
    const error = await thrown(
      store.finish(KEY, 'w1', { status: 'COMPLETE', bytesCopied: 0, durationSeconds: 0 }, T0 + LEASE_MS + 1),
    );
    expect(error.code).toBe(ErrorCode.LeaseLost);
    expect(await store.get(KEY)).toMatchObject({ status: 'IN_PROGRESS', leaseOwner: 'w2' });
  });
});

describe('releaseForRetry', () => {
  const buildFailed = { code: 'BUILD_FAILED', message: 'worker build b-1 ended FAILED' };

  it('counts attempts, re-opens the job for a retry, and gives up at the maximum', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    const outcomes: string[] = [];
    for (let i = 1; i <= 3; i += 1) {
      await store.acquireLease(KEY, `w${i}`, LEASE_MS, T0 + i * 10);
      const result = await store.releaseForRetry(KEY, `w${i}`, buildFailed, 3, T0 + i * 10 + 1);
      outcomes.push(result.outcome);
      if (result.outcome !== 'not-owner') expect(result.record.attempts).toBe(i);
      if (i < 3) expect(await store.get(KEY)).toMatchObject({ status: 'PENDING', attempts: i, lastError: buildFailed });
    }
    expect(outcomes).toEqual(['retry', 'retry', 'failed']);
    const record = await store.get(KEY);
    expect(record).toMatchObject({ status: 'FAILED', attempts: 3, lastError: buildFailed, completedAt: T0 + 31 });
    expect(record?.expiresAt).toBe(Math.floor((T0 + 31) / 1000) + DEFAULT_FINISHED_RECORD_TTL_SECONDS);
    expect(record?.leaseOwner).toBeUndefined();
  });

  it('does nothing for an owner that no longer holds the lease', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    await store.finish(
      KEY,
      'w1',
      { status: 'COMPLETE', replicatedDigest: DIGEST_A, bytesCopied: 1, durationSeconds: 1 },
      T0 + 1,
    );
    const before = await store.get(KEY);
    expect(await store.releaseForRetry(KEY, 'w1', buildFailed, 3, T0 + 2)).toEqual({ outcome: 'not-owner' });
    expect(await store.releaseForRetry(KEY, 'someone-else', buildFailed, 3, T0 + 2)).toEqual({ outcome: 'not-owner' });
    expect(await store.get(KEY)).toEqual(before);
  });

  it('does nothing for a job that does not exist', async () => {
    const store = await freshStore();
    expect(await store.releaseForRetry('no:job', 'w1', buildFailed, 3, T0)).toEqual({ outcome: 'not-owner' });
  });
});

describe('releaseForRetry without an attempt', () => {
  it('a build that never ran (timed out in the queue) puts the job back without counting an attempt', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    const released = await store.releaseForRetry(KEY, 'w1', { code: 'Q', message: 'queued' }, 1, T0 + 1, {
      countAttempt: false,
    });
    expect(released).toMatchObject({ outcome: 'retry', record: { status: 'PENDING', attempts: 0 } });
  });
});

describe('releaseLease', () => {
  it('gives the lease back without counting an attempt; other owners change nothing', async () => {
    const store = await freshStore();
    await store.recordRequest(request(), T0);
    await store.acquireLease(KEY, 'w1', LEASE_MS, T0);
    expect(await store.releaseLease(KEY, 'w2', T0 + 1)).toBe(false);
    expect((await store.get(KEY))?.leaseOwner).toBe('w1');
    expect(await store.releaseLease(KEY, 'w1', T0 + 2)).toBe(true);
    const record = await store.get(KEY);
    expect(record).toMatchObject({ status: 'PENDING', attempts: 0, updatedAt: T0 + 2 });
    expect(record?.leaseOwner).toBeUndefined();
    expect(await store.acquireLease(KEY, 'w3', LEASE_MS, T0 + 3)).toBe('acquired');
  });
});

describe('reading', () => {
  it('lists every record across pages, and by status', async () => {
    const store = await freshStore();
    for (const tag of ['a', 'b', 'c', 'd', 'e']) await store.recordRequest(request({ tag }), T0);
    await store.acquireLease('mirror/team/app:c', 'w1', LEASE_MS, T0);

    const first = await store.listPage({ pageSize: 2 });
    expect(first.records).toHaveLength(2);
    expect(first.cursor).toEqual(expect.any(String));

    expect((await store.list({ pageSize: 2 })).map((r) => r.tag)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect((await store.list({ status: 'IN_PROGRESS' })).map((r) => r.tag)).toEqual(['c']);
    expect(await store.list({ status: 'FAILED' })).toEqual([]);
  });

  it("lists one repository's jobs by a Query on its index, not a Scan, and falls back on a table without it", async () => {
    const store = await freshStore();
    for (const tag of ['b', 'a']) await store.recordRequest(request({ tag }), T0);
    await store.recordRequest(request({ destination: { repository: 'mirror/other' }, tag: 'x' }), T0);
    await store.acquireLease('mirror/team/app:b', 'w1', LEASE_MS, T0);
    const sent: string[] = [];
    const original = dynamo.documentClient.send.bind(dynamo.documentClient) as (command: unknown) => Promise<unknown>;
    const spy = jest.spyOn(dynamo.documentClient, 'send').mockImplementation(((command: unknown) => {
      sent.push((command as object).constructor.name);
      return original(command);
    }) as never);
    try {
      expect((await store.listRepository('mirror/team/app')).map((r) => r.jobKey)).toEqual([
        'mirror/team/app:a',
        'mirror/team/app:b',
      ]);
      expect((await store.listRepository('mirror/team/app', { status: 'IN_PROGRESS' })).map((r) => r.tag)).toEqual([
        'b',
      ]);
      expect(await store.listRepository('mirror/none')).toEqual([]);
      expect(sent).toEqual(['QueryCommand', 'QueryCommand', 'QueryCommand']);
    } finally {
      spy.mockRestore();
    }
    // A table made before the index existed: the same answer from a Scan.
    tableCount += 1;
    const old = `jobs-${tableCount}`;
    await dynamo.client.send(
      new CreateTableCommand({
        TableName: old,
        AttributeDefinitions: [{ AttributeName: 'jobKey', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'jobKey', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const oldStore = new JobStore(dynamo.documentClient, old);
    await oldStore.recordRequest(request({ tag: 'z' }), T0);
    expect((await oldStore.listRepository('mirror/team/app')).map((r) => r.tag)).toEqual(['z']);
  });

  it('rejects a cursor it did not make', async () => {
    const store = await freshStore();
    const error = await thrown(store.listPage({ cursor: 'not-a-cursor' }));
    expect(error.code).toBe(ErrorCode.InvalidInput);
  });

  it('validates records when reading, naming the job and the field', async () => {
    const store = await freshStore();
    await dynamo.documentClient.send(
      new PutCommand({ TableName: store.tableName, Item: { jobKey: 'broken:1', status: 'WHATEVER' } }),
    );
    const error = await thrown(store.get('broken:1'));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toContain('job record "broken:1"');
    expect(error.message).toContain('status');
  });

  it('reports DynamoDB failures as AWS_SERVICE errors naming the table and the job', async () => {
    const store = new JobStore(dynamo.documentClient, 'no-such-table');
    const error = await thrown(store.recordRequest(request(), T0));
    expect(error.code).toBe(ErrorCode.AwsService);
    expect(error.message).toContain('"no-such-table"');
    expect(error.message).toContain('ResourceNotFoundException');
  });
});
