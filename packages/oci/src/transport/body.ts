import type { Readable } from 'node:stream';
import { ErrorCode, ReplicationError } from '@ecr-replicate/common/core';
import type { Dispatcher } from './undici';

/** Caps of the bodies the client reads whole: anything longer is destroyed at the cap. */
export const BODY_CAPS = {
  /** Error answers: enough for any registry's `{"errors":[...]}`. */
  error: 64 * 1024,
  /** Token service answers. */
  token: 64 * 1024,
  /** One page of a tag or repository listing. */
  listing: 16 * 1024 * 1024,
} as const;

/** Deadline of a whole small-body read (manifests, listings, tokens, errors): a drip-fed body fails by then. */
export const SMALL_BODY_DEADLINE_MS = 20_000;

/** A header's first value. */
export function header(response: Dispatcher.ResponseData, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Destroys a body nobody will read. The error listener comes first: undici's body emits an error
 * (`RequestAbortedError`) when destroyed unread, and an error event without a listener kills the process.
 */
export function discard(body: Readable): void {
  body.on('error', () => undefined);
  if (!body.destroyed) body.destroy();
}

/** Lets a body we do not need flow to its end on a kept-alive connection (bounded: destroyed past the error cap). */
export function drain(response: Dispatcher.ResponseData): void {
  const body = response.body;
  body.on('error', () => undefined);
  let seen = 0;
  body.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > BODY_CAPS.error) body.destroy();
  });
  body.resume();
}

export class BodyTooLargeError extends ReplicationError {
  constructor(
    readonly what: string,
    readonly limit: number,
    code: ErrorCode = ErrorCode.RegistryProtocol,
  ) {
    super(code, `${what}: the answer is over its ${limit}-byte limit; the read was stopped`, {
      details: { limit },
    });
  }
}

/**
 * Reads a body whole, up to `limit` bytes: a declared Content-Length over the limit fails before any read, a body
 * that grows past it is destroyed at the limit, and a read still going after `deadlineMs` is destroyed too.
 * `truncate` keeps the first `limit` bytes instead of failing (error bodies: their start is all we show).
 */
export async function readCapped(
  response: Dispatcher.ResponseData,
  limit: number,
  what: string,
  options: { truncate?: boolean; deadlineMs?: number; tooLarge?: (size: number) => Error } = {},
): Promise<Buffer> {
  const body = response.body;
  const fail = (size: number): Error => options.tooLarge?.(size) ?? new BodyTooLargeError(what, limit);
  const declared = Number(header(response, 'content-length'));
  if (Number.isFinite(declared) && declared > limit && !options.truncate) {
    discard(body);
    throw fail(declared);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const deadlineMs = options.deadlineMs ?? SMALL_BODY_DEADLINE_MS;
  const deadline = setTimeout(() => {
    body.destroy(
      new ReplicationError(ErrorCode.Network, `${what}: the answer did not arrive whole within ${deadlineMs} ms`),
    );
  }, deadlineMs);
  try {
    for await (const chunk of body) {
      const buffer = chunk as Buffer;
      if (size + buffer.length > limit) {
        discard(body);
        if (options.truncate) {
          chunks.push(buffer.subarray(0, limit - size));
          size = limit;
          break;
        }
        throw fail(size + buffer.length);
      }
      chunks.push(buffer);
      size += buffer.length;
    }
  } finally {
    clearTimeout(deadline);
  }
  return Buffer.concat(chunks, size);
}

/** Fewest bytes a streamed body must bring in each idle window while its reader waits for it (see failTrickle). */
export const TRICKLE_MIN_BYTES = 64 * 1024;
/** Share of a window its reader must have spent waiting for bytes for the window to be judged. */
const TRICKLE_WAITING_SHARE = 0.9;

/**
 * Fails a streamed body that trickles. undici's idle deadline restarts on every chunk, so a byte a second keeps a
 * blob open for ever. Here, every `windowMs`, a body that brought fewer than `minBytes` while its reader spent the
 * window waiting for bytes (it had asked for more and none had come) is destroyed with an error naming `what`.
 * Only the reader's waiting counts: a reader that holds the body back (a slow destination, an upload not started
 * yet) asks for nothing, and a body that arrived whole is never judged again.
 */
export function failTrickle(body: Readable, what: string, windowMs: number, minBytes = TRICKLE_MIN_BYTES): void {
  let received = 0;
  /** Since when the reader has been waiting for bytes (undefined: it is not). */
  let waitingSince: number | undefined;
  /** Time the reader waited in this window, not counting the wait still going on. */
  let waited = 0;
  let windowStart = performance.now();
  let settled = false;
  const timer = setInterval(() => {
    const now = performance.now();
    const judged = received;
    const waiting = waited + (waitingSince === undefined ? 0 : now - Math.max(waitingSince, windowStart));
    received = 0;
    waited = 0;
    windowStart = now;
    if (judged >= minBytes || waiting < windowMs * TRICKLE_WAITING_SHARE || body.destroyed) return;
    // Timers run before sockets are read: when this process was too busy to read during the window (a starved event
    // loop, not a slow source), the source's bytes are waiting. Judge after they are read: bytes arriving at once
    // mean the source was sending and this process was the slow one.
    setImmediate(() => {
      if (settled || body.destroyed || received > 0) return;
      body.destroy(
        new ReplicationError(
          ErrorCode.Network,
          `${what}: the answer trickled (${judged} bytes in ${windowMs} ms, fewer than ${minBytes}); not tried again`,
          { retryable: true, details: { received: judged, windowMs, minBytes } },
        ),
      );
    });
  }, windowMs);
  timer.unref();
  const stop = (): void => {
    settled = true;
    clearInterval(timer);
  };
  // The reader asks for bytes through _read; a pushed chunk answers it.
  const read = body._read.bind(body);
  body._read = (size: number): void => {
    waitingSince ??= performance.now();
    read(size);
  };
  const push = body.push.bind(body);
  body.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (chunk === null)
      stop(); // all of it arrived: whenever it is read, nothing more is awaited
    else if (chunk !== undefined) received += (chunk as Buffer).length;
    if (waitingSince !== undefined) {
      waited += performance.now() - Math.max(waitingSince, windowStart);
      waitingSince = undefined;
    }
    return push(chunk, encoding);
  };
  body.once('close', stop);
  body.once('end', stop);
  body.once('error', stop);
}
