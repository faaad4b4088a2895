import type { Filter, NameSelection, ReplicationConfig } from '../models/config';
import { isReferrerTag } from '../registry/referrer-tag';

/**
 * Turns a wildcard into an anchored regular expression: `*` matches within one
 * path component, `**` across components, `?` one character other than `/`.
 */
export function wildcardToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const char = pattern[i] as string;
    if (char === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i += 1;
    } else if (char === '*') {
      source += '[^/]*';
    } else if (char === '?') {
      source += '[^/]';
    } else {
      source += char.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

export function filterMatches(filter: Filter, name: string): boolean {
  switch (filter.type) {
    case 'prefix':
      return name.startsWith(filter.pattern);
    case 'wildcard':
      return wildcardToRegExp(filter.pattern).test(name);
    case 'regex':
      return new RegExp(filter.pattern).test(name);
  }
}

/** Included (or no include list) and not excluded. */
export function isSelected(selection: NameSelection, name: string): boolean {
  const included = selection.include.length === 0 || selection.include.some((f) => filterMatches(f, name));
  return included && !selection.exclude.some((f) => filterMatches(f, name));
}

export function isRepositorySelected(config: ReplicationConfig, repository: string): boolean {
  return isSelected(config.repositories, repository);
}

/**
 * Tag selection. Tags of the referrers tag scheme (`sha256-<hex>.sig` and the
 * like) belong to their subject and always pass: a signature must follow the
 * image it signs whatever the tag filters say.
 */
export function isTagSelected(config: ReplicationConfig, tag: string): boolean {
  return isReferrerTag(tag) || isSelected(config.tags, tag);
}
