/**
 * Measuring one copy: running a tool as a child process (wall time from spawn to exit, peak
 * RSS), and timing every request the harness's latency links see while it runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { LatencyLink, LocalRegistry } from '@ecr-replicate/testing';

/** GNU time, to read a child's peak RSS (`%M`, KiB) and CPU time; both tools run under it when present. */
export const GNU_TIME = '/usr/bin/time';
export const hasGnuTime = existsSync(GNU_TIME);

const OUTPUT_TAIL = 64 * 1024;

/** What one child process did. */
export interface RunOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** performance.now() just before spawn and at the 'exit' event. */
  startedMs: number;
  exitedMs: number;
  /** Wall time, spawn to exit. */
  seconds: number;
  /** Last 64 KiB of each stream. */
  stdout: string;
  stderr: string;
  /** What the child wrote to fd 3 (our tool: its maxRSS). */
  fd3: string;
  /** Peak RSS and user + system CPU seconds as GNU time saw them, when it was used. */
  timeRssKiB?: number;
  timeCpuSeconds?: number;
}

/** Children running now: killed (their whole process group) on interrupt or timeout. */
const running = new Set<ChildProcess>();

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Kills every child still running (Ctrl-C, fatal error). */
export function killRunningChildren(): void {
  for (const child of running) killGroup(child);
  running.clear();
}

/**
 * Runs `command args` (under GNU time when `timeFile` is given) in its own process group,
 * with fd 3 as a pipe; resolves when it has exited and its output is read.
 */
export function runMeasured(
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; timeoutMs: number; timeFile?: string },
): Promise<RunOutcome> {
  const [file, argv] =
    options.timeFile !== undefined && hasGnuTime
      ? [GNU_TIME, ['-f', '%M %U %S', '-o', options.timeFile, command, ...args]]
      : [command, args];
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let fd3 = '';
    let exited: { code: number | null; signal: NodeJS.Signals | null; at: number } | undefined;
    let timedOut = false;
    const startedMs = performance.now();
    const child = spawn(file, argv, { env: options.env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], detached: true });
    running.add(child);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, options.timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout = (stdout + chunk.toString()).slice(-OUTPUT_TAIL);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-OUTPUT_TAIL);
    });
    (child.stdio[3] as NodeJS.ReadableStream | null)?.on('data', (chunk: Buffer) => {
      fd3 += chunk.toString();
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(new Error(`cannot run ${file}: ${error.message}`));
    });
    child.once('exit', (code, signal) => {
      exited = { code, signal, at: performance.now() };
    });
    child.once('close', () => {
      clearTimeout(timer);
      running.delete(child);
      killGroup(child); // nothing of it may linger
      const end = exited ?? { code: child.exitCode, signal: child.signalCode, at: performance.now() };
      if (timedOut) {
        reject(
          new Error(
            `${command} ${args.join(' ')} did not finish within ${options.timeoutMs / 1000} s; stderr: ${stderr.trim().slice(-2000)}`,
          ),
        );
        return;
      }
      const outcome: RunOutcome = {
        code: end.code,
        signal: end.signal,
        startedMs,
        exitedMs: end.at,
        seconds: (end.at - startedMs) / 1000,
        stdout,
        stderr,
        fd3,
      };
      if (options.timeFile !== undefined && hasGnuTime) {
        try {
          // GNU time writes "Command exited with non-zero status N" before the figures on failure.
          const [rss, user, system] = (readFileSync(options.timeFile, 'utf8').trim().split('\n').at(-1) ?? '')
            .split(' ')
            .map(Number);
          if (rss !== undefined && Number.isFinite(rss) && rss > 0) outcome.timeRssKiB = rss;
          if (user !== undefined && system !== undefined && Number.isFinite(user + system))
            outcome.timeCpuSeconds = user + system;
        } catch {
          // no figure
        }
      }
      resolve(outcome);
    });
  });
}

// ---- CPU of the registries ----------------------------------------------------

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** The pid of a harness registry's `docker-registry serve` process (found by its config path). */
export function registryPid(registry: LocalRegistry): number | undefined {
  const config = `${registry.rootDir}/config.yml`;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv[1] === 'serve' && argv[2] === config && (argv[0] ?? '').endsWith('docker-registry')) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** User + system CPU seconds a process has used so far (0 when unknown). */
export function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command: state is field 3, utime 14 and stime 15 (1-based, whole line).
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** CPU seconds the whole machine has been busy (all cores; steal included), from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** The 1-minute load average. */
export function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}

// ---- requests seen by the links ---------------------------------------------

export type Side = 'source' | 'destination';

/** What a request was about, from its path. */
export type RequestKind = 'ping' | 'manifest' | 'blob' | 'upload' | 'referrers' | 'tags' | 'other';

export function kindOf(url: string): RequestKind {
  const path = url.split('?')[0] ?? url;
  if (path === '/v2/' || path === '/v2') return 'ping';
  if (/\/blobs\/uploads\//.test(path)) return 'upload';
  if (/\/blobs\/[^/]+$/.test(path)) return 'blob';
  if (/\/manifests\/[^/]+$/.test(path)) return 'manifest';
  if (/\/referrers\/[^/]+$/.test(path)) return 'referrers';
  if (/\/tags\/list$/.test(path)) return 'tags';
  return 'other';
}

/** One request with the moments it reached the latency link and was answered (response head sent on). */
export interface TimedRequest {
  side: Side;
  method: string;
  url: string;
  kind: RequestKind;
  arrivedMs: number;
  answeredMs?: number;
  status?: number;
}

/** The requests the latency links logged (each link times them itself, with performance.now()). */
export class RequestLog {
  constructor(private readonly links: Array<{ side: Side; link: LatencyLink }>) {}

  /** The requests logged since the last call, oldest first. */
  take(): TimedRequest[] {
    const taken: TimedRequest[] = [];
    for (const { side, link } of this.links) {
      for (const r of link.requests) {
        taken.push({
          side,
          method: r.method,
          url: r.url,
          kind: kindOf(r.url),
          arrivedMs: r.sentAt,
          ...(r.answeredAt !== undefined ? { answeredMs: r.answeredAt } : {}),
          ...(r.status !== undefined ? { status: r.status } : {}),
        });
      }
      link.clearRequests();
    }
    return taken.sort((a, b) => a.arrivedMs - b.arrivedMs);
  }
}

/** Figures about the requests of one copy. */
export interface RequestStats {
  total: number;
  source: number;
  destination: number;
  /** Requests on blob or upload paths (HEAD/GET blob, POST/PATCH/PUT/DELETE upload). */
  blobRequests: number;
  /** `METHOD kind` → count, e.g. `HEAD blob` → 9. */
  byKind: Record<string, number>;
  /** Cross-repository mount attempts (POST ...?mount=). */
  mounts: number;
  /** Most PATCH uploads in flight at once (arrival to answer at the destination link). */
  maxUploadsInFlight: number;
  /** Most requests in flight at once, both links together. */
  maxInFlight: number;
  /**
   * Waves of requests: a request that arrives while none is in flight starts a new wave.
   * With a fixed latency per request this is the number of round trips the copy waited for.
   */
  waves: number;
  /** Milliseconds after spawn: first request, first PATCH, last answer. */
  firstRequestMs?: number;
  firstUploadMs?: number;
  lastAnswerMs?: number;
}

function maxOverlap(intervals: Array<[number, number]>): number {
  const points: Array<[number, number]> = [];
  for (const [start, end] of intervals) points.push([start, 1], [end, -1]);
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let best = 0;
  for (const [, delta] of points) {
    current += delta;
    best = Math.max(best, current);
  }
  return best;
}

export function requestStats(requests: TimedRequest[], spawnedMs: number): RequestStats {
  const byKind: Record<string, number> = {};
  for (const r of requests) {
    const key = `${r.method} ${r.kind}`;
    byKind[key] = (byKind[key] ?? 0) + 1;
  }
  const answered = requests.filter((r): r is TimedRequest & { answeredMs: number } => r.answeredMs !== undefined);
  const patches = answered.filter((r) => r.method === 'PATCH' && r.side === 'destination');
  const sorted = [...requests].sort((a, b) => a.arrivedMs - b.arrivedMs);
  let waves = 0;
  let busyUntil = -Infinity;
  for (const r of sorted) {
    if (r.arrivedMs > busyUntil) waves += 1;
    busyUntil = Math.max(busyUntil, r.answeredMs ?? r.arrivedMs);
  }
  const stats: RequestStats = {
    total: requests.length,
    source: requests.filter((r) => r.side === 'source').length,
    destination: requests.filter((r) => r.side === 'destination').length,
    blobRequests: requests.filter((r) => r.kind === 'blob' || r.kind === 'upload').length,
    byKind,
    mounts: requests.filter((r) => r.kind === 'upload' && r.method === 'POST' && /[?&]mount=/.test(r.url)).length,
    maxUploadsInFlight: maxOverlap(patches.map((r) => [r.arrivedMs, r.answeredMs])),
    maxInFlight: maxOverlap(answered.map((r) => [r.arrivedMs, r.answeredMs])),
    waves,
  };
  if (sorted[0]) stats.firstRequestMs = sorted[0].arrivedMs - spawnedMs;
  const firstPatch = sorted.find((r) => r.method === 'PATCH');
  if (firstPatch) stats.firstUploadMs = firstPatch.arrivedMs - spawnedMs;
  if (answered.length > 0) stats.lastAnswerMs = Math.max(...answered.map((r) => r.answeredMs)) - spawnedMs;
  return stats;
}
