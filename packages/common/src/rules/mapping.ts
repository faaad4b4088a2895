import { ErrorCode, ReplicationError } from '../errors';
import type { ReplicationConfig } from '../models/config';
import { repositoryProblem } from '../registry/reference';

/**
 * The destination name of a source repository: an exact rename when one is
 * configured, else the longest matching prefix rewrite, else the same name.
 * Throws `INVALID_INPUT` when the result is not a valid repository name.
 */
export function mapRepositoryName(config: Pick<ReplicationConfig, 'mapping'>, source: string): string {
  const { repositories, prefixes } = config.mapping;
  let mapped = repositories[source];
  if (mapped === undefined) {
    const rule = prefixes
      .filter((p) => source.startsWith(p.from))
      .reduce<
        { from: string; to: string } | undefined
      >((best, p) => (best && best.from.length >= p.from.length ? best : p), undefined);
    mapped = rule === undefined ? source : rule.to + source.slice(rule.from.length);
  }
  const problem = repositoryProblem(mapped);
  if (problem !== undefined) {
    throw new ReplicationError(
      ErrorCode.InvalidInput,
      `repository "${source}" maps to "${mapped}", which is not a valid repository name: ${problem}`,
      { details: { source, mapped } },
    );
  }
  return mapped;
}
