import { SQSClient } from '@aws-sdk/client-sqs';
import { parseIngestSettings } from '@ecr-replicate/common';
import { lambdaHandler, observability } from '@ecr-replicate/common/observability';
import { ingestEvent } from './ingest';

/**
 * Lambda on the EventBridge rule for "ECR Image Action" events (invoked asynchronously: a thrown error is retried by
 * Lambda, then goes to the function's on-failure destination). Settings and clients are made once per container.
 */
const obs = observability('ingest');
const settings = parseIngestSettings(process.env);
const sqs = new SQSClient({});

export const handler = lambdaHandler(obs, async (event: unknown) =>
  ingestEvent(event, { sqs, requestQueueUrl: settings.requestQueueUrl, config: settings.replicationConfig, ...obs }),
);
