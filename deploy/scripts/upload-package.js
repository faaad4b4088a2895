#!/usr/bin/env node
'use strict';
/**
 * Uploads the packaged stack (the `sls package` output directory) to S3 as
 * one zip, only when its content changed since the last upload:
 *
 *   node deploy/scripts/upload-package.js [PACKAGE_DIR]     (default .serverless)
 *
 * Environment (the pipeline variables the earlier system documented):
 *   ENVIRONMENT         the stage (dev, prod...); unset: nothing is uploaded
 *   PACKAGE_BUCKET      the bucket; unset: nothing is uploaded
 *   PACKAGE_PREFIX      optional key prefix; must not begin with "/" and must end with "/"
 *   PACKAGE_KMS_KEY_ID  KMS key (alias, id or ARN) for SSE-KMS; default alias/aws/s3
 *   APP_NAME            the name under the prefix; default ecr-partition-replicate
 *   AWS_REGION          the region deployed to (CodeBuild sets it; else AWS_DEFAULT_REGION)
 *
 * The object is s3://$PACKAGE_BUCKET/${PACKAGE_PREFIX}$APP_NAME/$ENVIRONMENT/$AWS_REGION/$APP_NAME.zip:
 * two regions of one stage each keep their own package.
 * with the metadata `content-sha256`: a hash of the package's files in which
 * the deployment's artifact directory name (a timestamp, new at every
 * packaging) is left out, so that packaging the same sources twice gives the
 * same hash. The upload is skipped when the object already carries it.
 *
 * S3 is reached through the AWS CLI (`aws` on PATH, the CodeBuild image's).
 * Without s3:ListBucket on the bucket, S3 answers a HeadObject of a missing
 * object with 403 rather than 404: the script then cannot tell "missing" from
 * "forbidden", says so and uploads (a PutObject that is forbidden too fails
 * plainly). deploy/policies/pipeline-role.json grants s3:ListBucket.
 * Exit status: 0 uploaded or nothing to do, 1 failure, 2 bad configuration.
 */
const { Buffer } = require('node:buffer');
const { createHash } = require('node:crypto');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createZip } = require('../lib/zip');

const DEFAULT_KMS_KEY_ID = 'alias/aws/s3';
const DEFAULT_APP_NAME = 'ecr-partition-replicate';
const HASH_METADATA = 'content-sha256';
const STATE_FILE = 'serverless-state.json';
const DIRECTORY_PLACEHOLDER = '<artifact-directory>';

class ConfigError extends Error {}

/** Validates the environment; `{ skip: reason }` or the upload settings. */
function readSettings(env) {
  const environment = (env.ENVIRONMENT || '').trim();
  const bucket = (env.PACKAGE_BUCKET || '').trim();
  if (environment === '') return { skip: 'ENVIRONMENT is not set' };
  if (bucket === '') return { skip: 'PACKAGE_BUCKET is not set' };
  if (!/^[a-zA-Z0-9_-]+$/.test(environment))
    throw new ConfigError('ENVIRONMENT must be a stage name (letters, digits, - and _)');
  const prefix = env.PACKAGE_PREFIX || '';
  if (prefix !== '') {
    if (prefix.startsWith('/')) throw new ConfigError('PACKAGE_PREFIX must not begin with "/"');
    if (!prefix.endsWith('/')) throw new ConfigError('PACKAGE_PREFIX must end with "/"');
  }
  const appName = (env.APP_NAME || '').trim() || DEFAULT_APP_NAME;
  if (!/^[A-Za-z0-9._-]+$/.test(appName)) throw new ConfigError('APP_NAME must be letters, digits, ".", "-" and "_"');
  const kmsKeyId = (env.PACKAGE_KMS_KEY_ID || '').trim() || DEFAULT_KMS_KEY_ID;
  const region = (env.AWS_REGION || env.AWS_DEFAULT_REGION || '').trim();
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region))
    throw new ConfigError('AWS_REGION (or AWS_DEFAULT_REGION) must name the region deployed to: the key carries it');
  return { bucket, key: `${prefix}${appName}/${environment}/${region}/${appName}.zip`, kmsKeyId };
}

/** The files of `dir`, recursively, as sorted relative paths with `/` separators. */
function listFiles(dir, base = '') {
  const files = [];
  for (const entry of fs.readdirSync(path.join(dir, base), { withFileTypes: true })) {
    const relative = base === '' ? entry.name : `${base}/${entry.name}`;
    if (entry.isDirectory()) files.push(...listFiles(dir, relative));
    else if (entry.isFile()) files.push(relative);
  }
  return files.sort();
}

/** The deployment's artifact directory name, from the package's state file. */
function artifactDirectoryOf(dir) {
  const file = path.join(dir, STATE_FILE);
  if (!fs.existsSync(file)) throw new ConfigError(`${dir} is not a serverless package: ${STATE_FILE} is missing`);
  const directory = JSON.parse(fs.readFileSync(file, 'utf8')).package?.artifactDirectoryName;
  if (typeof directory !== 'string' || directory === '')
    throw new ConfigError(`${STATE_FILE} names no artifact directory`);
  return directory;
}

/** The content hash of a package directory (see the header). */
function packageHash(dir) {
  const directory = artifactDirectoryOf(dir);
  const hash = createHash('sha256');
  for (const file of listFiles(dir)) {
    let data = fs.readFileSync(path.join(dir, file));
    if (file.endsWith('.json'))
      data = Buffer.from(data.toString('utf8').split(directory).join(DIRECTORY_PLACEHOLDER), 'utf8');
    hash.update(`${file}\0${data.length}\0`);
    hash.update(data);
  }
  return hash.digest('hex');
}

function aws(args) {
  const result = spawnSync('aws', args, { encoding: 'utf8' });
  if (result.error) throw new Error(`cannot run the AWS CLI: ${result.error.message}`);
  return result;
}

/** The `content-sha256` of the uploaded object; null when there is no object (or it cannot be told: 403). */
function uploadedHash(bucket, key) {
  const result = aws(['s3api', 'head-object', '--bucket', bucket, '--key', key, '--output', 'json']);
  if (result.status !== 0) {
    if (/\b404\b|Not Found|NoSuchKey/i.test(result.stderr)) return null;
    if (/\b403\b|Forbidden|AccessDenied/i.test(result.stderr)) {
      console.log(
        `upload-package: S3 answered 403 for s3://${bucket}/${key}: missing, or not readable without s3:ListBucket; uploading`,
      );
      return null;
    }
    throw new Error(`aws s3api head-object failed (exit ${result.status}): ${result.stderr.trim()}`);
  }
  const metadata = JSON.parse(result.stdout || '{}').Metadata || {};
  return metadata[HASH_METADATA] || '';
}

function upload(settings, dir, hash) {
  const files = listFiles(dir).map((file) => ({ name: file, data: fs.readFileSync(path.join(dir, file)) }));
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'upload-package-'));
  const archive = path.join(temp, path.basename(settings.key));
  try {
    fs.writeFileSync(archive, createZip(files));
    const result = aws([
      's3api',
      'put-object',
      '--bucket',
      settings.bucket,
      '--key',
      settings.key,
      '--body',
      archive,
      '--content-type',
      'application/zip',
      '--server-side-encryption',
      'aws:kms',
      '--ssekms-key-id',
      settings.kmsKeyId,
      '--metadata',
      `${HASH_METADATA}=${hash}`,
      '--output',
      'json',
    ]);
    if (result.status !== 0)
      throw new Error(`aws s3api put-object failed (exit ${result.status}): ${result.stderr.trim()}`);
  } finally {
    fs.rmSync(temp, { recursive: true, force: true });
  }
}

function main(argv, env) {
  const dir = path.resolve(argv[0] || '.serverless');
  const settings = readSettings(env);
  if (settings.skip) {
    console.log(`upload-package: not uploading: ${settings.skip}`);
    return 0;
  }
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new ConfigError(`package directory ${dir} does not exist`);
  const hash = packageHash(dir);
  const target = `s3://${settings.bucket}/${settings.key}`;
  const previous = uploadedHash(settings.bucket, settings.key);
  if (previous === hash) {
    console.log(`upload-package: ${target} is up to date (${HASH_METADATA} ${hash}); not uploading`);
    return 0;
  }
  upload(settings, dir, hash);
  console.log(`upload-package: uploaded ${target} (${HASH_METADATA} ${hash}, SSE-KMS ${settings.kmsKeyId})`);
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`upload-package: ${error.message}`);
    process.exitCode = error instanceof ConfigError ? 2 : 1;
  }
}

module.exports = { readSettings, packageHash, listFiles, main, ConfigError };
