/**
 * The command's network options against real registries: a private CA trusted with --ca-file (TLS registry on
 * loopback, CA and certificate made here with openssl), --tls-verify=false HOST, HTTPS_PROXY/HTTP_PROXY/NO_PROXY
 * through a CONNECT proxy on loopback that alone resolves the registry's host name, and the --debug trace.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, setGlobalDispatcher, getGlobalDispatcher, type Dispatcher } from 'undici';
import { jsonLinesOf, runCli, type CliRun } from '../support/cli';
import {
  manifestDigestOf,
  ociIndex,
  pushImage,
  startRegistry,
  type LocalRegistry,
  type SyntheticImage,
} from '@ecr-replicate/testing';

/** The name only the test proxy resolves (`.test` is reserved: no resolver answers for it). */
const PROXIED_NAME = 'registry.internal.test';

let dir: string;
let caFile: string;
let otherCaFile: string;
let source: LocalRegistry;
let tlsRegistry: LocalRegistry;
let image: SyntheticImage;
let proxy: Server;
let proxyUrl: string;
const tunnelled: string[] = [];
let previousDispatcher: Dispatcher;
let trusting: Agent | undefined;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA and a server certificate it signs for 127.0.0.1, localhost and the proxied name. */
function makeCertificates(): void {
  for (const name of ['ca', 'other-ca']) {
    openssl([
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=ecr-replicate test ${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]); // prettier-ignore
  }
  openssl([
    'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=registry',
  ]); // prettier-ignore
  writeFileSync(
    join(dir, 'server.ext'),
    `subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:${PROXIED_NAME}\nextendedKeyUsage=serverAuth\n`,
  );
  openssl([
    'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext',
  ]); // prettier-ignore
}

/** An HTTP CONNECT proxy on loopback: it alone resolves PROXIED_NAME (to 127.0.0.1) and records every tunnel. */
function startProxy(): Promise<void> {
  proxy = createHttpServer((_req, res) => {
    res.statusCode = 405;
    res.end('CONNECT only');
  });
  proxy.on('connect', (req, client, head) => {
    const target = req.url ?? '';
    tunnelled.push(target);
    const [name, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
    if (name !== PROXIED_NAME) {
      client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      return;
    }
    const upstream = netConnect(port, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  return new Promise((resolve) =>
    proxy.listen(0, '127.0.0.1', () => {
      proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      resolve();
    }),
  );
}

const portOf = (registry: LocalRegistry): string => registry.host.slice(registry.host.lastIndexOf(':') + 1);
const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> => runCli(args, { env });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-network-'));
  makeCertificates();
  caFile = join(dir, 'ca.pem');
  otherCaFile = join(dir, 'other-ca.pem');
  [source, tlsRegistry] = await Promise.all([
    startRegistry(),
    startRegistry({ tls: { certificate: join(dir, 'server.pem'), key: join(dir, 'server.key') } }),
    startProxy(),
  ]);
  // The test's own reads of the TLS registry trust the CA (the command under test never uses this dispatcher).
  previousDispatcher = getGlobalDispatcher();
  trusting = new Agent({ connect: { ca: readFileSync(caFile, 'utf8') } });
  setGlobalDispatcher(trusting);
  image = ociIndex({
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ],
    sharedBaseSize: 32 * 1024,
    layerSize: 8 * 1024,
    seed: 'network',
  });
  await pushImage(source, 'apps/net', image, 'v1');
}, 60_000);

afterAll(async () => {
  setGlobalDispatcher(previousDispatcher);
  await trusting?.close();
  await new Promise((resolve) => proxy?.close(resolve));
  await Promise.all([source?.stop(), tlsRegistry?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('a private certificate authority (--ca-file)', () => {
  it('copies to a TLS registry on loopback whose certificate the CA in --ca-file HOST=FILE signed', async () => {
    const run = await cli([
      'copy',
      `${source.host}/apps/net:v1`,
      `${tlsRegistry.host}/ca/net:v1`,
      '--ca-file',
      `${tlsRegistry.host}=${caFile}`,
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(jsonLinesOf(run).at(-1)).toMatchObject({ event: 'result', digest: image.root.digest });
    expect(await manifestDigestOf(tlsRegistry, 'ca/net', 'v1')).toBe(image.root.digest);
  });

  it('refuses the registry when --ca-file names a CA that did not sign its certificate', async () => {
    const run = await cli([
      'copy',
      `${source.host}/apps/net:v1`,
      `${tlsRegistry.host}/other-ca/net:v1`,
      '--ca-file',
      `${tlsRegistry.host}=${otherCaFile}`,
      '--retries',
      '0',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/ecr-replicate: error \(\w+\): .*(certificate|self.signed|issuer)/i);
  });

  it('--tls-verify=false HOST copies without verifying, and says so loudly on stderr', async () => {
    const run = await cli([
      'copy',
      `${source.host}/apps/net:v1`,
      `${tlsRegistry.host}/insecure/net:v1`,
      `--tls-verify=false`,
      tlsRegistry.host,
    ]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`WARNING: TLS certificate verification is OFF for ${tlsRegistry.host}`);
    expect(await manifestDigestOf(tlsRegistry, 'insecure/net', 'v1')).toBe(image.root.digest);
  });

  it('--tls-verify=false wants its HOST: it is never off for every host', async () => {
    const run = await cli(['copy', `${source.host}/apps/net:v1`, `${tlsRegistry.host}/x/net:v1`, '--tls-verify=false']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--tls-verify=false needs the HOST it applies to/);
  });
});

describe('a proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)', () => {
  const proxiedHost = (): string => `${PROXIED_NAME}:${portOf(tlsRegistry)}`;

  it('reaches a registry by a host name only the proxy resolves, over TLS with the CA for every host', async () => {
    tunnelled.length = 0;
    const run = await cli(
      ['copy', `${source.host}/apps/net:v1`, `${proxiedHost()}/proxied/net:v1`, '--ca-file', caFile],
      { HTTPS_PROXY: proxyUrl, NO_PROXY: '127.0.0.1,localhost' },
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(await manifestDigestOf(tlsRegistry, 'proxied/net', 'v1')).toBe(image.root.digest);
    // The destination's traffic went through the proxy; the source (NO_PROXY) did not.
    expect(tunnelled).toContain(proxiedHost());
    expect(tunnelled.filter((t) => t.startsWith('127.0.0.1'))).toEqual([]);
  });

  it('takes the lower-case variables too, and HTTP_PROXY for a plain-HTTP registry', async () => {
    tunnelled.length = 0;
    const plainName = `${PROXIED_NAME}:${portOf(source)}`;
    const run = await cli(
      [
        'copy',
        `${plainName}/apps/net:v1`,
        `${proxiedHost()}/lower/net:v1`,
        '--plain-http',
        plainName,
        '--ca-file',
        caFile,
      ],
      { http_proxy: proxyUrl, https_proxy: proxyUrl },
    );
    expect(run.code).toBe(0);
    expect(tunnelled).toEqual(expect.arrayContaining([plainName, proxiedHost()]));
  });

  it('goes direct for a NO_PROXY host (which, here, nothing else resolves)', async () => {
    tunnelled.length = 0;
    const run = await cli(
      ['copy', `${source.host}/apps/net:v1`, `${proxiedHost()}/direct/net:v1`, '--ca-file', caFile, '--retries', '0'],
      { HTTPS_PROXY: proxyUrl, NO_PROXY: `127.0.0.1,.internal.test` },
    );
    expect(run.code).toBe(1);
    expect(tunnelled).toEqual([]);
    expect(run.stderr).toMatch(/ENOTFOUND|EAI_AGAIN|getaddrinfo/);
  });
});

describe('--debug', () => {
  it('traces every request on stderr with its status and time, credentials masked', async () => {
    const password = 'debug-secret-password';
    const destination = await startRegistry({ htpasswd: { username: 'dbg', password } });
    try {
      const run = await cli([
        'copy',
        `${source.host}/apps/net:v1`,
        `${destination.host}/debug/net:v1`,
        '--dest-creds',
        `dbg:${password}`,
        '--debug',
      ]);
      expect(run.code).toBe(0);
      expect(run.stderr).toMatch(
        new RegExp(
          `debug: GET http://${source.host}/v2/apps/net/manifests/v1 -> 200 \\d+ ms \\(started at \\+\\d+ ms\\)`,
        ),
      );
      expect(run.stderr).toMatch(
        /debug: PUT http:\/\/127\.0\.0\.1:\d+\/v2\/debug\/net\/manifests\/v1 -> 201 \d+ ms \[authorization: Basic \*\*\*\] \(started at \+\d+ ms\)/,
      );
      expect(run.stderr).not.toContain(password);
      expect(run.stderr).not.toContain(Buffer.from(`dbg:${password}`).toString('base64'));
    } finally {
      await destination.stop();
    }
  });
});
