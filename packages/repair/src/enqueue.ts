import { createHash } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { toReplicationError, type ReplicationRequest } from '@ecr-replicate/common';
import { sendRequest } from '@ecr-replicate/common/queue';
import { createLimiter } from '@ecr-replicate/oci';
import type { EntryResult } from './apply';
import type { PlanEntry } from './plan';

/** The source registry the requests name: the workers read the source by its account and region. */
export interface SourceRegistryIdentity {
  accountId: string;
  region: string;
}

/**
 * The event id of a sync request: `sync-<sha256>` of the repositories, tag,
 * digest and plan time, so that one plan never queues a tag twice (SQS drops
 * a repeated deduplication id for 5 minutes) while a later plan queues anew.
 */
export function syncEventId(entry: PlanEntry, digest: string, plannedAt: string): string {
  const text = JSON.stringify([entry.sourceRepository, entry.destinationRepository, entry.tag, digest, plannedAt]);
  return `sync-${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

/**
 * The replication request that has the workers reconcile an entry: PUSH with
 * the source digest for a copy or update, DELETE with the destination digest
 * for a delete; none for an `ok` entry. Like an event, it is only a hint: the
 * worker reads the source again. Its time is this host's clock, so it carries
 * its origin (`sync`, or `repair` for the scheduled run): it asks for a run and
 * never outranks an ECR event.
 */
export function requestOf(
  entry: PlanEntry,
  source: SourceRegistryIdentity,
  plannedAt: string,
  eventTime: string,
  origin: 'sync' | 'repair' = 'sync',
): ReplicationRequest | undefined {
  if (entry.action === 'ok') return undefined;
  const digest = entry.action === 'delete' ? entry.destinationDigest : entry.sourceDigest;
  if (digest === undefined) return undefined;
  return {
    version: 1,
    eventId: syncEventId(entry, digest, plannedAt),
    eventTime,
    origin,
    action: entry.action === 'delete' ? 'DELETE' : 'PUSH',
    source: { accountId: source.accountId, region: source.region, repository: entry.sourceRepository },
    destination: { repository: entry.destinationRepository },
    tag: entry.tag,
    digest,
  };
}

export interface EnqueueOptions {
  sqs: SQSClient;
  queueUrl: string;
  source: SourceRegistryIdentity;
  /** Messages sent at once (default 10). */
  concurrency?: number;
  /** Who asks: an operator's sync (default) or the scheduled repair. */
  origin?: 'sync' | 'repair';
  now?: () => Date;
  onResult?: (result: EntryResult) => void;
}

/**
 * Sends one request per entry that differs to the FIFO request queue, through ingest's sender (group = job key,
 * deduplication = event id). The entries were planned at `plannedAt`: a fan-out scan's units share their scan's time,
 * so a tag compared by two units (a unit delivered twice) is queued once within SQS's deduplication window. One failed
 * send never stops the others.
 */
export async function enqueueEntries(
  entries: readonly PlanEntry[],
  plannedAt: string,
  options: EnqueueOptions,
): Promise<EntryResult[]> {
  const eventTime = (options.now?.() ?? new Date()).toISOString();
  const limit = createLimiter(options.concurrency ?? 10);
  const results: EntryResult[] = [];
  await Promise.all(
    entries.map((entry) => {
      const request = requestOf(entry, options.source, plannedAt, eventTime, options.origin);
      if (request === undefined) return undefined;
      return limit(async () => {
        let result: EntryResult;
        try {
          const messageId = await sendRequest(options.sqs, options.queueUrl, request);
          result = {
            entry,
            outcome: 'queued',
            eventId: request.eventId,
            ...(messageId !== undefined ? { messageId } : {}),
          };
        } catch (error) {
          const failure = toReplicationError(error);
          result = {
            entry,
            outcome: 'failed',
            eventId: request.eventId,
            error: { code: failure.code, message: failure.message },
          };
        }
        results.push(result);
        options.onResult?.(result);
      });
    }),
  );
  return results;
}
