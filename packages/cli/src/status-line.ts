import type { Writable } from 'node:stream';

export const MiB = 1024 * 1024;

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
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
