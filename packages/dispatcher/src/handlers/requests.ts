import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { parseDispatchSettings } from '@ecr-replicate/common';
import { lambdaHandler, observability } from '@ecr-replicate/common/observability';
import { JobStore, createJobTableClient } from '@ecr-replicate/common/state';
import type { SQSEvent } from 'aws-lambda';
import { dispatchBatch } from '../dispatch';
import { SERVICE_NAME } from '../service';

/**
 * Lambda on the FIFO request queue (event source mapping with ReportBatchItemFailures): records requests, takes
 * leases, starts one worker build per batch. Settings and clients are made once per container.
 */
const obs = observability(SERVICE_NAME, 'requests');
const settings = parseDispatchSettings(process.env);
const store = new JobStore(createJobTableClient(), settings.jobTable);
const codebuild = new CodeBuildClient({});

export const handler = lambdaHandler(obs, async (event: SQSEvent) =>
  dispatchBatch(event, {
    store,
    codebuild,
    workerProjectName: settings.workerProjectName,
    leaseMs: settings.leaseSeconds * 1000,
    ...obs,
  }),
);
