import type { Readable } from 'node:stream';
import { ErrorCode, ReplicationError, safeText } from '@ecr-replicate/common/core';
import { request, type Dispatcher } from './undici';
import { createDispatcher, type ConnectionSettings } from './connection';
import {
  DEFAULT_REQUEST_RETRY_POLICY,
  TransientError,
  classifyNetworkError,
  parseRetryAfter,
  withRequestRetries,
  type RequestRetryNotice,
  type RequestRetryPolicy,
} from './request-retry';
import { Authenticator, type CredentialSource } from '../auth/authenticator';
import { RegistryHttpError, credentialFreeUrl, parseRegistryErrorBody } from './registry-http-error';
import { BODY_CAPS, discard, drain, header, readCapped } from './body';
import { sameOrigin } from './origin';

type Headers = Record<string, string>;
export type ResponseData = Dispatcher.ResponseData;
/** A response with the request it answers, for {@link RegistryHttpError}. */
export type SentResponse = ResponseData & { request: { method: string; url: string } };

/** Deadlines of one request (milliseconds). */
export interface TransportTimeouts {
  /** Connecting (TCP and TLS). */
  connect: number;
  /** From the request sent to the answer's headers. */
  headers: number;
  /** Longest silence inside a body (a blob may take long, but never stalls this long). */
  bodyIdle: number;
}

export const DEFAULT_TIMEOUTS: TransportTimeouts = { connect: 15_000, headers: 30_000, bodyIdle: 30_000 };

export interface TransportOptions {
  /** `host[:port]` as in an image reference. */
  host: string;
  credentials?: CredentialSource | undefined;
  plainHttp?: boolean | undefined;
  basicUpFront?: boolean | undefined;
  retry?: RequestRetryPolicy | undefined;
  connections?: number | undefined;
  timeouts?: Partial<TransportTimeouts> | undefined;
  onRetry?: ((notice: RequestRetryNotice & { what: string }) => void) | undefined;
  /** Proxy, trusted authorities, certificate verification and request trace (`connection.ts`). */
  connection?: ConnectionSettings | undefined;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/**
 * The transport of one registry: every request of the client goes through `send`. It owns the rules that keep
 * credentials where they belong and reads bounded:
 * - Authorization is attached only to URLs of the registry's own origin (scheme, host and port), so an upload
 *   location, a pagination link or a redirect elsewhere — another host, another port, plain HTTP — gets none;
 * - a 401 from the registry refreshes the authorization and replays once (a streamed body cannot be replayed);
 * - redirects are followed a bounded number of times, each hop judged by its own origin;
 * - a token realm must be HTTPS unless the registry itself is plain HTTP;
 * - unexpected answers become a {@link RegistryHttpError} with their text capped, masked and stripped of controls.
 */
export class RegistryTransport {
  readonly host: string;
  readonly baseUrl: string;
  readonly plainHttp: boolean;
  /** The longest silence inside a body; also the window in which a streamed body must bring its least bytes. */
  readonly bodyIdleMs: number;
  private readonly agent: Dispatcher;
  private readonly auth: Authenticator;
  private readonly retry: RequestRetryPolicy;
  private readonly onRetry: TransportOptions['onRetry'];

  constructor(options: TransportOptions) {
    this.host = options.host;
    this.plainHttp = options.plainHttp ?? false;
    this.baseUrl = new URL(`${this.plainHttp ? 'http' : 'https'}://${options.host}`).origin;
    this.retry = options.retry ?? DEFAULT_REQUEST_RETRY_POLICY;
    this.onRetry = options.onRetry;
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.bodyIdleMs = timeouts.bodyIdle;
    this.agent = createDispatcher(
      {
        connections: options.connections ?? 32,
        keepAliveTimeout: 30_000,
        headersTimeout: timeouts.headers,
        bodyTimeout: timeouts.bodyIdle,
        connectTimeout: timeouts.connect,
      },
      options.connection,
    );
    this.auth = new Authenticator(
      options.host,
      options.credentials ?? (async () => undefined),
      (url, authorization) => this.fetchToken(url, authorization),
      { basicUpFront: options.basicUpFront ?? false, plainHttpRealm: this.plainHttp },
    );
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** An absolute URL of the registry for a path (already encoded). */
  url(path: string): string {
    return new URL(path, this.baseUrl).toString();
  }

  /** Whether `url` is the registry's own origin: the only one its credentials go to. */
  owns(url: string): boolean {
    return sameOrigin(url, this.baseUrl);
  }

  retrying<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return withRequestRetries(what, this.retry, operation, (notice) => this.onRetry?.({ ...notice, what }));
  }

  private async fetchToken(url: string, authorization: string | undefined): Promise<{ status: number; body: string }> {
    const what = `token request to ${new URL(url).host}`;
    return this.retrying(what, async () => {
      const response = await request(url, {
        dispatcher: this.agent,
        method: 'GET',
        headers: authorization ? { authorization } : {},
      }).catch((error: unknown) => {
        throw classifyNetworkError(error, what);
      });
      if (response.statusCode === 429 || response.statusCode >= 500) {
        drain(response);
        throw new TransientError(ErrorCode.RegistryUnavailable, `token service answered ${response.statusCode}`, {
          retryAfterMs: parseRetryAfter(response.headers['retry-after']),
        });
      }
      const body = await readCapped(response, BODY_CAPS.token, what);
      return { status: response.statusCode, body: body.toString('utf8') };
    });
  }

  /**
   * Sends one request. To the registry's origin it goes with authorization, and a 401 refreshes the authorization
   * and resends once when the body can be sent again (a streamed body cannot: the 401 becomes a transient error for
   * the caller's retry to start over). To another origin it goes bare, and its answer is returned as it is.
   */
  async send(options: {
    method: Dispatcher.HttpMethod;
    url: string;
    scope: string;
    what: string;
    headers?: Headers;
    body?: Buffer | Readable | null;
    /** Bounds a write: once aborted, the request is cancelled and fails, never retried. */
    signal?: AbortSignal;
  }): Promise<SentResponse> {
    const own = this.owns(options.url);
    const replayable = !(options.body !== undefined && options.body !== null && !Buffer.isBuffer(options.body));
    let authorization = own ? await this.auth.headerFor(options.scope) : undefined;
    for (let attempt = 0; ; attempt += 1) {
      const headers: Headers = { ...options.headers };
      if (authorization !== undefined) headers.authorization = authorization;
      let response: ResponseData;
      try {
        response = await request(options.url, {
          dispatcher: this.agent,
          method: options.method,
          headers,
          body: options.body ?? null,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
      } catch (error) {
        if (options.signal?.aborted) {
          throw new ReplicationError(
            ErrorCode.Network,
            `${options.what}: cancelled, not confirmed within its time bound`,
            {
              cause: error,
              details: { registry: this.host, bounded: true },
            },
          );
        }
        throw classifyNetworkError(error, options.what);
      }
      if (response.statusCode !== 401 || !own) {
        return Object.assign(response, { request: { method: options.method, url: credentialFreeUrl(options.url) } });
      }
      drain(response);
      const challenge = response.headers['www-authenticate'];
      if (attempt > 0) {
        this.auth.reset();
        throw new ReplicationError(
          ErrorCode.AuthFailed,
          `${options.what}: ${this.host} refused the credentials (401)`,
          {
            details: { registry: this.host },
          },
        );
      }
      const rejected = authorization;
      authorization = await this.auth.onUnauthorized(challenge, options.scope, rejected);
      if (!replayable) {
        throw new TransientError(
          ErrorCode.AuthUnavailable,
          `${options.what}: authorization expired during a streamed request`,
        );
      }
    }
  }

  /**
   * GET or HEAD following redirects (ECR sends blob GETs to S3; a mirror or a proxy may send manifest reads to its
   * origin). Each hop carries `headers`, and the registry's credentials only when it is the registry's own origin; a
   * redirect to another host, port or scheme (a downgrade to plain HTTP included) is followed bare.
   */
  async sendFollowing(
    method: 'GET' | 'HEAD',
    url: string,
    scope: string,
    what: string,
    headers?: Headers,
  ): Promise<SentResponse> {
    let target = url;
    const request = (): Promise<SentResponse> =>
      this.send({ method, url: target, scope, what, ...(headers === undefined ? {} : { headers }) });
    let response = await request();
    for (let hops = 0; REDIRECTS.has(response.statusCode); hops += 1) {
      const location = header(response, 'location');
      drain(response);
      if (hops >= MAX_REDIRECTS) {
        throw new ReplicationError(ErrorCode.RegistryProtocol, `${what}: more than ${MAX_REDIRECTS} redirects`);
      }
      if (location === undefined) {
        throw new ReplicationError(ErrorCode.RegistryProtocol, `${what}: redirect without a Location`);
      }
      let next: URL;
      try {
        next = new URL(location, target);
      } catch {
        throw new ReplicationError(
          ErrorCode.RegistryProtocol,
          `${what}: redirect to a Location that is not a URL ("${safeText(location).slice(0, 100)}")`,
        );
      }
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new ReplicationError(ErrorCode.RegistryProtocol, `${what}: redirect to a ${next.protocol} URL refused`);
      }
      target = next.toString();
      response = await request();
    }
    return response;
  }

  /** Maps a response that is not one of the expected statuses to the transport's typed error (its body is read). */
  async failure(response: SentResponse, what: string): Promise<RegistryHttpError> {
    const text = await readCapped(response, BODY_CAPS.error, what, { truncate: true, deadlineMs: 10_000 })
      .then((bytes) => bytes.toString('utf8'))
      .catch(() => '');
    const { codes: rawCodes, message: rawMessage } = parseRegistryErrorBody(text);
    const codes = rawCodes.map((c) => safeText(c).slice(0, 64));
    const message = rawMessage === undefined ? undefined : safeText(rawMessage).slice(0, 1024);
    const status = response.statusCode;
    const reason = [codes[0], message].filter((x) => x !== undefined).join(': ') || `status ${status}`;
    const fields = { registry: this.host, status, registryCodes: codes, ...response.request };
    if (status === 429 || status >= 500) {
      return new RegistryHttpError(`${what}: ${this.host} answered ${status} (${reason})`, {
        ...fields,
        retryAfterMs: parseRetryAfter(response.headers['retry-after']),
      });
    }
    if (status === 403) return new RegistryHttpError(`${what}: access denied by ${this.host} (${reason})`, fields);
    if (status === 404) return new RegistryHttpError(`${what}: not found (${reason})`, fields);
    const error = new RegistryHttpError(`${what}: ${this.host} answered ${status} (${reason})`, fields);
    if (error.code === ErrorCode.ImmutableTagConflict) {
      return new RegistryHttpError(`${what}: ${message ?? 'the tag is immutable'}`, fields);
    }
    if (error.code === ErrorCode.NotFound) {
      return new RegistryHttpError(
        `${what}: the registry is missing content the manifest refers to (${reason})`,
        fields,
      );
    }
    return error;
  }
}

export { discard, drain, header };
