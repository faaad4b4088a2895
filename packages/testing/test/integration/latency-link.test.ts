/**
 * The latency link: message boundaries followed from raw bytes (split anywhere),
 * and a real registry used through the link by our harness and by skopeo (Go's
 * client sends chunked uploads), with every request logged and answered late.
 */
import { execFile } from 'node:child_process';
import { request } from 'undici';
import {
  MessageBoundaries,
  dockerImage,
  manifestDigestOf,
  ociIndex,
  pushImage,
  startLatencyLink,
  startRegistry,
  type BodyFraming,
  type LatencyLink,
  type LocalRegistry,
} from '../../src';

function framingFromHead(head: string): BodyFraming {
  if (/transfer-encoding: chunked/i.test(head)) return { kind: 'chunked' };
  const length = /content-length: (\d+)/i.exec(head)?.[1];
  return { kind: 'length', length: Number(length ?? 0) };
}

const STREAM = [
  'PATCH /v2/a/blobs/uploads/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello\r\n\r\nyo',
  'PATCH /v2/a/blobs/uploads/2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nB\r\n\r\n\r\nGET / H\r\n0\r\nTrailer: t\r\n\r\n',
  'HEAD /v2/a/manifests/v1 HTTP/1.1\r\nHost: x\r\n\r\n',
  'PUT /v2/a/blobs/uploads/3?digest=sha256:00 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
].join('');

function headsOf(chunks: Buffer[]): string[] {
  const heads: string[] = [];
  const boundaries = new MessageBoundaries((head) => {
    heads.push(head.split('\r\n')[0] ?? '');
    return framingFromHead(head);
  });
  for (const chunk of chunks) boundaries.feed(chunk);
  expect(boundaries.lost).toBe(false);
  return heads;
}

describe('message boundaries', () => {
  const expected = [
    'PATCH /v2/a/blobs/uploads/1 HTTP/1.1',
    'PATCH /v2/a/blobs/uploads/2 HTTP/1.1',
    'HEAD /v2/a/manifests/v1 HTTP/1.1',
    'PUT /v2/a/blobs/uploads/3?digest=sha256:00 HTTP/1.1',
  ];

  it('finds every head of a stream given whole, with bodies that look like heads skipped', () => {
    expect(headsOf([Buffer.from(STREAM, 'latin1')])).toEqual(expected);
  });

  it('finds the same heads however the stream is cut', () => {
    const bytes = Buffer.from(STREAM, 'latin1');
    for (let cut = 1; cut < bytes.length; cut += 1) {
      expect(headsOf([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(expected);
    }
    expect(headsOf([...bytes].map((b) => Buffer.from([b])))).toEqual(expected);
  });

  it('gives up, instead of growing, on a head that never ends', () => {
    const boundaries = new MessageBoundaries(() => ({ kind: 'length', length: 0 }));
    boundaries.feed(Buffer.alloc(70 * 1024, 'a'));
    expect(boundaries.lost).toBe(true);
  });
});

describe('latency link', () => {
  let registry: LocalRegistry;
  let other: LocalRegistry;
  let link: LatencyLink;

  beforeAll(async () => {
    [registry, other] = await Promise.all([startRegistry(), startRegistry()]);
    link = await startLatencyLink(registry, { latencyMs: 20 });
  }, 60_000);

  afterAll(async () => {
    await link?.stop();
    await Promise.all([registry?.stop(), other?.stop()]);
  });

  beforeEach(() => link.clearRequests());

  it('holds each request and each answer for the latency', async () => {
    link.latencyMs = 100;
    try {
      const started = performance.now();
      const response = await request(`${link.url}/v2/`);
      await response.body.dump();
      expect(response.statusCode).toBe(200);
      expect(performance.now() - started).toBeGreaterThanOrEqual(195);
      const [logged] = link.requests;
      expect(logged).toMatchObject({ method: 'GET', url: '/v2/', status: 200 });
      expect((logged?.answeredAt ?? 0) - (logged?.sentAt ?? 0)).toBeGreaterThanOrEqual(195);
    } finally {
      link.latencyMs = 20;
    }
  });

  it('carries a push byte for byte and logs every request with its answer', async () => {
    const image = ociIndex({
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
      sharedBaseSize: 300 * 1024,
      layerSize: 70 * 1024,
      seed: 'link',
    });
    await pushImage(link, 'through/link', image, 'v1');
    expect(await manifestDigestOf(registry, 'through/link', 'v1')).toBe(image.root.digest);
    expect(link.requests.length).toBeGreaterThan(image.blobs.length);
    expect(link.requests.every((r) => r.status !== undefined && r.answeredAt !== undefined)).toBe(true);
    expect(
      link.requests.filter((r) => r.method === 'PUT' && r.url.includes('/manifests/')).map((r) => r.status),
    ).toEqual(image.manifests.map(() => 201).concat(201));
  });

  it('carries skopeo chunked uploads and HEADs, and keeps every connection in step', async () => {
    const image = dockerImage({ seed: 'skopeo-through-link', layerSizes: [900 * 1024, 5 * 1024] });
    await pushImage(other, 'origin/app', image, 'v1');
    await new Promise<void>((resolve, reject) => {
      execFile(
        'skopeo',
        [
          'copy',
          '--quiet',
          '--preserve-digests',
          '--src-tls-verify=false',
          '--dest-tls-verify=false',
          `docker://${other.host}/origin/app:v1`,
          `docker://${link.host}/copied/app:v1`,
        ],
        { timeout: 60_000 },
        (error, _out, err) => (error ? reject(new Error(`skopeo copy failed: ${err}`)) : resolve()),
      );
    });
    expect(await manifestDigestOf(registry, 'copied/app', 'v1')).toBe(image.root.digest);
    const patches = link.requests.filter((r) => r.method === 'PATCH');
    expect(patches.length).toBeGreaterThanOrEqual(image.blobs.length);
    expect(patches.every((r) => r.status === 202)).toBe(true);
    expect(link.requests.filter((r) => r.method === 'HEAD').length).toBeGreaterThan(0);
    expect(link.requests.every((r) => r.status !== undefined)).toBe(true);
  });
});
