import type { TableChange } from './table-history';

/**
 * Reading the job table's history: who held each job's lease when, and
 * whether two workers ever worked on one job at the same time.
 */

/** One holder's lease on one job, from the write that took it to the write that ended it. */
export interface LeaseInterval {
  key: string;
  owner: string;
  from: number;
  fromSeq: number;
  /** Absent while still held. */
  to?: number;
  toSeq?: number;
  /** How it ended: released (the owner finished, or the build-state handler released it), or taken by another owner. */
  end: 'released' | 'taken-over' | 'held';
  /**
   * Taken from a previous owner whose lease had not expired and was held by a started build: never allowed. (A lease
   * no build holds, of a dispatch whose StartBuild failed or never answered, may be taken over: its owner never ran.)
   */
  tookLiveLease: boolean;
}

export function leaseIntervals(changes: readonly TableChange[]): LeaseInterval[] {
  const intervals: LeaseInterval[] = [];
  const open = new Map<string, LeaseInterval>();
  const previous = new Map<string, Record<string, unknown> | undefined>();
  for (const change of changes) {
    const owner = typeof change.image?.leaseOwner === 'string' ? change.image.leaseOwner : undefined;
    const current = open.get(change.key);
    let tookLiveLease = false;
    if (current !== undefined && current.owner !== owner) {
      current.to = change.at;
      current.toSeq = change.seq;
      current.end = owner === undefined ? 'released' : 'taken-over';
      open.delete(change.key);
      if (owner !== undefined) {
        const before = previous.get(change.key);
        const expiresAt = Number(before?.leaseExpiresAt ?? 0);
        const takenAt = Number(change.image?.startedAt ?? change.at);
        tookLiveLease = expiresAt > takenAt && before?.leaseBuildId !== undefined;
      }
    }
    if (owner !== undefined && !open.has(change.key)) {
      const interval: LeaseInterval = {
        key: change.key,
        owner,
        from: change.at,
        fromSeq: change.seq,
        end: 'held',
        tookLiveLease,
      };
      intervals.push(interval);
      open.set(change.key, interval);
    }
    previous.set(change.key, change.image);
  }
  return intervals;
}

/** A worker build (or a copy Lambda invocation) as far as the analysis needs it. */
export interface BuildLifetime {
  id: string;
  leaseOwner?: string;
  startedAt?: number;
  endedAt?: number;
}

/** When one build could have been working on one job: its lease on the job while its process ran. */
export interface WorkWindow {
  key: string;
  owner: string;
  buildId: string;
  from: number;
  to: number;
}

/**
 * The windows in which each build could touch each job: from when it held the
 * lease and its process ran, until the lease was released or the process
 * ended (when another owner took the lease, until the process ended: a worker
 * that lost its lease may still be working).
 */
export function workWindows(
  changes: readonly TableChange[],
  builds: readonly BuildLifetime[],
  now = Date.now(),
): WorkWindow[] {
  const windows: WorkWindow[] = [];
  for (const interval of leaseIntervals(changes)) {
    // Every executor of the owner: its build, or the copy Lambda's invocation and the build it handed over to.
    for (const build of builds.filter((b) => b.leaseOwner === interval.owner)) {
      // no process ran under this lease (StartBuild failed or not started yet)
      if (build.startedAt === undefined) continue;
      const processEnd = build.endedAt ?? now;
      const leaseEnd = interval.end === 'released' ? (interval.to as number) : processEnd;
      const from = Math.max(interval.from, build.startedAt);
      const to = Math.min(leaseEnd, processEnd);
      if (to > from) windows.push({ key: interval.key, owner: interval.owner, buildId: build.id, from, to });
    }
  }
  return windows;
}

/**
 * Everything wrong with the history: a lease taken while another owner's was
 * still valid, or two builds' work windows on one job overlapping. Empty when
 * at most one worker ever worked on a job at a time.
 */
export function concurrencyViolations(changes: readonly TableChange[], builds: readonly BuildLifetime[]): string[] {
  const problems: string[] = [];
  for (const interval of leaseIntervals(changes)) {
    if (interval.tookLiveLease)
      problems.push(
        `${interval.key}: ${interval.owner} took a lease that was still valid (change #${interval.fromSeq})`,
      );
  }
  const byKey = new Map<string, WorkWindow[]>();
  for (const window of workWindows(changes, builds)) byKey.set(window.key, [...(byKey.get(window.key) ?? []), window]);
  for (const [key, windows] of byKey) {
    windows.sort((a, b) => a.from - b.from);
    for (let i = 1; i < windows.length; i += 1) {
      const before = windows[i - 1] as WorkWindow;
      const after = windows[i] as WorkWindow;
      if (after.from < before.to) {
        problems.push(
          `${key}: builds ${before.buildId} and ${after.buildId} overlapped for ${before.to - after.from} ms`,
        );
      }
    }
  }
  return problems;
}

/** A destination write as the registry gate saw it (see RegistryGate.tagWrites). */
export interface GateWrite {
  method: string;
  tag: string;
  digest?: string;
  forwardedAt?: number;
}

/**
 * The destination tag writes of one job that reached the registry while no
 * worker held a fenced lease on the job: at the moment the write went on to
 * the registry, the job's record (the last change before it) must show a
 * lease whose holder fenced it (`fencedAt`, reset by every new lease) no
 * longer than `writeBoundMs` before. Empty when every write was made under
 * the lease it was fenced with.
 */
export function unfencedWrites(
  changes: readonly TableChange[],
  writes: readonly GateWrite[],
  writeBoundMs: number,
): GateWrite[] {
  return writes.filter((write) => {
    if (write.forwardedAt === undefined) return false;
    const before = changes.filter((c) => c.at <= (write.forwardedAt as number)).at(-1);
    const image = before?.image;
    const fencedAt = typeof image?.fencedAt === 'number' ? image.fencedAt : undefined;
    if (image?.leaseOwner === undefined || fencedAt === undefined) return true;
    return (write.forwardedAt as number) - fencedAt > writeBoundMs;
  });
}
