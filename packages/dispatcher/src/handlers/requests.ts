import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { parseDispatchSettings } from '@ecr-replicate/common';
import { lambdaHandler, observability } from '@ecr-replicate/common/observability';
import { JobStore, createJobTableClient } from '@ecr-replicate/common/state';
import type { Context, SQSEvent } from 'aws-lambda';
import { dispatchBatch } from '../dispatch';
import { SERVICE_NAME } from '../service';

/**
 * Lambda on the FIFO request queue (event source mapping with ReportBatchItemFailures): records requests, takes
 * leases, hands each batch's jobs to the copy Lambda (COPY_FUNCTION_NAME; unset: one worker build per batch), defers
 * refused or throttled work through the job-retry queue. Settings and clients are made once per container.
 */
const obs = observability(SERVICE_NAME, 'requests');
const settings = parseDispatchSettings(process.env);
const store = new JobStore(createJobTableClient(), settings.jobTable);
const codebuild = new CodeBuildClient({});
const sqs = new SQSClient({});
const copyLambda =
  settings.copyFunctionName === undefined
    ? undefined
    : { client: new LambdaClient({}), functionName: settings.copyFunctionName };

export const handler = lambdaHandler(obs, async (event: SQSEvent, context: Context) =>
  dispatchBatch(event, {
    store,
    codebuild,
    sqs,
    retryQueueUrl: settings.retryQueueUrl,
    workerProjectName: settings.workerProjectName,
    ...(copyLambda === undefined ? {} : { copyLambda }),
    leaseMs: settings.leaseSeconds * 1000,
    remainingMs: () => context.getRemainingTimeInMillis(),
    ...obs,
  }),
);
