'use strict';
/**
 * Local serverless plugin that keeps the stacks least-privilege at packaging
 * time, after every other plugin shaped the template:
 *
 * - removes the framework's shared Lambda role when no function uses it
 *   (serverless-iam-roles-per-function gives each function a role of its own
 *   but leaves the shared one behind);
 * - fails the packaging when an IAM policy statement of the template allows
 *   an action with a wildcard (`sqs:*`, `*`), or allows on `Resource: '*'`
 *   an action outside `custom.leastPrivilege.anyResourceActions` (default:
 *   only ecr:GetAuthorizationToken, which has no resource to scope to).
 */

const PLUGIN = 'least-privilege';
const SHARED_LAMBDA_ROLE = 'IamRoleLambdaExecution';
const DEFAULT_ANY_RESOURCE_ACTIONS = ['ecr:GetAuthorizationToken'];

const asArray = (value) => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** Every [where, statement] of the IAM policies in `template`. */
function policyStatements(template) {
  const found = [];
  for (const [logicalId, resource] of Object.entries(template.Resources || {})) {
    const properties = resource.Properties || {};
    const documents = [];
    if (['AWS::IAM::Role', 'AWS::IAM::User', 'AWS::IAM::Group'].includes(resource.Type)) {
      for (const policy of asArray(properties.Policies))
        documents.push([`${logicalId}/${policy.PolicyName}`, policy.PolicyDocument]);
    }
    if (['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy'].includes(resource.Type))
      documents.push([logicalId, properties.PolicyDocument]);
    for (const [where, document] of documents) {
      for (const statement of asArray(document && document.Statement)) found.push([where, statement]);
    }
  }
  return found;
}

/** Whether `value` references the resource `logicalId` (Ref, Fn::GetAtt, or ${Name} in Fn::Sub). */
function references(value, logicalId) {
  if (Array.isArray(value)) return value.some((item) => references(item, logicalId));
  if (value === null || typeof value !== 'object') return false;
  if (value.Ref === logicalId) return true;
  const getAtt = value['Fn::GetAtt'];
  if (getAtt && (getAtt[0] === logicalId || (typeof getAtt === 'string' && getAtt.split('.')[0] === logicalId)))
    return true;
  const sub = value['Fn::Sub'];
  const subText = Array.isArray(sub) ? sub[0] : sub;
  if (typeof subText === 'string' && (subText.includes(`\${${logicalId}}`) || subText.includes(`\${${logicalId}.`)))
    return true;
  return Object.values(value).some((item) => references(item, logicalId));
}

/** The violations of the least-privilege rules in `template`, as messages. */
function findViolations(template, anyResourceActions = DEFAULT_ANY_RESOURCE_ACTIONS) {
  const allowedOnAny = new Set(anyResourceActions.map((action) => action.toLowerCase()));
  const violations = [];
  for (const [where, statement] of policyStatements(template)) {
    if (statement.Effect !== 'Allow') continue;
    if (statement.NotAction !== undefined || statement.NotResource !== undefined) {
      violations.push(`${where}: NotAction/NotResource are not allowed`);
      continue;
    }
    const actions = asArray(statement.Action);
    for (const action of actions) {
      if (typeof action !== 'string' || action.includes('*'))
        violations.push(`${where}: action ${JSON.stringify(action)} has a wildcard`);
    }
    const onAnyResource = asArray(statement.Resource).some((resource) => resource === '*');
    if (onAnyResource) {
      for (const action of actions) {
        if (typeof action === 'string' && !allowedOnAny.has(action.toLowerCase()))
          violations.push(`${where}: ${action} on Resource "*"`);
      }
    }
  }
  return violations;
}

class LeastPrivilegePlugin {
  constructor(serverless, _options, utils) {
    this.serverless = serverless;
    this.log = (utils && utils.log) || { info: () => undefined };
    if (serverless.configSchemaHandler) {
      serverless.configSchemaHandler.defineCustomProperties({
        type: 'object',
        properties: {
          leastPrivilege: {
            type: 'object',
            properties: { anyResourceActions: { type: 'array', items: { type: 'string' } } },
            additionalProperties: false,
          },
        },
      });
    }
    this.hooks = { 'before:aws:package:finalize:saveServiceState': () => this.check() };
  }

  check() {
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    const resources = template.Resources || {};
    if (resources[SHARED_LAMBDA_ROLE]) {
      const others = Object.entries(resources).filter(([logicalId]) => logicalId !== SHARED_LAMBDA_ROLE);
      const dependsOn = (resource) => [].concat(resource.DependsOn || []).includes(SHARED_LAMBDA_ROLE);
      if (!others.some(([, resource]) => dependsOn(resource) || references(resource, SHARED_LAMBDA_ROLE))) {
        delete resources[SHARED_LAMBDA_ROLE];
        this.log.info(`${PLUGIN}: removed the unused shared Lambda role`);
      }
    }
    const settings = (this.serverless.service.custom || {}).leastPrivilege || {};
    const violations = findViolations(template, settings.anyResourceActions || DEFAULT_ANY_RESOURCE_ACTIONS);
    if (violations.length > 0) {
      const ServerlessError = (this.serverless.classes && this.serverless.classes.Error) || Error;
      throw new ServerlessError(`${PLUGIN}: the template grants more than it should:\n  ${violations.join('\n  ')}`);
    }
  }
}

module.exports = LeastPrivilegePlugin;
module.exports.findViolations = findViolations;
module.exports.policyStatements = policyStatements;
