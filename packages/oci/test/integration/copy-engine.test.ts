/**
 * The copy engine against two real registries (distribution 2.8): the
 * destination behind Basic auth like ECR. Digests are checked with the
 * harness's own HTTP code and with skopeo, never with the engine's client.
 */
import { ErrorCode, referrersTagOf } from '@ecr-replicate/common';
import { DEFAULT_BLOB_CONCURRENCY, RegistryClient, copyImage, type CopyEvent, type CopyResult } from '../../src';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  artifactWithSubject,
  blobExists,
  cosignSignature,
  dockerImage,
  dockerManifestList,
  fetchManifest,
  manifestDigestOf,
  ociIndex,
  pushImage,
  pushReferrer,
  skopeoInspectDigest,
  startFaultProxy,
  startLatencyLink,
  startRegistry,
  type LinkRequest,
  type LocalRegistry,
  type SyntheticImage,
} from '@ecr-replicate/testing';

const USER = 'replicator';
const PASSWORD = 'test-only-password';
const PLATFORMS = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'ppc64le' },
];

let source: LocalRegistry;
let destination: LocalRegistry;
const clients: RegistryClient[] = [];

function sourceClient(host = source.host): RegistryClient {
  const client = new RegistryClient({ host, plainHttp: true });
  clients.push(client);
  return client;
}

function destinationClient(host = destination.host): RegistryClient {
  const client = new RegistryClient({
    host,
    plainHttp: true,
    credentials: async () => ({ username: USER, password: PASSWORD }),
  });
  clients.push(client);
  return client;
}

async function copy(
  repository: string,
  reference: string,
  options: {
    tag?: string;
    into?: string;
    events?: CopyEvent[];
    src?: RegistryClient;
    dst?: RegistryClient;
    platforms?: Array<{ os: string; architecture: string; variant?: string }>;
  } = {},
): Promise<CopyResult> {
  const tag = options.tag ?? (reference.includes(':') ? undefined : reference);
  return copyImage({
    source: { client: options.src ?? sourceClient(), repository, reference },
    destination: {
      client: options.dst ?? destinationClient(),
      repository: options.into ?? repository,
      ...(tag ? { tag } : {}),
    },
    ...(options.platforms ? { platforms: options.platforms } : {}),
    onEvent: (event) => options.events?.push(event),
  });
}

async function expectSameDigest(repository: string, tag: string, expected: string, into = repository): Promise<void> {
  expect(await manifestDigestOf(source, repository, tag)).toBe(expected);
  expect(await manifestDigestOf(destination, into, tag)).toBe(expected);
  expect(
    await skopeoInspectDigest(`${destination.host}/${into}:${tag}`, { tlsVerify: false, creds: `${USER}:${PASSWORD}` }),
  ).toBe(expected);
}

const images: Record<string, SyntheticImage> = {};

beforeAll(async () => {
  [source, destination] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: { username: USER, password: PASSWORD } }),
  ]);
  images.oci = ociIndex({ platforms: PLATFORMS, sharedBaseSize: 256 * 1024, layerSize: 64 * 1024, seed: 'oci' });
  images.list = dockerManifestList({
    platforms: PLATFORMS.slice(0, 2),
    sharedBaseSize: 128 * 1024,
    layerSize: 32 * 1024,
    seed: 'list',
  });
  images.single = dockerImage({ seed: 'single', layerSizes: [200 * 1024, 10 * 1024] });
  await pushImage(source, 'apps/oci', images.oci, 'v1');
  await pushImage(source, 'apps/list', images.list, 'v1');
  await pushImage(source, 'apps/single', images.single, 'v1');
  const signature = cosignSignature(images.oci.root, 'sig');
  await pushImage(source, 'apps/oci', signature, signature.tag);
  images.signature = signature;
  images.sbom = artifactWithSubject(images.oci.root, { artifactType: 'application/spdx+json', seed: 'sbom' });
  await pushReferrer(source, 'apps/oci', images.oci.root, images.sbom);
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([source?.stop(), destination?.stop()]);
});

describe('registry client', () => {
  it('loads only the parts of undici it uses (the index costs every start of the command line about 100 ms)', () => {
    // The compiled client (turbo builds before testing), in a fresh process: what a user's start loads.
    const client = join(__dirname, '..', '..', 'dist', 'registry-client.js');
    const loaded = execFileSync(
      process.execPath,
      ['-e', `require(${JSON.stringify(client)}); console.log(JSON.stringify(Object.keys(require.cache)))`],
      { encoding: 'utf8' },
    );
    const undiciFiles = (JSON.parse(loaded) as string[]).filter((file) => file.includes('/node_modules/undici/'));
    expect(undiciFiles.some((file) => file.endsWith('/lib/dispatcher/agent.js'))).toBe(true);
    expect(undiciFiles.filter((file) => file.endsWith('/undici/index.js') || file.includes('/lib/web/'))).toEqual([]);
  });
});

describe('copy', () => {
  it('copies an OCI index of three platforms sharing a base layer, with its signature and SBOM', async () => {
    const events: CopyEvent[] = [];
    const result = await copy('apps/oci', 'v1', { events });
    expect(result.digest).toBe(images.oci!.root.digest);
    expect(result.platforms).toEqual(['linux/amd64', 'linux/arm64/v8', 'linux/ppc64le']);
    await expectSameDigest('apps/oci', 'v1', images.oci!.root.digest);
    for (const child of images.oci!.manifests)
      expect(await manifestDigestOf(destination, 'apps/oci', child.digest)).toBe(child.digest);
    // The shared base layer travelled once: blob events are unique per digest.
    const copied = events
      .filter((e): e is Extract<CopyEvent, { type: 'blob' }> => e.type === 'blob')
      .map((e) => e.digest);
    expect(new Set(copied).size).toBe(copied.length);
    const allBlobs = [...images.oci!.blobs, ...images.signature!.blobs, ...images.sbom!.blobs].map((b) => b.digest);
    expect(result.blobs.copied).toBe(new Set(allBlobs).size);
    // Referrers: the cosign tag, the SBOM and the fallback referrers index tag.
    const sigTag = (images.signature as SyntheticImage & { tag: string }).tag;
    expect(await manifestDigestOf(destination, 'apps/oci', sigTag)).toBe(images.signature!.root.digest);
    expect(await manifestDigestOf(destination, 'apps/oci', images.sbom!.root.digest)).toBe(images.sbom!.root.digest);
    const indexTag = referrersTagOf(images.oci!.root.digest);
    expect(await manifestDigestOf(destination, 'apps/oci', indexTag)).toBe(
      await manifestDigestOf(source, 'apps/oci', indexTag),
    );
    expect(result.referrers).toBe(3);
  });

  it('finds referrers through the referrers API where the source serves it (as ECR does)', async () => {
    const subject = dockerImage({ seed: 'api-subject' });
    const attestation = artifactWithSubject(subject.root, {
      artifactType: 'application/vnd.in-toto+json',
      seed: 'api-att',
    });
    await pushImage(source, 'apps/api', subject, 'v1');
    await pushImage(source, 'apps/api', attestation); // by digest only: no referrers tag to find it by
    const proxy = await startFaultProxy(source);
    const listing = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: attestation.root.mediaType,
          digest: attestation.root.digest,
          size: attestation.root.bytes.length,
          artifactType: 'application/vnd.in-toto+json',
        },
      ],
    });
    proxy.addFault({
      match: { method: 'GET', path: /\/referrers\// },
      action: { status: 200, headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: listing },
    });
    try {
      const events: CopyEvent[] = [];
      const result = await copy('apps/api', 'v1', { src: sourceClient(proxy.host), events });
      expect(result.referrers).toBe(1);
      expect(events).toContainEqual({
        type: 'referrer',
        digest: attestation.root.digest,
        artifactType: 'application/vnd.in-toto+json',
      });
      expect(await manifestDigestOf(destination, 'apps/api', attestation.root.digest)).toBe(attestation.root.digest);
      expect(proxy.requests.some((r) => r.url === `/v2/apps/api/referrers/${subject.root.digest}`)).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  it('keeps at most its concurrency of blobs in flight (16 by default), and uses it on a slow link', async () => {
    // 23 layers and a config: more blobs than the default lets through at once.
    const wide = dockerImage({ seed: 'wide', layerSizes: Array.from({ length: 23 }, () => 4 * 1024) });
    await pushImage(source, 'apps/wide', wide, 'v1');
    const link = await startLatencyLink(destination, { latencyMs: 150 });
    /** The most PATCHes the destination had open at one moment. */
    const mostPatchesAtOnce = (requests: readonly LinkRequest[]): number => {
      const edges = requests
        .filter((r) => r.method === 'PATCH' && r.answeredAt !== undefined)
        .flatMap((r) => [
          { at: r.sentAt, step: 1 },
          { at: r.answeredAt as number, step: -1 },
        ])
        .sort((a, b) => a.at - b.at || a.step - b.step);
      let open = 0;
      let most = 0;
      for (const edge of edges) most = Math.max(most, (open += edge.step));
      return most;
    };
    try {
      for (const [into, concurrency, expected] of [
        ['wide/default', undefined, DEFAULT_BLOB_CONCURRENCY],
        ['wide/four', 4, 4],
      ] as const) {
        link.clearRequests();
        const result = await copyImage({
          source: { client: sourceClient(), repository: 'apps/wide', reference: 'v1' },
          destination: { client: destinationClient(link.host), repository: into, tag: 'v1' },
          ...(concurrency !== undefined ? { concurrency } : {}),
        });
        expect(result.blobs.copied).toBe(wide.blobs.length);
        // Bounded by the limit, and near it: every blob starts at once, and each PATCH lasts two 150 ms delays
        // (on a busy machine the first may end before the last starts).
        const most = mostPatchesAtOnce(link.requests);
        expect(most).toBeLessThanOrEqual(expected);
        expect(most).toBeGreaterThanOrEqual(Math.ceil(expected * 0.75));
        await expectSameDigest('apps/wide', 'v1', wide.root.digest, into);
      }
    } finally {
      await link.stop();
    }
  });

  it('copies a Docker manifest list and a single-platform Docker v2 image', async () => {
    const list = await copy('apps/list', 'v1');
    expect(list.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    await expectSameDigest('apps/list', 'v1', images.list!.root.digest);
    const single = await copy('apps/single', 'v1');
    expect(single.platforms).toEqual([]);
    await expectSameDigest('apps/single', 'v1', images.single!.root.digest);
  });

  it('shares the writes of two copies of one image into one repository at once', async () => {
    const dst = destinationClient();
    const [a, b] = await Promise.all([
      copy('apps/oci', 'v1', { into: 'twice/oci', tag: 'a', dst }),
      copy('apps/oci', 'v1', { into: 'twice/oci', tag: 'b', dst }),
    ]);
    expect(a.digest).toBe(images.oci!.root.digest);
    expect(b.digest).toBe(images.oci!.root.digest);
    expect(await manifestDigestOf(destination, 'twice/oci', 'a')).toBe(images.oci!.root.digest);
    expect(await manifestDigestOf(destination, 'twice/oci', 'b')).toBe(images.oci!.root.digest);
  });

  it('copies by digest into another repository and tag', async () => {
    const result = await copy('apps/single', images.single!.root.digest, { into: 'mirror/single', tag: 'pinned' });
    expect(result.digest).toBe(images.single!.root.digest);
    expect(await manifestDigestOf(destination, 'mirror/single', 'pinned')).toBe(images.single!.root.digest);
  });

  it('moves no blob byte the second time, and asks only a handful of requests', async () => {
    await copy('apps/oci', 'v1');
    const srcProxy = await startFaultProxy(source);
    const dstProxy = await startFaultProxy(destination);
    try {
      const result = await copy('apps/oci', 'v1', {
        src: sourceClient(srcProxy.host),
        dst: destinationClient(dstProxy.host),
      });
      expect(result.upToDate).toBe(true);
      expect(result.bytes.copied).toBe(0);
      expect(result.blobs.copied).toBe(0);
      const all = [...srcProxy.requests, ...dstProxy.requests];
      expect(all.filter((r) => r.url.includes('/blobs/'))).toEqual([]);
      expect(all.filter((r) => r.method !== 'GET' && r.method !== 'HEAD')).toEqual([]);
      // Source: the root, one listing of its tags (where the referrers tag scheme of the root, of its three children
      // and of the referrers found is looked up), one probe of the referrers API, the referrers index tag and the
      // cosign signature tag that the listing holds.
      const sourceAsked = srcProxy.requests.map(
        (r) => `${r.method} ${r.url.replace(/sha256[:-][0-9a-f]{64}/, '<digest>')}`,
      );
      expect(sourceAsked.sort()).toEqual(
        [
          'GET /v2/apps/oci/manifests/v1',
          'GET /v2/apps/oci/tags/list?n=1000',
          'GET /v2/apps/oci/referrers/<digest>',
          'GET /v2/apps/oci/manifests/<digest>',
          'HEAD /v2/apps/oci/manifests/<digest>.sig',
        ].sort(),
      );
      const answered = dstProxy.requests.filter((r) => r.status !== 401);
      expect(
        answered
          .map((r) => r.url)
          .slice(0, 2)
          .sort(),
      ).toEqual(['/v2/apps/oci/manifests/v1', '/v2/apps/oci/tags/list?n=1']);
      expect(answered.length).toBeLessThanOrEqual(5);
      expect(dstProxy.requests.length - answered.length).toBeLessThanOrEqual(2);
    } finally {
      await Promise.all([srcProxy.stop(), dstProxy.stop()]);
    }
  });

  it('asks a destination repository without tags about each blob while its transfer starts, and announces the plan first', async () => {
    const dstProxy = await startFaultProxy(destination);
    const events: CopyEvent[] = [];
    try {
      const result = await copy('apps/list', 'v1', {
        into: 'fresh/list',
        dst: destinationClient(dstProxy.host),
        events,
      });
      await expectSameDigest('apps/list', 'v1', images.list!.root.digest, 'fresh/list');
      expect(result.blobs.copied).toBe(images.list!.blobs.length);
      const asked = dstProxy.requests
        .filter((r) => r.status !== 401)
        .map((r) => `${r.method} ${r.url.replace(/\?.*/, '').replace(/[0-9a-f-]{36}$/, '<upload>')}`);
      // A listing without tags does not prove the repository empty (distribution answers NAME_UNKNOWN for one that
      // holds blobs): each blob is asked for once, at the same time as its upload starts.
      expect(asked.filter((r) => r.startsWith('HEAD /v2/fresh/list/blobs/')).length).toBe(images.list!.blobs.length);
      expect(asked.slice(0, 2).sort()).toEqual(['GET /v2/fresh/list/manifests/v1', 'GET /v2/fresh/list/tags/list']);
      expect(events[0]?.type).toBe('plan');
    } finally {
      await dstProxy.stop();
    }
  });

  it('skips the blobs a known repository already has', async () => {
    await copy('apps/single', 'v1', { into: 'mirror/known' });
    const dstProxy = await startFaultProxy(destination);
    try {
      const result = await copy('apps/single', images.single!.root.digest, {
        into: 'mirror/known',
        tag: 'again',
        dst: destinationClient(dstProxy.host),
      });
      expect(result.upToDate).toBe(false);
      expect(result.blobs).toEqual({ copied: 0, skipped: images.single!.blobs.length, mounted: 0 });
      expect(dstProxy.requests.filter((r) => r.method === 'PATCH' || r.method === 'POST')).toEqual([]);
    } finally {
      await dstProxy.stop();
    }
  });

  it('picks platforms, says that the digest changes, and keeps the chosen child intact', async () => {
    const events: CopyEvent[] = [];
    const result = await copy('apps/oci', 'v1', {
      into: 'picked/oci',
      tag: 'arm',
      events,
      platforms: [{ os: 'linux', architecture: 'arm64' }],
    });
    expect(result.digest).not.toBe(images.oci!.root.digest);
    expect(result.sourceDigest).toBe(images.oci!.root.digest);
    expect(events.some((e) => e.type === 'warning' && e.message.includes('differs from the source'))).toBe(true);
    const index = await fetchManifest(destination, 'picked/oci', 'arm');
    const children = (
      JSON.parse(index!.bytes.toString()) as {
        manifests: Array<{ digest: string; platform: { architecture: string } }>;
      }
    ).manifests;
    expect(children.map((c) => c.platform.architecture)).toEqual(['arm64']);
    expect(await manifestDigestOf(destination, 'picked/oci', children[0]!.digest)).toBe(children[0]!.digest);
    await expect(
      copy('apps/oci', 'v1', { into: 'picked/oci', tag: 'x', platforms: [{ os: 'windows', architecture: 'amd64' }] }),
    ).rejects.toThrow(
      /windows\/amd64 not in the source index \(it has: linux\/amd64, linux\/arm64\/v8, linux\/ppc64le\)/,
    );
  });

  it('treats an immutable tag at the same digest as success and another digest as a conflict', async () => {
    await copy('apps/single', 'v1', { into: 'immutable/app', tag: 'v1' });
    const proxy = await startFaultProxy(destination);
    const immutable = {
      status: 400,
      body: JSON.stringify({
        errors: [
          {
            code: 'TAG_INVALID',
            message:
              "The image tag 'v1' already exists in the 'immutable/app' repository and cannot be overwritten because the repository is immutable.",
          },
        ],
      }),
    };
    proxy.addFault({ match: { method: 'PUT', path: /\/manifests\/v1$/ }, action: immutable });
    try {
      // Same digest: the engine sees the tag already there and never even PUTs.
      const same = await copy('apps/single', 'v1', {
        into: 'immutable/app',
        tag: 'v1',
        dst: destinationClient(proxy.host),
      });
      expect(same.digest).toBe(images.single!.root.digest);
      // Another image to the same immutable tag.
      const other = copy('apps/list', 'v1', { into: 'immutable/app', tag: 'v1', dst: destinationClient(proxy.host) });
      await expect(other).rejects.toMatchObject({ code: ErrorCode.ImmutableTagConflict, retryable: false });
      await expect(other).rejects.toThrow(/immutable at the destination and points at sha256:/);
      expect(await manifestDigestOf(destination, 'immutable/app', 'v1')).toBe(images.single!.root.digest);
    } finally {
      await proxy.stop();
    }
  });

  it('rejects a manifest over 4 MiB before reading it whole', async () => {
    const proxy = await startFaultProxy(source);
    const huge = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [],
      annotations: { pad: 'x'.repeat(4 * 1024 * 1024 + 1) },
    });
    proxy.addFault({
      match: { method: 'GET', path: /\/manifests\/huge$/ },
      action: { status: 200, headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: huge },
    });
    try {
      await expect(copy('apps/oci', 'huge', { src: sourceClient(proxy.host) })).rejects.toMatchObject({
        code: ErrorCode.ManifestTooLarge,
      });
    } finally {
      await proxy.stop();
    }
  });

  it('fails clearly without credentials for a registry that needs them', async () => {
    const anonymous = new RegistryClient({ host: destination.host, plainHttp: true });
    clients.push(anonymous);
    await expect(copy('apps/single', 'v1', { into: 'nocreds/app', dst: anonymous })).rejects.toMatchObject({
      code: ErrorCode.AuthFailed,
      message: expect.stringContaining('requires credentials and none were given'),
    });
    const wrong = new RegistryClient({
      host: destination.host,
      plainHttp: true,
      credentials: async () => ({ username: USER, password: 'wrong' }),
    });
    clients.push(wrong);
    await expect(copy('apps/single', 'v1', { into: 'nocreds/app', dst: wrong })).rejects.toMatchObject({
      code: ErrorCode.AuthFailed,
    });
    expect(await blobExists(destination, 'nocreds/app', images.single!.root.digest)).toBe(false);
  });
});
