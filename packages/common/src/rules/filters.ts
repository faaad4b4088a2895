import picomatch from 'picomatch/posix';
import type { Filter, NameSelection, ReplicationConfig } from '../models/config';
import { isReferrerTag } from '../registry/referrer-tag';

/**
 * Wildcard filters are globs with the semantics of shells and .gitignore files, from picomatch:
 *
 *   `*`       any characters within one path component (`team/*` matches `team/app`, not `team/a/b`)
 *   `**`      any characters across components (`team/**` matches `team/a/b`)
 *   `?`       one character other than `/`
 *   `[0-9]`   one character of a class (`v[0-9]*` matches `v1`, `v10.2`, not `vx`); `[!0-9]` negates
 *   `{a,b}`   either alternative (`{api,web}/*`, `v{1,2}.*`)
 *
 * Matchers are compiled once per pattern.
 */
const globs = new Map<string, (name: string) => boolean>();

export function globMatcher(pattern: string): (name: string) => boolean {
  let matcher = globs.get(pattern);
  if (matcher === undefined) {
    matcher = picomatch(pattern, { dot: true, noextglob: true });
    if (globs.size > 1000) globs.clear();
    globs.set(pattern, matcher);
  }
  return matcher;
}

export function filterMatches(filter: Filter, name: string): boolean {
  switch (filter.type) {
    case 'prefix':
      return name.startsWith(filter.pattern);
    case 'wildcard':
      return globMatcher(filter.pattern)(name);
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
