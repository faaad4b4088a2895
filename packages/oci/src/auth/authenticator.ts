import { ErrorCode, ReplicationError } from '@ecr-replicate/common/core';

/** A user name and password (or an ECR token's `AWS` and password). */
export interface Credentials {
  username: string;
  password: string;
}

/** Resolves credentials when first needed; undefined means anonymous. */
export type CredentialSource = () => Promise<Credentials | undefined>;

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

const AUTH_PARAM = /^([\w.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))/;
const AUTH_SCHEME = /^([A-Za-z][\w.+-]*)/;

/**
 * Every challenge of WWW-Authenticate (one header or several, each possibly listing several challenges separated by
 * commas: `Bearer realm="...",service="...", Basic realm="..."`), schemes in lower case. A parameter belongs to the
 * challenge it follows, so one challenge's realm never overrides another's.
 */
export function parseChallenges(header: string | readonly string[] | undefined): Array<{
  scheme: string;
  params: Record<string, string>;
}> {
  const challenges: Array<{ scheme: string; params: Record<string, string> }> = [];
  for (const value of header === undefined ? [] : typeof header === 'string' ? [header] : header) {
    let current: { scheme: string; params: Record<string, string> } | undefined;
    let rest = value;
    for (;;) {
      rest = rest.replace(/^[\s,]+/, '');
      if (rest === '') break;
      const param = current === undefined ? null : AUTH_PARAM.exec(rest);
      if (param !== null && current !== undefined) {
        const quoted = param[2];
        current.params[(param[1] as string).toLowerCase()] =
          quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (param[3] as string);
        rest = rest.slice(param[0].length);
        continue;
      }
      const scheme = AUTH_SCHEME.exec(rest);
      if (scheme !== null) {
        current = { scheme: (scheme[1] as string).toLowerCase(), params: {} };
        challenges.push(current);
        rest = rest.slice(scheme[0].length);
        continue;
      }
      rest = rest.slice(1); // a character no grammar rule takes: skip it
    }
  }
  return challenges;
}

/**
 * The challenge to answer among those of a WWW-Authenticate header (`Bearer realm="...",service="...",scope="..."`):
 * Bearer when offered, else Basic; undefined when neither is.
 */
export function parseChallenge(header: string | readonly string[] | undefined): Challenge | undefined {
  const challenges = parseChallenges(header);
  for (const scheme of ['bearer', 'basic'] as const) {
    const found = challenges.find((c) => c.scheme === scheme);
    if (found !== undefined) return { scheme, params: found.params };
  }
  return undefined;
}

export function basicHeader(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/** Fetches a bearer token: GET realm?service=&scope= with Basic credentials when there are some. */
export type TokenFetcher = (
  url: string,
  authorization: string | undefined,
) => Promise<{ status: number; body: string }>;

/** A token fit for `Authorization: Bearer`: visible ASCII only (RFC 6750's b64token and opaque tokens alike). */
const TOKEN = /^[\x21-\x7e]+$/;

interface CachedToken {
  header: string;
  expiresAt: number;
}

/**
 * Authorization for one registry. Learns the scheme from the first challenge,
 * then authorizes every later request up front: Basic with the credentials,
 * Bearer with a token per scope, cached until shortly before it expires.
 */
export class Authenticator {
  private scheme: 'basic' | 'bearer' | 'none' | undefined;
  private bearer: Record<string, string> = {};
  /** Tokens per scope, in flight or cached, so concurrent requests share one token request. */
  private readonly tokens = new Map<string, Promise<CachedToken>>();
  private credentials: Promise<Credentials | undefined> | undefined;
  /** Whether a token realm may be plain HTTP: only for a registry that is plain HTTP itself. */
  private readonly plainHttpRealm: boolean;

  constructor(
    private readonly registry: string,
    private readonly source: CredentialSource,
    private readonly fetchToken: TokenFetcher,
    options: { basicUpFront?: boolean; plainHttpRealm?: boolean } = {},
  ) {
    if (options.basicUpFront) this.scheme = 'basic';
    this.plainHttpRealm = options.plainHttpRealm ?? false;
  }

  private resolveCredentials(): Promise<Credentials | undefined> {
    this.credentials ??= this.source().catch((error: unknown) => {
      this.credentials = undefined;
      throw error;
    });
    return this.credentials;
  }

  /** The Authorization header for a request in `scope`, when one is known without a round trip. */
  async headerFor(scope: string): Promise<string | undefined> {
    if (this.scheme === 'basic') {
      const credentials = await this.resolveCredentials();
      return credentials === undefined ? undefined : basicHeader(credentials);
    }
    if (this.scheme === 'bearer') return this.tokenFor(scope);
    return undefined;
  }

  /**
   * Handles a 401: learns the challenge, drops what was cached for `scope`
   * and returns a fresh header. Throws AUTH_FAILED when there is nothing to offer.
   */
  async onUnauthorized(
    wwwAuthenticate: string | readonly string[] | undefined,
    scope: string,
    rejected: string | undefined,
  ): Promise<string> {
    const challenge = parseChallenge(wwwAuthenticate);
    if (challenge === undefined) {
      throw new ReplicationError(
        ErrorCode.AuthFailed,
        `${this.registry} answered 401 without a usable WWW-Authenticate challenge`,
        {
          details: { registry: this.registry },
        },
      );
    }
    if (challenge.scheme === 'basic') {
      this.scheme = 'basic';
      const credentials = await this.resolveCredentials();
      if (credentials === undefined) throw this.missingCredentials();
      const header = basicHeader(credentials);
      if (header === rejected) {
        throw new ReplicationError(ErrorCode.AuthFailed, `${this.registry} rejected the credentials`, {
          details: { registry: this.registry },
        });
      }
      return header;
    }
    this.scheme = 'bearer';
    this.bearer = challenge.params;
    const pending = this.tokens.get(scope);
    if (pending !== undefined) {
      // Another request may have refreshed the token already: only drop the one that was rejected.
      const current = await pending.catch(() => undefined);
      if (current !== undefined && current.header !== rejected && current.expiresAt > Date.now()) return current.header;
      if (this.tokens.get(scope) === pending) this.tokens.delete(scope);
    }
    return this.tokenFor(scope);
  }

  /** Forget everything (after credentials were rejected). */
  reset(): void {
    this.tokens.clear();
    this.credentials = undefined;
  }

  private missingCredentials(): ReplicationError {
    return new ReplicationError(ErrorCode.AuthFailed, `${this.registry} requires credentials and none were given`, {
      details: { registry: this.registry },
    });
  }

  private async tokenFor(scope: string): Promise<string> {
    let pending = this.tokens.get(scope);
    if (pending !== undefined) {
      const cached = await pending.catch(() => undefined);
      if (cached !== undefined && cached.expiresAt > Date.now()) return cached.header;
      if (this.tokens.get(scope) === pending) this.tokens.delete(scope);
    }
    pending = this.tokens.get(scope);
    if (pending === undefined) {
      pending = this.requestToken(scope);
      this.tokens.set(scope, pending);
      pending.catch(() => this.tokens.delete(scope));
    }
    return (await pending).header;
  }

  private async requestToken(scope: string): Promise<CachedToken> {
    const realm = this.bearer.realm;
    if (realm === undefined) {
      throw new ReplicationError(ErrorCode.AuthFailed, `${this.registry} sent a Bearer challenge without a realm`, {});
    }
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new ReplicationError(ErrorCode.AuthFailed, `${this.registry} sent a token realm that is not a URL`, {});
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.plainHttpRealm)) {
      // Credentials over plain HTTP (or stranger schemes) would travel in clear text to whoever the challenge names.
      throw new ReplicationError(
        ErrorCode.AuthFailed,
        `${this.registry} named a token service over ${url.protocol.replace(':', '')} (${url.host}): credentials go only to an HTTPS realm`,
        { details: { registry: this.registry, realmHost: url.host } },
      );
    }
    if (this.bearer.service !== undefined) url.searchParams.set('service', this.bearer.service);
    for (const s of scope.split(' ')) if (s !== '') url.searchParams.append('scope', s);
    const credentials = await this.resolveCredentials();
    const response = await this.fetchToken(url.toString(), credentials ? basicHeader(credentials) : undefined);
    if (response.status === 401 || response.status === 403) {
      throw new ReplicationError(
        ErrorCode.AuthFailed,
        credentials
          ? `the token service of ${this.registry} rejected the credentials (${response.status})`
          : `${this.registry} requires credentials and none were given`,
        { details: { registry: this.registry, status: response.status } },
      );
    }
    if (response.status !== 200) {
      throw new ReplicationError(
        ErrorCode.AuthUnavailable,
        `the token service of ${this.registry} answered ${response.status}`,
        {
          details: { registry: this.registry, status: response.status },
        },
      );
    }
    let token: string | undefined;
    let expiresIn = 60;
    try {
      const body = JSON.parse(response.body) as { token?: unknown; access_token?: unknown; expires_in?: unknown };
      token =
        typeof body.token === 'string'
          ? body.token
          : typeof body.access_token === 'string'
            ? body.access_token
            : undefined;
      if (typeof body.expires_in === 'number' && body.expires_in > 0) expiresIn = body.expires_in;
    } catch {
      token = undefined;
    }
    if (token === undefined) {
      throw new ReplicationError(ErrorCode.AuthFailed, `the token service of ${this.registry} returned no token`, {});
    }
    if (!TOKEN.test(token)) {
      // Control characters or line breaks would make an invalid (or a forged) header: refuse the token itself.
      throw new ReplicationError(
        ErrorCode.AuthFailed,
        `the token service of ${this.registry} returned a token that cannot be sent in a header (${token.length} characters, not all printable)`,
        {},
      );
    }
    // Renew a little early so a token never expires in flight.
    return { header: `Bearer ${token}`, expiresAt: Date.now() + Math.max(1, expiresIn - 10) * 1000 };
  }
}
