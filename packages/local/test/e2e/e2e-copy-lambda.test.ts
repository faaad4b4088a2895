/**
 * The copy Lambda path end to end on the local runner: the dispatcher hands leased jobs to the copy Lambda (in this
 * process, its scaled time limit enforced); a small image is replicated by it alone; a larger one, on a link that
 * turns out slower than the Lambda assumed, is handed to a worker build mid-copy when the time budget runs low, lease
 * kept: the destination ends equal, no blob is sent twice, and at most one executor worked on the job at a time.
 */
import { dockerImage, pushImage } from '@ecr-replicate/testing';
import { concurrencyViolations, startLocalRunner, waitFor, type BuildLifetime, type LocalRunner } from '../../src';

let runner: LocalRunner;
const MiB = 1024 * 1024;

beforeAll(async () => {
  // timeScale 0.02: the copy Lambda's 400 s limit lasts 8 s, its 30 s reserve 1 s (the floor), the lease 12 s, a
  // build's 60 s provisioning 1.2 s. It assumes 8 MiB/s until it has measured its own throughput.
  runner = await startLocalRunner({
    config: { deletes: true },
    timeScale: 0.02,
    leaseSeconds: 600,
    copyLambda: true,
    copyLambdaTimeoutSeconds: 400,
    copyAssumedMibps: 8,
    buildProvisioningSeconds: 60,
  });
}, 60_000);

afterAll(async () => {
  await runner?.stop();
});

/** Every executor that ran: the copy Lambda's invocations (by the lease owner of their payload) and the builds. */
function executors(): BuildLifetime[] {
  const invocations = runner.copyInvocations.map((run) => ({
    id: `lambda:${run.requestId}`,
    leaseOwner: (run.event as { leaseOwner?: string }).leaseOwner,
    ...(run.handlerStartedAt === undefined ? {} : { startedAt: run.handlerStartedAt }),
    ...(run.endedAt === undefined ? {} : { endedAt: run.endedAt }),
  }));
  return [...invocations, ...runner.codebuild.builds];
}

/** Blob uploads that reached the destination, by digest (the PUT that commits an upload names it). */
function committedUploads(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of runner.destinationLink.requests) {
    const digest = /[?&]digest=(sha256(?::|%3A)[0-9a-f]{64})/i.exec(request.url)?.[1]?.replace(/%3A/i, ':');
    if (request.method === 'PUT' && request.url.includes('/blobs/uploads/') && digest !== undefined)
      counts.set(digest, (counts.get(digest) ?? 0) + 1);
  }
  return counts;
}

it('replicates a small image with the copy Lambda alone, seconds after the event', async () => {
  const image = dockerImage({ seed: 'lambda-small' });
  await pushImage(runner.source, 'lambda/small', image, 'v1');
  const builds = runner.codebuild.builds.length;
  const pushedAt = Date.now();
  await runner.emitPush('lambda/small', image, 'v1');
  const record = await runner.waitForJob('lambda/small:v1', 30_000);

  expect(record).toMatchObject({ status: 'COMPLETE', replicatedDigest: image.root.digest, executor: 'lambda' });
  expect(await runner.digestAt('destination', 'lambda/small', 'v1')).toBe(image.root.digest);
  // No worker build: the Lambda finished it well inside its 8 s.
  expect(runner.codebuild.builds.length).toBe(builds);
  expect(runner.copyInvocations.length).toBeGreaterThanOrEqual(1);
  expect((record?.completedAt ?? Infinity) - pushedAt).toBeLessThan(8_000);
}, 60_000);

it('hands a large image to a worker build mid-copy when the budget runs low: equal, no blob twice, lease never doubled', async () => {
  // 10 layers of 4 MiB: 40 MiB, which at the assumed 8 MiB/s fits the Lambda's 7 s; the link moves 4 MiB/s.
  const image = dockerImage({ seed: 'lambda-large', layerSizes: Array.from({ length: 10 }, () => 4 * MiB) });
  await pushImage(runner.source, 'lambda/large', image, 'v1');
  runner.destinationGate.setBlobUploadRate(4 * MiB);
  runner.destinationLink.clearRequests();
  const builds = runner.codebuild.builds.length;
  const invocations = runner.copyInvocations.length;
  try {
    await runner.emitPush('lambda/large', image, 'v1');
    // What the Lambda sent: the uploads committed by the time its invocation ended (the build starts later).
    const invocation = await waitFor(
      async () => {
        const run = runner.copyInvocations[invocations];
        return run?.endedAt === undefined ? false : run;
      },
      { timeoutMs: 30_000, intervalMs: 20, what: 'the copy Lambda invocation to end' },
    );
    const byLambda = committedUploads();
    const record = await runner.waitForJob('lambda/large:v1', 60_000);
    await runner.waitForIdle(30_000);

    // The worker build finished it, the destination equals the source.
    expect(record).toMatchObject({ status: 'COMPLETE', replicatedDigest: image.root.digest, executor: 'codebuild' });
    expect(await runner.digestAt('destination', 'lambda/large', 'v1')).toBe(image.root.digest);
    expect(invocation.outcome).toBe('ok');
    const handedTo = runner.codebuild.builds.slice(builds);
    expect(handedTo).toHaveLength(1);
    // The same lease owner: the lease was kept, not released and taken again.
    expect(handedTo[0]?.leaseOwner).toBe((invocation.event as { leaseOwner: string }).leaseOwner);
    expect(handedTo[0]?.startedAt ?? 0).toBeGreaterThan(invocation.endedAt ?? Infinity);

    // Mid-copy: the Lambda committed some layers, not all; the build the rest; no blob twice.
    const layers = image.blobs.filter((b) => b.size === 4 * MiB).map((b) => b.digest);
    const layersByLambda = layers.filter((d) => byLambda.has(d)).length;
    expect(layersByLambda).toBeGreaterThan(0);
    expect(layersByLambda).toBeLessThan(layers.length);
    const committed = committedUploads();
    for (const digest of image.blobs.map((b) => b.digest)) expect([digest, committed.get(digest)]).toEqual([digest, 1]);

    // One executor at a time on the job, and no lease taken while another was live.
    expect(concurrencyViolations(runner.table.changes, executors())).toEqual([]);
    expect([runner.requestDeadLetterQueue.size, runner.eventsDeadLetterQueue.size]).toEqual([0, 0]);
  } finally {
    runner.destinationGate.setBlobUploadRate(undefined);
  }
}, 120_000);

it("sends a job to a worker build when the copy Lambda's run ends at its time limit: Lambda's retry hands it over", async () => {
  // One 15 MiB layer: at the assumed 8 MiB/s it fits a third of the time left, so it starts; the link moves 1.2 MiB/s,
  // so the run reaches its 8 s limit mid-blob (the budget never stops a blob under way). Lambda's retry (1.2 s later)
  // finds its job held by that failed run and hands it to a worker build at the lease's next epoch.
  const image = dockerImage({ seed: 'lambda-timeout', layerSizes: [15 * MiB] });
  await pushImage(runner.source, 'lambda/timeout', image, 'v1');
  runner.destinationGate.setBlobUploadRate(1.2 * MiB);
  const builds = runner.codebuild.builds.length;
  const invocations = runner.copyInvocations.length;
  try {
    await runner.emitPush('lambda/timeout', image, 'v1');
    const record = await waitFor(
      async () => {
        const found = await runner.job('lambda/timeout:v1');
        return found?.status === 'COMPLETE' ? found : false;
      },
      { timeoutMs: 90_000, intervalMs: 100, what: 'the job to complete' },
    );
    expect(record).toMatchObject({ replicatedDigest: image.root.digest, executor: 'codebuild' });
    expect(await runner.digestAt('destination', 'lambda/timeout', 'v1')).toBe(image.root.digest);
    const runs = runner.copyInvocations.slice(invocations);
    expect(runs.map((r) => r.outcome)).toEqual(['timeout', 'ok']);
    // The retry is the same payload (same owner); the build it started keeps that owner.
    const handedTo = runner.codebuild.builds.slice(builds);
    expect(handedTo).toHaveLength(1);
    expect(handedTo[0]?.leaseOwner).toBe((runs[0]?.event as { leaseOwner: string }).leaseOwner);
    // The epochs: the dispatcher's (1), the first run's (2), the retry's (3), the hand-over (4).
    const epochs = runner.table
      .changesOf('lambda/timeout:v1')
      .map((c) => c.image?.leaseEpoch)
      .filter((e): e is number => typeof e === 'number');
    expect(Math.max(...epochs)).toBe(4);
    expect([runner.requestDeadLetterQueue.size, runner.eventsDeadLetterQueue.size]).toEqual([0, 0]);
  } finally {
    runner.destinationGate.setBlobUploadRate(undefined);
  }
}, 150_000);
