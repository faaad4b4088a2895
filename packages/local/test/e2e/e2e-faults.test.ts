/**
 * End to end on the local runner, with faults injected into the real
 * handlers and worker: each case of "nothing lost, no tag rolled back"
 * (issue 13), the sweeper, and an ordering test that interleaves deliveries
 * with running builds. Every case ends with the destination equal to the
 * source and every job settled.
 *
 * Time is scaled by 0.02: the 1800 s lease lasts 36 s (a fenced write may
 * take a quarter of it, 9 s), the CodeBuild queue timeout 15 min → 18 s
 * (under the lease), a 30 s retry delay 0.6 s, the 360 s visibility timeout
 * 7.2 s, the dispatcher's 60 s timeout 3 s (the floor), the sweeper runs
 * every 1.2 s and re-queues jobs PENDING for 6 s.
 */
import { PassThrough } from 'node:stream';
import { readFileSync } from 'node:fs';
import type { JobRecord } from '@ecr-replicate/common';
import { main as cli } from '@ecr-replicate/cli';
import { cosignSignature, dockerImage, pushImage, type SyntheticImage } from '@ecr-replicate/testing';
import {
  concurrencyViolations,
  leaseIntervals,
  startLocalRunner,
  unfencedWrites,
  waitFor,
  type DynamoCall,
  type LocalRunner,
} from '../../src';

let runner: LocalRunner;

const CONFIG = { deletes: true, mapping: { prefixes: [{ from: 'e2e/', to: 'mirror/e2e/' }] } };
const mirror = (repository: string): string => repository.replace(/^e2e\//, 'mirror/e2e/');
const keyOf = (repository: string, tag: string): string => `${mirror(repository)}:${tag}`;

beforeAll(async () => {
  runner = await startLocalRunner({
    config: CONFIG,
    timeScale: 0.02,
    leaseSeconds: 1800,
    buildQueuedTimeoutMinutes: 15,
    sweepEverySeconds: 60,
    sweepPendingSeconds: 300,
    lambdaMinTimeoutMs: 3_000,
  });
}, 60_000);

afterEach(() => {
  for (const name of Object.keys(runner.faults)) delete runner.faults[name as keyof typeof runner.faults];
});

afterAll(async () => {
  await runner?.stop();
});

function expectNoDeadLetters(): void {
  expect([
    runner.requestDeadLetterQueue.size,
    runner.retryDeadLetterQueue.size,
    runner.eventsDeadLetterQueue.size,
  ]).toEqual([0, 0, 0]);
}

/** The destination equals the source for the tag, and its job is settled: COMPLETE, no lease. */
async function expectReplicated(repository: string, tag: string, digest: string): Promise<JobRecord | undefined> {
  expect(await runner.digestAt('source', repository, tag)).toBe(digest);
  expect(await runner.digestAt('destination', mirror(repository), tag)).toBe(digest);
  const record = await runner.job(keyOf(repository, tag));
  expect(record).toMatchObject({ status: 'COMPLETE', replicatedDigest: digest, dirty: false });
  expect(record?.leaseOwner).toBeUndefined();
  return record;
}

/** Waits until the tag is replicated at `digest` and nothing is left to happen for its job. */
async function settle(repository: string, tag: string, digest: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () =>
      !runner.jobBusy(keyOf(repository, tag)) &&
      (await runner.digestAt('destination', mirror(repository), tag)) === digest &&
      (await runner.job(keyOf(repository, tag)))?.status === 'COMPLETE',
    {
      timeoutMs,
      intervalMs: 50,
      what: `${repository}:${tag} to settle at ${digest}`,
      describe: () => runner.busy().join(' | '),
    },
  );
}

/** releaseLease: the dispatcher giving back the lease of a build that did not start. */
const isLeaseRelease = (call: DynamoCall): boolean =>
  call.operation === 'UpdateItem' &&
  call.request.ConditionExpression === '#leaseOwner = :owner' &&
  String(call.request.UpdateExpression).includes('REMOVE');

/** A worker's heart-beat (a renewal conditioned on owner and epoch; the fence adds the expiry). */
const isHeartbeat = (call: DynamoCall): boolean =>
  call.operation === 'UpdateItem' &&
  call.request.ConditionExpression === '#leaseOwner = :owner AND #leaseEpoch = :epoch';

/** How many passes (runs reconciling the tag) each lease made: 1 + the times `finish` said 'again'. */
function passesOf(key: string): number[] {
  const passes: number[] = [];
  let owner: unknown;
  let startedAt: unknown;
  for (const change of runner.table.changesOf(key)) {
    const image = change.image;
    if (image?.leaseOwner !== undefined && image.leaseOwner !== owner) passes.push(1);
    else if (image?.leaseOwner !== undefined && image.startedAt !== startedAt)
      passes[passes.length - 1] = (passes.at(-1) ?? 0) + 1;
    owner = image?.leaseOwner;
    startedAt = image?.startedAt;
  }
  return passes;
}

describe('(1) a lease no build holds never swallows a request', () => {
  it('StartBuild fails and releasing the lease fails too: the deferred request takes the lease over and replicates', async () => {
    const repository = 'e2e/no-build';
    const key = keyOf(repository, 'v1');
    const image = dockerImage({ seed: 'faults-no-build' });
    await pushImage(runner.source, repository, image, 'v1');
    let refused = 0;
    runner.faults.startBuild = () =>
      refused++ === 0 ? Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }) : undefined;
    let releasesFailed = 0;
    runner.faults.dynamo = (call) => (isLeaseRelease(call) ? (releasesFailed++, 'throttle') : undefined);

    await runner.emitPush(repository, image, 'v1');
    await settle(repository, 'v1', image.root.digest);
    await expectReplicated(repository, 'v1', image.root.digest);

    expect(refused).toBeGreaterThanOrEqual(2);
    expect(releasesFailed).toBeGreaterThanOrEqual(1);
    // The history: the failed dispatch's lease (no build ever recorded) was taken over, not waited out.
    const intervals = leaseIntervals(runner.table.changesOf(key));
    expect(intervals.map((i) => i.end)).toEqual(['taken-over', 'released']);
    const first = runner.table.changesOf(key).filter((c) => c.image?.leaseOwner === intervals[0]?.owner);
    expect(first.every((c) => c.image?.leaseBuildId === undefined)).toBe(true);
    // ... at once, by the deferred request: not after the lease ran out, by the sweeper.
    const takeover = runner.table.changesOf(key).find((c) => c.seq === intervals[1]?.fromSeq);
    expect(Number(first.at(-1)?.image?.leaseExpiresAt)).toBeGreaterThan(Number(takeover?.image?.startedAt));
    expect(readFileSync(runner.logFile, 'utf8')).not.toMatch(
      new RegExp(`"message":"re-queued a stranded job".*"jobKey":"${key}"`),
    );
    expect(runner.codebuild.builds.filter((b) => b.jobKeys.includes(key)).map((b) => b.status)).toEqual(['SUCCEEDED']);
    expect(concurrencyViolations(runner.table.changesOf(key), runner.codebuild.builds)).toEqual([]);
    expectNoDeadLetters();
  }, 60_000);

  it('a StartBuild that never answers: the batch gives it up before its timeout, releases the lease, the deferred request replicates', async () => {
    const repository = 'e2e/timed-out';
    const key = keyOf(repository, 'v1');
    const image = dockerImage({ seed: 'faults-timed-out' });
    await pushImage(runner.source, repository, image, 'v1');
    const timeoutsBefore = runner.dispatcherTimeouts();
    let hung = 0;
    runner.faults.startBuildHangs = () => hung++ === 0;

    await runner.emitPush(repository, image, 'v1');
    await settle(repository, 'v1', image.root.digest);
    await expectReplicated(repository, 'v1', image.root.digest);

    expect(hung).toBeGreaterThan(0);
    // No timeout: a timed-out batch would have used up a receive of every message in it.
    expect(runner.dispatcherTimeouts() - timeoutsBefore).toBe(0);
    const changes = runner.table.changesOf(key);
    const intervals = leaseIntervals(changes);
    expect(intervals.map((i) => i.end)).toEqual(['released', 'released']);
    // The first lease never recorded a build: it covered nothing while it lasted.
    const firstLease = changes.filter(
      (c) => c.seq >= (intervals[0]?.fromSeq ?? 0) && c.seq < (intervals[1]?.fromSeq ?? 0),
    );
    expect(firstLease.every((c) => c.image?.leaseBuildId === undefined)).toBe(true);
    expect(readFileSync(runner.logFile, 'utf8')).toMatch(
      /"message":"could not start a worker build; releasing its leases".*did not answer in the time left/,
    );
    expectNoDeadLetters();
  }, 60_000);
});

describe('(3) one clock', () => {
  it('sync --enqueue from a clock 2 minutes fast, then pushes: the pushes replicate', async () => {
    const repository = 'e2e/skew';
    const tags = ['a', 'b', 'c'];
    const first = tags.map((tag) => dockerImage({ seed: `faults-skew-${tag}-1` }));
    for (const [i, tag] of tags.entries()) await pushImage(runner.source, repository, first[i] as SyntheticImage, tag);

    // The operator's clock is 2 minutes fast: every `new Date()` of the CLI says so, and of the scan Lambdas (in this
    // process) until the scan is done, so the requests they queue carry the fast stamps. The pipeline's clocks
    // (Date.now) are right.
    const RealDate = Date;
    class FastDate extends RealDate {
      constructor(...args: unknown[]) {
        if (args.length === 0) super(RealDate.now() + 120_000);
        else super(...(args as [string]));
      }
    }
    const stdout = new PassThrough();
    let text = '';
    stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const stderr = new PassThrough();
    stderr.resume();
    globalThis.Date = FastDate as DateConstructor;
    let code: number;
    try {
      code = await cli(
        [
          'sync',
          runner.source.host,
          runner.destination.host,
          '--json',
          '--dest-creds',
          `AWS:${runner.destinationCredentials.password}`,
          '--enqueue',
          runner.scan.queue.url,
        ],
        {
          stdout,
          stderr,
          env: {
            ...process.env,
            REPLICATION_CONFIG: JSON.stringify({ ...CONFIG, repositories: { include: [`prefix:${repository}`] } }),
          },
        },
      );
      await waitFor(() => runner.scan.busy().length === 0, { timeoutMs: 60_000, what: 'the scan to finish' });
    } finally {
      globalThis.Date = RealDate;
    }
    expect(code).toBe(0);
    const summary = JSON.parse(text.trim().split('\n').at(-1) as string) as Record<string, unknown>;
    expect(summary).toMatchObject({ mode: 'enqueue', repositories: 1, queued: 1 });
    const queued = runner.requestQueue.sent
      .map((m) => JSON.parse(m.body) as { origin?: string; eventTime: string; source: { repository: string } })
      .filter((r) => r.origin === 'sync' && r.source.repository === repository);
    expect(queued).toHaveLength(3);
    for (const request of queued) expect(Date.parse(request.eventTime)).toBeGreaterThan(Date.now() + 60_000);
    for (const [i, tag] of tags.entries()) await settle(repository, tag, (first[i] as SyntheticImage).root.digest);

    // Within the 2 minutes: real pushes, whose ECR event times are earlier than the sync requests' stamps.
    const second = tags.map((tag) => dockerImage({ seed: `faults-skew-${tag}-2` }));
    for (const [i, tag] of tags.entries()) {
      const image = second[i] as SyntheticImage;
      await pushImage(runner.source, repository, image, tag);
      await runner.emitPush(repository, image, tag);
    }
    for (const [i, tag] of tags.entries()) {
      const image = second[i] as SyntheticImage;
      await settle(repository, tag, image.root.digest);
      const record = await expectReplicated(repository, tag, image.root.digest);
      // The record holds the ECR event, not the sync request.
      expect(record?.desiredDigest).toBe(image.root.digest);
      expect(record?.origin).toBeUndefined();
    }
    expectNoDeadLetters();
  }, 90_000);
});

describe('(4) referrer tags are not rolled back by their subject’s job', () => {
  it('a second signature pushed during a slow subject copy ends at the destination', async () => {
    const repository = 'e2e/signed';
    const subject = dockerImage({ seed: 'faults-subject', layerSizes: Array.from({ length: 6 }, () => 256 * 1024) });
    const firstSignature = cosignSignature(subject.root, 'faults-signature-1');
    const secondSignature = cosignSignature(subject.root, 'faults-signature-2');
    expect(secondSignature.tag).toBe(firstSignature.tag);
    const sigKey = keyOf(repository, firstSignature.tag);
    await pushImage(runner.source, repository, subject, 'v1');
    await pushImage(runner.source, repository, firstSignature, firstSignature.tag);

    // The subject's job: it finds the first signature when it starts, copies slowly, and its tag write is held.
    const held = runner.destinationGate.hold((w) => w.tag === 'v1' && w.digest === subject.root.digest);
    runner.destinationLink.latencyMs = 100;
    try {
      await runner.emitPush(repository, subject, 'v1');
      await held.firstHeld;
    } finally {
      runner.destinationLink.latencyMs = 0;
    }
    // Meanwhile the second signature is pushed; its own job replicates it.
    await pushImage(runner.source, repository, secondSignature, secondSignature.tag);
    await runner.emitPush(repository, secondSignature, secondSignature.tag);
    await waitFor(
      () =>
        runner.destinationGate.tagWrites.some(
          (w) => w.tag === secondSignature.tag && w.digest === secondSignature.root.digest && w.outcome === 'forwarded',
        ),
      { timeoutMs: 30_000, what: 'the second signature to be written', describe: () => runner.busy().join(' | ') },
    );
    // The subject's job goes on: its tag, then its referrers.
    held.release();
    await settle(repository, 'v1', subject.root.digest);
    await waitFor(() => !runner.jobBusy(keyOf(repository, 'v1')) && !runner.jobBusy(sigKey), {
      timeoutMs: 30_000,
      what: 'both jobs to settle',
    });

    // The subject's tag write was the one held (not dropped and retried): the referrer step ran after the second push.
    const subjectWrites = runner.destinationGate.tagWrites.filter(
      (w) => w.repository === mirror(repository) && w.tag === 'v1',
    );
    expect(subjectWrites[0]).toMatchObject({ outcome: 'forwarded', digest: subject.root.digest });
    await expectReplicated(repository, 'v1', subject.root.digest);
    await expectReplicated(repository, secondSignature.tag, secondSignature.root.digest);
    // The first signature was never written over the second one.
    const sigWrites = runner.destinationGate.tagWrites.filter(
      (w) => w.repository === mirror(repository) && w.tag === firstSignature.tag,
    );
    const secondAt = sigWrites.findIndex((w) => w.digest === secondSignature.root.digest);
    expect(sigWrites.slice(secondAt).filter((w) => w.digest === firstSignature.root.digest)).toEqual([]);
    expectNoDeadLetters();
  }, 90_000);
});

describe('(5) fencing: a stale worker never moves the tag back', () => {
  it('failing heart-beats and a held tag PUT: the destination ends at the newest digest, no write without the lease', async () => {
    const repository = 'e2e/fenced';
    const key = keyOf(repository, 'v1');
    const older = dockerImage({ seed: 'faults-fenced-a' });
    const newer = dockerImage({ seed: 'faults-fenced-b' });
    await pushImage(runner.source, repository, older, 'v1');
    // Heart-beats fail (DynamoDB throttles them) and the first worker's tag PUT is held on the link.
    runner.faults.dynamo = (call) => (isHeartbeat(call) ? 'throttle' : undefined);
    const held = runner.destinationGate.hold((w) => w.tag === 'v1' && w.digest === older.root.digest);
    await runner.emitPush(repository, older, 'v1');
    await held.firstHeld;

    // The tag moves at the source; a second run writes it while the first PUT is still held.
    await pushImage(runner.source, repository, newer, 'v1');
    await runner.emitPush(repository, newer, 'v1');
    await waitFor(
      () => runner.destinationGate.tagWrites.some((w) => w.digest === newer.root.digest && w.outcome === 'forwarded'),
      {
        timeoutMs: 60_000,
        what: 'the second run to write the newer digest',
        describe: () => runner.busy().join(' | '),
      },
    );
    // Now the held PUT is let go: it must not land.
    held.release();
    delete runner.faults.dynamo;
    await settle(repository, 'v1', newer.root.digest);
    await expectReplicated(repository, 'v1', newer.root.digest);

    const writes = runner.destinationGate.tagWrites.filter(
      (w) => w.repository === mirror(repository) && w.tag === 'v1',
    );
    expect(writes.map((w) => [w.digest === older.root.digest ? 'older' : 'newer', w.outcome])).toEqual([
      ['older', 'dropped'],
      ['newer', 'forwarded'],
    ]);
    // The table history: every tag write that reached the registry was made under a lease fenced just before it.
    expect(unfencedWrites(runner.table.changesOf(key), writes, (runner.leaseSeconds * 1000) / 4)).toEqual([]);
    expect(concurrencyViolations(runner.table.changesOf(key), runner.codebuild.builds)).toEqual([]);
    // The first build did not pass for a success: its write was cancelled at the bound, and it was retried.
    const builds = runner.codebuild.builds.filter((b) => b.jobKeys.includes(key));
    expect(builds[0]?.status).toBe('FAILED');
    expect(builds.at(-1)?.status).toBe('SUCCEEDED');
    expectNoDeadLetters();
  }, 90_000);
});

describe('the sweeper', () => {
  it('re-queues a job whose lease expired while IN_PROGRESS and a job PENDING with nothing queued', async () => {
    const repository = 'e2e/stranded';
    const expired = dockerImage({ seed: 'faults-stranded-expired' });
    const pending = dockerImage({ seed: 'faults-stranded-pending' });
    await pushImage(runner.source, repository, expired, 'expired');
    await pushImage(runner.source, repository, pending, 'pending');
    const request = (tag: string, image: SyntheticImage) => ({
      version: 1 as const,
      eventId: `stranded-${tag}`,
      eventTime: new Date().toISOString(),
      action: 'PUSH' as const,
      source: { accountId: runner.sourceIdentity.account, region: runner.sourceIdentity.region, repository },
      destination: { repository: mirror(repository) },
      tag,
      digest: image.root.digest,
    });
    // A worker that died without its build-state event: IN_PROGRESS, its lease run out. And a request whose message
    // was lost: PENDING, nothing queued. No message exists for either.
    const now = Date.now();
    await runner.store.recordRequest(request('expired', expired), now - 60_000);
    await runner.store.acquireLease(keyOf(repository, 'expired'), 'ghost-build', 1_000, now - 60_000);
    await runner.store.recordRequest(request('pending', pending), now - 60_000);

    await settle(repository, 'expired', expired.root.digest, 60_000);
    await settle(repository, 'pending', pending.root.digest, 60_000);
    await expectReplicated(repository, 'expired', expired.root.digest);
    await expectReplicated(repository, 'pending', pending.root.digest);
    const logs = readFileSync(runner.logFile, 'utf8');
    for (const tag of ['expired', 'pending'])
      expect(logs).toMatch(new RegExp(`"message":"re-queued a stranded job".*"jobKey":"${keyOf(repository, tag)}"`));
    expect(logs).toMatch(/"StuckJobs":[1-9]/);
    expectNoDeadLetters();
  }, 90_000);
});

describe('ordering, with deliveries interleaved with running builds', () => {
  it('a newer push during a run marks it dirty; an older event during the second pass is covered and changes nothing', async () => {
    const repository = 'e2e/interleaved';
    const key = keyOf(repository, 'v1');
    const a = dockerImage({ seed: 'faults-interleaved-a' });
    const b = dockerImage({ seed: 'faults-interleaved-b' });
    const second = (offset: number) => new Date(Math.floor(Date.now() / 1000) * 1000 + offset * 1000);
    const event = (image: SyntheticImage, id: string, time: Date) =>
      runner.event({ action: 'PUSH', repository, tag: 'v1', digest: image.root.digest, id, time });
    const evA = event(a, '00000000-0000-4000-8000-00000000000a', second(-10));
    const evB = event(b, '00000000-0000-4000-8000-00000000000b', second(-5));
    // A late event of an earlier second (a push before A), and one of A's second with a smaller id.
    const evOld = event(a, '00000000-0000-4000-8000-000000000001', second(-20));
    const evSameSecondSmallerId = event(a, '00000000-0000-4000-8000-000000000002', second(-10));

    await pushImage(runner.source, repository, a, 'v1');
    const pass1 = runner.destinationGate.hold((w) => w.tag === 'v1' && w.digest === a.root.digest);
    await runner.emit(evA);
    await pass1.firstHeld;
    // During pass 1: B is pushed and its event arrives → the job is marked dirty.
    await pushImage(runner.source, repository, b, 'v1');
    const pass2 = runner.destinationGate.hold((w) => w.tag === 'v1' && w.digest === b.root.digest);
    await runner.emit(evB);
    await waitFor(async () => (await runner.job(key))?.dirty === true, {
      timeoutMs: 20_000,
      what: 'the job to be dirty',
    });
    pass1.release();
    await pass2.firstHeld;
    // During pass 2 (started after B was recorded): older events arrive. They are covered: no third pass.
    await runner.emit(evOld);
    await runner.emit(evSameSecondSmallerId);
    await waitFor(() => runner.requestQueue.size === 0, { timeoutMs: 20_000, what: 'the older events to be handled' });
    expect((await runner.job(key))?.dirty).toBe(false);
    pass2.release();
    await settle(repository, 'v1', b.root.digest);

    const record = await expectReplicated(repository, 'v1', b.root.digest);
    // The record keeps the newest event, whatever arrived after it.
    expect(record).toMatchObject({ lastEventId: evB.id, desiredDigest: b.root.digest });
    // One lease, two passes: A (dirty meanwhile), then B; the older events added none.
    expect(passesOf(key)).toEqual([2]);
    expect(runner.codebuild.builds.filter((x) => x.jobKeys.includes(key))).toHaveLength(1);
    expectNoDeadLetters();
  }, 90_000);
});
