/**
 * Real local registries: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1, each
 * with its own config, storage and port in a fresh temporary directory.
 *
 * The registry runs under a small `sh` guard in its own process group: the guard kills the
 * registry when our end of its stdin pipe closes, so a registry never outlives the test
 * process, even one that is killed. A process 'exit' hook also kills every live group.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { Agent, request } from 'undici';

/** The registry binary (Debian package `docker-registry`). */
export const REGISTRY_BINARY = '/usr/bin/docker-registry';

/** A running local registry. Structurally a `RegistryEndpoint` (carries its credentials). */
export interface LocalRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  rootDir: string;
  /** Set when started with htpasswd auth. */
  username?: string;
  password?: string;
  /** What the registry printed so far (stdout and stderr, last 64 KiB). */
  output(): string;
  /** Kills the registry and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** Options of `startRegistry`. */
export interface RegistryOptions {
  /** Require Basic auth with these credentials (htpasswd, bcrypt). */
  htpasswd?: { username: string; password: string };
  /** Milliseconds to wait for `GET /v2/` to answer (default 10 000). */
  startTimeoutMs?: number;
  /**
   * Patterns of the URLs a manifest's layers may name (foreign and non-distributable layers, as Windows base images
   * have); without any, distribution refuses such manifests.
   */
  manifestUrlsAllow?: string[];
  /** Serve HTTPS with this certificate and key (PEM file paths); `url` is then `https://…`. */
  tls?: { certificate: string; key: string };
}

const OUTPUT_LIMIT = 64 * 1024;

/** Live registries: process group id → temp dir, for the exit hook. */
const live = new Map<number, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const [pgid, dir] of live) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    }
    live.clear();
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not read the listening port'))));
    });
  });
}

/** The registry's YAML config (JSON strings are valid YAML scalars). */
function registryConfig(
  dir: string,
  port: number,
  htpasswdPath: string | undefined,
  manifestUrlsAllow: string[] = [],
  tls?: RegistryOptions['tls'],
): string {
  const q = (s: string): string => JSON.stringify(s);
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  formatter: text',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(join(dir, 'data'))}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${q(`127.0.0.1:${port}`)}`,
    `  secret: ${q(randomBytes(16).toString('hex'))}`,
    '  headers:',
    '    X-Content-Type-Options: [nosniff]',
  ];
  if (tls) lines.push('  tls:', `    certificate: ${q(tls.certificate)}`, `    key: ${q(tls.key)}`);
  if (htpasswdPath) lines.push('auth:', '  htpasswd:', '    realm: harness-registry', `    path: ${q(htpasswdPath)}`);
  if (manifestUrlsAllow.length > 0) {
    lines.push(
      'validation:',
      '  manifests:',
      '    urls:',
      '      allow:',
      ...manifestUrlsAllow.map((p) => `        - ${q(p)}`),
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The guard: starts the registry in the background and a watcher that kills it when stdin
 * reaches EOF (our pipe closed: stop() or death of the test process). On SIGTERM it passes
 * the signal on and waits, so the guard exits only after the registry has, and reaps it.
 */
const GUARD_SCRIPT = [
  'exec 3<&0',
  '"$0" serve "$1" </dev/null 3<&- &',
  'pid=$!',
  '{ read -r _ <&3; kill -TERM "$pid" 2>/dev/null; } </dev/null &',
  'watcher=$!',
  'exec 3<&-',
  'trap \'kill -TERM "$pid" 2>/dev/null\' TERM',
  'wait "$pid"; status=$?',
  'while kill -0 "$pid" 2>/dev/null; do wait "$pid"; status=$?; done',
  'kill -TERM "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null',
  'exit "$status"',
].join('\n');

let probe: Agent | undefined;
/** The start-up probe of a TLS registry does not check its certificate (the tests that use one do). */
function insecureProbe(): Agent {
  probe ??= new Agent({ connect: { rejectUnauthorized: false } });
  return probe;
}

/** Polls `GET /v2/` until it answers 200 or 401. */
async function waitUntilUp(url: string, child: ChildProcess, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `docker-registry exited (${child.exitCode ?? child.signalCode}) before answering: ${output().trim() || '(no output)'}`,
      );
    }
    try {
      const res = await request(`${url}/v2/`, {
        headersTimeout: 1000,
        bodyTimeout: 1000,
        ...(url.startsWith('https:') ? { dispatcher: insecureProbe() } : {}),
      });
      await res.body.dump();
      if (res.statusCode === 200 || res.statusCode === 401) return;
      lastError = `GET /v2/ answered ${res.statusCode}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `docker-registry did not come up within ${timeoutMs} ms (${lastError}): ${output().trim() || '(no output)'}`,
  );
}

/** Stops a guard and its registry: SIGTERM to the guard, then SIGKILL to its whole process group. */
async function killGroup(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const running = child.exitCode === null && child.signalCode === null;
  const exited = running ? new Promise<void>((r) => child.once('exit', () => r())) : Promise.resolve();
  child.ref(); // keep the event loop alive until it has exited
  const signal = (target: number, sig: NodeJS.Signals): void => {
    try {
      process.kill(target, sig);
    } catch {
      // already gone
    }
  };
  if (running) signal(pid, 'SIGTERM');
  const timer = setTimeout(() => signal(-pid, 'SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
  child.stdin?.destroy(); // the watcher, if it outlived the guard, now reads EOF
  signal(-pid, 'SIGKILL'); // and anything else left in the group
  live.delete(pid);
}

/** Starts one registry process on a given port; rejects (and cleans up) if it does not come up. */
async function startOnce(
  dir: string,
  configPath: string,
  port: number,
  timeoutMs: number,
  scheme = 'http',
): Promise<{ child: ChildProcess; output: () => string }> {
  let buffered = '';
  const append = (chunk: Buffer): void => {
    buffered = (buffered + chunk.toString()).slice(-OUTPUT_LIMIT);
  };
  const child = spawn('/bin/sh', ['-c', GUARD_SCRIPT, REGISTRY_BINARY, configPath], {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });
  if (spawned || child.pid === undefined)
    throw new Error(`cannot start ${REGISTRY_BINARY}: ${spawned?.message ?? 'no pid'}`);
  live.set(child.pid, dir);
  // The guard and the registry must not keep the test process alive on their own.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr])
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  const output = (): string => buffered;
  try {
    await waitUntilUp(`${scheme}://127.0.0.1:${port}`, child, timeoutMs, output);
  } catch (err) {
    await killGroup(child);
    throw err;
  }
  return { child, output };
}

/** Starts a fresh registry (filesystem storage in a new temp dir, deletes enabled, optional htpasswd auth). */
export async function startRegistry(options: RegistryOptions = {}): Promise<LocalRegistry> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'harness-registry-'));
  let htpasswdPath: string | undefined;
  if (options.htpasswd) {
    htpasswdPath = join(dir, 'htpasswd');
    const hash = bcrypt.hashSync(options.htpasswd.password, 5);
    writeFileSync(htpasswdPath, `${options.htpasswd.username}:${hash}\n`);
  }
  const configPath = join(dir, 'config.yml');
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    writeFileSync(configPath, registryConfig(dir, port, htpasswdPath, options.manifestUrlsAllow, options.tls));
    const scheme = options.tls ? 'https' : 'http';
    try {
      const { child, output } = await startOnce(dir, configPath, port, options.startTimeoutMs ?? 10_000, scheme);
      let stopped: Promise<void> | undefined;
      const registry: LocalRegistry = {
        host: `127.0.0.1:${port}`,
        url: `${scheme}://127.0.0.1:${port}`,
        rootDir: dir,
        output,
        stop: () => {
          stopped ??= (async () => {
            await killGroup(child);
            await rm(dir, { recursive: true, force: true });
          })();
          return stopped;
        },
      };
      if (options.htpasswd) {
        registry.username = options.htpasswd.username;
        registry.password = options.htpasswd.password;
      }
      return registry;
    } catch (err) {
      lastError = err as Error;
      // Another process took the port between freePort() and the bind: try another one.
      if (!/address already in use/i.test(lastError.message)) break;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError ?? new Error('docker-registry did not start');
}
