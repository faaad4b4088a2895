import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { createLogger, createMetrics } from '@ecr-replicate/common/observability';

/** The dispatcher's service name: the `service` field of its logs and dimension of its metrics (alarms use it). */
export const SERVICE_NAME = 'dispatcher';

/** Logger and metrics of one dispatcher handler; `handler` is added to every log line. */
export function observability(handler: 'queue' | 'build-state' | 'retry'): { logger: Logger; metrics: Metrics } {
  const logger = createLogger(SERVICE_NAME, { persistentKeys: { handler } });
  return { logger, metrics: createMetrics(SERVICE_NAME, logger) };
}
