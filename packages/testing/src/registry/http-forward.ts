/**
 * Small building blocks shared by the harness's HTTP servers (fault proxy, blob CDN,
 * bearer front): listening on a free loopback port, forwarding a request upstream, and
 * copying response headers with `Location` rewritten to keep clients on the front server.
 */
import { Agent, createServer, request as httpRequest } from 'node:http';
import type {
  IncomingHttpHeaders,
  IncomingMessage,
  OutgoingHttpHeaders,
  RequestListener,
  Server,
  ServerResponse,
} from 'node:http';
import { pipeline } from 'node:stream';

/** Headers that describe one connection, not the message: never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** A server listening on 127.0.0.1. */
export interface ListeningServer {
  server: Server;
  port: number;
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Closes the server and every open connection. */
  close(): Promise<void>;
}

/** Starts an HTTP server on a free 127.0.0.1 port; errors thrown by the handler become 500s. */
export async function listenOnLoopback(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<ListeningServer> {
  const listener: RequestListener = (req, res) => {
    handler(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`harness server error: ${(err as Error).message}`);
      } else {
        res.destroy();
      }
    });
  };
  const server = createServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('could not read the listening port');
  const { port } = address;
  let closed: Promise<void> | undefined;
  return {
    server,
    port,
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/** Resolves after `ms` milliseconds (immediately for 0). */
export function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** Reads and discards a request body. */
export async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded) return;
  await new Promise<void>((resolve) => {
    req.on('end', resolve);
    req.on('close', resolve);
    req.on('error', () => resolve());
    req.resume();
  });
}

/** A copy of request headers without hop-by-hop ones, `host` set to the target. */
export function upstreamHeaders(headers: IncomingHttpHeaders, target: URL, drop: string[] = []): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || drop.includes(name)) continue;
    out[name] = value;
  }
  out.host = target.host;
  return out;
}

/** A copy of response headers without hop-by-hop ones; a `Location` on `fromOrigin` is moved to `toOrigin`. */
export function downstreamHeaders(res: IncomingMessage, fromOrigin: string, toOrigin: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  const location = out.location;
  if (typeof location === 'string' && location.startsWith(fromOrigin))
    out.location = toOrigin + location.slice(fromOrigin.length);
  return out;
}

/**
 * Sends `req` (method, path+query, headers, streamed body) to `target` and resolves with
 * the upstream response head. The body is piped as it arrives.
 */
export function forwardUpstream(
  req: IncomingMessage,
  target: URL,
  agent: Agent,
  options: { headers?: OutgoingHttpHeaders; path?: string } = {},
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const upstream = httpRequest({
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path: options.path ?? req.url,
      headers: options.headers ?? upstreamHeaders(req.headers, target),
      agent,
    });
    upstream.once('response', resolve);
    upstream.once('error', reject);
    pipeline(req, upstream, (err) => {
      if (err) upstream.destroy(err);
    });
  });
}

/** A keep-alive agent for upstream connections (destroy it when the server stops). */
export function upstreamAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 64 });
}

/** Writes a complete response with a body (none for HEAD). */
export function respond(
  res: ServerResponse,
  status: number,
  headers: OutgoingHttpHeaders,
  body: string | Buffer = '',
): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { ...headers, 'content-length': String(bytes.length) });
  res.end(bytes);
}
