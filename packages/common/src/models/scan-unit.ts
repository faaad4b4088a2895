import { z } from 'zod';
import { ErrorCode } from '../errors';
import { parseJsonWith } from '../validation';
import { IsoDateTimeSchema, RepositoryNameSchema, TagSchema } from './primitives';

/**
 * One unit of a fan-out scan: a message on the scan queue that has a scan
 * Lambda compare one source repository (or one page of its tags) with the
 * destination and queue a replication request per tag that differs.
 *
 * The scheduled repair and `ecr-replicate sync --enqueue` send one unit per
 * selected repository. A unit whose repository has more tags than a page
 * sends one unit per further page (`after`/`until`) and compares the first
 * page itself; a unit that runs low on time sends its continuation (`after`
 * the last tag it compared, same `until`, `part` + 1) and stops. Tags are
 * taken in code-point order of the union of the source's selected tags and,
 * with deletes on, the destination's.
 */
export const ScanUnitSchema = z.object({
  version: z.literal(1),
  /** The fan-out this unit belongs to (one per scheduled run or sync): logs and metrics carry it. */
  scanId: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1 to 128 of A-Z a-z 0-9 _ . : -'),
  /** Who started the scan: the scheduled repair or an operator's sync. */
  origin: z.enum(['repair', 'sync']),
  /**
   * When the scan started (ISO 8601): the requests' deduplication ids derive from it, so units delivered twice, and
   * pages that overlap, never queue a tag twice within SQS's five minutes.
   */
  plannedAt: IsoDateTimeSchema,
  /** The source repository, as the source registry names it (the scan Lambda maps it with its configuration). */
  sourceRepository: RepositoryNameSchema,
  /** Only tags after this one (exclusive); absent: from the first. */
  after: TagSchema.optional(),
  /** Only tags up to this one (inclusive); absent: to the last. A unit with either bound is a page: it never splits. */
  until: TagSchema.optional(),
  /** Continuations so far of this repository or page (0 for the first unit). */
  part: z.number().int().min(0).max(100_000),
});

export type ScanUnit = z.infer<typeof ScanUnitSchema>;

export function parseScanUnitJson(body: string): ScanUnit {
  return parseJsonWith(ScanUnitSchema, body, 'scan unit', ErrorCode.InvalidInput);
}

/** Whether a unit covers a page of its repository (bounds given) rather than the whole of it. */
export function isScanPage(unit: Pick<ScanUnit, 'after' | 'until'>): boolean {
  return unit.after !== undefined || unit.until !== undefined;
}
