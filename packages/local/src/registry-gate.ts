import { createHash } from 'node:crypto';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { request as httpRequest } from 'node:http';
import type { PacedApi } from '@ecr-replicate/common';
import { Transform, type TransformCallback } from 'node:stream';
import { listenOnLoopback, upstreamAgent, upstreamHeaders } from '@ecr-replicate/testing';

/**
 * A gate in front of a registry, between the workers and it: it records
 * every tag write (a manifest PUT or DELETE by tag) with when it arrived,
 * when it reached the registry and what it carried, can hold tag writes
 * (a slow link: the request waits at the gate; if the client gives up
 * meanwhile, the request never reaches the registry, as a request whose
 * connection closed before it was sent), can fail a fraction of all
 * requests with a 503 (chaos), and can enforce request quotas the way ECR
 * does: each quota-bound call (PutImage...) draws from a token bucket of its
 * rate holding one second of calls, and a call past it is answered 429
 * TOOMANYREQUESTS without reaching the registry.
 */

/** Which quota-bound API a request is, by ECR's mapping of the distribution API. */
export function gatedApiOf(method: string | undefined, url: string): PacedApi | undefined {
  const path = url.split('?')[0] ?? '';
  if (method === 'PUT' && /^\/v2\/.+\/manifests\/[^/]+$/.test(path)) return 'PutImage';
  if (method === 'POST' && /^\/v2\/.+\/blobs\/uploads\/?$/.test(path)) return 'InitiateLayerUpload';
  if (method === 'PATCH' && /^\/v2\/.+\/blobs\/uploads\/[^/]+$/.test(path)) return 'UploadLayerPart';
  if (method === 'PUT' && /^\/v2\/.+\/blobs\/uploads\/[^/]+$/.test(path)) return 'CompleteLayerUpload';
  if (method === 'HEAD' && /^\/v2\/.+\/blobs\/[a-z0-9]+:[a-f0-9]+$/.test(path)) return 'BatchCheckLayerAvailability';
  return undefined;
}

/** One tag write seen by the gate. */
export interface TagWrite {
  method: 'PUT' | 'DELETE';
  repository: string;
  tag: string;
  /** The manifest's digest (PUT). */
  digest?: string;
  receivedAt: number;
  /** When it was sent on to the registry; absent when it never was. */
  forwardedAt?: number;
  /** The registry's answer. */
  status?: number;
  outcome: 'forwarded' | 'dropped' | 'fault' | 'pending';
}

export interface HeldWrites {
  /** Resolves when the first matching write is being held. */
  readonly firstHeld: Promise<TagWrite>;
  /** Lets the held writes (and later ones) go on. */
  release(): void;
}

export interface RegistryGate {
  url: string;
  host: string;
  readonly tagWrites: readonly TagWrite[];
  /** Holds the tag writes `match` selects until released. */
  hold(match: (write: TagWrite) => boolean): HeldWrites;
  /** Fails this fraction of every request with a 503, drawing from `random` (seeded for replays). */
  setFaultRate(rate: number, random?: () => number): void;
  /** Requests failed by the fault rate. */
  readonly faults: number;
  /** Enforces these rates (requests per second) from now on; undefined: none. */
  setQuotas(quotas: Partial<Record<PacedApi, number>> | undefined): void;
  /** Quota-bound calls that reached the gate, per API (answered or throttled). */
  readonly quotaCalls: Readonly<Partial<Record<PacedApi, number>>>;
  /** Calls answered 429 for their quota, per API. */
  readonly throttled: Readonly<Partial<Record<PacedApi, number>>>;
  /**
   * Caps the bytes per second of every blob upload body crossing the gate, all uploads together (a slow or congested
   * link); undefined lifts the cap. Applies to bytes arriving after the call.
   */
  setBlobUploadRate(bytesPerSecond: number | undefined): void;
  stop(): Promise<void>;
}

const MANIFEST_PATH = /^\/v2\/(.+)\/manifests\/([^/?]+)(?:\?.*)?$/;

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startRegistryGate(target: { url: string }): Promise<RegistryGate> {
  const targetUrl = new URL(target.url);
  const agent = upstreamAgent();
  const tagWrites: TagWrite[] = [];
  const holds: Array<{
    match: (write: TagWrite) => boolean;
    released: Promise<void>;
    onHeld: (w: TagWrite) => void;
    release: () => void;
  }> = [];
  let faultRate = 0;
  let random: () => number = Math.random;
  let faults = 0;
  let quotas: Partial<Record<PacedApi, number>> | undefined;
  const buckets = new Map<PacedApi, { tokens: number; at: number }>();
  const quotaCalls: Partial<Record<PacedApi, number>> = {};
  const throttled: Partial<Record<PacedApi, number>> = {};
  /** Whether a call of `api` fits its quota now (it takes a token), per a bucket of one second of calls. */
  const withinQuota = (api: PacedApi): boolean => {
    quotaCalls[api] = (quotaCalls[api] ?? 0) + 1;
    const rate = quotas?.[api];
    if (rate === undefined) return true;
    const now = performance.now();
    const capacity = Math.max(1, rate);
    const bucket = buckets.get(api) ?? { tokens: capacity, at: now };
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    buckets.set(api, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return true;
    }
    throttled[api] = (throttled[api] ?? 0) + 1;
    return false;
  };
  let uploadRate: number | undefined;
  // One budget for all uploads: the time at which the link is free to send the next byte.
  let linkFreeAt = 0;
  const throttle = (): Transform =>
    new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
        const rate = uploadRate;
        if (rate === undefined) {
          callback(null, chunk);
          return;
        }
        const now = performance.now();
        linkFreeAt = Math.max(linkFreeAt, now) + (chunk.length / rate) * 1000;
        setTimeout(() => callback(null, chunk), Math.max(0, linkFreeAt - now));
      },
    });

  /**
   * Sends `req` on to the registry (with `headers`), relays its answer to `res` (a `Location` on the registry's
   * origin pointing back at the gate), and resolves with its status: 502 when the registry could not be reached.
   * `send` writes the request's body into the upstream request.
   */
  const relay = (
    req: IncomingMessage,
    res: ServerResponse,
    headers: OutgoingHttpHeaders,
    send: (upstream: ClientRequest) => void,
  ): Promise<number> =>
    new Promise((resolve) => {
      const upstream = httpRequest(
        { hostname: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, headers, agent },
        (answer) => {
          const answerHeaders = { ...answer.headers };
          const location = answerHeaders.location;
          if (typeof location === 'string' && location.startsWith(targetUrl.origin))
            answerHeaders.location = gateOrigin + location.slice(targetUrl.origin.length);
          res.writeHead(answer.statusCode ?? 502, answerHeaders);
          answer.pipe(res);
          resolve(answer.statusCode ?? 502);
        },
      );
      upstream.once('error', () => {
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
        resolve(502);
      });
      send(upstream);
    });

  /** Forwards a request whose body was read (manifests: small, and looked at). */
  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<number> =>
    relay(req, res, { ...upstreamHeaders(req.headers, targetUrl), 'content-length': String(body.length) }, (up) =>
      up.end(body),
    );

  /** Forwards a request as it streams (blobs of gigabytes are never held), at the upload rate when one is set. */
  const forwardStreaming = (req: IncomingMessage, res: ServerResponse): Promise<number> =>
    relay(req, res, upstreamHeaders(req.headers, targetUrl), (upstream) => {
      req.once('error', () => upstream.destroy());
      const upload = (req.method === 'PATCH' || req.method === 'PUT') && /\/blobs\/uploads\//.test(req.url ?? '');
      if (uploadRate !== undefined && upload) req.pipe(throttle()).pipe(upstream);
      else req.pipe(upstream);
    });

  const server = await listenOnLoopback(async (req, res) => {
    if (faultRate > 0 && random() < faultRate) {
      faults += 1;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'chaos: injected 503' }] }));
      return;
    }
    const api = gatedApiOf(req.method, req.url ?? '');
    if (api !== undefined && !withinQuota(api)) {
      req.resume();
      res.writeHead(429, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: `Rate exceeded (${api})` }] }));
      return;
    }
    const match = MANIFEST_PATH.exec(req.url ?? '');
    if (match === null) {
      // Blobs and the rest stream through (a blob of gigabytes is never held in memory).
      await forwardStreaming(req, res);
      return;
    }
    const body = await readBody(req);
    const reference = match?.[2] ?? '';
    const isTagWrite =
      match !== null && (req.method === 'PUT' || req.method === 'DELETE') && !reference.startsWith('sha256:');
    if (!isTagWrite) {
      await forward(req, res, body);
      return;
    }
    const write: TagWrite = {
      method: req.method as 'PUT' | 'DELETE',
      repository: match[1] as string,
      tag: reference,
      ...(req.method === 'PUT' ? { digest: `sha256:${createHash('sha256').update(body).digest('hex')}` } : {}),
      receivedAt: Date.now(),
      outcome: 'pending',
    };
    tagWrites.push(write);
    let clientGone = false;
    res.once('close', () => {
      if (!res.writableFinished) clientGone = true;
    });
    for (const hold of holds.filter((h) => h.match(write))) {
      hold.onHeld(write);
      await hold.released;
    }
    if (clientGone || req.socket.destroyed) {
      write.outcome = 'dropped';
      res.destroy();
      return;
    }
    write.forwardedAt = Date.now();
    write.status = await forward(req, res, body);
    write.outcome = 'forwarded';
  });
  const gateOrigin = server.url;

  return {
    url: server.url,
    host: server.host,
    tagWrites,
    hold(match) {
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      let onHeld: (w: TagWrite) => void = () => undefined;
      const firstHeld = new Promise<TagWrite>((resolve) => (onHeld = resolve));
      const entry = { match, released, onHeld: (w: TagWrite) => onHeld(w), release: () => release() };
      holds.push(entry);
      return {
        firstHeld,
        release: () => {
          holds.splice(holds.indexOf(entry), 1);
          release();
        },
      };
    },
    setFaultRate(rate, rng = Math.random) {
      faultRate = rate;
      random = rng;
    },
    get faults() {
      return faults;
    },
    setQuotas(next) {
      quotas = next;
      buckets.clear();
    },
    quotaCalls,
    throttled,
    setBlobUploadRate(bytesPerSecond) {
      uploadRate = bytesPerSecond;
    },
    async stop() {
      for (const hold of holds.splice(0)) hold.release();
      await server.close();
      agent.destroy();
    },
  };
}
