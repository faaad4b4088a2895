import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  ErrorCode,
  ReplicationError,
  jobKeyOf,
  toReplicationError,
  type ReplicationConfig,
} from '@ecr-replicate/common';
import { eventIdOf, toRequest, type DropReason } from './decide';
import { sendRequest } from '@ecr-replicate/common/queue';

export interface IngestDependencies {
  sqs: SQSClient;
  requestQueueUrl: string;
  config: ReplicationConfig;
  logger: Logger;
  metrics: Metrics;
}

export type IngestResult =
  | { kind: 'sent'; jobKey: string; messageId?: string }
  | { kind: 'dropped'; reason: DropReason };

/**
 * Handles one EventBridge event: drops it (debug log, `EventsDropped` metric
 * with a `reason` dimension) or queues one request (`RequestsQueued`).
 *
 * An invalid event is logged with its id and the reason, never its content,
 * and thrown, so that Lambda's asynchronous retries and on-failure
 * destination keep it. A failed SendMessage is thrown too.
 */
export async function ingestEvent(input: unknown, deps: IngestDependencies): Promise<IngestResult> {
  const { logger, metrics } = deps;
  const eventId = eventIdOf(input);

  let decision;
  try {
    decision = toRequest(input, deps.config);
  } catch (error) {
    const failure = toReplicationError(error);
    logger.error('rejected an invalid ECR Image Action event', {
      eventId: eventId ?? '(none)',
      code: failure.code,
      reason: failure.message,
    });
    metrics.addMetric('EventsRejected', MetricUnit.Count, 1);
    throw new ReplicationError(
      ErrorCode.InvalidInput,
      `ECR event ${eventId ?? '(without a valid id)'} rejected: ${failure.message}`,
      {
        cause: error,
        details: { eventId },
      },
    );
  }

  if (decision.kind === 'drop') {
    logger.debug('dropped an ECR event', { eventId, reason: decision.reason });
    const metric = metrics.singleMetric();
    metric.addDimension('reason', decision.reason);
    metric.addMetric('EventsDropped', MetricUnit.Count, 1);
    return { kind: 'dropped', reason: decision.reason };
  }

  const { request } = decision;
  const jobKey = jobKeyOf(request);
  try {
    const messageId = await sendRequest(deps.sqs, deps.requestQueueUrl, request);
    logger.info('queued a replication request', {
      eventId: request.eventId,
      jobKey,
      action: request.action,
      messageId,
    });
    metrics.addMetric('RequestsQueued', MetricUnit.Count, 1);
    return { kind: 'sent', jobKey, ...(messageId === undefined ? {} : { messageId }) };
  } catch (error) {
    const failure = toReplicationError(error);
    logger.error('could not queue a replication request', {
      eventId: request.eventId,
      jobKey,
      code: failure.code,
      reason: failure.message,
    });
    throw failure;
  }
}
