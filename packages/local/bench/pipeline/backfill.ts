/**
 * The backfill case: 10,000 tags across 500 repositories (small images sharing two base layers) queued at once, as
 * `sync --enqueue` or the scheduled repair queue them, against a destination that enforces a PutImage quota scaled to
 * the run (the gate answers 429 TOOMANYREQUESTS past it, as ECR does past 10/s). The workers pace their calls at the
 * quota together (the shared budget in the job table).
 *
 * Figures: the time from the first request queued to the last tag written, against the quota's lower bound (PutImage
 * calls to make ÷ quota); dead letters; tags missing at the destination; jobs failed or retried (throttling surfacing
 * as a failure). Goals (issue 15): ≤ 1.25 × the bound, 0, 0, 0.
 *
 * Its own settings come from the environment (the bench's options are common to every case): BACKFILL_TAGS (10000;
 * 500 with --quick), BACKFILL_REPOSITORIES (500; 25 with --quick), BACKFILL_QUOTA (PutImage/s at the destination),
 * BACKFILL_BUILDS (worker builds at once); --scale sets the time scale (default 0.1).
 */
import { cpus } from 'node:os';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_DESTINATION_API_QUOTAS, type ReplicationRequest } from '@ecr-replicate/common';
import { sendRequest } from '@ecr-replicate/common/queue';
import { createLimiter } from '@ecr-replicate/oci';
import {
  MediaTypes,
  bytesBlob,
  imageConfig,
  imageManifest,
  seededBytes,
  type BytesBlob,
  type SyntheticImage,
} from '@ecr-replicate/testing';
import { LOCAL_REGION, startLocalRunner, type LocalRunner } from '../../src';
import type { BenchOptions, CaseReport, Figure } from './report';
import { seedRegistryStorage } from './seed';

/** PutImage calls a new tag costs: the engine stores the manifest by digest, proves its lease, then moves the tag. */
const PUT_IMAGE_PER_TAG = 2;

/** The images: every one shares two base layers and has an application layer and a config of its own. */
function images(repositories: number, tags: number): Array<{ repository: string; tag: string; image: Image }> {
  const platform = { os: 'linux', architecture: 'amd64' };
  const base = [
    bytesBlob(MediaTypes.dockerLayerGzip, seededBytes('backfill/base/os', 48 * 1024)),
    bytesBlob(MediaTypes.dockerLayerGzip, seededBytes('backfill/base/runtime', 16 * 1024)),
  ];
  const entries: Array<{ repository: string; tag: string; image: Image }> = [];
  for (let i = 0; i < tags; i += 1) {
    const repository = `backfill/r${String(i % repositories).padStart(4, '0')}`;
    const tag = `v${String(Math.floor(i / repositories)).padStart(4, '0')}`;
    const app = bytesBlob(MediaTypes.dockerLayerGzip, seededBytes(`backfill/${repository}/${tag}`, 1024));
    const layers = [...base, app];
    const config = imageConfig('docker', platform, layers, `${repository}:${tag}`);
    const root = imageManifest('docker', config, layers);
    entries.push({ repository, tag, image: { root, manifests: [root], blobs: [...layers, config] } });
  }
  return entries;
}
type Image = SyntheticImage<BytesBlob>;

/** A positive number from the environment, or the fallback. */
function setting(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text);
  if (!(value > 0)) throw new Error(`${name} must be a positive number, not "${text}"`);
  return value;
}

const log = (line: string): void => {
  process.stdout.write(`[backfill] ${line}\n`);
};

export async function run(options: BenchOptions): Promise<CaseReport> {
  const quick = options.quick === true;
  const tagCount = Math.round(setting('BACKFILL_TAGS', quick ? 500 : 10_000));
  const repositoryCount = Math.min(tagCount, Math.round(setting('BACKFILL_REPOSITORIES', quick ? 25 : 500)));
  const quota = setting('BACKFILL_QUOTA', 8);
  const timeScale = options.timeScale ?? 0.1;
  const builds = Math.round(setting('BACKFILL_BUILDS', 8));
  const copies = Math.round(setting('BACKFILL_COPIES', 6));
  const batchSize = 10;
  // The executor: the copy Lambda path (every small image fits its time budget), or BACKFILL_EXECUTOR=codebuild.
  const lambda = (process.env.BACKFILL_EXECUTOR ?? 'lambda') !== 'codebuild';

  const runner: LocalRunner = await startLocalRunner({
    config: { mapping: { prefixes: [{ from: 'backfill/', to: 'mirror/backfill/' }] } },
    timeScale,
    batchSize,
    copyLambda: lambda,
    copyLambdaConcurrency: copies,
    // Leases as deployed (900 s), not scaled: invocations wait in Lambda's queue for the concurrency holding theirs.
    leaseSeconds: 900 / timeScale,
    maxConcurrentBuilds: builds,
    destinationQuotas: { ...DEFAULT_DESTINATION_API_QUOTAS, PutImage: quota },
    // The components reach dynalite directly: the recording proxy writes one change at a time.
    recordTable: false,
    logLevel: 'WARN',
  });
  try {
    const entries = images(repositoryCount, tagCount);
    const seeded = Date.now();
    await seedRegistryStorage(runner.source, entries);
    log(`seeded ${tagCount} tags in ${repositoryCount} repositories in ${((Date.now() - seeded) / 1000).toFixed(1)} s`);

    // Every tag write that reached the destination, as it happens.
    const written = new Map<string, number>();
    let lastWrite = 0;
    const seen = { count: 0 };
    const absorbWrites = (): void => {
      const writes = runner.destinationGate.tagWrites;
      for (; seen.count < writes.length; seen.count += 1) {
        const write = writes[seen.count];
        if (write === undefined) break;
        if (write.outcome === 'pending') break;
        if (write.method === 'PUT' && write.outcome === 'forwarded' && (write.status === 201 || write.status === 200)) {
          const key = `${write.repository}:${write.tag}`;
          if (!written.has(key)) written.set(key, write.forwardedAt ?? Date.now());
          lastWrite = Math.max(lastWrite, write.forwardedAt ?? 0);
        }
      }
    };

    // The backfill: one request per tag, as `sync --enqueue` sends them (origin sync: a run asked for, no event).
    const sqs = new SQSClient({ region: LOCAL_REGION });
    const eventTime = new Date().toISOString();
    const limit = createLimiter(32);
    const started = Date.now();
    await Promise.all(
      entries.map(({ repository, tag, image }, i) =>
        limit(async () => {
          const request: ReplicationRequest = {
            version: 1,
            eventId: `backfill-${i}`,
            eventTime,
            origin: 'sync',
            action: 'PUSH',
            source: {
              accountId: runner.sourceIdentity.account,
              region: runner.sourceIdentity.region,
              repository,
            },
            destination: { repository: `mirror/${repository}` },
            tag,
            digest: image.root.digest,
          };
          await sendRequest(sqs, runner.requestQueue.url, request);
        }),
      ),
    );
    log(`queued ${tagCount} requests in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const bound = (tagCount * PUT_IMAGE_PER_TAG) / quota;
    const deadline = started + Math.max(600_000, bound * 4 * 1000);
    let lastLog = Date.now();
    while (written.size < tagCount) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      absorbWrites();
      const dead = runner.requestDeadLetterQueue.size + runner.retryDeadLetterQueue.size;
      if (Date.now() > deadline) {
        log(`gave up waiting after ${((Date.now() - started) / 1000).toFixed(0)} s`);
        break;
      }
      if (Date.now() - lastLog >= 15_000) {
        lastLog = Date.now();
        const elapsed = (Date.now() - started) / 1000;
        log(
          `${elapsed.toFixed(0)} s: ${written.size}/${tagCount} tags written (${(written.size / elapsed).toFixed(1)}/s), ` +
            `PutImage ${runner.destinationGate.quotaCalls.PutImage ?? 0} calls, ` +
            `${runner.destinationGate.throttled.PutImage ?? 0} throttled, ${runner.codebuild.builds.length} builds, ` +
            `${dead} dead letters`,
        );
      }
    }
    const completedSeconds = (lastWrite - started) / 1000;
    await runner.waitForIdle(300_000).catch((error: unknown) => log(`not idle: ${String(error)}`));

    // What the destination holds now, tag by tag.
    const missing: string[] = [];
    const check = createLimiter(16);
    await Promise.all(
      entries.map(({ repository, tag, image }) =>
        check(async () => {
          if ((await runner.digestAt('destination', `mirror/${repository}`, tag)) !== image.root.digest)
            missing.push(`${repository}:${tag}`);
        }),
      ),
    );
    const jobs = await runner.jobs();
    const executors = new Map<string, number>();
    for (const job of jobs) executors.set(job.executor ?? 'none', (executors.get(job.executor ?? 'none') ?? 0) + 1);
    const failedOrRetried = jobs.filter((j) => j.status !== 'COMPLETE' || j.attempts > 0 || j.lastError !== undefined);
    const throttledJobs = failedOrRetried.filter((j) =>
      /429|TOOMANYREQUESTS|Throttl/i.test(j.lastError?.message ?? ''),
    );
    const deadLetters =
      runner.requestDeadLetterQueue.size + runner.retryDeadLetterQueue.size + runner.eventsDeadLetterQueue.size;
    const gate = runner.destinationGate;
    const putCalls = gate.quotaCalls.PutImage ?? 0;
    const putThrottled = gate.throttled.PutImage ?? 0;
    const putAccepted = putCalls - putThrottled;
    const throttledAll = Object.values(gate.throttled).reduce((sum, n) => sum + (n ?? 0), 0);
    const ratio = completedSeconds / bound;

    const figures: Figure[] = [
      {
        name: 'completion ÷ quota bound',
        value: written.size === tagCount ? ratio : Number.POSITIVE_INFINITY,
        unit: '×',
        goal: { op: '<=', value: 1.25 },
        note: `${completedSeconds.toFixed(1)} s from the first request queued to the last tag written; bound ${bound.toFixed(1)} s = ${tagCount * PUT_IMAGE_PER_TAG} PutImage calls ÷ ${quota}/s`,
      },
      { name: 'dead letters', value: deadLetters, unit: '', goal: { op: '==', value: 0 } },
      { name: 'tags missing at the destination', value: missing.length, unit: '', goal: { op: '==', value: 0 } },
      {
        name: 'jobs failed or retried',
        value: failedOrRetried.length + Math.max(0, tagCount - jobs.length),
        unit: '',
        goal: { op: '==', value: 0 },
        note: `${throttledJobs.length} of them for throttling; a job counts when it is not COMPLETE, was retried or records an error`,
      },
      {
        name: 'PutImage achieved',
        value: putAccepted / completedSeconds,
        unit: '/s',
        note: `${putAccepted} accepted, ${putThrottled} answered 429, quota ${quota}/s`,
      },
      { name: 'requests throttled (every API)', value: throttledAll, unit: '' },
      {
        name: 'worker builds',
        value: runner.codebuild.builds.length,
        unit: '',
        note: `${runner.codebuild.refused} StartBuild calls refused (back-pressure)`,
      },
      {
        name: 'copy Lambda invocations',
        value: runner.copyInvocations.length,
        unit: '',
        note: `jobs by executor: ${[...executors].map(([name, n]) => `${name} ${n}`).join(', ')}`,
      },
    ];
    return {
      name: 'backfill',
      title: `${tagCount} tags across ${repositoryCount} repositories queued at once, destination PutImage quota ${quota}/s`,
      model: {
        images:
          'single-platform Docker images: two shared base layers (48 KiB, 16 KiB), a 1 KiB layer and a config of their own',
        'destination quotas': `PutImage ${quota}/s (scaled to the run: ECR's default is 10/s), the others at ECR's defaults; enforced by the gate in front of the destination (a token bucket of one second of calls, 429 TOOMANYREQUESTS past it)`,
        'workers pace at': 'the same quotas (DEST_API_QUOTAS), one budget per API in the job table',
        'PutImage calls per tag': `${PUT_IMAGE_PER_TAG} (the manifest by digest, then the tag once the lease is proven)`,
        executor: lambda
          ? `the copy Lambda path: the dispatcher hands each batch of ${batchSize} leased jobs to the copy Lambda (in the runner's process, its time limit enforced, scaled; the runner's modelled cold start), ${copies} invocations at once (the rest wait in Lambda's queue: one process on this machine's cores stands for them all); CodeBuild (${builds} builds at once) only for what it hands over`
          : `CodeBuild only (BACKFILL_EXECUTOR=codebuild): the compiled worker as a child process per build, ${builds} builds at once, ${builds * 5} queued at most, ${batchSize} jobs per build (3 at once)`,
        'time scale': `${timeScale} (the copy Lambda's timeout ${Math.round(900 * timeScale)} s, CodeBuild's queue timeout ${Math.round(600 * timeScale)} s, SQS delays and visibility × ${timeScale}); leases 900 s, not scaled`,
        machine: `${cpus().length} cores, shared; registries: distribution 2.8 on 127.0.0.1; job table: dynalite`,
      },
      figures,
      notes: [
        'the bench queues the requests itself (one per tag, origin sync, as sync --enqueue does); planning the backfill (the fan-out scan) is not timed here',
        ...(missing.length > 0 ? [`missing (first 5): ${missing.slice(0, 5).join(', ')}`] : []),
        ...failedOrRetried
          .slice(0, 5)
          .map((j) => `job ${j.jobKey}: ${j.status}, attempts ${j.attempts}, ${j.lastError?.message ?? ''}`),
      ],
    };
  } finally {
    await runner.stop();
  }
}
