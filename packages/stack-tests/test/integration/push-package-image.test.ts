import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fetchManifest,
  manifestDigestOf,
  registryRequest,
  startRegistry,
  type LocalRegistry,
} from '@ecr-replicate/testing';
import { readZip } from '../../../../deploy/lib/zip';
import { readSettings } from '../../../../deploy/scripts/push-package-image';
import { REPO_ROOT } from '../support/packaging';

/**
 * REPO_NAME as the older system used it: the pipeline pushes what it built to that ECR repository, tagged with the
 * stage and the commit. Here the package goes, as an OCI artifact, to a real registry (distribution) on 127.0.0.1.
 */

const SCRIPT = join(REPO_ROOT, 'deploy', 'scripts', 'push-package-image.js');
let registry: LocalRegistry;
let dir: string;

beforeAll(async () => {
  registry = await startRegistry();
  dir = mkdtempSync(join(tmpdir(), 'push-package-'));
  mkdirSync(join(dir, 'package'));
  writeFileSync(join(dir, 'package', 'serverless-state.json'), '{"package":{"artifactDirectoryName":"x"}}');
  writeFileSync(join(dir, 'package', 'ingest.zip'), 'not really a zip');
}, 60_000);

afterAll(async () => {
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function run(env: Record<string, string>): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [SCRIPT, join(dir, 'package')], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

test('pushes the package to REPO_NAME as an OCI artifact tagged with ENVIRONMENT and the short commit', async () => {
  const result = run({
    REPO_NAME: 'auto-account-provisioning/partition-ecr-replicate',
    ENVIRONMENT: 'dev',
    CODEBUILD_RESOLVED_SOURCE_VERSION: '0123456789abcdef0123456789abcdef01234567',
    REPO_REGISTRY: registry.host,
  });
  expect(result).toMatchObject({ status: 0 });
  const repository = 'auto-account-provisioning/partition-ecr-replicate';
  const digest = await manifestDigestOf(registry, repository, 'dev');
  expect(await manifestDigestOf(registry, repository, '0123456')).toBe(digest);
  expect(result.output).toContain(`@${digest} as dev, 0123456`);
  const manifest = JSON.parse((await fetchManifest(registry, repository, digest))!.bytes.toString('utf8'));
  expect(manifest.artifactType).toBe('application/vnd.ecr-partition-replicate.package.v1');
  const layer = await registryRequest(registry, 'GET', `/v2/${repository}/blobs/${manifest.layers[0].digest}`);
  expect(readZip(layer.body).map((entry) => entry.name)).toEqual(['ingest.zip', 'serverless-state.json']);
}, 60_000);

test('pushes nothing without REPO_NAME or ENVIRONMENT; names what is missing for ECR', () => {
  expect(run({ ENVIRONMENT: 'dev' }).output).toContain('not pushing: REPO_NAME is not set');
  expect(
    readSettings({
      REPO_NAME: 'team/app',
      ENVIRONMENT: 'prod',
      AWS_REGION: 'us-gov-west-1',
      CODEBUILD_BUILD_ARN: 'arn:aws-us-gov:codebuild:us-gov-west-1:123456789012:build/p:1',
      AWS_USE_FIPS_ENDPOINT: 'true',
    }),
  ).toEqual({
    repository: 'team/app',
    tags: ['prod'],
    registry: { accountId: '123456789012', region: 'us-gov-west-1', fips: true },
  });
  expect(() => readSettings({ REPO_NAME: 'Team/App', ENVIRONMENT: 'dev' })).toThrow(/not an ECR repository name/);
  expect(() => readSettings({ REPO_NAME: 'team/app', ENVIRONMENT: 'dev', AWS_REGION: 'us-east-1' })).toThrow(
    /registry account is unknown/,
  );
});
