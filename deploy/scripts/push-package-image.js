#!/usr/bin/env node
'use strict';
/**
 * Pushes the packaged stack to the ECR repository REPO_NAME, as the older
 * system's pipeline pushed its image there: one OCI artifact (the package zip
 * as its layer, artifact type application/vnd.ecr-partition-replicate.package.v1),
 * tagged with ENVIRONMENT and the short commit. No Docker: the project's own
 * OCI client (packages/oci) with an ECR token (packages/ecr), built by
 * scripts/setup.sh.
 *
 *   node deploy/scripts/push-package-image.js [PACKAGE_DIR]     (default .serverless)
 *
 * Environment:
 *   REPO_NAME       the repository; unset or empty: nothing is pushed
 *   ENVIRONMENT     the stage, the first tag; unset: nothing is pushed
 *   AWS_REGION      the registry's region (CodeBuild sets it; else AWS_DEFAULT_REGION)
 *   CODEBUILD_BUILD_ARN, else AWS_ACCOUNT_ID: the registry's account
 *   CODEBUILD_RESOLVED_SOURCE_VERSION: the commit, whose first 7 characters are the second tag
 *   AWS_USE_FIPS_ENDPOINT=true: the registry's FIPS host (dkr.ecr-fips)
 *   REPO_REGISTRY   another registry (host[:port], tests): no ECR token
 *
 * Exit status: 0 pushed or nothing to do, 1 failure, 2 bad configuration.
 */
const { Buffer } = require('node:buffer');
const { createHash } = require('node:crypto');
const { Readable } = require('node:stream');
const fs = require('node:fs');
const path = require('node:path');
const { createZip } = require('../lib/zip');
const { listFiles } = require('./upload-package');

const ARTIFACT_TYPE = 'application/vnd.ecr-partition-replicate.package.v1';
const LAYER_TYPE = 'application/zip';
const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.empty.v1+json', bytes: Buffer.from('{}') };
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const REPOSITORY = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

class ConfigError extends Error {}

const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** The push settings, or `{ skip }`. */
function readSettings(env) {
  const repository = (env.REPO_NAME || '').trim();
  const environment = (env.ENVIRONMENT || '').trim();
  if (repository === '') return { skip: 'REPO_NAME is not set' };
  if (environment === '') return { skip: 'ENVIRONMENT is not set' };
  if (!REPOSITORY.test(repository)) throw new ConfigError(`REPO_NAME "${repository}" is not an ECR repository name`);
  const tags = [environment];
  const commit = (env.CODEBUILD_RESOLVED_SOURCE_VERSION || '').trim();
  if (/^[0-9a-f]{7,40}$/.test(commit)) tags.push(commit.slice(0, 7));
  for (const tag of tags) if (!TAG.test(tag)) throw new ConfigError(`"${tag}" is not a valid tag (ENVIRONMENT)`);
  const override = (env.REPO_REGISTRY || '').trim();
  if (override !== '') return { repository, tags, override };
  const region = (env.AWS_REGION || env.AWS_DEFAULT_REGION || '').trim();
  if (region === '') throw new ConfigError('AWS_REGION (or AWS_DEFAULT_REGION) must name the registry region');
  const account =
    /^arn:[a-z-]+:codebuild:[a-z0-9-]+:(\d{12}):/.exec(env.CODEBUILD_BUILD_ARN || '')?.[1] ||
    (env.AWS_ACCOUNT_ID || '').trim();
  if (!/^\d{12}$/.test(account))
    throw new ConfigError('the registry account is unknown: CODEBUILD_BUILD_ARN or AWS_ACCOUNT_ID must give it');
  const fips = (env.AWS_USE_FIPS_ENDPOINT || '').trim().toLowerCase() === 'true';
  return { repository, tags, registry: { accountId: account, region, fips } };
}

/** The registry client: ECR with a token of the caller's credentials, or the override. */
function registryClient(settings) {
  const { RegistryClient, usesPlainHttp } = require('@ecr-replicate/oci');
  if (settings.override !== undefined) {
    const match = /^(?:(https?):\/\/)?([^/]+)\/?$/.exec(settings.override);
    if (!match) throw new ConfigError(`REPO_REGISTRY "${settings.override}" is not host[:port]`);
    const plainHttp = match[1] === 'http' || (match[1] === undefined && usesPlainHttp(match[2]));
    return new RegistryClient({ host: match[2], plainHttp });
  }
  const { ecrHost, partitionOfRegion } = require('@ecr-replicate/common/core');
  const { ecrCredentials } = require('@ecr-replicate/ecr');
  const registry = { ...settings.registry, partition: partitionOfRegion(settings.registry.region) };
  return new RegistryClient({
    host: ecrHost(registry),
    basicUpFront: true,
    credentials: () => ecrCredentials(registry),
  });
}

async function pushBlob(client, repository, bytes) {
  const digest = sha256(bytes);
  if (await client.blobExists(repository, digest)) return digest;
  const start = await client.startUpload(repository, digest);
  if (start.mounted) return digest;
  const next = await client.patchUpload(repository, start.location, Readable.from([bytes]), bytes.length);
  await client.finishUpload(repository, next, digest);
  return digest;
}

/** Pushes the package directory; resolves to `{ digest, tags, where }`. */
async function push(dir, settings) {
  const files = listFiles(dir).map((file) => ({ name: file, data: fs.readFileSync(path.join(dir, file)) }));
  const layer = createZip(files);
  const client = registryClient(settings);
  try {
    const configDigest = await pushBlob(client, settings.repository, EMPTY_CONFIG.bytes);
    const layerDigest = await pushBlob(client, settings.repository, layer);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST_TYPE,
        artifactType: ARTIFACT_TYPE,
        config: { mediaType: EMPTY_CONFIG.mediaType, digest: configDigest, size: EMPTY_CONFIG.bytes.length },
        layers: [
          {
            mediaType: LAYER_TYPE,
            digest: layerDigest,
            size: layer.length,
            annotations: { 'org.opencontainers.image.title': `${path.basename(path.resolve(dir))}.zip` },
          },
        ],
        annotations: { 'org.opencontainers.image.revision': settings.tags[1] || '' },
      }),
    );
    const digest = sha256(manifest);
    for (const tag of settings.tags)
      await client.putManifest(settings.repository, tag, { bytes: manifest, mediaType: MANIFEST_TYPE, digest });
    return { digest, tags: settings.tags, where: `${client.host}/${settings.repository}` };
  } finally {
    await client.close();
  }
}

async function main(argv, env) {
  const dir = path.resolve(argv[0] || '.serverless');
  const settings = readSettings(env);
  if (settings.skip) {
    console.log(`push-package-image: not pushing: ${settings.skip}`);
    return 0;
  }
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new ConfigError(`package directory ${dir} does not exist`);
  const pushed = await push(dir, settings);
  console.log(`push-package-image: pushed ${pushed.where}@${pushed.digest} as ${pushed.tags.join(', ')}`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      console.error(`push-package-image: ${error.message}`);
      process.exitCode = error instanceof ConfigError ? 2 : 1;
    },
  );
}

module.exports = { readSettings, push, main, ARTIFACT_TYPE, ConfigError };
