/**
 * `latency`: event → replicated for a 50 MiB image pushed one at a time, the copy Lambda path against CodeBuild only.
 *
 * Each path runs in a local runner of its own (a child process). An image is pushed to the source (not timed), then its
 * ECR event is emitted; the figure is the time from the event to the job's record saying COMPLETE with the image's
 * digest at the destination. The Lambda path runs in real time (time scale 1) with a cold start before every
 * invocation (the worst case: no container is ever warm). The CodeBuild path is time-scaled (its modelled
 * provisioning would make the run last minutes): its figure is the measured time plus the part of the modelled
 * provisioning the scaling left out, so that it reads as in real time.
 */
import { dockerImage, pushImage } from '@ecr-replicate/testing';
import { startLocalRunner } from '../../src';
import { runPart } from './child';
import { percentile, type BenchOptions, type CaseReport } from './report';

const MiB = 1024 * 1024;
/** The model (README, "The local runner's models"). */
const COLD_START_SECONDS = 1;
const PROVISIONING_SECONDS = 60;
const CODEBUILD_TIME_SCALE = 0.05;

interface PartOptions {
  images: number;
  timeScale: number;
}

interface PartResult {
  /** Event → replicated, as in real time (seconds). */
  latencies: number[];
  /** Executors recorded on the jobs. */
  executors: string[];
  /** The executor's own time on each job (its record's durationSeconds): the copy, without the pipeline around it. */
  copySeconds: number[];
  coldStarts: number;
  builds: number;
}

/** One path: push `images` images of 50 MiB one at a time and time each from its event to its replica. */
async function measure(path: 'lambda' | 'codebuild', options: PartOptions): Promise<PartResult> {
  const { timeScale } = options;
  const runner = await startLocalRunner({
    timeScale,
    copyLambda: path === 'lambda',
    coldStartSeconds: COLD_START_SECONDS,
    warmForSeconds: 0,
    buildProvisioningSeconds: PROVISIONING_SECONDS,
    // Leases and Lambda timeouts as deployed, scaled; floors keep the scaled handlers alive on a busy machine.
    leaseSeconds: 900,
    // DynamoDB as the deployed pipeline reaches it: directly, not through the runner's recording proxy.
    recordTable: false,
  });
  const result: PartResult = { latencies: [], executors: [], copySeconds: [], coldStarts: 0, builds: 0 };
  try {
    for (let n = 0; n < options.images; n += 1) {
      const image = dockerImage({ seed: `latency-${path}-${n}`, layerSizes: [30 * MiB, 15 * MiB, 5 * MiB] });
      const repository = `bench/latency`;
      const tag = `${path}-${n}`;
      await pushImage(runner.source, repository, image, tag);
      const buildsBefore = runner.codebuild.builds.length;
      const emittedAt = Date.now();
      await runner.emitPush(repository, image, tag);
      const record = await runner.waitForJob(`${repository}:${tag}`, 600_000);
      if (record?.status !== 'COMPLETE' || record.replicatedDigest !== image.root.digest)
        throw new Error(`${repository}:${tag} was not replicated: ${JSON.stringify(record)}`);
      const measuredMs = (record.completedAt ?? Date.now()) - emittedAt;
      // The part of the modelled provisioning the scaling left out, for each build that ran for this image.
      const builds = runner.codebuild.builds.slice(buildsBefore).filter((b) => b.startedAt !== undefined);
      const unscaledMs = builds.length * PROVISIONING_SECONDS * 1000 * (1 - timeScale);
      result.latencies.push((measuredMs + unscaledMs) / 1000);
      result.executors.push(record.executor ?? 'unknown');
      result.copySeconds.push(record.durationSeconds ?? Number.NaN);
      result.builds += builds.length;
    }
    result.coldStarts = runner.copyInvocations.filter((run) => run.coldStartMs > 0).length;
  } finally {
    await runner.stop();
  }
  return result;
}

export const parts = {
  lambda: (options: PartOptions) => measure('lambda', options),
  codebuild: (options: PartOptions) => measure('codebuild', options),
};

export async function run(options: BenchOptions): Promise<CaseReport> {
  const images = options.quick ? 3 : 10;
  const codebuildScale = options.timeScale ?? CODEBUILD_TIME_SCALE;
  const lambda = await runPart<PartResult>('latency', 'lambda', { images, timeScale: 1 });
  const codebuild = await runPart<PartResult>('latency', 'codebuild', { images, timeScale: codebuildScale });
  const byLambda = lambda.executors.filter((e) => e === 'lambda').length;
  return {
    name: 'latency',
    title: 'event → replicated, one 50 MiB image (3 layers) at a time: the copy Lambda path against CodeBuild only',
    model: {
      images: `${images} per path, each new (no blob at the destination), pushed after the previous one replicated`,
      'copy Lambda': `in process, time scale 1, a ${COLD_START_SECONDS} s cold start before every invocation (no warm container), 1769 MB`,
      CodeBuild: `a child process per build after a ${PROVISIONING_SECONDS} s provisioning delay; run at time scale ${codebuildScale}, figures add back the ${(PROVISIONING_SECONDS * (1 - codebuildScale)).toFixed(0)} s the scaling left out`,
      link: 'two local registries (distribution 2.8) on loopback, the destination behind Basic auth and the runner’s gate',
    },
    figures: [
      { name: 'Lambda path p50', value: percentile(lambda.latencies, 50), unit: 's', goal: { op: '<=', value: 5 } },
      { name: 'Lambda path p95', value: percentile(lambda.latencies, 95), unit: 's' },
      {
        name: 'Lambda path p50 of the copy alone',
        value: percentile(lambda.copySeconds, 50),
        unit: 's',
        note: "the job's duration in the Lambda: the rest is the cold start, queue, table and hand-offs",
      },
      {
        name: 'CodeBuild only p50',
        value: percentile(codebuild.latencies, 50),
        unit: 's',
        goal: { op: '>=', value: 60 },
      },
      { name: 'CodeBuild only p95', value: percentile(codebuild.latencies, 95), unit: 's' },
      {
        name: 'p50 ratio CodeBuild / Lambda',
        value: percentile(codebuild.latencies, 50) / percentile(lambda.latencies, 50),
        unit: '×',
      },
      {
        name: 'tags replicated by the Lambda (Lambda path)',
        value: byLambda,
        unit: '',
        goal: { op: '==', value: images },
      },
      { name: 'cold starts (Lambda path)', value: lambda.coldStarts, unit: '' },
      { name: 'worker builds (Lambda path)', value: lambda.builds, unit: '', goal: { op: '==', value: 0 } },
    ],
    notes: [
      `Lambda path, each image (s): ${lambda.latencies.map((l) => l.toFixed(2)).join(' ')}`,
      `CodeBuild only, each image (s): ${codebuild.latencies.map((l) => l.toFixed(1)).join(' ')}`,
    ],
  };
}
