import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { parseDispatchSettings } from '@ecr-replicate/common';
import { JobStore, createJobTableClient } from '@ecr-replicate/common/state';
import middy from '@middy/core';
import type { SQSEvent } from 'aws-lambda';
import { dispatchBatch } from '../dispatch';
import { observability } from './runtime';

/**
 * Lambda on the FIFO request queue (event source mapping with
 * ReportBatchItemFailures): records requests, takes leases, starts one worker
 * build per batch. Settings and clients are made once per container.
 */
const { logger, metrics } = observability('queue');
const settings = parseDispatchSettings(process.env);
const store = new JobStore(createJobTableClient(), settings.jobTable);
const codebuild = new CodeBuildClient({});

export const handler = middy(async (event: SQSEvent) =>
  dispatchBatch(event, {
    store,
    codebuild,
    workerProjectName: settings.workerProjectName,
    leaseMs: settings.leaseSeconds * 1000,
    logger,
    metrics,
  }),
)
  .use(injectLambdaContext(logger, { logEvent: false }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
