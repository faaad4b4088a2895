/**
 * Credentials from sources that misbehave, as the command prints their failures: a credential helper whose error
 * output carries terminal escape sequences and a secret must not reach the terminal or `--json` as it is; a
 * credentials file without a line end (a FIFO, /dev/zero, an endless pipe) is not read into memory whole.
 */
import { chmodSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { dockerImage, pushImage, startRegistry, type LocalRegistry } from '@ecr-replicate/testing';
import { jsonLinesOf, runCli } from '../support/cli';

const USER = 'replicator';
const PASSWORD = 'hostile-credentials-password';

let dir: string;
let source: LocalRegistry;
let destination: LocalRegistry;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-hostile-credentials-'));
  [source, destination] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: { username: USER, password: PASSWORD } }),
  ]);
  await pushImage(source, 'apps/creds', dockerImage({ layerSizes: [4 * 1024], seed: 'hostile-credentials' }), 'v1');
}, 60_000);

afterAll(async () => {
  await Promise.all([source?.stop(), destination?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

it('prints a failing credential helper error without its escape sequences or the secret it echoes', async () => {
  const bin = mkdtempSync(join(dir, 'bin-'));
  writeFileSync(
    join(bin, 'docker-credential-noisy'),
    [
      '#!/bin/sh',
      'cat > /dev/null',
      `printf '\\033]0;owned\\007\\033[2Jlookup failed: password=${PASSWORD} token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl\\n' >&2`,
      'exit 1',
    ].join('\n'),
  );
  chmodSync(join(bin, 'docker-credential-noisy'), 0o755);
  const config = mkdtempSync(join(dir, 'docker-'));
  writeFileSync(join(config, 'config.json'), JSON.stringify({ credHelpers: { [destination.host]: 'noisy' } }));

  const run = await runCli(
    ['copy', `${source.host}/apps/creds:v1`, `${destination.host}/noisy/creds:v1`, '--json', '--retries', '0'],
    { env: { DOCKER_CONFIG: config, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` } },
  );
  expect(run.code).toBe(1);
  const error = jsonLinesOf(run).find((line) => line.event === 'error');
  expect(error?.code).toBe('AUTH_UNAVAILABLE');
  for (const text of [String(error?.message), run.stderr]) {
    expect(text).toContain('credential helper docker-credential-noisy failed');
    expect(text).toContain('password=***');
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain('c2lnbmF0dXJl');
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
  }
});

it('reads a credentials file only up to a cap when its first line never ends', async () => {
  // 64 MiB of zero bytes without a line end (sparse: no disk used), standing for /dev/zero or a FIFO that never ends.
  const endless = join(dir, 'endless-creds');
  writeFileSync(endless, '');
  truncateSync(endless, 64 * 1024 * 1024);
  const started = Date.now();
  const run = await runCli(
    ['copy', `${source.host}/apps/creds:v1`, `${destination.host}/endless/creds:v1`, '--src-creds-file', endless],
    { env: { DOCKER_CONFIG: join(dir, 'no-docker-config') } },
  );
  expect(run.code).not.toBe(0);
  expect(run.stderr).toContain(`--src-creds-file: "${endless}" has no USER:PASSWORD line within its first 65536 bytes`);
  expect(Date.now() - started).toBeLessThan(5_000);
});
