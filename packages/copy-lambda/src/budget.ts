import type { CopyEvent } from '@ecr-replicate/oci';
import { JobHandOver } from '@ecr-replicate/build-worker';

const MiB = 1024 * 1024;
/** Bytes and time a measurement needs before it replaces the assumed throughput. */
const MEASURE_MIN_BYTES = 4 * MiB;
const MEASURE_MIN_MS = 250;
/**
 * The blobs under way may need at most this share of the time left: a margin for a throughput that drops (or was
 * assumed too high) while they move, since a blob under way is never stopped.
 */
export const IN_FLIGHT_SHARE = 1 / 3;

export interface TimeBudgetOptions {
  /** Time left before the invocation's limit (Lambda's context.getRemainingTimeInMillis). */
  remainingMs: () => number;
  /** Time kept back for what follows a copy: the tag write, the job's record, a hand-off. */
  reserveMs: number;
  /** Throughput assumed until measured (bytes per second). */
  assumedBytesPerSecond: number;
  now?: () => number;
}

/**
 * The copy Lambda's time budget, shared by the jobs of one invocation.
 *
 * - Up front (`admitImage`): an image whose size (from its manifests) cannot move at the assumed (or measured)
 *   throughput in the time left is handed over at once, so that the build's provisioning starts without delay.
 * - Before each blob (`admitBlob`): a blob starts only when it, and what the blobs under way still have to send, can
 *   move in a third of the time left before the reserve (IN_FLIGHT_SHARE: a margin, since a blob under way is never
 *   stopped) at the throughput measured so far (the assumed one until enough has moved). Otherwise the
 *   budget runs low: from then on every blob and job is refused (JobHandOver), the blobs under way finish, and the
 *   job goes on in a worker build, which finds them at the destination and skips them: no blob is sent twice.
 *
 * The throughput is the invocation's own: the bytes its copies moved since its first blob transfer started (time
 * spent on manifests and between jobs counts too, so it errs low, on the safe side).
 */
export class TimeBudget {
  private readonly now: () => number;
  private moved = 0;
  /** When the first blob transfer started: the throughput is measured from then. */
  private movingSince: number | undefined;
  /** Sizes of the blobs started and not finished yet, by digest (one transfer per digest per job). */
  private readonly underWay = new Map<string, number>();
  private lowReason: string | undefined;
  /** Bytes moved by the blobs that finished (the rest of `moved` belongs to blobs under way). */
  private movedByFinished = 0;

  constructor(private readonly options: TimeBudgetOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Why the budget ran low (then every new blob and job is refused), or undefined. */
  get low(): string | undefined {
    return this.lowReason;
  }

  /** Bytes per second: measured once enough moved, else assumed. */
  bytesPerSecond(): number {
    if (this.movingSince !== undefined && this.moved >= MEASURE_MIN_BYTES) {
      const seconds = (this.now() - this.movingSince) / 1000;
      if (seconds * 1000 >= MEASURE_MIN_MS) return Math.max(1, this.moved / seconds);
    }
    return this.options.assumedBytesPerSecond;
  }

  /** Milliseconds that can still be spent on transfers. */
  spendableMs(): number {
    return this.options.remainingMs() - this.options.reserveMs;
  }

  /** Throws JobHandOver when an image of `bytes` cannot move in the time left (or the budget ran low). */
  admitImage(bytes: number, what: string): void {
    this.assertNotLow();
    const needMs = ((bytes + this.outstanding()) / this.bytesPerSecond()) * 1000;
    if (needMs > this.spendableMs())
      throw new JobHandOver(
        `${what}: ${formatBytes(bytes)} need about ${formatSeconds(needMs)} at ${formatRate(this.bytesPerSecond())}, ${formatSeconds(Math.max(0, this.spendableMs()))} left`,
      );
  }

  /** Throws JobHandOver (and the budget turns low) when the blob cannot move before the reserve. */
  admitBlob(digest: string, size: number): void {
    this.assertNotLow();
    const needMs = ((this.outstanding() + size) / this.bytesPerSecond()) * 1000;
    if (needMs > this.spendableMs() * IN_FLIGHT_SHARE) {
      this.lowReason = `time runs low: blob ${digest.slice(0, 19)} (${formatBytes(size)}) and ${formatBytes(this.outstanding())} under way need about ${formatSeconds(needMs)} at ${formatRate(this.bytesPerSecond())}, ${formatSeconds(Math.max(0, this.spendableMs()))} left before the reserve`;
      throw new JobHandOver(this.lowReason);
    }
    this.underWay.set(digest, (this.underWay.get(digest) ?? 0) + size);
    this.movingSince ??= this.now();
  }

  /** Counts what the copies report: bytes moved, blobs done. */
  observe(event: CopyEvent): void {
    if (event.type === 'bytes') {
      this.moved += event.count;
    } else if (event.type === 'blob') {
      const started = this.underWay.get(event.digest);
      if (started === undefined) return; // found at the destination before its transfer: never started
      if (started > event.size) this.underWay.set(event.digest, started - event.size);
      else this.underWay.delete(event.digest);
      if (event.action === 'copied') this.movedByFinished += event.size;
    }
  }

  /** Bytes the blobs under way still have to send: their sizes less what moved of them. */
  private outstanding(): number {
    let total = 0;
    for (const size of this.underWay.values()) total += size;
    return Math.max(0, total - Math.max(0, this.moved - this.movedByFinished));
  }

  private assertNotLow(): void {
    if (this.lowReason !== undefined) throw new JobHandOver(this.lowReason);
  }
}

function formatBytes(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MiB` : `${bytes} B`;
}
function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / MiB).toFixed(1)} MiB/s`;
}
