/**
 * One error family for the whole product. Every failure that crosses a module
 * boundary is a {@link ReplicationError} with a stable `code`: logs, metrics,
 * job records and exit codes key on the code, never on the message text.
 */

export const ErrorCode = {
  /** Input of any kind failed validation (event, request, secret, config, CLI argument). */
  InvalidInput: 'INVALID_INPUT',
  /** An image reference does not follow the distribution grammar. */
  InvalidReference: 'INVALID_REFERENCE',
  /** A host name is not an ECR registry host. */
  InvalidEcrHost: 'INVALID_ECR_HOST',
  /** A region does not belong to any known partition. */
  UnknownPartition: 'UNKNOWN_PARTITION',
  /** Credentials are missing or were rejected: trying again with the same ones cannot help. */
  AuthFailed: 'AUTH_FAILED',
  /** Credentials could not be obtained just now (a token service or the ECR token call failed, a token expired). */
  AuthUnavailable: 'AUTH_UNAVAILABLE',
  /** The registry denied the operation to valid credentials. */
  AccessDenied: 'ACCESS_DENIED',
  /** A repository, manifest, tag or blob does not exist. */
  NotFound: 'NOT_FOUND',
  /** Content did not hash to the digest it was announced with, or had another size. */
  DigestMismatch: 'DIGEST_MISMATCH',
  /** A manifest is larger than a registry accepts (4 MiB). */
  ManifestTooLarge: 'MANIFEST_TOO_LARGE',
  /** The destination tag is immutable and points at another digest. */
  ImmutableTagConflict: 'IMMUTABLE_TAG_CONFLICT',
  /** The registry answered in a way the protocol does not allow. */
  RegistryProtocol: 'REGISTRY_PROTOCOL',
  /** The registry kept answering 429 or 5xx after every retry. */
  RegistryUnavailable: 'REGISTRY_UNAVAILABLE',
  /** Connection refused, reset, timed out or DNS failure after every retry. */
  Network: 'NETWORK',
  /** A lease on a job was lost to another worker. */
  LeaseLost: 'LEASE_LOST',
  /** The source changed while it was being copied; the work must start over. */
  SourceChanged: 'SOURCE_CHANGED',
  /** A call to an AWS service failed. */
  AwsService: 'AWS_SERVICE',
  /** A bug: an invariant of our own code did not hold. */
  Internal: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Codes whose failures may succeed when tried again later: the job is retried (job retry) and the command says so.
 * Every other code is final for the job that met it. This set is the one place that decides; an error overrides it
 * only where one failure of a code is known to differ (rare: grep `retryable:`).
 */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.RegistryUnavailable,
  ErrorCode.Network,
  ErrorCode.LeaseLost,
  ErrorCode.SourceChanged,
  ErrorCode.AwsService,
  ErrorCode.AuthUnavailable,
]);

/** Whether failures of this code are worth another try later. */
export function isRetryableCode(code: ErrorCode): boolean {
  return RETRYABLE.has(code);
}

export interface ReplicationErrorOptions {
  /** Overrides the code's default retryability. */
  retryable?: boolean;
  /** Structured, secret-free context for logs (repository, digest, status...). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class ReplicationError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: ReplicationErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ReplicationError';
    this.code = code;
    this.retryable = options.retryable ?? isRetryableCode(code);
    this.details = options.details ?? {};
  }

  /** A plain object for structured logs and job records. */
  toJSON(): { code: ErrorCode; message: string; retryable: boolean; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, retryable: this.retryable, details: this.details };
  }
}

/** One reason a value failed validation: where, and why (never the value itself). */
export interface ValidationIssue {
  /** Dotted path of the offending field, `(root)` for the value as a whole. */
  path: string;
  reason: string;
}

/** Input failed validation. The message names each field and reason, never a value. */
export class ValidationError extends ReplicationError {
  readonly subject: string;
  readonly issues: readonly ValidationIssue[];

  constructor(subject: string, issues: readonly ValidationIssue[], code: ErrorCode = ErrorCode.InvalidInput) {
    const list = issues.map((i) => `${i.path}: ${i.reason}`).join('; ');
    super(code, `invalid ${subject}: ${list}`, { details: { subject, issues } });
    this.name = 'ValidationError';
    this.subject = subject;
    this.issues = issues;
  }
}

export function isReplicationError(error: unknown): error is ReplicationError {
  return error instanceof ReplicationError;
}

/**
 * Wraps anything thrown into a ReplicationError so callers handle one shape.
 * Unknown errors become `INTERNAL` and keep only their message.
 */
export function toReplicationError(error: unknown): ReplicationError {
  if (error instanceof ReplicationError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ReplicationError(ErrorCode.Internal, message, { cause: error });
}
