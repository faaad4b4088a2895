import type { Writable } from 'node:stream';
import type { CopyEvent } from '@ecr-replicate/oci';
import type { EntryResult } from '@ecr-replicate/repair';
import {
  shortDigest,
  type ActionCounts,
  type ScanProgress,
  type SyncFailure,
  type SyncPlan,
} from '@ecr-replicate/repair';
import { formatTable } from './io';
import { safeText } from '@ecr-replicate/common/core';
import { errorLine } from './reporter';
import { StatusLine, bar, humanBytes, humanSeconds } from './status-line';

/** The end of a sync, as printed last; the action counts are the plan's entries by action. */
export interface SyncSummary extends ActionCounts {
  mode: 'dry-run' | 'direct';
  source: string;
  destination: string;
  /** Selected source repositories and tags. */
  repositories: number;
  tags: number;
  /** Entries done right here (direct). */
  done?: number;
  bytesCopied?: number;
  /** Entries or repositories that could not be compared or done. */
  failed: number;
  /** True when nothing differs any more (direct), or nothing differed (dry run). */
  equal: boolean;
  seconds: number;
}

/** The end of `sync --enqueue`: a fan-out scan handed to the deployed scan Lambdas. */
export interface FanOutSummary {
  mode: 'enqueue';
  source: string;
  /** The scan queue the units went to. */
  queue: string;
  /** The scan's id: the scan Lambdas' logs carry it. */
  scanId: string;
  /** Selected source repositories: one scan unit each. */
  repositories: number;
  /** Units on the scan queue. */
  queued: number;
  /** Repositories left out (a mapping the configuration refuses) and units SQS refused. */
  failed: number;
  seconds: number;
}

/** Receives a sync's progress, plan, results and end. */
export interface SyncReporter {
  /** `--enqueue`: one scan unit sent (or refused: `failure`). */
  unit(unit: { sourceRepository: string; messageId?: string; failure?: SyncFailure }): void;
  fanOutSummary(summary: FanOutSummary): void;
  scan(progress: ScanProgress): void;
  plan(plan: SyncPlan): void;
  copyEvent(event: CopyEvent): void;
  result(result: EntryResult): void;
  summary(summary: SyncSummary): void;
  error(code: string, message: string): void;
  close(): void;
}

/** `repository:tag`, or the repository alone. */
export function whereOf(failure: Pick<SyncFailure, 'sourceRepository' | 'destinationRepository' | 'tag'>): string {
  const repository = failure.destinationRepository ?? failure.sourceRepository ?? '(registry)';
  return failure.tag === undefined || failure.tag === '' ? repository : `${repository}:${failure.tag}`;
}

/** One JSON object per line: every plan entry, every failure, every result, then the summary. */
export class JsonSyncReporter implements SyncReporter {
  constructor(
    private readonly out: Writable,
    private readonly err: Writable,
  ) {}
  private write(record: Record<string, unknown>): void {
    this.out.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
  }
  scan(): void {}
  unit(unit: { sourceRepository: string; messageId?: string; failure?: SyncFailure }): void {
    if (unit.failure !== undefined) this.write({ event: 'failed', ...unit.failure });
    else this.write({ event: 'queued', sourceRepository: unit.sourceRepository, messageId: unit.messageId });
  }
  fanOutSummary(summary: FanOutSummary): void {
    this.write({ event: 'summary', ...summary });
  }
  plan(plan: SyncPlan): void {
    for (const entry of plan.entries) this.write({ event: 'plan', ...entry });
    for (const failure of plan.failures) this.write({ event: 'failure', ...failure });
  }
  copyEvent(event: CopyEvent): void {
    if (event.type === 'retry' || event.type === 'warning') {
      const { type, ...rest } = event;
      this.write({ event: type, ...rest });
    }
  }
  result(result: EntryResult): void {
    const { entry, outcome, ...rest } = result;
    this.write({ event: outcome, ...entry, ...rest });
  }
  summary(summary: SyncSummary): void {
    this.write({ event: 'summary', ...summary });
  }
  error(code: string, message: string): void {
    this.write({ event: 'error', code, message: safeText(message) });
    this.err.write(errorLine(code, message));
  }
  close(): void {}
}

/**
 * On a terminal: a progress line on stderr (repositories scanned, tags
 * compared, copies done, bytes), the plan as a table and the summary on
 * stdout, each failure on stderr as it happens.
 */
export class TerminalSyncReporter implements SyncReporter {
  private scanned: ScanProgress = { repositoriesTotal: 0, repositoriesScanned: 0, tagsCompared: 0 };
  private work = 0;
  private finished = 0;
  private bytes = 0;
  /** Bytes of the images whose copy has started (each copy's plan), and when the copies began. */
  private plannedBytes = 0;
  private copiesStarted = 0;
  private readonly status: StatusLine;

  constructor(
    private readonly out: Writable,
    private readonly err: Writable & { columns?: number },
    private readonly dryRun: boolean,
  ) {
    this.status = new StatusLine(err);
  }

  scan(progress: ScanProgress): void {
    this.scanned = progress;
    this.status.draw(() => this.text());
  }

  plan(plan: SyncPlan): void {
    this.status.clear();
    const changes = plan.entries.filter((e) => e.action !== 'ok');
    this.work = changes.length;
    if (changes.length > 0) {
      const rows = changes.map((e) => [
        e.action,
        e.sourceRepository === e.destinationRepository
          ? e.destinationRepository
          : `${e.sourceRepository} -> ${e.destinationRepository}`,
        e.tag,
        shortDigest(e.sourceDigest),
        shortDigest(e.destinationDigest),
        e.reason ?? '',
      ]);
      this.out.write(formatTable([['ACTION', 'REPOSITORY', 'TAG', 'SOURCE', 'DESTINATION', 'REASON'], ...rows]));
    }
    for (const failure of plan.failures)
      this.status.message(`failed to compare ${whereOf(failure)}: ${failure.message}`);
    this.copiesStarted = Date.now();
    if (!this.dryRun) this.status.draw(() => this.text(), true);
  }

  copyEvent(event: CopyEvent): void {
    if (event.type === 'bytes') this.bytes += event.count;
    else if (event.type === 'plan') this.plannedBytes += event.bytes;
    else if (event.type === 'blob' && event.action !== 'copied') this.plannedBytes -= event.size;
    else if (event.type === 'retry')
      this.status.message(`retry ${event.attempt} in ${(event.delayMs / 1000).toFixed(1)} s: ${event.message}`);
    else if (event.type === 'warning') this.status.message(`warning: ${event.message}`);
    this.status.draw(() => this.text());
  }

  unit(unit: { sourceRepository: string; messageId?: string; failure?: SyncFailure }): void {
    if (unit.failure !== undefined)
      this.status.message(`failed to queue the scan of ${whereOf(unit.failure)}: ${unit.failure.message}`);
  }

  fanOutSummary(s: FanOutSummary): void {
    this.status.clear();
    const repositories = `${s.repositories} ${s.repositories === 1 ? 'repository' : 'repositories'}`;
    this.out.write(
      `queued the scan of ${s.queued} of ${repositories} (scan ${s.scanId}) on ${s.queue} in ${s.seconds.toFixed(1)} s: ` +
        'the deployed scan Lambdas compare them and queue a request per tag that differs (README, "Backfill")\n',
    );
    if (s.failed > 0) this.err.write(`${s.failed} failed (named above)\n`);
  }

  result(result: EntryResult): void {
    this.finished += 1;
    if (result.outcome === 'failed') {
      this.status.message(
        `failed to ${result.entry.action} ${result.entry.destinationRepository}:${result.entry.tag}: ${result.error?.message ?? 'unknown error'}`,
      );
    }
    this.status.draw(() => this.text());
  }

  private text(): string {
    const { repositoriesScanned, repositoriesTotal, tagsCompared } = this.scanned;
    const scanning = repositoriesScanned < repositoriesTotal || this.work === 0;
    if (scanning) {
      const ratio = repositoriesTotal === 0 ? 0 : repositoriesScanned / repositoriesTotal;
      return `${bar(ratio, 20)} comparing: repositories ${repositoriesScanned}/${repositoriesTotal}  tags ${tagsCompared}`;
    }
    const seconds = Math.max(0.001, (Date.now() - this.copiesStarted) / 1000);
    // Time left from the images still to do at the pace so far (image sizes are known only as each copy starts).
    const eta =
      this.finished > 0 && this.finished < this.work && seconds >= 1
        ? `, ETA ${humanSeconds(((this.work - this.finished) * seconds) / this.finished)}`
        : '';
    return (
      `${bar(this.finished / this.work, 20)} images ${this.finished}/${this.work}  ` +
      `${humanBytes(this.bytes)} of ${humanBytes(Math.max(this.plannedBytes, this.bytes))} started  ` +
      `${humanBytes(this.bytes / seconds)}/s${eta}`
    );
  }

  summary(s: SyncSummary): void {
    this.status.clear();
    const plural = (n: number, word: string, many = `${word}s`): string => `${n} ${n === 1 ? word : many}`;
    const changes = s.copy + s.update + s.delete;
    const counts = `(${s.copy} copy, ${s.update} update, ${s.delete} delete), ${plural(s.ok, 'tag')} equal`;
    const scope = `${plural(s.repositories, 'repository', 'repositories')}, ${plural(s.tags, 'tag')} compared`;
    const time = `in ${s.seconds.toFixed(1)} s`;
    let text: string;
    if (s.mode === 'dry-run') text = `dry run, nothing changed: ${changes} to change ${counts}; ${scope} ${time}`;
    else if (changes === 0) text = `already equal: ${plural(s.ok, 'tag')} equal; ${scope} ${time}`;
    else
      text = `synced ${s.done ?? 0} of ${changes} ${counts}; ${scope}, ${humanBytes(s.bytesCopied ?? 0)} copied ${time}`;
    this.out.write(`${text}\n`);
    if (s.failed > 0) this.err.write(`${s.failed} failed (named above)\n`);
  }

  error(code: string, message: string): void {
    this.status.message(errorLine(code, message).trimEnd());
  }

  close(): void {
    this.status.clear();
  }
}
