/** Reading lease intervals and work windows from a job-table history. */
import { concurrencyViolations, leaseIntervals, type TableChange } from '../../src';

let seq = 0;
function change(at: number, image: Record<string, unknown> | undefined, key = 'repo:tag'): TableChange {
  seq += 1;
  return { seq, at, operation: 'UpdateItem', table: 'jobs', key, ...(image === undefined ? {} : { image }) };
}

const leased = (owner: string, at: number, expiresAt = at + 1000, leaseBuildId: string | null = `build-${owner}`) => ({
  leaseOwner: owner,
  leaseExpiresAt: expiresAt,
  startedAt: at,
  status: 'IN_PROGRESS',
  ...(leaseBuildId === null ? {} : { leaseBuildId }),
});
const released = { status: 'COMPLETE' };

describe('leaseIntervals', () => {
  it('follows each holder from the write that took the lease to the one that ended it', () => {
    const history = [
      change(0, { status: 'PENDING' }),
      change(10, leased('a', 10)),
      change(20, leased('a', 20)),
      change(30, released),
      change(40, leased('b', 40)),
    ];
    expect(leaseIntervals(history)).toEqual([
      expect.objectContaining({ owner: 'a', from: 10, to: 30, end: 'released', tookLiveLease: false }),
      expect.objectContaining({ owner: 'b', from: 40, end: 'held', tookLiveLease: false }),
    ]);
  });

  it('tells a takeover of an expired lease from one of a live lease', () => {
    const expired = [change(0, leased('a', 0, 100)), change(200, leased('b', 200))];
    expect(leaseIntervals(expired)[1]).toMatchObject({ owner: 'b', tookLiveLease: false });
    expect(leaseIntervals(expired)[0]).toMatchObject({ owner: 'a', end: 'taken-over' });
    const live = [change(0, leased('a', 0, 1000)), change(200, leased('b', 200))];
    expect(leaseIntervals(live)[1]).toMatchObject({ owner: 'b', tookLiveLease: true });
    // A live lease no build holds (its StartBuild failed) may be taken over.
    const buildless = [change(0, leased('a', 0, 1000, null)), change(200, leased('b', 200))];
    expect(leaseIntervals(buildless)[1]).toMatchObject({ owner: 'b', tookLiveLease: false });
  });
});

describe('concurrencyViolations', () => {
  it('is empty when each build worked on the job in turn', () => {
    const history = [
      change(10, leased('a', 10)),
      change(50, released),
      change(60, leased('b', 60)),
      change(90, released),
    ];
    const builds = [
      { id: 'build-a', leaseOwner: 'a', startedAt: 12, endedAt: 55 },
      { id: 'build-b', leaseOwner: 'b', startedAt: 61, endedAt: 95 },
    ];
    expect(concurrencyViolations(history, builds)).toEqual([]);
  });

  it('finds a worker still running after its expired lease was taken over', () => {
    const history = [change(10, leased('a', 10, 40)), change(60, leased('b', 60)), change(90, released)];
    const builds = [
      { id: 'build-a', leaseOwner: 'a', startedAt: 12, endedAt: 80 },
      { id: 'build-b', leaseOwner: 'b', startedAt: 61, endedAt: 95 },
    ];
    expect(concurrencyViolations(history, builds)).toEqual([
      'repo:tag: builds build-a and build-b overlapped for 19 ms',
    ]);
  });

  it('finds a lease taken while the holder’s was still valid', () => {
    const history = [change(10, leased('a', 10, 1000)), change(60, leased('b', 60))];
    expect(concurrencyViolations(history, [])).toEqual([
      expect.stringContaining('b took a lease that was still valid'),
    ]);
  });
});
