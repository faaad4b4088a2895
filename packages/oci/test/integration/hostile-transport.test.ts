/**
 * The transport and its authorization against servers that are odd or hostile at the HTTP level: a Retry-After in
 * the far future, a server that accepts and never answers, a body that stalls mid-way, answers that are not valid
 * HTTP, several challenges in one WWW-Authenticate, a token that cannot be sent in a header, and secrets in forms
 * the masking must know (a bare JWT, a token as a URL's user). Each must fail within the bound with an error naming
 * what was wrong, or succeed where a sound client would.
 */
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { ErrorCode } from '@ecr-replicate/common';
import { RegistryClient, copyImage, readCapped, type ResponseData } from '../../src';
import { dockerImage, pushImage, startRegistry, type LocalRegistry } from '@ecr-replicate/testing';
import { forward, rejection, relay, startHostile, type TestServer } from '../support/hostile';

const USER = 'replicator';
const PASSWORD = 'hostile-transport-password';
/** Every hostile case must end well within this (the bound). */
const BOUND_MS = 30_000;
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

let source: LocalRegistry;
let destination: LocalRegistry;
let image: ReturnType<typeof dockerImage>;
const stoppers: Array<() => Promise<void>> = [];
const clients: RegistryClient[] = [];

function client(host: string, options: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}): RegistryClient {
  const created = new RegistryClient({
    host,
    plainHttp: true,
    retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 2_000 },
    credentials: async () => ({ username: USER, password: PASSWORD }),
    ...options,
  });
  clients.push(created);
  return created;
}

async function hostile(handler: Parameters<typeof startHostile>[0]): Promise<TestServer> {
  const s = await startHostile(handler);
  stoppers.push(() => s.stop());
  return s;
}

/** A TCP server speaking raw bytes: `onRequest` gets each socket's first data; returns how many requests came. */
async function raw(onRequest: (socket: Socket) => void): Promise<{ host: string; requests: () => number }> {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', () => {
      requests += 1;
      onRequest(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stoppers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: MANIFEST_TYPE,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 2 },
  layers: [],
});

beforeAll(async () => {
  [source, destination] = await Promise.all([startRegistry(), startRegistry()]);
  image = dockerImage({ seed: 'hostile-transport', layerSizes: [256 * 1024, 4 * 1024] });
  await pushImage(source, 'apps/transport', image, 'v1');
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(stoppers.map((stop) => stop()));
  await Promise.all([source?.stop(), destination?.stop()]);
});

describe('bounded in time', () => {
  it.each([
    ['503 with Retry-After in seconds', 503, '86400'],
    ['429 with Retry-After as a far date', 429, 'Wed, 21 Oct 2099 07:28:00 GMT'],
  ])('stops at once on a %s beyond the longest wait, saying so', async (_name, status, retryAfter) => {
    const front = await hostile((req, res) => {
      req.resume();
      res.writeHead(status, { 'retry-after': retryAfter }).end();
    });
    const started = Date.now();
    const error = await rejection(client(front.host, { credentials: undefined }).getManifest('a/b', 'v1'));
    expect(error.code).toBe(ErrorCode.RegistryUnavailable);
    expect(error.message).toMatch(/asked to wait \d+ s before another try \(Retry-After\)/);
    expect(error.retryable).toBe(true);
    expect(front.requests).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('fails once on a server that accepts and never answers, instead of waiting its deadline on every try', async () => {
    const silent = await raw(() => undefined);
    const started = Date.now();
    const error = await rejection(
      client(silent.host, { credentials: undefined, timeouts: { headers: 1_500 } }).getManifest('a/b', 'v1'),
    );
    expect(error.code).toBe(ErrorCode.Network);
    expect(error.message).toContain('GET manifest a/b:v1');
    expect(error.message).toContain('no answer within the deadline');
    expect(silent.requests()).toBe(1);
    expect(Date.now() - started).toBeLessThan(BOUND_MS);
  });

  it('fails a copy whose source blob stalls mid-way after one idle deadline, naming the blob', async () => {
    let blobGets = 0;
    const front = await hostile(async (req, res) => {
      const answer = await forward(req, source.url);
      if (req.method === 'GET' && Number(answer.headers['content-length']) > 100_000) {
        blobGets += 1;
        res.writeHead(200, answer.headers as Record<string, string>);
        answer.once('data', (chunk: Buffer) => {
          res.write(chunk.subarray(0, 1_000));
          answer.destroy(); // and nothing more: the body stalls
        });
        return;
      }
      relay(res, answer);
    });
    const started = Date.now();
    const error = await rejection(
      copyImage({
        source: {
          client: client(front.host, { credentials: undefined, timeouts: { bodyIdle: 1_500 } }),
          repository: 'apps/transport',
          reference: 'v1',
        },
        destination: {
          client: client(destination.host, { credentials: undefined }),
          repository: 'stall/one',
          tag: 'v1',
        },
        retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 50 },
      }),
    );
    expect(error.code).toBe(ErrorCode.Network);
    // The idle deadline or the trickle rule, whichever ends its window first: both say the body stopped.
    expect(error.message).toMatch(/stopped arriving|trickled \(0 bytes/);
    expect(error.message).toContain(image.blobs.find((b) => b.size === 256 * 1024)!.digest);
    expect(blobGets).toBe(1);
    expect(Date.now() - started).toBeLessThan(BOUND_MS);
  });

  it('fails a blob that trickles (a few bytes at a time, never silent for a whole idle deadline)', async () => {
    const front = await hostile((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': String(1024 * 1024) });
      const drip = setInterval(() => (res.destroyed ? clearInterval(drip) : res.write(Buffer.alloc(100, 0x61))), 100);
    });
    const started = Date.now();
    const body = await client(front.host, { credentials: undefined, timeouts: { bodyIdle: 1_000 } }).openBlob(
      'a/b',
      `sha256:${'c'.repeat(64)}`,
      1024 * 1024,
    );
    const error = await rejection(pipeline(body, new Writable({ write: (_chunk, _encoding, done) => done() })));
    expect(error.code).toBe(ErrorCode.Network);
    expect(error.message).toMatch(/^GET blob a\/b@sha256:c+ from .*: the answer trickled \(\d+ bytes in 1000 ms/);
    expect(Date.now() - started).toBeLessThan(BOUND_MS);
  });

  it('does not take a reader that holds a blob back for a trickle', async () => {
    const src = client(source.host, { credentials: undefined, timeouts: { bodyIdle: 1_000 } });
    for (const blob of image.blobs.filter((b) => b.size >= 4 * 1024)) {
      const body = await src.openBlob('apps/transport', blob.digest, blob.size);
      await new Promise((resolve) => setTimeout(resolve, 2_500)); // unread for more than two windows
      let size = 0;
      await pipeline(
        body,
        new Writable({
          highWaterMark: 1024,
          write: (chunk: Buffer, _encoding, done) => {
            size += chunk.length;
            setTimeout(done, 20); // a slow destination
          },
        }),
      );
      expect(size).toBe(blob.size);
    }
  });

  it('does not take a process too busy to read for a trickle (the source had its bytes waiting)', async () => {
    const src = client(source.host, { credentials: undefined, timeouts: { bodyIdle: 1_000 } });
    const blob = image.blobs.find((b) => b.size === 256 * 1024)!;
    const body = await src.openBlob('apps/transport', blob.digest, blob.size);
    let size = 0;
    let writes = 0;
    await pipeline(
      body,
      new Writable({
        highWaterMark: 1024,
        write: (chunk: Buffer, _encoding, done) => {
          size += chunk.length;
          writes += 1;
          // The whole process busy (no socket read) through more than one window, twice.
          if (writes <= 2) for (const until = Date.now() + 1_300; Date.now() < until; );
          done();
        },
      }),
    );
    expect(size).toBe(blob.size);
  });

  it('says how long a small body had when its deadline ends the read', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const body = new PassThrough();
      body.write('{"token":');
      const response = { statusCode: 200, headers: {}, body } as unknown as ResponseData;
      const read = readCapped(response, 1024, 'token request to auth.example');
      const settled = read.catch((error: unknown) => error as Error);
      jest.advanceTimersByTime(20_000);
      const error = await settled;
      expect((error as Error).message).toBe(
        'token request to auth.example: the answer did not arrive whole within 20000 ms',
      );
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('answers that are not valid HTTP', () => {
  it.each([
    ['a chunk size that is not hexadecimal', 'Transfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n', 'chunk size'],
    ['a header name with an escape sequence', 'X-Evil\u001b[31m: 1\r\nContent-Length: 0\r\n\r\n', 'header'],
  ])('fail with a protocol error naming the request on %s', async (_name, rest, reason) => {
    const server = await raw((socket) => socket.write(`HTTP/1.1 200 OK\r\nContent-Type: ${MANIFEST_TYPE}\r\n${rest}`));
    const error = await rejection(client(server.host, { credentials: undefined }).getManifest('a/b', 'v1'));
    expect(error.code).toBe(ErrorCode.RegistryProtocol);
    expect(error.message).toMatch(
      new RegExp(`^GET manifest a/b:v1 from ${server.host}: the answer is not valid HTTP/1\\.1 \\(.*${reason}`, 'i'),
    );
    expect(error.message).not.toContain('\u001b');
  });
});

describe('encodings not asked for', () => {
  it('says a manifest came gzip-encoded instead of "manifest is not valid JSON"', async () => {
    const front = await hostile((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': MANIFEST_TYPE, 'content-encoding': 'gzip' }).end(gzipSync(MANIFEST));
    });
    const error = await rejection(client(front.host, { credentials: undefined }).getManifest('a/b', 'v1'));
    expect(error.code).toBe(ErrorCode.RegistryProtocol);
    expect(error.message).toBe(
      `GET manifest a/b:v1 from ${front.host}: the manifest came with Content-Encoding "gzip", which was not asked for; its bytes are not a JSON manifest`,
    );
    expect(front.requests).toHaveLength(1);
  });

  it('keeps a manifest whose bytes are JSON whatever encoding its header names', async () => {
    const front = await hostile((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': MANIFEST_TYPE, 'content-encoding': 'gzip' }).end(MANIFEST);
    });
    const manifest = await client(front.host, { credentials: undefined }).getManifest('a/b', 'v1');
    expect(manifest.bytes.toString()).toBe(MANIFEST);
  });
});

describe('redirected reads', () => {
  it('follows a mirror that redirects manifest reads (GET and HEAD) to its origin, with the Accept list, bare', async () => {
    const seen: Array<{ method: string; url: string; authorization?: string }> = [];
    const front = await hostile((req, res) => {
      req.resume();
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
      res.writeHead(307, { location: `${source.url}${req.url}` }).end();
    });
    const mirror = client(front.host);
    const head = await mirror.headManifest('apps/transport', 'v1');
    expect(head?.digest).toBe(image.root.digest);
    const result = await copyImage({
      source: { client: mirror, repository: 'apps/transport', reference: 'v1' },
      destination: {
        client: client(destination.host, { credentials: undefined }),
        repository: 'mirrored/transport',
        tag: 'v1',
      },
    });
    expect(result.digest).toBe(image.root.digest);
    expect(seen.filter((r) => r.url.includes('/manifests/')).map((r) => r.method)).toEqual(
      expect.arrayContaining(['HEAD', 'GET']),
    );
    // The front is the registry's own origin: it gets the credentials; the origin it redirects to (another port)
    // is reached bare, and the destination holds the same bytes.
    const manifest = await fetch(`${destination.url}/v2/mirrored/transport/manifests/v1`, {
      headers: { accept: image.root.mediaType },
    });
    expect(manifest.headers.get('docker-content-digest')).toBe(image.root.digest);
  });
});

describe('Locations and Links that are not URLs', () => {
  it('fails a blob redirect to a Location that does not parse with a protocol error naming it', async () => {
    const front = await hostile((req, res) => {
      req.resume();
      res.writeHead(302, { location: 'http://[::1/blob' }).end();
    });
    const error = await rejection(
      client(front.host, { credentials: undefined }).openBlob('a/b', `sha256:${'b'.repeat(64)}`),
    );
    expect(error.code).toBe(ErrorCode.RegistryProtocol);
    expect(error.message).toContain('redirect to a Location that is not a URL ("http://[::1/blob")');
  });

  it("fails a listing whose next page's Link does not parse with a protocol error", async () => {
    const front = await hostile((req, res) => {
      req.resume();
      res
        .writeHead(200, { 'content-type': 'application/json', link: '<http://[::1/v2/r/tags/list?last=a>; rel="next"' })
        .end(JSON.stringify({ name: 'r', tags: ['a'] }));
    });
    const error = await rejection(client(front.host, { credentials: undefined }).listTags('r'));
    expect(error.code).toBe(ErrorCode.RegistryProtocol);
    expect(error.message).toBe(`GET tags of r from ${front.host}: the next page's Link is not a URL`);
    expect(front.requests).toHaveLength(1);
  });
});

describe('challenges and tokens', () => {
  /** A registry answering 401 with `challenge` until it gets a Bearer token, then the manifest. */
  async function bearerFront(challenge: (realm: string) => string | string[], token: unknown): Promise<TestServer> {
    const tokens = await hostile((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(token));
    });
    return hostile((req, res) => {
      req.resume();
      if (!req.headers.authorization?.startsWith('Bearer ')) {
        res.setHeader('www-authenticate', challenge(`${tokens.url}/token`));
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-type': MANIFEST_TYPE }).end(MANIFEST);
    });
  }

  it.each([
    [
      'Bearer first, then Basic, in one header',
      (realm: string) => `Bearer realm="${realm}",service="s", Basic realm="Registry Realm"`,
    ],
    [
      'Basic first, then Bearer, in one header',
      (realm: string) => `Basic realm="Registry Realm", Bearer realm="${realm}",service="s"`,
    ],
    ['Negotiate, then Bearer, in two headers', (realm: string) => ['Negotiate', `Bearer realm="${realm}",service="s"`]],
  ])('answers the Bearer challenge among several: %s', async (_name, challenge) => {
    const front = await bearerFront(challenge, { token: 'fresh-token' });
    const manifest = await client(front.host).getManifest('a/b', 'v1');
    expect(manifest.bytes.toString()).toBe(MANIFEST);
    expect(front.requests.map((r) => r.authorization)).toEqual([undefined, 'Bearer fresh-token']);
  });

  it('refuses a token that cannot be sent in a header, with an error that says so', async () => {
    const front = await bearerFront((realm) => `Bearer realm="${realm}"`, { token: 'abc\r\nX-Injected: 1' });
    const error = await rejection(client(front.host).getManifest('a/b', 'v1'));
    expect(error.code).toBe(ErrorCode.AuthFailed);
    expect(error.message).toContain('returned a token that cannot be sent in a header');
    expect(front.requests).toHaveLength(1);
  });
});

describe('registry text is masked', () => {
  it('masks a bare JWT and a token used as a URL user in a registry error', async () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyZXBsaWNhdG9yIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
    const front = await hostile((req, res) => {
      req.resume();
      res.writeHead(400, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          errors: [
            {
              code: 'DENIED',
              message: `invalid token ${jwt} for https://ghp_abcdefghijklmnopqrst@git.example/x and https://u:p@ss@h.example/`,
            },
          ],
        }),
      );
    });
    const error = await rejection(client(front.host, { credentials: undefined }).getManifest('a/b', 'v1'));
    expect(error.message).toContain('invalid token *** for https://***@git.example/x and https://***@h.example/');
    expect(error.message).not.toContain('dozjgNry');
    expect(error.message).not.toContain('ghp_');
  });
});

describe('the request trace', () => {
  it('masks an Azure SAS signature (sig=) of a blob redirect', async () => {
    const front = await hostile((req, res) => {
      req.resume();
      if (req.url?.startsWith('/storage')) {
        res.writeHead(200, { 'content-length': '2' }).end('ok');
        return;
      }
      res
        .writeHead(307, { location: '/storage/blob?sv=2020-08-04&se=2030-01-01&sr=b&sp=r&sig=AzureSasSecret%3D' })
        .end();
    });
    const traced: string[] = [];
    const body = await client(front.host, {
      credentials: undefined,
      connection: { trace: (record) => traced.push(record.url) },
    }).openBlob('a/b', `sha256:${'d'.repeat(64)}`);
    for await (const chunk of body) expect(chunk).toBeDefined();
    expect(traced).toHaveLength(2);
    expect(traced[1]).toContain('/storage/blob?sv=2020-08-04&se=2030-01-01&sr=b&sp=r&sig=***');
    expect(traced.join(' ')).not.toContain('AzureSasSecret');
  });
});
