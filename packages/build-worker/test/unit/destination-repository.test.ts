/**
 * Creating a missing destination repository: the ECR API calls are faked at the SDK client boundary
 * (aws-sdk-client-mock), the only part without a local server.
 */
import {
  CreateRepositoryCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  ListTagsForResourceCommand,
  RepositoryNotFoundException,
} from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { parseReplicationConfig, type EcrRegistry } from '@ecr-replicate/common';
import { createLogger } from '@ecr-replicate/common/observability';
import { captureOutput } from '@ecr-replicate/testing';
import { repositoryPreparer } from '../../src/destination-repository';

const ecr = mockClient(ECRClient);
const SOURCE: EcrRegistry = { accountId: '123456789012', region: 'us-east-1', partition: 'aws', fips: false };
const DESTINATION: EcrRegistry = {
  accountId: '210987654321',
  region: 'us-gov-west-1',
  partition: 'aws-us-gov',
  fips: true,
};
const KEYS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: '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' };
const config = parseReplicationConfig({
  repositories: { include: ['prefix:team/'] },
  mapping: { prefixes: [{ from: 'team/', to: 'mirror/team/' }] },
});

beforeEach(() => {
  ecr.reset();
  // The source repository: immutable tags, scan on push, KMS with its own key, two tags.
  ecr.on(DescribeRepositoriesCommand, { registryId: SOURCE.accountId }).resolves({
    repositories: [
      {
        repositoryName: 'team/app',
        repositoryArn: 'arn:aws:ecr:us-east-1:123456789012:repository/team/app',
        imageTagMutability: 'IMMUTABLE',
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfiguration: { encryptionType: 'KMS', kmsKey: 'arn:aws:kms:us-east-1:123456789012:key/abc' },
      },
    ],
  });
  ecr.on(ListTagsForResourceCommand).resolves({
    tags: [
      { Key: 'team', Value: 'payments' },
      { Key: 'cost-center', Value: '42' },
    ],
  });
  ecr
    .on(DescribeRepositoriesCommand, { registryId: DESTINATION.accountId })
    .rejects(new RepositoryNotFoundException({ message: 'not found', $metadata: {} }));
  ecr.on(CreateRepositoryCommand).resolves({});
});

function preparer() {
  return repositoryPreparer({
    destination: DESTINATION,
    destinationKeys: KEYS,
    config,
    logger: createLogger('worker'),
  });
}

describe('destination repositories', () => {
  it("creates a missing one with the source's settings and tags; a KMS key stays behind (another partition)", async () => {
    const prepare = preparer();
    const { result, output } = await captureOutput(() =>
      prepare({ registry: SOURCE, repository: 'team/app' }, 'mirror/team/app'),
    );
    expect(result).toBe('created');
    const created = ecr.commandCalls(CreateRepositoryCommand);
    expect(created).toHaveLength(1);
    expect(created[0]!.args[0].input).toEqual({
      registryId: DESTINATION.accountId,
      repositoryName: 'mirror/team/app',
      imageTagMutability: 'IMMUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: { encryptionType: 'KMS' },
      tags: [
        { Key: 'team', Value: 'payments' },
        { Key: 'cost-center', Value: '42' },
      ],
    });
    expect(output).toContain('created the destination repository');
    expect(output).toContain('KMS key cannot serve another partition');
    expect(output).not.toContain('wJalrXUtnFEMI');
    // Checked once per process.
    await prepare({ registry: SOURCE, repository: 'team/app' }, 'mirror/team/app');
    expect(ecr.commandCalls(CreateRepositoryCommand)).toHaveLength(1);
  });

  it('creates nothing outside the mapped names, and nothing that exists', async () => {
    const prepare = preparer();
    await expect(prepare({ registry: SOURCE, repository: 'team/app' }, 'elsewhere/app')).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/not creating the destination repository elsewhere\/app: it is outside/),
    });
    ecr.on(DescribeRepositoriesCommand, { registryId: DESTINATION.accountId }).resolves({ repositories: [{}] });
    expect(await preparer()({ registry: SOURCE, repository: 'team/app' }, 'mirror/team/app')).toBe('exists');
    expect(ecr.commandCalls(CreateRepositoryCommand)).toHaveLength(0);
    expect(ecr.commandCalls(ListTagsForResourceCommand)).toHaveLength(0);
  });
});
