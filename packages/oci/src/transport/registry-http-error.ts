import { ErrorCode, ReplicationError } from '@ecr-replicate/common/core';

/** The parts of a registry's `{"errors":[{"code","message"}]}` body that callers act on. */
export interface RegistryErrorBody {
  /** Every `errors[].code`, in order (distribution's codes: NAME_UNKNOWN, MANIFEST_UNKNOWN, TAG_INVALID...). */
  codes: string[];
  /** The first `errors[].message`. */
  message: string | undefined;
}

/** Reads a registry error body; anything that is not one gives no codes (the status alone then speaks). */
export function parseRegistryErrorBody(body: string): RegistryErrorBody {
  try {
    const parsed = JSON.parse(body) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const errors = Array.isArray(parsed.errors) ? parsed.errors : [];
    const message = errors.find((e) => typeof e?.message === 'string')?.message as string | undefined;
    return { codes: errors.map((e) => e?.code).filter((c): c is string => typeof c === 'string'), message };
  } catch {
    return { codes: [], message: undefined };
  }
}

/** A URL fit for errors and logs: scheme, host and path only (a query may hold a signed token, as S3's do). */
export function credentialFreeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

export interface RegistryHttpErrorFields {
  status: number;
  registryCodes: readonly string[];
  method: string;
  /** The request's URL without credentials or query (see {@link credentialFreeUrl}). */
  url: string;
  /** A Retry-After the registry sent with a 429 or 503. */
  retryAfterMs?: number | undefined;
  cause?: unknown;
}

/**
 * A registry answered an HTTP request with a status the call did not expect. The one typed error the transport
 * gives: the status, the registry's error codes, the method and a credential-free URL, so callers branch on fields,
 * never on message text. Its `code` maps the answer to the product's error codes:
 * 429/5xx → REGISTRY_UNAVAILABLE (the request is retried), 401 → AUTH_FAILED, 403 → ACCESS_DENIED,
 * 404 or missing content → NOT_FOUND, an immutable tag → IMMUTABLE_TAG_CONFLICT, anything else → REGISTRY_PROTOCOL.
 */
export class RegistryHttpError extends ReplicationError {
  readonly status: number;
  readonly registryCodes: readonly string[];
  readonly method: string;
  readonly url: string;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, fields: RegistryHttpErrorFields & { registry: string; code?: ErrorCode }) {
    super(fields.code ?? codeOfAnswer(fields.status, fields.registryCodes, message), message, {
      details: { registry: fields.registry, status: fields.status, registryCodes: [...fields.registryCodes] },
      ...(fields.cause === undefined ? {} : { cause: fields.cause }),
    });
    this.name = 'RegistryHttpError';
    this.status = fields.status;
    this.registryCodes = fields.registryCodes;
    this.method = fields.method;
    this.url = fields.url;
    this.retryAfterMs = fields.retryAfterMs;
  }

  /** Whether the registry said so with this code (e.g. `NAME_UNKNOWN`). */
  has(registryCode: string): boolean {
    return this.registryCodes.includes(registryCode);
  }

  /** A throttled or failing registry: worth the same request again after a backoff. */
  get transient(): boolean {
    return this.status === 429 || this.status >= 500;
  }
}

const MISSING_CONTENT = new Set(['MANIFEST_BLOB_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN']);

function codeOfAnswer(status: number, registryCodes: readonly string[], message: string): ErrorCode {
  if (status === 429 || status >= 500) return ErrorCode.RegistryUnavailable;
  if (status === 401) return ErrorCode.AuthFailed;
  if (status === 403) return ErrorCode.AccessDenied;
  if (status === 404) return ErrorCode.NotFound;
  if (registryCodes.includes('TAG_INVALID') && /immutable/i.test(message)) return ErrorCode.ImmutableTagConflict;
  if (registryCodes.some((c) => MISSING_CONTENT.has(c))) return ErrorCode.NotFound;
  return ErrorCode.RegistryProtocol;
}
