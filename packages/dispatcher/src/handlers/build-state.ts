import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { SQSClient } from '@aws-sdk/client-sqs';
import { parseBuildStateSettings } from '@ecr-replicate/common';
import { JobStore, createJobTableClient } from '@ecr-replicate/common/state';
import middy from '@middy/core';
import { handleBuildStateChange } from '../build-state';
import { observability } from './runtime';

/**
 * Lambda on the EventBridge rule for the worker project's "CodeBuild Build
 * State Change" events (asynchronous: a thrown error is retried by Lambda,
 * then goes to the on-failure destination).
 */
const { logger, metrics } = observability('build-state');
const settings = parseBuildStateSettings(process.env);
const store = new JobStore(createJobTableClient(), settings.jobTable);
const sqs = new SQSClient({});

export const handler = middy(async (event: unknown) =>
  handleBuildStateChange(event, {
    store,
    sqs,
    retryQueueUrl: settings.retryQueueUrl,
    workerProjectName: settings.workerProjectName,
    maxAttempts: settings.maxAttempts,
    logger,
    metrics,
  }),
)
  .use(injectLambdaContext(logger, { logEvent: false }))
  .use(logMetrics(metrics));
