import type { Logger } from '@aws-lambda-powertools/logger';
import { ErrorCode, ReplicationError, toReplicationError } from '@ecr-replicate/common';
import type { JobStore } from '@ecr-replicate/common/state';

/**
 * A worker's hold on one job's lease, and its fence.
 *
 * - Taking it is a renewal conditioned on the owner; it records the build
 *   that holds the lease (so that the lease covers requests) and learns the
 *   lease's epoch.
 * - A heart-beat renews it every third of the lease, conditioned on owner and
 *   epoch. The worker keeps its own view of when the lease ends (the start
 *   of the last successful renewal plus the lease length): when renewals
 *   fail until then, or one says the lease is gone, the hold is lost.
 * - `fence()` is called immediately before each destination tag move or
 *   delete: it refuses at once when the hold is lost, else proves owner and
 *   epoch with a conditional write that also renews the lease, and returns a
 *   signal that bounds the write to a quarter of the lease, well inside what
 *   is left of it. A stale worker never writes.
 */
export class JobLease {
  private heldUntil: number;
  private lostReason: string | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  private constructor(
    private readonly store: JobStore,
    readonly jobKey: string,
    readonly owner: string,
    readonly epoch: number,
    private readonly leaseMs: number,
    private readonly now: () => number,
    private readonly logger: Logger,
    takenAt: number,
  ) {
    this.heldUntil = takenAt + leaseMs;
  }

  /** Takes the hold (throws LEASE_LOST when `owner` does not hold the lease) and starts the heart-beat. */
  static async take(options: {
    store: JobStore;
    jobKey: string;
    owner: string;
    leaseMs: number;
    buildId?: string;
    now: () => number;
    logger: Logger;
  }): Promise<JobLease> {
    const takenAt = options.now();
    const record = await options.store.renewLease(
      options.jobKey,
      options.owner,
      options.leaseMs,
      takenAt,
      options.buildId === undefined ? {} : { buildId: options.buildId },
    );
    const lease = new JobLease(
      options.store,
      options.jobKey,
      options.owner,
      record.leaseEpoch ?? -1,
      options.leaseMs,
      options.now,
      options.logger,
      takenAt,
    );
    lease.startHeartbeat();
    return lease;
  }

  /** How long a fenced write may take: a quarter of the lease. */
  get writeBoundMs(): number {
    return Math.max(250, Math.floor(this.leaseMs / 4));
  }

  /** Why the hold is lost, or undefined while it holds. */
  get lost(): string | undefined {
    if (this.lostReason === undefined && this.now() >= this.heldUntil)
      this.lostReason = 'the lease could not be renewed before it ran out';
    return this.lostReason;
  }

  /** Proves the lease right before a destination write; the returned signal bounds that write. */
  async fence(): Promise<AbortSignal> {
    this.assertHeld();
    const at = this.now();
    try {
      await this.store.fenceLease(this.jobKey, this.owner, this.epoch, this.leaseMs, at);
    } catch (error) {
      const failure = toReplicationError(error);
      if (failure.code === ErrorCode.LeaseLost) this.lostReason = 'another run holds the lease';
      throw failure;
    }
    this.heldUntil = Math.max(this.heldUntil, at + this.leaseMs);
    return AbortSignal.timeout(this.writeBoundMs);
  }

  /** Throws LEASE_LOST when the hold is lost. */
  assertHeld(): void {
    const reason = this.lost;
    if (reason !== undefined) {
      throw new ReplicationError(ErrorCode.LeaseLost, `the lease on ${this.jobKey} is not held any more: ${reason}`, {
        details: { jobKey: this.jobKey, owner: this.owner, epoch: this.epoch },
      });
    }
  }

  stop(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private startHeartbeat(): void {
    this.heartbeat = setInterval(() => void this.renew(), Math.max(200, Math.floor(this.leaseMs / 3)));
    this.heartbeat.unref();
  }

  private async renew(): Promise<void> {
    if (this.lost !== undefined) {
      this.stop();
      return;
    }
    const at = this.now();
    try {
      await this.store.renewLease(this.jobKey, this.owner, this.leaseMs, at, { epoch: this.epoch });
      this.heldUntil = Math.max(this.heldUntil, at + this.leaseMs);
    } catch (error) {
      const failure = toReplicationError(error);
      if (failure.code === ErrorCode.LeaseLost) this.lostReason = 'another run holds the lease';
      this.logger.warn('could not renew the lease', {
        jobKey: this.jobKey,
        error: failure.toJSON(),
        msLeft: Math.max(0, this.heldUntil - this.now()),
      });
    }
  }
}
