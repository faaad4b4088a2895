import type { ECRClient } from '@aws-sdk/client-ecr';
import { ErrorCode, ReplicationError, type EcrRegistry } from '@ecr-replicate/common/core';
import type { AwsKeys } from './token';
import { ecrSdk } from './sdk';

/** The settings of a source repository that a destination repository is created with. */
export interface RepositorySettings {
  imageTagMutability?: string;
  scanOnPush?: boolean;
  /** AES256, KMS or KMS_DSSE. A KMS key belongs to its partition: the destination uses its own AWS managed key. */
  encryptionType?: string;
  /** The source repository's KMS key, not carried over (another partition cannot use it). */
  sourceKmsKey?: string;
  tags: Array<{ Key: string; Value: string }>;
}

function awsError(operation: string, where: string, error: unknown): ReplicationError {
  const name = (error as { name?: string }).name ?? 'Error';
  const message = (error as { message?: string }).message ?? String(error);
  return new ReplicationError(ErrorCode.AwsService, `ECR ${operation} of ${where} failed: ${name}: ${message}`, {
    cause: error,
    details: { awsError: name },
  });
}

/** An ECR client of `registry`'s region: the caller's role, or `keys` (the destination's user). */
export function ecrApiClient(registry: EcrRegistry, keys?: AwsKeys): ECRClient {
  const { ECRClient } = ecrSdk();
  return new ECRClient({
    region: registry.region,
    useFipsEndpoint: registry.fips,
    ...(keys ? { credentials: keys } : {}),
  });
}

/** The settings and tags of a source repository (DescribeRepositories, ListTagsForResource). */
export async function repositorySettings(
  client: ECRClient,
  registry: EcrRegistry,
  repository: string,
): Promise<RepositorySettings> {
  const { DescribeRepositoriesCommand, ListTagsForResourceCommand } = ecrSdk();
  let found;
  try {
    const response = await client.send(
      new DescribeRepositoriesCommand({ registryId: registry.accountId, repositoryNames: [repository] }),
    );
    found = response.repositories?.[0];
  } catch (error) {
    throw awsError('DescribeRepositories', `source repository ${repository}`, error);
  }
  if (found?.repositoryArn === undefined)
    throw new ReplicationError(ErrorCode.NotFound, `the source repository ${repository} does not exist`);
  let tags: Array<{ Key: string; Value: string }> = [];
  try {
    const response = await client.send(new ListTagsForResourceCommand({ resourceArn: found.repositoryArn }));
    tags = (response.tags ?? [])
      .filter((tag) => tag.Key !== undefined)
      .map((tag) => ({ Key: tag.Key as string, Value: tag.Value ?? '' }));
  } catch (error) {
    throw awsError('ListTagsForResource', `source repository ${repository}`, error);
  }
  return {
    ...(found.imageTagMutability ? { imageTagMutability: found.imageTagMutability } : {}),
    ...(found.imageScanningConfiguration?.scanOnPush !== undefined
      ? { scanOnPush: found.imageScanningConfiguration.scanOnPush }
      : {}),
    ...(found.encryptionConfiguration?.encryptionType
      ? { encryptionType: found.encryptionConfiguration.encryptionType }
      : {}),
    ...(found.encryptionConfiguration?.kmsKey ? { sourceKmsKey: found.encryptionConfiguration.kmsKey } : {}),
    tags,
  };
}

/**
 * Creates `repository` at the destination with `settings` unless it exists (DescribeRepositories first, so that a
 * repository that exists costs no CreateRepository; a concurrent creation counts as existing). A KMS-encrypted
 * source gives a KMS-encrypted destination under the destination's AWS managed key for ECR.
 */
export async function ensureRepository(
  client: ECRClient,
  registry: EcrRegistry,
  repository: string,
  settings: () => Promise<RepositorySettings>,
): Promise<{ outcome: 'exists' } | { outcome: 'created'; settings: RepositorySettings }> {
  const { CreateRepositoryCommand, DescribeRepositoriesCommand } = ecrSdk();
  try {
    await client.send(
      new DescribeRepositoriesCommand({ registryId: registry.accountId, repositoryNames: [repository] }),
    );
    return { outcome: 'exists' };
  } catch (error) {
    if ((error as { name?: string }).name !== 'RepositoryNotFoundException')
      throw awsError('DescribeRepositories', `destination repository ${repository}`, error);
  }
  const wanted = await settings();
  try {
    await client.send(
      new CreateRepositoryCommand({
        registryId: registry.accountId,
        repositoryName: repository,
        ...(wanted.imageTagMutability
          ? { imageTagMutability: wanted.imageTagMutability as 'MUTABLE' | 'IMMUTABLE' }
          : {}),
        ...(wanted.scanOnPush !== undefined ? { imageScanningConfiguration: { scanOnPush: wanted.scanOnPush } } : {}),
        ...(wanted.encryptionType
          ? { encryptionConfiguration: { encryptionType: wanted.encryptionType as 'AES256' | 'KMS' | 'KMS_DSSE' } }
          : {}),
        ...(wanted.tags.length > 0 ? { tags: wanted.tags } : {}),
      }),
    );
  } catch (error) {
    if ((error as { name?: string }).name === 'RepositoryAlreadyExistsException') return { outcome: 'exists' };
    throw awsError('CreateRepository', `destination repository ${repository}`, error);
  }
  return { outcome: 'created', settings: wanted };
}
