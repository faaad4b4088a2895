import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { ErrorCode, ReplicationError, isDigest, referrersTagOf, safeText } from '@ecr-replicate/common/core';
import { DEFAULT_REQUEST_RETRY_POLICY, withRequestRetries, type RequestRetryPolicy } from '../transport/request-retry';
import { RegistryHttpError } from '../transport/registry-http-error';
import { discard } from '../transport/body';
import type { ManifestData, RegistryClient } from '../registry-client';
import {
  formatPlatform,
  isForeignLayer,
  parseManifest,
  platformMatches,
  type Descriptor,
  type ParsedManifest,
  type Platform,
} from '../manifest/media-types';
import type { CopyEvent, CopyEventListener } from './events';
import { createLimiter, type Limiter } from './limiter';
import { shareInFlight, trackUpload, uploadInFlight } from './in-flight';
import { DigestVerifier } from './verifier';

export interface CopyEndpoint {
  client: RegistryClient;
  repository: string;
}

/**
 * Blobs one copy transfers at once. A multi-platform image of four platforms has a dozen or more; on a long link each
 * stream is held to one window per round trip, so such an image copies fastest with all of them in flight. Each
 * stream holds a few socket and stream buffers (about 64 KiB each), whatever the blob's size.
 */
export const DEFAULT_BLOB_CONCURRENCY = 16;

export interface CopyImageOptions {
  /** Where to read: a tag or a digest in a repository. */
  source: CopyEndpoint & { reference: string };
  /** Where to write; with a tag the tag is moved last, without one the image is stored by digest. */
  destination: CopyEndpoint & { tag?: string };
  /** Platforms to keep from an index (all when absent). Picking platforms changes the index digest. */
  platforms?: Platform[];
  /** Copy signatures, attestations and other referrers after their subject (default true). */
  referrers?: boolean;
  /**
   * Copy foreign and non-distributable layers (Windows base layers) when the source has them. By default they are
   * not fetched: the manifest is copied as it is and points at their URLs, as at the source.
   */
  includeForeignLayers?: boolean;
  /** Blob transfers at once (default `DEFAULT_BLOB_CONCURRENCY`). */
  concurrency?: number;
  retry?: RequestRetryPolicy;
  onEvent?: CopyEventListener;
  /**
   * Called after everything but the tag is at the destination, just before
   * the tag moves; throwing aborts the copy with the tag untouched (the
   * worker re-checks the source tag here).
   */
  beforeTag?: (digest: string) => Promise<void>;
  /**
   * Called immediately before each destination tag write (the image's tag, and
   * the referrer tags copied after it); throwing aborts with that tag
   * untouched, and the signal it returns bounds the write in time (the
   * worker proves its lease here: fencing).
   */
  beforeTagWrite?: (write: TagWrite) => Promise<AbortSignal | undefined>;
  /**
   * Called right before a blob's transfer starts (after the destination was asked whether it has it, when it is asked
   * first); throwing stops the copy before that blob's first byte: the transfers already under way finish, no other
   * starts, and the copy fails with that error (the copy Lambda hands the job over here when its time runs low).
   */
  beforeBlob?: (blob: { digest: string; size: number }) => void;
}

/** A destination tag about to be written. */
export interface TagWrite {
  tag: string;
  digest: string;
  /** A referrer's tag (a signature, an attestation, the referrers index tag), not the image's own. */
  referrer: boolean;
}

export interface CopyResult {
  /** Digest of the image at the destination (differs from the source's only when platforms were picked). */
  digest: string;
  sourceDigest: string;
  mediaType: string;
  /** Platforms of the copied index (empty for a single image). */
  platforms: string[];
  /** True when the destination tag already pointed at the digest: nothing but referrers was checked. */
  upToDate: boolean;
  manifests: { copied: number; skipped: number };
  blobs: { copied: number; skipped: number; mounted: number };
  bytes: { copied: number; skipped: number };
  referrers: number;
  seconds: number;
}

/**
 * A manifest the destination lacks, with what it needs first: an image its
 * blobs, an index the children the destination lacks.
 */
interface PlannedManifest {
  data: ManifestData;
  parsed: ParsedManifest;
  blobs: Descriptor[];
  children: PlannedManifest[];
}

/** Referrers found at the source: descriptors (API or index tag) and tagged manifests. */
interface FoundReferrers {
  descriptors: Descriptor[];
  tagged: Array<{ tag: string; digest: string }>;
}

const COSIGN_SUFFIXES = ['sig', 'att', 'sbom'] as const;

/**
 * How deep referrers are followed: a signature (1) of an SBOM (2) of a child of an index, and a little more.
 * Each level is looked up at once; a digest is looked up once whatever the number of paths to it (cycle-safe).
 */
export const MAX_REFERRER_DEPTH = 4;
/** Most referrers one copy follows (a hostile source cannot make it walk forever). */
export const MAX_REFERRERS = 1_000;
/**
 * How deep indexes may nest under the root (an index of indexes is 1; real images use at most that): a chain of
 * indexes from a hostile source fails at once instead of being walked one request at a time.
 */
export const MAX_INDEX_DEPTH = 8;

/** Registry answers to a manifest PUT that a concurrent write of the same content can cause: re-check, retry. */
const RACE_CODES = ['DIGEST_INVALID', 'BLOB_UNKNOWN', 'MANIFEST_BLOB_UNKNOWN'];
const MANIFEST_PUT_TRIES = 4;

function summarizePlatforms(parsed: ParsedManifest): string[] {
  return parsed.kind === 'index'
    ? parsed.children.filter((c) => c.platform).map((c) => formatPlatform(c.platform as Platform))
    : [];
}

/**
 * Like Promise.all, but the error is the earliest one in the list, not the first to arrive: asked at once, the
 * source's answer (no such image) outranks the destination's (no credentials) whatever the timing. A failure is
 * thrown as soon as everything before it in the list has succeeded; nothing after it is waited for.
 */
async function allInOrder<A, B, C>(a: Promise<A>, b: Promise<B>, c: Promise<C>): Promise<[A, B, C]> {
  for (const promise of [a, b, c]) promise.catch(() => undefined);
  return [await a, await b, await c];
}

/**
 * Copies one image — a single manifest or an index with every child — with
 * its blobs and referrers, from one registry to another. Manifests travel as
 * their exact bytes, so digests are equal at both ends; blobs are streamed
 * through a digest check; what the destination has is skipped.
 */
export async function copyImage(options: CopyImageOptions): Promise<CopyResult> {
  return new ImageCopy(options).run();
}

class ImageCopy {
  private readonly src: CopyEndpoint;
  private readonly dst: CopyEndpoint;
  private readonly blobLimit: Limiter;
  private readonly manifestLimit: Limiter;
  private readonly retry: RequestRetryPolicy;
  private readonly emit: CopyEventListener;
  private readonly blobCopies = new Map<string, Promise<void>>();
  /** Events held back while the plan is made, so that a listener sees the plan before them. */
  private held: CopyEvent[] | undefined;
  /**
   * What the destination's repository holds before this copy wrote to it:
   * - 'absent' only on an answer that proves it (a manifest request answered NAME_UNKNOWN, as ECR does): no blob or
   *   manifest can be there, so none is asked for;
   * - 'untagged' when it lists no tags (distribution answers NAME_UNKNOWN to a tag listing then, but the repository
   *   may still hold blobs and untagged manifests): each blob is asked for while its transfer starts, and the
   *   transfer is abandoned before any byte is sent when the destination has it;
   * - 'known' otherwise: each blob is asked for before its transfer.
   */
  private destination: 'absent' | 'untagged' | 'known' = 'known';
  /** The source repository's tags, listed once (see sourceTags). */
  private sourceTagList: Promise<Set<string> | undefined> | undefined;
  /** Manifests under the root planned by digest: a child listed many times, or by many indexes, is read once. */
  private readonly planned = new Map<string, Promise<PlannedManifest | undefined>>();
  /** Child manifests stored (or being stored) by digest: each is sent once per copy. */
  private readonly stored = new Map<string, Promise<void>>();
  /** The first blob copy that failed (every blob failure fails the copy). */
  private blobFailure: unknown;
  /** Foreign layers seen, reported once each. */
  private readonly foreignSeen = new Set<string>();
  private readonly stats = {
    manifests: { copied: 0, skipped: 0 },
    blobs: { copied: 0, skipped: 0, mounted: 0 },
    bytes: { copied: 0, skipped: 0 },
    referrers: 0,
  };

  constructor(private readonly options: CopyImageOptions) {
    this.src = options.source;
    this.dst = options.destination;
    const concurrency = options.concurrency ?? DEFAULT_BLOB_CONCURRENCY;
    this.blobLimit = createLimiter(concurrency);
    this.manifestLimit = createLimiter(Math.max(4, concurrency));
    this.retry = options.retry ?? DEFAULT_REQUEST_RETRY_POLICY;
    const listener = options.onEvent ?? (() => undefined);
    this.emit = (event) => {
      if (this.held) this.held.push(event);
      else listener(event);
    };
  }

  async run(): Promise<CopyResult> {
    const started = performance.now();
    const { reference } = this.options.source;
    const tag = this.options.destination.tag;

    // The source's root and, at once, what the destination holds at the tag (or, for a copy by digest, at the
    // digest) and whether the destination lists tags in the repository.
    const atReference = tag ?? (isDigest(reference) ? reference : undefined);
    const [sourceRoot, atTag, repositoryKnown] = await allInOrder(
      this.src.client.getManifest(this.src.repository, reference),
      atReference === undefined
        ? Promise.resolve(undefined)
        : this.dst.client.lookupManifest(this.dst.repository, atReference),
      this.dst.client.repositoryKnown(this.dst.repository),
    );
    if (atTag !== undefined && 'absent' in atTag && !atTag.repositoryKnown) this.destination = 'absent';
    else if (!repositoryKnown) this.destination = 'untagged';
    const root = this.selectPlatforms(sourceRoot);
    const parsedRoot = this.parse(root, `${this.src.repository}@${root.digest}`);
    const upToDate = atTag !== undefined && !('absent' in atTag) && atTag.digest === root.digest;

    // Referrers (of the root, of each child of an index, and of referrers in turn) are looked up at the source
    // while the image copies, and copied after it.
    const wantReferrers = (this.options.referrers ?? true) && root.digest === sourceRoot.digest;
    // Each subject once: an index may list a child many times.
    const subjects = [
      ...new Set([sourceRoot.digest, ...(parsedRoot.kind === 'index' ? parsedRoot.children.map((c) => c.digest) : [])]),
    ];
    const referrers = wantReferrers ? this.findReferrerTree(subjects) : undefined;
    referrers?.catch(() => undefined);
    try {
      if (upToDate) {
        this.stats.manifests.skipped += 1;
        this.emit({
          type: 'manifest',
          digest: root.digest,
          mediaType: root.mediaType,
          reference: tag ?? root.digest,
          action: 'skipped',
        });
      } else {
        await this.copyRoot(root, parsedRoot, tag);
      }
    } finally {
      // Nothing this copy started keeps running after it returns, even when it failed.
      await Promise.allSettled([...this.blobCopies.values(), referrers]);
    }
    if (referrers) for (const level of await referrers) await this.copyReferrers(level);

    return {
      digest: root.digest,
      sourceDigest: sourceRoot.digest,
      mediaType: root.mediaType,
      platforms: summarizePlatforms(parsedRoot),
      upToDate,
      ...this.stats,
      seconds: (performance.now() - started) / 1000,
    };
  }

  /** Keeps only the requested platforms of an index; the new index has a new digest. */
  private selectPlatforms(root: ManifestData): ManifestData {
    const wanted = this.options.platforms;
    if (wanted === undefined || wanted.length === 0) return root;
    const parsed = this.parse(root, `${this.src.repository}@${root.digest}`);
    if (parsed.kind !== 'index') {
      this.emit({
        type: 'warning',
        message: `${this.src.repository}:${this.options.source.reference} is a single-platform image; --platform is ignored`,
      });
      return root;
    }
    const kept = parsed.children.filter((child) => wanted.some((w) => platformMatches(child.platform, w)));
    const missing = wanted.filter((w) => !parsed.children.some((c) => platformMatches(c.platform, w)));
    if (missing.length > 0) {
      const available = summarizePlatforms(parsed).join(', ') || 'none';
      throw new ReplicationError(
        ErrorCode.NotFound,
        `platform ${missing.map(formatPlatform).join(', ')} not in the source index (it has: ${available})`,
        {},
      );
    }
    if (kept.length === parsed.children.length) return root;
    const bytes = Buffer.from(JSON.stringify({ ...parsed.raw, manifests: kept }));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    this.emit({
      type: 'warning',
      message: `picking ${kept.length} of ${parsed.children.length} platforms writes a new index: its digest ${digest} differs from the source's ${root.digest}, and the source's referrers are not copied`,
    });
    return { bytes, digest, mediaType: root.mediaType };
  }

  /**
   * Plans the tree under the root (announcing it before any other event),
   * stores it, and points the tag at it last. Blobs start copying as soon as
   * their manifest is read, while the rest of the tree is still being read.
   */
  private async copyRoot(root: ManifestData, parsed: ParsedManifest, tag: string | undefined): Promise<void> {
    const held: CopyEvent[] = [];
    this.held = held;
    let plan: PlannedManifest | undefined;
    try {
      plan = await this.plan(root, parsed);
    } finally {
      this.held = undefined;
      if (plan) {
        const blobs = new Map<string, Descriptor>();
        const visited = new Set<PlannedManifest>();
        const collect = (node: PlannedManifest): void => {
          // The plan is a graph: a manifest listed by several indexes is one node, visited once.
          if (visited.has(node)) return;
          visited.add(node);
          for (const blob of node.blobs) blobs.set(blob.digest, blob);
          node.children.forEach(collect);
        };
        collect(plan);
        this.emit({
          type: 'plan',
          digest: root.digest,
          mediaType: root.mediaType,
          platforms: summarizePlatforms(parsed),
          blobs: blobs.size,
          bytes: [...blobs.values()].reduce((sum, b) => sum + b.size, 0),
        });
      }
      for (const event of held) this.emit(event);
    }
    await this.storeDependencies(plan);
    if (tag === undefined) {
      await this.putManifest(root, root.digest);
      return;
    }
    if (this.options.beforeTag) {
      await this.putManifest(root, root.digest);
      await this.options.beforeTag(root.digest);
    }
    await this.putTag(root, tag);
  }

  /**
   * Reads the manifests under `data` that the destination lacks (an index's
   * children at once, each read while the destination is asked whether it
   * has it) and starts copying each image's blobs as soon as it is read.
   */
  private async plan(data: ManifestData, parsed: ParsedManifest, depth = 0): Promise<PlannedManifest> {
    if (parsed.kind !== 'index') {
      const blobs = await this.blobsToCopy(parsed.blobs);
      for (const blob of blobs) this.copyBlob(blob).catch(() => undefined);
      return { data, parsed, blobs, children: [] };
    }
    if (depth >= MAX_INDEX_DEPTH) {
      throw new ReplicationError(
        ErrorCode.RegistryProtocol,
        `manifest ${this.src.repository}@${data.digest}: indexes nest more than ${MAX_INDEX_DEPTH} deep under ${this.src.repository}:${this.options.source.reference}; not copied`,
        { details: { digest: data.digest, limit: MAX_INDEX_DEPTH } },
      );
    }
    // Each child once, however many times the index (or other indexes of the tree) lists it.
    const unique = [...new Map(parsed.children.map((child) => [child.digest, child])).values()];
    const children = await Promise.all(unique.map((child) => this.planChild(child, depth + 1)));
    return { data, parsed, blobs: [], children: children.filter((c): c is PlannedManifest => c !== undefined) };
  }

  /** Plans a child of an index once per copy (undefined when the destination has it). */
  private planChild(child: Descriptor, depth: number): Promise<PlannedManifest | undefined> {
    let pending = this.planned.get(child.digest);
    if (pending === undefined) {
      pending = (async () => {
        // The limiter covers the requests only: a nested index plans its own children outside it.
        const read = await this.manifestLimit(() => this.readChild(child));
        return read && this.plan(read, this.parse(read, `${this.src.repository}@${read.digest}`), depth);
      })();
      this.planned.set(child.digest, pending);
    }
    return pending;
  }

  /** Parses a manifest read from the source, naming it in any error. */
  private parse(data: ManifestData, name: string): ParsedManifest {
    return parseManifest(data.bytes, data.mediaType, name);
  }

  /**
   * The blobs of an image to copy: all but foreign layers, which are copied only when asked and the source has
   * them. A foreign layer left out is reported once; the manifest still names it (with its URLs), as at the source.
   */
  private async blobsToCopy(blobs: Descriptor[]): Promise<Descriptor[]> {
    const kept: Descriptor[] = [];
    await Promise.all(
      blobs.map(async (blob) => {
        if (!isForeignLayer(blob)) {
          kept.push(blob);
          return;
        }
        const fetch =
          this.options.includeForeignLayers === true &&
          (await this.src.client.blobExists(this.src.repository, blob.digest));
        if (fetch) {
          kept.push(blob);
          return;
        }
        if (this.foreignSeen.has(blob.digest)) return;
        this.foreignSeen.add(blob.digest);
        this.emit({
          type: 'warning',
          message:
            this.options.includeForeignLayers === true
              ? `foreign layer ${blob.digest} is not at the source; the manifest is copied as is and points at its URLs`
              : `foreign layer ${blob.digest} (${blob.mediaType}) not copied; the manifest is copied as is and points at its URLs (--include-foreign-layers copies it)`,
        });
      }),
    );
    // Keep the manifest's order (the plan's totals and the events follow it).
    return blobs.filter((b) => kept.includes(b));
  }

  /** An index's child from the source, or undefined when the destination has it (both asked at once). */
  private async readChild(child: Descriptor): Promise<ManifestData | undefined> {
    const [present, fetched] = await Promise.allSettled([
      this.destination !== 'absent'
        ? this.dst.client.headManifest(this.dst.repository, child.digest)
        : Promise.resolve(undefined),
      this.src.client.getManifest(this.src.repository, child.digest),
    ]);
    if (present.status === 'rejected') throw present.reason;
    if (present.value) {
      this.stats.manifests.skipped += 1;
      this.emit({
        type: 'manifest',
        digest: child.digest,
        mediaType: child.mediaType,
        reference: child.digest,
        action: 'skipped',
      });
      return undefined;
    }
    if (fetched.status === 'rejected') throw fetched.reason;
    return fetched.value;
  }

  /** Copies what a manifest needs: its blobs, or its children (each stored as soon as it is complete). */
  private async storeDependencies(node: PlannedManifest): Promise<void> {
    await Promise.all([
      ...node.blobs.map((blob) => this.copyBlob(blob)),
      ...node.children.map((c) => this.storeChild(c)),
    ]);
  }

  /** Stores a child manifest after what it needs, once per copy whatever number of indexes list it. */
  private storeChild(child: PlannedManifest): Promise<void> {
    let pending = this.stored.get(child.data.digest);
    if (pending === undefined) {
      pending = (async () => {
        await this.storeDependencies(child);
        await this.manifestLimit(() => this.putManifest(child.data, child.data.digest));
      })();
      this.stored.set(child.data.digest, pending);
    }
    return pending;
  }

  private async putManifest(data: ManifestData, reference: string, signal?: AbortSignal): Promise<void> {
    const { client, repository } = this.dst;
    if (reference === data.digest) {
      await shareInFlight(client, `manifest ${repository}@${data.digest}`, () => this.putRacing(data, reference));
    } else {
      await this.putRacing(data, reference, signal);
    }
    this.stats.manifests.copied += 1;
    this.emit({ type: 'manifest', digest: data.digest, mediaType: data.mediaType, reference, action: 'copied' });
  }

  /**
   * Stores a manifest; a refusal a concurrent writer of the same content can cause (DIGEST_INVALID, BLOB_UNKNOWN)
   * is answered by checking what the manifest needs again — copying what is missing — and storing it again.
   */
  private async putRacing(data: ManifestData, reference: string, signal?: AbortSignal): Promise<void> {
    const { client, repository } = this.dst;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await client.putManifest(repository, reference, data, signal === undefined ? {} : { signal });
        return;
      } catch (error) {
        const race = error instanceof RegistryHttpError && RACE_CODES.some((code) => error.has(code));
        if (!race || attempt >= MANIFEST_PUT_TRIES) throw error;
        this.emit({
          type: 'retry',
          what: `PUT manifest ${repository}:${reference}`,
          attempt,
          delayMs: 0,
          message: safeText(error.message),
        });
        await this.recheckDependencies(data);
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt * Math.random() + 50));
      }
    }
  }

  /** Makes sure the destination has what a manifest refers to: its blobs, or its children. */
  private async recheckDependencies(data: ManifestData): Promise<void> {
    const parsed = this.parse(data, `${this.src.repository}@${data.digest}`);
    const { client, repository } = this.dst;
    if (parsed.kind === 'image') {
      const blobs = await this.blobsToCopy(parsed.blobs);
      await Promise.all(
        blobs.map(async (blob) => {
          if (await client.blobExists(repository, blob.digest)) return;
          this.blobCopies.delete(blob.digest);
          await this.copyBlob(blob, true);
        }),
      );
      return;
    }
    await Promise.all(
      parsed.children.map(async (child) => {
        if (await client.headManifest(repository, child.digest)) return;
        const read = await this.src.client.getManifest(this.src.repository, child.digest);
        await this.storeDependencies(await this.plan(read, this.parse(read, `${this.src.repository}@${read.digest}`)));
        await this.putRacing(read, read.digest);
      }),
    );
  }

  /**
   * Points the tag at the manifest. On an immutable repository a tag that
   * already holds the same digest is success; another digest is a conflict.
   */
  private async putTag(data: ManifestData, tag: string, referrer = false): Promise<void> {
    const signal = await this.options.beforeTagWrite?.({ tag, digest: data.digest, referrer });
    try {
      await this.putManifest(data, tag, signal);
    } catch (error) {
      if (!(error instanceof ReplicationError) || error.code !== ErrorCode.ImmutableTagConflict) throw error;
      const current = await this.dst.client.headManifest(this.dst.repository, tag);
      if (current?.digest === data.digest) return;
      throw new ReplicationError(
        ErrorCode.ImmutableTagConflict,
        `tag ${this.dst.repository}:${tag} is immutable at the destination and points at ${current?.digest ?? 'another image'}, not ${data.digest}`,
        { details: { tag, destinationDigest: current?.digest, sourceDigest: data.digest } },
      );
    }
  }

  /** Copies one blob once per run, whatever number of manifests share it. */
  private copyBlob(blob: Descriptor, recheck = false): Promise<void> {
    let pending = this.blobCopies.get(blob.digest);
    if (pending === undefined) {
      pending = this.blobLimit(() => {
        // A blob that failed fails the copy: the blobs still waiting for a slot are not started (a manifest naming
        // thousands of blobs the source lacks fails at once, not after asking for each).
        if (this.blobFailure !== undefined) return Promise.reject(this.blobFailure);
        return this.transferBlob(blob, recheck);
      });
      pending.catch((error: unknown) => {
        this.blobFailure ??= error;
      });
      this.blobCopies.set(blob.digest, pending);
    }
    return pending;
  }

  private skipped(blob: Descriptor): void {
    this.stats.blobs.skipped += 1;
    this.stats.bytes.skipped += blob.size;
    this.emit({ type: 'blob', digest: blob.digest, size: blob.size, action: 'skipped' });
  }

  private async transferBlob(blob: Descriptor, recheck: boolean): Promise<void> {
    const { client: dst, repository: dstRepo } = this.dst;
    // A repository with tags is asked first; one without is asked while the transfer starts (streamBlob).
    if (this.destination === 'known' && !recheck && (await dst.blobExists(dstRepo, blob.digest))) {
      this.skipped(blob);
      return;
    }
    this.options.beforeBlob?.({ digest: blob.digest, size: blob.size });
    const ask = this.destination === 'untagged' && !recheck;
    // A copy into another repository of this registry may be uploading the blob right now: wait, then mount it.
    const elsewhere = uploadInFlight(dst, blob.digest);
    if (elsewhere !== undefined) await elsewhere.catch(() => undefined);
    // Another copy in this process may be writing the same blob to the same repository: wait for it.
    const action = await shareInFlight(dst, `blob ${dstRepo}@${blob.digest}`, () =>
      trackUpload(
        dst,
        blob.digest,
        withRequestRetries(
          `copy blob ${blob.digest}`,
          this.retry,
          (attempt) => this.streamBlob(blob, ask && attempt === 1),
          (notice) =>
            this.emit({
              type: 'retry',
              what: `copy blob ${blob.digest}`,
              attempt: notice.attempt,
              delayMs: notice.delayMs,
              message: safeText(notice.error.message),
            }),
        ),
      ),
    );
    if (action === 'present') {
      this.skipped(blob);
      return;
    }
    if (action === 'mounted') {
      this.stats.blobs.mounted += 1;
    } else {
      this.stats.blobs.copied += 1;
      this.stats.bytes.copied += blob.size;
    }
    this.emit({ type: 'blob', digest: blob.digest, size: blob.size, action });
  }

  /**
   * Where the destination registry is known to hold the blob in another repository: where this process saw it, or
   * the source's own repository when source and destination are one registry.
   */
  private mountSource(digest: string): string | undefined {
    const { client: dst, repository: dstRepo } = this.dst;
    const seen = dst.blobHome(digest, dstRepo);
    if (seen !== undefined) return seen;
    const sameRegistry = this.src.client === dst || this.src.client.baseUrl === dst.baseUrl;
    return sameRegistry && this.src.repository !== dstRepo ? this.src.repository : undefined;
  }

  /**
   * One attempt: open the source and start the upload together (and, when `ask`, ask the destination whether it
   * has the blob, abandoning both before any byte is sent when it does), stream through the verifier, commit.
   */
  private async streamBlob(blob: Descriptor, ask: boolean): Promise<'copied' | 'mounted' | 'present'> {
    const { client: dst, repository: dstRepo } = this.dst;
    const [present, upload, body] = await Promise.allSettled([
      ask ? dst.blobExists(dstRepo, blob.digest) : Promise.resolve(false),
      dst.startUpload(dstRepo, blob.digest, this.mountSource(blob.digest)),
      this.src.client.openBlob(this.src.repository, blob.digest, blob.size),
    ]);
    // Whenever nothing is to be sent, the body is dropped (with a listener for the error its destruction emits) and
    // the upload abandoned.
    if (upload.status === 'rejected' || body.status === 'rejected') {
      if (body.status === 'fulfilled') discard(body.value);
      if (upload.status === 'fulfilled' && !upload.value.mounted)
        await dst.cancelUpload(dstRepo, upload.value.location);
      throw upload.status === 'rejected' ? upload.reason : (body as PromiseRejectedResult).reason;
    }
    if (upload.value.mounted) {
      discard(body.value);
      return 'mounted';
    }
    if (present.status === 'fulfilled' && present.value) {
      discard(body.value);
      await dst.cancelUpload(dstRepo, upload.value.location);
      return 'present';
    }
    const location = upload.value.location;
    let sent = 0;
    const verifier = new DigestVerifier(blob.digest, blob.size, (count) => {
      sent += count;
      this.emit({ type: 'bytes', count });
    });
    try {
      const [next] = await Promise.all([
        dst.patchUpload(dstRepo, location, verifier, blob.size),
        pipeline(body.value as Readable, verifier).catch((error: unknown) => {
          verifier.destroy(error as Error);
          throw error;
        }),
      ]);
      await dst.finishUpload(dstRepo, next, blob.digest);
      return 'copied';
    } catch (error) {
      discard(body.value);
      if (sent > 0) this.emit({ type: 'bytes', count: -sent });
      await dst.cancelUpload(dstRepo, location);
      throw error;
    }
  }

  // ---- referrers ---------------------------------------------------------

  /**
   * Finds the referrers of the subjects, then the referrers of those, level by level up to
   * {@link MAX_REFERRER_DEPTH}; each digest is looked up once (a cycle ends), and the walk stops at
   * {@link MAX_REFERRERS}. Returns the levels in order: a referrer is copied after its subject.
   */
  private async findReferrerTree(subjects: string[]): Promise<FoundReferrers[]> {
    const levels: FoundReferrers[] = [];
    const visited = new Set<string>(subjects);
    const tags = new Set<string>();
    let count = 0;
    let current = subjects;
    for (let depth = 1; depth <= MAX_REFERRER_DEPTH && current.length > 0; depth += 1) {
      const found = await Promise.all(current.map((subject) => this.findReferrers(subject)));
      const level: FoundReferrers = { descriptors: [], tagged: [] };
      const next: string[] = [];
      const take = (digest: string): boolean => {
        if (visited.has(digest) || count >= MAX_REFERRERS) return false;
        visited.add(digest);
        count += 1;
        next.push(digest);
        return true;
      };
      for (const { descriptors, tagged } of found) {
        for (const d of descriptors) if (take(d.digest)) level.descriptors.push(d);
        for (const t of tagged) {
          if (tags.has(t.tag)) continue;
          tags.add(t.tag);
          // The tag moves even when its manifest came by another path. A cosign tag's manifest may have referrers of
          // its own (looked up once); the referrers index tag's manifest is only a list.
          if (t.tag.includes('.')) take(t.digest);
          level.tagged.push(t);
        }
      }
      levels.push(level);
      if (count >= MAX_REFERRERS) {
        // Bounded: the referrers of the ones taken are not looked up either (each lookup may list thousands more).
        this.emit({
          type: 'warning',
          message: `${MAX_REFERRERS} referrers reached: the rest, and the referrers of those copied, are not copied`,
        });
        break;
      }
      current = next;
    }
    return levels;
  }

  /**
   * The source repository's tags, listed once per copy: the referrers tag scheme (`sha256-<hex>` and cosign's
   * suffixes) is then looked up in it for every subject, instead of probing four tags per subject. Undefined when
   * the source does not list tags (then each subject's tags are probed).
   */
  private sourceTags(): Promise<Set<string> | undefined> {
    this.sourceTagList ??= this.src.client.listTags(this.src.repository).then(
      (tags) => new Set(tags),
      () => undefined,
    );
    return this.sourceTagList;
  }

  /**
   * Finds the subject's referrers at the source: through the referrers API (where the source serves it), the
   * `sha256-<hex>` index tag, and cosign's `.sig`/`.att`/`.sbom` tags.
   */
  private async findReferrers(subject: string): Promise<FoundReferrers> {
    const { client: src, repository: srcRepo } = this.src;
    const indexTag = referrersTagOf(subject);
    const [viaApi, tags] = await Promise.all([src.referrers(srcRepo, subject), this.sourceTags()]);
    const listed = (tag: string): boolean => tags === undefined || tags.has(tag);
    const [indexData, ...cosign] = await Promise.all([
      listed(indexTag) ? src.findManifest(srcRepo, indexTag) : undefined,
      ...COSIGN_SUFFIXES.map((suffix) =>
        listed(`${indexTag}.${suffix}`) ? src.headManifest(srcRepo, `${indexTag}.${suffix}`) : undefined,
      ),
    ]);
    const descriptors = new Map<string, Descriptor>();
    for (const d of viaApi ?? []) descriptors.set(d.digest, d);
    if (indexData) {
      const parsed = this.parse(indexData, `${srcRepo}:${indexTag}`);
      if (parsed.kind === 'index') for (const d of parsed.children) descriptors.set(d.digest, d);
    }
    const tagged: FoundReferrers['tagged'] = [];
    if (indexData) tagged.push({ tag: indexTag, digest: indexData.digest });
    COSIGN_SUFFIXES.forEach((suffix, i) => {
      const head = cosign[i];
      if (head) tagged.push({ tag: `${indexTag}.${suffix}`, digest: head.digest });
    });
    return { descriptors: [...descriptors.values()].filter((d) => isDigest(d.digest)), tagged };
  }

  /** Copies the referrers found, those by digest first, then the tags (the index tag lists them). */
  private async copyReferrers({ descriptors, tagged }: FoundReferrers): Promise<void> {
    await Promise.all(
      descriptors.map(async (d) => {
        await this.copyByDigest(d.digest);
        this.stats.referrers += 1;
        this.emit({ type: 'referrer', digest: d.digest, ...(d.artifactType ? { artifactType: d.artifactType } : {}) });
      }),
    );
    const listed = new Set(descriptors.map((d) => d.digest));
    await Promise.all(
      tagged.map(async ({ tag, digest }) => {
        await this.copyByDigest(digest, tag);
        if (!listed.has(digest)) {
          this.stats.referrers += 1;
          this.emit({ type: 'referrer', digest, tag });
        }
      }),
    );
  }

  /**
   * Copies a manifest tree by digest, and points `tag` at it when given; skips what the destination has. A referrer
   * tag was looked up when the copy began: it is read again at the source right before it is written, and follows
   * the source when it moved meanwhile (a newer signature), so that a slow copy never writes an older one back.
   */
  private async copyByDigest(digest: string, tag?: string): Promise<void> {
    const { client: dst, repository: dstRepo } = this.dst;
    let wanted = digest;
    for (let round = 1; ; round += 1) {
      const present = this.destination !== 'absent' ? await dst.headManifest(dstRepo, tag ?? wanted) : undefined;
      if (present?.digest === wanted) {
        this.stats.manifests.skipped += 1;
        return;
      }
      const data = await this.src.client.getManifest(this.src.repository, wanted);
      const plan = await this.plan(data, this.parse(data, `${this.src.repository}@${data.digest}`));
      await this.storeDependencies(plan);
      await this.putManifest(data, wanted);
      if (tag === undefined) return;
      const atSource = await this.src.client.headManifest(this.src.repository, tag);
      // Removed at the source meanwhile: the delete's own job removes it.
      if (atSource === undefined) return;
      if (atSource.digest === wanted) {
        await this.putTag(data, tag, true);
        return;
      }
      if (round >= 3) {
        throw new ReplicationError(
          ErrorCode.SourceChanged,
          `${this.src.repository}:${tag} kept moving while its subject was copied`,
        );
      }
      this.emit({ type: 'warning', message: `${tag} moved at the source during the copy: copying ${atSource.digest}` });
      wanted = atSource.digest;
    }
  }
}
