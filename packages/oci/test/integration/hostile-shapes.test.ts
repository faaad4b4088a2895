/**
 * The copy engine on image shapes and answers a hostile or careless source can serve: manifests served with another
 * Content-Type than their own, an index listing one child thousands of times, indexes that share children across
 * levels (a diamond: paths double at each level) or nest without end, malformed descriptors, and a referrers tag
 * that is not a manifest. Real registries (distribution 2.8), a front on the source to rewrite its answers.
 */
import { createHash } from 'node:crypto';
import { ErrorCode } from '@ecr-replicate/common';
import { MAX_INDEX_DEPTH, MAX_REFERRERS, RegistryClient, copyImage, type CopyResult } from '../../src';
import {
  MediaTypes,
  cosignSignature,
  descriptorOf,
  dockerManifestList,
  manifestDigestOf,
  manifestDoc,
  ociIndex,
  pushImage,
  putManifest,
  startRegistry,
  type LocalRegistry,
  type ManifestDoc,
  type SyntheticImage,
} from '@ecr-replicate/testing';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { forward, rejection, relay, startHostile, type TestServer } from '../support/hostile';

/** Every hostile case must end well within this (the issue's bound). */
const BOUND_MS = 30_000;

let source: LocalRegistry;
let destination: LocalRegistry;
let list: SyntheticImage;
let single: SyntheticImage;
const servers: TestServer[] = [];
const clients: RegistryClient[] = [];
let serial = 0;

function client(host: string): RegistryClient {
  const created = new RegistryClient({
    host,
    plainHttp: true,
    retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 50 },
  });
  clients.push(created);
  return created;
}

/** A front on the source: `handler` answers what it wants to, anything else goes to the source as it is. */
async function front(handler: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<TestServer> {
  const server = await startHostile(async (req, res) => {
    if (!handler(req, res)) relay(res, await forward(req, source.url));
  });
  servers.push(server);
  return server;
}

/** Copies `repository:reference` from `host` into a fresh destination repository, tagged `v1`. */
async function copy(host: string, repository: string, reference: string): Promise<CopyResult & { into: string }> {
  serial += 1;
  const into = `shapes/case-${serial}`;
  const result = await copyImage({
    source: { client: client(host), repository, reference },
    destination: { client: client(destination.host), repository: into, tag: 'v1' },
  });
  return { ...result, into };
}

/** Serves `doc` for manifest requests naming `reference` (GET and HEAD), with `contentType`. */
function serving(
  req: IncomingMessage,
  res: ServerResponse,
  reference: string,
  doc: ManifestDoc,
  contentType = doc.mediaType,
): boolean {
  if (!req.url?.endsWith(`/manifests/${reference}`)) return false;
  req.resume();
  res.writeHead(200, {
    'content-type': contentType,
    'content-length': String(doc.bytes.length),
    'docker-content-digest': doc.digest,
  });
  res.end(req.method === 'HEAD' ? undefined : doc.bytes);
  return true;
}

const oci = (value: Record<string, unknown>, mediaType: string = MediaTypes.ociIndex): ManifestDoc =>
  manifestDoc(mediaType, { schemaVersion: 2, mediaType, ...value }, 0);

beforeAll(async () => {
  [source, destination] = await Promise.all([startRegistry(), startRegistry()]);
  list = dockerManifestList({
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ],
    sharedBaseSize: 8 * 1024,
    layerSize: 2 * 1024,
    seed: 'hostile-shapes-list',
  });
  single = ociIndex({
    platforms: [{ os: 'linux', architecture: 'amd64' }],
    sharedBaseSize: 4 * 1024,
    layerSize: 1024,
    seed: 'hostile-shapes-single',
  });
  await Promise.all([pushImage(source, 'shapes/list', list, 'v1'), pushImage(source, 'shapes/single', single, 'v1')]);
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.stop()));
  await Promise.all([source?.stop(), destination?.stop()]);
});

describe('the Content-Type a source serves a manifest with', () => {
  // The manifest's own mediaType field is what the destination checks a PUT against; the engine had sent the
  // source's Content-Type (and parsed by it): every case below failed with the destination's MANIFEST_INVALID.
  it.each([
    ['application/json', () => 'application/json'],
    ['text/plain with a charset', () => 'text/plain; charset=utf-8'],
    ['no Content-Type', () => undefined],
    ['an image manifest type for every manifest (index included)', () => MediaTypes.ociManifest],
    ['the type in capitals', (type: string | undefined) => type?.toUpperCase()],
  ])('is not trusted over the manifest itself: %s', async (_name, rewrite) => {
    const server = await startHostile(async (req, res) => {
      const answer = await forward(req, source.url);
      relay(res, answer, (h) => {
        if (!req.url?.includes('/manifests/') || answer.statusCode !== 200) return h;
        const type = rewrite(h['content-type'] as string | undefined);
        const { 'content-type': _dropped, ...rest } = h;
        return type === undefined ? rest : { ...rest, 'content-type': type };
      });
    });
    servers.push(server);
    const host = server.host;
    const result = await copy(host, 'shapes/list', 'v1');
    expect(result.digest).toBe(list.root.digest);
    expect(result.mediaType).toBe(MediaTypes.dockerManifestList);
    expect(result.manifests.copied).toBe(3);
    // Byte-identical at the destination: the index and each child, under their digests.
    expect(await manifestDigestOf(destination, result.into, 'v1')).toBe(list.root.digest);
    for (const child of list.manifests.filter((m) => m.digest !== list.root.digest)) {
      expect(await manifestDigestOf(destination, result.into, child.digest)).toBe(child.digest);
    }
  });
});

describe('index shapes that multiply the work', () => {
  const image = (): ManifestDoc => single.manifests.find((m) => m.mediaType === MediaTypes.ociManifest) as ManifestDoc;

  it('reads and stores a child listed thousands of times once', async () => {
    const child = image();
    const index = oci({ manifests: Array.from({ length: 3_000 }, () => descriptorOf(child)) });
    await putManifest(source, 'shapes/single', 'dups', index);
    const started = Date.now();
    const result = await copy(source.host, 'shapes/single', 'dups');
    // Was 3,001 manifests stored (the same child PUT 3,000 times) in ~7 s; a 4 MiB index (19,000 entries) took 75 s.
    expect(result.manifests).toEqual({ copied: 2, skipped: 0 });
    expect(await manifestDigestOf(destination, result.into, 'v1')).toBe(index.digest);
    expect(Date.now() - started).toBeLessThan(BOUND_MS);
  });

  it('looks up the referrers of a child listed many times once, and copies its signature once', async () => {
    const child = image();
    const index = oci({ manifests: Array.from({ length: 1_000 }, () => descriptorOf(child)), annotations: { r: '1' } });
    await putManifest(source, 'shapes/single', 'dups-signed', index);
    const signature = cosignSignature(child, 'hostile-shapes-dups');
    await pushImage(source, 'shapes/single', signature, signature.tag);
    // The source serves the referrers API (ECR does): an empty list for every subject.
    const asked: string[] = [];
    const host = (
      await front((req, res) => {
        if (!req.url?.includes('/referrers/')) return false;
        asked.push(req.url);
        req.resume();
        const body = JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] });
        res.writeHead(200, { 'content-type': MediaTypes.ociIndex }).end(body);
        return true;
      })
    ).host;
    const result = await copy(host, 'shapes/single', 'dups-signed');
    // Was: 1,002 referrers requests, the signature copied and its tag written 1,000 times (5,000 children: 36 s).
    expect(result.referrers).toBe(1);
    // The index, the child, the signature's manifest and its tag.
    expect(result.manifests).toEqual({ copied: 4, skipped: 0 });
    expect(asked.length).toBe(3); // the index, the child, the signature
    expect(await manifestDigestOf(destination, result.into, signature.tag)).toBe(signature.root.digest);
  });

  it('walks indexes that share children across levels once per manifest, not once per path', async () => {
    // Two indexes per level, each listing both of the level below: 2^levels paths to the image at the bottom.
    const levels = MAX_INDEX_DEPTH - 1;
    const bottom = image();
    const empty = oci({ config: descriptorOf(single.blobs[0]!), layers: [] }, MediaTypes.ociManifest);
    await putManifest(source, 'shapes/single', empty.digest, empty);
    let pair: ManifestDoc[] = [bottom, empty];
    for (let level = 0; level < levels; level += 1) {
      const below = pair;
      pair = [0, 1].map((side) =>
        oci({ manifests: below.map((m) => descriptorOf(m)), annotations: { side: String(side) } }),
      );
      for (const doc of pair) await putManifest(source, 'shapes/single', doc.digest, doc);
    }
    await putManifest(source, 'shapes/single', 'diamond', pair[0]!);
    const result = await copy(source.host, 'shapes/single', 'diamond');
    // The root, two indexes on each level below it, and the two images.
    expect(result.manifests).toEqual({ copied: 1 + 2 * (levels - 1) + 2, skipped: 0 });
    expect(await manifestDigestOf(destination, result.into, 'v1')).toBe(pair[0]!.digest);
  });

  it(`fails at once, naming the manifest, on indexes nested more than ${MAX_INDEX_DEPTH} deep`, async () => {
    let doc = image();
    for (let level = 0; level <= MAX_INDEX_DEPTH; level += 1) {
      doc = oci({ manifests: [descriptorOf(doc)] });
      await putManifest(source, 'shapes/single', doc.digest, doc);
    }
    await putManifest(source, 'shapes/single', 'deep', doc);
    const error = await rejection(copy(source.host, 'shapes/single', 'deep'));
    expect(error.code).toBe(ErrorCode.RegistryProtocol);
    expect(error.message).toMatch(
      new RegExp(`shapes/single@sha256:[0-9a-f]{64}: indexes nest more than ${MAX_INDEX_DEPTH} deep`),
    );
  });

  it(`copies indexes nested ${MAX_INDEX_DEPTH} deep`, async () => {
    let doc = image();
    for (let level = 0; level < MAX_INDEX_DEPTH; level += 1) {
      doc = oci({ manifests: [descriptorOf(doc)], annotations: { depth: String(level) } });
      await putManifest(source, 'shapes/single', doc.digest, doc);
    }
    await putManifest(source, 'shapes/single', 'deep-enough', doc);
    const result = await copy(source.host, 'shapes/single', 'deep-enough');
    expect(result.manifests.copied).toBe(MAX_INDEX_DEPTH + 1);
    expect(await manifestDigestOf(destination, result.into, 'v1')).toBe(doc.digest);
  });
});

describe('referrers answers that multiply the work', () => {
  it(`stops looking referrers up once ${MAX_REFERRERS} are found`, async () => {
    // Every referrers answer names 1,200 referrers of its own (none of them at the source).
    const asked: string[] = [];
    const host = (
      await front((req, res) => {
        if (!req.url?.includes('/referrers/')) return false;
        asked.push(req.url);
        req.resume();
        const manifests = Array.from({ length: 1_200 }, (_, i) => ({
          mediaType: MediaTypes.ociManifest,
          artifactType: 'application/example',
          size: 100,
          digest: `sha256:${createHash('sha256').update(`${req.url} ${i}`).digest('hex')}`,
        }));
        const body = JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests });
        res.writeHead(200, { 'content-type': MediaTypes.ociIndex }).end(body);
        return true;
      })
    ).host;
    const started = Date.now();
    const error = await rejection(copy(host, 'shapes/single', 'v1'));
    // Was: the referrers of the 1,000 taken were looked up too (1,002 requests, 5,000 each: 24 s).
    expect(asked.length).toBe(2); // the index and its one child
    expect(error.message).toMatch(/^GET manifest shapes\/single:sha256:[0-9a-f]{64} from .*: not found/);
    expect(Date.now() - started).toBeLessThan(BOUND_MS);
  });
});

describe('malformed manifests', () => {
  it.each([
    [
      'an image whose "layers" is null',
      () => oci({ config: descriptorOf(single.blobs[0]!), layers: null }, MediaTypes.ociManifest),
    ],
    ['an index whose "manifests" is null', () => oci({ manifests: null })],
  ])('copies %s (a Go nil slice; distribution stores it) byte for byte', async (_name, make) => {
    const doc = make();
    await putManifest(source, 'shapes/single', `null-${doc.digest.slice(7, 15)}`, doc);
    // Was: 'has a malformed "layers" list', where skopeo copies it.
    const result = await copy(source.host, 'shapes/single', `null-${doc.digest.slice(7, 15)}`);
    expect(result.digest).toBe(doc.digest);
    expect(await manifestDigestOf(destination, result.into, 'v1')).toBe(doc.digest);
  });

  it('fails naming the manifest and the descriptor when the config descriptor is malformed (no blob left out)', async () => {
    const config = single.blobs[0]!;
    const bad = oci(
      { config: { ...descriptorOf(config), size: String(config.size) }, layers: [] },
      MediaTypes.ociManifest,
    );
    const host = (await front((req, res) => serving(req, res, 'bad-config', bad))).host;
    const error = await rejection(copy(host, 'shapes/single', 'bad-config'));
    // Was: the config silently left out, and the destination's "MANIFEST_INVALID: manifest invalid" to go by.
    expect(error.code).toBe(ErrorCode.RegistryProtocol);
    expect(error.message).toContain(`manifest shapes/single@${bad.digest}`);
    expect(error.message).toContain(`"config" entry 0 is not a valid descriptor: "size" "${config.size}"`);
  });

  it.each([
    ['a fractional size', { size: 1.5 }, '"size" 1.5 is not a whole number of bytes'],
    ['a negative size', { size: -1 }, '"size" -1 is not a whole number of bytes'],
    ['a size past 2^53', { size: 2 ** 60 }, 'is not a whole number of bytes'],
    ['an uppercase digest', { digest: `sha256:${'A'.repeat(64)}` }, 'lowercase hex'],
    ['an unknown algorithm', { digest: `md5:${'a'.repeat(32)}` }, 'algorithm "md5" is not supported'],
  ])('fails naming the layer with %s', async (_name, change, reason) => {
    const layer = { ...descriptorOf(single.blobs[1]!), ...change };
    const bad = oci(
      { config: descriptorOf(single.blobs[0]!), layers: [descriptorOf(single.blobs[0]!), layer] },
      MediaTypes.ociManifest,
    );
    const tag = `bad-layer-${createHash('sha256').update(_name).digest('hex').slice(0, 8)}`;
    const host = (await front((req, res) => serving(req, res, tag, bad))).host;
    const error = await rejection(copy(host, 'shapes/single', tag));
    expect(error.code).toBe(ErrorCode.RegistryProtocol);
    expect(error.message).toContain(`manifest shapes/single@${bad.digest}`);
    expect(error.message).toContain('"layers" entry 1 is not a valid descriptor');
    expect(error.message).toContain(reason);
  });

  it('fails at the first blob the source lacks, without asking for the thousands of others', async () => {
    const layers = Array.from({ length: 2_000 }, (_, i) => ({
      mediaType: MediaTypes.ociLayerGzip,
      size: 100,
      digest: `sha256:${createHash('sha256').update(`missing ${i}`).digest('hex')}`,
    }));
    const missing = oci({ config: descriptorOf(single.blobs[0]!), layers }, MediaTypes.ociManifest);
    const blobReads: string[] = [];
    const host = (
      await front((req, res) => {
        if (req.url?.includes('/blobs/sha256:')) blobReads.push(req.url);
        return serving(req, res, 'missing-layers', missing);
      })
    ).host;
    const started = Date.now();
    const error = await rejection(copy(host, 'shapes/single', 'missing-layers'));
    expect(error.message).toMatch(/^GET blob shapes\/single@sha256:[0-9a-f]{64} from .*: not found/);
    // Was: every one of the 2,000 blobs asked for (6,000 requests, 17 s; a 4 MiB manifest names 20,000). Now those
    // under way when the first failed, and no more.
    expect(blobReads.length).toBeLessThan(100);
    expect(Date.now() - started).toBeLessThan(BOUND_MS);
  });

  it('prints no control character a source put in a platform', async () => {
    const child = single.manifests.find((m) => m.mediaType === MediaTypes.ociManifest) as ManifestDoc;
    const index = oci({
      manifests: [
        descriptorOf(child, { platform: { os: 'linux\u001b[2J\u001b]0;pwned\u0007', architecture: 'arm64' } }),
      ],
    });
    await putManifest(source, 'shapes/single', 'escapes', index);
    const result = await copy(source.host, 'shapes/single', 'escapes');
    expect(result.platforms).toEqual(['linux?[2J?]0;pwned?/arm64']);
    const error = await rejection(
      copyImage({
        source: { client: client(source.host), repository: 'shapes/single', reference: 'escapes' },
        destination: { client: client(destination.host), repository: 'shapes/escapes', tag: 'v1' },
        platforms: [{ os: 'linux', architecture: 's390x' }],
      }),
    );
    // Was: the escape sequences as they came, in the error line the command prints on the terminal.
    expect(error.message).toBe('platform linux/s390x not in the source index (it has: linux?[2J?]0;pwned?/arm64)');
  });

  it('fails naming the referrers tag when the sha256-<hex> tag the source lists is not a manifest', async () => {
    const indexTag = single.root.digest.replace(':', '-');
    const junk: ManifestDoc = { digest: '', mediaType: 'text/html', bytes: Buffer.from('<html>not here</html>') };
    junk.digest = `sha256:${createHash('sha256').update(junk.bytes).digest('hex')}`;
    const host = (
      await front((req, res) => {
        if (req.url?.includes('/tags/list')) {
          req.resume();
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ tags: ['v1', indexTag] }));
          return true;
        }
        return serving(req, res, indexTag, junk);
      })
    ).host;
    const error = await rejection(copy(host, 'shapes/single', 'v1'));
    // Was: "manifest is not valid JSON", naming nothing.
    expect(error.message).toBe(`manifest shapes/single:${indexTag} is not valid JSON`);
  });
});
