import { ErrorCode, ReplicationError } from '@ecr-replicate/common/core';
import { BODY_CAPS, header, readCapped } from '../transport/body';
import type { RegistryTransport } from '../transport/registry-transport';

/** Most pages one listing follows (at a thousand names a page, ten million names). */
export const MAX_PAGES = 10_000;

/**
 * Reads every page of a listing (`/tags/list`, `/_catalog`) by its `Link: <...>; rel="next"` header. A link
 * stays on the registry's origin (credentials never follow one elsewhere), is never followed twice (a link
 * that loops ends the listing with an error) and the pages are capped in number and size.
 */
export async function paginate<T>(
  transport: RegistryTransport,
  first: string,
  options: { scope: string; what: string; field: string; maxPages?: number },
): Promise<T[]> {
  const items: T[] = [];
  const seen = new Set<string>();
  const maxPages = options.maxPages ?? MAX_PAGES;
  let next: string | undefined = transport.url(first);
  while (next !== undefined) {
    const url: string = next;
    if (seen.has(url)) {
      throw new ReplicationError(ErrorCode.RegistryProtocol, `${options.what}: the listing's next page loops back`);
    }
    if (seen.size >= maxPages) {
      throw new ReplicationError(ErrorCode.RegistryProtocol, `${options.what}: more than ${maxPages} pages`);
    }
    seen.add(url);
    const page = await transport.retrying(options.what, async () => {
      const response = await transport.send({ method: 'GET', url, scope: options.scope, what: options.what });
      if (response.statusCode !== 200) throw await transport.failure(response, options.what);
      const bytes = await readCapped(response, BODY_CAPS.listing, options.what);
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new ReplicationError(ErrorCode.RegistryProtocol, `${options.what}: the answer is not JSON`);
      }
      const list = body?.[options.field];
      if (list !== undefined && list !== null && !Array.isArray(list)) {
        throw new ReplicationError(ErrorCode.RegistryProtocol, `${options.what}: "${options.field}" is not a list`);
      }
      const link = header(response, 'link');
      const target = link === undefined ? undefined : /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1];
      let following: string | undefined;
      try {
        following = target === undefined ? undefined : new URL(target, url).toString();
      } catch {
        throw new ReplicationError(ErrorCode.RegistryProtocol, `${options.what}: the next page's Link is not a URL`);
      }
      return { items: (list ?? []) as T[], next: following };
    });
    items.push(...page.items);
    if (page.next !== undefined && !transport.owns(page.next)) {
      throw new ReplicationError(
        ErrorCode.RegistryProtocol,
        `${options.what}: the next page is on another origin (${new URL(page.next).origin}); not followed`,
      );
    }
    next = page.next;
  }
  return items;
}
