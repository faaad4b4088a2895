import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAMBDA_ENVIRONMENT_LIMIT, environmentSize } from '../../../../deploy/plugins/stack-limits';
import {
  inParallel,
  mirrorRepository,
  offlineEnv,
  packageStack,
  PACKAGING_CONCURRENCY,
  removeMirrors,
  runSls,
  SERVICE_DIRS,
  type PackagedStack,
  type StackName,
} from '../support/packaging';
import {
  allStrings,
  asArray,
  props,
  resourcesOfType,
  roleStatements,
  statementsAllowing,
  target,
  type Loose,
} from '../support/template';
import { available, lintPackagedTemplates, warnSkipped } from '../support/tools';

/**
 * The stacks packaged with the stage parameters the shipped stages leave at
 * their defaults, spread over the three partitions: a configuration of 500
 * repository mappings (China), an adopted secret with an operator role
 * (GovCloud), FIPS on both sides and repository creation off (commercial);
 * and the packagings that must fail with a clear message.
 */

const dir = mkdtempSync(join(tmpdir(), 'build-points-'));
const BIG_CONFIG = join(dir, 'five-hundred-mappings.json');
const repositories: Record<string, string> = {};
for (let i = 0; i < 500; i += 1) repositories[`team/service-${String(i).padStart(3, '0')}`] = `mirror/svc-${i}`;
writeFileSync(
  BIG_CONFIG,
  JSON.stringify({
    repositories: { include: ['prefix:team/'], exclude: ['wildcard:team/scratch-*'] },
    tags: { include: ['wildcard:v*', 'regex:^release-[0-9]+$'] },
    mapping: { repositories, prefixes: [{ from: 'team/', to: 'mirror/team/' }] },
    deletes: true,
  }),
);
const ADOPTED_SECRET =
  'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:partition-ecr-replicate/destination-AbCdEf';
const ADOPTED_KEY = 'arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const OPERATOR = 'arn:aws-us-gov:iam::123456789012:role/replication-operator';

interface Case {
  key: string;
  stack: StackName;
  stage: 'dev' | 'prod';
  region: 'us-east-1' | 'us-gov-west-1' | 'cn-north-1';
  params: Record<string, string>;
}

const CASES: Case[] = [
  { key: 'big', stack: 'source', stage: 'dev', region: 'cn-north-1', params: { replicationConfigFile: BIG_CONFIG } },
  {
    key: 'big-destination',
    stack: 'destination',
    stage: 'dev',
    region: 'cn-north-1',
    params: { replicationConfigFile: BIG_CONFIG },
  },
  {
    key: 'adopted',
    stack: 'source',
    stage: 'prod',
    region: 'us-gov-west-1',
    params: {
      destinationSecretArn: ADOPTED_SECRET,
      destinationSecretKmsKeyArn: ADOPTED_KEY,
      operatorRoleArn: OPERATOR,
    },
  },
  {
    key: 'fips',
    stack: 'source',
    stage: 'dev',
    region: 'us-east-1',
    params: { fips: 'true', createRepositories: 'false', workerConcurrentBuildLimit: '3' },
  },
];

const packaged = new Map<string, PackagedStack>();

beforeAll(async () => {
  const results = await inParallel(
    CASES.map((c) => () => packageStack(c.stack, c.stage, c.region, c.params)),
    PACKAGING_CONCURRENCY,
  );
  CASES.forEach((c, index) => packaged.set(c.key, results[index]!));
}, 300_000);

afterAll(() => {
  removeMirrors();
  rmSync(dir, { recursive: true, force: true });
});

const get = (key: string): PackagedStack => packaged.get(key)!;
const environment = (stack: PackagedStack, id: string): Record<string, Loose> =>
  props(stack.template, id, 'AWS::Lambda::Function').Environment.Variables;
const FUNCTION_IDS = [
  'IngestLambdaFunction',
  'DispatcherLambdaFunction',
  'BuildStateLambdaFunction',
  'RetryLambdaFunction',
  'RepairLambdaFunction',
  'ScanLambdaFunction',
];
const workerVariables = (stack: PackagedStack): Record<string, Loose> =>
  Object.fromEntries(
    (props(stack.template, 'WorkerProject').Environment.EnvironmentVariables as Loose[])
      .filter((v) => v.Name)
      .map((v) => [v.Name, v.Value]),
  );

describe('configuration: 500 repository mappings, China (cn-north-1)', () => {
  test('the configuration goes to the store whole; every Lambda environment stays far under 4 KB', () => {
    const stack = get('big');
    const stored = readFileSync(join(stack.dir, 'replication-config.json'));
    expect(stored.length).toBeGreaterThan(15_000);
    expect(Object.keys(JSON.parse(stored.toString('utf8')).mapping.repositories)).toHaveLength(500);
    for (const id of FUNCTION_IDS) {
      const variables = environment(stack, id);
      expect(environmentSize(variables)).toBeLessThan(LAMBDA_ENVIRONMENT_LIMIT / 2);
      expect(variables.REPLICATION_CONFIG).toBeUndefined();
    }
    expect(environment(stack, 'IngestLambdaFunction').REPLICATION_CONFIG_SHA256).toBe(
      createHash('sha256').update(stored).digest('hex'),
    );
    expect(JSON.stringify(props(stack.template, 'WorkerProject').Environment)).not.toContain('svc-499');
  });

  test('a configuration change deploys without any change to the code: the same zips, another configuration object', () => {
    // `fips` is dev with the shipped configuration (other stage parameters, another region: the same code).
    const big = get('big');
    const shipped = get('fips');
    const zips = readdirSync(big.dir).filter((file) => file.endsWith('.zip'));
    expect(zips.sort()).toEqual(
      readdirSync(shipped.dir)
        .filter((file) => file.endsWith('.zip'))
        .sort(),
    );
    expect(zips).toContain('build-worker.zip');
    for (const zip of zips)
      expect({ zip, same: readFileSync(join(big.dir, zip)).equals(readFileSync(join(shipped.dir, zip))) }).toEqual({
        zip,
        same: true,
      });
    expect(environment(big, 'IngestLambdaFunction').REPLICATION_CONFIG_SHA256).not.toBe(
      environment(shipped, 'IngestLambdaFunction').REPLICATION_CONFIG_SHA256,
    );
    // The rule narrows to the include prefix; deletes are on.
    const rule = resourcesOfType(big.template, 'AWS::Events::Rule').find(([, r]) =>
      allStrings(r.Properties).includes('ECR Image Action'),
    )![1].Properties as Loose;
    expect(rule.EventPattern.detail).toMatchObject({
      'repository-name': [{ prefix: 'team/' }],
      'action-type': ['PUSH', 'DELETE'],
    });
  });

  test("the destination user is scoped to the 500 renamed repositories and the prefix rewrite's target, in managed policies", () => {
    const stack = get('big-destination');
    const policies = resourcesOfType(stack.template, 'AWS::IAM::ManagedPolicy');
    expect(policies.length).toBeGreaterThan(1);
    const resources = policies.flatMap(([, p]) =>
      allStrings((p.Properties as Loose).PolicyDocument.Statement[0].Resource).map(
        (arn) => arn.split(':repository/')[1],
      ),
    );
    expect(resources).toHaveLength(501);
    expect(resources).toContain('mirror/team/*');
    expect(resources).toContain('mirror/svc-499');
    expect(resources).not.toContain('*');
    for (const [, p] of policies) expect((p.Properties as Loose).Users).toEqual([{ Ref: 'ReplicationUser' }]);
  });
});

describe("an adopted secret (the older system's) and an operator role, GovCloud prod", () => {
  test('no secret, key or secret policy is created; the worker and scan read the adopted ARN and decrypt with its key', () => {
    const t = get('adopted').template;
    for (const id of [
      'DestinationSecret',
      'DestinationSecretKey',
      'DestinationSecretKeyAlias',
      'DestinationSecretPolicy',
    ])
      expect(t.Resources[id]).toBeUndefined();
    expect(workerVariables(get('adopted')).DEST_SECRET_ID).toBe(ADOPTED_SECRET);
    expect(environment(get('adopted'), 'ScanLambdaFunction').DEST_SECRET_ID).toBe(ADOPTED_SECRET);
    const scanRole = target(props(t, 'ScanLambdaFunction').Role)!;
    for (const role of ['WorkerRole', scanRole]) {
      const statements = roleStatements(t, role);
      expect(statementsAllowing(statements, 'secretsmanager:GetSecretValue').map((s) => s.Resource)).toEqual([
        ADOPTED_SECRET,
      ]);
      const decrypt = statementsAllowing(statements, 'kms:Decrypt');
      expect(decrypt.map((s) => s.Resource)).toEqual([ADOPTED_KEY]);
      expect(decrypt[0]!.Condition!.StringLike).toEqual({ 'kms:EncryptionContext:SecretARN': ADOPTED_SECRET });
    }
    expect(t.Outputs?.DestinationSecretId?.Value).toBe(ADOPTED_SECRET);
  });

  test('the operator role may send to the request queue and the scan queue too', () => {
    for (const [id, count] of [
      ['RequestQueuePolicy', 5],
      ['ScanQueuePolicy', 3],
    ] as const) {
      const policy = props(get('adopted').template, id, 'AWS::SQS::QueuePolicy');
      const senders = policy.PolicyDocument.Statement[0].Condition.ArnNotEquals['aws:PrincipalArn'] as Loose[];
      expect(senders).toHaveLength(count);
      expect(senders).toContain(OPERATOR);
    }
  });
});

describe('FIPS on both sides, repository creation off, 3 builds at once: commercial us-east-1', () => {
  test('every SDK client of each side and both registry hosts use FIPS endpoints', () => {
    const stack = get('fips');
    for (const id of FUNCTION_IDS) expect(environment(stack, id).AWS_USE_FIPS_ENDPOINT).toBe('true');
    expect(environment(stack, 'ScanLambdaFunction').DEST_USE_FIPS_ENDPOINT).toBe('true');
    expect(workerVariables(stack)).toMatchObject({ AWS_USE_FIPS_ENDPOINT: 'true', DEST_USE_FIPS_ENDPOINT: 'true' });
  });

  test("the worker does not create repositories, and the project's build limit is the parameter", () => {
    expect(workerVariables(get('fips')).CREATE_REPOSITORIES).toBe('false');
    expect(props(get('fips').template, 'WorkerProject').ConcurrentBuildLimit).toBe(3);
  });

  test('in GovCloud FIPS is the default: the destination registry host of the outputs is dkr.ecr-fips', () => {
    expect(get('adopted').template.Outputs?.DestinationRegistry?.Value).toMatch(/^\(destination account not set/);
    for (const id of FUNCTION_IDS) expect(environment(get('adopted'), id).AWS_USE_FIPS_ENDPOINT).toBe('true');
    // China has no FIPS endpoints: off there.
    for (const id of FUNCTION_IDS) expect(environment(get('big'), id).AWS_USE_FIPS_ENDPOINT).toBe('false');
  });
});

describe('packagings that must fail with a clear message', () => {
  const failing = async (
    stack: StackName,
    stage: string,
    region: string,
    params: Record<string, string>,
  ): Promise<string> => {
    const { root, serviceDir } = mirrorRepository(SERVICE_DIRS[stack]);
    const result = await runSls(
      [
        'package',
        '--stage',
        stage,
        '--region',
        region,
        '--package',
        join(root, 'out'),
        ...Object.entries(params).map(([k, v]) => `--param=${k}=${v}`),
      ],
      serviceDir,
      offlineEnv({ TMPDIR: root }),
    );
    expect(result.code).not.toBe(0);
    return result.output;
  };

  test('a Lambda environment over 4 KB, FIPS asked for in China, a stage name that overflows IAM role names, a destination account id', async () => {
    const [environmentTooLarge, fipsInChina, longStage, badAccount] = await inParallel(
      [
        () => failing('source', 'dev', 'us-east-1', { logLevel: 'x'.repeat(4100) }),
        () => failing('source', 'dev', 'cn-north-1', { fips: 'true' }),
        () =>
          failing('source', 'a-very-long-stage-name-for-iam', 'us-gov-west-1', {
            replicationConfigFile: 'deploy/config/dev.json',
          }),
        () => failing('source', 'dev', 'us-east-1', { destinationAccountId: '1234' }),
      ],
      PACKAGING_CONCURRENCY,
    );
    expect(environmentTooLarge).toMatch(
      /stack-limits: the stack would exceed AWS limits:\s+IngestLambdaFunction: its environment would be \d+ bytes, over Lambda's 4096-byte limit \(largest: POWERTOOLS_LOG_LEVEL/,
    );
    expect(fipsInChina).toMatch(/param "fips" is true, but the source region cn-north-1 has no FIPS endpoints/);
    expect(longStage).toMatch(
      /the stage name "a-very-long-stage-name-for-iam" is too long: the IAM role of \w+ would be "[^"]+" \(\d+ characters, over AWS's limit of 64\); use a stage name at most 4 characters long/,
    );
    expect(badAccount).toMatch(/param "destinationAccountId" must be empty or a 12-digit account id/);
  }, 240_000);
});

const HAS_CFN_LINT = available('cfn-lint');
if (!HAS_CFN_LINT) warnSkipped('cfn-lint', 'linting these templates is');

(HAS_CFN_LINT ? test : test.skip)(
  'cfn-lint: nothing to report in any of these templates',
  () => {
    expect(lintPackagedTemplates([...packaged.values()])).toEqual([]);
  },
  300_000,
);

test('every zip is the same in every packaging of the same code (worker and Lambdas, whatever the stage parameters)', () => {
  const sources = [...packaged.values()].filter((stack) => stack.stack === 'source');
  const [first, ...others] = sources;
  for (const zip of readdirSync(first!.dir).filter((file) => file.endsWith('.zip')))
    for (const other of others)
      expect(readFileSync(join(other.dir, zip)).equals(readFileSync(join(first!.dir, zip)))).toBe(true);
  expect(asArray(others).length).toBeGreaterThanOrEqual(2);
});
