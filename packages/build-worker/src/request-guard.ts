import {
  destinationScope,
  isRepositorySelected,
  isTagSelected,
  isWithinDestinationScope,
  mapRepositoryName,
  type JobRecord,
  type ReplicationConfig,
} from '@ecr-replicate/common';

/** The source registry this worker serves: its own account and region (undefined: not checked, local runs). */
export interface ServedSource {
  accountId?: string | undefined;
  region?: string | undefined;
}

/**
 * Why the worker refuses a job, or undefined when it takes it. The worker trusts nothing of the request but the
 * names: it re-derives selection and mapping from its own configuration, so a message sent to the queue by anyone
 * else cannot make it write (or delete) a repository the configuration does not map to, nor read another account's.
 */
export function refusalOf(job: JobRecord, config: ReplicationConfig, served: ServedSource): string | undefined {
  if (served.accountId !== undefined && job.sourceAccountId !== served.accountId)
    return `the source account ${job.sourceAccountId} is not this deployment's (${served.accountId})`;
  if (served.region !== undefined && job.sourceRegion !== served.region)
    return `the source region ${job.sourceRegion} is not this deployment's (${served.region})`;
  if (!isRepositorySelected(config, job.sourceRepository))
    return `the repository ${job.sourceRepository} is outside the replication configuration`;
  if (job.tag !== undefined && !isTagSelected(config, job.tag))
    return `the tag ${job.tag} is outside the replication configuration`;
  let mapped: string;
  try {
    mapped = mapRepositoryName(config, job.sourceRepository);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  if (mapped !== job.destinationRepository)
    return `the destination ${job.destinationRepository} is not where the configuration maps ${job.sourceRepository} (${mapped})`;
  if (!isWithinDestinationScope(destinationScope(config), job.destinationRepository))
    return `the destination ${job.destinationRepository} is outside the configuration's mapped names`;
  return undefined;
}
