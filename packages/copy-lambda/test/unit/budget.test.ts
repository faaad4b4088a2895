import { JobHandOver } from '@ecr-replicate/build-worker';
import { TimeBudget } from '../../src';

const MiB = 1024 * 1024;
const digest = (n: number): string => `sha256:${String(n).padStart(64, '0')}`;

/** A budget on a fake clock: `left` ms before the limit at t = 0, a 1 s reserve, 10 MiB/s assumed. */
function budget(left = 31_000) {
  let now = 0;
  const b = new TimeBudget({
    remainingMs: () => left - now,
    reserveMs: 1_000,
    assumedBytesPerSecond: 10 * MiB,
    now: () => now,
  });
  return { b, advance: (ms: number) => (now += ms) };
}

describe('time budget', () => {
  it('admits an image that moves in the time left at the assumed throughput, hands over one that does not', () => {
    const { b } = budget();
    expect(() => b.admitImage(290 * MiB, 'small')).not.toThrow(); // 29 s of 30
    expect(() => b.admitImage(310 * MiB, 'large')).toThrow(JobHandOver);
    // Handing one image over up front does not turn the budget low: others still fit.
    expect(b.low).toBeUndefined();
  });

  it('starts a blob only when it and those under way move in a third of the time left', () => {
    const { b } = budget();
    b.admitBlob(digest(1), 50 * MiB); // 5 s
    b.admitBlob(digest(2), 40 * MiB); // 9 s of 10
    expect(() => b.admitBlob(digest(3), 20 * MiB)).toThrow(JobHandOver); // 11 s > 10 s
    // Low from then on: nothing starts any more, however small, and no image is admitted.
    expect(b.low).toMatch(/time runs low/);
    expect(() => b.admitBlob(digest(4), 1)).toThrow(JobHandOver);
    expect(() => b.admitImage(1, 'tiny')).toThrow(JobHandOver);
  });

  it('counts what moved of the blobs under way, and frees a blob when it is done', () => {
    const { b, advance } = budget();
    b.admitBlob(digest(1), 90 * MiB); // 9 s of the 10 s a third of the time left allows
    advance(1_000);
    b.observe({ type: 'bytes', count: 10 * MiB });
    advance(1_000);
    b.observe({ type: 'bytes', count: 10 * MiB });
    // Measured 20 MiB in the 2 s since the transfer started → 10 MiB/s; 70 MiB still to send under way (7 s); 29 s
    // left → 9.67 s allowed.
    expect(b.bytesPerSecond()).toBeCloseTo(10 * MiB);
    expect(() => b.admitBlob(digest(2), 20 * MiB)).not.toThrow(); // (70 + 20) / 10 = 9 s
    b.observe({ type: 'blob', digest: digest(1), size: 90 * MiB, action: 'copied' });
    b.observe({ type: 'blob', digest: digest(2), size: 20 * MiB, action: 'skipped' });
    // Nothing under way any more: 90 MiB (9 s) start; with the 90 MiB of blob 1 still counted they would not.
    expect(() => b.admitBlob(digest(3), 90 * MiB)).not.toThrow();
  });

  it('measures a throughput lower than assumed and hands over before the blob that would overrun', () => {
    const { b, advance } = budget(13_000); // 12 s to spend
    b.admitBlob(digest(1), 20 * MiB); // 2 s at the assumed 10 MiB/s, of the 4 s allowed
    for (let i = 0; i < 4; i += 1) {
      advance(1_000);
      b.observe({ type: 'bytes', count: 5 * MiB }); // the link moves 5 MiB/s
    }
    b.observe({ type: 'blob', digest: digest(1), size: 20 * MiB, action: 'copied' });
    // 8 s left → 2.67 s allowed; 20 MiB at 5 MiB/s (measured) need 4 s: refused although the assumed rate says 2 s.
    expect(b.bytesPerSecond()).toBeCloseTo(5 * MiB);
    expect(() => b.admitBlob(digest(2), 20 * MiB)).toThrow(/time runs low/);
  });
});
