import {
  ErrorCode,
  ReplicationError,
  digestProblem,
  repositoryProblem,
  safeText,
  tagProblem,
} from '@ecr-replicate/common/core';

/**
 * URL paths of the distribution API, built only from names that pass the distribution grammar, each segment
 * encoded. A name a registry listed or a digest a manifest holds is checked here before it reaches a URL.
 */
function invalid(kind: string, value: string, problem: string): ReplicationError {
  return new ReplicationError(
    ErrorCode.InvalidReference,
    `invalid ${kind} "${safeText(value).slice(0, 300)}": ${problem}`,
    {
      details: { [kind]: safeText(value).slice(0, 300) },
    },
  );
}

export function checkRepository(repository: string): string {
  const problem = repositoryProblem(repository);
  if (problem !== undefined) throw invalid('repository', repository, problem);
  return repository.split('/').map(encodeURIComponent).join('/');
}

export function checkDigest(digest: string): string {
  const problem = digestProblem(digest);
  if (problem !== undefined) throw invalid('digest', digest, problem);
  // Encoded like every segment; the grammar leaves only the ':' to keep as the API spells it.
  return encodeURIComponent(digest).replace('%3A', ':');
}

/** A tag or a digest. */
export function checkReference(reference: string): string {
  if (reference.includes(':')) return checkDigest(reference);
  const problem = tagProblem(reference);
  if (problem !== undefined) throw invalid('tag', reference, problem);
  return encodeURIComponent(reference);
}

export const paths = {
  manifest: (repository: string, reference: string): string =>
    `/v2/${checkRepository(repository)}/manifests/${checkReference(reference)}`,
  blob: (repository: string, digest: string): string =>
    `/v2/${checkRepository(repository)}/blobs/${checkDigest(digest)}`,
  uploads: (repository: string): string => `/v2/${checkRepository(repository)}/blobs/uploads/`,
  tags: (repository: string): string => `/v2/${checkRepository(repository)}/tags/list`,
  referrers: (repository: string, digest: string): string =>
    `/v2/${checkRepository(repository)}/referrers/${checkDigest(digest)}`,
  catalog: (): string => '/v2/_catalog',
};
