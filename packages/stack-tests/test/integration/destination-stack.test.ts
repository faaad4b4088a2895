import { destinationResources, DELETE_ACTIONS, PUSH_ACTIONS } from '../../../../deploy/destination/resources';
import { RUNS, packageRuns, removeMirrors, runKey, type PackagedStack, type Run } from '../support/packaging';
import {
  allStrings,
  asArray,
  iamStatements,
  props,
  resourcesOfType,
  type Loose,
  type Template,
} from '../support/template';

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
    expect(statements).toHaveLength(2);
    const [token, repositories] = statements;
    expect(token).toMatchObject({ Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' });
    const deletes = run.stage === 'dev'; // the shipped stage parameters follow the source stack's `replication.deletes`
    expect(repositories.Action).toEqual(deletes ? [...PUSH_ACTIONS, ...DELETE_ACTIONS] : PUSH_ACTIONS);
    expect(asArray<Loose>(repositories.Resource)).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*' },
    ]);
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

  test('scopes the policy to the repository patterns and adds BatchDeleteImage only when deletes replicate', () => {
    const without: Loose = destinationResources(base);
    const statement = without.Resources.ReplicationUser.Properties.Policies[0].PolicyDocument.Statement[1];
    expect(statement.Resource).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/mirror/team/*' },
      { 'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/apps/legacy' },
    ]);
    expect(statement.Action).not.toContain('ecr:BatchDeleteImage');
    const withDeletes: Loose = destinationResources({ ...base, deletes: true });
    expect(withDeletes.Resources.ReplicationUser.Properties.Policies[0].PolicyDocument.Statement[1].Action).toContain(
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
