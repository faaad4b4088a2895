import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddyfiedHandler } from '@middy/core';
import type { Context } from 'aws-lambda';
import { MASK, maskSecretsInText } from './masking';

/**
 * Logging and metrics for every component: Powertools' JSON logger with a
 * serializer that masks secrets, and CloudWatch embedded metrics in one
 * namespace. Alarms key on `namespace` + metric name + the `service` dimension.
 */

export const METRICS_NAMESPACE = 'EcrPartitionReplicate';

export { MASK, maskSecretsInText, stripControlCharacters, safeText } from './masking';

/**
 * Key names whose values are never logged, compared without case and without
 * `-`, `_`, `.` or spaces, and matched at the end of the key so that
 * `sessionToken`, `x-amz-security-token`, `AWS_SECRET_ACCESS_KEY` or
 * `destSecret` are masked too.
 */
const SECRET_KEY_ENDINGS = [
  'secretaccesskey',
  'accesskey',
  'accesskeyid',
  'password',
  'passwd',
  'authorization',
  'token',
  'secret',
  'secretstring',
  'credentials',
] as const;

/** Whether a property of that name holds something that must not be logged. */
export function isSecretKey(key: string): boolean {
  const normalized = key.toLowerCase().replace(/[-_.\s]/g, '');
  return SECRET_KEY_ENDINGS.some((ending) => normalized.endsWith(ending));
}

/**
 * A `JSON.stringify` replacer that masks the value of every secret-looking key
 * at any depth and credentials inside strings. The logger uses it for every
 * log line; use it yourself when serializing anything for humans.
 */
export function secretMaskingReplacer(key: string, value: unknown): unknown {
  if (key !== '' && isSecretKey(key) && value !== undefined && value !== null) return MASK;
  if (typeof value === 'string') return maskSecretsInText(value);
  return value;
}

/** A deep copy of `value` with secrets masked (see {@link secretMaskingReplacer}). */
export function maskSecrets<T>(value: T): unknown {
  if (value === undefined) return undefined;
  return JSON.parse(JSON.stringify(value, secretMaskingReplacer)) as unknown;
}

export interface CreateLoggerOptions {
  /** Keys added to every log line (e.g. `{ handler: 'queue' }`). Never put secrets here. */
  persistentKeys?: Record<string, string>;
}

/**
 * A Powertools JSON logger whose output never holds secret values. The level
 * comes from `POWERTOOLS_LOG_LEVEL` (or Lambda's log-level control), INFO by default.
 */
export function createLogger(serviceName: string, options: CreateLoggerOptions = {}): Logger {
  return new Logger({
    serviceName,
    jsonReplacerFn: secretMaskingReplacer,
    ...(options.persistentKeys === undefined ? {} : { persistentKeys: options.persistentKeys }),
  });
}

/**
 * Powertools metrics in the product's namespace, with a `service` dimension of
 * `serviceName`. Pass the component's logger so that the library's own
 * warnings are JSON lines too.
 */
export function createMetrics(serviceName: string, logger?: Logger): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName, ...(logger === undefined ? {} : { logger }) });
}

/** The logger and metrics of one Lambda handler. */
export interface Observability {
  logger: Logger;
  metrics: Metrics;
}

/**
 * The logger and metrics of a Lambda handler: `service` is the component (the `service` field of its logs and the
 * dimension of its metrics, which alarms key on); `handler`, when a component has several, is added to every log line.
 */
export function observability(service: string, handler?: string): Observability {
  const logger = createLogger(service, handler === undefined ? {} : { persistentKeys: { handler } });
  return { logger, metrics: createMetrics(service, logger) };
}

/**
 * The one way a Lambda handler is wired: middy, Powertools' Lambda context on every log line (never the event, which
 * may name what a user would rather not log), and metrics flushed after every invocation with a cold-start metric.
 * Handlers stay thin: build settings and clients once per container, then `lambdaHandler(obs, (event) => domain(...))`.
 */
export function lambdaHandler<TEvent, TResult>(
  { logger, metrics }: Observability,
  handle: (event: TEvent, context: Context) => Promise<TResult>,
): MiddyfiedHandler<TEvent, TResult, Error, Context> {
  return middy<TEvent, TResult, Error, Context>(handle)
    .use(injectLambdaContext(logger, { logEvent: false }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}
