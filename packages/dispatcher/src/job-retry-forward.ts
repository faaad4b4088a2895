import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { jobKeyOf, parseReplicationRequestJson, toReplicationError } from '@ecr-replicate/common';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { DEFERRALS_ATTRIBUTE, deferralsOf } from './back-pressure';
import { ATTEMPT_ATTRIBUTE, forwardJobRetry } from './job-retry';

export interface JobRetryForwardDependencies {
  sqs: SQSClient;
  requestQueueUrl: string;
  logger: Logger;
  metrics: Metrics;
}

/**
 * Handles a batch of the (standard) retry queue: each message, its delay
 * over, is forwarded into the FIFO request queue in its job's group with a
 * deduplication id of its own. A message that cannot be parsed or forwarded
 * fails alone (partial batch response) and, after the queue's receive limit,
 * lands in the retry queue's dead-letter queue.
 */
export async function forwardJobRetries(event: SQSEvent, deps: JobRetryForwardDependencies): Promise<SQSBatchResponse> {
  const { logger, metrics } = deps;
  const forward = async (record: SQSRecord): Promise<void> => {
    try {
      const request = parseReplicationRequestJson(record.body);
      const jobKey = jobKeyOf(request);
      const attempt = record.messageAttributes[ATTEMPT_ATTRIBUTE]?.stringValue;
      const deferrals =
        record.messageAttributes[DEFERRALS_ATTRIBUTE] === undefined ? undefined : deferralsOf(record.messageAttributes);
      // Deduplicated by the retry message's id: a duplicate delivery of one retry message is forwarded once, and no
      // retry is dropped for looking like an earlier one (a retry that counted no attempt repeats its number).
      await forwardJobRetry(deps.sqs, deps.requestQueueUrl, request, jobKey, record.messageId, deferrals);
      logger.info('forwarded a retry to the request queue', { jobKey, attempt, deferrals });
      metrics.addMetric('JobRetriesForwarded', MetricUnit.Count, 1);
    } catch (error) {
      const failure = toReplicationError(error);
      logger.error('could not forward a retry', {
        messageId: record.messageId,
        code: failure.code,
        reason: failure.message,
      });
      throw failure;
    }
  };
  return processPartialResponse(event, forward, new BatchProcessor(EventType.SQS), { throwOnFullBatchFailure: false });
}
