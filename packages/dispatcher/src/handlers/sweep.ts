import { SQSClient } from '@aws-sdk/client-sqs';
import { parseSweepSettings } from '@ecr-replicate/common';
import { lambdaHandler, observability } from '@ecr-replicate/common/observability';
import { JobStore, createJobTableClient } from '@ecr-replicate/common/state';
import { SERVICE_NAME } from '../service';
import { sweepStrandedJobs } from '../sweep';

/**
 * Lambda on a schedule: re-queues stranded jobs (IN_PROGRESS with an expired lease, PENDING with nothing queued) and
 * emits StuckJobs. Throws when some could not be re-queued, so that the failure shows in the function's errors.
 */
const obs = observability(SERVICE_NAME, 'sweep');
const settings = parseSweepSettings(process.env);
const store = new JobStore(createJobTableClient(), settings.jobTable);
const sqs = new SQSClient({});

export const handler = lambdaHandler(obs, async () => {
  const result = await sweepStrandedJobs({
    store,
    sqs,
    requestQueueUrl: settings.requestQueueUrl,
    pendingAfterMs: settings.sweepPendingSeconds * 1000,
    ...obs,
  });
  if (result.failed.length > 0) throw new Error(`could not re-queue ${result.failed.length} stranded job(s)`);
  return { stuck: result.stuck, requeued: result.requeued.length };
});
