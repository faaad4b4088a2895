'use strict';
/**
 * The destination stack's resources, from its stage parameters (see
 * serverless.yml): the IAM user with its policy and the optional
 * repositories. `destinationResources(params)` is exported for the tests.
 */
const { createHash } = require('node:crypto');

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

/** `{ Resources, Outputs }` of the destination stack. */
function destinationResources(params) {
  const userName = String(params.userName || '');
  if (!/^[A-Za-z0-9+=,.@_-]{1,64}$/.test(userName))
    fail('param "userName" must be an IAM user name (1 to 64 of A-Z a-z 0-9 + = , . @ _ -)');
  const patterns = list(params.repositories).map(String);
  if (patterns.length === 0) fail('param "repositories" must name at least one repository or pattern');
  for (const pattern of patterns) {
    if (!REPOSITORY_PATTERN.test(pattern))
      fail(`param "repositories": "${pattern}" is not a repository name or a prefix ending in *`);
  }
  if (typeof params.deletes !== 'boolean') fail('param "deletes" must be true or false');
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
                {
                  Sid: 'ReplicaRepositories',
                  Effect: 'Allow',
                  Action: params.deletes ? [...PUSH_ACTIONS, ...DELETE_ACTIONS] : [...PUSH_ACTIONS],
                  Resource: patterns.map(repositoryArn),
                },
              ],
            },
          },
        ],
      },
    },
  };
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
    DestinationRegistry: { Value: { 'Fn::Sub': '${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}' } },
    DestinationAccountId: { Description: "The secret's `accountid` field", Value: { Ref: 'AWS::AccountId' } },
    DestinationPartition: { Description: "The secret's `partition` field", Value: { Ref: 'AWS::Partition' } },
    DestinationRegion: { Description: "The secret's `region` field", Value: { Ref: 'AWS::Region' } },
  };
  return { Resources, Outputs };
}

module.exports = {
  resources: async ({ resolveVariable }) => {
    const params = {};
    for (const name of ['userName', 'repositories', 'deletes', 'createRepositories', 'scanOnPush'])
      params[name] = await resolveVariable(`param:${name}`);
    return destinationResources(params);
  },
  destinationResources,
  PUSH_ACTIONS,
  DELETE_ACTIONS,
};
