/**
 * The sync case of `npm run bench`: `ecr-replicate sync` against `skopeo sync --all` (YAML source listing the
 * repositories) on the same input, both through the latency links: 20 repositories, 160 tags, every image on a
 * base layer shared by all and a layer shared within its repository, plus one layer and a config of its own.
 *
 *   cold  an empty destination (each tool, each round, under a prefix of its own)
 *   warm  the same run again: nothing to do
 *
 * Goals: cold <= 0.5 of skopeo's time, warm <= 0.15, our peak RSS < 200 MiB.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  MediaTypes,
  bytesBlob,
  imageConfig,
  imageManifest,
  manifestDigestOf,
  pushImage,
  seededBytes,
  startLatencyLink,
  uniqueBlobs,
  type LatencyLink,
  type LocalRegistry,
  type SyntheticImage,
} from '@ecr-replicate/testing';
import { hasGnuTime, runMeasured, type RunOutcome } from './measure';
import { median, table, verdict } from './report';

export const SYNC_GOALS = { cold: 0.5, warm: 0.15, rssMiB: 200 };
const REPOSITORIES = 20;
const TAGS_PER_REPOSITORY = 8;
const TIMEOUT_MS = 30 * 60 * 1000;

export interface SyncBenchOptions {
  rounds: number;
  quick: boolean;
  latencyMs: number;
  /** Our child entry (the compiled CLI) and the environment both tools run with. */
  entry: string;
  env: NodeJS.ProcessEnv;
  runDir: string;
  isRoot: boolean;
  startRegistries: () => Promise<[LocalRegistry, LocalRegistry]>;
  /** Registers what the bench's cleanup stops. */
  track: (resource: { registry?: LocalRegistry; link?: LatencyLink }) => void;
  out: (line?: string) => void;
  parseUsage: (fd3: string) => { maxRssKiB?: number; cpuSeconds?: number };
}

interface Tagged {
  repository: string;
  tag: string;
  image: SyntheticImage;
}

/** 20 repositories × 8 tags: a base layer every image shares, one per repository, one per image. */
function syncInput(quick: boolean): { tagged: Tagged[]; bytes: number; blobs: number } {
  const KiB = 1024;
  const sizes = quick
    ? { base: 512 * KiB, repository: 128 * KiB, own: 32 * KiB }
    : { base: 8 * 1024 * KiB, repository: 2 * 1024 * KiB, own: 256 * KiB };
  const base = bytesBlob(MediaTypes.dockerLayerGzip, seededBytes('bench/sync/base', sizes.base));
  const tagged: Tagged[] = [];
  for (let r = 1; r <= REPOSITORIES; r += 1) {
    const repository = `sync/app${String(r).padStart(2, '0')}`;
    const shared = bytesBlob(MediaTypes.dockerLayerGzip, seededBytes(`bench/sync/${repository}`, sizes.repository));
    for (let t = 1; t <= TAGS_PER_REPOSITORY; t += 1) {
      const tag = `v1.${t}`;
      const own = bytesBlob(MediaTypes.dockerLayerGzip, seededBytes(`bench/sync/${repository}/${tag}`, sizes.own));
      const layers = [base, shared, own];
      const config = imageConfig('docker', { os: 'linux', architecture: 'amd64' }, layers, `${repository}:${tag}`);
      const root = imageManifest('docker', config, layers);
      tagged.push({ repository, tag, image: { root, manifests: [root], blobs: uniqueBlobs([...layers, config]) } });
    }
  }
  const all = uniqueBlobs(tagged.flatMap((t) => t.image.blobs));
  return { tagged, bytes: all.reduce((sum, b) => sum + b.size, 0), blobs: all.length };
}

type SyncTool = 'ours' | 'skopeo';

interface SyncSample {
  round: number;
  phase: 'cold' | 'warm';
  tool: SyncTool;
  seconds: number;
  rssKiB?: number;
}

export async function runSyncBench(options: SyncBenchOptions): Promise<void> {
  const { out } = options;
  const MiB = 1024 * 1024;
  const input = syncInput(options.quick);
  out(
    `SYNC: ecr-replicate sync (default concurrency) vs skopeo sync --all, ${REPOSITORIES} repositories, ${input.tagged.length} tags`,
  );
  out(
    `  input      every image: a base layer all share, a layer shared in its repository, one of its own and a config`,
  );
  out(`             (${input.blobs} unique blobs, ${(input.bytes / MiB).toFixed(0)} MiB)`);
  out(`  ours       node copy-entry.cjs sync SRC DST --config FILE (repositories sync/*, mapped to a fresh prefix)`);
  out(
    `  skopeo     skopeo sync --all --preserve-digests --src yaml --dest docker --dest-tls-verify=false FILE DST/PREFIX`,
  );
  out('             (the YAML lists the 20 repositories with every tag; a fresh blob-info cache per run)');
  out(`  latency    ${options.latencyMs} ms each way in front of both registries, cold and warm`);
  out('  cold       empty destination prefix; warm: the same command again, nothing to copy');

  const [source, destination] = await options.startRegistries();
  options.track({ registry: source });
  options.track({ registry: destination });
  const t = performance.now();
  // The first tag of each repository one at a time (the registry fails concurrent writes of one shared blob),
  // then the rest, whose shared layers are there already, 16 at a time.
  const firsts = input.tagged.filter((_, i) => i % TAGS_PER_REPOSITORY === 0);
  for (const x of firsts) await pushImage(source, x.repository, x.image, x.tag);
  const rest = input.tagged.filter((_, i) => i % TAGS_PER_REPOSITORY !== 0);
  for (let i = 0; i < rest.length; i += 16)
    await Promise.all(rest.slice(i, i + 16).map((x) => pushImage(source, x.repository, x.image, x.tag)));
  out(
    `setup: pushed ${input.tagged.length} tags to ${source.host} in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  const sourceLink = await startLatencyLink(source, { latencyMs: options.latencyMs });
  options.track({ link: sourceLink });
  const destinationLink = await startLatencyLink(destination, { latencyMs: options.latencyMs });
  options.track({ link: destinationLink });

  const yaml = join(options.runDir, 'skopeo-sync.yaml');
  writeFileSync(
    yaml,
    [
      `${sourceLink.host}:`,
      '  tls-verify: false',
      '  images:',
      ...[...new Set(input.tagged.map((x) => x.repository))].map((repository) => `    ${repository}: []`),
      '',
    ].join('\n'),
  );

  let runs = 0;
  async function run(tool: SyncTool, prefix: string): Promise<{ outcome: RunOutcome; rssKiB?: number }> {
    runs += 1;
    const timeFile = join(options.runDir, `sync-time-${runs}.txt`);
    if (tool === 'ours') {
      const config = join(options.runDir, `sync-config-${runs}.json`);
      writeFileSync(
        config,
        JSON.stringify({
          repositories: { include: ['sync/*'] },
          mapping: { prefixes: [{ from: 'sync/', to: `${prefix}/sync/` }] },
        }),
      );
      const outcome = await runMeasured(
        process.execPath,
        [options.entry, 'sync', sourceLink.host, destinationLink.host, '--config', config, '--json'],
        { env: options.env, timeoutMs: TIMEOUT_MS, timeFile },
      );
      if (outcome.code !== 0)
        throw new Error(`ours: sync exited ${outcome.code ?? outcome.signal}:\n${outcome.stderr.trim().slice(-3000)}`);
      const rssKiB = options.parseUsage(outcome.fd3).maxRssKiB ?? outcome.timeRssKiB;
      return { outcome, ...(rssKiB !== undefined ? { rssKiB } : {}) };
    }
    const cache = join(options.runDir, `skopeo-sync-${runs}`);
    mkdirSync(cache);
    const env: NodeJS.ProcessEnv = { ...options.env, XDG_DATA_HOME: cache, XDG_RUNTIME_DIR: cache };
    if (options.isRoot) env._CONTAINERS_ROOTLESS_UID = '1000';
    try {
      const outcome = await runMeasured(
        'skopeo',
        [
          'sync',
          '--all',
          '--preserve-digests',
          '--src',
          'yaml',
          '--dest',
          'docker',
          '--dest-tls-verify=false',
          yaml,
          `${destinationLink.host}/${prefix}`,
        ],
        { env, timeoutMs: TIMEOUT_MS, timeFile },
      );
      if (outcome.code !== 0)
        throw new Error(`skopeo sync exited ${outcome.code ?? outcome.signal}:\n${outcome.stderr.trim().slice(-3000)}`);
      return { outcome, ...(outcome.timeRssKiB !== undefined ? { rssKiB: outcome.timeRssKiB } : {}) };
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }

  /**
   * Every tag at the destination under `prefix` has the source's digest. skopeo sync (without --scoped) names a
   * destination repository PREFIX/<last component of the source's>; ours keeps the path under the mapped prefix.
   */
  async function verify(tool: SyncTool, prefix: string): Promise<void> {
    for (let i = 0; i < input.tagged.length; i += 16) {
      await Promise.all(
        input.tagged.slice(i, i + 16).map(async (x) => {
          const name = tool === 'ours' ? x.repository : (x.repository.split('/').at(-1) as string);
          const digest = await manifestDigestOf(destination, `${prefix}/${name}`, x.tag).catch(() => 'none');
          if (digest !== x.image.root.digest)
            throw new Error(`${tool}: ${prefix}/${name}:${x.tag} is ${digest}, not ${x.image.root.digest}`);
        }),
      );
    }
  }

  const samples: SyncSample[] = [];
  const total = options.rounds * 4;
  for (let round = 1; round <= options.rounds; round += 1) {
    const order: SyncTool[] = round % 2 === 1 ? ['ours', 'skopeo'] : ['skopeo', 'ours'];
    for (const phase of ['cold', 'warm'] as const) {
      for (const tool of order) {
        const prefix = `sync-${tool}-${round}`;
        const { outcome, rssKiB } = await run(tool, prefix);
        await verify(tool, prefix);
        samples.push({ round, phase, tool, seconds: outcome.seconds, ...(rssKiB !== undefined ? { rssKiB } : {}) });
        out(
          `[${samples.length}/${total}] round ${round}  sync ${phase.padEnd(4)}  ${tool.padEnd(6)}  ${outcome.seconds.toFixed(2).padStart(7)} s` +
            `  RSS ${rssKiB === undefined ? 'n/a' : (rssKiB / 1024).toFixed(0).padStart(4)} MiB  ${input.tagged.length} digests ok`,
        );
      }
    }
  }

  const pick = (phase: 'cold' | 'warm', tool: SyncTool): number[] =>
    samples.filter((s) => s.phase === phase && s.tool === tool).map((s) => s.seconds);
  const peak = (tool: SyncTool): number | undefined => {
    const values = samples.filter((s) => s.tool === tool && s.rssKiB !== undefined).map((s) => s.rssKiB as number);
    return values.length === 0 ? undefined : Math.max(...values) / 1024;
  };
  const rows: string[][] = [['goal', 'measured', 'target', '']];
  for (const phase of ['cold', 'warm'] as const) {
    const ours = median(pick(phase, 'ours'));
    const skopeo = median(pick(phase, 'skopeo'));
    rows.push([
      `sync ${phase} (latency): ours/skopeo`,
      `${(ours / skopeo).toFixed(3)} (${ours.toFixed(2)} s / ${skopeo.toFixed(2)} s)`,
      `<= ${SYNC_GOALS[phase].toFixed(2)}`,
      verdict(ours / skopeo <= SYNC_GOALS[phase]),
    ]);
  }
  const oursRss = peak('ours');
  const skopeoRss = peak('skopeo');
  rows.push([
    'sync: our peak RSS (any run)',
    `${oursRss === undefined ? 'n/a' : oursRss.toFixed(1)} MiB (skopeo ${skopeoRss === undefined ? (hasGnuTime ? 'n/a' : 'n/a, no GNU time') : skopeoRss.toFixed(1)} MiB)`,
    `< ${SYNC_GOALS.rssMiB} MiB`,
    verdict(oursRss !== undefined && oursRss < SYNC_GOALS.rssMiB),
  ]);
  out();
  out(`SYNC GOALS (median of ${options.rounds} round${options.rounds === 1 ? '' : 's'}; seconds from spawn to exit)`);
  out(table(rows, [0, 1, 3]));
  out();
}
