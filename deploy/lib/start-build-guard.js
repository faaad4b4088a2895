'use strict';
/**
 * The dispatcher's guard on codebuild:StartBuild: a Deny statement per
 * override a StartBuild request could carry (IAM's Null operator on
 * CodeBuild's request condition keys: "false" means the field is present),
 * and a Deny on any environment variable override other than the two the
 * dispatcher sets. With them, the dispatcher's role can start the worker
 * project only as deployed: the same buildspec, source, image, role,
 * privileges and settings; only JOB_KEYS and LEASE_OWNER vary.
 *
 * Used by serverless.yml as `${file(./deploy/lib/start-build-guard.js):denyOverrides}`.
 */

/** The environment variables the dispatcher passes (EnvName.jobKeys, EnvName.leaseOwner). */
const ALLOWED_ENVIRONMENT_OVERRIDES = ['JOB_KEYS', 'LEASE_OWNER'];

/** CodeBuild's StartBuild condition keys for the overrides the dispatcher never sends. */
const OVERRIDE_CONDITION_KEYS = [
  'codebuild:source',
  'codebuild:source.buildspec',
  'codebuild:source.location',
  'codebuild:source.auth.resource',
  'codebuild:source.auth.type',
  'codebuild:source.insecureSsl',
  'codebuild:secondarySources',
  'codebuild:artifacts',
  'codebuild:secondaryArtifacts',
  'codebuild:environment.image',
  'codebuild:environment.type',
  'codebuild:environment.computeType',
  'codebuild:environment.computeConfiguration',
  'codebuild:environment.privilegedMode',
  'codebuild:environment.certificate',
  'codebuild:environment.registryCredential',
  'codebuild:environment.imagePullCredentialsType',
  'codebuild:environment.fleet.fleetArn',
  'codebuild:logsConfig',
  'codebuild:cache',
  'codebuild:serviceRole',
  'codebuild:encryptionKey',
  'codebuild:autoRetryLimit',
];

/** The statements (Deny) for a project ARN (any CloudFormation value). */
function denyOverrideStatements(projectArn) {
  return [
    {
      Sid: 'OnlyJobKeysAndLeaseOwner',
      Effect: 'Deny',
      Action: ['codebuild:StartBuild'],
      Resource: projectArn,
      Condition: {
        'ForAnyValue:StringNotEquals': {
          'codebuild:environment.environmentVariables.name': ALLOWED_ENVIRONMENT_OVERRIDES,
        },
      },
    },
    // Keys in one Null block must all be present for it to match: one statement per key.
    ...OVERRIDE_CONDITION_KEYS.map((key) => ({
      Effect: 'Deny',
      Action: ['codebuild:StartBuild'],
      Resource: projectArn,
      Condition: { Null: { [key]: 'false' } },
    })),
  ];
}

/** The worker project's ARN (a CloudFormation value). */
async function workerProjectArn(resolveVariable) {
  const project = await resolveVariable('self:custom.names.workerProject');
  return {
    'Fn::Sub': `arn:\${AWS::Partition}:codebuild:\${AWS::Region}:\${AWS::AccountId}:project/${project}`,
  };
}

/**
 * The dispatcher's whole iamRoleStatements: its table, StartBuild on the
 * worker project, and the guard; Invoke of the copy Lambda.
 */
async function dispatcherStatements({ resolveVariable }) {
  const projectArn = await workerProjectArn(resolveVariable);
  const copyFunction = await resolveVariable('self:custom.names.copyFunction');
  return [
    {
      Effect: 'Allow',
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      Resource: { 'Fn::GetAtt': ['JobTable', 'Arn'] },
    },
    { Effect: 'Allow', Action: ['codebuild:StartBuild'], Resource: projectArn },
    ...denyOverrideStatements(projectArn),
    // Refused or throttled work is deferred through the job-retry queue (issue 13: back-pressure).
    { Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: { 'Fn::GetAtt': ['RetryQueue', 'Arn'] } },
    // Leased jobs go to the copy Lambda first (issue 15), when its path is on.
    {
      Effect: 'Allow',
      Action: ['lambda:InvokeFunction'],
      Resource: {
        'Fn::Sub': `arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${copyFunction}`,
      },
    },
  ];
}

/**
 * The copy Lambda's whole iamRoleStatements: the worker's role (the job table, the destination secret and its key,
 * the source registry's token and repositories, read only) minus what only a CodeBuild build needs (its log group, its
 * zip); plus StartBuild of the worker project with the same guard as the dispatcher's (it hands jobs over with
 * JOB_KEYS and LEASE_OWNER only), and its on-failure destination.
 */
async function copyLambdaStatements({ resolveVariable }) {
  const projectArn = await workerProjectArn(resolveVariable);
  const secret = await resolveVariable('self:custom.destinationSecret');
  const sourceRepositories = await resolveVariable('file(./deploy/lib/stage-config.js):workerSourceRepositoryArns');
  return [
    {
      Sid: 'JobTable',
      Effect: 'Allow',
      Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      Resource: { 'Fn::GetAtt': ['JobTable', 'Arn'] },
    },
    {
      Sid: 'DestinationSecret',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: secret.arnPattern,
    },
    secret.decrypt,
    { Sid: 'SourceRegistryToken', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
    {
      Sid: 'SourceRepositoriesRead',
      Effect: 'Allow',
      Action: [
        'ecr:BatchGetImage',
        'ecr:GetDownloadUrlForLayer',
        'ecr:BatchCheckLayerAvailability',
        'ecr:DescribeImages',
        'ecr:ListImages',
        'ecr:DescribeRepositories',
        'ecr:ListTagsForResource',
      ],
      Resource: sourceRepositories,
    },
    { Sid: 'HandOver', Effect: 'Allow', Action: ['codebuild:StartBuild'], Resource: projectArn },
    ...denyOverrideStatements(projectArn),
    { Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] } },
  ];
}

module.exports = {
  ALLOWED_ENVIRONMENT_OVERRIDES,
  OVERRIDE_CONDITION_KEYS,
  denyOverrideStatements,
  dispatcherStatements,
  copyLambdaStatements,
};
