import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ErrorCode } from '../errors';
import { parseJsonWith } from '../validation';
import {
  AccountIdSchema,
  DigestSchema,
  EcrActionType,
  IsoDateTimeSchema,
  RegionSchema,
  RepositoryNameSchema,
  TagSchema,
} from './primitives';

/**
 * Who asked for a run. Only `ecr` requests carry an ECR event time, and only
 * they are ordered against each other by it; the others (a `sync --enqueue`
 * or the scheduled repair, a retry of a job, the sweeper re-queueing a
 * stranded job) are stamped by another clock, so they never outrank an ECR
 * event: they only ask for one more run, which reads the source anyway.
 */
export const RequestOrigin = z.enum(['ecr', 'sync', 'repair', 'retry', 'sweep']);
export type RequestOrigin = z.infer<typeof RequestOrigin>;

/** The origin of a request; requests without one (older senders) are ECR events. */
export function originOf(request: { origin?: RequestOrigin | undefined }): RequestOrigin {
  return request.origin ?? 'ecr';
}

/**
 * What ingest sends to the FIFO queue for one ECR event: a hint that the
 * (repository, tag) may have changed. The digest is the event's; the worker
 * reads the source's current state rather than trusting it.
 */
export const ReplicationRequestSchema = z.object({
  version: z.literal(1),
  /** The EventBridge event id (also the queue's deduplication id). */
  eventId: z.string().min(1),
  /** When ECR emitted the event (ISO 8601); for other origins, the sender's clock (never compared with ECR's). */
  eventTime: IsoDateTimeSchema,
  /** Who asked; absent means an ECR event (see RequestOrigin). */
  origin: RequestOrigin.optional(),
  action: EcrActionType,
  source: z.object({
    accountId: AccountIdSchema,
    region: RegionSchema,
    repository: RepositoryNameSchema,
  }),
  destination: z.object({ repository: RepositoryNameSchema }),
  /** The tag the event named; absent for digest-only (tagless) actions. */
  tag: TagSchema.optional(),
  digest: DigestSchema,
});

export type ReplicationRequest = z.infer<typeof ReplicationRequestSchema>;

export function parseReplicationRequestJson(body: string): ReplicationRequest {
  return parseJsonWith(ReplicationRequestSchema, body, 'replication request', ErrorCode.InvalidInput);
}

/**
 * The key of the unit of reconciliation: `<destination repository>:<tag>`, or
 * `<destination repository>@<digest>` for a tagless action.
 */
export function jobKeyOf(request: Pick<ReplicationRequest, 'destination' | 'tag' | 'digest'>): string {
  return request.tag === undefined
    ? `${request.destination.repository}@${request.digest}`
    : `${request.destination.repository}:${request.tag}`;
}

/** SQS caps a MessageGroupId at 128 characters. */
export const MESSAGE_GROUP_ID_MAX_LENGTH = 128;

/**
 * The FIFO message group of a request: its job key, so that requests for one
 * tag are delivered in order; hashed when longer than SQS allows.
 */
export function messageGroupIdOf(request: Pick<ReplicationRequest, 'destination' | 'tag' | 'digest'>): string {
  const key = jobKeyOf(request);
  if (key.length <= MESSAGE_GROUP_ID_MAX_LENGTH) return key;
  return `sha256-${createHash('sha256').update(key).digest('hex')}`;
}
