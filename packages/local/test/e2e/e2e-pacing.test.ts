/**
 * Throttling slows the pipeline down; it never fails a job (issue 15, "pace at the quotas"). The destination enforces
 * a PutImage quota (the gate answers 429 TOOMANYREQUESTS past it, as ECR does) three times lower than the rate the
 * workers were configured to pace at (an account whose quota is lower than configured, or shared with other
 * clients). Every tag must replicate with no job retried (attempts 0), nothing dead-lettered, and the destination
 * must have throttled: the workers' shared budget slowed down on the 429s and their requests were tried again.
 * Time is scaled by 0.1 (leases, queue timeouts); the quota is scaled to the run (4 PutImage/s).
 */
import { readFileSync } from 'node:fs';
import { dockerImage, putManifest, pushImage } from '@ecr-replicate/testing';
import { createLimiter } from '@ecr-replicate/oci';
import { startLocalRunner, waitFor, type LocalRunner } from '../../src';

let runner: LocalRunner;
const TAGS = 24;
const REPOSITORY = 'e2e/paced';
const QUOTA = 4;

beforeAll(async () => {
  runner = await startLocalRunner({
    config: { mapping: { prefixes: [{ from: 'e2e/', to: 'mirror/e2e/' }] } },
    timeScale: 0.1,
    maxConcurrentBuilds: 3,
    destinationQuotas: { PutImage: QUOTA },
    workerPacing: `PutImage=${QUOTA * 3}`,
    logLevel: 'INFO',
  });
}, 60_000);

afterAll(async () => {
  await runner?.stop();
});

it(`replicates ${TAGS} tags through a destination that throttles past ${QUOTA} PutImage/s: no job retried, none failed`, async () => {
  const image = dockerImage({ seed: 'paced', layerSizes: [2 * 1024] });
  await pushImage(runner.source, REPOSITORY, image);
  const tags = Array.from({ length: TAGS }, (_, i) => `t${String(i).padStart(2, '0')}`);
  const limit = createLimiter(8);
  await Promise.all(tags.map((tag) => limit(() => putManifest(runner.source, REPOSITORY, tag, image.root))));
  const started = Date.now();
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
  await waitFor(
    async () => {
      if (runner.busy().length > 0) return false;
      const jobs = await runner.jobs();
      return jobs.filter((j) => j.status !== 'IN_PROGRESS' && j.status !== 'PENDING').length >= TAGS;
    },
    { timeoutMs: 240_000, intervalMs: 250, what: 'every tag to settle', describe: () => runner.busy().join(' | ') },
  );
  const seconds = (Date.now() - started) / 1000;

  expect([
    runner.requestDeadLetterQueue.size,
    runner.retryDeadLetterQueue.size,
    runner.eventsDeadLetterQueue.size,
  ]).toEqual([0, 0, 0]);
  const jobs = await runner.jobs();
  expect(jobs).toHaveLength(TAGS);
  for (const job of jobs) {
    expect(job).toMatchObject({ status: 'COMPLETE', replicatedDigest: image.root.digest, attempts: 0 });
    expect(job.lastError).toBeUndefined();
  }
  for (const tag of tags)
    expect(await runner.digestAt('destination', `mirror/${REPOSITORY}`, tag)).toBe(image.root.digest);

  // The destination did throttle, and the workers' budget slowed down on it.
  const throttled = runner.destinationGate.throttled.PutImage ?? 0;
  expect(throttled).toBeGreaterThan(0);
  const logs = readFileSync(runner.logFile, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"message":"pacing"'))
    .map((line) => JSON.parse(line) as { slowdowns: number; throttles: number; draws: number });
  expect(logs.length).toBeGreaterThan(0);
  expect(logs.reduce((sum, l) => sum + l.slowdowns, 0)).toBeGreaterThan(0);
  // Nothing outran the quota by much: the calls that reached the registry fit the quota over the run (plus the
  // bucket's one second).
  const calls = runner.destinationGate.quotaCalls.PutImage ?? 0;
  expect(calls - throttled).toBeLessThanOrEqual(QUOTA * (seconds + 1));
  process.stdout.write(
    `pacing: ${TAGS} tags in ${seconds.toFixed(1)} s; PutImage ${calls} calls, ${throttled} answered 429 ` +
      `(quota ${QUOTA}/s, workers configured for ${QUOTA * 3}/s); ${logs.length} workers reported ` +
      `${logs.reduce((s, l) => s + l.slowdowns, 0)} slowdowns\n`,
  );
}, 300_000);
