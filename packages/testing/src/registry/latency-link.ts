/**
 * A slow network link in front of a registry: a TCP relay that holds every
 * byte for `latencyMs` in each direction, as a long-distance link does, and
 * logs the HTTP requests crossing it.
 *
 * Unlike the fault proxy (an HTTP proxy, which parses and re-sends every
 * message), it relays bytes untouched, at a fraction of the proxy's CPU, so
 * that on a small machine a benchmark through it is not bound by the relay.
 * Each request head reaches the registry `latencyMs` after it was sent and
 * each response head comes back `latencyMs` later; bodies stream through
 * with the same delay. Connection set-up is not delayed (as with the fault
 * proxy).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** One request that crossed the link. */
export interface LinkRequest {
  method: string;
  /** Path and query. */
  url: string;
  /** Final status (undefined while unanswered or when the connection ended first). */
  status?: number;
  /** performance.now() when the request head reached the link. */
  sentAt: number;
  /** performance.now() when the response head left the link towards the client. */
  answeredAt?: number;
}

export interface LatencyLink {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT` */
  host: string;
  /** Delay each way; can be changed at any time (applies to bytes arriving after). */
  latencyMs: number;
  /** Every request seen, oldest first. */
  readonly requests: LinkRequest[];
  clearRequests(): void;
  stop(): Promise<void>;
}

/**
 * Bytes queued in one direction while the receiver is not accepting, before
 * the sender is paused (the receiver's backpressure crossing the link).
 */
const HIGH_WATER = 4 * 1024 * 1024;
/**
 * Bytes in flight in one direction before the sender is paused whatever the
 * receiver does: a bandwidth of HARD_LIMIT / latency (2.6 GB/s at 25 ms),
 * far above what a local registry serves, so the link adds latency, not a
 * bandwidth cap.
 */
const HARD_LIMIT = 64 * 1024 * 1024;
/** Longest message head (or chunk-size line) followed; past it the connection is relayed without logging. */
const MAX_HEAD = 64 * 1024;

/** How the body after a message head ends. */
export type BodyFraming = { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'until-close' };

/**
 * Follows the HTTP/1.1 message boundaries of one direction of a connection,
 * from its bytes, without buffering bodies: it reports each head and skips
 * its body (Content-Length, chunked, or to the end of the connection).
 */
export class MessageBoundaries {
  private state: 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer' | 'until-close' | 'lost' =
    'head';
  private pending: Buffer = Buffer.alloc(0);
  private remaining = 0;

  /** `onHead` receives each head (start line and headers, latin1) and says how its body is framed. */
  constructor(private readonly onHead: (head: string) => BodyFraming) {}

  /** Whether a head or line was too long to follow: boundaries are no longer known. */
  get lost(): boolean {
    return this.state === 'lost';
  }

  feed(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && this.state !== 'lost' && this.state !== 'until-close') {
      switch (this.state) {
        case 'head': {
          const found = this.takeUntil(chunk, at, '\r\n\r\n');
          if (found === undefined) return;
          at = found.next;
          this.startBody(this.onHead(found.text));
          break;
        }
        case 'length': {
          const take = Math.min(this.remaining, chunk.length - at);
          this.remaining -= take;
          at += take;
          if (this.remaining === 0) this.state = 'head';
          break;
        }
        case 'chunk-size': {
          const found = this.takeUntil(chunk, at, '\r\n');
          if (found === undefined) return;
          at = found.next;
          const size = Number.parseInt(found.text.split(';')[0]?.trim() ?? '', 16);
          if (!Number.isFinite(size) || size < 0) {
            this.state = 'lost';
            return;
          }
          this.remaining = size;
          this.state = size === 0 ? 'trailer' : 'chunk-data';
          break;
        }
        case 'chunk-data': {
          const take = Math.min(this.remaining, chunk.length - at);
          this.remaining -= take;
          at += take;
          if (this.remaining === 0) {
            this.remaining = 2;
            this.state = 'chunk-end';
          }
          break;
        }
        case 'chunk-end': {
          const take = Math.min(this.remaining, chunk.length - at);
          this.remaining -= take;
          at += take;
          if (this.remaining === 0) this.state = 'chunk-size';
          break;
        }
        case 'trailer': {
          // Trailer lines until an empty one.
          const found = this.takeUntil(chunk, at, '\r\n');
          if (found === undefined) return;
          at = found.next;
          if (found.text === '') this.state = 'head';
          break;
        }
      }
    }
  }

  private startBody(framing: BodyFraming): void {
    if (framing.kind === 'chunked') {
      this.state = 'chunk-size';
    } else if (framing.kind === 'until-close') {
      this.state = 'until-close';
    } else {
      this.remaining = framing.length;
      this.state = framing.length > 0 ? 'length' : 'head';
    }
  }

  /** Text up to `delimiter` (which may span chunks) and where the rest begins, or undefined when not there yet. */
  private takeUntil(chunk: Buffer, from: number, delimiter: string): { text: string; next: number } | undefined {
    const before = this.pending.length;
    const joined = before === 0 ? chunk.subarray(from) : Buffer.concat([this.pending, chunk.subarray(from)]);
    const found = joined.indexOf(delimiter, Math.max(0, before - delimiter.length + 1), 'latin1');
    if (found < 0) {
      if (joined.length > MAX_HEAD) this.state = 'lost';
      else this.pending = Buffer.from(joined);
      return undefined;
    }
    this.pending = Buffer.alloc(0);
    return { text: joined.toString('latin1', 0, found), next: from + found + delimiter.length - before };
  }
}

/** A header's value from a head (first occurrence, case-insensitive), or undefined. */
function headerValue(head: string, name: string): string | undefined {
  const pattern = new RegExp(`\\r\\n${name}[ \\t]*:[ \\t]*([^\\r]*)`, 'i');
  return pattern.exec(head)?.[1]?.trim();
}

/**
 * How a message's body is framed: none for a bodyless answer, chunked,
 * Content-Length, else (for a response only) until the connection closes.
 */
function framingOf(head: string, message: 'request' | 'response', bodyless = false): BodyFraming {
  if (bodyless) return { kind: 'length', length: 0 };
  if (/chunked/i.test(headerValue(head, 'transfer-encoding') ?? '')) return { kind: 'chunked' };
  const length = headerValue(head, 'content-length');
  if (length !== undefined) return { kind: 'length', length: Number(length) || 0 };
  return message === 'request' ? { kind: 'length', length: 0 } : { kind: 'until-close' };
}

/**
 * Relays `from` to `to`, each chunk written `delay()` ms after it arrived,
 * pausing `from` while too much is queued; ends `to` after the last byte.
 * `onChunk` sees each chunk as it is written on.
 */
function relayDelayed(from: Socket, to: Socket, delay: () => number, onChunk?: (chunk: Buffer) => void): void {
  const queue: Array<{ due: number; chunk: Buffer }> = [];
  let queued = 0;
  let timer: NodeJS.Timeout | undefined;
  let blocked = false;
  let ended = false;

  const flush = (): void => {
    timer = undefined;
    const now = performance.now();
    while (!blocked && queue.length > 0 && (queue[0] as { due: number }).due <= now + 0.5) {
      const { chunk } = queue.shift() as { chunk: Buffer };
      queued -= chunk.length;
      onChunk?.(chunk);
      if (!to.write(chunk)) {
        blocked = true;
        to.once('drain', () => {
          blocked = false;
          flush();
        });
      }
    }
    if (blocked) {
      if (queued >= HIGH_WATER) from.pause();
      return;
    }
    if (queued < HARD_LIMIT && from.isPaused()) from.resume();
    const next = queue[0];
    if (next !== undefined) timer = setTimeout(flush, Math.max(0, next.due - now));
    else if (ended && !to.writableEnded) to.end();
  };

  from.on('data', (chunk: Buffer) => {
    queue.push({ due: performance.now() + delay(), chunk });
    queued += chunk.length;
    if (queued >= HARD_LIMIT || (blocked && queued >= HIGH_WATER)) from.pause();
    if (timer === undefined && !blocked)
      timer = setTimeout(flush, Math.max(0, (queue[0] as { due: number }).due - performance.now()));
  });
  from.on('end', () => {
    ended = true;
    if (timer === undefined && !blocked) flush();
  });
}

/** Starts a latency link to the registry at `target.url` (plain HTTP) on a free 127.0.0.1 port. */
export async function startLatencyLink(
  target: { url: string },
  options: { latencyMs?: number } = {},
): Promise<LatencyLink> {
  const upstream = new URL(target.url);
  const requests: LinkRequest[] = [];
  const sockets = new Set<Socket>();
  const link: LatencyLink = {
    url: '',
    host: '',
    latencyMs: options.latencyMs ?? 0,
    requests,
    clearRequests: () => {
      requests.length = 0;
    },
    stop: () => stopServer(server, sockets),
  };
  const delay = (): number => link.latencyMs;

  const server = createServer({ allowHalfOpen: true }, (client) => {
    const registry = connect({ host: upstream.hostname, port: Number(upstream.port || 80), allowHalfOpen: true });
    for (const socket of [client, registry]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        registry.destroy();
      });
    }
    // Requests of this connection awaiting their answer, oldest first (HTTP/1.1 answers in order).
    const open: LinkRequest[] = [];
    const outgoing = new MessageBoundaries((head) => {
      const line = head.split('\r\n', 1)[0] ?? '';
      const [method = '?', url = '?'] = line.split(' ');
      const request: LinkRequest = { method, url, sentAt: performance.now() };
      requests.push(request);
      open.push(request);
      return framingOf(head, 'request');
    });
    const incoming = new MessageBoundaries((head) => {
      const status = Number(head.slice(9, 12));
      // 1xx answers are interim (except 101, which ends HTTP on this connection).
      if (status >= 100 && status < 200 && status !== 101) return { kind: 'length', length: 0 };
      const request = open.shift();
      if (request !== undefined) {
        request.status = status;
        request.answeredAt = performance.now();
      }
      if (status === 101) return { kind: 'until-close' };
      return framingOf(head, 'response', request?.method === 'HEAD' || status === 204 || status === 304);
    });
    // A request is timed when it reaches the link, an answer when it leaves the link.
    client.on('data', (chunk: Buffer) => outgoing.lost || outgoing.feed(chunk));
    relayDelayed(client, registry, delay);
    relayDelayed(registry, client, delay, (chunk) => incoming.lost || incoming.feed(chunk));
  });
  // Requests are timed as they reach the link: feed the request parser on arrival, not when relayed.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('could not read the listening port');
  link.host = `127.0.0.1:${address.port}`;
  link.url = `http://${link.host}`;
  return link;
}

function stopServer(server: Server, sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const socket of sockets) socket.destroy();
  });
}
