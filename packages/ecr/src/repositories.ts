import type { ECRClient } from '@aws-sdk/client-ecr';
import { ErrorCode, ReplicationError, type EcrRegistry } from '@ecr-replicate/common/core';
import { ecrSdk } from './sdk';

/**
 * Every repository of an ECR registry (DescribeRepositories, all pages), with
 * the caller's AWS credentials (the default chain when `client` is not given).
 * ECR does not serve the registry catalog API.
 */
export async function listEcrRepositories(
  registry: EcrRegistry,
  client?: ECRClient,
  options: { profile?: string } = {},
): Promise<string[]> {
  const { DescribeRepositoriesCommand, ECRClient } = ecrSdk();
  const ecr =
    client ??
    new ECRClient({
      region: registry.region,
      useFipsEndpoint: registry.fips,
      ...(options.profile !== undefined ? { profile: options.profile } : {}),
    });
  const names: string[] = [];
  try {
    let nextToken: string | undefined;
    do {
      const page = await ecr.send(
        new DescribeRepositoriesCommand({
          registryId: registry.accountId,
          maxResults: 1000,
          ...(nextToken ? { nextToken } : {}),
        }),
      );
      for (const repository of page.repositories ?? [])
        if (repository.repositoryName) names.push(repository.repositoryName);
      nextToken = page.nextToken;
    } while (nextToken !== undefined && nextToken !== '');
  } catch (error) {
    const name = (error as { name?: string }).name ?? 'Error';
    const message = (error as { message?: string }).message ?? String(error);
    throw new ReplicationError(
      ErrorCode.AwsService,
      `ECR DescribeRepositories of registry ${registry.accountId} in ${registry.region} failed: ${name}: ${message}`,
      {
        cause: error,
        details: { accountId: registry.accountId, region: registry.region, awsError: name },
      },
    );
  } finally {
    if (client === undefined) ecr.destroy();
  }
  return names;
}
