import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  ErrorCode,
  ReplicationError,
  isRepositorySelected,
  isScanPage,
  mapRepositoryName,
  type ReplicationConfig,
  type ScanUnit,
} from '@ecr-replicate/common';
import { createLimiter } from '@ecr-replicate/oci';
import type { RegistryClient } from '@ecr-replicate/oci';
import type { EntryResult } from './apply';
import { enqueueEntries, type SourceRegistryIdentity } from './enqueue';
import {
  RepositoryScanner,
  countActions,
  scanOrder,
  syncFailure,
  type ActionCounts,
  type PlanEntry,
  type RepositoryPair,
  type SyncFailure,
} from './plan';
import { sendScanUnit } from './scan-queue';

/**
 * One unit of a fan-out scan, run by the scan Lambda: compare a repository (or a page of its tags) with the
 * destination, queue a replication request per tag that differs, and hand what is left to another unit.
 *
 *   1. List both sides' tags once; the scan order (plan.ts, `scanOrder`) is the unit's to-do list, cut to its page.
 *   2. A whole-repository unit whose order holds more than `pageTags` tags keeps the first page and sends one unit
 *      per further page first, so that the pages are compared in parallel by other invocations.
 *   3. Compare a chunk of tags at a time and queue its requests before the next. Once half the time the invocation
 *      had at the start is gone, send the continuation (after the last tag done, the same page end) and stop: the
 *      other half is headroom for the chunk in flight and the sends, whatever the registries' latency.
 *
 * At-least-once: a unit delivered twice, or pages that overlap, compare tags twice and queue nothing twice within
 * five minutes (the requests' deduplication ids derive from the scan's time). A listing or a send that fails throws:
 * the message is delivered again, then goes to the scan dead-letter queue. A tag that cannot be compared is a
 * failure counted in the result (the next scan tries it again), as in a whole plan.
 */
export interface ScanUnitDependencies {
  source: RegistryClient;
  destination: RegistryClient;
  config: ReplicationConfig;
  /** The source registry the requests name (the function's own account and region). */
  sourceIdentity: SourceRegistryIdentity;
  sqs: SQSClient;
  requestQueueUrl: string;
  scanQueueUrl: string;
  /** Registry requests in flight at once (REPAIR_CONCURRENCY). */
  concurrency: number;
  /** Tags per page: a larger repository is split (SCAN_PAGE_TAGS). */
  pageTags: number;
  /** Tags compared (and their requests queued) between two looks at the clock (default 4 × concurrency, 16 or more). */
  chunkTags?: number;
  /** What the invocation has left, in milliseconds (Lambda's context.getRemainingTimeInMillis). */
  remainingMs: () => number;
  now?: () => Date;
  /** Each request queued (or not). */
  onResult?: (result: EntryResult) => void;
}

export interface ScanUnitResult {
  sourceRepository: string;
  /** Absent when the configuration does not select the repository (or its mapping refuses the name). */
  destinationRepository?: string;
  /** `not-selected`: nothing to do; `done`: the unit's tags are all compared; `continued`: a continuation is queued. */
  outcome: 'done' | 'continued' | 'not-selected';
  /** Tags of the scan order compared by this unit. */
  compared: number;
  /** Tags of this unit's page (or repository) still to compare, handed to the continuation. */
  remaining: number;
  /** Units sent for further pages of the repository. */
  pagesQueued: number;
  /** The entries this unit planned, by action. */
  counts: ActionCounts;
  /** Entries that differ (copy + update + delete). */
  drift: PlanEntry[];
  queued: number;
  /** Tags that could not be compared, a name the mapping refuses, requests SQS refused. */
  failures: SyncFailure[];
}

export async function runScanUnit(unit: ScanUnit, deps: ScanUnitDependencies): Promise<ScanUnitResult> {
  const startRemaining = deps.remainingMs();
  const result: ScanUnitResult = {
    sourceRepository: unit.sourceRepository,
    outcome: 'done',
    compared: 0,
    remaining: 0,
    pagesQueued: 0,
    counts: { copy: 0, update: 0, delete: 0, ok: 0 },
    drift: [],
    queued: 0,
    failures: [],
  };
  const { config } = deps;
  if (!isRepositorySelected(config, unit.sourceRepository)) return { ...result, outcome: 'not-selected' };
  let pair: RepositoryPair;
  try {
    pair = { source: unit.sourceRepository, destination: mapRepositoryName(config, unit.sourceRepository) };
  } catch (error) {
    result.failures.push(syncFailure('list', error, { sourceRepository: unit.sourceRepository }));
    return { ...result, outcome: 'not-selected' };
  }
  result.destinationRepository = pair.destination;

  const scanner = new RepositoryScanner(deps, createLimiter(deps.concurrency), result.failures);
  const tags = await scanner.listTags(pair); // throws: the unit is delivered again
  const inPage = (tag: string): boolean =>
    (unit.after === undefined || tag > unit.after) && (unit.until === undefined || tag <= unit.until);
  let todo = scanOrder(config, tags).filter(inPage);
  let until = unit.until;

  // 2. A large repository: the further pages to other invocations, first.
  if (!isScanPage(unit) && todo.length > deps.pageTags) {
    const pages: ScanUnit[] = [];
    for (let start = deps.pageTags; start < todo.length; start += deps.pageTags) {
      const last = start + deps.pageTags >= todo.length;
      pages.push({
        ...unit,
        after: todo[start - 1] as string,
        ...(last ? {} : { until: todo[start + deps.pageTags - 1] as string }),
        part: 0,
      });
    }
    await Promise.all(pages.map((page) => sendScanUnit(deps.sqs, deps.scanQueueUrl, page)));
    result.pagesQueued = pages.length;
    until = todo[deps.pageTags - 1] as string;
    todo = todo.slice(0, deps.pageTags);
  }

  // 3. Chunk by chunk, while the first half of the time lasts.
  const chunkTags = deps.chunkTags ?? Math.max(16, deps.concurrency * 4);
  const enqueueFailures: SyncFailure[] = [];
  let done = 0;
  while (done < todo.length) {
    const chunk = todo.slice(done, done + chunkTags);
    const entries = await scanner.compare(pair, tags, chunk);
    const counts = countActions(entries);
    for (const action of Object.keys(counts) as Array<keyof ActionCounts>) result.counts[action] += counts[action];
    const drift = entries.filter((entry) => entry.action !== 'ok');
    result.drift.push(...drift);
    const sent = await enqueueEntries(drift, unit.plannedAt, {
      sqs: deps.sqs,
      queueUrl: deps.requestQueueUrl,
      source: deps.sourceIdentity,
      origin: unit.origin,
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.onResult ? { onResult: deps.onResult } : {}),
    });
    for (const sentResult of sent) {
      if (sentResult.outcome === 'queued') result.queued += 1;
      else
        enqueueFailures.push({
          stage: 'enqueue',
          sourceRepository: pair.source,
          destinationRepository: pair.destination,
          tag: sentResult.entry.tag,
          code: sentResult.error?.code ?? ErrorCode.AwsService,
          message: sentResult.error?.message ?? 'the request was not queued',
        });
    }
    done += chunk.length;
    result.compared = done;
    if (enqueueFailures.length > 0) {
      // Nothing may be lost: the unit is delivered again (its queued requests are dropped as duplicates by SQS).
      throw new ReplicationError(
        ErrorCode.AwsService,
        `scan of ${pair.source}: ${enqueueFailures.length} request(s) could not be queued (first: ${enqueueFailures[0]?.message})`,
        { details: { scanId: unit.scanId, repository: pair.source } },
      );
    }
    if (done < todo.length && deps.remainingMs() < startRemaining / 2) {
      const continuation: ScanUnit = {
        ...unit,
        after: todo[done - 1] as string,
        ...(until !== undefined ? { until } : {}),
        part: unit.part + 1,
      };
      if (until === undefined) delete continuation.until;
      await sendScanUnit(deps.sqs, deps.scanQueueUrl, continuation);
      result.remaining = todo.length - done;
      return { ...result, outcome: 'continued' };
    }
  }
  return result;
}
