import { ErrorCode, ReplicationError, safeText, toReplicationError } from '@ecr-replicate/common/core';
import { RegistryHttpError } from './registry-http-error';
import { isThrottle } from './pacing';

/** How hard to try a registry request before giving up. */
export interface RequestRetryPolicy {
  /** Total tries, the first included. */
  attempts: number;
  /** First backoff; doubles each retry, with full jitter. */
  baseDelayMs: number;
  /** Ceiling of one backoff and of an honoured Retry-After. */
  maxDelayMs: number;
  /**
   * Tries of a request the registry keeps refusing for its rate (429, ThrottlingException), counted apart from
   * `attempts`: throttling slows a copy down, it does not fail it while the registry is otherwise well (default 12).
   */
  throttledAttempts?: number;
}

export const DEFAULT_REQUEST_RETRY_POLICY: RequestRetryPolicy = {
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 20_000,
  throttledAttempts: 12,
};

/**
 * A failure worth another try: the registry was throttling or failing (429,
 * 5xx), or the connection broke. `retryAfterMs` carries a Retry-After header.
 */
export class TransientError extends ReplicationError {
  readonly retryAfterMs: number | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    options: { retryAfterMs?: number; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(code, message, { retryable: true, details: options.details ?? {}, cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Parses Retry-After: delta seconds or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * Deadlines that ran out: each already cost a whole deadline (connect, the answer's headers, silence inside a body),
 * so the request is not tried again at once (a server that accepts and never answers would otherwise hold a command
 * for a deadline per try). The failure stays retryable for whoever retries whole copies later.
 */
const DEADLINES: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'could not connect within the connect deadline',
  UND_ERR_HEADERS_TIMEOUT: 'no answer within the deadline for its headers',
  UND_ERR_BODY_TIMEOUT: 'the answer stopped arriving (silent past the body deadline)',
};

/**
 * Turns a low-level connection error into a TransientError, a deadline that ran out or an answer that is not valid
 * HTTP (undici's parser errors, `HPE_*`) into a ReplicationError naming the request; other errors pass through.
 */
export function classifyNetworkError(error: unknown, what: string): unknown {
  if (error instanceof ReplicationError) return error;
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && DEADLINES[code] !== undefined) {
    return new ReplicationError(ErrorCode.Network, `${what}: ${DEADLINES[code]} (${code}); not tried again`, {
      retryable: true,
      cause: error,
      details: { code, deadline: true },
    });
  }
  // undici names its parser's errors (its `code` is often unset: its table maps names to numbers, not back).
  if (
    (error as { name?: unknown })?.name === 'HTTPParserError' ||
    (typeof code === 'string' && code.startsWith('HPE_'))
  ) {
    const said = error instanceof Error ? error.message : String(error);
    const reason = safeText(said.replace(/^Response does not match the HTTP\/1\.1 protocol \((.*)\)$/s, '$1')).slice(
      0,
      200,
    );
    return new ReplicationError(ErrorCode.RegistryProtocol, `${what}: the answer is not valid HTTP/1.1 (${reason})`, {
      cause: error,
      ...(typeof code === 'string' ? { details: { code } } : {}),
    });
  }
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) {
    const message = error instanceof Error ? error.message : String(error);
    return new TransientError(ErrorCode.Network, `${what}: connection failed (${code}: ${message})`, {
      cause: error,
      details: { code },
    });
  }
  return error;
}

export interface RequestRetryNotice {
  attempt: number;
  delayMs: number;
  error: ReplicationError;
}

/**
 * Whether one request is worth sending again: a connection fault or a digest mismatch in flight
 * ({@link TransientError}), or a registry that throttled or failed (a transient {@link RegistryHttpError}).
 */
export function isTransient(error: unknown): error is TransientError | RegistryHttpError {
  return error instanceof TransientError || (error instanceof RegistryHttpError && error.transient);
}

/**
 * Runs `operation` until it succeeds, fails with a non-transient error, or
 * the policy's tries run out; the final error says how many tries were made.
 */
export async function withRequestRetries<T>(
  what: string,
  policy: RequestRetryPolicy,
  operation: (attempt: number) => Promise<T>,
  onRetry?: (notice: RequestRetryNotice) => void,
): Promise<T> {
  let failures = 0;
  let throttles = 0;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await operation(attempt);
    } catch (thrown) {
      const error = classifyNetworkError(thrown, what);
      if (!isTransient(error)) throw error;
      // A throttled try counts against its own budget; every other transient failure against `attempts`.
      if (error.retryAfterMs !== undefined && error.retryAfterMs > policy.maxDelayMs) {
        // The registry asks for a longer wait than any backoff here: waiting the ceiling and asking again is early by
        // its own word, and a far-future Retry-After would hold the command for every try. Stop now and say so.
        throw new ReplicationError(
          error.code,
          `${error.message}; the registry asked to wait ${Math.ceil(error.retryAfterMs / 1000)} s before another try (Retry-After), longer than the ${Math.ceil(policy.maxDelayMs / 1000)} s this client waits: stopped after ${attempt} ${attempt === 1 ? 'try' : 'tries'}`,
          {
            retryable: true,
            details: { ...error.details, tries: attempt, retryAfterMs: error.retryAfterMs },
            cause: error,
          },
        );
      }
      const throttled = isThrottle(error) && throttles < (policy.throttledAttempts ?? policy.attempts) - 1;
      if (throttled) throttles += 1;
      else failures += 1;
      if (!throttled && failures >= policy.attempts) {
        throw new ReplicationError(error.code, `${what} failed after ${attempt} tries: ${error.message}`, {
          retryable: true,
          details: { ...error.details, tries: attempt },
          cause: error,
        });
      }
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** ((throttled ? throttles : failures) - 1));
      const jittered = Math.random() * backoff;
      const delayMs = Math.min(policy.maxDelayMs, Math.max(jittered, error.retryAfterMs ?? 0));
      onRetry?.({ attempt, delayMs, error: toReplicationError(error) });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
