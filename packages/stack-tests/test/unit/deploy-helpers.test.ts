import { existsSync } from 'node:fs';
import { workspaceEntryPoints } from '../../../../deploy/lib/esbuild-options';
import { findViolations } from '../../../../deploy/plugins/least-privilege';
import {
  checkTuning,
  destination,
  imageActionPattern,
  parseReplication,
  repairScheduleEvents,
  repairScheduleExpression,
  repositoryPrefixes,
  sourceRepositoryArns,
} from '../../../../deploy/lib/stage-config';
import { createZip, readZip } from '../../../../deploy/lib/zip';

/** The helpers behind the stacks: stage-parameter derivations, the least-privilege guard, the zip writer. */

describe('stage parameters → rule, permissions, settings', () => {
  test('include filters that are all prefixes narrow the rule (EventBridge prefix matching) and the worker to those prefixes', () => {
    const config = parseReplication({
      repositories: { include: ['prefix:team/', { type: 'prefix', pattern: 'apps/' }], exclude: ['team/scratch-*'] },
    });
    expect(repositoryPrefixes(config)).toEqual(['apps/', 'team/']);
    expect(imageActionPattern(config).detail['repository-name']).toEqual([{ prefix: 'apps/' }, { prefix: 'team/' }]);
    expect(sourceRepositoryArns(config)).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/apps/*' },
      { 'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/team/*' },
    ]);
  });

  test('any other include filter, or none, leaves names to ingest and the worker reads every repository of the account', () => {
    for (const raw of [
      {},
      { repositories: { include: ['prefix:team/', 'wildcard:apps/*'] } },
      { repositories: { include: ['regex:^x'] } },
    ]) {
      const config = parseReplication(raw);
      expect(repositoryPrefixes(config)).toBeUndefined();
      expect(imageActionPattern(config).detail['repository-name']).toBeUndefined();
      expect(sourceRepositoryArns(config)).toEqual([
        { 'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*' },
      ]);
    }
  });

  test('the rule subscribes to DELETE only when deletes replicate', () => {
    expect(imageActionPattern(parseReplication({})).detail['action-type']).toEqual(['PUSH']);
    expect(imageActionPattern(parseReplication({ deletes: true })).detail['action-type']).toEqual(['PUSH', 'DELETE']);
    expect(imageActionPattern(parseReplication({ deletes: true }))).toMatchObject({
      source: ['aws.ecr'],
      'detail-type': ['ECR Image Action'],
      detail: { result: ['SUCCESS'] },
    });
  });

  test('a bad replication configuration fails with the field and the reason', () => {
    expect(() => parseReplication({ repositories: { include: ['regex:('] } })).toThrow(
      /param "replication".*repositories\.include\.0\.pattern: is not a valid regular expression/,
    );
    expect(() => parseReplication(['not', 'an', 'object'])).toThrow(/must be an object/);
  });

  test('destination parameters: the region must be in the partition, the account 12 digits or empty', () => {
    expect(destination({ partition: 'aws-us-gov', region: 'us-gov-west-1', accountId: '123456789012' }).registry).toBe(
      '123456789012.dkr.ecr.us-gov-west-1.amazonaws.com',
    );
    expect(destination({ partition: 'aws-cn', region: 'cn-north-1', accountId: '123456789012' }).registry).toBe(
      '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn',
    );
    expect(destination({ partition: 'aws', region: 'us-east-1', accountId: '' }).registry).toBeUndefined();
    expect(() => destination({ partition: 'aws-us-gov', region: 'us-east-1', accountId: '' })).toThrow(
      /us-east-1.*partition aws, not aws-us-gov/,
    );
    expect(() => destination({ partition: 'aws-mars', region: 'us-east-1', accountId: '' })).toThrow(
      /destinationPartition/,
    );
    expect(() => destination({ partition: 'aws', region: 'us-east-1', accountId: '1234' })).toThrow(
      /destinationAccountId/,
    );
  });

  test('numeric parameters are checked against their bounds and also given as text for environment variables', () => {
    const good = {
      batchSize: 10,
      dispatcherMaxConcurrency: 10,
      requestMaxReceiveCount: 5,
      workerTimeoutMinutes: 60,
      maxAttempts: '5',
      leaseSeconds: 900,
      repairConcurrency: 8,
    };
    expect(checkTuning(good)).toMatchObject({
      batchSize: 10,
      maxAttempts: 5,
      text: { leaseSeconds: '900', maxAttempts: '5', repairConcurrency: '8' },
    });
    expect(() => checkTuning({ ...good, repairConcurrency: 0 })).toThrow(
      /"repairConcurrency" must be a whole number from 1 to 64/,
    );
    expect(() => checkTuning({ ...good, repairConcurrency: 65 })).toThrow(/"repairConcurrency"/);
    expect(() => checkTuning({ ...good, batchSize: 11 })).toThrow(/"batchSize" must be a whole number from 1 to 10/);
    expect(() => checkTuning({ ...good, leaseSeconds: 30 })).toThrow(/"leaseSeconds"/);
    expect(() => checkTuning({ ...good, maxAttempts: 'five' })).toThrow(/"maxAttempts"/);
  });
});

describe('the repair schedule', () => {
  test('rate and cron expressions pass as given; blank means no schedule', () => {
    for (const expression of [
      'rate(6 hours)',
      'rate(1 hour)',
      'rate(30 minutes)',
      'rate(1 day)',
      'cron(0 */4 * * ? *)',
    ]) {
      expect(repairScheduleExpression(expression)).toBe(expression);
    }
    expect(repairScheduleExpression(' rate(6 hours) ')).toBe('rate(6 hours)');
    for (const blank of ['', '  ', null, undefined]) expect(repairScheduleExpression(blank)).toBeUndefined();
  });

  test('one schedule event named after the rule, or none', () => {
    expect(repairScheduleEvents('rate(6 hours)', 'svc-dev-repair')).toEqual([
      { schedule: { name: 'svc-dev-repair', description: expect.any(String), rate: ['rate(6 hours)'] } },
    ]);
    expect(repairScheduleEvents('', 'svc-dev-repair')).toEqual([]);
  });

  test('anything else fails with the parameter name', () => {
    for (const bad of [
      'rate(1 hours)',
      'rate(6 hour)',
      'rate(0 minutes)',
      'rate(06 hours)',
      'rate(6 weeks)',
      'every 6 hours',
      'cron(0 * * *)',
      '6',
    ]) {
      expect(() => repairScheduleExpression(bad)).toThrow(/param "repairSchedule"/);
    }
  });
});

describe('workspace packages in the bundles', () => {
  test('each entry point a bundled package exports (package.json) is taken from its TypeScript source', () => {
    for (const name of ['@ecr-replicate/common', '@ecr-replicate/ingest']) {
      const entries = workspaceEntryPoints(name) as Record<string, string>;
      expect(entries[name]).toMatch(/[\\/]packages[\\/][a-z-]+[\\/]src[\\/]index\.ts$/);
      for (const source of Object.values(entries)) expect(existsSync(source)).toBe(true);
    }
    expect(workspaceEntryPoints('@ecr-replicate/no-such-package')).toBeUndefined();
    expect(workspaceEntryPoints('@aws-sdk/client-ecr')).toBeUndefined();
  });
});

describe('least-privilege guard', () => {
  const role = (statements: unknown[]) => ({
    Resources: {
      R: {
        Type: 'AWS::IAM::Role',
        Properties: { Policies: [{ PolicyName: 'p', PolicyDocument: { Statement: statements } }] },
      },
    },
  });

  test('accepts scoped statements and ecr:GetAuthorizationToken on "*"', () => {
    expect(
      findViolations(
        role([
          { Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
          { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': ['Q', 'Arn'] } },
        ]),
      ),
    ).toEqual([]);
  });

  test('rejects wildcard actions, other actions on "*", and NotAction', () => {
    expect(findViolations(role([{ Effect: 'Allow', Action: 'sqs:*', Resource: 'arn:x' }]))).toEqual([
      'R/p: action "sqs:*" has a wildcard',
    ]);
    expect(findViolations(role([{ Effect: 'Allow', Action: ['ecr:PutImage'], Resource: ['*'] }]))).toEqual([
      'R/p: ecr:PutImage on Resource "*"',
    ]);
    expect(findViolations(role([{ Effect: 'Allow', NotAction: 'iam:*', Resource: '*' }]))).toHaveLength(1);
    expect(
      findViolations({
        Resources: {
          P: {
            Type: 'AWS::IAM::ManagedPolicy',
            Properties: { PolicyDocument: { Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] } },
          },
        },
      }),
    ).toEqual(['P: s3:GetObject on Resource "*"']);
  });
});

describe('zip writer', () => {
  test('round-trips entries and gives the same bytes for the same files', () => {
    const files = [
      { name: 'worker.js', data: 'console.log("hello")\n' },
      { name: 'dir/worker.js.map', data: Buffer.alloc(100_000, 1) },
    ];
    const zip = createZip(files);
    expect(readZip(zip).map((entry) => [entry.name, entry.data.length])).toEqual([
      ['worker.js', 21],
      ['dir/worker.js.map', 100_000],
    ]);
    expect(createZip(files).equals(zip)).toBe(true);
    expect(zip.length).toBeLessThan(2_000);
  });

  test('refuses unsafe and duplicate names', () => {
    expect(() => createZip([{ name: '../x', data: '' }])).toThrow(/invalid entry name/);
    expect(() => createZip([{ name: '/x', data: '' }])).toThrow(/invalid entry name/);
    expect(() =>
      createZip([
        { name: 'x', data: '' },
        { name: 'x', data: '' },
      ]),
    ).toThrow(/duplicate/);
  });
});
