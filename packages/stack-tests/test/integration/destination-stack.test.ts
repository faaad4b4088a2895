import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CREATE_ACTIONS,
  destinationResources,
  DELETE_ACTIONS,
  PUSH_ACTIONS,
} from '../../../../deploy/destination/resources';
import { parseReplication } from '../../../../deploy/lib/stage-config';
import { RUNS, packageRuns, removeMirrors, runKey, type PackagedStack, type Run } from '../support/packaging';
import { REPO_ROOT } from '../support/packaging';
import {
  allStrings,
  asArray,
  iamStatements,
  props,
  resourcesOfType,
  type Loose,
  type Template,
} from '../support/template';
import { available, lintPackagedTemplates, warnSkipped } from '../support/tools';

/**
 * The destination-partition stack (deploy/destination/serverless.yml),
 * packaged offline for dev and prod in a commercial and a GovCloud region.
 */

const stacks = new Map<string, PackagedStack>();

beforeAll(async () => {
  for (const [key, value] of await packageRuns('destination')) stacks.set(key, value);
}, 240_000);

afterAll(() => removeMirrors());

function packaged(run: Run): PackagedStack {
  const found = stacks.get(runKey(run));
  if (found === undefined) throw new Error(`the destination stack was not packaged for ${runKey(run)}`);
  return found;
}

function userPolicy(template: Template): Loose[] {
  const user = props(template, 'ReplicationUser', 'AWS::IAM::User');
  expect(user.Policies).toHaveLength(1);
  return user.Policies[0].PolicyDocument.Statement;
}

describe.each(RUNS)('destination stack, $stage in $region', (run) => {
  const template = (): Template => packaged(run).template;

  test('is packaged offline for its stage and region', () => {
    expect(packaged(run).state.service.provider.region).toBe(run.region);
    expect(packaged(run).artifactDirectory).toMatch(
      new RegExp(`^serverless/ecr-partition-replicate-destination/${run.stage}/`),
    );
  });

  test('an IAM user with no console password and no access key in the template (created by hand, see the README)', () => {
    const t = template();
    expect(props(t, 'ReplicationUser').UserName).toBe(`ecr-partition-replicate-${run.stage}`);
    expect(props(t, 'ReplicationUser').LoginProfile).toBeUndefined();
    expect(resourcesOfType(t, 'AWS::IAM::AccessKey')).toEqual([]);
    expect(t.Outputs?.ReplicationUserName?.Value).toEqual({ Ref: 'ReplicationUser' });
  });

  test("the user's policy: a registry token on '*', and only the worker's ECR actions on the replicated repositories", () => {
    const statements = userPolicy(template());
    expect(statements).toHaveLength(1);
    const [token] = statements;
    // The repositories are in managed policies attached to the user (inline policies of a user hold 2,048 characters).
    const managed = resourcesOfType(template(), 'AWS::IAM::ManagedPolicy');
    expect(managed.map(([id]) => id)).toEqual(['ReplicaRepositoriesPolicy1']);
    const policy = managed[0]![1].Properties as Loose;
    expect(policy.Users).toEqual([{ Ref: 'ReplicationUser' }]);
    const [repositories] = policy.PolicyDocument.Statement;
    expect(token).toMatchObject({ Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' });
    // deletes: auto follows the shipped configuration (dev deletes, prod does not); the worker may create repositories.
    const deletes = run.stage === 'dev';
    expect(repositories.Action).toEqual([...PUSH_ACTIONS, ...(deletes ? DELETE_ACTIONS : []), ...CREATE_ACTIONS]);
    // repositories: mapped, from the shipped configuration (include prefix:apps/, no renaming).
    expect(asArray<Loose>(repositories.Resource)).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/apps/*' },
    ]);
    // The registry host the outputs give: FIPS in GovCloud (fips: auto).
    expect(template().Outputs?.DestinationRegistry?.Value).toEqual({
      'Fn::Sub': `\${AWS::AccountId}.dkr.${run.region.startsWith('us-gov-') ? 'ecr-fips' : 'ecr'}.\${AWS::Region}.\${AWS::URLSuffix}`,
    });
  });

  test('no IAM statement allows a wildcard action, or anything but ecr:GetAuthorizationToken on "*"', () => {
    const problems: string[] = [];
    for (const { where, statement } of iamStatements(template())) {
      for (const action of asArray(statement.Action)) {
        if (action.includes('*')) problems.push(`${where}: ${action}`);
        if (asArray<Loose>(statement.Resource).includes('*') && action !== 'ecr:GetAuthorizationToken')
          problems.push(`${where}: ${action} on "*"`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('every ARN is partition-agnostic', () => {
    const strings = allStrings(template());
    expect(strings.filter((s) => /arn:aws[a-z-]*:/.test(s))).toEqual([]);
    for (const arn of strings.filter((s) => s.startsWith('arn:') && s !== 'arn:'))
      expect(arn).toMatch(/^arn:\$\{AWS::Partition\}:/);
  });
});

describe('destination resources from the stage parameters', () => {
  const base = {
    userName: 'replicator',
    repositories: ['mirror/team/*', 'apps/legacy'],
    deletes: false,
    createRepositories: [],
    scanOnPush: true,
  };

  test('mapped (the default) scopes the user to what the configuration writes; "*" only when listed; unbounded configurations are refused', () => {
    const replication = parseReplication({
      repositories: { include: ['prefix:team/', 'prefix:apps/'] },
      mapping: { repositories: { 'apps/old': 'legacy/old' }, prefixes: [{ from: 'team/', to: 'mirror/team/' }] },
    });
    const mapped: Loose = destinationResources({ ...base, repositories: 'mapped', replication, deletes: 'auto' });
    const statement = mapped.Resources.ReplicaRepositoriesPolicy1.Properties.PolicyDocument.Statement[0];
    expect(allStrings(statement.Resource).map((arn) => arn.split(':repository/')[1])).toEqual([
      'legacy/old',
      'apps/*',
      'mirror/team/*',
    ]);
    expect(statement.Action).not.toContain('ecr:BatchDeleteImage'); // the configuration does not delete
    expect(statement.Action).toEqual(expect.arrayContaining(CREATE_ACTIONS));
    const withoutCreate: Loose = destinationResources({ ...base, allowCreateRepository: false });
    expect(
      withoutCreate.Resources.ReplicaRepositoriesPolicy1.Properties.PolicyDocument.Statement[0].Action,
    ).not.toContain('ecr:CreateRepository');
    expect(() =>
      destinationResources({ ...base, repositories: 'mapped', replication: parseReplication({}), deletes: 'auto' }),
    ).toThrow(/does not bound the source repositories.*"\*" for every one/);
    const everything: Loose = destinationResources({ ...base, repositories: ['*'] });
    expect(
      allStrings(everything.Resources.ReplicaRepositoriesPolicy1.Properties.PolicyDocument.Statement[0].Resource),
    ).toEqual(['arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*']);
  });

  test('many exact names: as many managed policies as fit 6,144 characters each, up to the 10 a user takes', () => {
    const names = Array.from({ length: 500 }, (_, i) => `mirror/app-${String(i).padStart(3, '0')}`);
    const { Resources } = destinationResources({ ...base, repositories: names }) as Loose;
    const policies = Object.entries(Resources).filter(
      ([, r]: Loose) => r.Type === 'AWS::IAM::ManagedPolicy',
    ) as Loose[];
    expect(policies.length).toBeGreaterThan(1);
    expect(policies.length).toBeLessThanOrEqual(10);
    const resolved = (document: Loose): string =>
      JSON.stringify(document)
        .replaceAll('{"Fn::Sub":"arn:${AWS::Partition}', '"arn:aws-us-gov')
        .replaceAll('${AWS::Region}', 'us-gov-west-1')
        .replaceAll('${AWS::AccountId}', '123456789012')
        .replaceAll('"}', '"');
    for (const [, policy] of policies)
      expect(resolved(policy.Properties.PolicyDocument).length).toBeLessThanOrEqual(6144);
    const covered = policies.flatMap(([, p]: Loose) => allStrings(p.Properties.PolicyDocument.Statement[0].Resource));
    expect(covered.map((arn) => arn.split(':repository/')[1])).toEqual(names);
    expect(() =>
      destinationResources({
        ...base,
        repositories: [...names, ...names.map((n) => `${n}-b`), ...names.map((n) => `${n}-c`)],
      }),
    ).toThrow(/managed policies, over the 10 an IAM user takes/);
  });

  test('scopes the policy to the repository patterns and adds BatchDeleteImage only when deletes replicate', () => {
    const without: Loose = destinationResources(base);
    const statement = without.Resources.ReplicaRepositoriesPolicy1.Properties.PolicyDocument.Statement[0];
    expect(statement.Resource).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/mirror/team/*' },
      { 'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/apps/legacy' },
    ]);
    expect(statement.Action).not.toContain('ecr:BatchDeleteImage');
    const withDeletes: Loose = destinationResources({ ...base, deletes: true });
    expect(withDeletes.Resources.ReplicaRepositoriesPolicy1.Properties.PolicyDocument.Statement[0].Action).toContain(
      'ecr:BatchDeleteImage',
    );
  });

  test('creates the listed repositories, mutable (tags move), kept when the stack goes', () => {
    const { Resources } = destinationResources({ ...base, createRepositories: ['mirror/team/app', 'apps/legacy'] });
    const repositories = Object.values(Resources).filter((r: Loose) => r.Type === 'AWS::ECR::Repository') as Loose[];
    expect(repositories.map((r) => r.Properties.RepositoryName).sort()).toEqual(['apps/legacy', 'mirror/team/app']);
    for (const repository of repositories) {
      expect(repository.Properties.ImageTagMutability).toBe('MUTABLE');
      expect(repository.DeletionPolicy).toBe('Retain');
    }
  });

  test('refuses repositories the user could not write to, bad patterns and bad names', () => {
    expect(() => destinationResources({ ...base, createRepositories: ['other/app'] })).toThrow(
      /"other\/app" is outside "repositories"/,
    );
    expect(() => destinationResources({ ...base, repositories: ['Team/*'] })).toThrow(
      /"Team\/\*" is not a repository name/,
    );
    expect(() => destinationResources({ ...base, repositories: [] })).toThrow(/at least one/);
    expect(() => destinationResources({ ...base, userName: 'no spaces allowed' })).toThrow(/userName/);
    expect(() => destinationResources({ ...base, deletes: 'yes' as unknown as boolean })).toThrow(/deletes/);
  });
});

// ---- cfn-lint ---------------------------------------------------------------

const HAS_CFN_LINT = available('cfn-lint');
if (!HAS_CFN_LINT) warnSkipped('cfn-lint', 'linting the packaged destination templates is');

(HAS_CFN_LINT ? test : test.skip)(
  'cfn-lint: no error, warning or informational finding in any packaged destination template (dev and prod in us-east-1, us-gov-west-1, cn-north-1)',
  () => {
    const packages = [...stacks.values()];
    expect(packages.map((item) => `${item.stage}/${item.region}`).sort()).toEqual(RUNS.map(runKey).sort());
    expect(lintPackagedTemplates(packages)).toEqual([]);
  },
  300_000,
);

test('the deployer policy (deploy/policies/deployer-destination.json) covers every resource type of every packaged template', () => {
  const policy = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy', 'policies', 'deployer-destination.json'), 'utf8'));
  const prefixes = new Set(
    (policy.Statement as Array<{ Action: string[] }>).flatMap((s) => s.Action.map((a) => a.split(':')[0])),
  );
  const types = new Set(
    [...stacks.values()].flatMap((item) => Object.values(item.template.Resources).map((r) => r.Type)),
  );
  const service = (type: string): string =>
    ({ CloudWatch: 'cloudwatch', Events: 'events', SecretsManager: 'secretsmanager' })[type.split('::')[1]!] ??
    type.split('::')[1]!.toLowerCase();
  expect([...types].filter((type) => !prefixes.has(service(type)))).toEqual([]);
  expect(prefixes.has('cloudformation')).toBe(true);
});
