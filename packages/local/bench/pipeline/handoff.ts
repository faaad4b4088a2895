/**
 * `handoff`: one 2 GiB image (8 streamed layers of 256 MiB, never held in memory) on the copy Lambda path, over a
 * link slower than the Lambda assumed: it starts copying, finds out mid-copy that its time runs low and hands the
 * job to a worker build, lease kept. The figures: the image replicated once (every blob committed at the destination
 * exactly once, by one executor or the other), one lease owner and one build, no two executors on the job at a time,
 * and the bench process's peak memory while the Lambda (in it) copied.
 */
import {
  pushImage,
  largeLayer,
  imageConfig,
  imageManifest,
  uniqueBlobs,
  type SyntheticImage,
  type Blob,
} from '@ecr-replicate/testing';
import { concurrencyViolations, startLocalRunner, waitFor, type BuildLifetime } from '../../src';
import type { BenchOptions, CaseReport } from './report';

const MiB = 1024 * 1024;
const LAYERS = 8;
const LAYER_MIB = 256;
/** The model: the Lambda's limit, reserve and assumed throughput as deployed; the link's bandwidth. */
const LAMBDA_TIMEOUT_SECONDS = 900;
/** As deployed (COPY_ASSUMED_MIBPS): the 2 GiB image fits the scaled 60 s by this estimate... */
const ASSUMED_MIBPS = 40;
/** ...but the link moves half that: the Lambda finds out mid-copy. */
const LINK_MIBPS = 20;
/** 900 s → 60 s: the Lambda sends about 512 MiB before it hands over, the build the rest. */
const TIME_SCALE = 1 / 15;

async function twoGibImage(layers: number, layerMiB: number): Promise<SyntheticImage<Blob>> {
  const blobs: Blob[] = [];
  for (let i = 0; i < layers; i += 1)
    blobs.push(
      await largeLayer({
        size: layerMiB * MiB,
        seed: `handoff/${i}`,
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      }),
    );
  const platform = { os: 'linux', architecture: 'amd64' };
  const config = imageConfig('docker', platform, blobs, 'handoff');
  const root = imageManifest('docker', config, blobs);
  return { root, manifests: [root], blobs: uniqueBlobs([...blobs, config]) };
}

export async function run(options: BenchOptions): Promise<CaseReport> {
  const layers = options.quick ? 4 : LAYERS;
  const layerMiB = options.quick ? 64 : LAYER_MIB;
  const timeScale = options.timeScale ?? (options.quick ? TIME_SCALE / 6 : TIME_SCALE);
  const image = await twoGibImage(layers, layerMiB);
  const runner = await startLocalRunner({
    timeScale,
    copyLambda: true,
    copyLambdaTimeoutSeconds: LAMBDA_TIMEOUT_SECONDS,
    copyAssumedMibps: ASSUMED_MIBPS,
    buildProvisioningSeconds: 60,
    // Leases well beyond the scaled copy (renewed every third).
    leaseSeconds: 3_600,
  });
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  try {
    await pushImage(runner.source, 'bench/handoff', image, 'v1');
    const rssBefore = process.memoryUsage().rss;
    peakRss = rssBefore;
    runner.destinationGate.setBlobUploadRate(LINK_MIBPS * MiB);
    runner.destinationLink.clearRequests();
    const emittedAt = Date.now();
    await runner.emitPush('bench/handoff', image, 'v1');
    const invocation = await waitFor(
      async () => {
        const run = runner.copyInvocations[0];
        return run?.endedAt === undefined ? false : run;
      },
      { timeoutMs: 300_000, intervalMs: 50, what: 'the copy Lambda invocation to end' },
    );
    const byLambda = committedUploads(runner.destinationLink.requests);
    const record = await runner.waitForJob('bench/handoff:v1', 600_000);
    await runner.waitForIdle(120_000);
    const committed = committedUploads(runner.destinationLink.requests);
    const digestAtDestination = await runner.digestAt('destination', 'bench/handoff', 'v1');
    const executors: BuildLifetime[] = [
      ...runner.copyInvocations.map((r) => ({
        id: `lambda:${r.requestId}`,
        leaseOwner: (r.event as { leaseOwner?: string }).leaseOwner,
        ...(r.handlerStartedAt === undefined ? {} : { startedAt: r.handlerStartedAt }),
        ...(r.endedAt === undefined ? {} : { endedAt: r.endedAt }),
      })),
      ...runner.codebuild.builds,
    ];
    const owners = new Set(
      runner.table.changes.map((c) => c.image?.leaseOwner).filter((o): o is string => typeof o === 'string'),
    );
    const blobDigests = image.blobs.map((b) => b.digest);
    const once = blobDigests.filter((d) => committed.get(d) === 1).length;
    const twice = blobDigests.filter((d) => (committed.get(d) ?? 0) > 1).length;
    const lambdaLayers = blobDigests.filter((d) => byLambda.has(d)).length;
    const totalMiB = (layers * layerMiB).toFixed(0);
    return {
      name: 'handoff',
      title: `one ${totalMiB} MiB image (${layers} layers of ${layerMiB} MiB) handed from the copy Lambda to CodeBuild mid-copy`,
      model: {
        'time scale': `${timeScale.toFixed(4)} (the Lambda's ${LAMBDA_TIMEOUT_SECONDS} s limit lasts ${(LAMBDA_TIMEOUT_SECONDS * timeScale).toFixed(1)} s, its 30 s reserve ${runner.models.copyReserveSeconds} s)`,
        'copy Lambda': `assumes ${ASSUMED_MIBPS} MiB/s until measured; in process (its memory is this process's)`,
        link: `destination uploads capped at ${LINK_MIBPS} MiB/s, all uploads together (slower than assumed)`,
        CodeBuild: `provisioning 60 s (scaled: ${(runner.models.provisioningMs / 1000).toFixed(1)} s)`,
      },
      figures: [
        {
          name: 'destination digest equals the source',
          value: digestAtDestination === image.root.digest ? 1 : 0,
          unit: '',
          goal: { op: '==', value: 1 },
        },
        {
          name: 'recorded by',
          value: record?.executor === 'codebuild' ? 1 : 0,
          unit: '',
          goal: { op: '==', value: 1 },
          note: `1 = a worker build finished it (${record?.executor ?? 'none'})`,
        },
        {
          name: 'blobs committed exactly once',
          value: once,
          unit: `of ${blobDigests.length}`,
          goal: { op: '==', value: blobDigests.length },
        },
        { name: 'blobs committed twice or more', value: twice, unit: '', goal: { op: '==', value: 0 } },
        {
          name: 'layers sent by the Lambda before the hand-off',
          value: lambdaLayers,
          unit: `of ${layers}`,
          note: 'the rest by the build',
        },
        { name: 'worker builds', value: runner.codebuild.builds.length, unit: '', goal: { op: '==', value: 1 } },
        {
          name: 'lease owners',
          value: owners.size,
          unit: '',
          goal: { op: '==', value: 1 },
          note: 'the lease was kept across the hand-off',
        },
        {
          name: 'lease doubled (two executors at once)',
          value: concurrencyViolations(runner.table.changes, executors).length,
          unit: '',
          goal: { op: '==', value: 0 },
        },
        {
          name: 'copy Lambda invocation',
          value: ((invocation.endedAt ?? 0) - (invocation.handlerStartedAt ?? 0)) / 1000,
          unit: 's',
          goal: { op: '<=', value: LAMBDA_TIMEOUT_SECONDS * timeScale },
          note: 'ended before its limit',
        },
        {
          name: 'copy Lambda invocations that failed or timed out',
          value: runner.copyInvocations.filter((r) => r.outcome !== 'ok').length,
          unit: '',
          goal: { op: '==', value: 0 },
          note: runner.copyInvocations
            .map((r) => `${r.outcome ?? 'running'}${r.error ? `: ${r.error}` : ''}`)
            .join('; '),
        },
        {
          name: 'event → replicated',
          value: ((record?.completedAt ?? Date.now()) - emittedAt) / 1000,
          unit: 's',
          note: 'scaled run, wall time',
        },
        {
          name: 'peak RSS of the process running the Lambda',
          value: peakRss / MiB,
          unit: 'MiB',
          note: `${(rssBefore / MiB).toFixed(0)} MiB before the copy`,
        },
        {
          name: 'dead letters',
          value:
            runner.requestDeadLetterQueue.size + runner.retryDeadLetterQueue.size + runner.eventsDeadLetterQueue.size,
          unit: '',
          goal: { op: '==', value: 0 },
        },
      ],
    };
  } finally {
    clearInterval(sampler);
    runner.destinationGate.setBlobUploadRate(undefined);
    await runner.stop();
  }
}

/** Blob uploads committed at the destination (the PUT naming the digest), by digest. */
function committedUploads(
  requests: ReadonlyArray<{ method: string; url: string; status?: number }>,
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of requests) {
    const digest = /[?&]digest=(sha256(?::|%3A)[0-9a-f]{64})/i.exec(request.url)?.[1]?.replace(/%3A/i, ':');
    if (
      request.method === 'PUT' &&
      request.url.includes('/blobs/uploads/') &&
      digest !== undefined &&
      (request.status ?? 0) < 300
    )
      counts.set(digest, (counts.get(digest) ?? 0) + 1);
  }
  return counts;
}
