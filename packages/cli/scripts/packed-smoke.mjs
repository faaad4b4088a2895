#!/usr/bin/env node
// The command as a user gets it from a tarball: `npm pack` of this package, `npm install -g` into a temporary
// prefix, then the installed `ecr-replicate` runs --version, a copy between two registries (Debian's
// docker-registry on loopback), `config check` and a `sync --dry-run`. Prints what it did; exits 1 on any failure.
// Used by CI (.ci/run) and by test/integration/package.test.ts.
/* global fetch -- Node's own: the script needs no package, like the tarball it checks */
import { Buffer } from 'node:buffer';
import { execFileSync, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'ecr-replicate-packed-'));
const registries = [];
const say = (line) => console.log(`packed-smoke: ${line}`);

function run(command, args, options = {}) {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startRegistry(name) {
  const port = await freePort();
  const dir = join(work, name);
  const config = join(work, `${name}.yml`);
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      `  filesystem: { rootdirectory: ${JSON.stringify(dir)} }`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  registries.push(child);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i += 1) {
    try {
      if ((await fetch(`${url}/v2/`)).ok) return { host: `127.0.0.1:${port}`, url };
    } catch {
      // not up yet
    }
    await sleep(50);
  }
  throw new Error(`docker-registry ${name} did not start`);
}

const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function pushBlob(registry, repository, bytes) {
  const digest = sha256(bytes);
  const start = await fetch(`${registry.url}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  const location = new URL(start.headers.get('location'), registry.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    body: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });
  if (put.status !== 201) throw new Error(`blob upload answered ${put.status}`);
  return { digest, size: bytes.length };
}

/** A tiny OCI image (one config, one layer) at repository:tag; resolves to its manifest digest. */
async function pushImage(registry, repository, tag) {
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  );
  const layer = Buffer.from(`packed smoke layer ${Date.now()}\n`);
  const configBlob = await pushBlob(registry, repository, config);
  const layerBlob = await pushBlob(registry, repository, layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configBlob },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layerBlob }],
    }),
  );
  const put = await fetch(`${registry.url}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (put.status !== 201) throw new Error(`manifest upload answered ${put.status}`);
  return sha256(manifest);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

try {
  const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], { cwd: packageDir }))[0];
  const tarball = join(work, packed.filename);
  const files = packed.files.map((f) => f.path);
  say(`npm pack: ${packed.filename}, ${files.length} files, ${(packed.size / 1048576).toFixed(1)} MiB`);
  check(
    files.includes('bundle/main.js') && files.includes('bin/ecr-replicate.js'),
    'the tarball lacks the bundle or the bin',
  );
  check(
    !files.some((f) => f.startsWith('dist/') || f.includes('node_modules/')),
    'the tarball carries dist/ or node_modules/',
  );
  check(manifest.dependencies === undefined, 'package.json has dependencies: the tarball must be self-contained');

  const prefix = join(work, 'prefix');
  run(
    'npm',
    ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--offline', '--loglevel=error', tarball],
    {
      cwd: work,
    },
  );
  const bin = join(prefix, 'bin', 'ecr-replicate');
  const env = { PATH: process.env.PATH, HOME: work, DOCKER_CONFIG: join(work, 'docker') };
  const version = run(bin, ['--version'], { env, cwd: work }).trim();
  say(`npm install -g --prefix ${prefix}: ${version}`);
  check(version.startsWith(`ecr-replicate ${manifest.version} `), `--version printed "${version}"`);

  const [source, destination] = await Promise.all([startRegistry('source'), startRegistry('destination')]);
  const digest = await pushImage(source, 'smoke/app', 'v1');
  const copy = run(bin, ['copy', `${source.host}/smoke/app:v1`, `${destination.host}/smoke/app:v1`, '--json'], {
    env,
    cwd: work,
  });
  const result = JSON.parse(copy.trim().split('\n').at(-1));
  check(result.event === 'result' && result.digest === digest, `the copy printed ${JSON.stringify(result)}`);
  const head = await fetch(`${destination.url}/v2/smoke/app/manifests/v1`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  check(head.headers.get('docker-content-digest') === digest, 'the destination does not hold the copied digest');
  say(`copy: ${source.host}/smoke/app:v1 -> ${destination.host}/smoke/app:v1 ${digest}`);

  const configFile = join(work, 'config.json');
  writeFileSync(configFile, JSON.stringify({ repositories: { include: ['smoke/*'] }, tags: { include: ['v[0-9]*'] } }));
  const checked = run(bin, ['config', 'check', configFile], { env, cwd: work });
  check(checked.startsWith(`${configFile}: valid`), `config check printed ${checked}`);
  const dry = run(bin, ['sync', source.host, destination.host, '--config', configFile, '--dry-run', '--json'], {
    env,
    cwd: work,
  });
  const summary = JSON.parse(dry.trim().split('\n').at(-1));
  check(summary.event === 'summary' && summary.ok === 1 && summary.equal === true, `sync --dry-run printed ${dry}`);
  say('config check and sync --dry-run: the lazily loaded bundles run');
  say('OK');
} catch (error) {
  process.stderr.write(`packed-smoke: FAILED: ${error.stderr ?? ''}${error.message}\n`);
  process.exitCode = 1;
} finally {
  for (const child of registries) child.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
