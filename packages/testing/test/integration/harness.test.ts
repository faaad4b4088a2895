/**
 * Self-tests of the copy-engine test harness, against real local registries
 * (distribution 2.8) and skopeo as an independent client.
 */
import { existsSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { deflateSync } from 'node:zlib';
import {
  artifactWithSubject,
  blobExists,
  COSIGN_SIGNATURE_ANNOTATION,
  cosignSignature,
  digestTag,
  dockerImage,
  dockerManifestList,
  EMPTY_JSON_DIGEST,
  fetchBlob,
  fetchManifest,
  freePort,
  headerValue,
  largeLayer,
  largeMultiPlatformIndex,
  largeSingleLayerImage,
  listTags,
  manifestDigestOf,
  MediaTypes,
  ociIndex,
  pushImage,
  pushReferrer,
  registryRequest,
  RegistryHttpError,
  seededBytes,
  seededStream,
  sha256Digest,
  skopeoInspectDigest,
  startBearerFront,
  startBlobCdn,
  startFaultProxy,
  startRegistry,
} from '../../src';
import type {
  BearerFront,
  BlobCdn,
  BytesBlob,
  FaultProxy,
  LocalRegistry,
  Platform,
  RegistryEndpoint,
  SyntheticImage,
} from '../../src';

const CREDS = { username: 'harness', password: 'harness-secret' };
const PLATFORMS: Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
];
const MiB = 1 << 20;

let plain: LocalRegistry;
let secured: LocalRegistry;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  [plain, secured] = await Promise.all([startRegistry(), startRegistry({ htpasswd: CREDS })]);
  stops.push(plain.stop, secured.stop);
});

afterAll(async () => {
  await Promise.all(stops.map((stop) => stop()));
});

/** The parsed JSON of a manifest. */
function json<T = Record<string, unknown>>(doc: { bytes: Buffer }): T {
  return JSON.parse(doc.bytes.toString()) as T;
}

interface ManifestJson {
  mediaType: string;
  config: { mediaType: string; digest: string };
  layers: Array<{ mediaType: string; digest: string; annotations?: Record<string, string> }>;
  artifactType?: string;
  subject?: { digest: string };
}
interface IndexJson {
  mediaType: string;
  manifests: Array<{
    mediaType: string;
    digest: string;
    platform?: Platform;
    artifactType?: string;
    annotations?: Record<string, string>;
  }>;
}

/** Parses `Bearer realm="...",service="...",scope="..."`. */
function parseChallenge(header: string | undefined): Record<string, string> {
  const params: Record<string, string> = {};
  for (const m of (header ?? '').matchAll(/(\w+)="([^"]*)"/g))
    if (m[1] !== undefined && m[2] !== undefined) params[m[1]] = m[2];
  return params;
}

describe('local registries', () => {
  it('freePort returns a port that can be listened on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise((resolve) => server.close(resolve));
  });

  it('serves /v2/ without credentials when started without htpasswd', async () => {
    expect(plain.url).toBe(`http://${plain.host}`);
    expect(plain.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await registryRequest({ url: plain.url }, 'GET', '/v2/')).status).toBe(200);
  });

  it('demands the htpasswd credentials when started with them', async () => {
    const anonymous = await registryRequest({ url: secured.url }, 'GET', '/v2/');
    expect(anonymous.status).toBe(401);
    expect(headerValue(anonymous.headers, 'www-authenticate')).toMatch(/^Basic realm=/);
    expect(
      (await registryRequest({ url: secured.url, username: CREDS.username, password: 'wrong' }, 'GET', '/v2/')).status,
    ).toBe(401);
    expect((await registryRequest(secured, 'GET', '/v2/')).status).toBe(200);
    expect(secured.username).toBe(CREDS.username);
  });

  it('stop() kills the registry and removes its directory', async () => {
    const registry = await startRegistry();
    expect(existsSync(registry.rootDir)).toBe(true);
    await registry.stop();
    expect(existsSync(registry.rootDir)).toBe(false);
    await expect(registryRequest({ url: registry.url }, 'GET', '/v2/')).rejects.toThrow();
    await registry.stop(); // idempotent
  });
});

describe('synthetic images', () => {
  it('are deterministic from their seed', () => {
    const a = ociIndex({ platforms: PLATFORMS, seed: 'same' });
    const b = ociIndex({ platforms: PLATFORMS, seed: 'same' });
    const c = ociIndex({ platforms: PLATFORMS, seed: 'other' });
    expect(a.root.digest).toBe(b.root.digest);
    expect(c.root.digest).not.toBe(a.root.digest);
    expect(dockerImage({ seed: 'same' }).root.digest).toBe(dockerImage({ seed: 'same' }).root.digest);
  });

  it('have incompressible layers', () => {
    const image = ociIndex({ platforms: PLATFORMS, sharedBaseSize: 100_000, layerSize: 50_000, seed: 'entropy' });
    for (const blob of image.blobs.filter((b) => b.mediaType === MediaTypes.ociLayerGzip)) {
      expect(deflateSync(blob.bytes).length).toBeGreaterThan(blob.size * 0.99);
    }
  });

  it('build an OCI index whose platforms share one base layer', () => {
    const image = ociIndex({ platforms: PLATFORMS, sharedBaseSize: 4096, layerSize: 2048, seed: 'shape' });
    const index = json<IndexJson>(image.root);
    expect(index.mediaType).toBe(MediaTypes.ociIndex);
    expect(index.manifests.map((m) => m.platform)).toEqual(PLATFORMS);
    expect(image.manifests.at(-1)).toBe(image.root);
    const children = image.manifests.slice(0, -1).map((m) => json<ManifestJson>(m));
    expect(new Set(children.map((c) => c.layers[0]?.digest)).size).toBe(1);
    expect(new Set(children.map((c) => c.layers[1]?.digest)).size).toBe(PLATFORMS.length);
    expect(new Set(children.map((c) => c.config.digest)).size).toBe(PLATFORMS.length);
    expect(image.blobs).toHaveLength(1 + 2 * PLATFORMS.length);
    expect(image.blobs.find((b) => b.digest === children[0]?.layers[0]?.digest)?.size).toBe(4096);
  });

  it('build a Docker manifest list with Docker media types throughout', () => {
    const image = dockerManifestList({ platforms: PLATFORMS.slice(0, 2), seed: 'docker-shape' });
    expect(json<IndexJson>(image.root).mediaType).toBe(MediaTypes.dockerManifestList);
    for (const child of image.manifests.slice(0, -1)) {
      const m = json<ManifestJson>(child);
      expect(child.mediaType).toBe(MediaTypes.dockerManifest);
      expect(m.config.mediaType).toBe(MediaTypes.dockerConfig);
      expect(m.layers.every((l) => l.mediaType === MediaTypes.dockerLayerGzip)).toBe(true);
    }
  });

  it('stream the same bytes they would hold in memory', async () => {
    const size = 2 * MiB + 12_345;
    const chunks: Buffer[] = [];
    for await (const chunk of seededStream('stream', size)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(seededBytes('stream', size))).toBe(true);
    const layer = await largeLayer({ size, seed: 'stream' });
    expect(layer.digest).toBe(sha256Digest(seededBytes('stream', size)));
    expect(layer.bytes).toBeUndefined();
  });
});

describe('pushing images and checking digests', () => {
  /** Pushes, then checks the root digest by raw HTTP and by skopeo, and every child and blob. */
  async function pushAndVerify(
    registry: LocalRegistry,
    repository: string,
    image: SyntheticImage,
    tag: string,
  ): Promise<void> {
    await pushImage(registry, repository, image, tag);
    expect(await manifestDigestOf(registry, repository, tag)).toBe(image.root.digest);
    const creds = registry.username !== undefined ? { creds: `${registry.username}:${registry.password ?? ''}` } : {};
    expect(await skopeoInspectDigest(`${registry.host}/${repository}:${tag}`, { tlsVerify: false, ...creds })).toBe(
      image.root.digest,
    );
    for (const doc of image.manifests)
      expect(await manifestDigestOf(registry, repository, doc.digest)).toBe(doc.digest);
    for (const blob of image.blobs) expect(await blobExists(registry, repository, blob.digest)).toBe(true);
    expect(await listTags(registry, repository)).toContain(tag);
  }

  it('pushes an OCI index, and skips existing blobs the second time', async () => {
    const image = ociIndex({ platforms: PLATFORMS, seed: 'push-oci' });
    await pushAndVerify(plain, 'harness/oci', image, 'v1');
    const again = await pushImage(plain, 'harness/oci', image, 'v2');
    expect(again.uploadedBlobs).toEqual([]);
    expect(again.skippedBlobs).toHaveLength(image.blobs.length);
    expect((await listTags(plain, 'harness/oci')).sort()).toEqual(['v1', 'v2']);
  });

  it('pushes a Docker manifest list with Basic auth, and fails without it', async () => {
    const image = dockerManifestList({ platforms: PLATFORMS.slice(0, 2), seed: 'push-docker-list' });
    const anonymous: RegistryEndpoint = { url: secured.url };
    const failure = await pushImage(anonymous, 'harness/list', image, 'v1').catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(RegistryHttpError);
    expect((failure as RegistryHttpError).status).toBe(401);
    await pushAndVerify(secured, 'harness/list', image, 'v1');
    await expect(skopeoInspectDigest(`${secured.host}/harness/list:v1`, { tlsVerify: false })).rejects.toThrow(
      /skopeo/,
    );
  });

  it('pushes a single-platform Docker image', async () => {
    const image = dockerImage({ seed: 'push-docker', layerSizes: [10_000, 20_000, 30_000] });
    await pushAndVerify(plain, 'harness/docker', image, 'latest');
    const served = await fetchManifest(plain, 'harness/docker', 'latest');
    expect(served?.mediaType).toBe(MediaTypes.dockerManifest);
    expect(served?.bytes.equals(image.root.bytes)).toBe(true);
    expect(await listTags(plain, 'harness/never-pushed')).toEqual([]);
    expect(await manifestDigestOf(plain, 'harness/docker', 'latest').catch(() => 'failed')).toBe(image.root.digest);
    await expect(manifestDigestOf(plain, 'harness/docker', 'missing')).rejects.toThrow(/not found/);
  });

  it('pushes a cosign-style signature under sha256-<hex>.sig', async () => {
    const subject = dockerImage({ seed: 'signed' });
    await pushImage(plain, 'harness/signed', subject, 'v1');
    const signature = cosignSignature(subject.root, 'signature');
    expect(signature.tag).toBe(`sha256-${subject.root.digest.slice('sha256:'.length)}.sig`);
    await pushAndVerify(plain, 'harness/signed', signature, signature.tag);
    const served = json<ManifestJson>(
      (await fetchManifest(plain, 'harness/signed', signature.tag)) ?? { bytes: Buffer.from('{}') },
    );
    expect(served.config.mediaType).toBe(MediaTypes.ociConfig);
    expect(served.layers[0]?.mediaType).toBe(MediaTypes.cosignSimpleSigning);
    expect(served.layers[0]?.annotations?.[COSIGN_SIGNATURE_ANNOTATION]).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const payload = signature.blobs.find((b) => b.mediaType === MediaTypes.cosignSimpleSigning);
    expect(payload?.bytes.toString()).toContain(subject.root.digest);
  });

  it('maintains the sha256-<hex> referrers tag index like an OCI 1.1 client', async () => {
    const subject = ociIndex({ platforms: PLATFORMS.slice(0, 2), seed: 'subject' });
    await pushImage(plain, 'harness/referred', subject, 'v1');
    const sbom = artifactWithSubject(subject.root, { artifactType: 'application/spdx+json', seed: 'sbom' });
    const provenance = artifactWithSubject(subject.root, {
      artifactType: 'application/vnd.in-toto+json',
      seed: 'provenance',
    });
    const artifact = json<ManifestJson>(sbom.root);
    expect(artifact.artifactType).toBe('application/spdx+json');
    expect(artifact.config.digest).toBe(EMPTY_JSON_DIGEST);
    expect(artifact.subject?.digest).toBe(subject.root.digest);

    await pushReferrer(plain, 'harness/referred', subject.root, sbom);
    await pushReferrer(plain, 'harness/referred', subject.root, provenance);
    const { tag, index } = await pushReferrer(plain, 'harness/referred', subject.root, sbom); // no duplicate
    expect(tag).toBe(digestTag(subject.root.digest));
    expect(await manifestDigestOf(plain, 'harness/referred', tag)).toBe(index.digest);
    expect(await skopeoInspectDigest(`${plain.host}/harness/referred:${tag}`, { tlsVerify: false })).toBe(index.digest);
    const referrers = json<IndexJson>(index);
    expect(referrers.mediaType).toBe(MediaTypes.ociIndex);
    expect(referrers.manifests.map((d) => [d.digest, d.artifactType])).toEqual([
      [sbom.root.digest, 'application/spdx+json'],
      [provenance.root.digest, 'application/vnd.in-toto+json'],
    ]);
    expect(referrers.manifests[0]?.annotations?.['harness.seed']).toBe('sbom');
    expect(await manifestDigestOf(plain, 'harness/referred', sbom.root.digest)).toBe(sbom.root.digest);
  });

  it('pushes streamed large layers (multi-platform and single-layer)', async () => {
    const index = await largeMultiPlatformIndex({ layerMiB: 1, seed: 'large-index' });
    const streamed = index.blobs.filter((b) => b.bytes === undefined);
    expect(streamed).toHaveLength(7); // 1 shared base + 2 platforms × 3 own layers
    expect(streamed.every((b) => b.size === MiB)).toBe(true);
    const result = await pushImage(plain, 'harness/large', index, 'multi');
    expect(result.uploadedBlobs).toHaveLength(9);
    expect(await manifestDigestOf(plain, 'harness/large', 'multi')).toBe(index.root.digest);
    for (const blob of streamed) expect((await fetchBlob(plain, 'harness/large', blob.digest)).length).toBe(MiB);

    const single = await largeSingleLayerImage({ seed: 'large-single', sizeMiB: 3 });
    await pushImage(plain, 'harness/large', single, 'single');
    expect(json<ManifestJson>(single.root).layers[0]?.mediaType).toBe(MediaTypes.dockerLayerGzip);
    expect(await skopeoInspectDigest(`${plain.host}/harness/large:single`, { tlsVerify: false })).toBe(
      single.root.digest,
    );
  });
});

describe('fault proxy', () => {
  const repository = 'harness/faults';
  let proxy: FaultProxy;
  let cdn: BlobCdn;
  let image: SyntheticImage<BytesBlob>;
  let layer: BytesBlob;
  let blobPath: string;

  beforeAll(async () => {
    proxy = await startFaultProxy(plain, { wwwAuthenticate: 'Basic realm="harness-proxy"' });
    cdn = await startBlobCdn(plain);
    stops.push(proxy.stop, cdn.stop);
    image = dockerImage({ seed: 'faults', layerSizes: [64 * 1024] });
    layer = image.blobs.find((b) => b.mediaType === MediaTypes.dockerLayerGzip) ?? (image.blobs[0] as BytesBlob);
    blobPath = `/v2/${repository}/blobs/${layer.digest}`;
    await pushImage(plain, repository, image, 'v1');
  });

  beforeEach(() => {
    proxy.clearFaults();
    proxy.clearRequests();
    proxy.latencyMs = 0;
  });

  const viaProxy = (): RegistryEndpoint => ({ url: proxy.url });

  it('forwards, rewrites upload Locations to itself and records requests', async () => {
    const opened = await registryRequest(viaProxy(), 'POST', `/v2/${repository}/blobs/uploads/`);
    expect(opened.status).toBe(202);
    expect(headerValue(opened.headers, 'location')).toMatch(
      new RegExp(`^${proxy.url}/v2/${repository}/blobs/uploads/`),
    );
    expect(proxy.requests).toEqual([
      expect.objectContaining({ method: 'POST', url: `/v2/${repository}/blobs/uploads/`, status: 202 }),
    ]);
    const pushed = dockerImage({ seed: 'through-proxy' });
    await pushImage(viaProxy(), 'harness/proxied', pushed, 'v1');
    expect(await manifestDigestOf(plain, 'harness/proxied', 'v1')).toBe(pushed.root.digest);
    expect(
      proxy.requests.some((r) => r.method === 'PUT' && r.url.startsWith(`${'/v2/harness/proxied/blobs/uploads/'}`)),
    ).toBe(true);
  });

  it('answers programmed statuses a given number of times', async () => {
    const fault = proxy.addFault({ match: { method: 'GET', path: /^\/v2\/$/, times: 2 }, action: { status: 500 } });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await registryRequest(viaProxy(), 'GET', '/v2/')).status);
    expect(statuses).toEqual([500, 500, 200]);
    expect(fault.hits).toBe(2);
    expect(proxy.requests.map((r) => r.status)).toEqual([500, 500, 200]);
  });

  it('sends 429 with Retry-After and 401 with the configured challenge', async () => {
    proxy.addFault({
      match: { path: /\/manifests\//, times: 1 },
      action: { status: 429, headers: { 'Retry-After': '1' } },
    });
    const throttled = await registryRequest(viaProxy(), 'GET', `/v2/${repository}/manifests/v1`);
    expect(throttled.status).toBe(429);
    expect(headerValue(throttled.headers, 'retry-after')).toBe('1');
    proxy.addFault({ match: { path: /\/manifests\//, times: 1 }, action: { status: 401 } });
    const unauthorized = await registryRequest(viaProxy(), 'HEAD', `/v2/${repository}/manifests/v1`);
    expect(unauthorized.status).toBe(401);
    expect(headerValue(unauthorized.headers, 'www-authenticate')).toBe('Basic realm="harness-proxy"');
    expect(
      (
        await registryRequest(viaProxy(), 'HEAD', `/v2/${repository}/manifests/v1`, {
          headers: { accept: MediaTypes.dockerManifest },
        })
      ).status,
    ).toBe(200);
  });

  it('resets the connection before answering', async () => {
    const fault = proxy.addFault({ match: { path: /\/blobs\//, times: 1 }, action: { reset: true } });
    await expect(registryRequest(viaProxy(), 'GET', blobPath)).rejects.toThrow();
    expect(fault.hits).toBe(1);
    expect(proxy.requests[0]?.status).toBeUndefined();
    expect((await registryRequest(viaProxy(), 'GET', blobPath)).body.equals(layer.bytes)).toBe(true);
  });

  it('truncates a response body after n bytes, keeping the announced length', async () => {
    proxy.addFault({ match: { method: 'GET', path: /\/blobs\//, times: 1 }, action: { truncateAfterBytes: 1000 } });
    const outcome = await new Promise<{ announced: number; received: number; complete: boolean }>((resolve, reject) => {
      httpGet(`${proxy.url}${blobPath}`, { agent: false }, (res) => {
        let received = 0;
        res.on('data', (chunk: Buffer) => (received += chunk.length));
        res.on('error', () => undefined);
        res.on('close', () =>
          resolve({ announced: Number(res.headers['content-length']), received, complete: res.complete }),
        );
      }).on('error', reject);
    });
    expect(outcome).toEqual({ announced: layer.size, received: 1000, complete: false });
    await expect(registryRequest(viaProxy(), 'GET', blobPath).then((r) => r.body.length)).resolves.toBe(layer.size);
  });

  it('flips one byte at a given offset', async () => {
    proxy.addFault({ match: { method: 'GET', path: /\/blobs\//, times: 1 }, action: { corruptByteAt: 40_000 } });
    const corrupted = (await registryRequest(viaProxy(), 'GET', blobPath)).body;
    expect(corrupted.length).toBe(layer.size);
    const differing = [...corrupted.keys()].filter((i) => corrupted[i] !== layer.bytes[i]);
    expect(differing).toEqual([40_000]);
  });

  it('makes manifestDigestOf fail when the body does not match Docker-Content-Digest', async () => {
    proxy.addFault({ match: { method: 'GET', path: /\/manifests\/v1$/, times: 1 }, action: { corruptByteAt: 10 } });
    await expect(manifestDigestOf(viaProxy(), repository, 'v1')).rejects.toThrow(/Docker-Content-Digest/);
    expect(await manifestDigestOf(viaProxy(), repository, 'v1')).toBe(image.root.digest);
  });

  it('rewrites the 202 of a PATCH into 201 (like ECR), and the upload still completes', async () => {
    proxy.addFault({ match: { method: 'PATCH' }, action: { rewriteStatus: 201 } });
    const content = seededBytes('patched', 5000);
    const opened = await registryRequest(viaProxy(), 'POST', `/v2/${repository}/blobs/uploads/`);
    const patched = await registryRequest(viaProxy(), 'PATCH', headerValue(opened.headers, 'location') ?? '', {
      headers: { 'content-type': 'application/octet-stream' },
      body: content,
    });
    expect(patched.status).toBe(201);
    expect(headerValue(patched.headers, 'range')).toBe('0-4999');
    const put = new URL(headerValue(patched.headers, 'location') ?? '');
    expect(put.origin).toBe(proxy.url);
    put.searchParams.set('digest', sha256Digest(content));
    expect((await registryRequest(viaProxy(), 'PUT', put.href)).status).toBe(201);
    expect(await blobExists(plain, repository, sha256Digest(content))).toBe(true);
  });

  it('redirects blob GETs to the CDN, which serves them and records the headers it got', async () => {
    proxy.addFault({ match: { method: 'GET', path: /\/blobs\/sha256:/ }, action: { redirectTo: cdn.url } });
    const redirected = await registryRequest(
      { url: proxy.url, username: 'someone', password: 'secret' },
      'GET',
      blobPath,
    );
    expect(redirected.status).toBe(307);
    const location = headerValue(redirected.headers, 'location') ?? '';
    expect(location).toBe(`${cdn.url}${blobPath}`);
    expect(proxy.requests[0]?.headers.authorization).toMatch(/^Basic /);

    cdn.clearRequests();
    const served = await registryRequest({ url: cdn.url }, 'GET', location);
    expect(served.status).toBe(200);
    expect(served.body.equals(layer.bytes)).toBe(true);
    expect(cdn.requests).toHaveLength(1);
    expect(cdn.requests[0]?.headers.authorization).toBeUndefined();
    // The recorder does see an Authorization header when one is sent.
    await registryRequest({ url: cdn.url, username: 'leaked', password: 'x' }, 'GET', location);
    expect(cdn.requests[1]?.headers.authorization).toMatch(/^Basic /);
  });

  it('adds its latency each way', async () => {
    proxy.latencyMs = 100;
    const started = performance.now();
    expect((await registryRequest(viaProxy(), 'GET', '/v2/')).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
    proxy.addFault({ match: { times: 1 }, action: { status: 503 } });
    const faulted = performance.now();
    expect((await registryRequest(viaProxy(), 'GET', '/v2/')).status).toBe(503);
    expect(performance.now() - faulted).toBeGreaterThanOrEqual(195);
  });
});

describe('bearer-token front', () => {
  const repository = 'harness/bearer';
  let front: BearerFront;
  let image: SyntheticImage<BytesBlob>;

  beforeAll(async () => {
    front = await startBearerFront(plain, { ...CREDS, tokenTtlSeconds: 60 });
    stops.push(front.stop);
    image = dockerImage({ seed: 'bearer' });
    await pushImage(plain, repository, image, 'v1');
  });

  /** Asks the token server for a token. */
  async function getToken(
    scope: string,
    username = CREDS.username,
    password = CREDS.password,
  ): Promise<{ status: number; token?: string }> {
    const url = `${front.tokenUrl}?service=${front.service}&scope=${encodeURIComponent(scope)}`;
    const res = await registryRequest({ url: front.tokenUrl, username, password }, 'GET', url);
    if (res.status !== 200) return { status: res.status };
    const body = JSON.parse(res.body.toString()) as { token: string; access_token: string; expires_in: number };
    expect(body.access_token).toBe(body.token);
    expect(body.expires_in).toBe(60);
    return { status: 200, token: body.token };
  }

  const bearer = (token: string | undefined): Record<string, string> => ({ authorization: `Bearer ${token ?? ''}` });

  it('challenges requests without a token', async () => {
    const root = await registryRequest({ url: front.url }, 'GET', '/v2/');
    expect(root.status).toBe(401);
    const challenge = parseChallenge(headerValue(root.headers, 'www-authenticate'));
    expect(challenge).toEqual({ realm: front.tokenUrl, service: 'harness-registry' });
    const manifest = await registryRequest({ url: front.url }, 'GET', `/v2/${repository}/manifests/v1`);
    expect(manifest.status).toBe(401);
    expect(headerValue(manifest.headers, 'www-authenticate')).toMatch(/^Bearer /);
    expect(parseChallenge(headerValue(manifest.headers, 'www-authenticate')).scope).toBe(
      `repository:${repository}:pull`,
    );
  });

  it('refuses wrong credentials at the token server', async () => {
    const before = front.tokensIssued;
    expect((await getToken(`repository:${repository}:pull`, CREDS.username, 'wrong')).status).toBe(401);
    expect(front.tokensIssued).toBe(before);
    expect(front.tokenRequests.at(-1)).toEqual(expect.objectContaining({ granted: false, account: CREDS.username }));
  });

  it('lets a pull token read but not write', async () => {
    const { token } = await getToken(`repository:${repository}:pull`);
    const got = await registryRequest({ url: front.url }, 'GET', `/v2/${repository}/manifests/v1`, {
      headers: { ...bearer(token), accept: MediaTypes.dockerManifest },
    });
    expect(got.status).toBe(200);
    expect(sha256Digest(got.body)).toBe(image.root.digest);
    expect((await registryRequest({ url: front.url }, 'GET', '/v2/', { headers: bearer(token) })).status).toBe(200);
    const push = await registryRequest({ url: front.url }, 'POST', `/v2/${repository}/blobs/uploads/`, {
      headers: bearer(token),
    });
    expect(push.status).toBe(401);
    const challenge = parseChallenge(headerValue(push.headers, 'www-authenticate'));
    expect(challenge).toEqual(
      expect.objectContaining({ scope: `repository:${repository}:pull,push`, error: 'insufficient_scope' }),
    );
    const other = await registryRequest({ url: front.url }, 'GET', `/v2/harness/other/manifests/v1`, {
      headers: bearer(token),
    });
    expect(other.status).toBe(401);
  });

  it('lets a pull,push token write, with Locations on the front', async () => {
    const { token } = await getToken(`repository:${repository}:pull,push`);
    const opened = await registryRequest({ url: front.url }, 'POST', `/v2/${repository}/blobs/uploads/`, {
      headers: bearer(token),
    });
    expect(opened.status).toBe(202);
    expect(headerValue(opened.headers, 'location')).toMatch(new RegExp(`^${front.url}/`));
    expect(front.requests.at(-1)).toEqual(
      expect.objectContaining({ method: 'POST', status: 202, authorization: `Bearer ${token ?? ''}` }),
    );
  });

  it('expires all tokens on demand, and issues new ones', async () => {
    const { token } = await getToken(`repository:${repository}:pull`);
    const issued = front.tokensIssued;
    front.expireAllTokens();
    const expired = await registryRequest({ url: front.url }, 'GET', '/v2/', { headers: bearer(token) });
    expect(expired.status).toBe(401);
    expect(parseChallenge(headerValue(expired.headers, 'www-authenticate')).error).toBe('invalid_token');
    const renewed = await getToken(`repository:${repository}:pull`);
    expect(front.tokensIssued).toBe(issued + 1);
    expect((await registryRequest({ url: front.url }, 'GET', '/v2/', { headers: bearer(renewed.token) })).status).toBe(
      200,
    );
  });

  it('completes the token dance with skopeo as the client', async () => {
    front.clearRequests();
    const digest = await skopeoInspectDigest(`${front.host}/${repository}:v1`, {
      tlsVerify: false,
      creds: `${CREDS.username}:${CREDS.password}`,
    });
    expect(digest).toBe(image.root.digest);
    expect(front.tokenRequests).toEqual([
      expect.objectContaining({
        granted: true,
        account: CREDS.username,
        service: 'harness-registry',
        scopes: [`repository:${repository}:pull`],
      }),
    ]);
    expect(front.requests.map((r) => r.status)).toContain(401);
    expect(front.requests.at(-1)).toEqual(
      expect.objectContaining({ method: 'GET', status: 200, authorization: expect.stringMatching(/^Bearer /) }),
    );
  });
});
