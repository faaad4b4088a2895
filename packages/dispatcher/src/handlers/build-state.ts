import { SQSClient } from '@aws-sdk/client-sqs';
import { parseBuildStateSettings } from '@ecr-replicate/common';
import { lambdaHandler, observability } from '@ecr-replicate/common/observability';
import { sqsClientOptions } from '@ecr-replicate/common/queue';
import { JobStore, createJobTableClient } from '@ecr-replicate/common/state';
import { handleBuildStateChange } from '../build-state';
import { SERVICE_NAME } from '../service';

/**
 * Lambda on the EventBridge rule for the worker project's "CodeBuild Build State Change" events (asynchronous: a
 * thrown error is retried by Lambda, then goes to the on-failure destination).
 */
const obs = observability(SERVICE_NAME, 'build-state');
const settings = parseBuildStateSettings(process.env);
const store = new JobStore(createJobTableClient(), settings.jobTable);
// FIPS: the client's own endpoint, not the queue URL's host (common/queue, sqsClientOptions).
const sqs = new SQSClient(sqsClientOptions());

export const handler = lambdaHandler(obs, async (event: unknown) =>
  handleBuildStateChange(event, {
    store,
    sqs,
    retryQueueUrl: settings.retryQueueUrl,
    workerProjectName: settings.workerProjectName,
    maxAttempts: settings.maxAttempts,
    ...obs,
  }),
);
