/**
 * A bearer-token front like Docker Hub's or ECR Public's: a token server that trades Basic
 * credentials for opaque scoped tokens, and a front proxy that demands them and forwards
 * authorised requests to an unauthenticated registry.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import {
  downstreamHeaders,
  drain,
  forwardUpstream,
  listenOnLoopback,
  respond,
  upstreamAgent,
  upstreamHeaders,
} from './http-forward';

/** The `service` the token server names and expects. */
export const BEARER_SERVICE = 'harness-registry';

/** Options of `startBearerFront`. */
export interface BearerFrontOptions {
  username: string;
  password: string;
  /** Token lifetime (default 300 s). */
  tokenTtlSeconds?: number;
}

/** One request to the token server. */
export interface TokenRequest {
  service?: string;
  scopes: string[];
  /** The Basic user name offered, if any. */
  account?: string;
  granted: boolean;
}

/** One request to the front proxy. */
export interface FrontRequest {
  method: string;
  url: string;
  /** The Authorization header received, if any. */
  authorization?: string;
  status: number;
}

/** A running token server and front proxy. */
export interface BearerFront {
  /** The registry front: `http://127.0.0.1:PORT`. */
  url: string;
  /** `127.0.0.1:PORT` of the front. */
  host: string;
  /** `http://127.0.0.1:TOKENPORT/token` (the realm). */
  tokenUrl: string;
  service: string;
  /** Tokens issued so far. */
  readonly tokensIssued: number;
  readonly tokenRequests: TokenRequest[];
  readonly requests: FrontRequest[];
  clearRequests(): void;
  /** Makes every token issued so far invalid (clients must fetch a new one after the 401). */
  expireAllTokens(): void;
  stop(): Promise<void>;
}

/** What a token allows: repository → actions. */
type Grants = Map<string, Set<string>>;

/** A `repository:<name>:<actions>` scope needed by a request. */
interface NeededScope {
  repository: string;
  actions: string[];
}

/** Splits `repository:name:pull,push` scopes (one query value may hold several, space-separated). */
function parseScopes(values: string[]): Grants {
  const grants: Grants = new Map();
  for (const scope of values.flatMap((v) => v.split(' ')).filter(Boolean)) {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (first < 0 || last <= first || scope.slice(0, first) !== 'repository') continue;
    const repository = scope.slice(first + 1, last);
    const actions = grants.get(repository) ?? new Set<string>();
    for (const action of scope.slice(last + 1).split(',')) if (action) actions.add(action);
    grants.set(repository, actions);
  }
  return grants;
}

/** The repository scopes a registry request needs; [] for `/v2/` (any valid token will do). */
export function scopesNeeded(method: string, url: string): NeededScope[] {
  const parsed = new URL(url, 'http://x');
  const m = /^\/v2\/(.+)\/(manifests\/[^/]+|blobs\/uploads\/.*|blobs\/[^/]+|tags\/list|referrers\/[^/]+)$/.exec(
    parsed.pathname,
  );
  if (!m?.[1]) return [];
  const write = method !== 'GET' && method !== 'HEAD';
  const needed: NeededScope[] = [{ repository: m[1], actions: write ? ['pull', 'push'] : ['pull'] }];
  const from = parsed.searchParams.get('from');
  if (write && parsed.searchParams.has('mount') && from) needed.push({ repository: from, actions: ['pull'] });
  return needed;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The Basic credentials of a request, if well formed. */
function basicCredentials(req: IncomingMessage): { username: string; password: string } | undefined {
  const m = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString();
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Starts a token server and, on another port, a bearer-protected front for `target`. */
export async function startBearerFront(target: { url: string }, options: BearerFrontOptions): Promise<BearerFront> {
  const targetUrl = new URL(target.url);
  const ttl = options.tokenTtlSeconds ?? 300;
  const tokens = new Map<string, { grants: Grants; expiresAt: number }>();
  const tokenRequests: TokenRequest[] = [];
  const requests: FrontRequest[] = [];
  let tokensIssued = 0;
  const agent = upstreamAgent();

  const tokenServer = await listenOnLoopback(async (req, res) => {
    await drain(req);
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'GET' || url.pathname !== '/token') {
      respond(res, 404, { 'content-type': 'text/plain' }, 'not found');
      return;
    }
    const credentials = basicCredentials(req);
    const service = url.searchParams.get('service') ?? undefined;
    const scopes = url.searchParams.getAll('scope');
    const granted =
      credentials !== undefined &&
      safeEqual(credentials.username, options.username) &&
      safeEqual(credentials.password, options.password);
    tokenRequests.push({
      ...(service !== undefined ? { service } : {}),
      scopes,
      ...(credentials ? { account: credentials.username } : {}),
      granted,
    });
    if (!granted) {
      respond(
        res,
        401,
        { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="harness-token"' },
        JSON.stringify({ details: 'incorrect username or password' }),
      );
      return;
    }
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, { grants: parseScopes(scopes), expiresAt: Date.now() + ttl * 1000 });
    tokensIssued++;
    respond(
      res,
      200,
      { 'content-type': 'application/json' },
      JSON.stringify({ token, access_token: token, expires_in: ttl, issued_at: new Date().toISOString() }),
    );
  });
  const realm = `${tokenServer.url}/token`;

  /** 401 with a Bearer challenge for the scopes needed. */
  const challenge = (res: ServerResponse, needed: NeededScope[], error?: string): void => {
    let value = `Bearer realm="${realm}",service="${BEARER_SERVICE}"`;
    if (needed.length > 0)
      value += `,scope="${needed.map((s) => `repository:${s.repository}:${s.actions.join(',')}`).join(' ')}"`;
    if (error) value += `,error="${error}"`;
    respond(
      res,
      401,
      {
        'content-type': 'application/json; charset=utf-8',
        'docker-distribution-api-version': 'registry/2.0',
        'www-authenticate': value,
      },
      JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: needed }] }),
    );
  };

  let frontOrigin = '';
  const front = await listenOnLoopback(async (req, res) => {
    const method = req.method ?? 'GET';
    const record: FrontRequest = { method, url: req.url ?? '/', status: 0 };
    if (req.headers.authorization !== undefined) record.authorization = req.headers.authorization;
    requests.push(record);
    const needed = scopesNeeded(method, req.url ?? '/');
    const presented = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const token = presented !== undefined ? tokens.get(presented) : undefined;
    let error: string | undefined;
    if (presented !== undefined) {
      if (!token || token.expiresAt <= Date.now()) error = 'invalid_token';
      else if (!needed.every((s) => s.actions.every((a) => token.grants.get(s.repository)?.has(a))))
        error = 'insufficient_scope';
    }
    if (presented === undefined || error) {
      await drain(req);
      record.status = 401;
      challenge(res, needed, error);
      return;
    }
    const upstream = await forwardUpstream(req, targetUrl, agent, {
      headers: upstreamHeaders(req.headers, targetUrl, ['authorization']),
    });
    record.status = upstream.statusCode ?? 502;
    res.writeHead(record.status, downstreamHeaders(upstream, targetUrl.origin, frontOrigin));
    pipeline(upstream, res, () => undefined);
  });
  frontOrigin = front.url;

  return {
    url: front.url,
    host: front.host,
    tokenUrl: realm,
    service: BEARER_SERVICE,
    get tokensIssued() {
      return tokensIssued;
    },
    tokenRequests,
    requests,
    clearRequests: () => {
      requests.length = 0;
      tokenRequests.length = 0;
    },
    expireAllTokens: () => {
      for (const entry of tokens.values()) entry.expiresAt = 0;
    },
    stop: async () => {
      await Promise.all([front.close(), tokenServer.close()]);
      agent.destroy();
    },
  };
}
