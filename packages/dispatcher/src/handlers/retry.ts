import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { SQSClient } from '@aws-sdk/client-sqs';
import { parseRetryForwardSettings } from '@ecr-replicate/common';
import middy from '@middy/core';
import type { SQSEvent } from 'aws-lambda';
import { forwardRetries } from '../retry';
import { observability } from './runtime';

/**
 * Lambda on the standard retry queue (event source mapping with
 * ReportBatchItemFailures): forwards delayed retries into the FIFO request queue.
 */
const { logger, metrics } = observability('retry');
const settings = parseRetryForwardSettings(process.env);
const sqs = new SQSClient({});

export const handler = middy(async (event: SQSEvent) =>
  forwardRetries(event, { sqs, requestQueueUrl: settings.requestQueueUrl, logger, metrics }),
)
  .use(injectLambdaContext(logger, { logEvent: false }))
  .use(logMetrics(metrics));
