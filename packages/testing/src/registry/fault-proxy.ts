/**
 * A programmable reverse proxy in front of a registry, for fault-injection tests and for
 * simulating a slow cross-partition link; and a "blob CDN" standing in for the other host
 * (S3) that ECR redirects blob downloads to.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { basicAuthorization } from './registry-http';
import {
  delay,
  downstreamHeaders,
  drain,
  forwardUpstream,
  listenOnLoopback,
  respond,
  upstreamAgent,
  upstreamHeaders,
} from './http-forward';

/** Which requests a fault applies to. */
export interface FaultMatch {
  /** HTTP method, e.g. 'PATCH' (case-insensitive). */
  method?: string;
  /** Tested against the path and query, e.g. /\/blobs\/uploads\//. */
  path?: RegExp;
  /** Apply to this many matching requests, then expire (default: forever). */
  times?: number;
}

/** What to do with a matching request. */
export type FaultAction =
  /** Answer directly (a 401 gets the proxy's `wwwAuthenticate` unless `headers` has one). */
  | { status: number; headers?: Record<string, string>; body?: string }
  /** Destroy the client socket before answering. */
  | { reset: true }
  /** Forward, send `n` bytes of the body (Content-Length unchanged), then close the connection. */
  | { truncateAfterBytes: number }
  /** Forward with the byte at offset `n` of the body flipped (same length). */
  | { corruptByteAt: number }
  /** Forward, but answer with this status instead of the registry's. */
  | { rewriteStatus: number }
  /** Answer 307 with `Location: <redirectTo><original path+query>`. */
  | { redirectTo: string };

/** A fault to inject. */
export interface FaultRule {
  match: FaultMatch;
  action: FaultAction;
}

/** An installed fault: how often it fired and how often it still will. */
export interface ActiveFault {
  readonly rule: FaultRule;
  /** Requests it has been applied to. */
  hits: number;
  /** Applications left (Infinity when `times` was not given). */
  remaining: number;
  /** Uninstalls it. */
  remove(): void;
}

/** One request the proxy saw. */
export interface RecordedRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Status sent back (undefined when the connection was reset before any answer). */
  status?: number;
  /** The fault applied, if any. */
  fault?: FaultAction;
}

/** Options of `startFaultProxy`. */
export interface FaultProxyOptions {
  /** Delay added each way: before forwarding the request and before sending the response head. */
  latencyMs?: number;
  /** `WWW-Authenticate` value sent with injected 401s. */
  wwwAuthenticate?: string;
}

/** A running fault proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT` */
  host: string;
  /** Every request seen, oldest first (the same array across `clearRequests`). */
  readonly requests: RecordedRequest[];
  clearRequests(): void;
  /** Delay added each way; can be changed at any time. */
  latencyMs: number;
  addFault(rule: FaultRule): ActiveFault;
  clearFaults(): void;
  stop(): Promise<void>;
}

function matches(match: FaultMatch, req: IncomingMessage): boolean {
  if (match.method && match.method.toUpperCase() !== req.method) return false;
  if (match.path) {
    match.path.lastIndex = 0;
    if (!match.path.test(req.url ?? '')) return false;
  }
  return true;
}

/** A registry-style JSON error body. */
function errorBody(status: number): string {
  return JSON.stringify({
    errors: [{ code: 'HARNESS_FAULT', message: `fault injected by the harness: ${status}`, detail: null }],
  });
}

/** Starts a reverse proxy to `target` on a free 127.0.0.1 port. */
export async function startFaultProxy(target: { url: string }, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const targetUrl = new URL(target.url);
  const agent = upstreamAgent();
  const faults: ActiveFault[] = [];
  const requests: RecordedRequest[] = [];
  let proxyOrigin = '';

  /** The first live fault matching the request, consumed once. */
  const takeFault = (req: IncomingMessage): FaultAction | undefined => {
    const fault = faults.find((f) => f.remaining > 0 && matches(f.rule.match, req));
    if (!fault) return undefined;
    fault.hits++;
    fault.remaining--;
    if (fault.remaining <= 0) fault.remove();
    return fault.rule.action;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const record: RecordedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers };
    requests.push(record);
    const action = takeFault(req);
    if (action) record.fault = action;
    await delay(proxy.latencyMs);

    if (action && 'reset' in action) {
      req.socket.destroy();
      return;
    }
    if (action && 'redirectTo' in action) {
      await drain(req);
      await delay(proxy.latencyMs);
      record.status = 307;
      respond(res, 307, { location: `${action.redirectTo.replace(/\/$/, '')}${req.url ?? '/'}` });
      return;
    }
    if (action && 'status' in action) {
      await drain(req);
      const headers: OutgoingHttpHeaders = {
        'docker-distribution-api-version': 'registry/2.0',
        ...lowerCaseKeys(action.headers ?? {}),
      };
      if (action.status === 401 && options.wwwAuthenticate && headers['www-authenticate'] === undefined) {
        headers['www-authenticate'] = options.wwwAuthenticate;
      }
      const body = action.body ?? errorBody(action.status);
      if (headers['content-type'] === undefined) headers['content-type'] = 'application/json; charset=utf-8';
      await delay(proxy.latencyMs);
      record.status = action.status;
      respond(res, action.status, headers, body);
      return;
    }

    let upstream: IncomingMessage;
    try {
      upstream = await forwardUpstream(req, targetUrl, agent, { headers: upstreamHeaders(req.headers, targetUrl) });
    } catch (err) {
      record.status = 502;
      if (!res.headersSent)
        respond(
          res,
          502,
          { 'content-type': 'text/plain' },
          `harness proxy: upstream failed: ${(err as Error).message}`,
        );
      return;
    }
    const status = action && 'rewriteStatus' in action ? action.rewriteStatus : (upstream.statusCode ?? 502);
    const headers = downstreamHeaders(upstream, targetUrl.origin, proxyOrigin);
    await delay(proxy.latencyMs);
    record.status = status;
    res.writeHead(status, headers);

    if (action && 'truncateAfterBytes' in action) {
      sendTruncated(upstream, res, action.truncateAfterBytes);
      return;
    }
    if (action && 'corruptByteAt' in action) {
      let offset = 0;
      upstream.on('data', (chunk: Buffer) => {
        const at = action.corruptByteAt - offset;
        offset += chunk.length;
        if (at >= 0 && at < chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[at] = (chunk[at] ?? 0) ^ 0xff;
        }
        if (!res.write(chunk)) {
          upstream.pause();
          res.once('drain', () => upstream.resume());
        }
      });
      upstream.once('end', () => res.end());
      upstream.once('error', () => res.destroy());
      return;
    }
    pipeline(upstream, res, () => undefined);
  };

  const server = await listenOnLoopback(handle);
  proxyOrigin = server.url;
  const proxy: FaultProxy = {
    url: server.url,
    host: server.host,
    requests,
    clearRequests: () => {
      requests.length = 0;
    },
    latencyMs: options.latencyMs ?? 0,
    addFault: (rule) => {
      const fault: ActiveFault = {
        rule,
        hits: 0,
        remaining: rule.match.times ?? Infinity,
        remove: () => {
          const i = faults.indexOf(fault);
          if (i >= 0) faults.splice(i, 1);
        },
      };
      faults.push(fault);
      return fault;
    },
    clearFaults: () => {
      faults.length = 0;
    },
    stop: async () => {
      await server.close();
      agent.destroy();
    },
  };
  return proxy;
}

/** Header names in lower case (as node reports them), so lookups are reliable. */
function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/**
 * Sends the first `limit` bytes of the upstream body, then ends the connection although the
 * announced length was not reached (the client sees a premature close).
 */
function sendTruncated(upstream: IncomingMessage, res: ServerResponse, limit: number): void {
  let sent = 0;
  let cut = false;
  const cutNow = (): void => {
    if (cut) return;
    cut = true;
    upstream.destroy();
    const socket = res.socket;
    if (!socket) return;
    // end() flushes what was written (head included), then FIN; destroy in case the peer lingers.
    socket.end();
    setTimeout(() => socket.destroy(), 200).unref();
  };
  res.flushHeaders();
  if (limit <= 0) {
    cutNow();
    return;
  }
  upstream.on('data', (chunk: Buffer) => {
    if (cut) return;
    const room = limit - sent;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    sent += part.length;
    res.write(part);
    if (sent >= limit) cutNow();
  });
  upstream.once('end', () => {
    if (!cut) res.end(); // the body was shorter than the limit: nothing to cut
  });
  upstream.once('error', () => res.destroy());
}

/** One request the blob CDN received. */
export interface CdnRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A stand-in for the storage host a registry redirects blob downloads to. */
export interface BlobCdn {
  url: string;
  host: string;
  /** Every request received, with its headers exactly as they arrived. */
  readonly requests: CdnRequest[];
  clearRequests(): void;
  stop(): Promise<void>;
}

/**
 * Starts a server on another port ("another host") that serves GET/HEAD by fetching the same
 * path from `target` with the credentials given here (never the client's), and records the
 * headers it received (to assert that an Authorization header never arrived).
 */
export async function startBlobCdn(target: { url: string; username?: string; password?: string }): Promise<BlobCdn> {
  const targetUrl = new URL(target.url);
  const agent = upstreamAgent();
  const requests: CdnRequest[] = [];
  const auth = basicAuthorization(target);
  const server = await listenOnLoopback(async (req, res) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      await drain(req);
      respond(res, 405, { 'content-type': 'text/plain' }, 'blob CDN serves GET and HEAD only');
      return;
    }
    const headers: OutgoingHttpHeaders = { host: targetUrl.host };
    if (auth) headers.authorization = auth;
    if (req.headers.range) headers.range = req.headers.range;
    const upstream = await forwardUpstream(req, targetUrl, agent, { headers });
    const out: OutgoingHttpHeaders = {};
    for (const name of [
      'content-type',
      'content-length',
      'content-range',
      'accept-ranges',
      'etag',
      'docker-content-digest',
    ]) {
      const value = upstream.headers[name];
      if (value !== undefined) out[name] = value;
    }
    res.writeHead(upstream.statusCode ?? 502, out);
    pipeline(upstream, res, () => undefined);
  });
  return {
    url: server.url,
    host: server.host,
    requests,
    clearRequests: () => {
      requests.length = 0;
    },
    stop: async () => {
      await server.close();
      agent.destroy();
    },
  };
}
