import type { z } from 'zod';
import { ErrorCode, ValidationError, type ValidationIssue } from './errors';
import { didYouMean } from './text/suggest';

/**
 * Parses `input` with `schema` or throws a {@link ValidationError} whose
 * message names every failing field and its reason. Values are never echoed,
 * so the error is safe to log even when the input holds secrets.
 */
export function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  subject: string,
  code: ErrorCode = ErrorCode.InvalidInput,
): z.output<S> {
  const result = schema.safeParse(input, { error: describeIssue });
  if (result.success) return result.data;
  throw new ValidationError(subject, toIssues(result.error, schema), code);
}

/** Parses a JSON document, reporting malformed JSON the same way as a bad field. */
export function parseJsonWith<S extends z.ZodType>(
  schema: S,
  text: string,
  subject: string,
  code: ErrorCode = ErrorCode.InvalidInput,
): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationError(subject, [{ path: '(root)', reason: 'is not valid JSON' }], code);
  }
  return parseWith(schema, value, subject, code);
}

function pathText(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

/** Unknown keys one issue each, at their own path, with the closest known key. */
function toIssues(error: z.ZodError, schema: z.ZodType): ValidationIssue[] {
  return error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({
          path: pathText([...issue.path, key]),
          reason: `is not a known key${didYouMean(key, knownKeysAt(schema, issue.path))}`,
        }))
      : [{ path: pathText(issue.path), reason: issue.message }],
  );
}

/** Minimal view of zod's internal definitions, enough to walk to the object at a path. */
interface SchemaDefinition {
  type: string;
  shape?: Record<string, unknown>;
  innerType?: unknown;
  in?: unknown;
  out?: unknown;
  element?: unknown;
  valueType?: unknown;
}

function definitionOf(schema: unknown): SchemaDefinition | undefined {
  return (schema as { _zod?: { def?: SchemaDefinition } } | undefined)?._zod?.def;
}

/** Unwraps defaults, optionals and pipes (a preprocess's output schema) down to the schema that validates. */
function unwrap(schema: unknown): SchemaDefinition | undefined {
  let def = definitionOf(schema);
  for (let depth = 0; def !== undefined && depth < 16; depth += 1) {
    if (def.innerType !== undefined) def = definitionOf(def.innerType);
    else if (def.type === 'pipe') def = definitionOf(definitionOf(def.in)?.type === 'transform' ? def.out : def.in);
    else break;
  }
  return def;
}

/** The keys the object schema at `path` knows (none when the path leads elsewhere). */
function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let def = unwrap(schema);
  for (const step of path) {
    if (def === undefined) return [];
    if (def.type === 'object') def = unwrap(def.shape?.[String(step)]);
    else if (def.type === 'array') def = unwrap(def.element);
    else if (def.type === 'record') def = unwrap(def.valueType);
    else return [];
  }
  return def?.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}

/** Error map: a clearer word for missing fields; zod's defaults name types, never values. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
  return undefined;
}
