import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Template } from './template';

/**
 * Runs `sls package` for real, offline (no AWS credentials, no AWS config),
 * in a private mirror of the repository: serverless and serverless-esbuild
 * always work in `<service>/.serverless` and `<service>/.esbuild`, so two
 * packagings of one service at once would clobber each other. The mirror is
 * a temporary directory of symbolic links to the repository's files, with
 * real directories down to the service directory and a copy of its
 * serverless.yml; the packaged output goes to its own `--package` directory.
 */

export const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');
const SLS = join(REPO_ROOT, 'node_modules', 'osls', 'bin', 'serverless.js');

export type StackName = 'source' | 'destination';
export const SERVICE_DIRS: Record<StackName, string> = { source: '.', destination: 'deploy/destination' };

/** Entries never mirrored: build output, VCS and caches. */
const SKIPPED = new Set(['.git', '.serverless', '.esbuild', '.turbo', '.demo', '.bench', 'coverage', 'reports']);

export interface PackagedStack {
  stack: StackName;
  stage: string;
  region: string;
  /** The `--package` directory: zips, templates, state. */
  dir: string;
  /** The mirror's service directory (where `sls deploy --package` can run). */
  serviceDir: string;
  template: Template;
  state: { package: { artifactDirectoryName: string }; service: { provider: { region: string; stage: string } } };
  artifactDirectory: string;
  durationMs: number;
  output: string;
}

/** process.env without any AWS credentials or configuration. */
export function offlineEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('AWS_')) env[name] = value;
  return {
    ...env,
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
    SLS_TELEMETRY_DISABLED: '1',
    ...extra,
  };
}

let runRoot: string | undefined;

function newMirrorRoot(): string {
  runRoot ??= mkdtempSync(join(tmpdir(), 'stack-tests-'));
  return mkdtempSync(join(runRoot, 'mirror-'));
}

/** Mirrors the repository for packaging `serviceRel`; returns the mirror's service directory. */
export function mirrorRepository(serviceRel: string): { root: string; serviceDir: string } {
  const root = newMirrorRoot();
  const chain = serviceRel === '.' ? [] : serviceRel.split('/');
  let source = REPO_ROOT;
  let target = root;
  for (let depth = 0; ; depth += 1) {
    const next = chain[depth];
    for (const entry of readdirSync(source)) {
      if (SKIPPED.has(entry) || entry === next) continue;
      if (next === undefined && entry === 'serverless.yml') cpSync(join(source, entry), join(target, entry));
      else symlinkSync(join(source, entry), join(target, entry));
    }
    if (next === undefined) break;
    source = join(source, next);
    target = join(target, next);
    mkdirSync(target);
  }
  return { root, serviceDir: target };
}

export interface RunResult {
  code: number | null;
  output: string;
  durationMs: number;
}

/** Runs the serverless CLI in `cwd`; resolves with its exit code and output (stdout and stderr). */
export function runSls(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = offlineEnv(),
  timeoutMs = 180_000,
): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [SLS, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output, durationMs: Date.now() - started });
    });
  });
}

/**
 * `sls package --stage --region --package` of one stack, offline, with
 * `params` as `--param` overrides; rejects with serverless' output when it fails.
 */
export async function packageStack(
  stack: StackName,
  stage: string,
  region: string,
  params: Record<string, string> = {},
): Promise<PackagedStack> {
  const { root, serviceDir } = mirrorRepository(SERVICE_DIRS[stack]);
  const dir = join(root, `package-${stack}-${stage}-${region}`);
  const paramOptions = Object.entries(params).map(([name, value]) => `--param=${name}=${value}`);
  // serverless-esbuild leaves a copy of each bundle in the temporary directory: keep those inside the mirror.
  const result = await runSls(
    ['package', '--stage', stage, '--region', region, '--package', dir, ...paramOptions],
    serviceDir,
    offlineEnv({ TMPDIR: root }),
  );
  const templateFile = join(dir, 'cloudformation-template-update-stack.json');
  if (result.code !== 0 || !existsSync(templateFile)) {
    throw new Error(
      `sls package of the ${stack} stack (${stage}, ${region}) failed with exit code ${result.code}:\n${result.output}`,
    );
  }
  const template = JSON.parse(readFileSync(templateFile, 'utf8')) as Template;
  const state = JSON.parse(readFileSync(join(dir, 'serverless-state.json'), 'utf8')) as PackagedStack['state'];
  return {
    stack,
    stage,
    region,
    dir,
    serviceDir,
    template,
    state,
    artifactDirectory: state.package.artifactDirectoryName,
    durationMs: result.durationMs,
    output: result.output,
  };
}

/** Runs `tasks` with at most `limit` at once; results in the tasks' order. */
export async function inParallel<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next;
      next += 1;
      results[index] = await (tasks[index] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, lane));
  return results;
}

/** At most two packagings at once (two cores). */
export const PACKAGING_CONCURRENCY = 2;

export interface Run {
  stage: 'dev' | 'prod';
  region: 'us-east-1' | 'us-gov-west-1' | 'cn-north-1';
  /** Stage parameters overridden with `--param` (none: the shipped ones). */
  params?: Record<string, string>;
}

/** Both stages in a commercial, a GovCloud and a China region. */
export const RUNS: Run[] = [
  { stage: 'dev', region: 'us-east-1' },
  { stage: 'dev', region: 'us-gov-west-1' },
  { stage: 'dev', region: 'cn-north-1' },
  { stage: 'prod', region: 'us-east-1' },
  { stage: 'prod', region: 'us-gov-west-1' },
  { stage: 'prod', region: 'cn-north-1' },
];

/** The partition of a run's region. */
export const partitionOf = (region: Run['region']): string =>
  region.startsWith('us-gov-') ? 'aws-us-gov' : region.startsWith('cn-') ? 'aws-cn' : 'aws';

export const runKey = (run: Run): string => `${run.stage}/${run.region}`;

/** Packages `stack` for every run (two at a time); a map from run key to package. */
export async function packageRuns(stack: StackName, runs: Run[] = RUNS): Promise<Map<string, PackagedStack>> {
  const packaged = await inParallel(
    runs.map((run) => () => packageStack(stack, run.stage, run.region, run.params)),
    PACKAGING_CONCURRENCY,
  );
  const byKey = new Map<string, PackagedStack>();
  for (const item of packaged) byKey.set(`${item.stage}/${item.region}`, item);
  console.log(
    packaged
      .map((item) => `sls package ${stack} ${item.stage} ${item.region}: ${(item.durationMs / 1000).toFixed(1)} s`)
      .join('\n'),
  );
  return byKey;
}

/** Removes every mirror of this test file (set KEEP_STACK_PACKAGES=1 to keep them for inspection). */
export function removeMirrors(): void {
  if (runRoot === undefined) return;
  if (process.env.KEEP_STACK_PACKAGES === '1') {
    console.log(`stack packages kept in ${runRoot}`);
    return;
  }
  rmSync(runRoot, { recursive: true, force: true });
  runRoot = undefined;
}
