/**
 * Builds DynamoDB update and condition expressions without hand-written
 * placeholder maps: attribute names are written `#name` and registered
 * automatically (so reserved words such as `status` need no care), SET values
 * get their own placeholders, and condition values are given by name.
 */

export interface UpdateSpec {
  /** Attributes to set. An `undefined` value removes the attribute instead. */
  set?: Record<string, unknown>;
  /** Extra SET clauses written out, e.g. `#attempts = #attempts + :one`. */
  setExpressions?: readonly string[];
  /** Attributes to remove. */
  remove?: readonly string[];
  /** The condition, e.g. `#leaseOwner = :owner`. */
  condition: string;
  /** Values of the `:placeholders` used in `condition` and `setExpressions`, keyed without the colon. */
  values?: Record<string, unknown>;
}

export interface BuiltUpdate {
  UpdateExpression: string;
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
}

const NAME_PLACEHOLDER = /#([A-Za-z_][A-Za-z0-9_]*)/g;

/** `#name` → `name` for every placeholder in the expressions. */
export function attributeNamesOf(...expressions: readonly string[]): Record<string, string> {
  const names: Record<string, string> = {};
  for (const expression of expressions) {
    for (const match of expression.matchAll(NAME_PLACEHOLDER)) names[match[0]] = match[1] as string;
  }
  return names;
}

/** `{ owner: 'x' }` → `{ ':owner': 'x' }`. */
export function attributeValuesOf(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [`:${key}`, value]));
}

export function buildUpdate(spec: UpdateSpec): BuiltUpdate {
  const setClauses: string[] = [];
  const removals = new Set(spec.remove ?? []);
  const values: Record<string, unknown> = attributeValuesOf(spec.values ?? {});
  for (const [attribute, value] of Object.entries(spec.set ?? {})) {
    if (value === undefined) {
      removals.add(attribute);
    } else {
      setClauses.push(`#${attribute} = :set_${attribute}`);
      values[`:set_${attribute}`] = value;
    }
  }
  setClauses.push(...(spec.setExpressions ?? []));
  const parts: string[] = [];
  if (setClauses.length > 0) parts.push(`SET ${setClauses.join(', ')}`);
  if (removals.size > 0) parts.push(`REMOVE ${[...removals].map((a) => `#${a}`).join(', ')}`);
  const UpdateExpression = parts.join(' ');
  return {
    UpdateExpression,
    ConditionExpression: spec.condition,
    ExpressionAttributeNames: attributeNamesOf(UpdateExpression, spec.condition),
    ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
  };
}
