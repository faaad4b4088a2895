'use strict';
/**
 * Values serverless.yml derives from the stage parameters (`params:`),
 * through `${file(./deploy/lib/stage-config.js):NAME}`. Each export resolves
 * the parameters it needs, validates them and fails the packaging with a
 * message naming the parameter, so a bad configuration never reaches a
 * deployed Lambda.
 *
 * The plain functions (`imageActionPattern(config)` and so on) are exported
 * too, for the tests.
 */
const { Buffer } = require('node:buffer');
const fs = require('node:fs');
const path = require('node:path');
const { createHash } = require('node:crypto');
const { loadCommon } = require('./common-source');
const { REPO_ROOT } = require('./esbuild-options');

class StageConfigError extends Error {}

/** The largest replication configuration the store takes (the Lambdas read it at every cold start). */
const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Reads the replication configuration file a stage names (`replicationConfigFile`,
 * relative to the repository root or absolute): `{ file, raw, text, sha256 }`,
 * `text` being the canonical JSON the configuration store holds.
 */
function readReplicationFile(file) {
  const name = file === undefined || file === null ? '' : String(file).trim();
  if (name === '')
    throw new StageConfigError('param "replicationConfigFile" must name the replication configuration file');
  const resolved = path.isAbsolute(name) ? name : path.join(REPO_ROOT, name);
  let content;
  try {
    content = fs.readFileSync(resolved, 'utf8');
  } catch (error) {
    throw new StageConfigError(`param "replicationConfigFile": cannot read ${name} (${error.code || error.message})`);
  }
  let raw;
  try {
    raw = JSON.parse(content);
  } catch (error) {
    throw new StageConfigError(`param "replicationConfigFile": ${name} is not valid JSON (${error.message})`);
  }
  parseReplication(raw);
  const text = JSON.stringify(raw);
  if (Buffer.byteLength(text, 'utf8') > MAX_CONFIG_BYTES)
    throw new StageConfigError(
      `param "replicationConfigFile": ${name} is ${Buffer.byteLength(text, 'utf8')} bytes, over the ${MAX_CONFIG_BYTES}-byte limit of the configuration store`,
    );
  return { file: resolved, raw, text, sha256: createHash('sha256').update(text, 'utf8').digest('hex') };
}

/** The validated replication configuration (parsed form) of a raw `replication` parameter. */
function parseReplication(raw) {
  const common = loadCommon();
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new StageConfigError(
      'the replication configuration (param "replicationConfigFile") must be a JSON object, see the README',
    );
  }
  try {
    return common.parseReplicationConfig(raw || {});
  } catch (error) {
    if (error instanceof common.ValidationError)
      throw new StageConfigError(`the replication configuration (param "replicationConfigFile"): ${error.message}`);
    throw error;
  }
}

/**
 * The repository-name prefixes every replicated repository starts with, or
 * undefined when the include filters are not all prefixes (or empty: every
 * repository). The rule and the worker's source permissions narrow to them.
 */
function repositoryPrefixes(config) {
  const include = config.repositories.include;
  if (include.length === 0 || include.some((filter) => filter.type !== 'prefix')) return undefined;
  return [...new Set(include.map((filter) => filter.pattern))].sort();
}

/** The EventBridge pattern of the "ECR Image Action" rule. */
function imageActionPattern(config) {
  const prefixes = repositoryPrefixes(config);
  return {
    source: ['aws.ecr'],
    'detail-type': ['ECR Image Action'],
    // Events of this account's registry only (a rule sees its own account's events, and events other
    // accounts send to its bus: those must never select repositories here).
    account: [{ Ref: 'AWS::AccountId' }],
    detail: {
      result: ['SUCCESS'],
      'action-type': config.deletes ? ['PUSH', 'DELETE'] : ['PUSH'],
      ...(prefixes === undefined ? {} : { 'repository-name': prefixes.map((prefix) => ({ prefix })) }),
    },
  };
}

/** ARNs (Fn::Sub) of the source repositories the worker may read. */
function sourceRepositoryArns(config) {
  const prefixes = repositoryPrefixes(config) || [''];
  return prefixes.map((prefix) => ({
    'Fn::Sub': `arn:\${AWS::Partition}:ecr:\${AWS::Region}:\${AWS::AccountId}:repository/${prefix}*`,
  }));
}

/** Checks the destination parameters; returns `{ partition, region, accountId, registry }`. */
function destination({ partition, region, accountId, fips = false }) {
  const common = loadCommon();
  if (!common.PARTITION_NAMES.includes(partition)) {
    throw new StageConfigError(`param "destinationPartition" must be one of ${common.PARTITION_NAMES.join(', ')}`);
  }
  const regionPartition = common.findPartitionOfRegion(String(region));
  if (regionPartition !== partition) {
    throw new StageConfigError(
      `param "destinationRegion" (${region}) ${regionPartition === undefined ? 'belongs to no known partition' : `is in partition ${regionPartition}`}, not ${partition}`,
    );
  }
  const account = accountId === undefined || accountId === null ? '' : String(accountId);
  if (account !== '' && !/^\d{12}$/.test(account))
    throw new StageConfigError('param "destinationAccountId" must be empty or a 12-digit account id');
  return {
    partition,
    region,
    accountId: account,
    registry: account === '' ? undefined : common.ecrHost({ accountId: account, region, fips }),
  };
}

/**
 * Regions whose ECR (API and registry hosts) and the other services the
 * stacks use (SQS, DynamoDB, Secrets Manager, KMS, S3, CodeBuild, STS) have
 * FIPS endpoints. The China and ISO partitions have none.
 */
const FIPS_REGIONS = ['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'us-gov-east-1', 'us-gov-west-1'];

/**
 * Which side uses FIPS endpoints: `fips` is `auto` (each side whose region is
 * in GovCloud), `true` (both sides; packaging fails when a side's region has
 * no FIPS endpoints) or `false`. Returns `{ source, destination }` booleans.
 */
function fipsSides({ fips, region, destinationRegion }) {
  const common = loadCommon();
  const mode = typeof fips === 'boolean' ? String(fips) : String(fips === undefined || fips === null ? 'auto' : fips);
  if (!['auto', 'true', 'false'].includes(mode.trim()))
    throw new StageConfigError('param "fips" must be auto, true or false');
  const sides = { source: String(region), destination: String(destinationRegion) };
  const result = {};
  for (const [side, sideRegion] of Object.entries(sides)) {
    if (mode.trim() === 'false') result[side] = false;
    else if (mode.trim() === 'auto') result[side] = common.findPartitionOfRegion(sideRegion) === 'aws-us-gov';
    else if (!FIPS_REGIONS.includes(sideRegion))
      throw new StageConfigError(
        `param "fips" is true, but the ${side} region ${sideRegion} has no FIPS endpoints (they exist in ${FIPS_REGIONS.join(', ')}): set fips to auto or false`,
      );
    else result[side] = true;
  }
  return result;
}

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

/**
 * The destination-credentials secret: created by the stack (`destinationSecretArn`
 * empty) or adopted (an existing secret's ARN, such as the older system's).
 * Returns what the template needs: `{ adopt, id, arnPattern, keyArn }`:
 * `id` the DEST_SECRET_ID value, `arnPattern` the secret's ARN for IAM
 * (Fn::Sub with the random suffix as ??????, or the adopted ARN), `keyArn`
 * the KMS key the roles may decrypt with (the stack's key is matched by
 * key/* plus the secret's encryption context, so that the roles need no
 * reference to the key, whose policy names them).
 */
function secretSettings({ destinationSecretName, destinationSecretArn, destinationSecretKmsKeyArn }) {
  const arn = String(destinationSecretArn || '').trim();
  const keyArn = String(destinationSecretKmsKeyArn || '').trim();
  if (arn === '') {
    const name = String(destinationSecretName || '');
    if (!SECRET_NAME.test(name))
      throw new StageConfigError(
        'param "destinationSecretName" must be a Secrets Manager name (1 to 512 of A-Z a-z 0-9 / _ + = . @ -)',
      );
    if (keyArn !== '')
      throw new StageConfigError(
        'param "destinationSecretKmsKeyArn" applies only with "destinationSecretArn" (an adopted secret)',
      );
    return {
      adopt: false,
      id: name,
      arnPattern: {
        'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${name}-??????`,
      },
      keyArn: { 'Fn::Sub': 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*' },
    };
  }
  if (!SECRET_ARN.test(arn))
    throw new StageConfigError(
      'param "destinationSecretArn" must be empty or a Secrets Manager secret ARN (arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<suffix>)',
    );
  if (keyArn !== '' && !KMS_KEY_ARN.test(keyArn))
    throw new StageConfigError(
      'param "destinationSecretKmsKeyArn" must be empty or a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>)',
    );
  return {
    adopt: true,
    id: arn,
    arnPattern: arn,
    // Empty: the secret uses Secrets Manager's AWS managed key, whose policy already lets the account's roles decrypt through Secrets Manager.
    keyArn: keyArn === '' ? { 'Fn::Sub': 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*' } : keyArn,
  };
}

/** The kms:Decrypt statement of a role that reads the secret: through Secrets Manager, for this secret only. */
function secretDecryptStatement(secret) {
  return {
    Effect: 'Allow',
    Action: ['kms:Decrypt'],
    Resource: secret.keyArn,
    Condition: {
      StringEquals: { 'kms:ViaService': { 'Fn::Sub': 'secretsmanager.${AWS::Region}.${AWS::URLSuffix}' } },
      StringLike: { 'kms:EncryptionContext:SecretARN': secret.arnPattern },
    },
  };
}

/** Administration of the stack's key, without any cryptographic use. */
const KEY_ADMIN_ACTIONS = [
  'kms:Create*',
  'kms:Describe*',
  'kms:Enable*',
  'kms:List*',
  'kms:Put*',
  'kms:Update*',
  'kms:Revoke*',
  'kms:Disable*',
  'kms:Get*',
  'kms:Delete*',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
];

/**
 * The secret's resources when the stack creates it: the KMS key (kept on
 * removal: deleting it would make every version of the secret unreadable),
 * its alias, the secret (kept) and its resource policy. `readers` are the
 * logical ids of the roles that read the secret; `writer` the ARN of the
 * operator role that fills it ('' : the account's IAM principals).
 */
function secretResources(secret, { service, stage, readers, writer }) {
  if (secret.adopt) return {};
  const viaSecretsManager = { 'kms:ViaService': { 'Fn::Sub': 'secretsmanager.${AWS::Region}.${AWS::URLSuffix}' } };
  const thisSecret = { 'kms:EncryptionContext:SecretARN': secret.arnPattern };
  const readerArns = readers.map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] }));
  const root = { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' };
  const retain = { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' };
  return {
    DestinationSecretKey: {
      Type: 'AWS::KMS::Key',
      ...retain,
      Properties: {
        Description: `Encrypts the ${service} ${stage} destination-credentials secret`,
        EnableKeyRotation: true,
        PendingWindowInDays: 30,
        KeyPolicy: {
          Version: '2012-10-17',
          Statement: [
            // The account administers the key through IAM, but may not use it to decrypt.
            {
              Sid: 'KeyAdministration',
              Effect: 'Allow',
              Principal: { AWS: root },
              Action: KEY_ADMIN_ACTIONS,
              Resource: '*',
            },
            {
              Sid: 'SecretReaders',
              Effect: 'Allow',
              Principal: { AWS: readerArns },
              Action: ['kms:Decrypt'],
              Resource: '*',
              Condition: { StringEquals: viaSecretsManager, StringLike: thisSecret },
            },
            // Putting a value needs GenerateDataKey and Decrypt (Secrets Manager's documentation).
            {
              Sid: 'SecretWriters',
              Effect: 'Allow',
              Principal: { AWS: writer === '' ? root : writer },
              Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
              Resource: '*',
              Condition: { StringEquals: viaSecretsManager, StringLike: thisSecret },
            },
          ],
        },
      },
    },
    DestinationSecretKeyAlias: {
      Type: 'AWS::KMS::Alias',
      ...retain,
      Properties: {
        AliasName: `alias/${service}-${stage}-destination-secret`,
        TargetKeyId: { Ref: 'DestinationSecretKey' },
      },
    },
    DestinationSecret: {
      Type: 'AWS::SecretsManager::Secret',
      ...retain,
      Properties: {
        Name: secret.id,
        Description:
          'Access key of the destination partition IAM user (fields user, accesskey, secretaccesskey, partition, accountid, region); see the README',
        KmsKeyId: { Ref: 'DestinationSecretKey' },
        // A placeholder: fill it with `aws secretsmanager put-secret-value` (README). Keep this text
        // unchanged: CloudFormation rewrites the secret only when it changes.
        SecretString: '{"user":"","accesskey":"","secretaccesskey":"","partition":"","accountid":"","region":""}',
      },
    },
    // Only the roles that need the value may read it, whatever else IAM allows in the account.
    DestinationSecretPolicy: {
      Type: 'AWS::SecretsManager::ResourcePolicy',
      Properties: {
        SecretId: { Ref: 'DestinationSecret' },
        BlockPublicPolicy: true,
        ResourcePolicy: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'OnlyTheReadersGetTheValue',
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: 'secretsmanager:GetSecretValue',
              Resource: '*',
              Condition: { ArnNotEquals: { 'aws:PrincipalArn': readerArns } },
            },
          ],
        },
      },
    },
  };
}

/** Numeric parameters: name → [min, max] (the bounds of the settings that read them, and of AWS). */
const NUMERIC_PARAMS = {
  batchSize: [1, 10], // FIFO event sources take at most 10 messages
  dispatcherMaxConcurrency: [2, 1000],
  requestMaxReceiveCount: [1, 1000],
  workerTimeoutMinutes: [5, 2160],
  maxAttempts: [1, 100], // MAX_ATTEMPTS
  leaseSeconds: [60, 43200], // LEASE_SECONDS
  repairConcurrency: [1, 64], // REPAIR_CONCURRENCY
  scanMaxConcurrency: [2, 1000], // the scan queue's event source maximum concurrency
  scanPageTags: [1, 100000], // SCAN_PAGE_TAGS
  workerConcurrentBuildLimit: [1, 10000], // the CodeBuild project's ConcurrentBuildLimit
  copyLambdaMemory: [128, 10240], // the copy Lambda's memory (MB); its network share grows with it
};

/**
 * The numeric parameters, checked: `{ name: number }`, plus `text.name`, the
 * same value as a string (environment variables are strings).
 */
function checkTuning(values) {
  const numbers = {};
  const text = {};
  for (const [name, [min, max]] of Object.entries(NUMERIC_PARAMS)) {
    const raw = values[name];
    const value = typeof raw === 'number' ? raw : /^\s*\d+\s*$/.test(String(raw)) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new StageConfigError(`param "${name}" must be a whole number from ${min} to ${max}`);
    }
    numbers[name] = value;
    text[name] = String(value);
  }
  return { ...numbers, text };
}

/**
 * The repair function's schedule: an EventBridge `rate(...)` or
 * `cron(...)` expression, or empty (blank) for none. Returns the expression,
 * or undefined when there is no schedule.
 */
function repairScheduleExpression(raw) {
  const text = raw === undefined || raw === null ? '' : String(raw).trim();
  if (text === '') return undefined;
  // EventBridge wants the singular for 1 (`rate(1 hour)`) and the plural otherwise (`rate(6 hours)`).
  const rate = /^rate\(([1-9]\d*) (minute|hour|day)(s?)\)$/.exec(text);
  if (rate && (rate[1] === '1') === (rate[3] === '')) return text;
  if (/^cron\(\S+( \S+){5}\)$/.test(text)) return text;
  throw new StageConfigError(
    'param "repairSchedule" must be "rate(N minutes|hours|days)" (singular for 1), "cron(<six fields>)", or empty for no schedule',
  );
}

/** The repair function's `events`: one schedule, or none. */
function repairScheduleEvents(raw, ruleName) {
  const expression = repairScheduleExpression(raw);
  if (expression === undefined) return [];
  return [
    {
      schedule: {
        name: ruleName,
        description: 'Drift repair: compares the registries and queues what differs',
        rate: [expression],
      },
    },
  ];
}

/** Wraps a function of the resolved parameters as a serverless variable resolver. */
function resolver(names, compute) {
  return async ({ resolveVariable }) => {
    const values = {};
    for (const name of names) values[name] = await resolveVariable(`param:${name}`);
    try {
      return compute(values);
    } catch (error) {
      if (error instanceof StageConfigError) throw new Error(`stage configuration: ${error.message}`);
      throw error;
    }
  };
}

/** The replication configuration of the stage's file, parsed. */
const replicationOf = ({ replicationConfigFile }) => parseReplication(readReplicationFile(replicationConfigFile).raw);

const SECRET_PARAMS = ['destinationSecretName', 'destinationSecretArn', 'destinationSecretKmsKeyArn'];

const OPERATOR_ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[A-Za-z0-9+=,.@_/-]{1,512}$/;

/** The operator role's ARN ('' for none), checked. */
function operatorRole(raw) {
  const arn = String(raw || '').trim();
  if (arn !== '' && !OPERATOR_ROLE_ARN.test(arn))
    throw new StageConfigError(
      'param "operatorRoleArn" must be empty or an IAM role ARN (arn:<partition>:iam::<account>:role/<name>)',
    );
  return arn;
}

/** A queue's allowed senders: the roles `custom.<key>` names (logical ids) and the operator role. */
function sendersOf(key) {
  return async ({ resolveVariable }) => {
    const roles = await resolveVariable(`self:custom.${key}`);
    return resolver(['operatorRoleArn'], ({ operatorRoleArn }) => {
      const operator = operatorRole(operatorRoleArn);
      return [...roles.map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] })), ...(operator === '' ? [] : [operator])];
    })({ resolveVariable });
  };
}

module.exports = {
  // serverless variable resolvers
  replicationConfigFile: resolver(['replicationConfigFile'], ({ replicationConfigFile }) => {
    return readReplicationFile(replicationConfigFile).file;
  }),
  imageActionRulePattern: resolver(['replicationConfigFile'], (params) => imageActionPattern(replicationOf(params))),
  workerSourceRepositoryArns: resolver(['replicationConfigFile'], (params) =>
    sourceRepositoryArns(replicationOf(params)),
  ),
  tuning: resolver(Object.keys(NUMERIC_PARAMS), checkTuning),
  repairEvents: async ({ resolveVariable }) => {
    const ruleName = await resolveVariable('self:custom.names.repairRule');
    return resolver(['repairSchedule'], ({ repairSchedule }) => repairScheduleEvents(repairSchedule, ruleName))({
      resolveVariable,
    });
  },
  /** `{ source, destination }`: 'true' or 'false' (environment values). */
  fips: async ({ resolveVariable }) => {
    const region = await resolveVariable('self:provider.region');
    return resolver(['fips', 'destinationRegion'], (params) => {
      const sides = fipsSides({ fips: params.fips, region, destinationRegion: params.destinationRegion });
      return { source: String(sides.source), destination: String(sides.destination) };
    })({ resolveVariable });
  },
  /** The secret: `{ id, arnPattern, decrypt }` (decrypt: the roles' kms:Decrypt statement). */
  destinationSecret: resolver(SECRET_PARAMS, (params) => {
    const secret = secretSettings(params);
    return { id: secret.id, arnPattern: secret.arnPattern, decrypt: secretDecryptStatement(secret) };
  }),
  /** The secret's resources (none when adopted). */
  destinationSecretResources: async ({ resolveVariable }) => {
    const service = await resolveVariable('self:service');
    const stage = await resolveVariable('sls:stage');
    const readers = await resolveVariable('self:custom.destinationSecretReaders');
    return resolver([...SECRET_PARAMS, 'operatorRoleArn'], (params) => ({
      Resources: secretResources(secretSettings(params), {
        service,
        stage,
        readers,
        writer: operatorRole(params.operatorRoleArn),
      }),
    }))({ resolveVariable });
  },
  /**
   * Checks, before anything else, that the stage name leaves the names AWS
   * bounds within their limits (the framework's own check names a rule, not
   * the stage); resolves to the stage.
   */
  checkedStage: async ({ resolveVariable }) => {
    const service = String(await resolveVariable('self:service'));
    const stage = String(await resolveVariable('sls:stage'));
    const region = String(await resolveVariable('self:provider.region'));
    const functions = Object.keys((await resolveVariable('self:functions')) || {});
    const names = [
      // serverless-iam-roles-per-function: <service>-<stage>-<function>-<region>-lambdaRole (IAM: 64)
      ...functions.map((fn) => [`${service}-${stage}-${fn}-${region}-lambdaRole`, 64, `the IAM role of ${fn}`]),
      // Lambda function names (64), the rules (64): the longest is the build-state rule.
      ...functions.map((fn) => [`${service}-${stage}-${fn}`, 64, `the function ${fn}`]),
      [`${service}-${stage}-worker-build-state`, 64, 'the build-state rule'],
      [`${service}-${stage}-requests-dlq.fifo`, 80, 'the request dead-letter queue'],
    ];
    const over = names.filter(([name, limit]) => name.length > limit);
    if (over.length > 0) {
      const [name, limit, what] = over.sort((a, b) => b[0].length - b[1] - (a[0].length - a[1]))[0];
      throw new Error(
        `stage configuration: the stage name "${stage}" is too long: ${what} would be "${name}" (${name.length} characters, over AWS's limit of ${limit}); use a stage name at most ${stage.length - (name.length - limit)} characters long`,
      );
    }
    return stage;
  },
  /** CREATE_REPOSITORIES: 'true' or 'false'. */
  createRepositories: resolver(['createRepositories'], ({ createRepositories }) => {
    const text = String(createRepositories).trim();
    if (text !== 'true' && text !== 'false')
      throw new StageConfigError('param "createRepositories" must be true or false');
    return text;
  }),
  /** COPY_FUNCTION_NAME of the dispatcher: the copy Lambda's name, or '' when its path is off (CodeBuild only). */
  copyFunctionName: async ({ resolveVariable }) => {
    const name = await resolveVariable('self:custom.names.copyFunction');
    return resolver(['copyLambda'], ({ copyLambda }) => {
      const text = String(copyLambda).trim();
      if (text !== 'true' && text !== 'false') throw new StageConfigError('param "copyLambda" must be true or false');
      return text === 'true' ? name : '';
    })({ resolveVariable });
  },
  /** DEST_API_QUOTAS: the destination's request quotas the workers pace at, every API named; or 'off'. */
  destApiQuotas: resolver(['destinationApiQuotas'], ({ destinationApiQuotas }) => {
    const { parseApiQuotas, formatApiQuotas } = loadCommon();
    const text =
      destinationApiQuotas === undefined || destinationApiQuotas === null ? '' : String(destinationApiQuotas);
    let quotas;
    try {
      quotas = parseApiQuotas(text);
    } catch (error) {
      throw new StageConfigError(`param "destinationApiQuotas": ${error.message}`);
    }
    return quotas === 'off' ? 'off' : formatApiQuotas(quotas);
  }),
  /** The principals allowed to send to the request queue: the stack's senders' roles and the operator role. */
  requestSenders: sendersOf('requestSenders'),
  /** The principals allowed to send to the scan queue: the repair and scan roles and the operator role. */
  scanSenders: sendersOf('scanSenders'),
  destinationRegistry: async ({ resolveVariable }) => {
    const region = await resolveVariable('self:provider.region');
    return resolver(['destinationPartition', 'destinationRegion', 'destinationAccountId', 'fips'], (params) => {
      const checked = destination({
        partition: params.destinationPartition,
        region: params.destinationRegion,
        accountId: params.destinationAccountId,
        fips: fipsSides({ fips: params.fips, region, destinationRegion: params.destinationRegion }).destination,
      });
      return (
        checked.registry ||
        `(destination account not set: the worker uses the secret's accountid, in ${checked.region})`
      );
    })({ resolveVariable });
  },
  // plain functions
  StageConfigError,
  MAX_CONFIG_BYTES,
  FIPS_REGIONS,
  readReplicationFile,
  parseReplication,
  repositoryPrefixes,
  imageActionPattern,
  sourceRepositoryArns,
  destination,
  fipsSides,
  secretSettings,
  secretDecryptStatement,
  secretResources,
  checkTuning,
  repairScheduleExpression,
  repairScheduleEvents,
};
