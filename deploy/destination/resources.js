'use strict';
/**
 * The destination stack's resources, from its stage parameters (see
 * serverless.yml): the IAM user with its policy and the optional
 * repositories. `destinationResources(params)` is exported for the tests.
 */
const { createHash } = require('node:crypto');
const { loadCommon } = require('../lib/common-source');
const { readReplicationFile, parseReplication } = require('../lib/stage-config');

/** What the worker does at the destination: check and push blobs and manifests, read what is there. */
const PUSH_ACTIONS = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:InitiateLayerUpload',
  'ecr:UploadLayerPart',
  'ecr:CompleteLayerUpload',
  'ecr:PutImage',
  'ecr:BatchGetImage',
  'ecr:GetDownloadUrlForLayer',
  'ecr:DescribeImages',
  'ecr:ListImages',
];
const DELETE_ACTIONS = ['ecr:BatchDeleteImage'];
/** Creating a missing repository with the source's settings and tags (after asking whether it exists). */
const CREATE_ACTIONS = ['ecr:DescribeRepositories', 'ecr:CreateRepository', 'ecr:TagResource'];

const REPOSITORY_NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const REPOSITORY_PATTERN = /^(?:\*|(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/?\*)?)$/;

const list = (value) =>
  value === undefined || value === null || value === '' ? [] : Array.isArray(value) ? value : [value];

function fail(message) {
  throw new Error(`destination stack configuration: ${message}`);
}

function matches(pattern, name) {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

function repositoryArn(pattern) {
  return { 'Fn::Sub': `arn:\${AWS::Partition}:ecr:\${AWS::Region}:\${AWS::AccountId}:repository/${pattern}` };
}

function logicalIdOf(name) {
  const readable = name.replace(/(^|[^A-Za-z0-9]+)([A-Za-z0-9])/g, (_, __, c) => c.toUpperCase()).slice(0, 180);
  return `Repository${readable}${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}

/**
 * The repository patterns of `repositories`: `mapped` (the default) derives
 * them from the replication configuration (the names and prefixes its
 * mapping writes to, see common's destinationScope); otherwise the list
 * given. `*` (every repository) only when asked for.
 */
function repositoryPatterns(repositories, config) {
  if (list(repositories).length === 1 && String(list(repositories)[0]) === 'mapped') {
    if (config === undefined) fail('param "repositories" is "mapped" but no replication configuration was given');
    const scope = loadCommon().destinationScope(config);
    if (scope === undefined)
      fail(
        'param "repositories" is "mapped", but the replication configuration does not bound the source repositories ' +
          '(its include filters are empty or not all prefix:): list the destination repositories, or "*" for every one',
      );
    const patterns = [...scope.names, ...scope.prefixes.map((prefix) => `${prefix}*`)];
    return patterns.map((pattern) => (pattern === '*' ? '*' : pattern.replace(/\/\*$/, '/*')));
  }
  return list(repositories).map(String);
}

/** A managed policy's size limit (characters, whitespace not counted), and how many a user takes. */
const MANAGED_POLICY_LIMIT = 6144;
const MAX_MANAGED_POLICIES = 10;
/** The longest an ARN prefix `arn:<partition>:ecr:<region>:<account>:repository/` resolves to. */
const ARN_PREFIX_LENGTH = 'arn:aws-iso-b:ecr:us-isob-east-1:123456789012:repository/'.length;

/** `patterns` in groups whose managed policy (with `actions`) stays within the size limit once resolved. */
function chunkPatterns(patterns, actions) {
  const overhead = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: 'ReplicaRepositories', Effect: 'Allow', Action: actions, Resource: [] }],
  }).length;
  const chunks = [];
  let current = [];
  let size = overhead;
  for (const pattern of patterns) {
    const length = ARN_PREFIX_LENGTH + pattern.length + 3; // quotes and comma
    if (current.length > 0 && size + length > MANAGED_POLICY_LIMIT) {
      chunks.push(current);
      current = [];
      size = overhead;
    }
    current.push(pattern);
    size += length;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** `{ Resources, Outputs }` of the destination stack. */
function destinationResources(params) {
  const userName = String(params.userName || '');
  if (!/^[A-Za-z0-9+=,.@_-]{1,64}$/.test(userName))
    fail('param "userName" must be an IAM user name (1 to 64 of A-Z a-z 0-9 + = , . @ _ -)');
  const patterns = repositoryPatterns(params.repositories, params.replication);
  if (patterns.length === 0) fail('param "repositories" must name at least one repository or pattern');
  for (const pattern of patterns) {
    if (!REPOSITORY_PATTERN.test(pattern))
      fail(`param "repositories": "${pattern}" is not a repository name or a prefix ending in *`);
  }
  const deletes = params.deletes === 'auto' && params.replication ? params.replication.deletes : params.deletes;
  if (typeof deletes !== 'boolean') fail('param "deletes" must be true or false (or auto: as the configuration)');
  const allowCreate = params.allowCreateRepository === undefined ? true : params.allowCreateRepository;
  if (typeof allowCreate !== 'boolean') fail('param "allowCreateRepository" must be true or false');
  const created = list(params.createRepositories).map(String);
  for (const name of created) {
    if (!REPOSITORY_NAME.test(name)) fail(`param "createRepositories": "${name}" is not a valid repository name`);
    if (!patterns.some((pattern) => matches(pattern, name)))
      fail(`param "createRepositories": "${name}" is outside "repositories", the user could not write to it`);
  }

  const Resources = {
    ReplicationUser: {
      Type: 'AWS::IAM::User',
      Properties: {
        UserName: userName,
        Policies: [
          {
            PolicyName: 'ecr-partition-replicate-writer',
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                // A registry token has no resource to scope to.
                { Sid: 'RegistryToken', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
              ],
            },
          },
        ],
      },
    },
  };
  // The repositories, in managed policies (a user's inline policies hold 2,048 characters in all; a
  // managed policy 6,144, and a user takes 10): as many as the patterns need.
  const actions = [...PUSH_ACTIONS, ...(deletes ? DELETE_ACTIONS : []), ...(allowCreate ? CREATE_ACTIONS : [])];
  const chunks = chunkPatterns(patterns, actions);
  if (chunks.length > MAX_MANAGED_POLICIES)
    fail(
      `the ${patterns.length} repository patterns need ${chunks.length} managed policies, over the ${MAX_MANAGED_POLICIES} an IAM user takes: ` +
        'map the repositories to fewer names or prefixes',
    );
  chunks.forEach((chunk, index) => {
    Resources[`ReplicaRepositoriesPolicy${index + 1}`] = {
      Type: 'AWS::IAM::ManagedPolicy',
      Properties: {
        Description: `What the ${userName} user may do in the replicated repositories (${index + 1} of ${chunks.length})`,
        Users: [{ Ref: 'ReplicationUser' }],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Sid: 'ReplicaRepositories', Effect: 'Allow', Action: actions, Resource: chunk.map(repositoryArn) },
          ],
        },
      },
    };
  });
  for (const name of created) {
    Resources[logicalIdOf(name)] = {
      Type: 'AWS::ECR::Repository',
      // Replicated images outlive the stack.
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        RepositoryName: name,
        // Tags move when the source's tags move.
        ImageTagMutability: 'MUTABLE',
        ImageScanningConfiguration: { ScanOnPush: params.scanOnPush !== false },
        EncryptionConfiguration: { EncryptionType: 'AES256' },
      },
    };
  }

  const Outputs = {
    ReplicationUserName: {
      Description: "The secret's `user` field; create its access key with `aws iam create-access-key` (README)",
      Value: { Ref: 'ReplicationUser' },
    },
    ReplicationUserArn: { Value: { 'Fn::GetAtt': ['ReplicationUser', 'Arn'] } },
    DestinationRegistry: {
      Value: {
        'Fn::Sub': `\${AWS::AccountId}.dkr.${params.fips ? 'ecr-fips' : 'ecr'}.\${AWS::Region}.\${AWS::URLSuffix}`,
      },
    },
    DestinationAccountId: { Description: "The secret's `accountid` field", Value: { Ref: 'AWS::AccountId' } },
    DestinationPartition: { Description: "The secret's `partition` field", Value: { Ref: 'AWS::Partition' } },
    DestinationRegion: { Description: "The secret's `region` field", Value: { Ref: 'AWS::Region' } },
  };
  return { Resources, Outputs };
}

const PARAMS = ['userName', 'repositories', 'deletes', 'createRepositories', 'scanOnPush', 'allowCreateRepository'];

module.exports = {
  resources: async ({ resolveVariable }) => {
    const params = {};
    for (const name of PARAMS) params[name] = await resolveVariable(`param:${name}`);
    const region = await resolveVariable('self:provider.region');
    const fips = String(await resolveVariable('param:fips'));
    try {
      params.replication = parseReplication(
        readReplicationFile(await resolveVariable('param:replicationConfigFile')).raw,
      );
    } catch (error) {
      fail(error.message);
    }
    if (!['auto', 'true', 'false'].includes(fips)) fail('param "fips" must be auto, true or false');
    params.fips = fips === 'auto' ? loadCommon().findPartitionOfRegion(region) === 'aws-us-gov' : fips === 'true';
    return destinationResources(params);
  },
  destinationResources,
  repositoryPatterns,
  chunkPatterns,
  MANAGED_POLICY_LIMIT,
  PUSH_ACTIONS,
  DELETE_ACTIONS,
  CREATE_ACTIONS,
};
