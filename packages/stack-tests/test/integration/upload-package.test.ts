import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createZip, readZip } from '../../../../deploy/lib/zip';
import { REPO_ROOT } from '../support/packaging';

/**
 * deploy/scripts/upload-package.js, run as the pipeline runs it, against a
 * fake `aws` command on PATH that records its arguments and keeps the
 * "uploaded" objects in a directory.
 */

const SCRIPT = join(REPO_ROOT, 'deploy', 'scripts', 'upload-package.js');

const FAKE_AWS = `#!/usr/bin/env node
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const state = process.env.FAKE_AWS_STATE;
const args = process.argv.slice(2);
fs.appendFileSync(path.join(state, 'calls.jsonl'), JSON.stringify(args) + '\\n');
const option = (name) => { const i = args.indexOf(name); return i < 0 ? undefined : args[i + 1]; };
const objectFile = () => path.join(state, 'objects', encodeURIComponent(option('--bucket') + '/' + option('--key')));
if (args[0] === 's3api' && args[1] === 'head-object') {
  if (process.env.FAKE_AWS_HEAD_ERROR === '500') { process.stderr.write('\\nAn error occurred (InternalError) when calling the HeadObject operation (reached max retries: 2): We encountered an internal error\\n'); process.exit(254); }
  if (process.env.FAKE_AWS_HEAD_ERROR) { process.stderr.write('\\nAn error occurred (403) when calling the HeadObject operation: Forbidden\\n'); process.exit(254); }
  if (!fs.existsSync(objectFile() + '.json')) { process.stderr.write('\\nAn error occurred (404) when calling the HeadObject operation: Not Found\\n'); process.exit(254); }
  const stored = JSON.parse(fs.readFileSync(objectFile() + '.json', 'utf8'));
  process.stdout.write(JSON.stringify({ ContentLength: stored.size, ServerSideEncryption: stored.sse, SSEKMSKeyId: stored.kmsKeyId, Metadata: stored.metadata }, null, 4));
  process.exit(0);
}
if (args[0] === 's3api' && args[1] === 'put-object') {
  const metadata = Object.fromEntries(option('--metadata').split(',').map((pair) => pair.split('=')));
  fs.mkdirSync(path.join(state, 'objects'), { recursive: true });
  fs.copyFileSync(option('--body'), objectFile() + '.body');
  const size = fs.statSync(option('--body')).size;
  fs.writeFileSync(objectFile() + '.json', JSON.stringify({ size, metadata, sse: option('--server-side-encryption'), kmsKeyId: option('--ssekms-key-id') }));
  process.stdout.write(JSON.stringify({ ETag: '"fake"' }));
  process.exit(0);
}
process.stderr.write('fake aws: unsupported command: ' + args.join(' ') + '\\n');
process.exit(2);
`;

let root: string;
let bin: string;
let state: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'upload-package-'));
  bin = join(root, 'bin');
  state = join(root, 'aws-state');
  mkdirSync(bin);
  mkdirSync(state);
  writeFileSync(join(bin, 'aws'), FAKE_AWS);
  chmodSync(join(bin, 'aws'), 0o755);
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A package directory like `sls package` writes: its artifact directory name appears in the JSON files. */
function packageDir(name: string, timestamp: number, code = 'exports.handler = async () => 1;\n'): string {
  const dir = join(root, name);
  mkdirSync(dir);
  const directory = `serverless/ecr-partition-replicate/dev/${timestamp}-${new Date(timestamp).toISOString()}`;
  writeFileSync(
    join(dir, 'serverless-state.json'),
    JSON.stringify({ service: { service: 'ecr-partition-replicate' }, package: { artifactDirectoryName: directory } }),
  );
  writeFileSync(
    join(dir, 'cloudformation-template-update-stack.json'),
    JSON.stringify({
      Resources: { Fn: { Type: 'AWS::Lambda::Function', Properties: { Code: { S3Key: `${directory}/ingest.zip` } } } },
    }),
  );
  writeFileSync(join(dir, 'ingest.zip'), createZip([{ name: 'handler.js', data: code }]));
  return dir;
}

interface Run {
  status: number | null;
  output: string;
  calls: string[][];
}

function upload(dir: string, env: Record<string, string | undefined>): Run {
  const callsFile = join(state, 'calls.jsonl');
  rmSync(callsFile, { force: true });
  const baseEnv: Record<string, string> = { PATH: `${bin}:${process.env.PATH ?? ''}`, FAKE_AWS_STATE: state };
  for (const [name, value] of Object.entries(env)) if (value !== undefined) baseEnv[name] = value;
  const result = spawnSync(process.execPath, [SCRIPT, dir], { env: baseEnv, encoding: 'utf8', timeout: 30_000 });
  const calls = existsSync(callsFile)
    ? readFileSync(callsFile, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as string[])
    : [];
  return { status: result.status, output: `${result.stdout}${result.stderr}`, calls };
}

const option = (call: string[], name: string): string | undefined => {
  const index = call.indexOf(name);
  return index < 0 ? undefined : call[index + 1];
};

const PIPELINE = {
  ENVIRONMENT: 'dev',
  PACKAGE_BUCKET: 'artifacts-bucket',
  PACKAGE_PREFIX: 'builds/',
  AWS_REGION: 'us-gov-west-1',
};
const KEY = 'builds/ecr-partition-replicate/dev/us-gov-west-1/ecr-partition-replicate.zip';

describe('upload-package', () => {
  test('uploads a new package encrypted with the default KMS key (alias/aws/s3), with its content hash', () => {
    const dir = packageDir('first', 1_700_000_000_000);
    const run = upload(dir, PIPELINE);
    expect(run.status).toBe(0);
    expect(run.calls.map((call) => call.slice(0, 2).join(' '))).toEqual(['s3api head-object', 's3api put-object']);
    const put = run.calls[1]!;
    expect(option(put, '--bucket')).toBe('artifacts-bucket');
    expect(option(put, '--key')).toBe(KEY);
    expect(option(put, '--server-side-encryption')).toBe('aws:kms');
    expect(option(put, '--ssekms-key-id')).toBe('alias/aws/s3');
    expect(option(put, '--metadata')).toMatch(/^content-sha256=[0-9a-f]{64}$/);

    const stored = readZip(
      readFileSync(join(state, 'objects', `${encodeURIComponent(`artifacts-bucket/${KEY}`)}.body`)),
    );
    expect(stored.map((entry) => entry.name).sort()).toEqual([
      'cloudformation-template-update-stack.json',
      'ingest.zip',
      'serverless-state.json',
    ]);
    expect(stored.find((entry) => entry.name === 'ingest.zip')!.data).toEqual(readFileSync(join(dir, 'ingest.zip')));
  });

  test('does not upload again when the package is unchanged, even packaged anew (new artifact directory)', () => {
    expect(upload(packageDir('first', 1_700_000_000_000), PIPELINE).status).toBe(0);
    const again = upload(packageDir('again', 1_800_000_000_000), PIPELINE);
    expect(again.status).toBe(0);
    expect(again.calls.map((call) => call.slice(0, 2).join(' '))).toEqual(['s3api head-object']);
    expect(option(again.calls[0]!, '--key')).toBe(KEY);
    expect(again.output).toContain('up to date');
  });

  test('uploads again, with PACKAGE_KMS_KEY_ID, when the content changed', () => {
    const first = upload(packageDir('first', 1_700_000_000_000), PIPELINE);
    const changed = upload(packageDir('changed', 1_800_000_000_000, 'exports.handler = async () => 2;\n'), {
      ...PIPELINE,
      PACKAGE_KMS_KEY_ID: 'alias/build-artifacts',
    });
    expect(changed.status).toBe(0);
    expect(changed.calls.map((call) => call.slice(0, 2).join(' '))).toEqual(['s3api head-object', 's3api put-object']);
    const put = changed.calls[1]!;
    expect(option(put, '--ssekms-key-id')).toBe('alias/build-artifacts');
    expect(option(put, '--server-side-encryption')).toBe('aws:kms');
    expect(option(put, '--metadata')).not.toBe(option(first.calls[1]!, '--metadata'));
  });

  test('without a prefix the key starts with the app name', () => {
    const run = upload(packageDir('first', 1_700_000_000_000), { ...PIPELINE, PACKAGE_PREFIX: undefined });
    expect(run.status).toBe(0);
    expect(option(run.calls[1]!, '--key')).toBe(
      'ecr-partition-replicate/dev/us-gov-west-1/ecr-partition-replicate.zip',
    );
  });

  test('two regions of one stage keep their own package (the key carries the region); no region, no upload', () => {
    const dir = packageDir('first', 1_700_000_000_000);
    expect(upload(dir, PIPELINE).status).toBe(0);
    const east = upload(dir, { ...PIPELINE, AWS_REGION: undefined, AWS_DEFAULT_REGION: 'us-east-1' });
    expect(east.status).toBe(0);
    expect(option(east.calls[1]!, '--key')).toBe(
      'builds/ecr-partition-replicate/dev/us-east-1/ecr-partition-replicate.zip',
    );
    const none = upload(dir, { ...PIPELINE, AWS_REGION: undefined });
    expect(none.status).toBe(2);
    expect(none.output).toContain('AWS_REGION (or AWS_DEFAULT_REGION) must name the region');
    expect(none.calls).toEqual([]);
  });

  test.each([
    ['/builds/', 'must not begin with "/"'],
    ['builds', 'must end with "/"'],
  ])('refuses PACKAGE_PREFIX %j (%s) before calling AWS', (prefix, message) => {
    const run = upload(packageDir('first', 1_700_000_000_000), { ...PIPELINE, PACKAGE_PREFIX: prefix });
    expect(run.status).toBe(2);
    expect(run.output).toContain(`PACKAGE_PREFIX ${message}`);
    expect(run.calls).toEqual([]);
  });

  test.each([['ENVIRONMENT'], ['PACKAGE_BUCKET']])('uploads nothing when %s is not set', (name) => {
    const run = upload(packageDir('first', 1_700_000_000_000), { ...PIPELINE, [name]: undefined });
    expect(run.status).toBe(0);
    expect(run.output).toContain(`${name} is not set`);
    expect(run.calls).toEqual([]);
  });

  test('a 403 to the hash question (no s3:ListBucket: S3 does not say "missing") uploads, and says why', () => {
    const run = upload(packageDir('first', 1_700_000_000_000), { ...PIPELINE, FAKE_AWS_HEAD_ERROR: '1' });
    expect(run.status).toBe(0);
    expect(run.output).toContain('S3 answered 403');
    expect(run.output).toContain('s3:ListBucket');
    expect(run.calls.map((call) => call.slice(0, 2).join(' '))).toEqual(['s3api head-object', 's3api put-object']);
  });

  test('fails, uploading nothing, when S3 cannot be asked for the previous hash for another reason', () => {
    const run = upload(packageDir('first', 1_700_000_000_000), { ...PIPELINE, FAKE_AWS_HEAD_ERROR: '500' });
    expect(run.status).toBe(1);
    expect(run.output).toContain('InternalError');
    expect(run.calls.map((call) => call.slice(0, 2).join(' '))).toEqual(['s3api head-object']);
  });

  test('fails on a directory that is not a serverless package', () => {
    const dir = join(root, 'empty');
    mkdirSync(dir);
    const run = upload(dir, PIPELINE);
    expect(run.status).toBe(2);
    expect(run.output).toContain('serverless-state.json is missing');
    expect(run.calls).toEqual([]);
  });
});

describe('buildspec.yml', () => {
  const buildspec = readFileSync(join(REPO_ROOT, 'buildspec.yml'), 'utf8');

  test('installs Node.js 22, tests with JUnit reports, uploads the package and deploys for ENVIRONMENT', () => {
    expect(buildspec).toMatch(/runtime-versions:\s*\n\s*nodejs: 22/);
    expect(buildspec).toMatch(/PACKAGE_KMS_KEY_ID: alias\/aws\/s3/);
    expect(buildspec).toContain('npx turbo run lint test package');
    expect(buildspec).toContain('node deploy/scripts/upload-package.js .serverless');
    expect(buildspec).toMatch(/npx sls deploy --stage "\$ENVIRONMENT" --package \.serverless/);
    expect(buildspec).toMatch(/reports:\s*\n(?:.*\n)*?\s*file-format: JUNITXML/);
    expect(buildspec).toContain('packages/*/reports/junit.xml');
  });

  test('installs dependencies without their install scripts (the job holds deploy credentials), pushes to REPO_NAME', () => {
    const install = buildspec.slice(buildspec.indexOf('install:'), buildspec.indexOf('build:'));
    expect(install).toMatch(/npm ci --ignore-scripts/);
    expect(install.indexOf('npm ci --ignore-scripts')).toBeLessThan(install.indexOf('bash scripts/setup.sh'));
    expect(buildspec).toContain('REPO_NAME: auto-account-provisioning/partition-ecr-replicate');
    expect(buildspec).toContain('node deploy/scripts/push-package-image.js .serverless');
    expect(buildspec.indexOf('push-package-image.js')).toBeLessThan(buildspec.indexOf('npx sls deploy'));
  });
});
