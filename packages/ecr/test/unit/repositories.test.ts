import { DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { ErrorCode } from '@ecr-replicate/common';
import { listEcrRepositories } from '../../src';

const ecr = mockClient(ECRClient);
beforeEach(() => ecr.reset());

describe('listing ECR repositories', () => {
  it('follows DescribeRepositories pages', async () => {
    ecr
      .on(DescribeRepositoriesCommand, { nextToken: undefined })
      .resolves({ repositories: [{ repositoryName: 'team/a' }, { repositoryName: 'team/b' }], nextToken: 'page-2' })
      .on(DescribeRepositoriesCommand, { nextToken: 'page-2' })
      .resolves({ repositories: [{ repositoryName: 'team/c' }] });
    const registry = { accountId: '111111111111', region: 'us-east-1', partition: 'aws' as const, fips: false };
    expect(await listEcrRepositories(registry, new ECRClient({ region: 'us-east-1' }))).toEqual([
      'team/a',
      'team/b',
      'team/c',
    ]);
    expect(ecr.commandCalls(DescribeRepositoriesCommand)[0]!.args[0].input).toMatchObject({
      registryId: '111111111111',
    });
  });

  it('names the registry and the AWS error when it fails', async () => {
    ecr
      .on(DescribeRepositoriesCommand)
      .rejects(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' }));
    const registry = {
      accountId: '111111111111',
      region: 'us-gov-west-1',
      partition: 'aws-us-gov' as const,
      fips: false,
    };
    await expect(listEcrRepositories(registry, new ECRClient({ region: 'us-gov-west-1' }))).rejects.toMatchObject({
      code: ErrorCode.AwsService,
      message:
        'ECR DescribeRepositories of registry 111111111111 in us-gov-west-1 failed: AccessDeniedException: not allowed',
    });
  });
});
