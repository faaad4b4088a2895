import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { toReplicationError } from '@ecr-replicate/common';
import { startWorkerBuild } from '@ecr-replicate/common/codebuild';
import type { JobStore } from '@ecr-replicate/common/state';

export interface HandOverDependencies {
  store: JobStore;
  codebuild: CodeBuildClient;
  workerProjectName: string;
  /** The owner the jobs are leased to; the build keeps it. */
  leaseOwner: string;
  leaseMs: number;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
}

export interface HandOverResult {
  /** The worker build now holding the jobs (absent when none was handed over). */
  buildId?: string;
  handedOver: string[];
  /** Jobs whose lease was not this invocation's any more: nothing to hand over. */
  lost: string[];
}

/**
 * Hands jobs this invocation holds to one worker build, lease kept: each lease moves to its next epoch (the Lambda's
 * hold can no longer renew or fence, so it never writes again; its copies have stopped), then one StartBuild with the
 * jobs and the same lease owner, then the build is recorded with each lease (from then on it covers requests). The
 * build's worker takes the leases by owner and learns the new epoch; it finds at the destination every blob the
 * Lambda sent and skips it.
 *
 * Throws AWS_SERVICE when StartBuild fails: the leases stay with the owner, without a build (a new request for a job
 * takes it over), and Lambda's retry of the invocation takes them again by owner and goes on.
 */
export async function handOverToBuild(
  jobKeys: readonly string[],
  epochs: Readonly<Record<string, number>>,
  deps: HandOverDependencies,
): Promise<HandOverResult> {
  const now = deps.now ?? Date.now;
  const { store, leaseOwner, logger, metrics } = deps;
  const handedOver: string[] = [];
  const lost: string[] = [];
  await Promise.all(
    jobKeys.map(async (jobKey) => {
      const epoch = epochs[jobKey];
      const handed = epoch !== undefined && (await store.handOffLease(jobKey, leaseOwner, epoch, deps.leaseMs, now()));
      (handed ? handedOver : lost).push(jobKey);
    }),
  );
  if (lost.length > 0) logger.warn('jobs no longer held by this invocation; not handed over', { jobKeys: lost });
  if (handedOver.length === 0) return { handedOver, lost };
  handedOver.sort();

  const token = `handoff-${createHash('sha256')
    .update(`${leaseOwner}\n${handedOver.map((key) => `${key}\n${(epochs[key] ?? 0) + 1}`).join('\n')}`)
    .digest('hex')
    .slice(0, 40)}`;
  const buildId = await startWorkerBuild(deps.codebuild, {
    projectName: deps.workerProjectName,
    jobKeys: handedOver,
    leaseOwner,
    idempotencyToken: token,
  });
  metrics.addMetric('JobsHandedOver', MetricUnit.Count, handedOver.length);
  metrics.addMetric('BuildsStarted', MetricUnit.Count, 1);
  logger.info('handed jobs over to a worker build, lease kept', { buildId, leaseOwner, jobKeys: handedOver });
  await Promise.all(
    handedOver.map(async (jobKey) => {
      try {
        await store.setLeaseBuild(jobKey, leaseOwner, buildId, now());
      } catch (error) {
        logger.warn('could not record the build of a lease; the worker will', {
          jobKey,
          buildId,
          reason: toReplicationError(error).message,
        });
      }
    }),
  );
  return { buildId, handedOver, lost };
}
