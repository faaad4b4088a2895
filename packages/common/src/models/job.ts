import { z } from 'zod';
import { ErrorCode } from '../errors';
import { parseWith } from '../validation';
import {
  AccountIdSchema,
  DigestSchema,
  EcrActionType,
  EpochMillisSchema,
  IsoDateTimeSchema,
  RegionSchema,
  RepositoryNameSchema,
  TagSchema,
} from './primitives';
import { Executor } from './copy-invocation';
import { RequestOrigin } from './request';

/**
 * Where a job stands, in the words of ECR's DescribeImageReplicationStatus:
 * PENDING (requested, no worker yet), IN_PROGRESS (leased by a worker),
 * COMPLETE (the destination equals the source) and FAILED (given up).
 */
export const JobStatus = z.enum(['PENDING', 'IN_PROGRESS', 'COMPLETE', 'FAILED']);
export type JobStatus = z.infer<typeof JobStatus>;

export const JobErrorSchema = z.object({ code: z.string(), message: z.string() });
export type JobError = z.infer<typeof JobErrorSchema>;

/**
 * The DynamoDB record of one (destination repository, tag), or of one digest
 * for tagless actions. Written by the dispatcher (request, lease, dirty) and
 * the worker (outcome); every write is conditional.
 */
export const JobRecordSchema = z.object({
  /** Partition key, see `jobKeyOf`. */
  jobKey: z.string().min(1),
  sourceAccountId: AccountIdSchema,
  sourceRegion: RegionSchema,
  sourceRepository: RepositoryNameSchema,
  destinationRepository: RepositoryNameSchema,
  tag: TagSchema.optional(),
  /** The newest request's action and digest: what the events last said. */
  action: EcrActionType,
  desiredDigest: DigestSchema,
  lastEventId: z.string().min(1),
  lastEventTime: IsoDateTimeSchema,
  /**
   * Origin of the request these fields came from (absent: an ECR event). Only an ECR event's time orders requests:
   * any ECR event replaces a record that holds another origin's request.
   */
  origin: RequestOrigin.optional(),
  status: JobStatus,
  /** Build (worker) that holds the lease, and until when. */
  leaseOwner: z.string().optional(),
  leaseExpiresAt: EpochMillisSchema.optional(),
  /** Bumped by every acquisition: a worker proves it still holds the lease it was given by owner and epoch. */
  leaseEpoch: z.number().int().nonnegative().optional(),
  /** The build that holds the lease (recorded once StartBuild answered, or by the worker itself). */
  leaseBuildId: z.string().optional(),
  /** When the holder last proved its lease right before a destination tag move or delete (fencing). */
  fencedAt: EpochMillisSchema.optional(),
  /** A newer request arrived while the lease was held: reconcile once more. */
  dirty: z.boolean(),
  attempts: z.number().int().nonnegative(),
  lastError: JobErrorSchema.optional(),
  /** What the destination tag points at after the last success (absent after a delete). */
  replicatedDigest: DigestSchema.optional(),
  bytesCopied: z.number().int().nonnegative().optional(),
  /** Which executor recorded the last outcome (absent: recorded before executors were told apart). */
  executor: Executor.optional(),
  durationSeconds: z.number().nonnegative().optional(),
  requestedAt: EpochMillisSchema,
  updatedAt: EpochMillisSchema,
  startedAt: EpochMillisSchema.optional(),
  completedAt: EpochMillisSchema.optional(),
  /** DynamoDB TTL (epoch seconds) for finished records. */
  expiresAt: z.number().int().nonnegative().optional(),
});

export type JobRecord = z.infer<typeof JobRecordSchema>;

export function parseJobRecord(input: unknown): JobRecord {
  return parseWith(JobRecordSchema, input, 'job record', ErrorCode.InvalidInput);
}
