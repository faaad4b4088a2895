/** A compiled CloudFormation template, as loosely typed as the tests need. */

/** Template values the tests walk freely (a template is untyped JSON). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Loose = any;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Resource {
  Type: string;
  Properties?: JsonObject;
  Condition?: string;
  DependsOn?: string | string[];
  DeletionPolicy?: string;
}

export interface Template {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, JsonObject>;
  Conditions?: Record<string, Json>;
}

export interface PolicyStatement {
  Sid?: string;
  Effect: string;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: Json;
  NotResource?: Json;
  Condition?: JsonObject;
}

export function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

export function resourcesOfType(template: Template, type: string): Array<[string, Resource]> {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

export function resource(template: Template, logicalId: string, type?: string): Resource {
  const found = template.Resources[logicalId];
  if (found === undefined) throw new Error(`the template has no resource ${logicalId}`);
  if (type !== undefined && found.Type !== type) throw new Error(`${logicalId} is a ${found.Type}, not a ${type}`);
  return found;
}

export function props(template: Template, logicalId: string, type?: string): Record<string, Loose> {
  return (resource(template, logicalId, type).Properties ?? {}) as Record<string, Loose>;
}

/** The logical id a `{ Ref }` or `{ Fn::GetAtt }` points at. */
export function target(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const object = value as Record<string, unknown>;
  if (typeof object.Ref === 'string') return object.Ref;
  const getAtt = object['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  if (typeof getAtt === 'string') return getAtt.split('.')[0];
  return undefined;
}

/**
 * Every statement of every IAM identity policy in the template (inline
 * policies of roles, users and groups; AWS::IAM::Policy and ManagedPolicy),
 * with where it is.
 */
export function iamStatements(template: Template): Array<{ where: string; statement: PolicyStatement }> {
  const found: Array<{ where: string; statement: PolicyStatement }> = [];
  for (const [logicalId, item] of Object.entries(template.Resources)) {
    const properties = (item.Properties ?? {}) as Record<string, Loose>;
    const documents: Array<[string, Loose]> = [];
    if (['AWS::IAM::Role', 'AWS::IAM::User', 'AWS::IAM::Group'].includes(item.Type)) {
      for (const policy of asArray<Loose>(properties.Policies))
        documents.push([`${logicalId}/${JSON.stringify(policy.PolicyName)}`, policy.PolicyDocument]);
    }
    if (['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy'].includes(item.Type))
      documents.push([logicalId, properties.PolicyDocument]);
    for (const [where, document] of documents) {
      for (const statement of asArray<PolicyStatement>(document?.Statement)) found.push({ where, statement });
    }
  }
  return found;
}

/** The statements of one role's inline policies. */
export function roleStatements(template: Template, roleId: string): PolicyStatement[] {
  const properties = props(template, roleId, 'AWS::IAM::Role');
  return asArray<Loose>(properties.Policies).flatMap((policy) =>
    asArray<PolicyStatement>(policy.PolicyDocument.Statement),
  );
}

/** Actions allowed by `statements`, lower-cased. */
export function allowedActions(statements: PolicyStatement[]): Set<string> {
  return new Set(
    statements.filter((s) => s.Effect === 'Allow').flatMap((s) => asArray(s.Action).map((a) => a.toLowerCase())),
  );
}

/** The statements that allow `action` (case-insensitive). */
export function statementsAllowing(statements: PolicyStatement[], action: string): PolicyStatement[] {
  return statements.filter(
    (s) => s.Effect === 'Allow' && asArray(s.Action).some((a) => a.toLowerCase() === action.toLowerCase()),
  );
}

/** Every string anywhere inside `value`. */
export function allStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(allStrings);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(allStrings);
  return [];
}

/** Read-only action names: Get*, Describe*, List*, BatchGet*, BatchCheck*. */
export function isReadOnlyAction(action: string): boolean {
  const name = action.split(':')[1] ?? '';
  return /^(Get|Describe|List|BatchGet|BatchCheck)/i.test(name);
}
