import {
  ErrorCode,
  ReplicationError,
  isReferrerTag,
  isRepositorySelected,
  isTagSelected,
  mapRepositoryName,
  subjectOfReferrerTag,
  toReplicationError,
  type ReplicationConfig,
} from '@ecr-replicate/common';
import { createLimiter, type Limiter } from '@ecr-replicate/oci';
import type { RegistryClient } from '@ecr-replicate/oci';

/**
 * Planning a sync: which tags of the destination differ from the source.
 *
 * For every selected source repository (repository filters, then the name
 * mapping) and every selected tag (tag filters), the source tag's digest is
 * compared with the destination tag's:
 *
 *   copy    the destination lacks the tag
 *   update  the destination tag points at another digest, or the image is
 *           equal but some of its referrers are missing at the destination
 *   delete  (deletes on) a destination tag, selected by the tag filters,
 *           that the source no longer has
 *   ok      equal
 *
 * Referrer-scheme tags (`sha256-<hex>`, `.sig`, `.att`, `.sbom`) are never
 * planned on their own: the copy engine copies them after their subject. So a
 * referrer tag that is missing or different at the destination turns its
 * subject's `ok` tags into `update` (copying an equal image costs a HEAD and
 * then brings its referrers). The same goes for referrers the source serves
 * through the OCI referrers API and the destination lacks. A referrer tag
 * whose subject no selected tag points at (an index child, a filtered or
 * untagged image) is not planned: no copy of a tag would bring it. Tags of
 * the scheme with another suffix are not carried by the copy engine and are
 * compared like any tag. Deletes follow the plain rule, referrer tags
 * included: with deletes on, a destination tag the source lacks is removed.
 */

export type PlanAction = 'copy' | 'update' | 'delete' | 'ok';

export interface PlanEntry {
  action: PlanAction;
  sourceRepository: string;
  destinationRepository: string;
  tag: string;
  /** Where the source tag points (absent for a delete). */
  sourceDigest?: string;
  /** Where the destination tag points (absent for a copy). */
  destinationDigest?: string;
  /** Why the entry is not `ok`, in words. */
  reason?: string;
}

/** Something that could not be compared or done; the rest of the sync goes on. */
export interface SyncFailure {
  stage: 'list' | 'compare' | 'copy' | 'delete' | 'enqueue';
  sourceRepository?: string;
  destinationRepository?: string;
  tag?: string;
  code: string;
  message: string;
}

export interface SyncPlan {
  /** When the plan was made (ISO 8601). */
  plannedAt: string;
  /** Selected source repositories. */
  repositories: number;
  /** Selected source tags (referrer-scheme tags included). */
  tags: number;
  /** Every compared tag, sorted by destination repository and tag. */
  entries: PlanEntry[];
  failures: SyncFailure[];
}

export interface ScanProgress {
  repositoriesTotal: number;
  repositoriesScanned: number;
  tagsCompared: number;
}

export interface PlanOptions {
  source: RegistryClient;
  destination: RegistryClient;
  /** Every repository of the source registry (ECR DescribeRepositories or the catalog API). */
  listRepositories: () => Promise<string[]>;
  config: ReplicationConfig;
  /** Registry requests in flight at once (default 8). */
  concurrency?: number;
  onProgress?: (progress: ScanProgress) => void;
  now?: () => Date;
}

/** A selected source repository and the destination repository it maps to. */
export interface RepositoryPair {
  source: string;
  destination: string;
}

/** The tags of a repository pair, each side listed once. */
export interface RepositoryTags {
  source: string[];
  destination: string[];
}

/** What a repository scanner reads and compares with. */
export interface ScanClients {
  source: RegistryClient;
  destination: RegistryClient;
  config: ReplicationConfig;
}

/** A failure record for `error`, with where it happened. */
export function syncFailure(
  stage: SyncFailure['stage'],
  error: unknown,
  where: Omit<SyncFailure, 'stage' | 'code' | 'message'>,
): SyncFailure {
  const failure = toReplicationError(error);
  return { stage, ...where, code: failure.code, message: failure.message };
}

function isNotFound(error: unknown): boolean {
  return error instanceof ReplicationError && error.code === ErrorCode.NotFound;
}

/** `sha256:0123456789ab` for tables and reasons. */
export function shortDigest(digest: string | undefined): string {
  if (digest === undefined) return '-';
  const colon = digest.indexOf(':');
  return digest.slice(0, colon + 13);
}

/**
 * Suffixes of the referrer tags the copy engine copies after their subject (the bare tag is the OCI referrers index).
 */
const CARRIED_REFERRER_SUFFIXES = new Set(['', 'sig', 'att', 'sbom']);

/**
 * Whether the copy engine copies this tag with its subject: the OCI referrers
 * tag and cosign's `.sig`, `.att` and `.sbom`. Other `sha256-<hex>.<suffix>`
 * tags are compared like any tag, or they would differ forever.
 */
export function isCarriedReferrerTag(tag: string): boolean {
  if (!isReferrerTag(tag)) return false;
  const dot = tag.indexOf('.');
  return CARRIED_REFERRER_SUFFIXES.has(dot < 0 ? '' : tag.slice(dot + 1));
}

/**
 * The selected source repositories of a registry listing and their destination names, sorted: repository filters,
 * then the name mapping. A name the mapping refuses, and source repositories that would map onto one destination
 * repository (they would undo each other's tags), are recorded in `failures` and left out.
 */
export function selectRepositories(
  listed: readonly string[],
  config: ReplicationConfig,
  failures: SyncFailure[],
): RepositoryPair[] {
  const names = [...new Set(listed)].sort();
  const pairs: RepositoryPair[] = [];
  for (const name of names) {
    if (!isRepositorySelected(config, name)) continue;
    try {
      pairs.push({ source: name, destination: mapRepositoryName(config, name) });
    } catch (error) {
      failures.push(syncFailure('list', error, { sourceRepository: name }));
    }
  }

  // Two source repositories mapped onto one destination repository would undo each other's tags.
  const byDestination = new Map<string, RepositoryPair[]>();
  for (const pair of pairs) byDestination.set(pair.destination, [...(byDestination.get(pair.destination) ?? []), pair]);
  const usable = pairs.filter((pair) => {
    const sharing = byDestination.get(pair.destination) ?? [];
    if (sharing.length === 1) return true;
    const error = new ReplicationError(
      ErrorCode.InvalidInput,
      `source repositories ${sharing.map((p) => `"${p.source}"`).join(', ')} all map to "${pair.destination}": fix the repository mapping`,
    );
    failures.push(
      syncFailure('list', error, { sourceRepository: pair.source, destinationRepository: pair.destination }),
    );
    return false;
  });

  return usable;
}

/**
 * Compares the source registry with the destination and says, per tag, what
 * would make them equal. Only a failure to list the source repositories is
 * thrown; every other failure is recorded in `failures` and the comparison
 * goes on with the rest.
 */
export async function planSync(options: PlanOptions): Promise<SyncPlan> {
  const plannedAt = (options.now?.() ?? new Date()).toISOString();
  const { config } = options;
  const failures: SyncFailure[] = [];

  const usable = selectRepositories(await options.listRepositories(), config, failures);

  const progress: ScanProgress = { repositoriesTotal: usable.length, repositoriesScanned: 0, tagsCompared: 0 };
  options.onProgress?.({ ...progress });
  const scanner = new RepositoryScanner(options, createLimiter(options.concurrency ?? 8), failures, () => {
    progress.tagsCompared += 1;
    options.onProgress?.({ ...progress });
  });
  const perRepository = await Promise.all(
    usable.map(async (pair) => {
      const result = await scanner.scan(pair);
      progress.repositoriesScanned += 1;
      options.onProgress?.({ ...progress });
      return result;
    }),
  );

  const entries = perRepository.flatMap((r) => r.entries);
  entries.sort((a, b) => compareText(a.destinationRepository, b.destinationRepository) || compareText(a.tag, b.tag));
  failures.sort(
    (a, b) => compareText(a.sourceRepository ?? '', b.sourceRepository ?? '') || compareText(a.tag ?? '', b.tag ?? ''),
  );
  return {
    plannedAt,
    repositories: usable.length,
    tags: perRepository.reduce((sum, r) => sum + r.tags, 0),
    entries,
    failures,
  };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The tags a scan of a repository pair goes through, in code-point order: the selected source tags that are not
 * carried referrer tags (those come with their subject), and, with deletes on, the selected destination tags the
 * source lacks. A fan-out scan pages and continues along this order.
 */
export function scanOrder(config: ReplicationConfig, tags: RepositoryTags): string[] {
  const atSource = new Set(tags.source);
  const order = new Set(tags.source.filter((tag) => isTagSelected(config, tag) && !isCarriedReferrerTag(tag)));
  if (config.deletes)
    for (const tag of tags.destination) if (!atSource.has(tag) && isTagSelected(config, tag)) order.add(tag);
  return [...order].sort(compareText);
}

/**
 * Compares one repository pair, tag by tag, through a shared limiter: the whole of it (`scan`, for a plan), or its
 * tags listed once (`listTags`) and then compared a window of the scan order at a time (`compare`, for a fan-out
 * scan). Failures to compare a tag are recorded in `failures`; the comparison goes on.
 */
export class RepositoryScanner {
  constructor(
    private readonly options: ScanClients,
    private readonly limit: Limiter,
    private readonly failures: SyncFailure[],
    private readonly onCompared: () => void = () => undefined,
  ) {}

  private async digestAt(client: RegistryClient, repository: string, reference: string): Promise<string | undefined> {
    return (await this.limit(() => client.headManifest(repository, reference)))?.digest;
  }

  private async tagsOf(client: RegistryClient, repository: string): Promise<string[]> {
    try {
      return await this.limit(() => client.listTags(repository));
    } catch (error) {
      if (isNotFound(error)) return []; // no such repository (yet): no tags
      throw error;
    }
  }

  private compared(): void {
    this.onCompared();
  }

  /** Both sides' tags (a repository missing on a side has none). Throws when a listing fails. */
  async listTags(pair: RepositoryPair): Promise<RepositoryTags> {
    const [source, destination] = await Promise.all([
      this.tagsOf(this.options.source, pair.source),
      this.tagsOf(this.options.destination, pair.destination),
    ]);
    return { source, destination };
  }

  /** The whole pair: its entries, and how many selected source tags it has (referrer tags included). */
  async scan(pair: RepositoryPair): Promise<{ entries: PlanEntry[]; tags: number }> {
    const where = { sourceRepository: pair.source, destinationRepository: pair.destination };
    let tags: RepositoryTags;
    try {
      tags = await this.listTags(pair);
    } catch (error) {
      this.failures.push(syncFailure('list', error, where));
      return { entries: [], tags: 0 };
    }
    const entries = await this.compare(pair, tags, scanOrder(this.options.config, tags));
    return { entries, tags: tags.source.filter((tag) => isTagSelected(this.options.config, tag)).length };
  }

  /**
   * The entries of `window` (tags of the scan order): image tags compared with the destination, the carried referrer
   * tags (and referrers API) of the images found equal, and, with deletes on, the window's tags the source lacks.
   */
  async compare(pair: RepositoryPair, tags: RepositoryTags, window: readonly string[]): Promise<PlanEntry[]> {
    const { source, destination, config } = this.options;
    const where = { sourceRepository: pair.source, destinationRepository: pair.destination };
    const atSource = new Set(tags.source);
    const atDestination = new Set(tags.destination);
    const imageTags = window.filter((tag) => atSource.has(tag));
    const referrerTags = tags.source.filter((tag) => isTagSelected(config, tag) && isCarriedReferrerTag(tag));

    // 1. Image tags: source digest against destination digest.
    const entries: PlanEntry[] = [];
    await Promise.all(
      imageTags.map(async (tag) => {
        try {
          const [sourceDigest, destinationDigest] = await Promise.all([
            this.digestAt(source, pair.source, tag),
            atDestination.has(tag) ? this.digestAt(destination, pair.destination, tag) : Promise.resolve(undefined),
          ]);
          // Gone from the source since it was listed: the next sync sees it as deleted.
          if (sourceDigest === undefined) return;
          const common = {
            ...where,
            tag,
            sourceDigest,
            ...(destinationDigest !== undefined ? { destinationDigest } : {}),
          };
          if (destinationDigest === undefined)
            entries.push({ action: 'copy', ...common, reason: 'missing at the destination' });
          else if (destinationDigest !== sourceDigest)
            entries.push({ action: 'update', ...common, reason: 'another digest at the destination' });
          else entries.push({ action: 'ok', ...common });
        } catch (error) {
          this.failures.push(syncFailure('compare', error, { ...where, tag }));
        } finally {
          this.compared();
        }
      }),
    );

    // 2. Referrers of images that are otherwise equal: their tags, then the referrers API.
    const equal = new Set(entries.filter((e) => e.action === 'ok').map((e) => e.sourceDigest as string));
    const missingReferrers = new Map<string, string>();
    const note = (subject: string, reason: string): void => {
      if (!missingReferrers.has(subject)) missingReferrers.set(subject, reason);
    };
    await Promise.all(
      referrerTags.map(async (tag) => {
        const subject = subjectOfReferrerTag(tag) as string;
        try {
          if (!equal.has(subject)) return; // copied with a copy or update of its subject, or not tagged: not planned
          if (!atDestination.has(tag)) return note(subject, `referrer tag ${tag} is missing at the destination`);
          const [sourceDigest, destinationDigest] = await Promise.all([
            this.digestAt(source, pair.source, tag),
            this.digestAt(destination, pair.destination, tag),
          ]);
          if (sourceDigest !== undefined && sourceDigest !== destinationDigest)
            note(subject, `referrer tag ${tag} differs at the destination`);
        } catch (error) {
          this.failures.push(syncFailure('compare', error, { ...where, tag }));
        } finally {
          this.compared();
        }
      }),
    );
    await Promise.all(
      [...equal].map(async (subject) => {
        try {
          const referrers = await this.limit(() => source.referrers(pair.source, subject));
          if (referrers === undefined) return; // the source has no referrers API: the tags above are all there is
          for (const referrer of referrers) {
            if ((await this.digestAt(destination, pair.destination, referrer.digest)) === undefined) {
              return note(subject, `referrer ${shortDigest(referrer.digest)} is missing at the destination`);
            }
          }
        } catch (error) {
          const tags = entries.filter((e) => e.sourceDigest === subject).map((e) => e.tag);
          this.failures.push(syncFailure('compare', error, { ...where, tag: tags.join(',') }));
        }
      }),
    );
    for (const entry of entries) {
      const reason = entry.action === 'ok' ? missingReferrers.get(entry.sourceDigest as string) : undefined;
      if (reason !== undefined) Object.assign(entry, { action: 'update', reason });
    }

    // 3. Deletes: destination tags the source no longer has.
    if (config.deletes) {
      const gone = window.filter((tag) => !atSource.has(tag) && atDestination.has(tag));
      await Promise.all(
        gone.map(async (tag) => {
          try {
            const destinationDigest = await this.digestAt(destination, pair.destination, tag);
            if (destinationDigest !== undefined)
              entries.push({ action: 'delete', ...where, tag, destinationDigest, reason: 'gone from the source' });
          } catch (error) {
            this.failures.push(syncFailure('compare', error, { ...where, tag }));
          }
        }),
      );
    }
    return entries;
  }
}

/** How many of a plan's entries there are of each action. */
export type ActionCounts = Record<PlanAction, number>;

/** Counts of a plan's entries by action. */
export function countActions(entries: readonly PlanEntry[]): ActionCounts {
  const counts: ActionCounts = { copy: 0, update: 0, delete: 0, ok: 0 };
  for (const entry of entries) counts[entry.action] += 1;
  return counts;
}
