import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { ErrorCode, ReplicationError, isDigest, referrersTagOf } from '@ecr-replicate/common/core';
import { DEFAULT_REQUEST_RETRY_POLICY, withRequestRetries, type RequestRetryPolicy } from '../transport/request-retry';
import type { ManifestData, RegistryClient } from '../registry-client';
import {
  formatPlatform,
  parseManifest,
  platformMatches,
  type Descriptor,
  type ParsedManifest,
  type Platform,
} from '../manifest/media-types';
import type { CopyEvent, CopyEventListener } from './events';
import { createLimiter, type Limiter } from './limiter';
import { shareInFlight } from './in-flight';
import { DigestVerifier } from './verifier';

export interface CopyEndpoint {
  client: RegistryClient;
  repository: string;
}

export interface CopyImageOptions {
  /** Where to read: a tag or a digest in a repository. */
  source: CopyEndpoint & { reference: string };
  /** Where to write; with a tag the tag is moved last, without one the image is stored by digest. */
  destination: CopyEndpoint & { tag?: string };
  /** Platforms to keep from an index (all when absent). Picking platforms changes the index digest. */
  platforms?: Platform[];
  /** Copy signatures, attestations and other referrers after their subject (default true). */
  referrers?: boolean;
  /** Blob transfers at once (default 8). */
  concurrency?: number;
  retry?: RequestRetryPolicy;
  onEvent?: CopyEventListener;
  /**
   * Called after everything but the tag is at the destination, just before
   * the tag moves; throwing aborts the copy with the tag untouched (the
   * worker re-checks the source tag here).
   */
  beforeTag?: (digest: string) => Promise<void>;
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

function summarizePlatforms(parsed: ParsedManifest): string[] {
  return parsed.kind === 'index'
    ? parsed.children.filter((c) => c.platform).map((c) => formatPlatform(c.platform as Platform))
    : [];
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
   * False when the destination said it does not know the repository (before
   * this copy wrote to it): no blob or manifest can be there, so none is asked for.
   */
  private destinationRepositoryKnown = true;
  private readonly stats = {
    manifests: { copied: 0, skipped: 0 },
    blobs: { copied: 0, skipped: 0, mounted: 0 },
    bytes: { copied: 0, skipped: 0 },
    referrers: 0,
  };

  constructor(private readonly options: CopyImageOptions) {
    this.src = options.source;
    this.dst = options.destination;
    const concurrency = options.concurrency ?? 8;
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

    // The source's root and, at once, what the destination tag holds now and whether the destination knows the
    // repository.
    const [sourceRoot, atTag, repositoryKnown] = await Promise.all([
      this.src.client.getManifest(this.src.repository, reference),
      tag === undefined ? Promise.resolve(undefined) : this.dst.client.lookupManifest(this.dst.repository, tag),
      this.dst.client.repositoryKnown(this.dst.repository),
    ]);
    this.destinationRepositoryKnown =
      repositoryKnown && !(atTag !== undefined && 'absent' in atTag && !atTag.repositoryKnown);
    const root = this.selectPlatforms(sourceRoot);
    const parsedRoot = parseManifest(root.bytes, root.mediaType);
    const upToDate = atTag !== undefined && !('absent' in atTag) && atTag.digest === root.digest;

    // Referrers are looked up at the source while the image copies, and copied after it.
    const wantReferrers = (this.options.referrers ?? true) && root.digest === sourceRoot.digest;
    const referrers = wantReferrers ? this.findReferrers(sourceRoot.digest) : undefined;
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
    if (referrers) await this.copyReferrers(await referrers);

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
    const parsed = parseManifest(root.bytes, root.mediaType);
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
        const collect = (node: PlannedManifest): void => {
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
  private async plan(data: ManifestData, parsed: ParsedManifest): Promise<PlannedManifest> {
    if (parsed.kind !== 'index') {
      for (const blob of parsed.blobs) this.copyBlob(blob).catch(() => undefined);
      return { data, parsed, blobs: parsed.blobs, children: [] };
    }
    const children = await Promise.all(
      parsed.children.map(async (child) => {
        // The limiter covers the requests only: a nested index plans its own children outside it.
        const read = await this.manifestLimit(() => this.readChild(child));
        return read && this.plan(read, parseManifest(read.bytes, read.mediaType));
      }),
    );
    return { data, parsed, blobs: [], children: children.filter((c): c is PlannedManifest => c !== undefined) };
  }

  /** An index's child from the source, or undefined when the destination has it (both asked at once). */
  private async readChild(child: Descriptor): Promise<ManifestData | undefined> {
    const [present, fetched] = await Promise.allSettled([
      this.destinationRepositoryKnown
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
      ...node.children.map(async (child) => {
        await this.storeDependencies(child);
        await this.manifestLimit(() => this.putManifest(child.data, child.data.digest));
      }),
    ]);
  }

  private async putManifest(data: ManifestData, reference: string): Promise<void> {
    const { client, repository } = this.dst;
    if (reference === data.digest) {
      await shareInFlight(client, `manifest ${repository}@${data.digest}`, () =>
        client.putManifest(repository, reference, data),
      );
    } else {
      await client.putManifest(repository, reference, data);
    }
    this.stats.manifests.copied += 1;
    this.emit({ type: 'manifest', digest: data.digest, mediaType: data.mediaType, reference, action: 'copied' });
  }

  /**
   * Points the tag at the manifest. On an immutable repository a tag that
   * already holds the same digest is success; another digest is a conflict.
   */
  private async putTag(data: ManifestData, tag: string): Promise<void> {
    try {
      await this.putManifest(data, tag);
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
  private copyBlob(blob: Descriptor): Promise<void> {
    let pending = this.blobCopies.get(blob.digest);
    if (pending === undefined) {
      pending = this.blobLimit(() => this.transferBlob(blob));
      this.blobCopies.set(blob.digest, pending);
    }
    return pending;
  }

  private async transferBlob(blob: Descriptor): Promise<void> {
    const { client: dst, repository: dstRepo } = this.dst;
    if (this.destinationRepositoryKnown && (await dst.blobExists(dstRepo, blob.digest))) {
      this.stats.blobs.skipped += 1;
      this.stats.bytes.skipped += blob.size;
      this.emit({ type: 'blob', digest: blob.digest, size: blob.size, action: 'skipped' });
      return;
    }
    // Another copy in this process may be writing the same blob to the same repository: wait for it.
    const action = await shareInFlight(dst, `blob ${dstRepo}@${blob.digest}`, () =>
      withRequestRetries(
        `copy blob ${blob.digest}`,
        this.retry,
        () => this.streamBlob(blob),
        (notice) =>
          this.emit({
            type: 'retry',
            what: `copy blob ${blob.digest}`,
            attempt: notice.attempt,
            delayMs: notice.delayMs,
            message: notice.error.message,
          }),
      ),
    );
    if (action === 'mounted') {
      this.stats.blobs.mounted += 1;
    } else {
      this.stats.blobs.copied += 1;
      this.stats.bytes.copied += blob.size;
    }
    this.emit({ type: 'blob', digest: blob.digest, size: blob.size, action });
  }

  /** One attempt: open the source and start the upload together, stream through the verifier, commit. */
  private async streamBlob(blob: Descriptor): Promise<'copied' | 'mounted'> {
    const { client: dst, repository: dstRepo } = this.dst;
    const [upload, body] = await Promise.allSettled([
      dst.startUpload(dstRepo, blob.digest),
      this.src.client.openBlob(this.src.repository, blob.digest),
    ]);
    if (upload.status === 'rejected' || body.status === 'rejected') {
      if (body.status === 'fulfilled') body.value.destroy();
      if (upload.status === 'fulfilled' && !upload.value.mounted)
        await dst.cancelUpload(dstRepo, upload.value.location);
      throw upload.status === 'rejected' ? upload.reason : (body as PromiseRejectedResult).reason;
    }
    if (upload.value.mounted) {
      body.value.destroy();
      return 'mounted';
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
      body.value.destroy();
      if (sent > 0) this.emit({ type: 'bytes', count: -sent });
      await dst.cancelUpload(dstRepo, location);
      throw error;
    }
  }

  // ---- referrers ---------------------------------------------------------

  /**
   * Finds the subject's referrers at the source: through the referrers API,
   * the `sha256-<hex>` index tag, and cosign's `.sig`/`.att`/`.sbom` tags,
   * all asked at once.
   */
  private async findReferrers(subject: string): Promise<FoundReferrers> {
    const { client: src, repository: srcRepo } = this.src;
    const indexTag = referrersTagOf(subject);
    const [viaApi, indexData, ...cosign] = await Promise.all([
      src.referrers(srcRepo, subject),
      src.findManifest(srcRepo, indexTag),
      ...COSIGN_SUFFIXES.map((suffix) => src.headManifest(srcRepo, `${indexTag}.${suffix}`)),
    ]);
    const descriptors = new Map<string, Descriptor>();
    for (const d of viaApi ?? []) descriptors.set(d.digest, d);
    if (indexData) {
      const parsed = parseManifest(indexData.bytes, indexData.mediaType);
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

  /** Copies a manifest tree by digest, and points `tag` at it when given; skips what the destination has. */
  private async copyByDigest(digest: string, tag?: string): Promise<void> {
    const { client: dst, repository: dstRepo } = this.dst;
    const present = this.destinationRepositoryKnown ? await dst.headManifest(dstRepo, tag ?? digest) : undefined;
    if (present?.digest === digest) {
      this.stats.manifests.skipped += 1;
      return;
    }
    const data = await this.src.client.getManifest(this.src.repository, digest);
    const plan = await this.plan(data, parseManifest(data.bytes, data.mediaType));
    await this.storeDependencies(plan);
    if (tag === undefined) await this.putManifest(data, digest);
    else await this.putTag(data, tag);
  }
}
