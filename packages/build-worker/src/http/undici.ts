/**
 * The two parts of undici the registry client uses: its connection-pooling
 * `Agent` and its `request()` API.
 *
 * undici's index also loads fetch, WebSocket, EventSource, the cache and
 * cookie APIs and the mock agents, and that pulls in Node's own bundled copy
 * of undici: about 110 ms and 9 MiB on every start of the command line, before
 * the first request. This module requires the two files it needs instead, and
 * falls back to the index when a future undici moves them (a test notices).
 */
import type * as Undici from 'undici';
import type { Agent as AgentClass, Dispatcher } from 'undici';

type RequestFunction = (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

interface UndiciParts {
  Agent: typeof AgentClass;
  request: RequestFunction;
  /** 'lean' when the two files were loaded on their own, 'index' after the fallback. */
  loaded: 'lean' | 'index';
}

function load(): UndiciParts {
  try {
    /* eslint-disable @typescript-eslint/no-require-imports */
    return {
      Agent: require('undici/lib/dispatcher/agent') as typeof AgentClass,
      request: require('undici/lib/api/api-request') as RequestFunction,
      loaded: 'lean',
    };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
    const undici = require('undici') as typeof Undici;
    /* eslint-enable @typescript-eslint/no-require-imports */
    return { Agent: undici.Agent, request: undici.Dispatcher.prototype.request as unknown as RequestFunction, loaded: 'index' };
  }
}

const parts = load();

export const Agent = parts.Agent;
export type Agent = AgentClass;
export type { Dispatcher };

/** How undici was loaded (for the test that keeps the lean path honest). */
export const undiciLoaded = parts.loaded;

/** undici's `request(url, options)` on an explicit dispatcher. */
export function request(url: string, options: Omit<Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher: Dispatcher }): Promise<Dispatcher.ResponseData> {
  const target = new URL(url);
  const { dispatcher, ...rest } = options;
  return parts.request.call(dispatcher, { ...rest, origin: target.origin, path: `${target.pathname}${target.search}` });
}
