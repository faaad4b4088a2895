/**
 * The copy engine on image shapes and registry behaviours beyond the plain image: referrers of referrers and of
 * an index's children, foreign layers, destinations that hold content without tags, races of two copies, and
 * a blob body left unread. Two real registries (distribution 2.8); the destination behind Basic auth.
 */
import { ErrorCode } from '@ecr-replicate/common';
import { RegistryClient, copyImage, type CopyEvent, type CopyResult } from '../../src';
import {
  MediaTypes,
  artifactWithSubject,
  blobExists,
  bytesBlob,
  cosignSignature,
  descriptorOf,
  digestTag,
  dockerImage,
  listTags,
  manifestDigestOf,
  manifestDoc,
  ociIndex,
  pushBlob,
  pushImage,
  pushReferrer,
  putManifest,
  seededBytes,
  startFaultProxy,
  startRegistry,
  type LocalRegistry,
  type SyntheticImage,
} from '@ecr-replicate/testing';

const USER = 'replicator';
const PASSWORD = 'shapes-password';
const PLATFORMS = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
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

interface CopyOptions {
  tag?: string;
  into: string;
  src?: RegistryClient;
  dst?: RegistryClient;
  events?: CopyEvent[];
  includeForeignLayers?: boolean;
  beforeTag?: (digest: string) => Promise<void>;
}

function copy(repository: string, reference: string, options: CopyOptions): Promise<CopyResult> {
  return copyImage({
    source: { client: options.src ?? sourceClient(), repository, reference },
    destination: {
      client: options.dst ?? destinationClient(),
      repository: options.into,
      ...(options.tag !== undefined ? { tag: options.tag } : {}),
    },
    ...(options.includeForeignLayers ? { includeForeignLayers: true } : {}),
    ...(options.beforeTag ? { beforeTag: options.beforeTag } : {}),
    onEvent: (event) => options.events?.push(event),
  });
}

const dst = {
  get url() {
    return destination.url;
  },
  username: USER,
  password: PASSWORD,
};

let image: SyntheticImage;

beforeAll(async () => {
  // Both accept manifests whose layers name URLs (foreign layers), as ECR does.
  const manifestUrlsAllow = ['^https?://'];
  [source, destination] = await Promise.all([
    startRegistry({ manifestUrlsAllow }),
    startRegistry({ htpasswd: { username: USER, password: PASSWORD }, manifestUrlsAllow }),
  ]);
  image = ociIndex({ platforms: PLATFORMS, sharedBaseSize: 64 * 1024, layerSize: 16 * 1024, seed: 'shapes' });
  await pushImage(source, 'apps/shapes', image, 'v1');
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([source?.stop(), destination?.stop()]);
});

describe('referrers all the way down', () => {
  it('copies the signature of an SBOM and the per-platform signatures cosign sign --recursive makes', async () => {
    const repository = 'apps/signed';
    await pushImage(source, repository, image, 'v1');
    // The SBOM of the index (referrers tag scheme), and the SBOM's own signature (cosign tag of the SBOM's digest).
    const sbom = artifactWithSubject(image.root, { artifactType: 'application/spdx+json', seed: 'deep-sbom' });
    const { tag: sbomIndexTag } = await pushReferrer(source, repository, image.root, sbom);
    const sbomSignature = cosignSignature(sbom.root, 'sbom-sig');
    await pushImage(source, repository, sbomSignature, sbomSignature.tag);
    // A signature of the index and of each platform's manifest.
    const signatures = [image.root, ...image.manifests.filter((m) => m.digest !== image.root.digest)].map((m, i) =>
      cosignSignature(m, `recursive-${i}`),
    );
    for (const signature of signatures) await pushImage(source, repository, signature, signature.tag);

    const result = await copy(repository, 'v1', { into: 'mirror/signed', tag: 'v1' });

    expect(await manifestDigestOf(destination, 'mirror/signed', 'v1')).toBe(image.root.digest);
    expect(await manifestDigestOf(destination, 'mirror/signed', sbomIndexTag)).toBeDefined();
    expect(await manifestDigestOf(destination, 'mirror/signed', sbomSignature.tag)).toBe(sbomSignature.root.digest);
    for (const signature of signatures) {
      expect(await manifestDigestOf(destination, 'mirror/signed', signature.tag)).toBe(signature.root.digest);
    }
    expect(await blobExists(destination, 'mirror/signed', sbom.blobs[1]!.digest)).toBe(true);
    // The SBOM, the referrers index tag listing it, the SBOM's signature, and a signature per manifest.
    expect(result.referrers).toBe(1 + 1 + 1 + signatures.length);
  });

  it('stops at a cycle of referrers', async () => {
    const repository = 'apps/cycle';
    const single = dockerImage({ seed: 'cycle', layerSizes: [1024] });
    await pushImage(source, repository, single, 'v1');
    // a is about the image, b about a; the referrers index of b lists a again.
    const a = artifactWithSubject(single.root, { artifactType: 'application/x-a', seed: 'cycle-a' });
    await pushReferrer(source, repository, single.root, a);
    const b = artifactWithSubject(a.root, { artifactType: 'application/x-b', seed: 'cycle-b' });
    await pushReferrer(source, repository, a.root, b);
    await pushReferrer(source, repository, b.root, a);
    const result = await copy(repository, 'v1', { into: 'mirror/cycle', tag: 'v1' });
    expect(result.referrers).toBe(2 + 3); // a and b, and the three referrers index tags
    expect(await manifestDigestOf(destination, 'mirror/cycle', digestTag(b.root.digest))).toBeDefined();
  });
});

describe('foreign layers', () => {
  const FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
  const foreign = bytesBlob(FOREIGN, seededBytes('windows-base', 4096));
  const own = bytesBlob(MediaTypes.dockerLayerGzip, seededBytes('windows-app', 2048));
  const config = bytesBlob(
    MediaTypes.dockerConfig,
    Buffer.from(JSON.stringify({ os: 'windows', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] } })),
  );
  const manifest = manifestDoc(MediaTypes.dockerManifest, {
    schemaVersion: 2,
    mediaType: MediaTypes.dockerManifest,
    config: descriptorOf(config),
    layers: [
      { ...descriptorOf(foreign), urls: [`https://mcr.microsoft.com/v2/windows/servercore/blobs/${foreign.digest}`] },
      descriptorOf(own),
    ],
  });

  beforeAll(async () => {
    await pushBlob(source, 'apps/windows', config);
    await pushBlob(source, 'apps/windows', own);
    await putManifest(source, 'apps/windows', 'ltsc', manifest);
  });

  it('copies a Windows-style image without fetching its foreign layer, and says so', async () => {
    const events: CopyEvent[] = [];
    const result = await copy('apps/windows', 'ltsc', { into: 'mirror/windows', tag: 'ltsc', events });
    expect(result.digest).toBe(manifest.digest);
    expect(await manifestDigestOf(destination, 'mirror/windows', 'ltsc')).toBe(manifest.digest);
    expect(result.blobs.copied).toBe(2);
    expect(await blobExists(destination, 'mirror/windows', foreign.digest)).toBe(false);
    const warnings = events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
    expect(warnings).toEqual([expect.stringContaining(`foreign layer ${foreign.digest}`)]);
  });

  it('copies the foreign layer with includeForeignLayers when the source has it', async () => {
    await pushBlob(source, 'apps/windows', foreign);
    const result = await copy('apps/windows', 'ltsc', {
      into: 'mirror/windows-full',
      tag: 'ltsc',
      includeForeignLayers: true,
    });
    expect(result.blobs.copied).toBe(3);
    expect(await blobExists(destination, 'mirror/windows-full', foreign.digest)).toBe(true);
  });
});

describe('skip what the destination has, whatever its tags', () => {
  it('re-copies by digest moving no blob byte and writing nothing', async () => {
    const dstProxy = await startFaultProxy(destination);
    try {
      await copy('apps/shapes', image.root.digest, { into: 'bydigest/shapes' });
      const again = await copy('apps/shapes', image.root.digest, {
        into: 'bydigest/shapes',
        dst: destinationClient(dstProxy.host),
      });
      expect(again.upToDate).toBe(true);
      expect(again.bytes.copied).toBe(0);
      expect(dstProxy.requests.filter((r) => !['GET', 'HEAD'].includes(r.method))).toEqual([]);
      // The repository holds an untagged image only: the tag listing says NAME_UNKNOWN.
      expect(await listTags(destination, 'bydigest/shapes').catch(() => [])).toEqual([]);
    } finally {
      await dstProxy.stop();
    }
  });

  it('sends no blob byte into a repository that holds the blobs and untagged manifests but no tags', async () => {
    const repository = 'untagged/shapes';
    for (const blob of image.blobs) await pushBlob(dst, repository, blob);
    const child = image.manifests.find((m) => m.digest !== image.root.digest)!;
    await putManifest(dst, repository, child.digest, child);
    const dstProxy = await startFaultProxy(destination);
    try {
      const result = await copy('apps/shapes', 'v1', {
        into: repository,
        tag: 'v1',
        dst: destinationClient(dstProxy.host),
      });
      expect(result.bytes.copied).toBe(0);
      expect(result.blobs.copied).toBe(0);
      expect(dstProxy.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
      expect(await manifestDigestOf(destination, repository, 'v1')).toBe(image.root.digest);
    } finally {
      await dstProxy.stop();
    }
  });

  it('sends no blob byte again after a copy that stopped before its tag moved', async () => {
    const repository = 'stopped/shapes';
    await expect(
      copy('apps/shapes', 'v1', {
        into: repository,
        tag: 'v1',
        beforeTag: async () => {
          throw new Error('the worker lost its lease');
        },
      }),
    ).rejects.toThrow('lost its lease');
    const dstProxy = await startFaultProxy(destination);
    try {
      const result = await copy('apps/shapes', 'v1', {
        into: repository,
        tag: 'v1',
        dst: destinationClient(dstProxy.host),
      });
      expect(result.bytes.copied).toBe(0);
      expect(dstProxy.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
      expect(await manifestDigestOf(destination, repository, 'v1')).toBe(image.root.digest);
    } finally {
      await dstProxy.stop();
    }
  });
});

describe('races and bodies left unread', () => {
  it('survives 20 rounds of two simultaneous copies of one image by separate clients', async () => {
    const failures: string[] = [];
    for (let round = 0; round < 20; round += 1) {
      const into = `race/r${round}`;
      const outcomes = await Promise.allSettled([
        copy('apps/shapes', 'v1', { into, tag: 'v1' }),
        copy('apps/shapes', 'v1', { into, tag: 'v1' }),
      ]);
      for (const outcome of outcomes)
        if (outcome.status === 'rejected') failures.push(`${round}: ${String(outcome.reason)}`);
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('re-checks the blobs and stores the manifest again when the PUT is refused with DIGEST_INVALID', async () => {
    const dstProxy = await startFaultProxy(destination);
    const events: CopyEvent[] = [];
    try {
      const fault = dstProxy.addFault({
        match: { method: 'PUT', path: /\/manifests\/sha256:/, times: 1 },
        action: {
          status: 400,
          body: JSON.stringify({
            errors: [{ code: 'DIGEST_INVALID', message: 'provided digest did not match uploaded content' }],
          }),
        },
      });
      await copy('apps/shapes', 'v1', {
        into: 'race/injected',
        tag: 'v1',
        dst: destinationClient(dstProxy.host),
        events,
      });
      expect(fault.hits).toBe(1);
      expect(events.some((e) => e.type === 'retry' && e.what.startsWith('PUT manifest'))).toBe(true);
      expect(await manifestDigestOf(destination, 'race/injected', 'v1')).toBe(image.root.digest);
    } finally {
      await dstProxy.stop();
    }
  });

  it('mounts a blob it already copied into another repository, dropping the source body unread without dying', async () => {
    const src = sourceClient();
    const client = destinationClient();
    await copy('apps/shapes', 'v1', { into: 'mount/one', tag: 'v1', src, dst: client });
    const second = await copy('apps/shapes', 'v1', { into: 'mount/two', tag: 'v1', src, dst: client });
    expect(second.blobs.mounted).toBe(image.blobs.length);
    expect(second.bytes.copied).toBe(0);
    // The bodies opened alongside the mounts were destroyed unread; an error event without a listener would have
    // ended this process before here.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await manifestDigestOf(destination, 'mount/two', 'v1')).toBe(image.root.digest);
  });

  it('mounts from the source repository when source and destination are one registry (a fresh process)', async () => {
    await pushImage(dst, 'same/a', image, 'v1');
    const dstProxy = await startFaultProxy(destination);
    try {
      const result = await copy('same/a', 'v1', {
        into: 'same/b',
        tag: 'v1',
        src: destinationClient(dstProxy.host),
        dst: destinationClient(dstProxy.host),
      });
      expect(result.blobs.mounted).toBe(image.blobs.length);
      expect(dstProxy.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
      expect(await manifestDigestOf(destination, 'same/b', 'v1')).toBe(image.root.digest);
    } finally {
      await dstProxy.stop();
    }
  });

  it('fails a copy whose upload is refused (403) with a clear error, and the process goes on', async () => {
    const dstProxy = await startFaultProxy(destination);
    try {
      dstProxy.addFault({
        match: { method: 'POST', path: /\/blobs\/uploads\// },
        action: {
          status: 403,
          body: JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }),
        },
      });
      await expect(
        copy('apps/shapes', 'v1', { into: 'denied/shapes', tag: 'v1', dst: destinationClient(dstProxy.host) }),
      ).rejects.toMatchObject({
        code: ErrorCode.AccessDenied,
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      await dstProxy.stop();
    }
  });
});
