import { preconnectRegistries } from '@ecr-replicate/oci/preconnect';

/**
 * What `bin/ecr-replicate.js` runs before it loads the command: for `copy SOURCE DESTINATION`, TCP connections to
 * both registries start while the modules load (tens of milliseconds), so that the copy's first requests find them
 * open instead of each waiting a round trip. This module loads nothing else: it must cost less than it saves.
 *
 * It reads the two references as they are written first on the line; anything unusual (options before them, a proxy
 * in the environment, a reference without a registry host) and it does nothing: the copy connects as usual.
 */

/** Connections per registry: the copy's first waves send up to four requests to each at once. */
export const PRECONNECT_SOCKETS = 4;

const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy'];

/** The registry hosts (`host` or `host:port`) of `copy SOURCE DESTINATION`; empty for anything else. */
export function copyRegistryHosts(argv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  if (argv[0] !== 'copy' || PROXY_VARIABLES.some((name) => (env[name] ?? '') !== '')) return [];
  const references = argv.slice(1, 3);
  if (references.length < 2) return [];
  const hosts: string[] = [];
  for (const reference of references) {
    const slash = reference.indexOf('/');
    if (reference.startsWith('-') || slash <= 0) return [];
    const host = reference.slice(0, slash);
    // As image references are read: a first part that is a registry has a dot or a port, or is localhost.
    if (host.includes('.') || host.includes(':') || host === 'localhost') hosts.push(host);
  }
  return hosts;
}

/** Starts the connections (see above); never throws, never delays the command. */
export function preconnectCopy(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  try {
    const plainHttp = argv.flatMap((arg, i) =>
      arg === '--plain-http' ? [argv[i + 1] ?? ''] : arg.startsWith('--plain-http=') ? [arg.slice(13)] : [],
    );
    preconnectRegistries(copyRegistryHosts(argv, env), PRECONNECT_SOCKETS, plainHttp);
  } catch {
    // Only a head start: the copy connects by itself.
  }
}
