/**
 * Origins (scheme, host and port): credentials go to a URL only when its origin is the registry's own, so an
 * upload location, a pagination link or a redirect to another host, another port or plain HTTP gets none.
 */
export function originOf(url: string | URL): string {
  return (typeof url === 'string' ? new URL(url) : url).origin;
}

export function sameOrigin(a: string | URL, b: string | URL): boolean {
  try {
    return originOf(a) === originOf(b);
  } catch {
    return false;
  }
}

/** Is `host` (with optional port) a loopback address, served over plain HTTP by default? */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '::1' || /^127(?:\.\d{1,3}){3}$/.test(name);
}

/** Plain HTTP only for loopback hosts and hosts named explicitly; TLS everywhere else. */
export function usesPlainHttp(host: string, plainHttpHosts: readonly string[] = []): boolean {
  return isLoopbackHost(host) || plainHttpHosts.includes(host);
}
