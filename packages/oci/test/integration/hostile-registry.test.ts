/**
 * The client against registries that misbehave: credentials steered to other origins (upload locations,
 * pagination links, redirects, a downgrade to plain HTTP on the same host and port, a token realm over plain
 * HTTP), listings that name other repositories, and bodies without end. The other origin is a recorder on
 * 127.0.0.2 (another host) or the same port spoken in plain HTTP; real registries behind fronts where content
 * is needed.
 */
import { ErrorCode } from '@ecr-replicate/common';
import { RegistryClient, copyImage, paginate, RegistryTransport, type CopyEvent } from '../../src';
import {
  dockerImage,
  manifestDigestOf,
  pushImage,
  registryRequest,
  startRegistry,
  type LocalRegistry,
  type SyntheticImage,
} from '@ecr-replicate/testing';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type DualServer,
  forward,
  rejection,
  relay,
  startDualProtocol,
  startHostile,
  startRecorder,
  type TestServer,
} from '../support/hostile';

const USER = 'replicator';
const PASSWORD = 'hostile-test-password';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
/** Every hostile case must end well within this (the issue's bound). */
const BOUND_MS = 30_000;

let source: LocalRegistry;
let destination: LocalRegistry;
let image: SyntheticImage;
const servers: Array<{ stop(): Promise<void> }> = [];
const clients: RegistryClient[] = [];

function client(
  host: string,
  options: { credentials?: boolean; plainHttp?: boolean; onWarning?: (m: string) => void } = {},
): RegistryClient {
  const created = new RegistryClient({
    host,
    plainHttp: options.plainHttp ?? true,
    retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 50 },
    ...(options.credentials === false ? {} : { credentials: async () => ({ username: USER, password: PASSWORD }) }),
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
  });
  clients.push(created);
  return created;
}

async function server<T extends { stop(): Promise<void> }>(started: Promise<T>): Promise<T> {
  const s = await started;
  servers.push(s);
  return s;
}

beforeAll(async () => {
  [source, destination] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: { username: USER, password: PASSWORD } }),
  ]);
  image = dockerImage({ seed: 'hostile', layerSizes: [48 * 1024, 4 * 1024] });
  await pushImage(source, 'apps/hostile', image, 'v1');
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.stop()));
  await Promise.all([source?.stop(), destination?.stop()]);
});

describe('credentials stay at their origin', () => {
  it('sends no credential to an upload Location on another host', async () => {
    const recorder = await server(startRecorder(destination));
    const front = await server(
      startHostile(async (req, res) => {
        const answer = await forward(req, destination.url);
        relay(res, answer, (h) => {
          if (req.method === 'POST' && typeof h.location === 'string') {
            h.location = `${recorder.url}${new URL(h.location, destination.url).pathname}${new URL(h.location, destination.url).search}`;
          }
          return h;
        });
      }),
    );
    await copyImage({
      source: { client: client(source.host, { credentials: false }), repository: 'apps/hostile', reference: 'v1' },
      destination: { client: client(front.host), repository: 'location/hostile', tag: 'v1' },
    });
    expect(await manifestDigestOf(destination, 'location/hostile', 'v1')).toBe(image.root.digest);
    expect(recorder.requests.filter((r) => r.method === 'PATCH' || r.method === 'PUT').length).toBe(
      image.blobs.length * 2,
    );
    expect(recorder.requests.filter((r) => r.authorization !== undefined)).toEqual([]);
    expect(front.requests.some((r) => r.authorization === BASIC)).toBe(true);
  });

  it('follows no pagination Link to another host, and stops a Link that loops', async () => {
    const recorder = await server(startRecorder());
    let link = '';
    const front = await server(
      startHostile(async (req, res) => {
        req.resume();
        if (req.headers.authorization !== BASIC) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="front"' }).end();
          return;
        }
        res
          .writeHead(200, { 'content-type': 'application/json', link })
          .end(JSON.stringify({ name: 'r', tags: ['a'] }));
      }),
    );
    link = `<${recorder.url}/v2/r/tags/list?n=1&last=a>; rel="next"`;
    const away = await rejection(client(front.host).listTags('r'));
    expect(away.code).toBe(ErrorCode.RegistryProtocol);
    expect(away.message).toContain('another origin');
    expect(recorder.requests).toEqual([]);

    link = '</v2/r/tags/list?n=1000>; rel="next"'; // the first page again
    const started = Date.now();
    const loop = await rejection(client(front.host).listTags('r'));
    expect(loop.message).toContain('loops back');
    expect(Date.now() - started).toBeLessThan(BOUND_MS);
    expect(front.requests.filter((r) => r.authorization === BASIC).length).toBeLessThanOrEqual(3);
  });

  it('caps the pages of a listing', async () => {
    let page = 0;
    const front = await server(
      startHostile((req, res) => {
        req.resume();
        page += 1;
        res
          .writeHead(200, { 'content-type': 'application/json', link: `</v2/r/tags/list?last=${page}>; rel="next"` })
          .end(JSON.stringify({ tags: [`t${page}`] }));
      }),
    );
    const transport = new RegistryTransport({ host: front.host, plainHttp: true });
    try {
      await expect(
        paginate(transport, '/v2/r/tags/list', { scope: '', what: 'list', field: 'tags', maxPages: 25 }),
      ).rejects.toThrow('more than 25 pages');
      expect(page).toBe(25);
    } finally {
      await transport.close();
    }
  });

  it('sends no credential along a blob redirect to another port of the same host', async () => {
    const other = await server(startHostile(async (req, res) => relay(res, await forward(req, source.url))));
    const front = await server(
      startHostile(async (req, res) => {
        req.resume();
        if (req.headers.authorization !== BASIC) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="front"' }).end();
          return;
        }
        res.writeHead(307, { location: `${other.url}${req.url}` }).end();
      }),
    );
    const blob = image.blobs[0]!;
    const body = await client(front.host).openBlob('apps/hostile', blob.digest, blob.size);
    let size = 0;
    for await (const chunk of body) size += (chunk as Buffer).length;
    expect(size).toBe(blob.size);
    expect(other.requests.length).toBe(1);
    expect(other.requests[0]?.authorization).toBeUndefined();
  });

  describe('over TLS (a self-signed certificate, trusted by a client process of its own)', () => {
    /**
     * Runs `call` on a RegistryClient of the compiled package in a fresh process that trusts the server's
     * certificate (NODE_EXTRA_CA_CERTS), as a user's process would trust a registry's CA; returns what it printed.
     */
    async function inTrustingProcess(dual: DualServer, call: string, options: string): Promise<string> {
      const index = join(__dirname, '..', '..', 'dist', 'index.js');
      const script = `const { RegistryClient } = require(${JSON.stringify(index)});
        const client = new RegistryClient({ host: ${JSON.stringify(dual.host)}, plainHttp: false, ${options}
          credentials: async () => ({ username: ${JSON.stringify(USER)}, password: ${JSON.stringify(PASSWORD)} }) });
        (async () => { ${call} })().then(
          (out) => console.log('ok', out),
          (error) => console.log('error', error.code, error.message),
        ).finally(() => client.close());`;
      const run = await promisify(execFile)(process.execPath, ['-e', script], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: dual.certFile },
        timeout: BOUND_MS,
      });
      return run.stdout.trim();
    }

    it('sends no credential after a redirect from https to http on the same host and port', async () => {
      const dual: DualServer = await server(
        startDualProtocol(async (req, res, scheme) => {
          if (scheme === 'https') {
            req.resume();
            res.writeHead(307, { location: `http://127.0.0.1:${dual.port}${req.url}` }).end();
            return;
          }
          relay(res, await forward(req, source.url));
        }),
      );
      const blob = image.blobs[1]!;
      const out = await inTrustingProcess(
        dual,
        `const body = await client.openBlob('apps/hostile', ${JSON.stringify(blob.digest)}, ${blob.size});
         let n = 0; for await (const c of body) n += c.length; return n;`,
        'basicUpFront: true,',
      );
      expect(out).toBe(`ok ${blob.size}`);
      expect(dual.requests.map((r) => [r.scheme, r.authorization])).toEqual([
        ['https', BASIC],
        ['http', undefined],
      ]);
    });

    it('sends no credential to a token realm over plain HTTP named by an HTTPS registry', async () => {
      const dual: DualServer = await server(
        startDualProtocol((req, res, scheme) => {
          req.resume();
          if (scheme === 'http') {
            res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"stolen"}');
            return;
          }
          res
            .writeHead(401, {
              'www-authenticate': `Bearer realm="http://127.0.0.1:${dual.port}/token",service="s",scope="repository:r:pull"`,
            })
            .end();
        }),
      );
      const out = await inTrustingProcess(dual, `return client.getManifest('r', 'v1');`, '');
      expect(out).toMatch(/^error AUTH_FAILED .*HTTPS realm/);
      expect(dual.requests.map((r) => r.scheme)).toEqual(['https']);
    });
  });
});

describe('names and digests checked before they reach a URL', () => {
  const HOSTILE_TAGS = ['v1', '../../victim/manifests/pwn', '..%2f..%2fvictim', 'v1/../../x', '-dash', 'a'.repeat(129)];

  it('skips listed tags that break the grammar, with a warning, and writes nothing outside the repository', async () => {
    const front = await server(
      startHostile(async (req, res) => {
        if (req.url?.startsWith('/v2/apps/hostile/tags/list')) {
          req.resume();
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ name: 'apps/hostile', tags: HOSTILE_TAGS }));
          return;
        }
        relay(res, await forward(req, source.url));
      }),
    );
    const warnings: string[] = [];
    const src = client(front.host, { credentials: false, onWarning: (m) => warnings.push(m) });
    const tags = await src.listTags('apps/hostile');
    expect(tags).toEqual(['v1']);
    expect(warnings).toHaveLength(HOSTILE_TAGS.length - 1);
    expect(warnings[0]).toContain('../../victim/manifests/pwn');

    const dst = client(destination.host);
    for (const reference of HOSTILE_TAGS) {
      await copyImage({
        source: { client: src, repository: 'apps/hostile', reference },
        destination: { client: dst, repository: 'listed/hostile', tag: reference },
      }).catch((error: unknown) => {
        expect(error).toMatchObject({ code: ErrorCode.InvalidReference });
      });
    }
    const catalog = await registryRequest(destination, 'GET', '/v2/_catalog');
    const repositories = JSON.parse(catalog.body.toString()).repositories as string[];
    expect(repositories).toContain('listed/hostile');
    expect(repositories.filter((r) => r.includes('victim') || !/^[a-z]+\/hostile$/.test(r))).toEqual([]);
  });

  it('refuses a manifest whose descriptors carry a digest that is not one before any request uses it', async () => {
    const evil = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: 'sha256:../../../victim', size: 2 },
      layers: [],
    });
    const front = await server(
      startHostile((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(evil);
      }),
    );
    const recorder = await server(startRecorder());
    const error = await rejection(
      copyImage({
        source: { client: client(front.host, { credentials: false }), repository: 'a/b', reference: 'v1' },
        destination: { client: client(recorder.host, { credentials: false }), repository: 'a/b', tag: 'v1' },
      }),
    );
    expect(error.code).toBe(ErrorCode.RegistryProtocol);
    expect(front.requests.map((r) => r.url)).toEqual(['/v2/a/b/manifests/v1']);
    expect(recorder.requests.filter((r) => r.url.includes('victim'))).toEqual([]);
  });
});

describe('bounded reads', () => {
  /** A server that writes without end (or `length` bytes declared), counting what it managed to send. */
  async function endless(
    status: number,
    options: { declared?: number; path?: RegExp } = {},
  ): Promise<TestServer & { sent: () => number }> {
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const s = await server(
      startHostile((req, res) => {
        req.resume();
        const headers: Record<string, string> = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
        if (options.declared !== undefined) headers['content-length'] = String(options.declared);
        res.writeHead(status, headers);
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk)) sent += chunk.length;
          if (!res.destroyed) res.once('drain', pump);
        };
        res.on('error', () => undefined);
        pump();
      }),
    );
    return Object.assign(s, { sent: () => sent });
  }

  it.each([
    ['a manifest without end', 200, undefined, ErrorCode.ManifestTooLarge],
    ['a manifest declaring 10 GiB', 200, 10 * 1024 ** 3, ErrorCode.ManifestTooLarge],
    ['a 404 whose body never ends', 404, undefined, ErrorCode.NotFound],
    ['a 500 whose body never ends', 500, undefined, ErrorCode.RegistryUnavailable],
  ])('fails on %s within the bound, having read little', async (_name, status, declared, code) => {
    const s = await endless(status, declared === undefined ? {} : { declared });
    const started = Date.now();
    const error = await rejection(client(s.host, { credentials: false }).getManifest('a/b', 'v1'));
    expect(error.code).toBe(code);
    expect(Date.now() - started).toBeLessThan(BOUND_MS);
    // Stopped at the cap: the server could not push more than the cap and the socket buffers.
    expect(s.sent()).toBeLessThan(32 * 1024 * 1024);
  });

  it('fails on a token service whose answer never ends', async () => {
    const tokens = await endless(200);
    const front = await server(
      startHostile((req, res) => {
        req.resume();
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${tokens.url}/token",service="s"` }).end();
      }),
    );
    const started = Date.now();
    const error = await rejection(client(front.host).getManifest('a/b', 'v1'));
    expect(error.message).toContain('limit');
    expect(Date.now() - started).toBeLessThan(BOUND_MS);
    expect(tokens.sent()).toBeLessThan(32 * 1024 * 1024);
  });

  it('refuses a blob announcing more bytes than its descriptor before reading it', async () => {
    const s = await endless(200, { declared: 50 * 1024 ** 3 });
    const blob = image.blobs[0]!;
    const started = Date.now();
    const error = await rejection(client(s.host, { credentials: false }).openBlob('a/b', blob.digest, blob.size));
    expect(error.code).toBe(ErrorCode.DigestMismatch);
    expect(Date.now() - started).toBeLessThan(BOUND_MS);
  });

  it('fails a copy from a source whose blob never ends within the bound', async () => {
    const events: CopyEvent[] = [];
    const s = await server(
      startHostile(async (req, res) => {
        if (!req.url?.includes('/blobs/')) {
          relay(res, await forward(req, source.url));
          return;
        }
        req.resume();
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 0x62);
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        res.on('error', () => undefined);
        pump();
      }),
    );
    const started = Date.now();
    const error = await rejection(
      copyImage({
        source: { client: client(s.host, { credentials: false }), repository: 'apps/hostile', reference: 'v1' },
        destination: { client: client(destination.host), repository: 'endless/hostile', tag: 'v1' },
        retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 50 },
        onEvent: (e) => events.push(e),
      }),
    );
    expect(error.code).toBe(ErrorCode.DigestMismatch);
    expect(Date.now() - started).toBeLessThan(BOUND_MS);
  });
});

describe('registry text is masked', () => {
  it('masks credentials a registry echoes in its error and strips control characters', async () => {
    const front = await server(
      startHostile((req, res) => {
        req.resume();
        res.writeHead(400, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            errors: [
              {
                code: 'DENIED',
                message: `bad header Authorization: ${req.headers.authorization ?? ''} from https://robot:hunter2@x.example \u001b]0;owned\u0007\u001b[2J`,
              },
            ],
          }),
        );
      }),
    );
    const error = await rejection(
      new RegistryClient({
        host: front.host,
        plainHttp: true,
        basicUpFront: true,
        credentials: async () => ({ username: USER, password: PASSWORD }),
      }).getManifest('a/b', 'v1'),
    );
    expect(error.message).toContain('Authorization: Basic ***');
    expect(error.message).not.toContain(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
    expect(error.message).not.toContain('hunter2');
    expect(error.message).not.toContain('\u001b');
  });
});
