import { ErrorCode, ReplicationError } from '@ecr-replicate/common/core';
import type { RegistryClient } from '@ecr-replicate/oci';
import type { AwsKeys } from './token';
import type { RegistryEndpoint } from './endpoint';
import { ecrSdk } from './sdk';

/**
 * Removes one tag at the destination. On ECR, BatchDeleteImage with the tag
 * removes that tag only (the image goes when its last tag does). Elsewhere
 * the registry API: DELETE by tag where supported, else by digest — which on
 * such registries also removes other tags of the same image.
 */
export async function removeTag(
  destination: { endpoint: RegistryEndpoint; client: RegistryClient; keys: AwsKeys | undefined },
  repository: string,
  tag: string,
  signal?: AbortSignal,
): Promise<'removed' | 'absent'> {
  const bound = signal === undefined ? {} : { signal };
  if (destination.endpoint.isEcr) {
    const { BatchDeleteImageCommand, ECRClient } = ecrSdk();
    const ecr = new ECRClient({
      region: destination.endpoint.identity.region,
      useFipsEndpoint: destination.endpoint.identity.fips,
      ...(destination.keys ? { credentials: destination.keys } : {}),
    });
    try {
      const response = await ecr.send(
        new BatchDeleteImageCommand({
          registryId: destination.endpoint.identity.accountId,
          repositoryName: repository,
          imageIds: [{ imageTag: tag }],
        }),
        { abortSignal: signal },
      );
      const failure = response.failures?.[0];
      if (failure === undefined) return 'removed';
      if (failure.failureCode === 'ImageNotFound' || failure.failureCode === 'ImageTagDoesNotMatchDigest')
        return 'absent';
      throw new ReplicationError(
        ErrorCode.AwsService,
        `ECR could not delete ${repository}:${tag}: ${failure.failureCode}: ${failure.failureReason ?? ''}`,
      );
    } catch (error) {
      if (error instanceof ReplicationError) throw error;
      const name = (error as { name?: string }).name ?? 'Error';
      if (name === 'RepositoryNotFoundException') return 'absent';
      throw new ReplicationError(ErrorCode.AwsService, `ECR BatchDeleteImage on ${repository}:${tag} failed: ${name}`, {
        details: { awsError: name },
      });
    } finally {
      ecr.destroy();
    }
  }
  const outcome = await destination.client.deleteTag(repository, tag, bound);
  if (outcome !== 'unsupported') return outcome === 'deleted' ? 'removed' : 'absent';
  const head = await destination.client.headManifest(repository, tag);
  if (head === undefined) return 'absent';
  return (await destination.client.deleteManifest(repository, head.digest, bound)) ? 'removed' : 'absent';
}
