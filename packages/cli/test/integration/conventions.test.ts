/**
 * The conventions users bring from skopeo, crane, regctl and the AWS CLI, checked on the real command against
 * real registries: Docker credential helpers, auth files, --version, help <command>, did-you-mean, errors on
 * stderr whatever the output mode, `config check`, the published JSON Schema, globs in a sync.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { replicationConfigJsonSchema } from '@ecr-replicate/common';
import { jsonLinesOf, runCli, type CliRun } from '../support/cli';
import {
  dockerImage,
  listTags,
  manifestDigestOf,
  pushImage,
  startRegistry,
  type LocalRegistry,
  type SyntheticImage,
} from '@ecr-replicate/testing';

const USER = 'helper-user';
const PASSWORD = 'helper-only-password';
const PACKAGE = join(__dirname, '..', '..');

let dir: string;
let source: LocalRegistry;
let destination: LocalRegistry;
let image: SyntheticImage;

const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> =>
  runCli(args, { env: { DOCKER_CONFIG: join(dir, 'no-docker-config'), ...env } });

/**
 * A fake `docker-credential-NAME` on a PATH of its own: it logs each call (argument and stdin) and answers the
 * credentials for `serves`, "credentials not found" (exit 1) for any other server.
 */
function fakeHelper(name: string, serves: string): { env: NodeJS.ProcessEnv; calls: () => string[] } {
  const bin = mkdtempSync(join(dir, 'bin-'));
  const log = join(bin, 'calls.log');
  const answer = JSON.stringify({ ServerURL: serves, Username: USER, Secret: PASSWORD });
  writeFileSync(
    join(bin, `docker-credential-${name}`),
    [
      '#!/bin/sh',
      'server=$(cat)',
      `printf '%s %s\\n' "$1" "$server" >> '${log}'`,
      `if [ "$server" = '${serves}' ]; then printf '%s' '${answer}'; exit 0; fi`,
      'echo "credentials not found in native keychain"; exit 1',
    ].join('\n'),
  );
  chmodSync(join(bin, `docker-credential-${name}`), 0o755);
  return {
    env: { PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` },
    calls: () => {
      try {
        return readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
  };
}

function dockerConfig(content: unknown): string {
  const configDir = mkdtempSync(join(dir, 'docker-'));
  writeFileSync(join(configDir, 'config.json'), JSON.stringify(content));
  return configDir;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-conventions-'));
  [source, destination] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: { username: USER, password: PASSWORD } }),
  ]);
  image = dockerImage({ layerSizes: [8 * 1024, 4 * 1024], seed: 'conventions' });
  await pushImage(source, 'apps/conv', image, 'v1');
}, 60_000);

afterAll(async () => {
  await Promise.all([source?.stop(), destination?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('credentials as the Docker CLI and skopeo find them', () => {
  it('calls the credHelpers helper for the host and uses its credentials', async () => {
    const helper = fakeHelper('fake', destination.host);
    const config = dockerConfig({ credHelpers: { [destination.host]: 'fake' } });
    const run = await cli(['copy', `${source.host}/apps/conv:v1`, `${destination.host}/helper/conv:v1`], {
      DOCKER_CONFIG: config,
      ...helper.env,
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(helper.calls()).toContain(`get ${destination.host}`);
    expect(await manifestDigestOf(destination, 'helper/conv', 'v1')).toBe(image.root.digest);
    expect(run.stdout).not.toContain(PASSWORD);
  });

  it('calls the credsStore helper when no entry of the file holds credentials', async () => {
    const helper = fakeHelper('store', destination.host);
    const config = dockerConfig({ auths: { [destination.host]: {} }, credsStore: 'store' });
    const run = await cli(['copy', `${source.host}/apps/conv:v1`, `${destination.host}/store/conv:v1`], {
      DOCKER_CONFIG: config,
      ...helper.env,
    });
    expect(run.code).toBe(0);
    expect(helper.calls()).toEqual([`get ${destination.host}`]);
  });

  it('reads --authfile (and REGISTRY_AUTH_FILE) before the Docker config', async () => {
    const authFile = join(dir, 'auth.json');
    writeFileSync(
      authFile,
      JSON.stringify({
        auths: { [destination.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } },
      }),
    );
    const wrong = dockerConfig({
      auths: { [destination.host]: { auth: Buffer.from(`${USER}:wrong`).toString('base64') } },
    });
    const viaOption = await cli(
      ['copy', `${source.host}/apps/conv:v1`, `${destination.host}/authfile/conv:v1`, '--authfile', authFile],
      { DOCKER_CONFIG: wrong },
    );
    expect(viaOption.code).toBe(0);
    const viaVariable = await cli(['copy', `${source.host}/apps/conv:v1`, `${destination.host}/authfile/conv:v2`], {
      DOCKER_CONFIG: wrong,
      REGISTRY_AUTH_FILE: authFile,
    });
    expect(viaVariable.code).toBe(0);
    const dockerOnly = await cli(['copy', `${source.host}/apps/conv:v1`, `${destination.host}/authfile/conv:v3`], {
      DOCKER_CONFIG: wrong,
    });
    expect(dockerOnly.code).toBe(1);
  });

  it('says which helper failed, never its output, and exits at once (a fresh process)', async () => {
    const config = dockerConfig({ credHelpers: { [destination.host]: 'missing-helper' } });
    const started = Date.now();
    // The real command: a timer left behind (spawn's own time limit, which Node keeps when the program is missing)
    // kept it alive a minute after its error.
    const run = await promisify(execFile)(
      process.execPath,
      [
        join(PACKAGE, 'bin', 'ecr-replicate.js'),
        'copy',
        `${source.host}/apps/conv:v1`,
        `${destination.host}/nohelper/conv:v1`,
      ],
      { env: { PATH: process.env.PATH ?? '', HOME: dir, DOCKER_CONFIG: config }, timeout: 50_000 },
    ).catch((error: { code: number | null; stderr: string; killed?: boolean }) => error);
    expect('killed' in run && run.killed).toBe(false);
    expect('code' in run ? run.code : 0).toBe(1);
    expect(run.stderr).toMatch(/credential helper docker-credential-missing-helper .* is not on PATH/);
    // Well under the helper's 60 s limit, with room for a busy machine.
    expect(Date.now() - started).toBeLessThan(40_000);
  }, 60_000);
});

describe('the command line', () => {
  it('--version prints the package version on stdout', async () => {
    const { version } = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V', 'version']) {
      const run = await cli([flag]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(`ecr-replicate ${version} (Node.js ${process.version})\n`);
    }
  });

  it("help <command> prints that command's help, as --help after it does", async () => {
    const help = await cli(['help', 'copy']);
    const flag = await cli(['copy', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: ecr-replicate copy SOURCE DESTINATION/);
    expect(help.stdout).toBe(flag.stdout);
    expect((await cli(['help', 'sync'])).stdout).toMatch(/^Usage: ecr-replicate sync/);
    expect((await cli(['help'])).stdout).toMatch(/^Usage: ecr-replicate <command>/);
  });

  it.each([
    [['cpy', 'a', 'b'], /unknown command "cpy" \(did you mean "copy"\?\)/],
    [['sycn'], /unknown command "sycn" \(did you mean "sync"\?\)/],
    [['help', 'stauts'], /unknown command "stauts" \(did you mean "status"\?\)/],
    [['copy', 'x/a:1', 'y/b', '--dest-cred', 'u:p'], /unknown option --dest-cred \(did you mean --dest-creds\?\)\n/],
    [['copy', 'x/a:1', 'y/b', '--platfrom', 'linux/amd64'], /unknown option --platfrom \(did you mean --platform\?\)/],
    [['sync', 'a', 'b', '--dryrun'], /unknown option --dryrun \(did you mean --dry-run\?\)/],
    [['copy', 'x/a:1', 'y/b', '--zzzzzz'], /unknown option --zzzzzz\nRun "ecr-replicate help copy" for usage\.\n$/],
  ])('suggests the closest command or option for %j', async (args, message) => {
    const run = await cli(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/'/); // no mismatched quotes from the argument parser
  });

  it('prints no AWS SDK NodeVersionSupportWarning (an AWS-touching command in a fresh process)', async () => {
    const bin = join(PACKAGE, 'bin', 'ecr-replicate.js');
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE00',
      AWS_SECRET_ACCESS_KEY: 'example-secret-key-for-a-closed-port',
      AWS_MAX_ATTEMPTS: '1',
      AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
    };
    const run = await promisify(execFile)(
      process.execPath,
      [bin, 'status', '--table', 'jobs', '--region', 'us-east-1'],
      {
        env,
      },
    ).catch((error: { code: number; stderr: string }) => error);
    expect(run.stderr).toContain('cannot read the job table "jobs"');
    expect(run.stderr).not.toMatch(/NodeVersionSupportWarning|Warning/);
  });

  it('accepts the docker:// transport prefix of skopeo', async () => {
    const run = await cli(
      ['copy', `docker://${source.host}/apps/conv:v1`, `docker://${destination.host}/transport/conv:v1`],
      { ECR_REPLICATE_DEST_CREDS: `${USER}:${PASSWORD}` },
    );
    expect(run.code).toBe(0);
    expect(jsonLinesOf(run).at(-1)).toMatchObject({ destination: `${destination.host}/transport/conv:v1` });
  });

  it('writes every error to stderr, in JSON mode too (where stdout also gets it as a JSON line)', async () => {
    const copy = await cli(['copy', `${source.host}/apps/conv:nope`, `${destination.host}/x/conv`, '--json']);
    expect(copy.code).toBe(1);
    expect(copy.stderr).toMatch(/^ecr-replicate: error \(NOT_FOUND\): .*apps\/conv/m);
    expect(jsonLinesOf(copy).at(-1)).toMatchObject({ event: 'error', code: 'NOT_FOUND' });
    const sync = await cli(['sync', '127.0.0.1:9', destination.host, '--retries', '0']);
    expect(sync.code).toBe(1);
    expect(sync.stderr).toMatch(/^ecr-replicate: error \(NETWORK\): /m);
    expect(jsonLinesOf(sync).at(-1)).toMatchObject({ event: 'error', code: 'NETWORK' });
  });
});

describe('configuration', () => {
  const write = (name: string, content: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };

  it('config check names a misspelled key with its path and the closest known key, and exits 1', async () => {
    const file = write('misspelled.json', {
      repository: { include: ['team/*'] },
      tags: { inclde: ['v*'] },
      delete: true,
    });
    const run = await cli(['config', 'check', file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `ecr-replicate: error (INVALID_INPUT): ${file} is not a valid replication configuration`,
    );
    expect(run.stderr).toContain('  repository: is not a known key (did you mean "repositories"?)\n');
    expect(run.stderr).toContain('  tags.inclde: is not a known key (did you mean "include"?)\n');
    expect(run.stderr).toContain('  delete: is not a known key (did you mean "deletes"?)\n');
  });

  it('config check says what a valid file selects', async () => {
    const file = write('valid.json', { tags: { include: ['v[0-9]*', '{stable,latest}'] }, deletes: true });
    const run = await cli(['config', 'check', file]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `${file}: valid\n  repositories: all\n  tags: v[0-9]*, {stable,latest}\n  mapping: names kept\n  deletes: replicated\n`,
    );
  });

  it('sync refuses a misspelled key instead of selecting every repository', async () => {
    const file = write('sync-misspelled.json', { repository: { include: ['apps/*'] } });
    const run = await cli(['sync', source.host, destination.host, '--config', file, '--dry-run']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/repository: is not a known key \(did you mean "repositories"\?\)/);
  });

  it('sync selects tags with the globs v[0-9]* and {a,b}', async () => {
    for (const tag of ['v1', 'v10', 'vx', 'stable', 'edge', 'latest']) await pushImage(source, 'globs/app', image, tag);
    const file = write('globs.json', {
      repositories: { include: ['glob{s,x}/*'] },
      tags: { include: ['v[0-9]*', '{stable,latest}'] },
    });
    const run = await cli(['sync', source.host, destination.host, '--config', file], {
      ECR_REPLICATE_DEST_CREDS: `${USER}:${PASSWORD}`,
    });
    expect(run.code).toBe(0);
    expect((await listTags(destination, 'globs/app')).sort()).toEqual(['latest', 'stable', 'v1', 'v10']);
  });

  it('config schema prints the published JSON Schema (schema/replication-config.schema.json), which refuses unknown keys', async () => {
    const run = await cli(['config', 'schema']);
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(printed).toEqual(replicationConfigJsonSchema());
    const published = JSON.parse(readFileSync(join(PACKAGE, 'schema', 'replication-config.schema.json'), 'utf8'));
    expect(published).toEqual(printed);
    expect(printed).toMatchObject({ type: 'object', additionalProperties: false });
  });
});
