/**
 * Capacity is back-pressure, not failure (issue 13, case 2): tags pushed at
 * once against a CodeBuild that runs 3 builds and queues at most 15 more,
 * refusing StartBuild past that (AccountLimitExceededException). Every tag
 * must replicate with nothing dead-lettered and no attempt counted against
 * any job. Time is scaled by 0.1 (lease 90 s, CodeBuild's queue timeout
 * 60 s, deferrals 1 to 30 s): a build here takes seconds, as one takes a
 * minute in CodeBuild, so a queue of 15 behind 3 must fit in the queue
 * timeout as it does deployed (at 0.02 every queued build would time out).
 *
 * `npm test` runs 200 tags (20 batches against 18 places: StartBuild is
 * refused many times over), which fits the CI budget on two cores; the
 * issue's 2,000 is `CAPACITY_TAGS=2000 npx jest test/e2e/e2e-capacity.test.ts`
 * in packages/local (several minutes: about 200 worker processes).
 */
import { dockerImage, putManifest, pushImage } from '@ecr-replicate/testing';
import { createLimiter } from '@ecr-replicate/oci';
import { startLocalRunner, waitFor, type LocalRunner } from '../../src';

let runner: LocalRunner;
const TAGS = Number(process.env.CAPACITY_TAGS ?? 200);
const REPOSITORY = 'e2e/capacity';

beforeAll(async () => {
  runner = await startLocalRunner({
    config: { mapping: { prefixes: [{ from: 'e2e/', to: 'mirror/e2e/' }] } },
    timeScale: 0.1,
    maxConcurrentBuilds: 3,
    maxQueuedBuilds: 15,
    logLevel: 'WARN',
  });
}, 60_000);

afterAll(async () => {
  await runner?.stop();
});

it(
  `replicates ${TAGS} tags through 3 running + 15 queued builds: every tag, 0 dead letters, no attempt used`,
  async () => {
    const started = Date.now();
    const image = dockerImage({ seed: 'capacity', layerSizes: [4 * 1024] });
    await pushImage(runner.source, REPOSITORY, image);
    const tags = Array.from({ length: TAGS }, (_, i) => `t${String(i).padStart(4, '0')}`);
    const limit = createLimiter(16);
    await Promise.all(tags.map((tag) => limit(() => putManifest(runner.source, REPOSITORY, tag, image.root))));
    // The first builds' tag writes wait on the link until CodeBuild has refused a build: capacity runs out whatever
    // the machine's speed (on a fast one, 20 batches could otherwise drain through 18 places).
    const slowLink = runner.destinationGate.hold(() => true);
    await Promise.all(
      tags.map((tag) =>
        limit(() =>
          runner.emit(
            runner.event({
              action: 'PUSH',
              repository: REPOSITORY,
              tag,
              digest: image.root.digest,
              mediaType: image.root.mediaType,
            }),
          ),
        ),
      ),
    );
    const emitted = Date.now();
    await waitFor(() => runner.codebuild.refused > 0, { timeoutMs: 60_000, what: 'CodeBuild to refuse a build' });
    slowLink.release();

    await waitFor(
      async () => {
        if (runner.busy().length > 0) return false;
        const jobs = await runner.jobs();
        return jobs.filter((j) => j.status === 'COMPLETE' && j.leaseOwner === undefined).length >= TAGS;
      },
      {
        timeoutMs: 60_000 + TAGS * 1_000,
        intervalMs: 500,
        what: 'every tag to replicate',
        describe: () => runner.busy().join(' | '),
      },
    );

    expect([
      runner.requestDeadLetterQueue.size,
      runner.retryDeadLetterQueue.size,
      runner.eventsDeadLetterQueue.size,
    ]).toEqual([0, 0, 0]);
    const jobs = await runner.jobs();
    expect(jobs).toHaveLength(TAGS);
    for (const job of jobs)
      expect(job).toMatchObject({ status: 'COMPLETE', replicatedDigest: image.root.digest, attempts: 0 });
    const missing: string[] = [];
    await Promise.all(
      tags.map((tag) =>
        limit(async () => {
          if ((await runner.digestAt('destination', `mirror/${REPOSITORY}`, tag)) !== image.root.digest)
            missing.push(tag);
        }),
      ),
    );
    expect(missing).toEqual([]);
    // Back-pressure happened: StartBuild was refused past the queue limit, and the refused work came back later.
    expect(runner.codebuild.refused).toBeGreaterThan(0);
    const builds = runner.codebuild.builds;
    // Never more than 3 running + 15 queued at once: each build, when it was queued, found at most 17 others active.
    const peakActive = Math.max(
      ...builds.map(
        (b) => builds.filter((o) => o.queuedAt <= b.queuedAt && (o.endedAt ?? Infinity) > b.queuedAt).length,
      ),
    );
    expect(peakActive).toBeLessThanOrEqual(15 + 3);
    const timedOutInQueue = builds.filter((b) => b.status === 'TIMED_OUT').length;
    process.stdout.write(
      `capacity: ${TAGS} tags, ${builds.length} builds (${timedOutInQueue} timed out in the queue, at most ${peakActive} queued or running), ` +
        `${runner.codebuild.refused} StartBuild calls refused, ${runner.invocations().dispatcher} dispatcher invocations, ` +
        `${runner.retryQueue.sent.length} deferrals/retries; pushed+emitted in ${((emitted - started) / 1000).toFixed(1)} s, ` +
        `replicated in ${((Date.now() - emitted) / 1000).toFixed(1)} s\n`,
    );
  },
  180_000 + TAGS * 700,
);
