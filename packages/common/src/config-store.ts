import { createHash } from 'node:crypto';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ErrorCode, ReplicationError, ValidationError } from './errors';
import { parseReplicationConfigJson, type ReplicationConfig } from './models/config';
import { ConfigSourceSettings, type Environment } from './settings';

/**
 * The configuration store: a deployment's replication configuration is an S3
 * object of its own (`<deployment directory>/replication-config.json`, see
 * deploy/plugins/worker-artifact.js), named with its SHA-256 in the
 * component's environment. A component reads it once per cold start (per
 * process) and keeps it; the object must hash to the deployed SHA-256, so a
 * replaced object is refused rather than obeyed.
 */

/** Reads one S3 object's bytes (the caller's S3 client: this module loads no AWS SDK). */
export type ReadObject = (bucket: string, key: string) => Promise<Uint8Array>;

export type ConfigSource =
  | { kind: 'inline'; config: ReplicationConfig }
  | { kind: 'store'; bucket: string; key: string; sha256: string };

/** The largest configuration object read (the stacks refuse larger ones at packaging). */
export const MAX_CONFIG_OBJECT_BYTES = 1024 * 1024;

/** Where the configuration comes from; throws a ValidationError when the store is only partly named. */
export function configSourceOf(env: Environment = process.env): ConfigSource {
  const settings = ConfigSourceSettings.parse(env);
  const store = [settings.replicationConfigBucket, settings.replicationConfigKey, settings.replicationConfigSha256];
  if (store.every((value) => value === undefined)) return { kind: 'inline', config: settings.replicationConfig };
  if (store.some((value) => value === undefined)) {
    throw new ValidationError('configuration environment', [
      {
        path: 'REPLICATION_CONFIG_BUCKET',
        reason:
          'the configuration store needs REPLICATION_CONFIG_BUCKET, REPLICATION_CONFIG_KEY and REPLICATION_CONFIG_SHA256',
      },
    ]);
  }
  return {
    kind: 'store',
    bucket: settings.replicationConfigBucket as string,
    key: settings.replicationConfigKey as string,
    sha256: settings.replicationConfigSha256 as string,
  };
}

const cache = new Map<string, Promise<ReplicationConfig>>();

/**
 * The replication configuration of `env`: inline, or read from the store
 * once per process (concurrent callers share the read; a failed read is
 * not kept, so the next call tries again). Throws INVALID_INPUT (not
 * retryable) when the object does not hash to REPLICATION_CONFIG_SHA256 or
 * is not a valid configuration, AWS_SERVICE when it cannot be read.
 */
export async function loadReplicationConfig(
  readObject: ReadObject,
  env: Environment = process.env,
): Promise<ReplicationConfig> {
  const source = configSourceOf(env);
  if (source.kind === 'inline') return source.config;
  const cacheKey = `${source.bucket}/${source.key}#${source.sha256}`;
  let pending = cache.get(cacheKey);
  if (pending === undefined) {
    pending = readFromStore(readObject, source);
    cache.set(cacheKey, pending);
    pending.catch(() => cache.delete(cacheKey));
  }
  return pending;
}

async function readFromStore(
  readObject: ReadObject,
  source: Extract<ConfigSource, { kind: 'store' }>,
): Promise<ReplicationConfig> {
  const where = { bucket: source.bucket, key: source.key };
  let body: Uint8Array;
  try {
    body = await readObject(source.bucket, source.key);
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new ReplicationError(
      ErrorCode.AwsService,
      `cannot read the replication configuration s3://${source.bucket}/${source.key}: ${reason}`,
      { cause: error, details: where },
    );
  }
  if (body.byteLength > MAX_CONFIG_OBJECT_BYTES)
    throw new ReplicationError(
      ErrorCode.InvalidInput,
      `the replication configuration s3://${source.bucket}/${source.key} is ${body.byteLength} bytes, over ${MAX_CONFIG_OBJECT_BYTES}`,
      { retryable: false, details: where },
    );
  const actual = createHash('sha256').update(body).digest('hex');
  if (actual !== source.sha256)
    throw new ReplicationError(
      ErrorCode.InvalidInput,
      `the replication configuration s3://${source.bucket}/${source.key} has SHA-256 ${actual}, not the deployed ${source.sha256}: it was changed after the deployment`,
      { retryable: false, details: { ...where, expected: source.sha256, actual } },
    );
  return parseReplicationConfigJson(Buffer.from(body).toString('utf8'));
}

/** Forgets what was read (tests). */
export function clearReplicationConfigCache(): void {
  cache.clear();
}

/** Reads objects with an S3 client of the component's region (its own deployment bucket). */
export function s3ObjectReader(client: S3Client = new S3Client({})): ReadObject {
  return async (bucket, key) => {
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (object.Body === undefined) throw new Error('the object has no body');
    return object.Body.transformToByteArray();
  };
}
