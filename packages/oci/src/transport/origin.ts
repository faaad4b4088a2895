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
