import type { Writable } from 'node:stream';

export const MiB = 1024 * 1024;

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** A size for people: `512 B`, `3.2 KiB`, `41.0 MiB`, `1.27 GiB`. */
export function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  if (bytes < MiB) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 * MiB) return `${(bytes / MiB).toFixed(1)} MiB`;
  return `${(bytes / (1024 * MiB)).toFixed(2)} GiB`;
}

/** A duration for people: `42 s`, `3 min 5 s`, `1 h 4 min`. */
export function humanSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * Rate and time left from bytes done of a total since `started` (ms): `12.3 MiB/s, ETA 41 s`. The ETA appears once
 * a second has passed and some bytes moved.
 */
export function rateAndEta(done: number, total: number, started: number, now = Date.now()): string {
  const seconds = Math.max(0.001, (now - started) / 1000);
  const rate = done / seconds;
  const eta = seconds >= 1 && rate > 0 && total > done ? `, ETA ${humanSeconds((total - done) / rate)}` : '';
  return `${humanBytes(rate)}/s${eta}`;
}

/** `[#####-----]` for a ratio from 0 to 1. */
export function bar(ratio: number, width: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, ratio)) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/**
 * One line of progress on a terminal (stderr), redrawn in place at most ten
 * times a second. Messages print above it; `clear` removes it before the
 * final output.
 */
export class StatusLine {
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly err: Writable & { columns?: number }) {}

  /** Redraws with `text()` unless the last draw was under 100 ms ago (`force` skips that check). */
  draw(text: () => string, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.err.write(`\r\x1b[2K${text().slice(0, (this.err.columns ?? 120) - 1)}`);
    this.drawn = true;
  }

  /** Prints a message line above the status line. */
  message(text: string): void {
    this.clear();
    this.err.write(`${text}\n`);
  }

  clear(): void {
    if (this.drawn) this.err.write('\r\x1b[2K');
    this.drawn = false;
  }
}
