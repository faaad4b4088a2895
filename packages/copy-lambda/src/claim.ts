import type { Logger } from '@aws-lambda-powertools/logger';
import type { CopyInvocation } from '@ecr-replicate/common';
import type { JobStore } from '@ecr-replicate/common/state';

/** How a copy Lambda invocation names itself on the leases it holds: `lambda-run:<request id>`. */
export const INVOCATION_ID_PREFIX = 'lambda-run:';

/** What one invocation does with the jobs it was given. */
export interface Claim {
  /** Reconciled here. */
  run: string[];
  /** Handed to a worker build at once, with the lease epoch to hand over from. */
  handOver: Record<string, number>;
  /** Left alone: a worker build holds them (an earlier run of this payload handed them over). */
  skipped: string[];
}

/**
 * Lambda may run an asynchronous invocation more than once, and retries a failed one (a crash, its time limit) with
 * the same payload, so the same lease owner. Before it takes its leases an invocation reads each job's record:
 *
 * - a worker build holds the lease (its id is no Lambda's): an earlier run handed the job over; it is left alone,
 *   never taken back from the build;
 * - an earlier run of this payload (another `lambda-run:` id) held it and did not finish it: that run failed, so the
 *   job goes to a worker build at once, whose failures count attempts (build-state) — a job that kills the Lambda
 *   is not tried in it again and again;
 * - otherwise it runs here.
 *
 * Every lease kept is moved to its next epoch first, so that an earlier or concurrent run of the same payload can
 * neither renew nor fence any more. A job not leased to the owner runs (the runner finds the lease lost and records
 * nothing); a failed read or write is logged and the job runs as it is.
 */
export async function claimJobs(
  invocation: CopyInvocation,
  invocationId: string,
  deps: { store: JobStore; leaseMs: number; logger: Logger; now?: () => number },
): Promise<Claim> {
  const now = deps.now ?? Date.now;
  const claim: Claim = { run: [], handOver: {}, skipped: [] };
  const decided = await Promise.all(
    invocation.jobKeys.map(async (jobKey): Promise<['run' | 'skip' | number, string]> => {
      try {
        const record = await deps.store.get(jobKey);
        if (record?.leaseOwner !== invocation.leaseOwner || record.leaseEpoch === undefined) return ['run', jobKey];
        const holder = record.leaseBuildId;
        if (holder !== undefined && !holder.startsWith('lambda')) return ['skip', jobKey];
        const epoch = record.leaseEpoch;
        if (!(await deps.store.handOffLease(jobKey, invocation.leaseOwner, epoch, deps.leaseMs, now())))
          return ['run', jobKey];
        const failedBefore = holder !== undefined && holder.startsWith(INVOCATION_ID_PREFIX) && holder !== invocationId;
        return [failedBefore ? epoch + 1 : 'run', jobKey];
      } catch (error) {
        deps.logger.warn('could not read or move a lease before taking it; taking it as it is', {
          jobKey,
          reason: error instanceof Error ? error.message : String(error),
        });
        return ['run', jobKey];
      }
    }),
  );
  for (const [decision, jobKey] of decided) {
    if (decision === 'run') claim.run.push(jobKey);
    else if (decision === 'skip') claim.skipped.push(jobKey);
    else claim.handOver[jobKey] = decision;
  }
  if (claim.skipped.length > 0)
    deps.logger.info('jobs a worker build holds already (handed over by an earlier run); left alone', {
      jobKeys: claim.skipped,
    });
  if (Object.keys(claim.handOver).length > 0)
    deps.logger.warn('an earlier run of this invocation did not finish these jobs; handing them to a worker build', {
      jobKeys: Object.keys(claim.handOver),
    });
  return claim;
}
