/**
 * The scan case: the fan-out scan of a large registry (issue 15: "100,000 tags across 5,000 repositories plan within
 * Lambda's limits"), scaled to this machine. Both registries are seeded with the same tags (storage written directly),
 * but for a few missing at the destination; the scheduled repair starts the scan (one unit per repository), the scan
 * Lambdas (in this process, `SCAN_BENCH_CONCURRENCY` at once) compare every tag and queue a request per missing one.
 * One repository holds more than a page of tags, so it is split into pages compared in parallel.
 *
 * Figures: the start's time (listing and one message per repository) and the longest unit's, each against its
 * function's timeout (900 s and 300 s, as deployed; the run is not time-scaled: the scan has no modelled delay), the
 * units, the requests queued against the tags planted missing, and the projection of the start to 5,000
 * repositories (linear in the repositories). Settings from the environment: SCAN_BENCH_REPOSITORIES (200; 25 with
 * --quick), SCAN_BENCH_TAGS (tags per repository, 20), SCAN_BENCH_BIG_TAGS (the large repository's, 2,000),
 * SCAN_BENCH_CONCURRENCY (4 scan invocations at once; 10 deployed).
 */
import {
  MediaTypes,
  bytesBlob,
  imageConfig,
  imageManifest,
  seededBytes,
  type BytesBlob,
  type SyntheticImage,
} from '@ecr-replicate/testing';
import { startLocalRunner, waitFor, type LocalRunner } from '../../src';
import { percentile, type BenchOptions, type CaseReport } from './report';
import { seedRegistryStorage } from './seed';

type Entry = { repository: string; tag: string; image: SyntheticImage<BytesBlob> };

function setting(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text);
  if (!(value > 0)) throw new Error(`${name} must be a positive number, not "${text}"`);
  return Math.round(value);
}

const log = (line: string): void => {
  process.stdout.write(`[scan] ${line}\n`);
};

/** One small image per tag (a shared base layer, a config of its own). */
function entries(repositories: number, perRepository: number, big: number): Entry[] {
  const platform = { os: 'linux', architecture: 'amd64' };
  const base = bytesBlob(MediaTypes.dockerLayerGzip, seededBytes('scan/base', 4 * 1024));
  const all: Entry[] = [];
  for (let r = 0; r < repositories; r += 1) {
    const repository = `scan/r${String(r).padStart(4, '0')}`;
    const tags = r === 0 ? big : perRepository;
    for (let t = 0; t < tags; t += 1) {
      const tag = `v${String(t).padStart(5, '0')}`;
      const config = imageConfig('docker', platform, [base], `${repository}:${tag}`);
      const root = imageManifest('docker', config, [base]);
      all.push({ repository, tag, image: { root, manifests: [root], blobs: [base, config] } });
    }
  }
  return all;
}

export async function run(options: BenchOptions): Promise<CaseReport> {
  const quick = options.quick === true;
  const repositories = setting('SCAN_BENCH_REPOSITORIES', quick ? 25 : 200);
  const perRepository = setting('SCAN_BENCH_TAGS', 20);
  const big = setting('SCAN_BENCH_BIG_TAGS', quick ? 250 : 2_000);
  const concurrency = setting('SCAN_BENCH_CONCURRENCY', 4);
  const pageTags = quick ? 100 : 1_000;
  const runner: LocalRunner = await startLocalRunner({
    config: { mapping: { prefixes: [{ from: 'scan/', to: 'mirror/scan/' }] } },
    timeScale: options.timeScale ?? 1,
    scanMaxConcurrency: concurrency,
    scanPageTags: pageTags,
    recordTable: false,
    logLevel: 'WARN',
  });
  try {
    const all = entries(repositories, perRepository, big);
    // Every 100th tag is missing at the destination: the drift the scan must find.
    const missing = all.filter((_, i) => i % 100 === 50);
    const seededAt = Date.now();
    await seedRegistryStorage(runner.source, all);
    await seedRegistryStorage(
      runner.destination,
      all.filter((_, i) => i % 100 !== 50).map((e) => ({ ...e, repository: `mirror/${e.repository}` })),
    );
    log(
      `seeded ${all.length} tags in ${repositories} repositories (twice) in ${((Date.now() - seededAt) / 1000).toFixed(1)} s`,
    );

    const started = Date.now();
    const summary = (await runner.repair()) as { repositories: number; queued: number; failed: number };
    const fannedOut = Date.now();
    await waitFor(() => runner.scan.busy().length === 0, {
      timeoutMs: 3_600_000,
      intervalMs: 200,
      what: 'the scan to finish',
      describe: () => runner.scan.busy().join(' | '),
    });
    const finished = Date.now();
    const runs = runner.scan.runs().filter((r) => r.endedAt !== undefined && r.handlerStartedAt !== undefined);
    const unitSeconds = runs.map((r) => ((r.endedAt as number) - (r.handlerStartedAt as number)) / 1000);
    const queued = runner.requestQueue.sent.filter((m) => (m.deduplicationId ?? '').startsWith('sync-')).length;
    const startSeconds = (fannedOut - started) / 1000;
    const tags = all.length;
    log(
      `scan ${summary.repositories} repositories: ${runs.length} units in ${((finished - started) / 1000).toFixed(1)} s`,
    );
    return {
      name: 'scan',
      title: `fan-out scan of ${tags.toLocaleString('en')} tags across ${repositories} repositories (one of ${big} tags)`,
      model: {
        'time scale': String(options.timeScale ?? 1),
        'scan invocations at once': `${concurrency} (deployed: scanMaxConcurrency 10)`,
        'scan page': `${pageTags} tags (deployed: 1000)`,
        'timeouts (as deployed)': 'repair 900 s, scan 300 s (a unit continues by message past half)',
        registries: 'distribution 2.8 on 127.0.0.1 (milliseconds per request; ECR: tens)',
        drift: `${missing.length} tags planted missing at the destination (1 in 100)`,
      },
      figures: [
        {
          name: 'start: list and fan out',
          value: startSeconds,
          unit: 's',
          goal: { op: '<=', value: 900 },
          note: `${summary.queued} units for ${summary.repositories} repositories`,
        },
        {
          name: 'start, projected to 5,000 repositories',
          value: (startSeconds * 5_000) / repositories,
          unit: 's',
          goal: { op: '<=', value: 900 },
          note: 'linear in the repositories',
        },
        { name: 'scan units run', value: runs.length, unit: '', note: 'repositories, further pages, continuations' },
        {
          name: 'longest unit',
          value: Math.max(...unitSeconds),
          unit: 's',
          goal: { op: '<=', value: 150 },
          note: 'half the scan timeout: past it a unit continues by message',
        },
        { name: 'unit p50', value: percentile(unitSeconds, 50), unit: 's' },
        { name: 'scan, start to last unit', value: (finished - started) / 1000, unit: 's' },
        {
          name: 'tags compared per second',
          value: tags / ((finished - started) / 1000),
          unit: '/s',
          note: `100,000 tags at this rate: ${(100_000 / (tags / ((finished - started) / 1000)) / 60).toFixed(1)} min`,
        },
        { name: 'requests queued', value: queued, unit: '', goal: { op: '==', value: missing.length } },
        {
          name: 'scan units dead-lettered',
          value: runner.scan.deadLetterQueue.size,
          unit: '',
          goal: { op: '==', value: 0 },
        },
        { name: 'repair failures', value: summary.failed, unit: '', goal: { op: '==', value: 0 } },
      ],
      notes: ['the requests queued are not replicated here: the backfill case times the pipeline'],
    };
  } finally {
    await runner.stop();
  }
}
