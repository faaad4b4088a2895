/**
 * The two parts of undici the registry client uses: its connection-pooling
 * `Agent` and its `request()` API.
 *
 * undici's index also loads fetch, WebSocket, EventSource, the cache and
 * cookie APIs and the mock agents, and they pull in Node's own bundled copy
 * of undici: about 110 ms and 9 MiB on every start of the command line, before
 * its first request. This module requires the two files it needs instead
 * (undici's version is pinned by the lockfile; a test checks the index stays out).
 */
import type { Agent as AgentClass, Dispatcher, EnvHttpProxyAgent, buildConnector as BuildConnector } from 'undici';

type RequestFunction = (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

/* eslint-disable @typescript-eslint/no-require-imports */
export const Agent = require('undici/lib/dispatcher/agent') as typeof AgentClass;
const dispatchRequest = require('undici/lib/api/api-request') as RequestFunction;
/** undici's default connector (TCP, or TLS over it), the one an Agent uses unless given another. */
export const buildConnector = require('undici/lib/core/connect') as typeof BuildConnector;
/* eslint-enable @typescript-eslint/no-require-imports */

export type Agent = AgentClass;
/** A connector as undici's Agent takes it (`connect` option). */
export type Connector = ReturnType<typeof BuildConnector>;
export type { Dispatcher };

/** undici's `request(url, options)` on an explicit dispatcher. */
export function request(
  url: string,
  options: Omit<Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher: Dispatcher },
): Promise<Dispatcher.ResponseData> {
  const target = new URL(url);
  const { dispatcher, ...rest } = options;
  return dispatchRequest.call(dispatcher, {
    ...rest,
    origin: target.origin,
    path: `${target.pathname}${target.search}`,
  });
}

/**
 * undici's `EnvHttpProxyAgent` (HTTP_PROXY, HTTPS_PROXY, NO_PROXY semantics), loaded only when a proxy is set:
 * it brings the proxy agent and its tunnel code, which a direct connection does not need.
 */
export function loadEnvHttpProxyAgent(): typeof EnvHttpProxyAgent {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('undici/lib/dispatcher/env-http-proxy-agent') as typeof EnvHttpProxyAgent;
}
