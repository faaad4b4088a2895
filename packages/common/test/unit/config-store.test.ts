import { createHash } from 'node:crypto';
import { clearReplicationConfigCache, configSourceOf, loadReplicationConfig } from '../../src/config-store';
import { ErrorCode, ReplicationError, destinationScope, isWithinDestinationScope, parseFipsSettings } from '../../src';
import { parseReplicationConfig } from '../../src/models/config';

const TEXT = JSON.stringify({ repositories: { include: ['prefix:apps/'] }, deletes: true });
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const STORE = {
  REPLICATION_CONFIG_BUCKET: 'deployment-bucket',
  REPLICATION_CONFIG_KEY: 'serverless/app/dev/1-2026/replication-config.json',
  REPLICATION_CONFIG_SHA256: sha256(TEXT),
};

afterEach(() => clearReplicationConfigCache());

describe('the configuration store', () => {
  test('reads the deployed object once per process, checks its hash and parses it', async () => {
    const reads: string[] = [];
    const read = async (bucket: string, key: string): Promise<Uint8Array> => {
      reads.push(`${bucket}/${key}`);
      return Buffer.from(TEXT);
    };
    const [first, second] = await Promise.all([loadReplicationConfig(read, STORE), loadReplicationConfig(read, STORE)]);
    const third = await loadReplicationConfig(read, STORE);
    expect(first.deletes).toBe(true);
    expect(first.repositories.include).toEqual([{ type: 'prefix', pattern: 'apps/' }]);
    expect(second).toBe(first);
    expect(third).toBe(first);
    expect(reads).toEqual([`${STORE.REPLICATION_CONFIG_BUCKET}/${STORE.REPLICATION_CONFIG_KEY}`]);
  });

  test('refuses an object that is not what was deployed, and does not keep a failed read', async () => {
    let body = `${TEXT} `;
    const read = async (): Promise<Uint8Array> => Buffer.from(body);
    const error = await loadReplicationConfig(read, STORE).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplicationError);
    expect((error as ReplicationError).code).toBe(ErrorCode.InvalidInput);
    expect((error as ReplicationError).message).toMatch(/changed after the deployment/);
    body = TEXT;
    expect((await loadReplicationConfig(read, STORE)).deletes).toBe(true);
  });

  test('a read that fails is an AWS_SERVICE error naming the object', async () => {
    const read = async (): Promise<Uint8Array> => {
      throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
    };
    await expect(loadReplicationConfig(read, STORE)).rejects.toMatchObject({
      code: ErrorCode.AwsService,
      message: expect.stringContaining(`s3://${STORE.REPLICATION_CONFIG_BUCKET}/${STORE.REPLICATION_CONFIG_KEY}`),
    });
  });

  test('without the store, REPLICATION_CONFIG (local runs); a partly named store is refused', async () => {
    const never = async (): Promise<Uint8Array> => {
      throw new Error('not called');
    };
    expect((await loadReplicationConfig(never, { REPLICATION_CONFIG: '{"deletes":true}' })).deletes).toBe(true);
    expect(configSourceOf({}).kind).toBe('inline');
    expect(() => configSourceOf({ REPLICATION_CONFIG_BUCKET: 'bucket-name' })).toThrow(/need.*REPLICATION_CONFIG_KEY/);
    expect(() => configSourceOf({ ...STORE, REPLICATION_CONFIG_SHA256: 'abc' })).toThrow(
      /REPLICATION_CONFIG_SHA256: must be a SHA-256/,
    );
  });
});

describe('FIPS settings', () => {
  test('each side is off unless set to true', () => {
    expect(parseFipsSettings({})).toEqual({ useFipsEndpoint: false, destUseFipsEndpoint: false });
    expect(parseFipsSettings({ AWS_USE_FIPS_ENDPOINT: 'true', DEST_USE_FIPS_ENDPOINT: 'FALSE' })).toEqual({
      useFipsEndpoint: true,
      destUseFipsEndpoint: false,
    });
    expect(() => parseFipsSettings({ AWS_USE_FIPS_ENDPOINT: 'yes' })).toThrow(
      /AWS_USE_FIPS_ENDPOINT: must be true or false/,
    );
  });
});

describe('destination scope', () => {
  test('include prefixes through the longest covering rewrite, narrower rewrites and exact renames', () => {
    const config = parseReplicationConfig({
      repositories: { include: ['prefix:team/', 'prefix:apps/'] },
      mapping: {
        repositories: { 'team/legacy': 'old/legacy', 'other/x': 'never' },
        prefixes: [
          { from: 'team/', to: 'mirror/team/' },
          { from: 'team/special/', to: 'special/' },
        ],
      },
    });
    const scope = destinationScope(config);
    expect(scope).toEqual({ names: ['old/legacy'], prefixes: ['apps/', 'mirror/team/', 'special/'] });
    expect(isWithinDestinationScope(scope, 'mirror/team/app')).toBe(true);
    expect(isWithinDestinationScope(scope, 'old/legacy')).toBe(true);
    expect(isWithinDestinationScope(scope, 'team/app')).toBe(false);
    expect(isWithinDestinationScope(scope, 'never')).toBe(false);
  });

  test('unbounded when the include filters are empty or not all prefixes', () => {
    expect(destinationScope(parseReplicationConfig({}))).toBeUndefined();
    expect(destinationScope(parseReplicationConfig({ repositories: { include: ['prefix:a/', 'wildcard:b*'] } }))).toBe(
      undefined,
    );
    expect(isWithinDestinationScope(undefined, 'anything')).toBe(true);
  });
});
