import { SQSClient } from '@aws-sdk/client-sqs';
import { ErrorCode, ReplicationError, parseReconcileSettings, toReplicationError } from '@ecr-replicate/common';
import { createLogger, createMetrics } from '@ecr-replicate/common/observability';
import type { Context } from 'aws-lambda';
import type { RegistryClient } from '../registry/client';
import { loadDestinationSecret } from '../registry/destination-secret';
import type { SourceRegistryIdentity } from '../sync/enqueue';
import { runScheduledSync, type ScheduledSyncSummary } from '../sync/scheduled';

/**
 * Scheduled Lambda (an EventBridge schedule): drift repair and backfill. It
 * compares this account's ECR registry in this region with the destination
 * and queues a replication request per tag that differs; the workers copy.
 * Settings and clients are made once per container. A run that cannot start
 * (settings, secret, repository listing) throws, so the invocation counts as
 * an error; a tag that could not be compared or queued is logged and counted
 * (`ReconcileFailures`), and the next run tries again.
 */
const logger = createLogger('reconcile');
const metrics = createMetrics('reconcile', logger);
const settings = parseReconcileSettings(process.env);
const sqs = new SQSClient({});

/** The account and region of the function's own ARN: the source registry. */
export function sourceOfFunction(functionArn: string): SourceRegistryIdentity {
  const match = /^arn:[a-z-]+:lambda:([a-z0-9-]+):(\d{12}):function:/.exec(functionArn);
  if (!match)
    throw new ReplicationError(
      ErrorCode.InvalidInput,
      `cannot read the account and region of function ARN "${functionArn}"`,
      { retryable: false },
    );
  return { region: match[1] as string, accountId: match[2] as string };
}

export async function handler(_event: unknown, context: Context): Promise<ScheduledSyncSummary> {
  logger.addContext(context);
  metrics.captureColdStartMetric();
  const clients: RegistryClient[] = [];
  try {
    const secret = await loadDestinationSecret(settings.destSecretId);
    return await runScheduledSync({
      settings,
      secret,
      source: sourceOfFunction(context.invokedFunctionArn),
      sqs,
      logger,
      metrics,
      clients,
    });
  } catch (error) {
    logger.error('reconcile failed', { error: toReplicationError(error).toJSON() });
    throw error;
  } finally {
    metrics.publishStoredMetrics();
    await Promise.all(clients.map((c) => c.close()));
  }
}
