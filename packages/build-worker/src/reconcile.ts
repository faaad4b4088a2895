import { ErrorCode, ReplicationError, type JobRecord, type ReplicationConfig } from '@ecr-replicate/common';
import { copyImage, type CopyResult } from '@ecr-replicate/oci';
import type { CopyEventListener } from '@ecr-replicate/oci';
import type { RegistryClient } from '@ecr-replicate/oci';

/** What reconciling one job did to the destination. */
export type Reconciliation =
  | { action: 'copied' | 'up-to-date'; digest: string; bytesCopied: number; copy: CopyResult }
  | { action: 'removed' | 'already-absent'; digest?: undefined; bytesCopied: 0 }
  /** The source no longer has it and deletes are off (or the digest is still in use at the source): nothing to do. */
  | { action: 'left-alone'; digest?: undefined; bytesCopied: 0; reason: string };

export interface ReconcileContext {
  source: RegistryClient;
  destination: RegistryClient;
  config: ReplicationConfig;
  /** Removes a tag at the destination (ECR API or registry API); the signal bounds the removal in time. */
  removeTag: (repository: string, tag: string, signal?: AbortSignal) => Promise<'removed' | 'absent'>;
  /**
   * Called immediately before each destination tag move or delete: proves the lease (throwing when it is not held)
   * and returns a signal that bounds the write. Absent: writes are not fenced (the CLI's copy).
   */
  fence?: () => Promise<AbortSignal | undefined>;
  onEvent?: CopyEventListener;
  /** Times the source tag may move under a copy before the job is handed back for a retry. */
  maxRounds?: number;
  /** Called before each blob transfer starts; throwing stops the copy before it (the copy Lambda's time budget). */
  beforeBlob?: (blob: { digest: string; size: number }) => void;
}

/**
 * Makes the destination equal to what the source holds NOW for one job; the
 * event that created the job is only a hint. A tag is copied by the digest
 * it points at, and the destination tag moves only after a re-check shows
 * the source tag still there: if it moved meanwhile, the copy starts over.
 */
export async function reconcile(job: JobRecord, context: ReconcileContext): Promise<Reconciliation> {
  return job.tag === undefined ? reconcileDigest(job, context) : reconcileTag(job, job.tag, context);
}

async function reconcileTag(job: JobRecord, tag: string, context: ReconcileContext): Promise<Reconciliation> {
  const { source, destination, config } = context;
  const rounds = context.maxRounds ?? 5;
  for (let round = 1; round <= rounds; round += 1) {
    const head = await source.headManifest(job.sourceRepository, tag);
    if (head === undefined) {
      if (!config.deletes)
        return { action: 'left-alone', bytesCopied: 0, reason: 'the source tag is gone and delete replication is off' };
      const signal = await context.fence?.();
      const removed = await context.removeTag(job.destinationRepository, tag, signal);
      return { action: removed === 'removed' ? 'removed' : 'already-absent', bytesCopied: 0 };
    }
    try {
      const copy = await copyImage({
        source: { client: source, repository: job.sourceRepository, reference: head.digest },
        destination: { client: destination, repository: job.destinationRepository, tag },
        ...(context.onEvent ? { onEvent: context.onEvent } : {}),
        ...(context.fence ? { beforeTagWrite: context.fence } : {}),
        ...(context.beforeBlob ? { beforeBlob: context.beforeBlob } : {}),
        beforeTag: async () => {
          const now = await source.headManifest(job.sourceRepository, tag);
          if (now?.digest !== head.digest) {
            throw new ReplicationError(
              ErrorCode.SourceChanged,
              `${job.sourceRepository}:${tag} moved from ${head.digest} to ${now?.digest ?? 'nothing'} during the copy`,
            );
          }
        },
      });
      return {
        action: copy.upToDate ? 'up-to-date' : 'copied',
        digest: copy.digest,
        bytesCopied: copy.bytes.copied,
        copy,
      };
    } catch (error) {
      if (!(error instanceof ReplicationError && error.code === ErrorCode.SourceChanged) || round === rounds)
        throw error;
    }
  }
  throw new ReplicationError(ErrorCode.Internal, 'unreachable');
}

async function reconcileDigest(job: JobRecord, context: ReconcileContext): Promise<Reconciliation> {
  const { source, destination, config } = context;
  const digest = job.desiredDigest;
  const atSource = await source.headManifest(job.sourceRepository, digest);
  if (atSource === undefined) {
    if (!config.deletes)
      return {
        action: 'left-alone',
        bytesCopied: 0,
        reason: 'the image is gone from the source and delete replication is off',
      };
    const signal = await context.fence?.();
    const removed = await destination.deleteManifest(
      job.destinationRepository,
      digest,
      signal === undefined ? {} : { signal },
    );
    return { action: removed ? 'removed' : 'already-absent', bytesCopied: 0 };
  }
  if (job.action === 'DELETE') {
    return { action: 'left-alone', bytesCopied: 0, reason: 'the source still holds this digest' };
  }
  const copy = await copyImage({
    source: { client: source, repository: job.sourceRepository, reference: digest },
    destination: { client: destination, repository: job.destinationRepository },
    ...(context.onEvent ? { onEvent: context.onEvent } : {}),
    ...(context.fence ? { beforeTagWrite: context.fence } : {}),
    ...(context.beforeBlob ? { beforeBlob: context.beforeBlob } : {}),
  });
  return { action: 'copied', digest: copy.digest, bytesCopied: copy.bytes.copied, copy };
}
