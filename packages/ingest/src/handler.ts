import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { SQSClient } from '@aws-sdk/client-sqs';
import { parseIngestSettings } from '@ecr-replicate/common';
import { createLogger, createMetrics } from '@ecr-replicate/common/observability';
import middy from '@middy/core';
import { ingestEvent } from './ingest';

/**
 * Lambda on the EventBridge rule for "ECR Image Action" events (invoked
 * asynchronously: a thrown error is retried by Lambda, then goes to the
 * function's on-failure destination). Settings and clients are made once per
 * container.
 */
const logger = createLogger('ingest');
const metrics = createMetrics('ingest', logger);
const settings = parseIngestSettings(process.env);
const sqs = new SQSClient({});

export const handler = middy(async (event: unknown) =>
  ingestEvent(event, {
    sqs,
    requestQueueUrl: settings.requestQueueUrl,
    config: settings.replicationConfig,
    logger,
    metrics,
  }),
)
  .use(injectLambdaContext(logger, { logEvent: false }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
