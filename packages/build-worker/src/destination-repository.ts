import type { Logger } from '@aws-lambda-powertools/logger';
import {
  ErrorCode,
  ReplicationError,
  destinationScope,
  isWithinDestinationScope,
  type EcrRegistry,
  type ReplicationConfig,
} from '@ecr-replicate/common';
import { ecrApiClient, ensureRepository, repositorySettings, type AwsKeys } from '@ecr-replicate/ecr';

/** Makes sure a destination repository exists before a copy into it: `ensure(source, destination)`. */
export type RepositoryPreparer = (
  source: { registry: EcrRegistry; repository: string },
  destinationRepository: string,
) => Promise<'exists' | 'created'>;

/**
 * Creates missing destination repositories with the source repository's settings (tag mutability, scan on push,
 * encryption type, tags), only within the configuration's mapped names; each name is checked once per process.
 * A source KMS key is not carried over: a key belongs to its partition, so the destination repository is encrypted
 * with KMS under the destination's AWS managed key for ECR (a warning says so).
 */
export function repositoryPreparer(options: {
  destination: EcrRegistry;
  destinationKeys: AwsKeys;
  config: ReplicationConfig;
  logger: Logger;
}): RepositoryPreparer {
  const { destination, config, logger } = options;
  const scope = destinationScope(config);
  const destinationClient = ecrApiClient(destination, options.destinationKeys);
  const known = new Map<string, Promise<'exists' | 'created'>>();
  return (source, destinationRepository) => {
    if (!isWithinDestinationScope(scope, destinationRepository))
      return Promise.reject(
        new ReplicationError(
          ErrorCode.InvalidInput,
          `not creating the destination repository ${destinationRepository}: it is outside the configuration's mapped names`,
        ),
      );
    let pending = known.get(destinationRepository);
    if (pending === undefined) {
      pending = (async () => {
        const sourceClient = ecrApiClient(source.registry);
        try {
          const result = await ensureRepository(destinationClient, destination, destinationRepository, () =>
            repositorySettings(sourceClient, source.registry, source.repository),
          );
          if (result.outcome === 'created') {
            const { sourceKmsKey, ...settings } = result.settings;
            logger.info('created the destination repository with the source repository settings', {
              repository: destinationRepository,
              from: source.repository,
              ...settings,
            });
            if (sourceKmsKey !== undefined)
              logger.warn(
                "the source repository's KMS key cannot serve another partition: the destination uses its AWS managed key for ECR",
                {
                  repository: destinationRepository,
                },
              );
          }
          return result.outcome;
        } finally {
          sourceClient.destroy();
        }
      })();
      known.set(destinationRepository, pending);
      pending.catch(() => known.delete(destinationRepository));
    }
    return pending;
  };
}
