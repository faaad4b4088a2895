'use strict';
/**
 * Local serverless plugin: checks at packaging, after every other plugin
 * shaped the template, what AWS would otherwise refuse only in a real
 * account, and tidies what CloudFormation's linter warns about:
 *
 * - each Lambda's environment (names and values, as Lambda counts them) must
 *   stay within Lambda's 4 KB limit: a larger one fails the packaging with the
 *   function, its size and its largest variables, instead of failing the
 *   deployment half-way;
 * - names AWS bounds (IAM role names 64 characters, Lambda function names 64,
 *   SQS queue names 80, CodeBuild project names 255, DynamoDB table names
 *   255, EventBridge rule names 64, log group names 512) must fit: a long
 *   stage or service name fails the packaging naming the resource and its
 *   limit;
 * - IAM policies must fit IAM's size quotas once resolved (whitespace not
 *   counted): a role's inline policies 10,240 characters in all, a user's
 *   2,048, a managed policy 6,144;
 * - `DependsOn` entries that a `Ref`/`Fn::GetAtt` of the same resource
 *   already enforces are dropped (serverless-iam-roles-per-function adds
 *   them; cfn-lint reports each as W3005).
 *
 * The plain functions are exported for the tests.
 */

const { Buffer } = require('node:buffer');

const PLUGIN = 'stack-limits';
/** Lambda's limit on the environment variables of a function (keys and values). */
const LAMBDA_ENVIRONMENT_LIMIT = 4096;

/** [resource type, property, limit, what it is]: the names this plugin bounds. */
const NAME_LIMITS = [
  ['AWS::IAM::Role', 'RoleName', 64, 'IAM role name'],
  ['AWS::IAM::User', 'UserName', 64, 'IAM user name'],
  ['AWS::Lambda::Function', 'FunctionName', 64, 'Lambda function name'],
  ['AWS::SQS::Queue', 'QueueName', 80, 'SQS queue name'],
  ['AWS::CodeBuild::Project', 'Name', 255, 'CodeBuild project name'],
  ['AWS::DynamoDB::Table', 'TableName', 255, 'DynamoDB table name'],
  ['AWS::Events::Rule', 'Name', 64, 'EventBridge rule name'],
  ['AWS::Logs::LogGroup', 'LogGroupName', 512, 'log group name'],
  ['AWS::SNS::Topic', 'TopicName', 256, 'SNS topic name'],
  ['AWS::CloudWatch::Alarm', 'AlarmName', 255, 'alarm name'],
  ['AWS::KMS::Alias', 'AliasName', 256, 'KMS alias name'],
  ['AWS::SecretsManager::Secret', 'Name', 512, 'secret name'],
];

/**
 * The length of a name as deployed, or undefined when it cannot be known at
 * packaging. `Fn::Join` and `Fn::Sub` of literal text count the pseudo
 * parameters at their lengths in `pseudo` (the region and stack name are
 * known at packaging; an account id has 12 digits).
 */
function nameLength(value, pseudo = {}) {
  if (typeof value === 'string') return value.length;
  if (value === null || typeof value !== 'object') return undefined;
  const PSEUDO = {
    'AWS::Region': 14,
    'AWS::AccountId': 12,
    'AWS::Partition': 10,
    'AWS::URLSuffix': 16,
    'AWS::StackName': 128,
    ...pseudo,
  };
  if (typeof value.Ref === 'string') return PSEUDO[value.Ref];
  const sub = value['Fn::Sub'];
  if (typeof sub === 'string') {
    let unknown = false;
    const length = sub.replace(/\$\{([^}!]+)\}/g, (_, name) => {
      if (PSEUDO[name] === undefined) unknown = true;
      return 'x'.repeat(PSEUDO[name] || 0);
    }).length;
    return unknown ? undefined : length;
  }
  const join = value['Fn::Join'];
  if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) {
    const parts = join[1].map((part) => nameLength(part, pseudo));
    if (parts.some((part) => part === undefined)) return undefined;
    return parts.reduce((sum, part) => sum + part, 0) + join[0].length * Math.max(0, parts.length - 1);
  }
  return undefined;
}

/**
 * The size of a Lambda environment as Lambda counts it (every key and value,
 * UTF-8). A value that is a CloudFormation reference counts at the longest
 * it can resolve to: a queue URL or an ARN 256 bytes, a table name 255.
 */
function environmentSize(variables) {
  let size = 0;
  for (const [name, value] of Object.entries(variables || {})) {
    size += Buffer.byteLength(name, 'utf8');
    if (typeof value === 'string') size += Buffer.byteLength(value, 'utf8');
    else if (typeof value === 'number' || typeof value === 'boolean') size += String(value).length;
    else size += 256;
  }
  return size;
}

/** IAM's size quotas (characters of the resolved JSON, whitespace not counted). */
const POLICY_LIMITS = { 'AWS::IAM::Role': 10240, 'AWS::IAM::User': 2048, 'AWS::IAM::ManagedPolicy': 6144 };

/**
 * The length of `value` as JSON once CloudFormation resolved it: pseudo
 * parameters at the lengths of `pseudo`, other references at 128 (an ARN).
 */
function resolvedJsonLength(value, pseudo) {
  if (typeof value === 'string') {
    const text = value.replace(/\$\{([^}]+)\}/g, (_, name) =>
      'x'.repeat(pseudo[name] === undefined ? 128 : pseudo[name]),
    );
    return JSON.stringify(text).length;
  }
  if (value === null || typeof value !== 'object') return JSON.stringify(value).length;
  if (Array.isArray(value))
    return 2 + value.reduce((sum, item) => sum + resolvedJsonLength(item, pseudo), 0) + Math.max(0, value.length - 1);
  const keys = Object.keys(value);
  if (keys.length === 1 && (keys[0] === 'Ref' || keys[0] === 'Fn::GetAtt' || keys[0] === 'Fn::ImportValue'))
    return 2 + (keys[0] === 'Ref' && pseudo[value.Ref] !== undefined ? pseudo[value.Ref] : 128);
  if (keys.length === 1 && keys[0] === 'Fn::Sub') {
    const text = Array.isArray(value['Fn::Sub']) ? value['Fn::Sub'][0] : value['Fn::Sub'];
    return resolvedJsonLength(String(text), pseudo);
  }
  if (keys.length === 1 && keys[0] === 'Fn::Join' && Array.isArray(value['Fn::Join'][1]))
    return (
      2 +
      value['Fn::Join'][1].reduce((sum, part) => sum + resolvedJsonLength(part, pseudo) - 2, 0) +
      value['Fn::Join'][0].length * Math.max(0, value['Fn::Join'][1].length - 1)
    );
  return (
    2 +
    keys.reduce((sum, key) => sum + JSON.stringify(key).length + 1 + resolvedJsonLength(value[key], pseudo), 0) +
    Math.max(0, keys.length - 1)
  );
}

/**
 * Problems with the template's Lambda environments and names, as messages.
 * `context`: `{ region, stackName }` when known (else their longest).
 */
function findLimitViolations(template, context = {}) {
  const pseudo = {};
  if (context.region) {
    pseudo['AWS::Region'] = context.region.length;
    pseudo['AWS::Partition'] = context.region.startsWith('us-gov-')
      ? 'aws-us-gov'.length
      : context.region.startsWith('cn-')
        ? 'aws-cn'.length
        : 10;
  }
  if (context.stackName) pseudo['AWS::StackName'] = context.stackName.length;
  const fullPseudo = {
    'AWS::Region': 14,
    'AWS::AccountId': 12,
    'AWS::Partition': 10,
    'AWS::URLSuffix': 16,
    'AWS::StackName': 128,
    ...pseudo,
  };
  const problems = [];
  for (const [logicalId, resource] of Object.entries(template.Resources || {})) {
    const properties = resource.Properties || {};
    if (resource.Type === 'AWS::Lambda::Function') {
      const variables = (properties.Environment || {}).Variables || {};
      const size = environmentSize(variables);
      if (size > LAMBDA_ENVIRONMENT_LIMIT) {
        const largest = Object.entries(variables)
          .map(([name, value]) => [name, environmentSize({ [name]: value })])
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([name, bytes]) => `${name} ${bytes} B`)
          .join(', ');
        problems.push(
          `${logicalId}: its environment would be ${size} bytes, over Lambda's ${LAMBDA_ENVIRONMENT_LIMIT}-byte limit (largest: ${largest})`,
        );
      }
    }
    const policyLimit = POLICY_LIMITS[resource.Type];
    if (policyLimit !== undefined) {
      const documents =
        resource.Type === 'AWS::IAM::ManagedPolicy'
          ? [properties.PolicyDocument]
          : (properties.Policies || []).map((policy) => policy.PolicyDocument);
      const size = documents.reduce((sum, document) => sum + resolvedJsonLength(document || {}, fullPseudo), 0);
      if (size > policyLimit)
        problems.push(
          `${logicalId}: its ${resource.Type === 'AWS::IAM::ManagedPolicy' ? 'policy' : 'inline policies'} would be about ${size} characters, over IAM's limit of ${policyLimit}`,
        );
    }
    for (const [type, property, limit, what] of NAME_LIMITS) {
      if (resource.Type !== type || properties[property] === undefined) continue;
      const length = nameLength(properties[property], pseudo);
      if (length !== undefined && length > limit) {
        const shown = typeof properties[property] === 'string' ? ` "${properties[property]}"` : '';
        problems.push(
          `${logicalId}: the ${what}${shown} would be ${length} characters, over AWS's limit of ${limit}: use a shorter service or stage name`,
        );
      }
    }
  }
  return problems;
}

/** Whether `value` references the resource `logicalId` through Ref, Fn::GetAtt or Fn::Sub. */
function references(value, logicalId) {
  if (Array.isArray(value)) return value.some((item) => references(item, logicalId));
  if (value === null || typeof value !== 'object') return false;
  if (value.Ref === logicalId) return true;
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt) && getAtt[0] === logicalId) return true;
  if (typeof getAtt === 'string' && getAtt.split('.')[0] === logicalId) return true;
  const sub = value['Fn::Sub'];
  const text = Array.isArray(sub) ? sub[0] : sub;
  if (typeof text === 'string' && new RegExp(`\\$\\{${logicalId}(\\.[^}]*)?\\}`).test(text)) return true;
  return Object.values(value).some((item) => references(item, logicalId));
}

/** Drops the DependsOn entries a reference already enforces; returns how many. */
function dropRedundantDependsOn(template) {
  let dropped = 0;
  for (const resource of Object.values(template.Resources || {})) {
    if (resource.DependsOn === undefined) continue;
    const list = [].concat(resource.DependsOn);
    const kept = list.filter((dependency) => !references(resource.Properties || {}, dependency));
    dropped += list.length - kept.length;
    if (kept.length === 0) delete resource.DependsOn;
    else resource.DependsOn = kept.length === 1 ? kept[0] : kept;
  }
  return dropped;
}

class StackLimitsPlugin {
  constructor(serverless, _options, utils) {
    this.serverless = serverless;
    this.log = (utils && utils.log) || { info: () => undefined };
    this.hooks = { 'before:aws:package:finalize:saveServiceState': () => this.check() };
  }

  check() {
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    dropRedundantDependsOn(template);
    const provider = this.serverless.service.provider;
    const problems = findLimitViolations(template, {
      region: provider.region,
      stackName: this.serverless.getProvider('aws').naming.getStackName(),
    });
    if (problems.length > 0) {
      const ServerlessError = (this.serverless.classes && this.serverless.classes.Error) || Error;
      throw new ServerlessError(`${PLUGIN}: the stack would exceed AWS limits:\n  ${problems.join('\n  ')}`);
    }
  }
}

module.exports = StackLimitsPlugin;
module.exports.LAMBDA_ENVIRONMENT_LIMIT = LAMBDA_ENVIRONMENT_LIMIT;
module.exports.environmentSize = environmentSize;
module.exports.findLimitViolations = findLimitViolations;
module.exports.dropRedundantDependsOn = dropRedundantDependsOn;
module.exports.nameLength = nameLength;
module.exports.resolvedJsonLength = resolvedJsonLength;
