import { SQSClient } from '@aws-sdk/client-sqs';
import { parseRetryForwardSettings } from '@ecr-replicate/common';
import { lambdaHandler, observability } from '@ecr-replicate/common/observability';
import { sqsClientOptions } from '@ecr-replicate/common/queue';
import type { SQSEvent } from 'aws-lambda';
import { forwardJobRetries } from '../job-retry-forward';
import { SERVICE_NAME } from '../service';

/**
 * Lambda on the standard job-retry queue (event source mapping with ReportBatchItemFailures): forwards delayed job
 * retries into the FIFO request queue.
 */
const obs = observability(SERVICE_NAME, 'job-retries');
const settings = parseRetryForwardSettings(process.env);
// FIPS: the client's own endpoint, not the queue URL's host (common/queue, sqsClientOptions).
const sqs = new SQSClient(sqsClientOptions());

export const handler = lambdaHandler(obs, async (event: SQSEvent) =>
  forwardJobRetries(event, { sqs, requestQueueUrl: settings.requestQueueUrl, ...obs }),
);
