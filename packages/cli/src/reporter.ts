import type { Writable } from 'node:stream';
import type { CopyEvent } from '@ecr-replicate/oci';
import type { CopyResult } from '@ecr-replicate/oci';
import { safeText } from '@ecr-replicate/common/core';
import { StatusLine, bar, humanBytes, rateAndEta } from './status-line';

/** Receives a command's events and its end. */
export interface Reporter {
  event(event: CopyEvent): void;
  result(summary: CopySummary): void;
  error(code: string, message: string): void;
  close(): void;
}

/** The end of a copy, as the `result` event carries it (see the README's "JSON output"). */
export interface CopySummary {
  source: string;
  destination: string;
  digest: string;
  sourceDigest?: string;
  mediaType: string;
  /** `os/arch[/variant]` of every platform copied; empty for a single image. */
  platforms: string[];
  upToDate: boolean;
  manifests: CopyResult['manifests'];
  blobs: CopyResult['blobs'];
  bytes: CopyResult['bytes'];
  referrers: CopyResult['referrers'];
  seconds: number;
}

/** The line every error also gets on stderr, whatever the output mode. */
export function errorLine(code: string, message: string): string {
  return `ecr-replicate: error (${code}): ${safeText(message)}\n`;
}

/**
 * One JSON object per line on stdout: every event, then a `result` or an `error`. An error is also written to
 * stderr in words, so that scripts that only keep stderr still see it.
 */
export class JsonReporter implements Reporter {
  constructor(
    private readonly out: Writable,
    private readonly err: Writable,
  ) {}
  private write(record: Record<string, unknown>): void {
    this.out.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
  }
  event(event: CopyEvent): void {
    if (event.type === 'bytes') return; // byte counts are summed in blob events and the result
    const { type, ...rest } = event;
    this.write({ event: type, ...rest });
  }
  result(summary: CopySummary): void {
    this.write({ event: 'result', ...summary });
  }
  error(code: string, message: string): void {
    // The last line of defence: an error's text may quote a registry or a credential helper.
    this.write({ event: 'error', code, message: safeText(message) });
    this.err.write(errorLine(code, message));
  }
  close(): void {}
}

/**
 * A progress line on a terminal (stderr): the image, a bar, bytes done of the total, blobs, the rate and the time
 * left, redrawn at most ten times a second; warnings and retries print above it; the summary goes to stdout.
 */
export class TerminalReporter implements Reporter {
  private totalBytes = 0;
  private doneBytes = 0;
  private totalBlobs = 0;
  private doneBlobs = 0;
  private platforms = 0;
  private readonly started = Date.now();
  private readonly status: StatusLine;

  constructor(
    private readonly out: Writable,
    err: Writable & { columns?: number },
    /** What is copied, as the line names it (the source reference). */
    private readonly image = '',
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
      case 'retry':
        this.status.message(`retry ${event.attempt} in ${(event.delayMs / 1000).toFixed(1)} s: ${event.message}`);
        break;
      case 'warning':
        this.status.message(`warning: ${event.message}`);
        break;
      default:
        break;
    }
    this.status.draw(() => this.text());
  }

  private text(): string {
    const ratio = this.totalBytes === 0 ? 0 : this.doneBytes / this.totalBytes;
    const platforms = this.platforms > 0 ? `${this.platforms} platform${this.platforms === 1 ? '' : 's'}  ` : '';
    return (
      `${this.image ? `${this.image}  ` : ''}${bar(ratio, 24)} ${(Math.min(1, ratio) * 100).toFixed(0).padStart(3)}%  ` +
      `${humanBytes(this.doneBytes)} of ${humanBytes(this.totalBytes)}  blobs ${this.doneBlobs}/${this.totalBlobs}  ` +
      `${platforms}${rateAndEta(this.doneBytes, this.totalBytes, this.started)}`
    );
  }

  result(summary: CopySummary): void {
    this.status.clear();
    this.out.write(humanCopySummary(summary));
  }

  error(code: string, message: string): void {
    this.status.message(errorLine(code, message).trimEnd());
  }

  close(): void {
    this.status.clear();
  }
}

/** "3 copied, 1 already there", leaving out zeros. */
function counts(parts: Array<[number, string]>, format: (n: number) => string = String): string {
  const shown = parts.filter(([n]) => n > 0).map(([n, word]) => `${format(n)} ${word}`);
  return shown.length > 0 ? shown.join(', ') : 'none';
}

/** A copy's summary in words, for a terminal. */
export function humanCopySummary(s: CopySummary): string {
  const lines: Array<[string, string]> = [
    [s.upToDate ? 'up to date' : 'copied', `${s.source} -> ${s.destination}`],
    ['digest', s.digest],
    ...(s.sourceDigest !== undefined ? ([['source digest', s.sourceDigest]] as Array<[string, string]>) : []),
    ['platforms', s.platforms.length > 0 ? s.platforms.join(', ') : 'single image'],
    [
      'manifests',
      counts([
        [s.manifests.copied, 'copied'],
        [s.manifests.skipped, 'already there'],
      ]),
    ],
    [
      'blobs',
      counts([
        [s.blobs.copied, 'copied'],
        [s.blobs.mounted, 'mounted'],
        [s.blobs.skipped, 'already there'],
      ]),
    ],
    [
      'bytes',
      counts(
        [
          [s.bytes.copied, 'copied'],
          [s.bytes.skipped, 'already there'],
        ],
        humanBytes,
      ),
    ],
    ['referrers', s.referrers === 0 ? 'none' : `${s.referrers} copied or checked`],
    ['time', `${s.seconds.toFixed(1)} s`],
  ];
  return lines.map(([key, value]) => `${key.padEnd(13)} ${value}`).join('\n') + '\n';
}

/** The summary printed at the end of a copy. */
export function copySummary(source: string, destination: string, result: CopyResult): CopySummary {
  return {
    source,
    destination,
    digest: result.digest,
    ...(result.digest !== result.sourceDigest ? { sourceDigest: result.sourceDigest } : {}),
    mediaType: result.mediaType,
    platforms: [...result.platforms],
    upToDate: result.upToDate,
    manifests: result.manifests,
    blobs: result.blobs,
    bytes: result.bytes,
    referrers: result.referrers,
    seconds: Number(result.seconds.toFixed(3)),
  };
}
