import { ErrorCode, ReplicationError, toReplicationError } from '@ecr-replicate/common/core';
import { copyImage } from '@ecr-replicate/oci';
import type { CopyEventListener } from '@ecr-replicate/oci';
import { createLimiter } from '@ecr-replicate/oci';
import type { RequestRetryPolicy } from '@ecr-replicate/oci';
import type { RegistryClient } from '@ecr-replicate/oci';
import type { PlanEntry, SyncPlan } from './plan';

/** What became of one entry of the plan. */
export interface EntryResult {
  entry: PlanEntry;
  /** `done` (copied, updated, deleted), `queued` (enqueue mode) or `failed`. */
  outcome: 'done' | 'queued' | 'failed';
  /** The digest the destination tag points at now (copies and updates). */
  digest?: string;
  bytesCopied?: number;
  /** Enqueue mode: the request's event id and the SQS message id. */
  eventId?: string;
  messageId?: string;
  error?: { code: string; message: string };
  /** Direct mode: a tag the plan found equal, removed with a deleted tag of the same image and copied back. */
  restored?: true;
}

export interface ApplyOptions {
  source: RegistryClient;
  destination: RegistryClient;
  /** Removes a tag at the destination (ECR BatchDeleteImage, or the registry API), as the worker does. */
  removeTag: (repository: string, tag: string) => Promise<'removed' | 'absent'>;
  /** Images copied (or tags removed) at once (default 4). */
  concurrency?: number;
  /** Blobs in flight per image copy (the copy engine's default when absent). */
  blobConcurrency?: number;
  retry?: RequestRetryPolicy;
  /** The copy engine's events (bytes, retries, warnings), for progress. */
  onEvent?: CopyEventListener;
  onResult?: (result: EntryResult) => void;
  /** Times a copy starts over when the source tag moves under it (default 3). */
  maxRounds?: number;
}

function failed(entry: PlanEntry, error: unknown): EntryResult {
  const failure = toReplicationError(error);
  return { entry, outcome: 'failed', error: { code: failure.code, message: failure.message } };
}

/**
 * Makes the destination equal to the source, entry by entry, right here:
 * deletes first, then copies and updates with the copy engine. One entry
 * failing never stops the others.
 *
 * Deletes go first because a registry without DELETE by tag (distribution
 * 2.8) removes the manifest by digest, and with it every other tag of that
 * image: tags the plan found equal that shared a removed digest are checked
 * again afterwards and copied back when they went with it.
 */
export async function applyPlan(plan: SyncPlan, options: ApplyOptions): Promise<EntryResult[]> {
  const limit = createLimiter(options.concurrency ?? 4);
  const results: EntryResult[] = [];
  const settle = (result: EntryResult): void => {
    results.push(result);
    options.onResult?.(result);
  };

  const removed = new Map<string, Set<string>>();
  await Promise.all(
    plan.entries
      .filter((entry) => entry.action === 'delete')
      .map((entry) =>
        limit(async () => {
          try {
            await options.removeTag(entry.destinationRepository, entry.tag);
            const digests = removed.get(entry.destinationRepository) ?? new Set<string>();
            digests.add(entry.destinationDigest as string);
            removed.set(entry.destinationRepository, digests);
            settle({ entry, outcome: 'done' });
          } catch (error) {
            settle(failed(entry, error));
          }
        }),
      ),
  );

  const copies = plan.entries.filter((entry) => entry.action === 'copy' || entry.action === 'update');
  const rechecks = plan.entries.filter(
    (entry) =>
      entry.action === 'ok' &&
      entry.destinationDigest !== undefined &&
      removed.get(entry.destinationRepository)?.has(entry.destinationDigest),
  );
  await Promise.all([
    ...copies.map((entry) => limit(async () => settle((await copyEntry(entry, options)).result))),
    ...rechecks.map((entry) =>
      limit(async () => {
        const { result, upToDate } = await copyEntry(
          { ...entry, action: 'update', reason: 'removed with a deleted tag of the same image; restored' },
          options,
        );
        if (!upToDate) settle({ ...result, restored: true });
      }),
    ),
  ]);
  return results;
}

/**
 * Copies the image a source tag points at and moves the destination tag, but
 * only if the source tag still points there just before the tag moves; when
 * it moved, the copy starts over with the new digest.
 */
async function copyEntry(entry: PlanEntry, options: ApplyOptions): Promise<{ result: EntryResult; upToDate: boolean }> {
  const rounds = options.maxRounds ?? 3;
  let digest = entry.sourceDigest as string;
  for (let round = 1; ; round += 1) {
    try {
      const expected = digest;
      const copy = await copyImage({
        source: { client: options.source, repository: entry.sourceRepository, reference: expected },
        destination: { client: options.destination, repository: entry.destinationRepository, tag: entry.tag },
        ...(options.blobConcurrency !== undefined ? { concurrency: options.blobConcurrency } : {}),
        ...(options.retry ? { retry: options.retry } : {}),
        ...(options.onEvent ? { onEvent: options.onEvent } : {}),
        beforeTag: async () => {
          const now = await options.source.headManifest(entry.sourceRepository, entry.tag);
          if (now?.digest !== expected) {
            throw new ReplicationError(
              ErrorCode.SourceChanged,
              `${entry.sourceRepository}:${entry.tag} moved from ${expected} to ${now?.digest ?? 'nothing'} during the sync`,
            );
          }
        },
      });
      return {
        result: { entry, outcome: 'done', digest: copy.digest, bytesCopied: copy.bytes.copied },
        upToDate: copy.upToDate,
      };
    } catch (error) {
      if (!(error instanceof ReplicationError && error.code === ErrorCode.SourceChanged) || round >= rounds)
        return { result: failed(entry, error), upToDate: false };
      try {
        const head = await options.source.headManifest(entry.sourceRepository, entry.tag);
        if (head === undefined) {
          const gone = new ReplicationError(
            ErrorCode.SourceChanged,
            `${entry.sourceRepository}:${entry.tag} was removed from the source during the sync`,
          );
          return { result: failed(entry, gone), upToDate: false };
        }
        digest = head.digest;
      } catch (headError) {
        return { result: failed(entry, headError), upToDate: false };
      }
    }
  }
}
