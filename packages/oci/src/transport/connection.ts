import { rootCertificates } from 'node:tls';
import type { Socket } from 'node:net';
import { Agent, buildConnector, loadEnvHttpProxyAgent, type Connector, type Dispatcher } from './undici';
import { takePreconnected } from './preconnect';
import { maskSecretsInText } from '@ecr-replicate/common/core';

/**
 * How the registry client reaches a registry: through a proxy or not, which certificate authorities it trusts, and
 * whether it checks the registry's certificate at all. Builds the undici dispatcher the client sends through; the
 * client itself knows nothing of proxies or certificates.
 */
export interface ConnectionSettings {
  /**
   * Proxies as in the environment variables of the same names: `httpProxy` for `http://` registries, `httpsProxy`
   * for `https://` ones (tunnelled with CONNECT), `noProxy` a comma-separated list of hosts, domains (`.corp`,
   * `corp`), `host:port` and `*` reached directly. Absent: no proxy (the process environment is not read here).
   */
  proxy?: { httpProxy?: string; httpsProxy?: string; noProxy?: string };
  /** PEM certificates of authorities trusted besides Node's own (and NODE_EXTRA_CA_CERTS). */
  ca?: readonly string[];
  /** `false` turns certificate verification off. Never the default; the command says so loudly. */
  tlsVerify?: boolean;
  /** Called once per request with its outcome, for a request trace (`--debug`). */
  trace?: (record: RequestTrace) => void;
}

/** One request as a trace shows it. The URL is credential-free; headers are never included. */
export interface RequestTrace {
  method: string;
  url: string;
  /** The status code, or undefined when no answer came (then `error` says why). */
  status?: number;
  milliseconds: number;
  error?: string;
  /** Whether the request carried an Authorization header (its value is never shown). */
  authorization?: string;
}

/** The pool options the registry client asks for. */
export interface PoolOptions {
  connections: number;
  keepAliveTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
  connectTimeout: number;
}

/** Query keys whose values are secrets: S3's and GCS's signatures and tokens, Azure SAS's `sig`. */
const SECRET_QUERY_KEY = /signature|credential|token|password|secret|key|^sig$/i;

/**
 * The URL with every secret-looking query value replaced by `***` (S3, GCS and Azure redirects carry signatures),
 * and then masked as any text is (`maskSecretsInText`), so a trace never shows what an error would not.
 */
export function maskedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    for (const key of [...parsed.searchParams.keys()])
      if (SECRET_QUERY_KEY.test(key)) parsed.searchParams.set(key, '***');
    return maskSecretsInText(parsed.toString().replace(/%2A%2A%2A/g, '***'));
  } catch {
    return '(unparseable URL)';
  }
}

/** The scheme of an Authorization header value (`Basic`, `Bearer`), never its credentials. */
function authorizationScheme(headers: Dispatcher.DispatchOptions['headers']): string | undefined {
  let value: unknown;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2)
      if (String(headers[i]).toLowerCase() === 'authorization') value = headers[i + 1];
  } else if (headers !== null && typeof headers === 'object') {
    for (const [key, v] of Object.entries(headers as Record<string, unknown>))
      if (key.toLowerCase() === 'authorization') value = v;
  }
  return typeof value === 'string' ? `${value.split(' ')[0]} ***` : undefined;
}

/** Wraps a dispatch handler so that the trace sees the status (or the error) of the request it carries. */
function tracingHandler(
  handler: Dispatcher.DispatchHandler,
  done: (status: number | undefined, error?: Error) => void,
): Dispatcher.DispatchHandler {
  let reported = false;
  const report = (status: number | undefined, error?: Error): void => {
    if (reported) return;
    reported = true;
    done(status, error);
  };
  return new Proxy(handler, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (property === 'onHeaders')
        return (status: number, ...rest: unknown[]) => {
          report(status);
          return (value as (...args: unknown[]) => unknown).call(target, status, ...rest);
        };
      if (property === 'onResponseStart')
        return (controller: unknown, status: number, ...rest: unknown[]) => {
          report(status);
          return (value as (...args: unknown[]) => unknown).call(target, controller, status, ...rest);
        };
      if (property === 'onError' || property === 'onResponseError')
        return (...args: unknown[]) => {
          const error = args.find((a) => a instanceof Error) as Error | undefined;
          report(undefined, error);
          return (value as (...args: unknown[]) => unknown).apply(target, args);
        };
      return (value as (...args: unknown[]) => unknown).bind(target);
    },
  });
}

function tracing(trace: NonNullable<ConnectionSettings['trace']>): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    const started = performance.now();
    const url = maskedUrl(`${String(options.origin ?? '')}${options.path}`);
    const authorization = authorizationScheme(options.headers);
    return dispatch(
      options,
      tracingHandler(handler, (status, error) =>
        trace({
          method: options.method,
          url,
          ...(status !== undefined ? { status } : {}),
          milliseconds: Math.round(performance.now() - started),
          ...(error !== undefined ? { error: error.message } : {}),
          ...(authorization !== undefined ? { authorization } : {}),
        }),
      ),
    );
  };
}

/**
 * undici's connector, taking a connection opened ahead of time to the same host and port first (see preconnect.ts):
 * TLS, when the registry speaks it, is negotiated over that socket as over a new one. A plain socket still
 * connecting is handed over once connected; when it fails, or does not connect within the connect timeout, a new
 * connection is made as usual.
 */
function preconnectedFirst(options: { timeout: number }): Connector {
  const connectNew = buildConnector(options);
  return (target: Parameters<Connector>[0], callback: Parameters<Connector>[1]) => {
    const port = Number(target.port) || (target.protocol === 'https:' ? 443 : 80);
    const early = takePreconnected(target.hostname, port);
    if (early === undefined) return connectNew(target, callback);
    if (target.protocol === 'https:') return connectNew({ ...target, httpSocket: early }, callback);
    // undici expects the answer later, never from inside this call (as its own connector answers on 'connect').
    if (!early.connecting) {
      process.nextTick(() => callback(null, early));
      return early;
    }
    const settle = (socket: Socket | undefined): void => {
      clearTimeout(timer);
      early.off('connect', onConnect).off('error', onError);
      if (socket !== undefined) callback(null, socket);
      else {
        early.destroy();
        connectNew(target, callback);
      }
    };
    const onConnect = (): void => settle(early);
    const onError = (): void => settle(undefined);
    const timer = setTimeout(onError, options.timeout);
    early.once('connect', onConnect).once('error', onError);
    return early;
  };
}

/** A dispatcher that can be closed (an Agent, a proxy agent, or either behind an interceptor). */
export type ClosableDispatcher = Dispatcher;

/**
 * The dispatcher for one registry client: a keep-alive pool, through the proxy the settings name (unless the host
 * is in `noProxy`), trusting Node's authorities plus `ca`, with the request trace when asked.
 */
export function createDispatcher(pool: PoolOptions, settings: ConnectionSettings = {}): ClosableDispatcher {
  const tls: { ca?: string[]; rejectUnauthorized?: boolean } = {};
  // Node's `ca` option replaces its trust store: keep the public authorities beside the private ones.
  if (settings.ca !== undefined && settings.ca.length > 0) tls.ca = [...rootCertificates, ...settings.ca];
  if (settings.tlsVerify === false) tls.rejectUnauthorized = false;
  const connect = { timeout: pool.connectTimeout, ...tls };
  const agentOptions = {
    connections: pool.connections,
    keepAliveTimeout: pool.keepAliveTimeout,
    headersTimeout: pool.headersTimeout,
    bodyTimeout: pool.bodyTimeout,
    connect,
  };
  const proxy = settings.proxy;
  const proxied = proxy !== undefined && Boolean(proxy.httpProxy || proxy.httpsProxy);
  let dispatcher: Dispatcher;
  if (proxied) {
    const EnvHttpProxyAgent = loadEnvHttpProxyAgent();
    dispatcher = new EnvHttpProxyAgent({
      ...agentOptions,
      // '' rather than undefined: undici would read the process environment for an absent value.
      httpProxy: proxy.httpProxy ?? '',
      httpsProxy: proxy.httpsProxy ?? '',
      noProxy: proxy.noProxy ?? '',
      requestTls: connect,
    } as ConstructorParameters<typeof EnvHttpProxyAgent>[0]);
  } else {
    dispatcher = new Agent({ ...agentOptions, connect: preconnectedFirst(connect) });
  }
  return settings.trace === undefined ? dispatcher : dispatcher.compose(tracing(settings.trace));
}
