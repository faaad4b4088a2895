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
import type { Loose } from '../support/template';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  dropRedundantDependsOn,
  environmentSize,
  findLimitViolations,
  LAMBDA_ENVIRONMENT_LIMIT,
} from '../../../../deploy/plugins/stack-limits';
import { denyOverrideStatements, OVERRIDE_CONDITION_KEYS } from '../../../../deploy/lib/start-build-guard';
import {
  fipsSides,
  MAX_CONFIG_BYTES,
  readReplicationFile,
  secretDecryptStatement,
  secretResources,
  secretSettings,
} from '../../../../deploy/lib/stage-config';

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
      /param "replicationConfigFile".*repositories\.include\.0\.pattern: is not a valid regular expression/,
    );
    expect(() => parseReplication(['not', 'an', 'object'])).toThrow(/must be a JSON object/);
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
      scanMaxConcurrency: 10,
      scanPageTags: 1000,
      workerConcurrentBuildLimit: 10,
      copyLambdaMemory: 1769,
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

describe('stack limits', () => {
  const fn = (variables: Record<string, unknown>): unknown => ({
    Resources: { F: { Type: 'AWS::Lambda::Function', Properties: { Environment: { Variables: variables } } } },
  });

  test('a Lambda environment over 4 KB fails the packaging, naming the function and its largest variables', () => {
    expect(findLimitViolations(fn({ SMALL: 'x'.repeat(100), REF: { Ref: 'Queue' } }))).toEqual([]);
    // A reference counts at the longest it can resolve to.
    expect(environmentSize({ QUEUE: { Ref: 'Queue' } })).toBe('QUEUE'.length + 256);
    const [problem] = findLimitViolations(fn({ BIG: 'x'.repeat(LAMBDA_ENVIRONMENT_LIMIT), SMALL: 'y' }));
    expect(problem).toMatch(
      /^F: its environment would be 4105 bytes, over Lambda's 4096-byte limit \(largest: BIG 4099 B/,
    );
  });

  test('names over AWS limits fail with the resource and the limit, counting the region as deployed', () => {
    const role = (suffix: string): unknown => ({
      Resources: {
        R: {
          Type: 'AWS::IAM::Role',
          Properties: { RoleName: { 'Fn::Join': ['-', [`service-${suffix}`, { Ref: 'AWS::Region' }, 'lambdaRole']] } },
        },
      },
    });
    // service-<suffix>-us-east-1-lambdaRole: 8 + n + 1 + 9 + 1 + 10
    expect(findLimitViolations(role('x'.repeat(35)), { region: 'us-east-1' })).toEqual([]);
    expect(findLimitViolations(role('x'.repeat(36)), { region: 'us-east-1' })).toEqual([
      "R: the IAM role name would be 65 characters, over AWS's limit of 64: use a shorter service or stage name",
    ]);
    // Unknown region: its longest.
    expect(findLimitViolations(role('x'.repeat(35)))).toHaveLength(1);
    expect(
      findLimitViolations({ Resources: { Q: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'q'.repeat(81) } } } }),
    ).toEqual([expect.stringMatching(/^Q: the SQS queue name "q+" would be 81 characters, over AWS's limit of 80/)]);
  });

  test("IAM policies over IAM's size quotas fail, counted as resolved (a user's inline policies 2,048 characters)", () => {
    const user = (resources: number): unknown => ({
      Resources: {
        U: {
          Type: 'AWS::IAM::User',
          Properties: {
            Policies: [
              {
                PolicyName: 'p',
                PolicyDocument: {
                  Version: '2012-10-17',
                  Statement: [
                    {
                      Effect: 'Allow',
                      Action: ['ecr:PutImage'],
                      Resource: Array.from({ length: resources }, (_, i) => ({
                        'Fn::Sub': `arn:\${AWS::Partition}:ecr:\${AWS::Region}:\${AWS::AccountId}:repository/r${i}`,
                      })),
                    },
                  ],
                },
              },
            ],
          },
        },
      },
    });
    expect(findLimitViolations(user(20), { region: 'us-gov-west-1' })).toEqual([]);
    expect(findLimitViolations(user(40), { region: 'us-gov-west-1' })).toEqual([
      expect.stringMatching(/^U: its inline policies would be about \d+ characters, over IAM's limit of 2048$/),
    ]);
  });

  test('DependsOn entries a reference already enforces are dropped (cfn-lint W3005), the others kept', () => {
    const template: Loose = {
      Resources: {
        Fn: {
          Type: 'AWS::Lambda::Function',
          DependsOn: ['Role', 'LogGroup'],
          Properties: { Role: { 'Fn::GetAtt': ['Role', 'Arn'] } },
        },
        Other: { Type: 'AWS::SQS::Queue', DependsOn: 'Fn', Properties: { QueueName: { 'Fn::Sub': '${Fn}-q' } } },
      },
    };
    expect(dropRedundantDependsOn(template)).toBe(2);
    expect(template.Resources.Fn.DependsOn).toBe('LogGroup');
    expect(template.Resources.Other.DependsOn).toBeUndefined();
  });
});

describe("the dispatcher's StartBuild guard", () => {
  test('one Deny per override key (present = denied), and a Deny on any variable but JOB_KEYS and LEASE_OWNER', () => {
    const statements = denyOverrideStatements('project-arn') as Loose[];
    expect(statements.every((s) => s.Effect === 'Deny' && s.Resource === 'project-arn')).toBe(true);
    expect(statements.slice(1).map((s) => s.Condition)).toEqual(
      OVERRIDE_CONDITION_KEYS.map((key: string) => ({ Null: { [key]: 'false' } })),
    );
    for (const key of [
      'codebuild:source.buildspec',
      'codebuild:environment.image',
      'codebuild:environment.privilegedMode',
    ])
      expect(OVERRIDE_CONDITION_KEYS).toContain(key);
    expect(statements[0].Condition).toEqual({
      'ForAnyValue:StringNotEquals': { 'codebuild:environment.environmentVariables.name': ['JOB_KEYS', 'LEASE_OWNER'] },
    });
  });
});

describe('FIPS', () => {
  test('auto: each side whose region is in GovCloud; true: both, refused where a region has no FIPS endpoints', () => {
    expect(fipsSides({ fips: 'auto', region: 'us-east-1', destinationRegion: 'us-gov-west-1' })).toEqual({
      source: false,
      destination: true,
    });
    expect(fipsSides({ fips: 'auto', region: 'us-gov-east-1', destinationRegion: 'cn-north-1' })).toEqual({
      source: true,
      destination: false,
    });
    expect(fipsSides({ fips: true, region: 'us-west-2', destinationRegion: 'us-gov-west-1' })).toEqual({
      source: true,
      destination: true,
    });
    expect(fipsSides({ fips: 'false', region: 'us-gov-west-1', destinationRegion: 'us-gov-east-1' })).toEqual({
      source: false,
      destination: false,
    });
    expect(() => fipsSides({ fips: 'true', region: 'cn-north-1', destinationRegion: 'us-gov-west-1' })).toThrow(
      /the source region cn-north-1 has no FIPS endpoints/,
    );
    expect(() => fipsSides({ fips: 'true', region: 'us-east-1', destinationRegion: 'eu-west-1' })).toThrow(
      /destination region eu-west-1/,
    );
    expect(() => fipsSides({ fips: 'yes', region: 'us-east-1', destinationRegion: 'us-east-2' })).toThrow(/"fips"/);
    expect(
      destination({ partition: 'aws-us-gov', region: 'us-gov-west-1', accountId: '123456789012', fips: true }).registry,
    ).toBe('123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com');
  });
});

describe('the destination secret', () => {
  const params = {
    destinationSecretName: 'app/dev/destination',
    destinationSecretArn: '',
    destinationSecretKmsKeyArn: '',
  };
  const ADOPTED = 'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:old/partition-ecr-replicate-AbCdEf';

  test('created: decrypt of any key of the account through Secrets Manager, for this secret only; its resources kept', () => {
    const secret = secretSettings(params);
    expect(secret.id).toBe('app/dev/destination');
    expect(secretDecryptStatement(secret).Condition.StringLike).toEqual({
      'kms:EncryptionContext:SecretARN': {
        'Fn::Sub':
          'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:app/dev/destination-??????',
      },
    });
    const resources = secretResources(secret, {
      service: 's',
      stage: 'dev',
      readers: ['WorkerRole'],
      writer: '',
    }) as Loose;
    expect(Object.keys(resources).sort()).toEqual([
      'DestinationSecret',
      'DestinationSecretKey',
      'DestinationSecretKeyAlias',
      'DestinationSecretPolicy',
    ]);
    const operator = 'arn:aws:iam::123456789012:role/ops';
    const withOperator = secretResources(secret, {
      service: 's',
      stage: 'dev',
      readers: ['WorkerRole'],
      writer: operator,
    }) as Loose;
    expect(withOperator.DestinationSecretKey.Properties.KeyPolicy.Statement[2].Principal).toEqual({ AWS: operator });
  });

  test("adopted by ARN (the older system's secret): no resources, the ARN everywhere, its key if given", () => {
    const secret = secretSettings({ ...params, destinationSecretArn: ADOPTED });
    expect(secret).toMatchObject({ adopt: true, id: ADOPTED, arnPattern: ADOPTED });
    expect(secretResources(secret, { service: 's', stage: 'dev', readers: [], writer: '' })).toEqual({});
    const key = 'arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    expect(secretSettings({ ...params, destinationSecretArn: ADOPTED, destinationSecretKmsKeyArn: key }).keyArn).toBe(
      key,
    );
    expect(() => secretSettings({ ...params, destinationSecretArn: 'old-secret' })).toThrow(/"destinationSecretArn"/);
    expect(() => secretSettings({ ...params, destinationSecretKmsKeyArn: key })).toThrow(/applies only with/);
  });
});

describe('the replication configuration file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'replication-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('is read, validated and stored as canonical JSON with its SHA-256', () => {
    const file = join(dir, 'ok.json');
    writeFileSync(file, '{\n  "deletes": true\n}\n');
    const read = readReplicationFile(file);
    expect(read.text).toBe('{"deletes":true}');
    expect(read.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  test('a missing, malformed, invalid or oversized file fails with the parameter and the reason', () => {
    expect(() => readReplicationFile(join(dir, 'none.json'))).toThrow(/"replicationConfigFile": cannot read .*ENOENT/);
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    expect(() => readReplicationFile(join(dir, 'bad.json'))).toThrow(/is not valid JSON/);
    writeFileSync(join(dir, 'invalid.json'), '{"deletes":"yes"}');
    expect(() => readReplicationFile(join(dir, 'invalid.json'))).toThrow(/deletes/);
    writeFileSync(
      join(dir, 'big.json'),
      JSON.stringify({ mapping: { repositories: { a: 'b'.repeat(MAX_CONFIG_BYTES) } } }),
    );
    expect(() => readReplicationFile(join(dir, 'big.json'))).toThrow(/over the 1048576-byte limit/);
  });
});
