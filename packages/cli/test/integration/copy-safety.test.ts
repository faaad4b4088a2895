/**
 * The command line's part of a safe copy, against real registries: a shared-layer `sync --direct` that finishes in
 * one run of the installed command, credentials from a file or standard input (and a warning for one on the command
 * line), foreign layers, and registry text masked in `--json` output.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MediaTypes,
  bytesBlob,
  descriptorOf,
  imageConfig,
  imageManifest,
  listTags,
  manifestDigestOf,
  manifestDoc,
  pushBlob,
  pushImage,
  putManifest,
  seededBytes,
  startFaultProxy,
  startRegistry,
  type LocalRegistry,
} from '@ecr-replicate/testing';
import { jsonLinesOf, runCli } from '../support/cli';

const BIN = join(__dirname, '..', '..', 'bin', 'ecr-replicate.js');
const USER = 'AWS';
const PASSWORD = 'copy-safety-password';

let source: LocalRegistry;
let destination: LocalRegistry;
let dir: string;

/** Runs the installed command in a process of its own; resolves with its exit code and output. */
function runBin(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: { PATH: process.env.PATH, ...options.env },
        timeout: options.timeoutMs ?? 240_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(options.input ?? '');
  });
}

beforeAll(async () => {
  const manifestUrlsAllow = ['^https?://'];
  [source, destination] = await Promise.all([
    startRegistry({ manifestUrlsAllow }),
    startRegistry({ htpasswd: { username: USER, password: PASSWORD }, manifestUrlsAllow }),
  ]);
  dir = await mkdtemp(join(tmpdir(), 'copy-safety-'));
}, 60_000);

afterAll(async () => {
  await Promise.all([source?.stop(), destination?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

describe('sync --direct of images sharing layers across repositories', () => {
  const REPOSITORIES = 10;
  const TAGS = 10;
  const platform = { os: 'linux', architecture: 'amd64' };
  const base = bytesBlob(MediaTypes.dockerLayerGzip, seededBytes('shared/base', 96 * 1024));

  beforeAll(async () => {
    for (let r = 0; r < REPOSITORIES; r += 1) {
      const team = bytesBlob(MediaTypes.dockerLayerGzip, seededBytes(`shared/team-${r % 3}`, 32 * 1024));
      for (let t = 0; t < TAGS; t += 1) {
        const own = bytesBlob(MediaTypes.dockerLayerGzip, seededBytes(`shared/${r}/${t}`, 2 * 1024));
        const layers = [base, team, own];
        const config = imageConfig('docker', platform, layers, `shared/${r}/${t}`);
        const root = imageManifest('docker', config, layers);
        await pushImage(source, `shared/app${r}`, { root, manifests: [root], blobs: [...layers, config] }, `v${t}`);
      }
    }
  }, 180_000);

  it('copies 100 tags of 10 repositories in one run of the installed command, mounting the shared layers', async () => {
    const config = join(dir, 'shared.json');
    await writeFile(config, JSON.stringify({ repositories: { include: ['prefix:shared/'] } }));
    // Through a recording proxy, to see the mounts: each one leaves a source body opened beside it unread.
    const dstProxy = await startFaultProxy(destination);
    let run: Awaited<ReturnType<typeof runBin>>;
    try {
      run = await runBin(['sync', source.host, dstProxy.host, '--config', config, '--direct', '--json'], {
        env: { ECR_REPLICATE_DEST_CREDS: `${USER}:${PASSWORD}` },
      });
    } finally {
      await dstProxy.stop();
    }
    const mounted = dstProxy.requests.filter(
      (r) => r.method === 'POST' && r.url.includes('mount=') && r.status === 201,
    );
    expect(mounted.length).toBeGreaterThan(0);
    expect(run.stderr).not.toMatch(/Unhandled|RequestAbortedError/);
    expect(run.code).toBe(0);
    const summary = jsonLinesOf({ code: run.code, stdout: run.stdout, stderr: run.stderr }).at(-1);
    expect(summary).toMatchObject({ event: 'summary', failed: 0, copy: REPOSITORIES * TAGS });
    for (let r = 0; r < REPOSITORIES; r += 1) {
      expect((await listTags(destination, `shared/app${r}`)).sort()).toEqual(
        Array.from({ length: TAGS }, (_, t) => `v${t}`).sort(),
      );
    }
  }, 300_000);
});

describe('credentials from a file or standard input', () => {
  const image = (() => {
    const layer = bytesBlob(MediaTypes.dockerLayerGzip, seededBytes('creds/layer', 8 * 1024));
    const config = imageConfig('docker', { os: 'linux', architecture: 'amd64' }, [layer], 'creds');
    const root = imageManifest('docker', config, [layer]);
    return { root, manifests: [root], blobs: [layer, config] };
  })();

  beforeAll(async () => {
    await pushImage(source, 'creds/app', image, 'v1');
  });

  it('reads --dest-creds-file FILE', async () => {
    const file = join(dir, 'dest-creds');
    await writeFile(file, `${USER}:${PASSWORD}\n`, { mode: 0o600 });
    const run = await runCli([
      'copy',
      `${source.host}/creds/app:v1`,
      `${destination.host}/creds/file:v1`,
      '--dest-creds-file',
      file,
      '--json',
    ]);
    expect(run.code).toBe(0);
    expect(await manifestDigestOf(destination, 'creds/file', 'v1')).toBe(image.root.digest);
    expect(run.stdout).not.toContain(PASSWORD);
  });

  it('reads --dest-creds-file - from standard input, out of the process arguments', async () => {
    const run = await runBin(
      ['copy', `${source.host}/creds/app:v1`, `${destination.host}/creds/stdin:v1`, '--dest-creds-file', '-'],
      {
        input: `${USER}:${PASSWORD}\n`,
        timeoutMs: 60_000,
      },
    );
    expect(run.code).toBe(0);
    expect(await manifestDigestOf(destination, 'creds/stdin', 'v1')).toBe(image.root.digest);
  });

  it('warns about a password on the command line', async () => {
    const run = await runCli([
      'copy',
      `${source.host}/creds/app:v1`,
      `${destination.host}/creds/argv:v1`,
      '--dest-creds',
      `${USER}:${PASSWORD}`,
      '--json',
    ]);
    expect(run.code).toBe(0);
    const warnings = jsonLinesOf(run).filter((l) => l.event === 'warning');
    expect(warnings).toEqual([
      expect.objectContaining({ message: expect.stringContaining('--dest-creds puts a password on the command line') }),
    ]);
    expect(run.stdout).not.toContain(PASSWORD);
  });

  it('refuses both --dest-creds and --dest-creds-file, and a file it cannot read', async () => {
    const both = await runCli([
      'copy',
      `${source.host}/creds/app:v1`,
      `${destination.host}/creds/x:v1`,
      '--dest-creds',
      'a:b',
      '--dest-creds-file',
      '/nonexistent',
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('exclusive');
    const missing = await runCli([
      'copy',
      `${source.host}/creds/app:v1`,
      `${destination.host}/creds/x:v1`,
      '--dest-creds-file',
      join(dir, 'nope'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--dest-creds-file: cannot read');
  });
});

describe('foreign layers', () => {
  it('copies the manifest without its foreign layer and says so; --include-foreign-layers copies it', async () => {
    const FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
    const foreign = bytesBlob(FOREIGN, seededBytes('cli/windows-base', 4096));
    const own = bytesBlob(MediaTypes.dockerLayerGzip, seededBytes('cli/windows-app', 1024));
    const config = bytesBlob(MediaTypes.dockerConfig, Buffer.from('{"os":"windows","architecture":"amd64"}'));
    const manifest = manifestDoc(MediaTypes.dockerManifest, {
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifest,
      config: descriptorOf(config),
      layers: [
        { ...descriptorOf(foreign), urls: [`https://mcr.microsoft.com/v2/x/blobs/${foreign.digest}`] },
        descriptorOf(own),
      ],
    });
    await pushBlob(source, 'win/app', config);
    await pushBlob(source, 'win/app', own);
    await pushBlob(source, 'win/app', foreign);
    await putManifest(source, 'win/app', 'ltsc', manifest);
    const env = { ECR_REPLICATE_DEST_CREDS: `${USER}:${PASSWORD}` };

    const skipped = await runCli(
      ['copy', `${source.host}/win/app:ltsc`, `${destination.host}/win/skipped:ltsc`, '--json'],
      { env },
    );
    expect(skipped.code).toBe(0);
    expect(jsonLinesOf(skipped).filter((l) => l.event === 'warning')).toEqual([
      expect.objectContaining({ message: expect.stringContaining(`foreign layer ${foreign.digest}`) }),
    ]);
    expect(jsonLinesOf(skipped).at(-1)).toMatchObject({ event: 'result', digest: manifest.digest });

    const included = await runCli(
      [
        'copy',
        `${source.host}/win/app:ltsc`,
        `${destination.host}/win/full:ltsc`,
        '--json',
        '--include-foreign-layers',
      ],
      { env },
    );
    expect(included.code).toBe(0);
    expect(jsonLinesOf(included).filter((l) => l.event === 'blob' && l.digest === foreign.digest)).toEqual([
      expect.objectContaining({ action: 'copied' }),
    ]);
  });
});

describe('registry text in --json output', () => {
  let front: Server;
  let frontHost: string;

  beforeAll(async () => {
    // A destination that echoes the request's Authorization header and terminal escapes in its error.
    front = createServer((req, res) => {
      if (req.method === 'PUT' && req.url?.includes('/manifests/')) {
        req.resume();
        res.writeHead(400, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            errors: [
              { code: 'DENIED', message: `refused ${req.headers.authorization ?? ''} \u001b]0;pwned\u0007\u001b[2J` },
            ],
          }),
        );
        return;
      }
      const target = new URL(req.url ?? '/', destination.url);
      const upstream = httpRequest(
        target,
        { method: req.method, headers: { ...req.headers, host: target.host } },
        (answer) => {
          const headers = { ...answer.headers };
          if (typeof headers.location === 'string')
            headers.location =
              new URL(headers.location, destination.url).pathname + new URL(headers.location, destination.url).search;
          res.writeHead(answer.statusCode ?? 502, headers);
          answer.pipe(res);
        },
      );
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    frontHost = `127.0.0.1:${(front.address() as AddressInfo).port}`;
    await pushImage(
      source,
      'masked/app',
      (() => {
        const layer = bytesBlob(MediaTypes.dockerLayerGzip, seededBytes('masked/layer', 1024));
        const config = imageConfig('docker', { os: 'linux', architecture: 'amd64' }, [layer], 'masked');
        const root = imageManifest('docker', config, [layer]);
        return { root, manifests: [root], blobs: [layer, config] };
      })(),
      'v1',
    );
  });

  afterAll(async () => {
    front.closeAllConnections();
    await new Promise<void>((resolve) => front.close(() => resolve()));
  });

  it('prints the failure with the echoed credentials masked and no control characters', async () => {
    const run = await runCli(['copy', `${source.host}/masked/app:v1`, `${frontHost}/masked/app:v1`, '--json'], {
      env: { ECR_REPLICATE_DEST_CREDS: `${USER}:${PASSWORD}` },
    });
    expect(run.code).toBe(1);
    const error = jsonLinesOf(run).at(-1);
    expect(error).toMatchObject({ event: 'error', message: expect.stringContaining('refused Basic ***') });
    expect(run.stdout).not.toContain(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
    expect(run.stdout).not.toContain(String.fromCharCode(0x1b));
    // JSON writes the escape character as \\u001b: neither form may reach a terminal.
    expect(run.stdout).not.toContain('\\u001b');
  });
});
