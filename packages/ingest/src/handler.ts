import { SQSClient } from '@aws-sdk/client-sqs';
import { parseIngestSettings } from '@ecr-replicate/common';
import { loadReplicationConfig, s3ObjectReader } from '@ecr-replicate/common/config-store';
import { sqsClientOptions } from '@ecr-replicate/common/queue';
import { lambdaHandler, observability } from '@ecr-replicate/common/observability';
import { ingestEvent } from './ingest';

/**
 * Lambda on the EventBridge rule for "ECR Image Action" events (invoked asynchronously: a thrown error is retried by
 * Lambda, then goes to the function's on-failure destination). Settings and clients are made once per container; the
 * replication configuration is read from the deployment's configuration store on the first event and kept.
 */
const obs = observability('ingest');
const settings = parseIngestSettings(process.env);
const sqs = new SQSClient(sqsClientOptions());
const readObject = s3ObjectReader();

export const handler = lambdaHandler(obs, async (event: unknown) =>
  ingestEvent(event, {
    sqs,
    requestQueueUrl: settings.requestQueueUrl,
    config: await loadReplicationConfig(readObject),
    ...obs,
  }),
);
