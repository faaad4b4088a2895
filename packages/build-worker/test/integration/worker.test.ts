/**
 * The worker against real registries (source open, destination behind Basic
 * auth as ECR's token login is) and the job table on dynalite. ECR tokens and
 * the destination secret come from aws-sdk-client-mock: the only AWS calls
 * that have no local server.
 */
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import {
  ErrorCode,
  jobKeyOf,
  parseDestinationSecretString,
  parseReplicationConfig,
  parseWorkerSettings,
  parseWorkerGuardSettings,
  type ReplicationConfigInput,
  type ReplicationRequest,
  type WorkerGuardSettings,
} from '@ecr-replicate/common';
import { JobStore, createJobTable } from '@ecr-replicate/common/state';
import { createLogger, createMetrics } from '@ecr-replicate/common/observability';
import type { RegistryClient } from '@ecr-replicate/oci';
import { runWorkerJobs } from '../../src/worker';
import { runJobs } from '../../src/runner';
import {
  dockerImage,
  manifestDigestOf,
  ociIndex,
  pushImage,
  registryRequest,
  startFaultProxy,
  startRegistry,
  type LocalRegistry,
} from '@ecr-replicate/testing';
import { startLocalDynamoDb, type LocalDynamoDb, captureOutput } from '@ecr-replicate/testing';

const TOKEN_PASSWORD = 'ecr-token-password-for-tests';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz';
const ACCESS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const SECRET_ID = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-replicate/destination-AbCdEf';
const SECRET = JSON.stringify({
  user: 'ecr-replicate',
  accesskey: ACCESS_KEY,
  secretaccesskey: SECRET_KEY,
  partition: 'aws-us-gov',
  accountid: '210987654321',
  region: 'us-gov-west-1',
});
const TABLE = 'jobs';

const ecr = mockClient(ECRClient);
const secrets = mockClient(SecretsManagerClient);

let source: LocalRegistry;
let destination: LocalRegistry;
let dynamo: LocalDynamoDb;
let store: JobStore;
let sequence = 0;

function request(
  repository: string,
  tag: string | undefined,
  digest: string,
  action: 'PUSH' | 'DELETE' = 'PUSH',
  time = new Date(Date.UTC(2026, 10, 1, 0, 0, sequence)).toISOString(),
): ReplicationRequest {
  sequence += 1;
  return {
    version: 1,
    eventId: `event-${sequence}`,
    eventTime: time,
    action,
    source: { accountId: '123456789012', region: 'us-east-1', repository },
    destination: { repository: `mirror/${repository}` },
    ...(tag === undefined ? {} : { tag }),
    digest,
  };
}

/** What the dispatcher does: record the requests and lease their jobs to `owner`. */
async function dispatch(owner: string, ...requests: ReplicationRequest[]): Promise<string[]> {
  const keys = new Set<string>();
  for (const r of requests) {
    await store.recordRequest(r, Date.now());
    keys.add(jobKeyOf(r));
  }
  for (const key of keys) expect(await store.acquireLease(key, owner, 60_000, Date.now())).toBe('acquired');
  return [...keys];
}

/** The mapping the requests above follow: team/* → mirror/team/* (the worker re-derives it from its configuration). */
const MIRROR = { prefixes: [{ from: 'team/', to: 'mirror/team/' }] };

async function runWorker(
  owner: string,
  keys: string[],
  config: ReplicationConfigInput = {},
  destinationHost = destination.host,
  guard?: WorkerGuardSettings,
) {
  const settings = parseWorkerSettings({
    JOB_TABLE: TABLE,
    JOB_KEYS: JSON.stringify(keys),
    LEASE_OWNER: owner,
    DEST_SECRET_ID: SECRET_ID,
    REPLICATION_CONFIG: JSON.stringify({ mapping: MIRROR, ...config }),
    DEST_REGISTRY: destinationHost,
    SOURCE_REGISTRY: source.host,
  });
  const logger = createLogger('worker');
  const metrics = createMetrics('worker', logger);
  const clients: RegistryClient[] = [];
  try {
    return await runWorkerJobs({
      settings,
      secret: parseDestinationSecretString(SECRET),
      store,
      logger,
      metrics,
      clients,
      ...(guard ? { guard } : {}),
    });
  } finally {
    metrics.publishStoredMetrics();
    await Promise.all(clients.map((c) => c.close()));
  }
}

beforeAll(async () => {
  [source, destination, dynamo] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: { username: 'AWS', password: TOKEN_PASSWORD } }),
    startLocalDynamoDb(),
  ]);
  await createJobTable(dynamo.client, TABLE);
  store = new JobStore(dynamo.documentClient, TABLE);
}, 60_000);

beforeEach(() => {
  ecr.reset();
  secrets.reset();
  ecr
    .on(GetAuthorizationTokenCommand)
    .resolves({ authorizationData: [{ authorizationToken: Buffer.from(`AWS:${TOKEN_PASSWORD}`).toString('base64') }] });
  secrets.on(GetSecretValueCommand).resolves({ SecretString: SECRET });
});

afterAll(async () => {
  await Promise.all([source?.stop(), destination?.stop(), dynamo?.stop()]);
});

async function waitUntil(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('worker', () => {
  it('replicates a pushed tag with an equal digest and records the outcome', async () => {
    const image = ociIndex({
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
      seed: 'w-push',
    });
    await pushImage(source, 'team/app', image, 'v1');
    const keys = await dispatch('build-1', request('team/app', 'v1', image.root.digest));
    const { result: summary, output } = await captureOutput(() => runWorker('build-1', keys));
    expect(summary).toMatchObject({ completed: keys, failed: [], retry: [], lost: [], handedOver: [] });
    expect(await manifestDigestOf(destination, 'mirror/team/app', 'v1')).toBe(image.root.digest);
    const record = await store.get(keys[0]!);
    expect(record).toMatchObject({ status: 'COMPLETE', replicatedDigest: image.root.digest, dirty: false });
    expect(record?.leaseOwner).toBeUndefined();
    expect(record?.bytesCopied).toBeGreaterThan(0);
    // The destination token was asked for with the secret's keys, in the destination region.
    const tokenCalls = ecr.commandCalls(GetAuthorizationTokenCommand);
    const regions = await Promise.all(tokenCalls.map((c) => (c.thisValue as ECRClient).config.region()));
    expect(regions).toEqual(expect.arrayContaining(['us-gov-west-1', 'us-east-1']));
    // No secret value in any log line.
    expect(output).not.toContain(SECRET_KEY);
    expect(output).not.toContain(TOKEN_PASSWORD);
    expect(output).not.toContain(ACCESS_KEY);
    expect(output).toContain('ReplicationsSucceeded');
  });

  it('ends at the newest digest when two pushes of one tag arrive in reverse order', async () => {
    const first = dockerImage({ seed: 'w-order-1' });
    const second = dockerImage({ seed: 'w-order-2' });
    await pushImage(source, 'team/order', first, 'v1');
    const older = request('team/order', 'v1', first.root.digest);
    await pushImage(source, 'team/order', second, 'v1');
    const newer = request('team/order', 'v1', second.root.digest);
    const keys = await dispatch('build-2', newer, older);
    expect((await store.get(keys[0]!))?.desiredDigest).toBe(second.root.digest);
    await captureOutput(() => runWorker('build-2', keys));
    expect(await manifestDigestOf(destination, 'mirror/team/order', 'v1')).toBe(second.root.digest);
  });

  it('follows the source even when the newest event is stale: the tag moved again after it', async () => {
    const first = dockerImage({ seed: 'w-stale-1' });
    const second = dockerImage({ seed: 'w-stale-2' });
    await pushImage(source, 'team/stale', first, 'v1');
    const keys = await dispatch('build-3', request('team/stale', 'v1', first.root.digest));
    await pushImage(source, 'team/stale', second, 'v1'); // its event is still on its way
    await captureOutput(() => runWorker('build-3', keys));
    expect(await manifestDigestOf(destination, 'mirror/team/stale', 'v1')).toBe(second.root.digest);
    expect((await store.get(keys[0]!))?.replicatedDigest).toBe(second.root.digest);
  });

  it('removes a deleted tag only when delete replication is on', async () => {
    const image = dockerImage({ seed: 'w-delete' });
    await pushImage(source, 'team/gone', image, 'v1');
    await captureOutput(async () =>
      runWorker('build-4', await dispatch('build-4', request('team/gone', 'v1', image.root.digest))),
    );
    expect(await manifestDigestOf(destination, 'mirror/team/gone', 'v1')).toBe(image.root.digest);
    const deleted = await registryRequest(source, 'DELETE', `/v2/team/gone/manifests/${image.root.digest}`);
    expect(deleted.status).toBe(202);

    const off = await dispatch('build-5', request('team/gone', 'v1', image.root.digest, 'DELETE'));
    const { result: keptSummary } = await captureOutput(() => runWorker('build-5', off, { deletes: false }));
    expect(keptSummary?.completed).toEqual(off);
    expect(await manifestDigestOf(destination, 'mirror/team/gone', 'v1')).toBe(image.root.digest);

    const on = await dispatch('build-6', request('team/gone', 'v1', image.root.digest, 'DELETE'));
    await captureOutput(() => runWorker('build-6', on, { deletes: true }));
    await expect(manifestDigestOf(destination, 'mirror/team/gone', 'v1')).rejects.toThrow(/not found/);
    expect(await store.get(on[0]!)).toMatchObject({ status: 'COMPLETE' });
    expect((await store.get(on[0]!))?.replicatedDigest).toBeUndefined();
  });

  it('leaves alone a tagless delete of a digest the source still holds (an index child)', async () => {
    const image = ociIndex({ platforms: [{ os: 'linux', architecture: 'amd64' }], seed: 'w-child' });
    await pushImage(source, 'team/child', image, 'v1');
    await captureOutput(async () =>
      runWorker('build-7', await dispatch('build-7', request('team/child', 'v1', image.root.digest))),
    );
    const child = image.manifests[0]!.digest;
    const keys = await dispatch('build-8', request('team/child', undefined, child, 'DELETE'));
    const { result: summary } = await captureOutput(() => runWorker('build-8', keys, { deletes: true }));
    // Reconciled (not failed, not left for a retry), and the child is still there.
    expect(summary).toMatchObject({ completed: keys, failed: [], retry: [], lost: [], handedOver: [] });
    expect(await store.get(keys[0]!)).toMatchObject({ status: 'COMPLETE', bytesCopied: 0 });
    expect(await manifestDigestOf(destination, 'mirror/team/child', child)).toBe(child);
  });

  it('stops before the tag write when another run took the lease over during the copy (fencing)', async () => {
    const image = dockerImage({ seed: 'w-fenced', layerSizes: [256 * 1024, 256 * 1024, 256 * 1024] });
    await pushImage(source, 'team/fenced', image, 'v1');
    const keys = await dispatch('build-f1', request('team/fenced', 'v1', image.root.digest));
    const proxy = await startFaultProxy(destination, { latencyMs: 150 });
    try {
      const run = captureOutput(() => runWorker('build-f1', keys, {}, proxy.host));
      // While the blobs upload, the lease expires and another dispatch takes it (epoch 2).
      await waitUntil(() => proxy.requests.some((r) => r.method === 'PATCH'));
      expect(await store.acquireLease(keys[0]!, 'build-f2', 60_000, Date.now() + 61_000)).toBe('acquired');
      const { result: summary } = await run;
      expect(summary).toMatchObject({ completed: [], failed: [], retry: [], lost: keys, handedOver: [] });
      // No tag write reached the destination, and the record is the new owner's.
      expect(proxy.requests.filter((r) => r.method === 'PUT' && r.url.endsWith('/manifests/v1'))).toEqual([]);
      await expect(manifestDigestOf(destination, 'mirror/team/fenced', 'v1')).rejects.toThrow(/not found/);
      expect(await store.get(keys[0]!)).toMatchObject({ leaseOwner: 'build-f2', leaseEpoch: 2 });
    } finally {
      await proxy.stop();
    }
  }, 60_000);

  it('treats an immutable tag at another digest as a failed job that is not retried', async () => {
    const first = dockerImage({ seed: 'w-immutable-1' });
    const second = dockerImage({ seed: 'w-immutable-2' });
    await pushImage(source, 'team/frozen', first, 'v1');
    await captureOutput(async () =>
      runWorker('build-9', await dispatch('build-9', request('team/frozen', 'v1', first.root.digest))),
    );
    await pushImage(source, 'team/frozen', second, 'v1');
    const proxy = await startFaultProxy(destination);
    proxy.addFault({
      match: { method: 'PUT', path: /\/manifests\/v1$/ },
      action: {
        status: 400,
        body: JSON.stringify({
          errors: [
            {
              code: 'TAG_INVALID',
              message:
                "The image tag 'v1' already exists in the 'mirror/team/frozen' repository and cannot be overwritten because the repository is immutable.",
            },
          ],
        }),
      },
    });
    try {
      const keys = await dispatch('build-10', request('team/frozen', 'v1', second.root.digest));
      const { result: summary } = await captureOutput(() => runWorker('build-10', keys, {}, proxy.host));
      expect(summary).toMatchObject({ completed: [], failed: keys, retry: [] });
      const record = await store.get(keys[0]!);
      expect(record).toMatchObject({ status: 'FAILED', lastError: { code: ErrorCode.ImmutableTagConflict } });
      expect(record?.leaseOwner).toBeUndefined();
      expect(await manifestDigestOf(destination, 'mirror/team/frozen', 'v1')).toBe(first.root.digest);
    } finally {
      await proxy.stop();
    }
  });

  it('leaves a job leased for a retry when the source is unreachable, and finishes the others', async () => {
    const image = dockerImage({ seed: 'w-partial' });
    await pushImage(source, 'team/fine', image, 'v1');
    const keys = await dispatch(
      'build-11',
      request('team/fine', 'v1', image.root.digest),
      request('team/missing', 'v1', image.root.digest),
    );
    const proxy = await startFaultProxy(source);
    proxy.addFault({ match: { path: /team\/missing/ }, action: { status: 503 } });
    const settingsSource = source;
    try {
      source = { ...source, host: proxy.host } as LocalRegistry;
      const { result: summary } = await captureOutput(() => runWorker('build-11', keys));
      expect(summary?.completed).toEqual(['mirror/team/fine:v1']);
      expect(summary?.retry).toEqual(['mirror/team/missing:v1']);
      expect((await store.get('mirror/team/missing:v1'))?.leaseOwner).toBe('build-11');
    } finally {
      source = settingsSource;
      await proxy.stop();
    }
  }, 60_000);
});

describe('requests the configuration does not map', () => {
  it('refuses a repository outside the configuration, another source account, or a destination the mapping does not give; each recorded FAILED and not retried', async () => {
    const image = dockerImage({ seed: 'w-refused' });
    await pushImage(source, 'team/app', image, 'r1');
    await pushImage(source, 'other/app', image, 'r1');
    const outside = request('other/app', 'r1', image.root.digest); // destination mirror/other/app
    const foreign = { ...request('team/app', 'r1', image.root.digest), eventId: 'foreign-account' };
    const foreignRequest: ReplicationRequest = {
      ...foreign,
      source: { ...foreign.source, accountId: '999999999999' },
      destination: { repository: 'mirror/team/foreign' },
    };
    const elsewhere: ReplicationRequest = {
      ...request('team/app', 'r2', image.root.digest),
      destination: { repository: 'prod/team/app' },
    };
    const fine = request('team/app', 'r1', image.root.digest);
    const keys = await dispatch('build-refuse', outside, foreignRequest, elsewhere, fine);
    const guard = parseWorkerGuardSettings({ SOURCE_ACCOUNT_ID: '123456789012', SOURCE_REGION: 'us-east-1' });
    const { result: summary, output } = await captureOutput(() =>
      runWorker('build-refuse', keys, { repositories: { include: ['prefix:team/'] } }, destination.host, guard),
    );
    expect(summary?.completed).toEqual(['mirror/team/app:r1']);
    expect([...(summary?.failed ?? [])].sort()).toEqual(
      ['mirror/other/app:r1', 'mirror/team/foreign:r1', 'prod/team/app:r2'].sort(),
    );
    expect(summary?.retry).toEqual([]);
    const reasons: Record<string, RegExp> = {
      'mirror/other/app:r1': /request refused: the repository other\/app is outside the replication configuration/,
      'mirror/team/foreign:r1':
        /request refused: the source account 999999999999 is not this deployment's \(123456789012\)/,
      'prod/team/app:r2':
        /request refused: the destination prod\/team\/app is not where the configuration maps team\/app \(mirror\/team\/app\)/,
    };
    for (const [key, reason] of Object.entries(reasons)) {
      const record = await store.get(key);
      expect(record?.status).toBe('FAILED');
      expect(record?.lastError?.code).toBe(ErrorCode.InvalidInput);
      expect(record?.lastError?.message).toMatch(reason);
      expect(record?.leaseOwner).toBeUndefined();
    }
    // Nothing was written for them: the refused destinations do not exist.
    for (const repository of ['mirror/other/app', 'prod/team/app', 'mirror/team/foreign'])
      expect(await manifestDigestOf(destination, repository, 'r1').catch(() => undefined)).toBeUndefined();
    expect(output).toContain('RequestsRefused');
  }, 60_000);
});

describe('job runner', () => {
  const logger = createLogger('worker');
  const metrics = createMetrics('worker', logger);

  it('reconciles again when a newer request marked the job dirty meanwhile', async () => {
    const keys = await dispatch('runner-1', request('team/dirty', 'v1', `sha256:${'1'.repeat(64)}`));
    let passes = 0;
    const { result: summary } = await captureOutput(() =>
      runJobs({
        store,
        keys,
        owner: 'runner-1',
        leaseMs: 60_000,
        buildId: 'project:runner-1',
        logger,
        metrics,
        reconcile: async () => {
          passes += 1;
          if (passes === 1) {
            await store.recordRequest(request('team/dirty', 'v1', `sha256:${'2'.repeat(64)}`), Date.now());
            expect(await store.acquireLease(keys[0]!, 'runner-other', 60_000, Date.now())).toBe('held');
          }
          return { action: 'up-to-date', digest: `sha256:${'2'.repeat(64)}`, bytesCopied: 0 } as never;
        },
      }),
    );
    expect(passes).toBe(2);
    expect(summary?.completed).toEqual(keys);
    expect(await store.get(keys[0]!)).toMatchObject({ status: 'COMPLETE', dirty: false });
  });

  it('skips a job whose lease another worker took over', async () => {
    const keys = await dispatch('runner-2', request('team/taken', 'v1', `sha256:${'3'.repeat(64)}`));
    // The lease expires and another worker takes the job.
    expect(await store.acquireLease(keys[0]!, 'runner-3', 60_000, Date.now() + 120_000)).toBe('acquired');
    let called = false;
    const { result: summary } = await captureOutput(() =>
      runJobs({
        store,
        keys,
        owner: 'runner-2',
        leaseMs: 60_000,
        logger,
        metrics,
        reconcile: async () => ((called = true), { action: 'up-to-date', digest: 'x', bytesCopied: 0 } as never),
      }),
    );
    expect(called).toBe(false);
    expect(summary?.lost).toEqual(keys);
    expect((await store.get(keys[0]!))?.leaseOwner).toBe('runner-3');
  });

  it('keeps the leases of the jobs waiting for their turn (one at a time, together longer than a lease)', async () => {
    const keys = await dispatch(
      'runner-wait',
      ...['w1', 'w2', 'w3'].map((tag) => request('team/waiting', tag, `sha256:${'5'.repeat(64)}`)),
    );
    for (const key of keys) await store.renewLease(key, 'runner-wait', 3_000, Date.now());
    // Another run asks for the last job once its lease would have run out, had nobody renewed it.
    const rival = new Promise((resolve) => setTimeout(resolve, 4_000)).then(() =>
      store.acquireLease(keys[2]!, 'rival-dispatch', 60_000, Date.now()),
    );
    const { result: summary } = await captureOutput(() =>
      runJobs({
        store,
        keys,
        owner: 'runner-wait',
        leaseMs: 3_000,
        buildId: 'project:wait',
        concurrency: 1,
        logger,
        metrics,
        reconcile: async () => {
          await new Promise((resolve) => setTimeout(resolve, 2_500));
          return { action: 'up-to-date', digest: `sha256:${'5'.repeat(64)}`, bytesCopied: 0 } as never;
        },
      }),
    );
    expect(await rival).toBe('held');
    expect(summary).toMatchObject({ completed: keys, failed: [], retry: [], lost: [], handedOver: [] });
  });

  it('a worker whose heart-beats fail stops before its next write, and says so', async () => {
    const keys = await dispatch('runner-hb', request('team/heartbeat', 'v1', `sha256:${'4'.repeat(64)}`));
    const renew = store.renewLease.bind(store);
    // The first renewal (taking the hold) works; every heart-beat after it fails (DynamoDB throttled).
    const spy = jest.spyOn(store, 'renewLease').mockImplementation(async (...args) => {
      if (args[4]?.epoch !== undefined) throw new Error('ThrottlingException: Rate exceeded');
      return renew(...args);
    });
    let fenceError: unknown;
    try {
      const { result: summary } = await captureOutput(() =>
        runJobs({
          store,
          keys,
          owner: 'runner-hb',
          leaseMs: 1_200,
          buildId: 'project:hb',
          logger,
          metrics,
          reconcile: async (_job, lease) => {
            // A copy that outlasts the lease, then the tag write's fence.
            await new Promise((resolve) => setTimeout(resolve, 1_600));
            try {
              await lease.fence();
            } catch (error) {
              fenceError = error;
              throw error;
            }
            return { action: 'copied', digest: `sha256:${'4'.repeat(64)}`, bytesCopied: 1 } as never;
          },
        }),
      );
      expect(summary?.lost).toEqual(keys);
    } finally {
      spy.mockRestore();
    }
    expect(fenceError).toMatchObject({
      code: ErrorCode.LeaseLost,
      message: expect.stringContaining('could not be renewed'),
    });
    // Nothing recorded by the stale worker: the job is still leased (the sweeper re-queues it once expired).
    expect(await store.get(keys[0]!)).toMatchObject({ status: 'IN_PROGRESS', leaseOwner: 'runner-hb' });
  });

  it('rejects a configuration the worker cannot use, naming the variable', () => {
    expect(() => parseReplicationConfig({ deletes: 'sometimes' })).toThrow(/deletes/);
    expect(() =>
      parseWorkerSettings({ JOB_TABLE: TABLE, JOB_KEYS: '[]', LEASE_OWNER: 'x', DEST_SECRET_ID: SECRET_ID }),
    ).toThrow(/JOB_KEYS: must be a JSON array of 1 to 100/);
  });
});
