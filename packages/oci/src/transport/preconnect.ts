import { connect, type NetConnectOpts, type Socket } from 'node:net';
import { usesPlainHttp } from './origin';

/**
 * Connections opened before they are needed. A command line spends its first tens of milliseconds loading its
 * modules; the TCP handshakes to the registries it is about to call can run in the kernel meanwhile, so that its
 * first requests do not each wait one round trip for a connection (across partitions, 50 to 250 ms each).
 *
 * Only TCP is opened here: no byte is sent, no credential is involved, and TLS is negotiated by the connector that
 * takes the socket, exactly as on a connection it opened itself. A socket nobody takes is closed at exit, and one
 * that failed is dropped: the connector then connects as usual.
 *
 * The sockets live in a process-wide map under a registered symbol, so that the tiny module that opens them early
 * and the client's connector share them even when each is bundled with its own copy of this file.
 */

const POOL_KEY = Symbol.for('ecr-replicate.preconnected-sockets');

type Pool = Map<string, Socket[]>;

function pool(): Pool {
  const holder = globalThis as { [POOL_KEY]?: Pool };
  let sockets = holder[POOL_KEY];
  if (sockets === undefined) {
    sockets = new Map();
    holder[POOL_KEY] = sockets;
    process.once('exit', () => {
      for (const list of sockets?.values() ?? []) for (const socket of list) socket.destroy();
    });
  }
  return sockets;
}

const keyOf = (hostname: string, port: number): string => `${hostname.toLowerCase()}:${port}`;

/** A registry origin to connect to ahead of time: a DNS name or IPv4 address, and a port. */
export interface PreconnectTarget {
  hostname: string;
  port: number;
  /** Sockets to open (the requests the client is expected to send at once first). */
  count: number;
}

/**
 * Starts TCP connections to each target. Returns at once; never throws (a target that cannot be reached costs
 * nothing but the attempt). The sockets do not keep the process alive.
 */
export function preconnect(targets: readonly PreconnectTarget[]): void {
  const sockets = pool();
  for (const { hostname, port, count } of targets) {
    if (!/^[A-Za-z0-9.-]+$/.test(hostname) || !Number.isInteger(port) || port < 1 || port > 65_535) continue;
    const key = keyOf(hostname, port);
    const list = sockets.get(key) ?? [];
    sockets.set(key, list);
    for (let i = 0; i < count; i += 1) {
      try {
        // As undici's own connector opens them: 64 KiB reads, no Nagle delay, TCP keep-alive.
        const socket = connect({ host: hostname, port, highWaterMark: 64 * 1024 } as NetConnectOpts);
        socket.setNoDelay(true).setKeepAlive(true, 60_000).unref();
        socket.once('error', () => {
          const at = list.indexOf(socket);
          if (at >= 0) list.splice(at, 1);
          socket.destroy();
        });
        list.push(socket);
      } catch {
        // An address net refuses outright: nothing to take later.
      }
    }
  }
}

/**
 * Takes a connection opened ahead of time to `hostname:port` (connected, or still connecting), or undefined. The
 * caller owns it from then on: it is referenced again, so it keeps the process alive like any other socket.
 */
export function takePreconnected(hostname: string, port: number): Socket | undefined {
  const list = pool().get(keyOf(hostname, port));
  while (list !== undefined && list.length > 0) {
    const socket = list.shift() as Socket;
    if (socket.destroyed) continue;
    socket.ref();
    return socket;
  }
  return undefined;
}

/**
 * Opens `count` connections to each registry named as references name it (`host` or `host:port`): to its port, else
 * 443, or 80 for a registry spoken to over plain HTTP (loopback, or one of `plainHttpHosts`). Anything else (no host,
 * an IPv6 literal) is left alone.
 */
export function preconnectRegistries(
  hosts: readonly string[],
  count: number,
  plainHttpHosts: readonly string[] = [],
): void {
  const targets: PreconnectTarget[] = [];
  for (const host of new Set(hosts)) {
    const match = /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(host);
    if (match === null) continue;
    const port = match[2] !== undefined ? Number(match[2]) : usesPlainHttp(host, plainHttpHosts) ? 80 : 443;
    targets.push({ hostname: match[1] as string, port, count });
  }
  preconnect(targets);
}
