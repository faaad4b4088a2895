/**
 * The `ecr-replicate copy` command: arguments, output and exit codes, run in
 * process against real registries, plus the installed bin end to end.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { TerminalReporter } from '../../src/reporter';
import { jsonLinesOf as lines, runCli, type CliRun } from '../support/cli';
import {
  manifestDigestOf,
  ociIndex,
  pushImage,
  startRegistry,
  type LocalRegistry,
  type SyntheticImage,
} from '@ecr-replicate/testing';

const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> => runCli(args, { env });

const USER = 'replicator';
const PASSWORD = 'test-only-password';
const BIN = join(__dirname, '..', '..', 'bin', 'ecr-replicate.js');

let source: LocalRegistry;
let destination: LocalRegistry;
let image: SyntheticImage;

beforeAll(async () => {
  [source, destination] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: { username: USER, password: PASSWORD } }),
  ]);
  image = ociIndex({
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ],
    sharedBaseSize: 64 * 1024,
    layerSize: 16 * 1024,
    seed: 'cli',
  });
  await pushImage(source, 'apps/cli', image, 'v1');
}, 60_000);

afterAll(async () => {
  await Promise.all([source?.stop(), destination?.stop()]);
});

describe('ecr-replicate copy', () => {
  it('copies, printing one JSON object per event and a result', async () => {
    const run = await cli([
      'copy',
      `${source.host}/apps/cli:v1`,
      `${destination.host}/mirror/cli`,
      '--dest-creds',
      `${USER}:${PASSWORD}`,
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const records = lines(run);
    expect(records.map((r) => r.event)).toEqual(expect.arrayContaining(['plan', 'blob', 'manifest', 'result']));
    const result = records.at(-1)!;
    expect(result).toMatchObject({
      event: 'result',
      digest: image.root.digest,
      upToDate: false,
      destination: `${destination.host}/mirror/cli:v1`,
      platforms: ['linux/amd64', 'linux/arm64'],
    });
    expect(await manifestDigestOf(destination, 'mirror/cli', 'v1')).toBe(image.root.digest);
    // Credentials never appear in the output.
    expect(run.stdout).not.toContain(PASSWORD);
  });

  it('takes credentials from the environment and reports an up-to-date copy', async () => {
    const run = await cli(['copy', `${source.host}/apps/cli:v1`, `${destination.host}/mirror/cli:v1`, '--json'], {
      ECR_REPLICATE_DEST_CREDS: `${USER}:${PASSWORD}`,
    });
    expect(run.code).toBe(0);
    expect(lines(run).at(-1)).toMatchObject({ event: 'result', upToDate: true, bytes: { copied: 0, skipped: 0 } });
  });

  it('takes credentials from a Docker config file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'docker-config-'));
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({
        auths: { [destination.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } },
      }),
    );
    try {
      const run = await cli(['copy', `${source.host}/apps/cli:v1`, `${destination.host}/from-config/cli:v1`], {
        DOCKER_CONFIG: dir,
      });
      expect(run.code).toBe(0);
      expect(await manifestDigestOf(destination, 'from-config/cli', 'v1')).toBe(image.root.digest);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [['copy'], /copy takes SOURCE and DESTINATION \(got 0 arguments\)/],
    [['copy', 'a:1', 'b:1'], /SOURCE "a:1" names no registry/],
    [
      ['copy', '127.0.0.1:5000/App:1', '127.0.0.1:5001/b'],
      /SOURCE: invalid image reference "127.0.0.1:5000\/App:1": repository names must be lowercase/,
    ],
    [['copy', '127.0.0.1:5000/a:1', `127.0.0.1:5001/b@sha256:${'a'.repeat(64)}`], /DESTINATION .* has a digest/],
    [['copy', '127.0.0.1:5000/a:1', '127.0.0.1:5001/b', '--bogus'], /unknown option --bogus\n/],
    [
      ['copy', '127.0.0.1:5000/a:1', '127.0.0.1:5001/b', '--concurrency', '0'],
      /--concurrency must be a whole number from 1 to 64 \(got "0"\)/,
    ],
    [['copy', '127.0.0.1:5000/a:1', '127.0.0.1:5001/b', '--platform', 'linux'], /--platform "linux" is not OS\/ARCH/],
    [
      ['copy', '127.0.0.1:5000/a:1', '127.0.0.1:5001/b', '--dest-creds', 'nocolon'],
      /--dest-creds must be USER:PASSWORD/,
    ],
    [['copy', '127.0.0.1:5000/a:1', '127.0.0.1:5001/b', '--dest-creds', 'u:p', '--dest-secret', 'x'], /exclusive/],
    [['frobnicate'], /unknown command "frobnicate"/],
  ])('exits 2 on bad usage %j', async (args, message) => {
    const run = await cli(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it('exits 1 with a clear error when credentials are missing', async () => {
    const run = await cli(['copy', `${source.host}/apps/cli:v1`, `${destination.host}/nocreds/cli`], {
      DOCKER_CONFIG: '/nonexistent',
    });
    expect(run.code).toBe(1);
    expect(lines(run).at(-1)).toMatchObject({
      event: 'error',
      code: 'AUTH_FAILED',
      message: expect.stringContaining('requires credentials and none were given'),
    });
  });

  it('exits 1 for an unreachable registry after its retries', async () => {
    const run = await cli([
      'copy',
      '127.0.0.1:9/apps/cli:v1',
      `${destination.host}/x/cli`,
      '--retries',
      '1',
      '--dest-creds',
      `${USER}:${PASSWORD}`,
    ]);
    expect(run.code).toBe(1);
    expect(lines(run).at(-1)).toMatchObject({
      event: 'error',
      code: 'NETWORK',
      message: expect.stringMatching(/failed after 2 tries.*ECONNREFUSED/),
    });
  });

  it('exits 1 for a tag that does not exist', async () => {
    const run = await cli([
      'copy',
      `${source.host}/apps/cli:nope`,
      `${destination.host}/x/cli`,
      '--dest-creds',
      `${USER}:${PASSWORD}`,
    ]);
    expect(run.code).toBe(1);
    expect(lines(run).at(-1)).toMatchObject({ event: 'error', code: 'NOT_FOUND' });
  });

  it('documents every option in --help', async () => {
    const run = await cli(['copy', '--help']);
    expect(run.code).toBe(0);
    for (const option of [
      '--src-creds',
      '--dest-creds',
      '--dest-secret',
      '--platform',
      '--no-referrers',
      '--concurrency',
      '--retries',
      '--plain-http',
      '--json',
      '--help',
    ]) {
      expect(run.stdout).toContain(option);
    }
  });

  it('runs as the installed bin with the same exit codes', async () => {
    const exec = promisify(execFile);
    const ok = await exec(process.execPath, [
      BIN,
      'copy',
      `${source.host}/apps/cli:v1`,
      `${destination.host}/bin/cli:v1`,
      '--dest-creds',
      `${USER}:${PASSWORD}`,
    ]);
    expect(JSON.parse(ok.stdout.trim().split('\n').at(-1)!)).toMatchObject({
      event: 'result',
      digest: image.root.digest,
    });
    await expect(exec(process.execPath, [BIN, 'copy', 'nope'])).rejects.toMatchObject({ code: 2 });
  });

  it('copies without loading Powertools, the AWS SDK, the schema library or the sync code (its start-up budget)', async () => {
    const main = join(__dirname, '..', '..', 'dist', 'main.js');
    const script = `require(${JSON.stringify(main)}).main(process.argv.slice(1)).then((code) => {
      process.stderr.write('LOADED ' + JSON.stringify(Object.keys(require.cache)));
      process.exitCode = code;
    })`;
    const run = await promisify(execFile)(
      process.execPath,
      ['-e', script, 'copy', `${source.host}/apps/cli:v1`, `${destination.host}/startup/cli:v1`],
      { env: { ...process.env, ECR_REPLICATE_DEST_CREDS: `${USER}:${PASSWORD}` } },
    );
    expect(await manifestDigestOf(destination, 'startup/cli', 'v1')).toBe(image.root.digest);
    const loaded = JSON.parse(run.stderr.slice(run.stderr.indexOf('LOADED ') + 'LOADED '.length)) as string[];
    expect(loaded.length).toBeGreaterThan(10);
    expect(loaded.some((file) => file.includes('/packages/oci/dist/copy/copy-image.js'))).toBe(true);
    const forbidden = loaded.filter((file) =>
      /\/node_modules\/(@aws-lambda-powertools|@aws-sdk|@smithy|zod|@middy)\/|\/packages\/(repair|ingest|dispatcher|build-worker)\/|\/packages\/common\/dist\/(index|models|settings|state|observability|queue)/.test(
        file,
      ),
    );
    expect(forbidden).toEqual([]);
  });

  it('draws a progress bar on a terminal and prints a readable summary', () => {
    let out = '';
    let err = '';
    const stdout = Object.assign(new PassThrough(), { isTTY: true });
    const stderr = Object.assign(new PassThrough(), { isTTY: true, columns: 200 });
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    let clock = 0;
    const now = jest.spyOn(Date, 'now').mockImplementation(() => (clock += 200));
    const reporter = new TerminalReporter(stdout, stderr, '127.0.0.1:5000/apps/cli:v1');
    reporter.event({
      type: 'plan',
      digest: 'sha256:x',
      mediaType: 'm',
      platforms: ['linux/amd64', 'linux/arm64'],
      blobs: 2,
      bytes: 4 * 1024 * 1024,
    });
    reporter.event({ type: 'bytes', count: 2 * 1024 * 1024 });
    reporter.event({ type: 'blob', digest: 'sha256:a', size: 2 * 1024 * 1024, action: 'copied' });
    reporter.event({ type: 'warning', message: 'picking platforms changes the digest' });
    reporter.result({
      source: '127.0.0.1:5000/apps/cli:v1',
      destination: '127.0.0.1:5001/mirror/cli:v1',
      digest: 'sha256:x',
      mediaType: 'm',
      platforms: ['linux/amd64', 'linux/arm64'],
      upToDate: false,
      manifests: { copied: 3, skipped: 0 },
      blobs: { copied: 1, skipped: 1, mounted: 0 },
      bytes: { copied: 2 * 1024 * 1024, skipped: 2 * 1024 * 1024 },
      referrers: 0,
      seconds: 1.25,
    });
    reporter.close();
    now.mockRestore();
    // The image, a bar, bytes of the total, blobs, platforms, the rate and the time left.
    expect(err).toMatch(
      /127\.0\.0\.1:5000\/apps\/cli:v1 {2}\[#{12}-{12}\] {2}50% {2}2\.0 MiB of 4\.0 MiB {2}blobs 1\/2 {2}2 platforms {2}[\d.]+ (KiB|MiB)\/s, ETA \d+ s/,
    );
    expect(err).toContain('warning: picking platforms changes the digest\n');
    expect(out).toContain('copied        127.0.0.1:5000/apps/cli:v1 -> 127.0.0.1:5001/mirror/cli:v1\n');
    expect(out).toContain('blobs         1 copied, 1 already there\n');
    expect(out).toContain('bytes         2.0 MiB copied, 2.0 MiB already there\n');
    expect(out).toContain('manifests     3 copied\n');
    expect(out).toContain('referrers     none\n');
    expect(out).not.toMatch(/upToDate|mediaType|0\.0 MiB/);
  });
});
