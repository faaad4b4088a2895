/**
 * End to end on the local runner: ECR events → the real ingest handler → the
 * FIFO queue → the real dispatcher → worker builds (the compiled worker in
 * child processes) → the destination registry, with the build-state and retry
 * handlers closing the loop. Registries and DynamoDB are real local servers;
 * only SQS, CodeBuild StartBuild, ECR tokens and Secrets Manager are stubbed
 * at the SDK client. Delete replication is on; the repositories map
 * `e2e/` → `mirror/e2e/`.
 */
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { JobRecord } from '@ecr-replicate/common';
import { main as cli } from '@ecr-replicate/cli';
import {
  artifactWithSubject,
  cosignSignature,
  dockerImage,
  dockerManifestList,
  ociIndex,
  pushImage,
  pushReferrer,
  registryRequest,
  type SyntheticImage,
} from '@ecr-replicate/testing';
import {
  concurrencyViolations,
  eventTime,
  leaseIntervals,
  startLocalRunner,
  waitFor,
  type IngestOutcome,
  type LocalBuild,
  type LocalRunner,
} from '../../src';

let runner: LocalRunner;

const CONFIG = { deletes: true, mapping: { prefixes: [{ from: 'e2e/', to: 'mirror/e2e/' }] } };
const mirror = (repository: string): string => repository.replace(/^e2e\//, 'mirror/e2e/');
const keyOf = (repository: string, tag: string): string => `${mirror(repository)}:${tag}`;

beforeAll(async () => {
  // Real delays, scaled: a 30 s retry delay lasts 0.6 s, a 360 s visibility timeout 7.2 s (but never under the
  // dispatcher's floored timeout). Leases are short enough to run out within a test (600 s → 12 s, renewed every 4 s by
  // the workers), and CodeBuild's queue timeout stays under them (8 min → 9.6 s), as deployed.
  runner = await startLocalRunner({ config: CONFIG, timeScale: 0.02, leaseSeconds: 600, buildQueuedTimeoutMinutes: 8 });
}, 60_000);

afterAll(async () => {
  await runner?.stop();
});

/** Fails with the components' state when something went to a dead-letter queue. */
function expectNoDeadLetters(): void {
  expect([
    runner.requestDeadLetterQueue.size,
    runner.retryDeadLetterQueue.size,
    runner.eventsDeadLetterQueue.size,
  ]).toEqual([0, 0, 0]);
}

async function expectReplicated(repository: string, tag: string, digest: string): Promise<JobRecord | undefined> {
  expect(await runner.digestAt('source', repository, tag)).toBe(digest);
  expect(await runner.digestAt('destination', mirror(repository), tag)).toBe(digest);
  const record = await runner.job(keyOf(repository, tag));
  expect(record).toMatchObject({ status: 'COMPLETE', replicatedDigest: digest, dirty: false });
  expect(record?.leaseOwner).toBeUndefined();
  return record;
}

function buildsWith(keys: readonly string[]): LocalBuild[] {
  return runner.codebuild.builds.filter((b) => b.jobKeys.some((k) => keys.includes(k)));
}

describe('push → replicated with equal digests', () => {
  it('replicates every image kind: OCI index, Docker manifest list, single image, signed image, artifact with a subject', async () => {
    const platforms = [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
      { os: 'linux', architecture: 'ppc64le' },
    ];
    const oci = ociIndex({ platforms, seed: 'e2e-oci' });
    const list = dockerManifestList({ platforms, seed: 'e2e-list' });
    const single = dockerImage({ seed: 'e2e-single' });
    const signed = dockerImage({ seed: 'e2e-signed' });
    const signature = cosignSignature(signed.root, 'e2e-signature');
    const subject = ociIndex({ platforms: platforms.slice(0, 2), seed: 'e2e-subject' });
    const sbom = artifactWithSubject(subject.root, { artifactType: 'application/spdx+json', seed: 'e2e-sbom' });

    await pushImage(runner.source, 'e2e/kinds/oci', oci, 'v1');
    await pushImage(runner.source, 'e2e/kinds/list', list, 'v1');
    await pushImage(runner.source, 'e2e/kinds/single', single, 'v1');
    await pushImage(runner.source, 'e2e/kinds/signed', signed, 'v1');
    await pushImage(runner.source, 'e2e/kinds/signed', signature, signature.tag);
    await pushImage(runner.source, 'e2e/kinds/artifact', subject, 'v1');
    const referrers = await pushReferrer(runner.source, 'e2e/kinds/artifact', subject.root, sbom);

    const outcomes = [
      ...(await runner.emitPush('e2e/kinds/oci', oci, 'v1')),
      ...(await runner.emitPush('e2e/kinds/list', list, 'v1')),
      ...(await runner.emitPush('e2e/kinds/single', single, 'v1')),
      ...(await runner.emitPush('e2e/kinds/signed', signed, 'v1')),
      ...(await runner.emitPush('e2e/kinds/signed', signature, signature.tag)),
      ...(await runner.emitPush('e2e/kinds/artifact', subject, 'v1')),
      // ECR supports the referrers API: pushing the SBOM is a tagless push of its manifest.
      ...(await runner.emitPush('e2e/kinds/artifact', sbom)),
    ];
    // Tagless pushes (an index's children, the artifact) are ignored; each tag is one request.
    const tagless = outcomes.filter((o) => o.event.detail['image-tag'] === undefined);
    expect(tagless).toHaveLength(3 + 3 + 2 + 1);
    for (const { outcome } of tagless) expect(outcome).toEqual({ kind: 'dropped', reason: 'tagless-push' });
    for (const { outcome, event } of outcomes.filter((o) => o.event.detail['image-tag'] !== undefined)) {
      expect(outcome).toMatchObject({
        kind: 'sent',
        jobKey: keyOf(event.detail['repository-name'], event.detail['image-tag'] as string),
      });
    }

    await runner.waitForIdle(60_000);
    expectNoDeadLetters();

    for (const [repository, image] of [
      ['e2e/kinds/oci', oci],
      ['e2e/kinds/list', list],
      ['e2e/kinds/single', single],
      ['e2e/kinds/signed', signed],
      ['e2e/kinds/artifact', subject],
    ] as const) {
      const record = await expectReplicated(repository, 'v1', image.root.digest);
      expect(record?.bytesCopied).toBeGreaterThan(0);
      // Every platform manifest, by digest.
      for (const manifest of image.manifests)
        expect(await runner.digestAt('destination', mirror(repository), manifest.digest)).toBe(manifest.digest);
    }
    // The signature came with its subject (and its own event found it already there).
    await expectReplicated('e2e/kinds/signed', signature.tag, signature.root.digest);
    // The artifact came with its subject: its manifest and the referrers tag of the subject.
    expect(await runner.digestAt('destination', 'mirror/e2e/kinds/artifact', sbom.root.digest)).toBe(sbom.root.digest);
    expect(await runner.digestAt('destination', 'mirror/e2e/kinds/artifact', referrers.tag)).toBe(
      referrers.index.digest,
    );
    // No job for a digest: the tagless events never reached the table.
    expect((await runner.jobs()).filter((j) => j.jobKey.includes('@'))).toEqual([]);
  }, 90_000);
});

describe('out of order', () => {
  /**
   * A tag pushed three times quickly: the three events carry the same time
   * (EventBridge's resolution is one second) and, in the worst case, ids in
   * the opposite order of the pushes. Each event is delivered as soon as its
   * push happened and its turn in the permutation came, and the pipeline
   * settles before the next delivery (so later events find earlier runs
   * finished). Every permutation must end at the last pushed digest.
   */
  const permutations = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
  ];

  it('ends at the last pushed digest for every delivery order of three pushes of one tag', async () => {
    const repository = 'e2e/order';
    const time = eventTime();
    await Promise.all(
      permutations.map(async (order, p) => {
        const tag = `p${order.join('')}`;
        const key = keyOf(repository, tag);
        const images = [0, 1, 2].map((n) => dockerImage({ seed: `e2e-order-${tag}-${n}` }));
        const events = images.map((image, n) =>
          runner.event({
            action: 'PUSH',
            repository,
            tag,
            digest: image.root.digest,
            mediaType: image.root.mediaType,
            time,
            id: `0000000${p}-0000-4000-8000-00000000000${9 - n}`,
          }),
        );
        let pushed = -1;
        for (const next of order) {
          while (pushed < next) {
            pushed += 1;
            await pushImage(runner.source, repository, images[pushed] as SyntheticImage, tag);
          }
          const outcome: IngestOutcome = await runner.emit(events[next] as (typeof events)[number]);
          expect(outcome).toMatchObject({ kind: 'sent', jobKey: key });
          await runner.waitForJob(key, 30_000);
        }
        const last = images[2] as SyntheticImage;
        expect(await runner.digestAt('destination', mirror(repository), tag)).toBe(last.root.digest);
      }),
    );
    await runner.waitForIdle(30_000);
    for (const order of permutations) {
      const tag = `p${order.join('')}`;
      await expectReplicated(repository, tag, dockerImage({ seed: `e2e-order-${tag}-2` }).root.digest);
    }
    expectNoDeadLetters();
  }, 120_000);
});

describe('a worker killed mid-copy', () => {
  it('is retried through the build-state event and the retry queue, and converges with no lease left held', async () => {
    const repository = 'e2e/killed';
    const key = keyOf(repository, 'v1');
    // Eight 512 KiB layers behind a slow link (150 ms each way per request): the copy takes seconds.
    const image = dockerImage({ seed: 'e2e-killed', layerSizes: Array.from({ length: 8 }, () => 512 * 1024) });
    await pushImage(runner.source, repository, image, 'v1');
    runner.destinationLink.latencyMs = 150;
    runner.destinationLink.clearRequests();
    let killed: LocalBuild | undefined;
    try {
      expect(await runner.emitPush(repository, image, 'v1')).toEqual([
        expect.objectContaining({ outcome: expect.objectContaining({ kind: 'sent' }) }),
      ]);
      // Mid-copy: the worker has begun uploading blobs to the destination.
      await waitFor(
        () => runner.destinationLink.requests.some((r) => r.url.startsWith(`/v2/${mirror(repository)}/blobs/uploads/`)),
        {
          timeoutMs: 30_000,
          what: 'the worker to start uploading',
        },
      );
      killed = runner.codebuild.builds.find((b) => b.status === 'IN_PROGRESS' && b.jobKeys.includes(key));
      expect(killed).toBeDefined();
      expect(runner.codebuild.kill((killed as LocalBuild).id, 'SIGKILL')).toBe(true);
      await (killed as LocalBuild).finished;
      expect(await runner.digestAt('destination', mirror(repository), 'v1')).toBeUndefined();
      runner.destinationLink.latencyMs = 0;
      await runner.waitForIdle(60_000);
    } finally {
      runner.destinationLink.latencyMs = 0;
    }

    const dead = killed as LocalBuild;
    expect(dead).toMatchObject({ status: 'FAILED', signal: 'SIGKILL' });
    // The build-state handler released the job and queued a retry after the first backoff (30 s, scaled).
    const retries = runner.retryQueue.sent.filter(
      (m) => m.body.includes(`"tag":"v1"`) && m.body.includes(`"repository":"${mirror(repository)}"`),
    );
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({
      delaySeconds: 30,
      attributes: { attempt: { DataType: 'Number', StringValue: '1' } },
    });
    // ... which the retry handler forwarded to the request queue, and a new build finished the job.
    const later = buildsWith([key]).filter((b) => b.queuedAt > (dead.endedAt ?? 0));
    expect(later.map((b) => b.status)).toEqual(['SUCCEEDED']);
    const record = await expectReplicated(repository, 'v1', image.root.digest);
    expect(record?.attempts).toBe(1);
    expect(record?.lastError).toBeUndefined();

    // The history: the dead build's lease was released (by the build-state handler) before the next build took the job.
    const intervals = leaseIntervals(runner.table.changesOf(key));
    expect(intervals.map((i) => [i.owner === dead.leaseOwner ? 'killed' : 'retry', i.end])).toEqual([
      ['killed', 'released'],
      ['retry', 'released'],
    ]);
    expect(concurrencyViolations(runner.table.changesOf(key), runner.codebuild.builds)).toEqual([]);
    expectNoDeadLetters();
  }, 120_000);
});

describe('a burst of 50 tags across 5 repositories', () => {
  it('replicates all, never with two workers on one tag, in fewer builds than tags', async () => {
    const tags = Array.from({ length: 50 }, (_, i) => ({
      repository: `e2e/burst-${i % 5}`,
      tag: `t${String(i).padStart(2, '0')}`,
    }));
    const keys = tags.map((t) => keyOf(t.repository, t.tag));
    /** What each tag must end at: its last push. */
    const latest = new Map<number, SyntheticImage>();
    const push = async (i: number, seed: string): Promise<void> => {
      const t = tags[i] as (typeof tags)[number];
      const image = dockerImage({ seed, layerSizes: [16 * 1024, 8 * 1024] });
      await pushImage(runner.source, t.repository, image, t.tag);
      latest.set(i, image);
    };
    const eventOf = (i: number) => {
      const t = tags[i] as (typeof tags)[number];
      return runner.event({
        action: 'PUSH',
        repository: t.repository,
        tag: t.tag,
        digest: (latest.get(i) as SyntheticImage).root.digest,
      });
    };
    for (let i = 0; i < tags.length; i += 10)
      await Promise.all(Array.from({ length: 10 }, (_, j) => push(i + j, `e2e-burst-${i + j}`)));
    const first = tags.map((_t, i) => eventOf(i));
    const outcomes = await Promise.all(first.map((event) => runner.emit(event)));
    expect(outcomes.every((o) => o.kind === 'sent')).toBe(true);

    // While the first builds run: ten tags are pushed again (their jobs are held: marked dirty), and EventBridge
    // delivers five events twice.
    await waitFor(() => buildsWith(keys).some((b) => b.status === 'IN_PROGRESS'), {
      timeoutMs: 30_000,
      what: 'a burst build to start',
    });
    const duplicatesBefore = runner.requestQueue.duplicatesDropped;
    await Promise.all(Array.from({ length: 10 }, (_, i) => push(i, `e2e-burst-again-${i}`)));
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => runner.emit(eventOf(i))),
      ...first.slice(20, 25).map((event) => runner.emit(event)),
    ]);
    expect(runner.requestQueue.duplicatesDropped - duplicatesBefore).toBe(5);

    // Five tags whose job is done are pushed again: new builds take them while earlier builds may still run.
    const done = await waitFor(
      async () => {
        const complete = (await runner.jobs())
          .filter((j) => j.status === 'COMPLETE' && keys.indexOf(j.jobKey) >= 10)
          .map((j) => keys.indexOf(j.jobKey));
        return complete.length >= 5 ? complete.slice(0, 5) : false;
      },
      { timeoutMs: 60_000, what: 'five burst jobs to complete' },
    );
    await Promise.all(done.map((i) => push(i, `e2e-burst-late-${i}`)));
    await Promise.all(done.map((i) => runner.emit(eventOf(i))));

    await runner.waitForIdle(120_000);
    expectNoDeadLetters();
    for (const [i, t] of tags.entries())
      await expectReplicated(t.repository, t.tag, (latest.get(i) as SyntheticImage).root.digest);

    const builds = buildsWith(keys);
    // A build either ran and succeeded, or waited in CodeBuild's queue past its (scaled) timeout without running: its
    // jobs went back without an attempt counted.
    const ran = builds.filter((b) => b.startedAt !== undefined);
    expect(ran.every((b) => b.status === 'SUCCEEDED')).toBe(true);
    expect(builds.filter((b) => b.startedAt === undefined).every((b) => b.status === 'TIMED_OUT')).toBe(true);
    expect(ran.length).toBeLessThan(tags.length);
    for (const key of keys) expect((await runner.job(key))?.attempts).toBe(0);
    // The state history: every job-table change of these tags, in order.
    const changes = runner.table.changes.filter((c) => keys.includes(c.key));
    expect(new Set(changes.map((c) => c.key)).size).toBe(50);
    const intervals = leaseIntervals(changes);
    // Nothing left held. A lease may end taken over only when no started build held it (a dispatch that timed out
    // before its StartBuild, under load) or it had run out: concurrencyViolations below tells those from a violation.
    for (const interval of intervals) expect(interval.end).not.toBe('held');
    // The late pushes were reconciled by a later lease of another build.
    for (const i of done)
      expect(new Set(intervals.filter((iv) => iv.key === keys[i]).map((iv) => iv.owner)).size).toBeGreaterThanOrEqual(
        2,
      );
    expect(concurrencyViolations(changes, runner.codebuild.builds)).toEqual([]);
    expect(runner.table.unrecordedWrites).toEqual([]);
    process.stdout.write(
      `burst: ${tags.length} tags, ${ran.length} builds ran (jobs per build: ${ran.map((b) => b.jobKeys.length).join(' ')}), ${builds.length - ran.length} timed out in the queue, ${changes.length} job-table changes\n`,
    );
  }, 180_000);
});

describe('deletes and tagless events', () => {
  it('removes a deleted tag at the destination (deletes are on), leaves the other tags, and ignores tagless pushes', async () => {
    const repository = 'e2e/deletes';
    const keep = dockerImage({ seed: 'e2e-delete-keep' });
    const gone = dockerImage({ seed: 'e2e-delete-gone' });
    const index = ociIndex({
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
      seed: 'e2e-delete-index',
    });
    await pushImage(runner.source, repository, keep, 'keep');
    await pushImage(runner.source, repository, gone, 'gone');
    await pushImage(runner.source, repository, index, 'index');
    await runner.emitPush(repository, keep, 'keep');
    await runner.emitPush(repository, gone, 'gone');
    await runner.emitPush(repository, index, 'index');
    await runner.waitForIdle(60_000);
    await expectReplicated(repository, 'gone', gone.root.digest);

    // Delete `gone` at the source; ECR reports it with its tag.
    expect(
      (await registryRequest(runner.source, 'DELETE', `/v2/${repository}/manifests/${gone.root.digest}`)).status,
    ).toBe(202);
    expect(await runner.emitDelete(repository, gone.root.digest, 'gone')).toMatchObject({
      kind: 'sent',
      jobKey: keyOf(repository, 'gone'),
    });
    // A tagless DELETE of an index child the source still holds changes nothing.
    const child = index.manifests[0] as SyntheticImage['root'];
    expect(await runner.emitDelete(repository, child.digest)).toMatchObject({
      kind: 'sent',
      jobKey: `${mirror(repository)}@${child.digest}`,
    });
    await runner.waitForIdle(60_000);

    expect(await runner.digestAt('destination', mirror(repository), 'gone')).toBeUndefined();
    const removed = await runner.job(keyOf(repository, 'gone'));
    expect(removed).toMatchObject({ status: 'COMPLETE', action: 'DELETE' });
    expect(removed?.replicatedDigest).toBeUndefined();
    await expectReplicated(repository, 'keep', keep.root.digest);
    await expectReplicated(repository, 'index', index.root.digest);
    expect(await runner.digestAt('destination', mirror(repository), child.digest)).toBe(child.digest);
    expect(await runner.job(`${mirror(repository)}@${child.digest}`)).toMatchObject({ status: 'COMPLETE' });
    expectNoDeadLetters();
  }, 90_000);
});

describe('backfill through the queue: ecr-replicate sync --enqueue', () => {
  it('queues what differs for the workers, after which a dry run plans nothing', async () => {
    const repository = 'e2e/sync';
    // Images that were there before the stack (no events), and a tag that moved without one.
    const before = ['a', 'b', 'c'].map((tag) => ({ tag, image: dockerImage({ seed: `e2e-sync-${tag}` }) }));
    for (const { tag, image } of before) await pushImage(runner.source, repository, image, tag);
    await runner.emitPush(repository, (before[2] as (typeof before)[number]).image, 'c');
    await runner.waitForIdle(60_000);
    const moved = dockerImage({ seed: 'e2e-sync-c-moved' });
    await pushImage(runner.source, repository, moved, 'c');

    const sync = async (...args: string[]): Promise<{ code: number; lines: Array<Record<string, unknown>> }> => {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let text = '';
      stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      stderr.resume();
      const env = {
        ...process.env,
        REPLICATION_CONFIG: JSON.stringify({ ...CONFIG, repositories: { include: [`prefix:${repository}`] } }),
      };
      const code = await cli(
        [
          'sync',
          runner.source.host,
          runner.destination.host,
          '--json',
          '--dest-creds',
          `AWS:${runner.destinationCredentials.password}`,
          ...args,
        ],
        {
          stdout,
          stderr,
          env,
        },
      );
      return {
        code,
        lines: text
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      };
    };

    // One scan unit for the repository on the scan queue; the scan Lambda compares and queues what differs.
    const queued = await sync('--enqueue', runner.scan.queue.url);
    expect(queued.code).toBe(0);
    expect(queued.lines.at(-1)).toMatchObject({ mode: 'enqueue', repositories: 1, queued: 1 });
    await runner.waitForIdle(60_000);
    const requests = runner.requestQueue.sent
      .map((m) => JSON.parse(m.body) as { origin?: string; tag?: string; source: { repository: string } })
      .filter((r) => r.origin === 'sync' && r.source.repository === repository);
    expect(requests.map((r) => r.tag).sort()).toEqual(['a', 'b', 'c']);
    await expectReplicated(repository, 'a', (before[0] as (typeof before)[number]).image.root.digest);
    await expectReplicated(repository, 'b', (before[1] as (typeof before)[number]).image.root.digest);
    await expectReplicated(repository, 'c', moved.root.digest);

    const dryRun = await sync('--dry-run');
    expect(dryRun.code).toBe(0);
    expect(dryRun.lines.at(-1)).toMatchObject({ copy: 0, update: 0, delete: 0, equal: true });
    expectNoDeadLetters();
  }, 90_000);
});

describe('the pipeline as a whole', () => {
  it('ran every handler, left no message, build or lease behind, and kept the test-only secrets out of the logs', async () => {
    await runner.waitForIdle(30_000);
    const invocations = runner.invocations();
    // Every build-state event reached its handler once: when the build started and when it ended (only the end for
    // a build that timed out in the queue).
    const stateEvents = runner.codebuild.builds.reduce((n, b) => n + (b.startedAt === undefined ? 1 : 2), 0);
    expect(invocations.buildState).toBe(stateEvents);
    // Every request message was dispatched (at most 10 per invocation), every retry message forwarded.
    expect(invocations.dispatcher).toBeGreaterThanOrEqual(Math.ceil(runner.requestQueue.sent.length / 10));
    expect(invocations.retry).toBeGreaterThanOrEqual(Math.ceil(runner.retryQueue.sent.length / 10));
    expect(runner.retryQueue.sent.length).toBeGreaterThan(0);
    const fromIngest = runner.requestQueue.sent.filter((m) => !(m.deduplicationId ?? '').startsWith('retry-'));
    expect(invocations.ingest).toBeGreaterThanOrEqual(fromIngest.length);
    const held = (await runner.jobs()).filter((j) => j.leaseOwner !== undefined || j.status !== 'COMPLETE');
    expect(held).toEqual([]);
    // Build-state events carry the build's variables, never the stubs' inputs.
    for (const build of runner.codebuild.builds) {
      expect(build.variables.map((v) => v.name)).toEqual(
        expect.arrayContaining(['JOB_KEYS', 'LEASE_OWNER', 'JOB_TABLE', 'DEST_SECRET_ID', 'REPLICATION_CONFIG']),
      );
      expect(build.variables.some((v) => v.name.startsWith('LOCAL_'))).toBe(false);
      expect(build.output()).not.toContain(runner.destinationCredentials.password);
    }
    const logs = readFileSync(runner.logFile, 'utf8');
    expect(logs).toContain('"message":"job reconciled"');
    expect(logs).toContain('"message":"worker build died; retrying its unfinished jobs"');
    for (const secret of [
      runner.destinationCredentials.password,
      Buffer.from(`AWS:${runner.destinationCredentials.password}`).toString('base64'),
      'local-destination-fake-secret-access-key',
    ]) {
      expect(logs).not.toContain(secret);
    }
  });
});
