import type { Writable } from 'node:stream';
import type { CopyEvent } from '@ecr-replicate/oci';
import type { CopyResult } from '@ecr-replicate/oci';
import { StatusLine, bar, mib } from './status-line';

/** Receives a command's events and its end. */
export interface Reporter {
  event(event: CopyEvent): void;
  result(summary: Record<string, unknown>): void;
  error(code: string, message: string): void;
  close(): void;
}

/** One JSON object per line: every event, then a `result` or an `error`. */
export class JsonReporter implements Reporter {
  constructor(private readonly out: Writable) {}
  private write(record: Record<string, unknown>): void {
    this.out.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
  }
  event(event: CopyEvent): void {
    if (event.type === 'bytes') return; // byte counts are summed in blob events and the result
    const { type, ...rest } = event;
    this.write({ event: type, ...rest });
  }
  result(summary: Record<string, unknown>): void {
    this.write({ event: 'result', ...summary });
  }
  error(code: string, message: string): void {
    this.write({ event: 'error', code, message });
  }
  close(): void {}
}

/**
 * A progress bar on a terminal (stderr): bytes, blobs and platforms, redrawn
 * at most ten times a second; warnings and retries print above it; the
 * summary goes to stdout.
 */
export class TerminalReporter implements Reporter {
  private totalBytes = 0;
  private doneBytes = 0;
  private totalBlobs = 0;
  private doneBlobs = 0;
  private platforms = 0;
  private manifests = 0;
  private readonly started = Date.now();
  private readonly status: StatusLine;

  constructor(
    private readonly out: Writable,
    err: Writable & { columns?: number },
  ) {
    this.status = new StatusLine(err);
  }

  event(event: CopyEvent): void {
    switch (event.type) {
      case 'plan':
        this.totalBytes += event.bytes;
        this.totalBlobs += event.blobs;
        this.platforms = Math.max(this.platforms, event.platforms.length);
        break;
      case 'bytes':
        this.doneBytes += event.count;
        break;
      case 'blob':
        this.doneBlobs += 1;
        if (event.action !== 'copied') this.doneBytes += event.size;
        break;
      case 'manifest':
        if (event.action === 'copied') this.manifests += 1;
        break;
      case 'retry':
        this.status.message(`retry ${event.attempt} in ${(event.delayMs / 1000).toFixed(1)} s: ${event.message}`);
        break;
      case 'warning':
        this.status.message(`warning: ${event.message}`);
        break;
      case 'referrer':
        break;
    }
    this.status.draw(() => this.text());
  }

  private text(): string {
    const ratio = this.totalBytes === 0 ? 0 : this.doneBytes / this.totalBytes;
    const seconds = Math.max(0.001, (Date.now() - this.started) / 1000);
    return (
      `${bar(ratio, 24)} ${(Math.min(1, ratio) * 100).toFixed(0).padStart(3)}%  ` +
      `${mib(this.doneBytes)}/${mib(this.totalBytes)}  blobs ${this.doneBlobs}/${this.totalBlobs}  ` +
      `${this.platforms > 0 ? `platforms ${this.platforms}  ` : ''}manifests ${this.manifests}  ${mib(this.doneBytes / seconds)}/s`
    );
  }

  result(summary: Record<string, unknown>): void {
    this.status.clear();
    const lines = Object.entries(summary).map(([key, value]) => `${key.padEnd(12)} ${humanize(key, value)}`);
    this.out.write(`${lines.join('\n')}\n`);
  }

  error(code: string, message: string): void {
    this.status.message(`error (${code}): ${message}`);
  }

  close(): void {
    this.status.clear();
  }
}

/** A summary value for people: counts as "3 copied, 1 skipped", byte counts in MiB. */
function humanize(key: string, value: unknown): string {
  if (typeof value !== 'object' || value === null) return String(value);
  return Object.entries(value as Record<string, unknown>)
    .map(([name, n]) => `${key === 'bytes' && typeof n === 'number' ? mib(n) : String(n)} ${name}`)
    .join(', ');
}

/** The summary printed at the end of a copy. */
export function copySummary(source: string, destination: string, result: CopyResult): Record<string, unknown> {
  return {
    source,
    destination,
    digest: result.digest,
    ...(result.digest !== result.sourceDigest ? { sourceDigest: result.sourceDigest } : {}),
    mediaType: result.mediaType,
    platforms: result.platforms.length > 0 ? result.platforms.join(', ') : 'single image',
    upToDate: result.upToDate,
    manifests: result.manifests,
    blobs: result.blobs,
    bytes: result.bytes,
    referrers: result.referrers,
    seconds: Number(result.seconds.toFixed(3)),
  };
}
