/**
 * The fan-out scan end to end (issue 15): the scheduled repair sends one scan unit per repository of a source of 200
 * repositories, the scan Lambdas compare them in parallel (a repository larger than a page is split into pages
 * scanned by other invocations) and queue a request per tag that differs; the pipeline replicates them. Afterwards
 * the destination equals the source, nothing is dead-lettered, and a second scan finds nothing to do.
 *
 * Time scaled by 0.1 (the scan's 300 s timeout is 30 s here); 4 scan invocations at once (10 deployed); pages of 5
 * tags (1,000 deployed) so that one repository of 12 tags takes three pages.
 */
import { createLimiter } from '@ecr-replicate/oci';
import { parseScanUnitJson } from '@ecr-replicate/common';
import { dockerImage, listTags, pushImage } from '@ecr-replicate/testing';
import { startLocalRunner, type LocalRunner } from '../../src';

let runner: LocalRunner;
const REPOSITORIES = 200;
const BIG = 'fan/r011';
const BIG_TAGS = Array.from({ length: 12 }, (_, i) => `b${String(i).padStart(2, '0')}`);

beforeAll(async () => {
  runner = await startLocalRunner({
    config: {
      repositories: { include: ['prefix:fan/'] },
      mapping: { prefixes: [{ from: 'fan/', to: 'mirror/fan/' }] },
      deletes: true,
    },
    timeScale: 0.1,
    maxConcurrentBuilds: 4,
    // Requests trickle in from the scan units: gather them into full batches (one worker build per batch).
    batchingWindowMs: 1_000,
    scanMaxConcurrency: 4,
    scanPageTags: 5,
    logLevel: 'WARN',
  });
}, 60_000);

afterAll(async () => {
  await runner?.stop();
});

const name = (i: number): string => `fan/r${String(i).padStart(3, '0')}`;
const mirror = (repository: string): string => `mirror/${repository}`;

it(`fans out over ${REPOSITORIES} repositories: every tag replicated, the extra one deleted, 0 dead letters, a second scan finds nothing`, async () => {
  const started = Date.now();
  const [a, b, c] = ['fan-a', 'fan-b', 'fan-c'].map((seed) => dockerImage({ seed, layerSizes: [2 * 1024] })) as [
    ReturnType<typeof dockerImage>,
    ReturnType<typeof dockerImage>,
    ReturnType<typeof dockerImage>,
  ];
  const limit = createLimiter(8);
  // Four kinds of drift, one per repository in turn for half of them: a tag to copy beside an equal one, a tag at
  // another digest, an extra destination tag (deletes on), a repository the destination lacks; the other half equal.
  await Promise.all(
    Array.from({ length: REPOSITORIES }, (_, i) =>
      limit(async () => {
        const repository = name(i);
        switch (i % 8) {
          case 0:
            await pushImage(runner.source, repository, a, 'v1');
            await pushImage(runner.source, repository, b, 'v2');
            await pushImage(runner.destination, mirror(repository), a, 'v1');
            break;
          case 1:
            await pushImage(runner.source, repository, a, 'v1');
            await pushImage(runner.destination, mirror(repository), b, 'v1');
            break;
          case 2:
            await pushImage(runner.source, repository, a, 'v1');
            await pushImage(runner.destination, mirror(repository), a, 'v1');
            await pushImage(runner.destination, mirror(repository), c, 'old');
            break;
          case 3:
            await pushImage(runner.source, repository, a, 'v1');
            break;
          default:
            await pushImage(runner.source, repository, b, 'v1');
            await pushImage(runner.destination, mirror(repository), b, 'v1');
        }
      }),
    ),
  );
  for (const tag of BIG_TAGS) await pushImage(runner.source, BIG, c, tag);
  await pushImage(runner.source, 'other/unselected', a, 'v1');
  const pushed = Date.now();

  const summary = await runner.repair();
  expect(summary).toMatchObject({ repositories: REPOSITORIES, queued: REPOSITORIES, failed: 0 });
  await runner.waitForIdle(600_000);
  const done = Date.now();

  // The destination equals the source, repository by repository.
  const differences: string[] = [];
  await Promise.all(
    Array.from({ length: REPOSITORIES }, (_, i) =>
      limit(async () => {
        const repository = name(i);
        const [sourceTags, destinationTags] = await Promise.all([
          listTags(runner.source, repository),
          listTags(runner.destination, mirror(repository)),
        ]);
        if (JSON.stringify(sourceTags.sort()) !== JSON.stringify(destinationTags.sort()))
          differences.push(`${repository}: source ${sourceTags} destination ${destinationTags}`);
        for (const tag of sourceTags) {
          const [at, to] = await Promise.all([
            runner.digestAt('source', repository, tag),
            runner.digestAt('destination', mirror(repository), tag),
          ]);
          if (at !== to) differences.push(`${repository}:${tag} ${at} → ${to}`);
        }
      }),
    ),
  );
  expect(differences).toEqual([]);
  expect(await listTags(runner.destination, 'mirror/other/unselected')).toEqual([]);
  expect([
    runner.scan.deadLetterQueue.size,
    runner.requestDeadLetterQueue.size,
    runner.retryDeadLetterQueue.size,
    runner.eventsDeadLetterQueue.size,
  ]).toEqual([0, 0, 0, 0]);

  // One unit per repository, and the large repository's further pages (5 tags a page: (b04, b09] and (b09, …);
  // its scan order is b00 … b11, v1).
  const units = runner.scan.queue.sent.map((m) => parseScanUnitJson(m.body));
  expect(units.filter((u) => u.after === undefined && u.part === 0)).toHaveLength(REPOSITORIES);
  expect(
    units.filter((u) => u.sourceRepository === BIG && u.after !== undefined).map((u) => [u.after, u.until]),
  ).toEqual([
    ['b04', 'b09'],
    ['b09', undefined],
  ]);
  expect(new Set(units.map((u) => u.scanId)).size).toBe(1);
  // Each differing tag was queued once: 25 of each kind, and the large repository's 12 more (its v1 is a copy).
  // (The request queue also carries the dispatcher's deferrals, forwarded with deduplication ids of their own.)
  const fromScan = (): Array<{ origin?: string; destination: { repository: string }; tag?: string }> =>
    runner.requestQueue.sent
      .filter((m) => (m.deduplicationId ?? '').startsWith('sync-'))
      .map((m) => JSON.parse(m.body) as { origin?: string; destination: { repository: string }; tag?: string });
  const requests = fromScan().length;
  expect(requests).toBe(4 * 25 + BIG_TAGS.length);
  expect(new Set(fromScan().map((r) => `${r.destination.repository}:${r.tag}`)).size).toBe(requests);
  expect(fromScan().every((r) => r.origin === 'repair')).toBe(true);
  const jobs = await runner.jobs();
  expect(jobs.filter((j) => j.status !== 'COMPLETE')).toEqual([]);

  // A second scan: nothing differs, nothing is queued.
  expect(await runner.repair()).toMatchObject({ repositories: REPOSITORIES, queued: REPOSITORIES });
  await runner.waitForIdle(300_000);
  expect(fromScan()).toHaveLength(requests);
  expect(runner.scan.deadLetterQueue.size).toBe(0);

  process.stdout.write(
    `fan-out: ${REPOSITORIES} repositories (+ ${BIG_TAGS.length} tags in ${BIG}), ${units.length} scan units ` +
      `(${runner.invocations().scan} scan invocations over two scans), ${requests} requests, ` +
      `${runner.codebuild.builds.length} worker builds; pushed in ${((pushed - started) / 1000).toFixed(1)} s, ` +
      `scanned and replicated in ${((done - pushed) / 1000).toFixed(1)} s\n`,
  );
}, 900_000);
