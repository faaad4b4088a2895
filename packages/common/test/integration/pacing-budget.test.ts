import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_DESTINATION_API_QUOTAS, jobKeyOf, parseApiQuotas, type ReplicationRequest } from '../../src';
import { JobStore, PacingBudget, createJobTable, pacingKeyOf } from '../../src/state';
import { DIGEST_A } from '../fixtures';
import { startLocalDynamoDb, type LocalDynamoDb } from '@ecr-replicate/testing';

/**
 * The destination's quota budget shared through the job table (dynalite): workers in separate processes are separate
 * PacingBudget instances on one table.
 */

let dynamo: LocalDynamoDb;
let tableCount = 0;

beforeAll(async () => {
  dynamo = await startLocalDynamoDb();
});

afterAll(async () => {
  await dynamo.stop();
});

async function freshStore(): Promise<JobStore> {
  tableCount += 1;
  const table = `pacing-${tableCount}`;
  await createJobTable(dynamo.client, table);
  return new JobStore(dynamo.documentClient, table);
}

const SCOPE = '210987654321.dkr.ecr.us-gov-west-1.amazonaws.com';

/** A clock the budget's waits move on: sequential takes see exact slot times. */
function virtualClock(start = 1_000_000): { now: () => number; sleep: (ms: number) => Promise<void> } {
  let time = start;
  return {
    now: () => time,
    sleep: async (ms) => {
      time += ms;
    },
  };
}

describe('PacingBudget', () => {
  it('keeps workers of separate processes, together, at the quota', async () => {
    const store = await freshStore();
    const quotas = { ...DEFAULT_DESTINATION_API_QUOTAS, PutImage: 20 };
    // Two workers (two budgets on one table), six calls at once each: 60 calls at 20/s.
    const workers = [store.pacingBudget(SCOPE, quotas), store.pacingBudget(SCOPE, quotas)];
    const started = Date.now();
    const sent: number[] = [];
    await Promise.all(
      workers.flatMap((budget) =>
        Array.from({ length: 6 }, async () => {
          for (let i = 0; i < 5; i += 1) {
            await budget.take('PutImage');
            sent.push(Date.now() - started);
          }
        }),
      ),
    );
    const elapsed = Date.now() - started;
    // 60 calls at 20/s: the last slot is 59 intervals (2.95 s) after the first.
    expect(elapsed).toBeGreaterThanOrEqual(2_850);
    // No second holds much more than the quota (a slot is used when its timer fires: late on a busy machine).
    sent.sort((a, b) => a - b);
    for (let i = 0; i < sent.length; i += 1) {
      const inWindow = sent.filter((t) => t >= (sent[i] as number) && t < (sent[i] as number) + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(25);
    }
    // Both workers drew from the one item.
    expect(workers[0]?.stats.draws).toBeGreaterThan(0);
    expect(workers[1]?.stats.draws).toBeGreaterThan(0);
    expect(workers.map((w) => w.stats.tableErrors)).toEqual([0, 0]);
  }, 30_000);

  it('takes slots in order from a schedule that runs ahead, one interval apart', async () => {
    const store = await freshStore();
    const clock = virtualClock();
    const budget = store.pacingBudget(SCOPE, { ...DEFAULT_DESTINATION_API_QUOTAS, PutImage: 10 }, clock);
    const times: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      await budget.take('PutImage');
      times.push(clock.now());
    }
    expect(times.map((t) => t - (times[0] as number))).toEqual([0, 100, 200, 300, 400]);
  });

  it('uses the slots it drew even when the table answers slower than their interval (no livelock)', async () => {
    const store = await freshStore();
    const clock = virtualClock();
    // Every write takes 300 ms of the clock: longer than PutImage's 100 ms interval and a block's 100 ms.
    const slowClient = {
      send: async (command: unknown) => {
        const output = await dynamo.documentClient.send(command as never);
        await clock.sleep(300);
        return output;
      },
    } as unknown as typeof dynamo.documentClient;
    const budget = new PacingBudget(
      slowClient,
      store.tableName,
      SCOPE,
      { ...DEFAULT_DESTINATION_API_QUOTAS, PutImage: 10 },
      clock,
    );
    for (let i = 0; i < 5; i += 1) await budget.take('PutImage');
    for (let i = 0; i < 200; i += 1) await budget.take('BatchCheckLayerAvailability');
    expect(budget.stats.draws).toBe(5 + 2);
  });

  it('takes a block of slots per draw for an API with a high quota', async () => {
    const store = await freshStore();
    const clock = virtualClock();
    const budget = store.pacingBudget(SCOPE, DEFAULT_DESTINATION_API_QUOTAS, clock);
    for (let i = 0; i < 500; i += 1) await budget.take('BatchCheckLayerAvailability');
    // 1,000/s with blocks of 100 ms: 100 slots a draw; 500 calls span 499 ms.
    expect(budget.stats.draws).toBe(5);
    expect(budget.stats.waitedMs).toBeCloseTo(499, 5);
  });

  it('slows every worker down when one is throttled, counts one slowdown per window, and recovers', async () => {
    const store = await freshStore();
    const clock = virtualClock();
    const options = { ...clock, recoveryMs: 10_000, penaltyMs: 1_000, minFactor: 0.1 };
    const quotas = { ...DEFAULT_DESTINATION_API_QUOTAS, PutImage: 10 };
    const a = store.pacingBudget(SCOPE, quotas, options);
    const b = store.pacingBudget(SCOPE, quotas, options);
    await a.take('PutImage');
    await b.take('PutImage');

    const throttledAt = clock.now();
    await a.throttled('PutImage');
    await b.throttled('PutImage'); // the same burst of 429s: counted, not halved again
    expect(a.stats.slowdowns + b.stats.slowdowns).toBe(1);
    expect(b.stats.throttles).toBe(1);

    // The schedule moved past the penalty; b learns the halved rate from its draw and keeps to it.
    const times: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      await b.take('PutImage');
      times.push(clock.now());
    }
    expect((times[0] as number) - throttledAt).toBeGreaterThanOrEqual(1_000);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    // Half of 10/s, recovering meanwhile (at most 0.09 of the quota per 100 ms): about 200 ms apart.
    for (const gap of gaps) {
      expect(gap).toBeGreaterThan(150);
      expect(gap).toBeLessThanOrEqual(200);
    }
    expect(b.factor('PutImage')).toBeLessThan(0.8);

    // After the recovery time the full quota is back.
    await clock.sleep(10_000);
    expect(b.factor('PutImage')).toBe(1);
    const before = clock.now();
    await b.take('PutImage');
    await b.take('PutImage');
    expect(clock.now() - before).toBe(100);
  });

  it('paces the worker alone when the table fails, and never throws', async () => {
    const store = await freshStore();
    const errors: unknown[] = [];
    const clock = virtualClock();
    const missing = new PacingBudget(
      dynamo.documentClient,
      'no-such-table',
      SCOPE,
      { ...DEFAULT_DESTINATION_API_QUOTAS, PutImage: 10 },
      { ...clock, onTableError: (e) => errors.push(e) },
    );
    const start = clock.now();
    for (let i = 0; i < 3; i += 1) await missing.take('PutImage');
    await missing.throttled('PutImage');
    expect(clock.now() - start).toBe(200);
    expect(missing.stats.tableErrors).toBeGreaterThanOrEqual(3);
    expect(errors.length).toBe(missing.stats.tableErrors);
    void store;
  });

  it('shares the job table: pacing items are not listed as jobs', async () => {
    const store = await freshStore();
    const request: ReplicationRequest = {
      version: 1,
      eventId: 'event-1',
      eventTime: '2026-11-16T01:54:34Z',
      action: 'PUSH',
      source: { accountId: '123456789012', region: 'us-west-2', repository: 'team/app' },
      destination: { repository: 'mirror/team/app' },
      tag: 'latest',
      digest: DIGEST_A,
    };
    await store.recordRequest(request, Date.now());
    await store.pacingBudget(SCOPE, DEFAULT_DESTINATION_API_QUOTAS).take('PutImage');
    const raw = await dynamo.documentClient.send(new ScanCommand({ TableName: store.tableName }));
    expect(raw.Items?.map((i) => i.jobKey).sort()).toEqual([jobKeyOf(request), pacingKeyOf(SCOPE, 'PutImage')].sort());
    expect((await store.list()).map((r) => r.jobKey)).toEqual([jobKeyOf(request)]);
    expect((await store.listPage({ pageSize: 1 })).records.length).toBeLessThanOrEqual(1);
  });
});

describe('parseApiQuotas (DEST_API_QUOTAS)', () => {
  it('gives ECR defaults, off, or overrides by API', () => {
    expect(parseApiQuotas(undefined)).toEqual(DEFAULT_DESTINATION_API_QUOTAS);
    expect(parseApiQuotas(' OFF ')).toBe('off');
    expect(parseApiQuotas('PutImage=2.5, UploadLayerPart=1000')).toEqual({
      ...DEFAULT_DESTINATION_API_QUOTAS,
      PutImage: 2.5,
      UploadLayerPart: 1000,
    });
  });

  it('names what is wrong', () => {
    expect(() => parseApiQuotas('PutImages=10')).toThrow(/"PutImages" is not a paced API/);
    expect(() => parseApiQuotas('PutImage=0')).toThrow(/rate of PutImage must be/);
    expect(() => parseApiQuotas('PutImage=fast')).toThrow(/rate of PutImage must be/);
  });
});
