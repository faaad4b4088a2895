/**
 * Small hostile servers for the client's tests: a front that forwards to a real registry and lets a test rewrite
 * what it answers, a recorder on another loopback address (127.0.0.2) that notes every request's headers, and a
 * server that speaks TLS and plain HTTP on one port (to try a downgrade to http on the same host and port).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { Duplex } from 'node:stream';
import { join } from 'node:path';
import { ReplicationError } from '@ecr-replicate/common';

export interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
}

export interface TestServer {
  host: string;
  url: string;
  requests: Recorded[];
  stop(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

async function listen(handler: Handler, address = '127.0.0.1'): Promise<TestServer> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    Promise.resolve(handler(req, res)).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `${address}:${port}`,
    url: `http://${address}:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Forwards a request to `target` (with `authorization` instead of the client's when given); returns the answer. */
export function forward(
  req: IncomingMessage,
  target: string,
  options: { authorization?: string; path?: string } = {},
): Promise<IncomingMessage> {
  const url = new URL(options.path ?? req.url ?? '/', target);
  const headers = { ...req.headers, host: url.host };
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  return new Promise((resolve, reject) => {
    const upstream = httpRequest(url, { method: req.method, headers }, resolve);
    upstream.on('error', reject);
    req.pipe(upstream);
  });
}

/** Sends an upstream answer back, with its headers changed by `headers`. */
export function relay(
  res: ServerResponse,
  answer: IncomingMessage,
  headers: (h: Record<string, string | string[] | undefined>) => Record<string, string | string[] | undefined> = (h) =>
    h,
): void {
  res.writeHead(answer.statusCode ?? 502, headers({ ...answer.headers }) as Record<string, string | string[]>);
  answer.pipe(res);
}

/** A server on 127.0.0.1 answering with `handler`, noting each request. */
export function startHostile(handler: Handler): Promise<TestServer> {
  return listen(handler);
}

/**
 * A server on another loopback address (127.0.0.2: another host) that notes what it receives and, when given a
 * target, forwards there with credentials of its own (never the client's), so that a copy through it can succeed.
 */
export function startRecorder(target?: { url: string; username?: string; password?: string }): Promise<TestServer> {
  const authorization =
    target?.username === undefined
      ? undefined
      : `Basic ${Buffer.from(`${target.username}:${target.password ?? ''}`).toString('base64')}`;
  return listen(async (req, res) => {
    if (target === undefined) {
      req.resume();
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND"}]}');
      return;
    }
    const answer = await forward(req, target.url, authorization === undefined ? {} : { authorization });
    relay(res, answer, (h) => {
      // Keep the client on this server for what follows (upload locations).
      const location = h.location;
      if (typeof location === 'string')
        h.location = new URL(location, target.url).pathname + new URL(location, target.url).search;
      return h;
    });
  }, '127.0.0.2');
}

/** A self-signed certificate for 127.0.0.1 (openssl): PEMs and the certificate's file (for NODE_EXTRA_CA_CERTS). */
export function selfSignedCertificate(dir: string): { key: string; cert: string; certFile: string } {
  const certFile = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile };
}

export interface DualServer {
  host: string;
  url: string;
  port: number;
  /** The server's certificate, for a client process to trust (NODE_EXTRA_CA_CERTS). */
  certFile: string;
  requests: Array<Recorded & { scheme: string }>;
  stop(): Promise<void>;
}

/**
 * One port on 127.0.0.1 that speaks TLS (first byte 0x16, a handshake) and plain HTTP alike, both answered by
 * `handler`, each request noted with its scheme.
 */
export async function startDualProtocol(
  handler: (req: IncomingMessage, res: ServerResponse, scheme: 'https' | 'http') => void | Promise<void>,
): Promise<DualServer> {
  const requests: Array<Recorded & { scheme: string }> = [];
  const on =
    (scheme: 'https' | 'http') =>
    (req: IncomingMessage, res: ServerResponse): void => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, scheme });
      Promise.resolve(handler(req, res, scheme)).catch(() => res.destroy());
    };
  const dir = mkdtempSync(join(tmpdir(), 'hostile-tls-'));
  const { key, cert, certFile } = selfSignedCertificate(dir);
  const tls = createHttpsServer({ key, cert }, on('https'));
  const plain = createServer(on('http'));
  const sockets = new Set<Socket>();
  const net: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', (first: Buffer) => {
      // The servers read through a JavaScript stream that starts with the byte already read (a socket's own handle
      // would skip it).
      const stream = new Duplex({
        read: () => socket.resume(),
        write: (chunk: Buffer, _encoding, done) => socket.write(chunk, done),
        final: (done) => socket.end(done),
        destroy: (error, done) => {
          socket.destroy();
          done(error);
        },
      });
      socket.on('data', (data: Buffer) => {
        if (!stream.push(data)) socket.pause();
      });
      socket.on('end', () => stream.push(null));
      socket.on('error', (error) => stream.destroy(error));
      stream.push(first);
      (first[0] === 0x16 ? tls : plain).emit('connection', stream);
    });
  });
  await new Promise<void>((resolve) => net.listen(0, '127.0.0.1', resolve));
  const { port } = net.address() as AddressInfo;
  return {
    port,
    host: `127.0.0.1:${port}`,
    url: `https://127.0.0.1:${port}`,
    certFile,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        tls.closeAllConnections();
        plain.closeAllConnections();
        rmSync(dir, { recursive: true, force: true });
        for (const socket of sockets) socket.destroy();
        net.close(() => resolve());
      }),
  };
}

/** The ReplicationError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<ReplicationError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ReplicationError);
    return error as ReplicationError;
  }
  throw new Error('expected a failure');
}
