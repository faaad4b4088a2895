import type { ReplicationConfig } from '../models/config';

/**
 * The destination repositories a configuration can write to: exact names and
 * name prefixes. The destination stack scopes its user to them (IAM
 * `repository/<name>` and `repository/<prefix>*`), and the worker creates a
 * missing destination repository only within them.
 */
export interface DestinationScope {
  /** Exact destination names (the exact renames of included sources). */
  names: string[];
  /** Destination name prefixes; '' means every name. */
  prefixes: string[];
}

/**
 * The scope of `config`, or undefined when its include filters do not bound
 * the source names (none, or not all `prefix:`): then every repository can
 * be a destination. For each included source prefix `p`: the longest prefix
 * rewrite that covers all of `p` maps it (else `p` itself), every rewrite
 * narrower than `p` adds its target, and each exact rename of a name under
 * `p` adds that name.
 */
export function destinationScope(
  config: Pick<ReplicationConfig, 'repositories' | 'mapping'>,
): DestinationScope | undefined {
  const include = config.repositories.include;
  if (include.length === 0 || include.some((filter) => filter.type !== 'prefix')) return undefined;
  const names = new Set<string>();
  const prefixes = new Set<string>();
  const rules = config.mapping.prefixes;
  for (const { pattern: prefix } of include) {
    const covering = rules
      .filter((rule) => prefix.startsWith(rule.from))
      .reduce<
        { from: string; to: string } | undefined
      >((best, rule) => (best && best.from.length >= rule.from.length ? best : rule), undefined);
    prefixes.add(covering === undefined ? prefix : covering.to + prefix.slice(covering.from.length));
    for (const rule of rules) if (rule.from.startsWith(prefix) && rule.from !== prefix) prefixes.add(rule.to);
    for (const [source, destination] of Object.entries(config.mapping.repositories))
      if (source.startsWith(prefix)) names.add(destination);
  }
  return { names: [...names].sort(), prefixes: [...prefixes].sort() };
}

/** Whether `name` is within `scope` (undefined: unbounded, every name is). */
export function isWithinDestinationScope(scope: DestinationScope | undefined, name: string): boolean {
  if (scope === undefined) return true;
  return scope.names.includes(name) || scope.prefixes.some((prefix) => name.startsWith(prefix));
}
