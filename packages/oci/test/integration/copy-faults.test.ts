/**
 * The copy engine through a fault-injecting proxy: every fault either heals
 * through retries (identical digests) or ends in a clear error, and a corrupt
 * blob never lands at the destination.
 */
import { ErrorCode } from '@ecr-replicate/common';
import { RegistryClient, copyImage, type CopyEvent, type CopyResult } from '../../src';
import {
  blobExists,
  dockerImage,
  fetchBlob,
  manifestDigestOf,
  ociIndex,
  pushImage,
  sha256Digest,
  startBearerFront,
  startBlobCdn,
  startFaultProxy,
  startRegistry,
  type ActiveFault,
  type FaultProxy,
  type LocalRegistry,
  type SyntheticImage,
} from '@ecr-replicate/testing';

const USER = 'replicator';
const PASSWORD = 'test-only-password';
const FAST_RETRY = { attempts: 4, baseDelayMs: 20, maxDelayMs: 1_500 };

let source: LocalRegistry;
let destination: LocalRegistry;
let srcProxy: FaultProxy;
let dstProxy: FaultProxy;
let image: SyntheticImage;
let run = 0;
const clients: RegistryClient[] = [];

function client(host: string, credentials?: { username: string; password: string }): RegistryClient {
  const c = new RegistryClient({
    host,
    plainHttp: true,
    retry: FAST_RETRY,
    ...(credentials ? { credentials: async () => credentials } : {}),
  });
  clients.push(c);
  return c;
}

/** Copies the image into a fresh repository so every test starts cold. */
/**
 * Copies the image into a new repository; `known`: one the destination already holds another image in (so blob HEADs
 * are asked).
 */
async function copyThroughProxies(
  events: CopyEvent[] = [],
  options: { known?: boolean } = {},
): Promise<{ result: CopyResult; repository: string }> {
  run += 1;
  const repository = `faults/run${run}`;
  if (options.known)
    await pushImage(destination, repository, dockerImage({ seed: `other-${run}`, layerSizes: [1024] }), 'other');
  const result = await copyImage({
    source: { client: client(srcProxy.host), repository: 'apps/oci', reference: 'v1' },
    destination: { client: client(dstProxy.host, { username: USER, password: PASSWORD }), repository, tag: 'v1' },
    retry: FAST_RETRY,
    onEvent: (e) => events.push(e),
  });
  return { result, repository };
}

const largestLayer = (): { digest: string; size: number } => [...image.blobs].sort((a, b) => b.size - a.size)[0]!;

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
    sharedBaseSize: 512 * 1024,
    layerSize: 128 * 1024,
    seed: 'faults',
  });
  await pushImage(source, 'apps/oci', image, 'v1');
  [srcProxy, dstProxy] = await Promise.all([startFaultProxy(source), startFaultProxy(destination)]);
}, 60_000);

afterEach(() => {
  srcProxy.clearFaults();
  dstProxy.clearFaults();
  srcProxy.clearRequests();
  dstProxy.clearRequests();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([srcProxy?.stop(), dstProxy?.stop(), source?.stop(), destination?.stop()]);
});

async function expectReplicated(repository: string): Promise<void> {
  expect(await manifestDigestOf(destination, repository, 'v1')).toBe(image.root.digest);
  for (const blob of image.blobs)
    expect(sha256Digest(await fetchBlob(destination, repository, blob.digest))).toBe(blob.digest);
}

describe('faults that heal', () => {
  it.each([
    [
      '500 on blob downloads',
      () =>
        srcProxy.addFault({ match: { method: 'GET', path: /\/blobs\/sha256:/, times: 3 }, action: { status: 500 } }),
      {},
    ],
    [
      '503 on manifest reads',
      () => srcProxy.addFault({ match: { method: 'GET', path: /\/manifests\//, times: 2 }, action: { status: 503 } }),
      {},
    ],
    [
      'connection resets on blob HEADs',
      () => dstProxy.addFault({ match: { method: 'HEAD', path: /\/blobs\//, times: 3 }, action: { reset: true } }),
      { known: true },
    ],
    [
      'connection resets on upload starts',
      () => dstProxy.addFault({ match: { method: 'POST', times: 2 }, action: { reset: true } }),
      {},
    ],
    [
      '500 on upload commits',
      () =>
        dstProxy.addFault({ match: { method: 'PUT', path: /\/blobs\/uploads\//, times: 2 }, action: { status: 500 } }),
      {},
    ],
    [
      'a truncated blob body',
      () =>
        srcProxy.addFault({
          match: { method: 'GET', path: /\/blobs\/sha256:/, times: 2 },
          action: { truncateAfterBytes: 1000 },
        }),
      {},
    ],
    [
      'a corrupted blob body',
      () =>
        srcProxy.addFault({
          match: { method: 'GET', path: /\/blobs\/sha256:/, times: 2 },
          action: { corruptByteAt: 100 },
        }),
      {},
    ],
    [
      'a corrupted manifest body',
      () =>
        srcProxy.addFault({
          match: { method: 'GET', path: /\/manifests\/sha256:/, times: 1 },
          action: { corruptByteAt: 10 },
        }),
      {},
    ],
    [
      'ECR-style 201 answers to PATCH',
      () => dstProxy.addFault({ match: { method: 'PATCH' }, action: { rewriteStatus: 201 } }),
      {},
    ],
  ] as Array<[string, () => ActiveFault, { known?: boolean }]>)('%s', async (_name, inject, options) => {
    const fault = inject();
    const { repository } = await copyThroughProxies([], options);
    expect(fault.hits).toBeGreaterThan(0);
    await expectReplicated(repository);
  });

  it('waits as long as a 429 Retry-After asks', async () => {
    dstProxy.addFault({
      match: { method: 'PUT', path: /\/manifests\/v1$/, times: 1 },
      action: { status: 429, headers: { 'retry-after': '1' } },
    });
    const events: CopyEvent[] = [];
    const started = Date.now();
    const { repository } = await copyThroughProxies(events);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    await expectReplicated(repository);
  });

  it('takes a fresh token after a 401 from an expired bearer token', async () => {
    const open = await startRegistry();
    const front = await startBearerFront(open, { username: USER, password: PASSWORD });
    try {
      const dst = client(front.host, { username: USER, password: PASSWORD });
      const src = client(source.host);
      await copyImage({
        source: { client: src, repository: 'apps/oci', reference: 'v1' },
        destination: { client: dst, repository: 'bearer/one', tag: 'v1' },
        retry: FAST_RETRY,
      });
      const issued = front.tokensIssued;
      expect(issued).toBeGreaterThan(0);
      expect(front.tokenRequests.every((r) => r.service === front.service && r.granted)).toBe(true);
      front.expireAllTokens();
      await copyImage({
        source: { client: src, repository: 'apps/oci', reference: 'v1' },
        destination: { client: dst, repository: 'bearer/one', tag: 'v2' },
        retry: FAST_RETRY,
      });
      expect(front.tokensIssued).toBeGreaterThan(issued);
      expect(front.requests.some((r) => r.status === 401)).toBe(true);
      expect(await manifestDigestOf(open, 'bearer/one', 'v2')).toBe(image.root.digest);
      // Reads with the same token: one token per scope, not one per request.
      expect(front.tokensIssued).toBeLessThan(front.requests.length / 4);
    } finally {
      await front.stop();
      await open.stop();
    }
  });

  it('follows a blob download redirected to another host without the Authorization header', async () => {
    const guarded = await startRegistry({ htpasswd: { username: USER, password: PASSWORD } });
    await pushImage(guarded, 'apps/oci', image, 'v1');
    const proxy = await startFaultProxy(guarded);
    const cdn = await startBlobCdn({ url: guarded.url, username: USER, password: PASSWORD });
    proxy.addFault({ match: { method: 'GET', path: /\/blobs\/sha256:/ }, action: { redirectTo: cdn.url } });
    try {
      await copyImage({
        source: {
          client: client(proxy.host, { username: USER, password: PASSWORD }),
          repository: 'apps/oci',
          reference: 'v1',
        },
        destination: {
          client: client(destination.host, { username: USER, password: PASSWORD }),
          repository: 'redirected/app',
          tag: 'v1',
        },
        retry: FAST_RETRY,
      });
      expect(cdn.requests.length).toBe(new Set(image.blobs.map((b) => b.digest)).size);
      expect(cdn.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
      // The registry itself did get the credentials.
      expect(proxy.requests.some((r) => typeof r.headers.authorization === 'string')).toBe(true);
      expect(await manifestDigestOf(destination, 'redirected/app', 'v1')).toBe(image.root.digest);
    } finally {
      await Promise.all([cdn.stop(), proxy.stop()]);
      await guarded.stop();
    }
  });
});

describe('faults that do not heal', () => {
  it('never commits a blob that keeps arriving corrupted', async () => {
    const layer = largestLayer();
    srcProxy.addFault({
      match: { method: 'GET', path: new RegExp(`/blobs/${layer.digest}`) },
      action: { corruptByteAt: 5000 },
    });
    run += 1;
    const repository = `faults/run${run}`;
    const copy = copyImage({
      source: { client: client(srcProxy.host), repository: 'apps/oci', reference: 'v1' },
      destination: { client: client(dstProxy.host, { username: USER, password: PASSWORD }), repository, tag: 'v1' },
      retry: FAST_RETRY,
    });
    await expect(copy).rejects.toMatchObject({ code: ErrorCode.DigestMismatch });
    await expect(copy).rejects.toThrow(/failed after 4 tries: blob sha256:[0-9a-f]{64} hashes to sha256:/);
    expect(await blobExists(destination, repository, layer.digest)).toBe(false);
    // The tag never moved.
    await expect(manifestDigestOf(destination, repository, 'v1')).rejects.toThrow(/not found/);
  });

  it('gives up on a registry that keeps answering 503, saying how often it tried', async () => {
    srcProxy.addFault({ match: { method: 'GET', path: /\/manifests\// }, action: { status: 503 } });
    await expect(copyThroughProxies()).rejects.toMatchObject({
      code: ErrorCode.RegistryUnavailable,
      message: expect.stringMatching(/failed after 4 tries: .*answered 503/),
    });
  });

  it("reports the source's answer when both ends fail at once, whichever answers first", async () => {
    // The source is slow to say the tag does not exist; the destination at once refuses a client without credentials.
    srcProxy.latencyMs = 300;
    try {
      await expect(
        copyImage({
          source: { client: client(srcProxy.host), repository: 'apps/oci', reference: 'no-such-tag' },
          destination: { client: client(dstProxy.host), repository: 'faults/both', tag: 'v1' },
          retry: FAST_RETRY,
        }),
      ).rejects.toMatchObject({ code: ErrorCode.NotFound });
      expect(dstProxy.requests.some((r) => r.status === 401)).toBe(true);
    } finally {
      srcProxy.latencyMs = 0;
    }
  });

  it('reports an unreachable registry as a network error', async () => {
    const nowhere = client('127.0.0.1:9');
    await expect(
      copyImage({
        source: { client: nowhere, repository: 'a', reference: 'v1' },
        destination: {
          client: client(destination.host, { username: USER, password: PASSWORD }),
          repository: 'a',
          tag: 'v1',
        },
        retry: FAST_RETRY,
      }),
    ).rejects.toMatchObject({ code: ErrorCode.Network, message: expect.stringContaining('ECONNREFUSED') });
  });
});
