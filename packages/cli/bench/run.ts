/**
 * `npm run bench`: our copy engine against skopeo, between two local registries, printing
 * figures (median seconds, ratio ours/skopeo, peak RSS, requests) and the issue's goals
 * with PASS/MISS. Exits 0 whatever the figures; non-zero only when something broke.
 *
 * See bench/README.md for what is measured and how.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  largeMultiPlatformIndex,
  largeSingleLayerImage,
  manifestDigestOf,
  pushImage,
  startLatencyLink,
  startRegistry,
  type LatencyLink,
  type LocalRegistry,
  type SyntheticImage,
} from '@ecr-replicate/testing';
import { writeFloorScript } from './floor';
import { runBlobBench } from './blob';
import { runSyncBench } from './sync';
import {
  cpuSecondsOf,
  hasGnuTime,
  killRunningChildren,
  loadAverage,
  machineBusySeconds,
  registryPid,
  RequestLog,
  requestStats,
  runMeasured,
  type RunOutcome,
} from './measure';
import {
  CASES,
  caseTable,
  cpuTable,
  kinds,
  median,
  mib,
  peakRss,
  requestTable,
  RSS_GOAL_MIB,
  goalRatio,
  summedFigures,
  table,
  TOOLS,
  verdict,
  type CaseId,
  type ImageKey,
  type Sample,
  type ToolName,
} from './report';

const MiB = 1 << 20;
const TAG = 'v1';
/** A warm copy may cost our tool at most this many requests ("a handful"), none on blobs. */
const WARM_REQUEST_LIMIT = 8;
const COPY_TIMEOUT_MS = 10 * 60 * 1000;

const USAGE = `Usage: npm run bench [-- options]

Copies synthetic images between two local registries with ecr-replicate (dist/, compiled)
and with skopeo, alternately, and prints median seconds, ours/skopeo and peak RSS per case.

Options:
  --rounds N        rounds of every case (default 3; 1 with --quick)
  --quick           1 round, small images (4 MiB layers, 64 MiB single layer): a sanity run
  --latency-ms N    latency the links add each way (default 25)
  --cases LIST      comma-separated subset of cold,warm,latency,sync,blob (default all but blob); sync is
                    ecr-replicate sync against skopeo sync --all: 20 repositories, 160 tags; blob
                    is the data path of one 512 MiB layer, start-up excluded: the floor's curl
                    pipe against our client with and without the digest verifier (no goal)
  --storage DIR     where the registries keep their data (default /dev/shm when it has
                    3 GiB free, so that disk writes do not bound the transfer; else the temp dir)
  --json FILE       also write every measurement to FILE
  --trace DIR       run ours with --debug and keep each run's request trace in DIR
                    (ours-<image>-<run>.log): where its time goes, request by request
  -h, --help        this help
`;

interface Options {
  /** Whether to run the sync case (`cases` holds the copy cases). */
  sync: boolean;
  /** Whether to run the blob case (bench/blob.ts). */
  blob: boolean;
  rounds: number;
  quick: boolean;
  latencyMs: number;
  cases: CaseId[];
  storage?: string;
  json?: string;
  trace?: string;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      rounds: { type: 'string' },
      quick: { type: 'boolean' },
      'latency-ms': { type: 'string' },
      cases: { type: 'string' },
      storage: { type: 'string' },
      json: { type: 'string' },
      trace: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  const whole = (text: string | undefined, name: string, fallback: number, min: number): number => {
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text) || Number(text) < min)
      throw new Error(`${name} must be a whole number of at least ${min} (got "${text}")`);
    return Number(text);
  };
  const quick = values.quick === true;
  const cases = (values.cases ?? 'cold,warm,latency,sync').split(',').map((c) => c.trim());
  for (const c of cases)
    if (c !== 'sync' && c !== 'blob' && !CASES.some((info) => info.id === c))
      throw new Error(`--cases: unknown case "${c}" (cold, warm, latency, sync, blob)`);
  return {
    sync: cases.includes('sync'),
    blob: cases.includes('blob'),
    rounds: whole(values.rounds, '--rounds', quick ? 1 : 3, 1),
    quick,
    latencyMs: whole(values['latency-ms'], '--latency-ms', 25, 0),
    cases: CASES.map((info) => info.id).filter((id) => cases.includes(id)),
    ...(values.storage !== undefined ? { storage: values.storage } : {}),
    ...(values.json !== undefined ? { json: values.json } : {}),
    ...(values.trace !== undefined ? { trace: values.trace } : {}),
  };
}

/** tmpfs when there is room: the registries' disk writes otherwise dominate and vary from run to run. */
function chooseStorage(requested: string | undefined): string {
  if (requested !== undefined) return requested;
  try {
    const fs = statfsSync('/dev/shm');
    if (fs.bavail * fs.bsize >= 3 * 1024 ** 3) return '/dev/shm';
  } catch {
    // no /dev/shm
  }
  return tmpdir();
}

/**
 * Starts the two registries with their data under `storage`: the harness puts a registry's
 * directory in os.tmpdir(), which it reads synchronously when called, so TMPDIR is set for
 * the calls only.
 */
function startRegistriesIn(storage: string): Promise<[LocalRegistry, LocalRegistry]> {
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = storage;
  try {
    return Promise.all([startRegistry(), startRegistry()]);
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
}

/** The figures our child entry writes to fd 3 at exit. */
function parseUsage(text: string): { maxRssKiB?: number; cpuSeconds?: number } {
  try {
    const parsed = JSON.parse(text.trim().split('\n').at(-1) ?? '') as { maxRssKiB?: unknown; cpuSeconds?: unknown };
    return {
      ...(typeof parsed.maxRssKiB === 'number' ? { maxRssKiB: parsed.maxRssKiB } : {}),
      ...(typeof parsed.cpuSeconds === 'number' ? { cpuSeconds: parsed.cpuSeconds } : {}),
    };
  } catch {
    return {};
  }
}

/** `7` or `7-20`. */
function range(values: number[]): string {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low === high ? String(low) : `${low}-${high}`;
}

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

function versionOf(command: string, args: string[]): string {
  try {
    return (
      execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .trim()
        .split('\n')[0] ?? '?'
    );
  } catch {
    return 'not found';
  }
}

interface BenchImage {
  key: ImageKey;
  name: string;
  description: string;
  image: SyntheticImage;
  repository: string;
  bytes: number;
  blobs: number;
}

/** Everything to stop and remove at the end (or on Ctrl-C). */
const resources = {
  registries: [] as LocalRegistry[],
  links: [] as LatencyLink[],
  runDir: undefined as string | undefined,
};
let cleaning: Promise<void> | undefined;
let interrupted = false;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    killRunningChildren();
    await Promise.allSettled(resources.links.map((l) => l.stop()));
    await Promise.allSettled(resources.registries.map((r) => r.stop()));
    if (resources.runDir !== undefined) rmSync(resources.runDir, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}, stopping the registries and removing temporary files\n`);
    void cleanup().finally(() => process.exit(code));
  });
}

async function main(argv: string[]): Promise<number> {
  let options: Options | 'help';
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    out(USAGE);
    return 0;
  }
  const { rounds, quick, latencyMs, trace } = options;
  const began = performance.now();
  const entry = join(__dirname, 'copy-entry.cjs');
  const runDir = mkdtempSync(join(tmpdir(), 'ecr-bench-'));
  resources.runDir = runDir;
  const dockerConfig = join(runDir, 'docker-config');
  mkdirSync(dockerConfig);
  // Neither tool may pick up a user's credentials: both registries are anonymous.
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: dockerConfig };
  delete baseEnv.ECR_REPLICATE_SRC_CREDS;
  delete baseEnv.ECR_REPLICATE_DEST_CREDS;
  delete baseEnv.REGISTRY_AUTH_FILE;
  // Node reads the file NODE_EXTRA_CA_CERTS names at every start, before any code runs (a
  // system bundle costs tens of ms); no copy here uses TLS and skopeo reads no such file.
  const extraCaCerts = baseEnv.NODE_EXTRA_CA_CERTS;
  delete baseEnv.NODE_EXTRA_CA_CERTS;
  const isRoot = process.getuid?.() === 0;

  if (options.sync) {
    out(
      `load: 1-minute load average ${loadAverage().toFixed(2)} at the start of the sync case (${cpus().length} CPUs)`,
    );
    await runSyncBench({
      rounds,
      quick,
      latencyMs,
      entry,
      env: baseEnv,
      runDir,
      isRoot,
      startRegistries: () => startRegistriesIn(chooseStorage(options.storage)),
      track: ({ registry, link }) => {
        if (registry !== undefined) resources.registries.push(registry);
        if (link !== undefined) resources.links.push(link);
      },
      out,
      parseUsage,
    });
    out(`load: 1-minute load average ${loadAverage().toFixed(2)} at the end of the sync case`);
    if (options.cases.length === 0 && !options.blob) return 0;
    out();
  }

  if (options.blob) {
    out(`load: 1-minute load average ${loadAverage().toFixed(2)} at the start of the blob case`);
    await runBlobBench({
      rounds,
      quick,
      latencyMs,
      entry: join(__dirname, 'blob-entry.cjs'),
      env: baseEnv,
      runDir,
      startRegistries: () => startRegistriesIn(chooseStorage(options.storage)),
      track: ({ registry, link }) => {
        if (registry !== undefined) resources.registries.push(registry);
        if (link !== undefined) resources.links.push(link);
      },
      out,
    });
    out(`load: 1-minute load average ${loadAverage().toFixed(2)} at the end of the blob case`);
    if (options.cases.length === 0) return 0;
    out();
  }

  const layerMiB = quick ? 4 : 32;
  const singleMiB = quick ? 64 : 512;
  const skopeoFlags = ['--all', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false'];

  out(
    `ecr-replicate copy benchmark: ours (the compiled CLI) vs ${versionOf('skopeo', ['--version'])}${quick ? '   [--quick: small images, goals indicative only]' : ''}`,
  );
  out(`  machine    ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}`);
  out(
    `  registries 2 × ${versionOf('/usr/bin/docker-registry', ['--version']).replace(/^\S+\s+/, '')} on 127.0.0.1, NO AUTH on either`,
  );
  out('             (with htpasswd every request pays a bcrypt check, which would dominate the small requests)');
  out(`  rounds     ${rounds}; the tools take turns copy by copy, and which goes first rotates every round`);
  out(
    `  ours       node copy-entry.cjs copy SRC DST  (the compiled CLI as bin/ecr-replicate.js runs it, default concurrency 8; node start-up included)`,
  );
  out(`  skopeo     skopeo copy ${skopeoFlags.join(' ')} docker://SRC docker://DST`);
  out('             --preserve-digests: the synthetic layers are incompressible bytes labelled tar+gzip; without it');
  out('             skopeo gzips them and writes other digests (not the same work). Each skopeo run gets a fresh');
  out("             blob-info cache (XDG_DATA_HOME), else it mounts blobs from earlier rounds' repositories.");
  out(
    `  latency    ${latencyMs} ms each way, TCP links (in this process) in front of BOTH registries: every byte is held`,
  );
  out('             that long in each direction, so each request and each answer arrive late; bodies stream through');
  const curlVersion = versionOf('curl', ['--version']);
  const withFloor = curlVersion !== 'not found';
  if (withFloor) {
    out(
      `  floor      bash floor-<image>.sh SRC DST with ${curlVersion.split(' ').slice(0, 2).join(' ')}, in the cold cases: the same copy as a fully parallel`,
    );
    out('             curl pipeline (every blob GET piped into its PATCH at once, nothing verified; bench/floor.ts),');
    out('             the yardstick the goals were set by, measured in the same run');
  } else {
    out('  floor      not measured: curl not found');
  }
  out('  time       wall time from spawn to exit, taken here the same way for every tool');
  if (extraCaCerts !== undefined) {
    out(
      `  env        NODE_EXTRA_CA_CERTS (${extraCaCerts}) is unset for both tools: Node would read it at every start`,
    );
    out('             (see "setup: process start-up" for its cost); no copy uses TLS');
  }
  const loadBefore = loadAverage();
  out(
    `  load       1-minute load average ${loadBefore.toFixed(2)} at the start${loadBefore > cpus().length / 2 ? '  WARNING: the machine seems busy, figures may be noisy (see "others CPU s")' : ''}`,
  );
  out(
    `  RSS        peak resident set: ours process.resourceUsage().maxRSS; skopeo ${hasGnuTime ? 'GNU time %M' : 'n/a (no /usr/bin/time)'}`,
  );
  out();

  // ---- images, registries, links ---------------------------------------------------------
  let t = performance.now();
  const [multi, single] = await Promise.all([
    largeMultiPlatformIndex({ layerMiB, seed: 'bench/multi' }),
    largeSingleLayerImage({ seed: 'bench/single', sizeMiB: singleMiB }),
  ]);
  const sizeOf = (image: SyntheticImage): number => image.blobs.reduce((sum, b) => sum + b.size, 0);
  const images: BenchImage[] = [
    {
      key: 'multi',
      name: 'multi',
      description: `OCI index, 2 platforms × 4 layers of ${layerMiB} MiB, base layer shared (${multi.blobs.length} blobs, ${Math.round(sizeOf(multi) / MiB)} MiB)`,
      image: multi,
      repository: 'bench/multi',
      bytes: sizeOf(multi),
      blobs: multi.blobs.length,
    },
    {
      key: 'single',
      name: 'single',
      description: `Docker image, 1 layer of ${singleMiB} MiB (${single.blobs.length} blobs, ${Math.round(sizeOf(single) / MiB)} MiB)`,
      image: single,
      repository: 'bench/single',
      bytes: sizeOf(single),
      blobs: single.blobs.length,
    },
  ];
  out(`setup: built the images in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  for (const image of images) out(`  ${image.name.padEnd(7)} ${image.description}`);

  t = performance.now();
  const storage = chooseStorage(options.storage);
  const [source, destination] = await startRegistriesIn(storage);
  resources.registries.push(source, destination);
  out(
    `setup: registry data in ${source.rootDir} and ${destination.rootDir}${storage === '/dev/shm' ? ' (tmpfs; --storage DIR to change)' : ''}`,
  );
  await Promise.all(images.map((i) => pushImage(source, i.repository, i.image, TAG)));
  out(
    `setup: source ${source.host}, destination ${destination.host}; pushed to the source in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  const sourceLink = await startLatencyLink(source, { latencyMs });
  resources.links.push(sourceLink);
  const destinationLink = await startLatencyLink(destination, { latencyMs });
  resources.links.push(destinationLink);
  const registryPids = { source: registryPid(source), destination: registryPid(destination) };
  if (registryPids.source === undefined || registryPids.destination === undefined)
    out('setup: registry processes not found: their CPU shows as 0');
  const log = new RequestLog([
    { side: 'source', link: sourceLink },
    { side: 'destination', link: destinationLink },
  ]);
  out(`setup: latency links ${sourceLink.host} → source, ${destinationLink.host} → destination`);

  // ---- running the tools -------------------------------------------------------------------
  let runCount = 0;
  const floorScripts = new Map(images.map((i) => [i.key, writeFloorScript(i.image, runDir, i.key)]));
  async function runTool(
    tool: ToolName,
    image: BenchImage,
    from: string,
    to: string,
  ): Promise<{ outcome: RunOutcome; rssKiB?: number; cpuSeconds?: number }> {
    runCount += 1;
    const timeFile = join(runDir, `time-${runCount}.txt`);
    if (tool === 'floor') {
      const outcome = await runMeasured('bash', [floorScripts.get(image.key) as string, from, to], {
        env: baseEnv,
        timeoutMs: COPY_TIMEOUT_MS,
        timeFile,
      });
      if (outcome.code !== 0)
        throw new Error(
          `floor: copy ${from} ${to} exited ${outcome.code ?? outcome.signal}:\n${outcome.stderr.trim().slice(-3000)}`,
        );
      return { outcome, ...(outcome.timeCpuSeconds !== undefined ? { cpuSeconds: outcome.timeCpuSeconds } : {}) };
    }
    if (tool === 'ours') {
      const outcome = await runMeasured(
        process.execPath,
        [entry, 'copy', from, to, ...(trace === undefined ? [] : ['--debug'])],
        { env: baseEnv, timeoutMs: COPY_TIMEOUT_MS, timeFile },
      );
      if (trace !== undefined) {
        mkdirSync(trace, { recursive: true });
        writeFileSync(join(trace, `ours-${image.key}-${runCount}.log`), outcome.stderr);
      }
      if (outcome.code !== 0)
        throw new Error(
          `ours: copy ${from} ${to} exited ${outcome.code ?? outcome.signal}:\n${(outcome.stderr + outcome.stdout).trim().slice(-3000)}`,
        );
      const reported = parseUsage(outcome.fd3);
      const rssKiB = reported.maxRssKiB ?? outcome.timeRssKiB;
      const cpuSeconds = reported.cpuSeconds ?? outcome.timeCpuSeconds;
      return {
        outcome,
        ...(rssKiB !== undefined ? { rssKiB } : {}),
        ...(cpuSeconds !== undefined ? { cpuSeconds } : {}),
      };
    }
    // A blob-info cache of its own for every run, so that skopeo knows no more than our tool does.
    const cache = join(runDir, `skopeo-${runCount}`);
    mkdirSync(cache);
    const env: NodeJS.ProcessEnv = { ...baseEnv, XDG_DATA_HOME: cache, XDG_RUNTIME_DIR: cache };
    // As root, containers/image puts that cache in /var/lib/containers unless it believes it is rootless.
    if (isRoot) env._CONTAINERS_ROOTLESS_UID = '1000';
    try {
      const outcome = await runMeasured('skopeo', ['copy', ...skopeoFlags, `docker://${from}`, `docker://${to}`], {
        env,
        timeoutMs: COPY_TIMEOUT_MS,
        timeFile,
      });
      if (outcome.code !== 0)
        throw new Error(
          `skopeo copy ${from} ${to} exited ${outcome.code ?? outcome.signal}:\n${outcome.stderr.trim().slice(-3000)}`,
        );
      return {
        outcome,
        ...(outcome.timeRssKiB !== undefined ? { rssKiB: outcome.timeRssKiB } : {}),
        ...(outcome.timeCpuSeconds !== undefined ? { cpuSeconds: outcome.timeCpuSeconds } : {}),
      };
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }

  async function verify(tool: ToolName, image: BenchImage, repository: string): Promise<void> {
    const digest = await manifestDigestOf(destination, repository, TAG);
    if (digest !== image.image.root.digest) {
      throw new Error(
        `${tool}: ${destination.host}/${repository}:${TAG} is ${digest}, the source's ${image.repository}:${TAG} is ${image.image.root.digest}`,
      );
    }
  }

  // Start-up cost of each process alone: ours loads its bundle and prints help; skopeo prints its version.
  const startup = {
    ours: [] as number[],
    skopeo: [] as number[],
    oursRss: [] as number[],
    oursWithCerts: [] as number[],
  };
  for (let i = 0; i < 3; i++) {
    const o = await runMeasured(process.execPath, [entry, 'copy', '--help'], { env: baseEnv, timeoutMs: 60_000 });
    startup.ours.push(o.seconds * 1000);
    const rss = parseUsage(o.fd3).maxRssKiB;
    if (rss !== undefined) startup.oursRss.push(rss);
    const s = await runMeasured('skopeo', ['--version'], { env: baseEnv, timeoutMs: 60_000 });
    startup.skopeo.push(s.seconds * 1000);
    if (extraCaCerts !== undefined) {
      const withCerts = await runMeasured(process.execPath, [entry, 'copy', '--help'], {
        env: { ...baseEnv, NODE_EXTRA_CA_CERTS: extraCaCerts },
        timeoutMs: 60_000,
      });
      startup.oursWithCerts.push(withCerts.seconds * 1000);
    }
  }
  out(
    `setup: process start-up alone: ours ${Math.round(median(startup.ours))} ms (RSS ${mib(median(startup.oursRss))} MiB), ` +
      `skopeo ${Math.round(median(startup.skopeo))} ms (medians of 3)` +
      (startup.oursWithCerts.length > 0
        ? `; ours with NODE_EXTRA_CA_CERTS ${Math.round(median(startup.oursWithCerts))} ms`
        : ''),
  );

  // The warm case copies onto a destination that already has every image at the same tag.
  if (options.cases.includes('warm')) {
    t = performance.now();
    for (const image of images) {
      await runTool(
        'ours',
        image,
        `${source.host}/${image.repository}:${TAG}`,
        `${destination.host}/warm/${image.key}:${TAG}`,
      );
      await verify('ours', image, `warm/${image.key}`);
    }
    out(`setup: seeded warm/<image>:${TAG} on the destination in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  out();

  // ---- the rounds ----------------------------------------------------------------------------
  const samples: Sample[] = [];
  const total =
    rounds * images.length * options.cases.reduce((sum, caseId) => sum + (caseId === 'warm' || !withFloor ? 2 : 3), 0);
  let done = 0;
  for (let round = 1; round <= rounds; round++) {
    // Each tool goes first in turn: the order rotates every round.
    const order = TOOLS.map((_, i) => TOOLS[(i + round - 1) % TOOLS.length] as ToolName);
    for (const caseId of options.cases) {
      const tools = caseId === 'warm' || !withFloor ? order.filter((tool) => tool !== 'floor') : order;
      const throughLinks = caseId !== 'cold';
      const srcHost = throughLinks ? sourceLink.host : source.host;
      const dstHost = throughLinks ? destinationLink.host : destination.host;
      for (const image of images) {
        for (const tool of tools) {
          const repository = caseId === 'warm' ? `warm/${image.key}` : `${caseId}/${tool}/${round}/${image.key}`;
          log.take();
          const before = {
            source: cpuSecondsOf(registryPids.source),
            destination: cpuSecondsOf(registryPids.destination),
            driver: process.cpuUsage(),
            machine: machineBusySeconds(),
          };
          const { outcome, rssKiB, cpuSeconds } = await runTool(
            tool,
            image,
            `${srcHost}/${image.repository}:${TAG}`,
            `${dstHost}/${repository}:${TAG}`,
          );
          const machine = machineBusySeconds() - before.machine;
          const driverCpu = process.cpuUsage(before.driver);
          const source = cpuSecondsOf(registryPids.source) - before.source;
          const destination = cpuSecondsOf(registryPids.destination) - before.destination;
          const driver = (driverCpu.user + driverCpu.system) / 1e6;
          const other = Math.max(0, machine - (cpuSeconds ?? 0) - source - destination - driver);
          const cpu = { ...(cpuSeconds !== undefined ? { tool: cpuSeconds } : {}), source, destination, driver, other };
          const requests = throughLinks ? requestStats(log.take(), outcome.startedMs) : undefined;
          await verify(tool, image, repository);
          const sample: Sample = {
            round,
            caseId,
            image: image.key,
            tool,
            seconds: outcome.seconds,
            exitMs: outcome.exitedMs - outcome.startedMs,
            cpu,
            ...(rssKiB !== undefined ? { rssKiB } : {}),
            ...(requests !== undefined ? { requests } : {}),
          };
          samples.push(sample);
          done += 1;
          const extra = requests
            ? `  ${String(requests.total).padStart(3)} requests (${requests.blobRequests} on blobs${requests.mounts > 0 ? `, ${requests.mounts} mounts` : ''})`
            : '';
          out(
            `[${String(done).padStart(String(total).length)}/${total}] round ${round}  ${caseId.padEnd(7)}  ${image.key.padEnd(6)}  ${tool.padEnd(6)}` +
              `  ${outcome.seconds.toFixed(2).padStart(6)} s  RSS ${mib(rssKiB).padStart(4)} MiB  CPU ${cpu.tool === undefined ? 'n/a' : cpu.tool.toFixed(2).padStart(5)} s  digest ok${extra}`,
          );
        }
      }
    }
  }

  // ---- figures ---------------------------------------------------------------------------------
  const imageRows = images.map((i) => ({ key: i.key, name: i.name, blobs: i.blobs }));
  out();
  out(
    `RESULTS (median of ${rounds} round${rounds === 1 ? '' : 's'}; seconds from spawn to exit; peak RSS = highest of the rounds)`,
  );
  for (const info of CASES.filter((c) => options.cases.includes(c.id))) {
    out();
    out(`${info.title}`);
    out(caseTable(samples, info, imageRows));
  }

  out();
  out(
    `CPU per copy (median CPU seconds; ${cpus().length} cores here, "cores busy" = all CPU / wall time; "links" = this process)`,
  );
  out(cpuTable(samples, options.cases, imageRows));

  const linkedCases = options.cases.filter((c) => c !== 'cold');
  if (linkedCases.length > 0) {
    out();
    out(
      `REQUESTS through the links (the median-time copy of each tool; ms after spawn; "waves": round trips waited for,`,
    );
    out(
      `a request arriving while none is in flight starts a new one; "per blob": blob+upload requests / blobs in the image)`,
    );
    out(requestTable(samples, linkedCases, imageRows));
    for (const caseId of linkedCases) {
      for (const image of images) {
        for (const tool of TOOLS) {
          const first = samples.find(
            (s) => s.caseId === caseId && s.image === image.key && s.tool === tool && s.requests,
          );
          if (first?.requests) out(`  ${caseId} ${image.key} ${tool}: ${kinds(first.requests.byKind)}`);
        }
      }
    }
  }

  out();
  out(`GOALS${quick ? ' (--quick: small images, indicative only)' : ''}`);
  const goalRows: string[][] = [['goal', 'measured', 'target', '']];
  for (const info of CASES.filter((c) => options.cases.includes(c.id))) {
    const sum = summedFigures(
      samples,
      info.id,
      images.map((i) => i.key),
    );
    const name = info.id === 'cold' ? 'loopback cold' : info.id === 'warm' ? 'warm (latency)' : 'latency cold';
    goalRows.push(
      info.against === 'floor'
        ? [
            `${name}: ours/floor, both images`,
            `${goalRatio(sum, info).toFixed(2)} (${sum.ours.toFixed(2)} s / ${sum.floor.toFixed(2)} s); ours/skopeo ${sum.ratio.toFixed(2)} (skopeo ${sum.skopeo.toFixed(2)} s)`,
            `<= ${info.goal.toFixed(2)}`,
            verdict(goalRatio(sum, info) <= info.goal),
          ]
        : [
            `${name}: ours/skopeo, both images`,
            `${sum.ratio.toFixed(2)} (${sum.ours.toFixed(2)} s / ${sum.skopeo.toFixed(2)} s)${Number.isNaN(sum.floor) ? '' : `; floor ${sum.floorRatio.toFixed(2)} (${sum.floor.toFixed(2)} s)`}`,
            `<= ${info.goal.toFixed(2)}`,
            verdict(sum.ratio <= info.goal),
          ],
    );
  }
  if (options.cases.includes('warm')) {
    const requestsOf = (tool: ToolName, image?: ImageKey): NonNullable<Sample['requests']>[] =>
      samples
        .filter((s) => s.caseId === 'warm' && s.tool === tool && (image === undefined || s.image === image))
        .flatMap((s) => (s.requests ? [s.requests] : []));
    const perImage = (tool: ToolName): string =>
      images.map((i) => `${i.key} ${range(requestsOf(tool, i.key).map((r) => r.total))}`).join(', ');
    const ours = requestsOf('ours');
    const blobRequests = Math.max(...ours.map((r) => r.blobRequests));
    goalRows.push([
      'warm: our requests per copy',
      `${perImage('ours')}; ${blobRequests} on blobs (skopeo: ${perImage('skopeo')})`,
      `0 on blobs, <= ${WARM_REQUEST_LIMIT}`,
      verdict(blobRequests === 0 && Math.max(...ours.map((r) => r.total)) <= WARM_REQUEST_LIMIT),
    ]);
  }
  const singleRss = peakRss(samples, undefined, 'single', 'ours');
  goalRows.push([
    `our peak RSS on the ${singleMiB} MiB image (any case)`,
    `${singleRss === undefined ? 'n/a' : (singleRss / 1024).toFixed(1)} MiB (skopeo ${mib(peakRss(samples, undefined, 'single', 'skopeo'))} MiB; ours idle after start-up ${mib(median(startup.oursRss))} MiB)`,
    `< ${RSS_GOAL_MIB} MiB`,
    verdict(singleRss !== undefined && singleRss / 1024 < RSS_GOAL_MIB),
  ]);
  out(table(goalRows, [0, 1, 3]));
  out();
  const others = samples.map((s) => s.cpu.other);
  const othersShare = others.reduce((a, b) => a + b, 0) / samples.reduce((a, s) => a + s.seconds, 0);
  out(
    `total ${((performance.now() - began) / 1000).toFixed(0)} s; load average ${loadBefore.toFixed(2)} at the start, ${loadAverage().toFixed(2)} at the end; ` +
      `other processes used ${othersShare.toFixed(2)} cores on average during the copies${othersShare > 0.2 ? '  WARNING: figures disturbed by other load' : ''}`,
  );

  if (options.json !== undefined) {
    writeFileSync(
      options.json,
      `${JSON.stringify({ options, images: images.map((i) => ({ key: i.key, description: i.description, digest: i.image.root.digest })), startup, samples }, null, 2)}\n`,
    );
    out(`measurements written to ${options.json}`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (error: unknown) => {
    if (interrupted) return; // the signal handler cleans up and exits
    process.stderr.write(
      `\nbench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    await cleanup();
    process.exit(1);
  },
);
