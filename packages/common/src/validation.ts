import type { z } from 'zod';
import { ErrorCode, ValidationError, type ValidationIssue } from './errors';

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
  throw new ValidationError(subject, toIssues(result.error), code);
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

function toIssues(error: z.ZodError): ValidationIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.'),
    reason: issue.message,
  }));
}

/** Error map: a clearer word for missing fields; zod's defaults name types, never values. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
  return undefined;
}
