/**
 * Synthetic container images built in memory: OCI indexes, Docker manifest lists,
 * single-platform Docker images, cosign-style signatures and OCI 1.1 artifacts.
 * Everything is deterministic from a seed string. Manifests are pretty-printed (3-space
 * indent, like Docker) so that a copier that re-serializes them changes their digests.
 */
import { Readable } from 'node:stream';
import { seededBytes, sha256Digest } from './deterministic';

/** Media types the harness produces. */
export const MediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  cosignSimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
} as const;

/** The OCI empty JSON blob `{}` and its well-known digest. */
export const EMPTY_JSON = Buffer.from('{}');
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

/** The annotation cosign puts the signature in. */
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

/** What every blob has, whether held in memory or streamed. */
export interface BlobInfo {
  digest: string;
  size: number;
  mediaType: string;
}

/** A small blob held in memory. */
export interface BytesBlob extends BlobInfo {
  bytes: Buffer;
  stream?: undefined;
}

/** A large blob that is never held in memory: `stream()` regenerates its content each call. */
export interface StreamedBlob extends BlobInfo {
  bytes?: undefined;
  stream(): Readable;
}

/** A blob of a synthetic image; narrow on `bytes` or use `openBlob`. */
export type Blob = BytesBlob | StreamedBlob;

/** A manifest (image manifest or index) with its exact bytes. */
export interface ManifestDoc {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** An image: the manifest to tag, every manifest (children first, root last) and the unique blobs. */
export interface SyntheticImage<B extends Blob = Blob> {
  root: ManifestDoc;
  manifests: ManifestDoc[];
  blobs: B[];
}

/** A platform of a multi-platform image. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Manifest flavour: OCI or Docker media types. */
export type ImageFormat = 'oci' | 'docker';

/** An OCI descriptor as written into manifests. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** A fixed timestamp so that configs are reproducible. */
const CREATED = '2024-01-01T00:00:00Z';

/** A readable stream of a blob's content, whichever kind it is. */
export function openBlob(blob: Blob): Readable {
  return blob.bytes !== undefined ? Readable.from([blob.bytes]) : blob.stream();
}

/** A blob held in memory. */
export function bytesBlob(mediaType: string, bytes: Buffer): BytesBlob {
  return { digest: sha256Digest(bytes), size: bytes.length, mediaType, bytes };
}

/** A manifest document from a JSON value; `indent` 3 mimics Docker, 0 gives compact JSON. */
export function manifestDoc(mediaType: string, value: unknown, indent = 3): ManifestDoc {
  const bytes = Buffer.from(JSON.stringify(value, null, indent || undefined));
  return { digest: sha256Digest(bytes), mediaType, bytes };
}

/** The descriptor of a blob or manifest. */
export function descriptorOf(item: BlobInfo | ManifestDoc, extra: Partial<Descriptor> = {}): Descriptor {
  const size = 'size' in item ? item.size : item.bytes.length;
  return { mediaType: item.mediaType, digest: item.digest, size, ...extra };
}

/** The tag scheme for things about a manifest: `sha256-<hex>` plus an optional suffix (`sig`, `att`, `sbom`). */
export function digestTag(digest: string, suffix?: string): string {
  const tag = digest.replace(':', '-');
  return suffix ? `${tag}.${suffix}` : tag;
}

/** Media types of one format. */
function typesOf(format: ImageFormat): { index: string; manifest: string; config: string; layer: string } {
  return format === 'oci'
    ? {
        index: MediaTypes.ociIndex,
        manifest: MediaTypes.ociManifest,
        config: MediaTypes.ociConfig,
        layer: MediaTypes.ociLayerGzip,
      }
    : {
        index: MediaTypes.dockerManifestList,
        manifest: MediaTypes.dockerManifest,
        config: MediaTypes.dockerConfig,
        layer: MediaTypes.dockerLayerGzip,
      };
}

/** A platform written `os/arch[/variant]`. */
export function platformName(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** A container image config for a platform and its layers (diff_ids are the layer digests: nothing unpacks them). */
export function imageConfig(format: ImageFormat, platform: Platform, layers: BlobInfo[], seed: string): BytesBlob {
  const config = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created: CREATED,
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Labels: { 'harness.seed': seed },
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    history: layers.map((_, i) => ({ created: CREATED, created_by: `harness layer ${i}` })),
  };
  return bytesBlob(typesOf(format).config, Buffer.from(JSON.stringify(config)));
}

/** An image manifest referencing a config and layers. */
export function imageManifest(format: ImageFormat, config: BlobInfo, layers: BlobInfo[]): ManifestDoc {
  const types = typesOf(format);
  return manifestDoc(types.manifest, {
    schemaVersion: 2,
    mediaType: types.manifest,
    config: descriptorOf(config),
    layers: layers.map((l) => descriptorOf(l)),
  });
}

/** An index (OCI image index or Docker manifest list) of platform manifests. */
export function indexManifest(
  format: ImageFormat,
  entries: Array<{ manifest: ManifestDoc; platform: Platform }>,
): ManifestDoc {
  const types = typesOf(format);
  return manifestDoc(types.index, {
    schemaVersion: 2,
    mediaType: types.index,
    manifests: entries.map((e) => descriptorOf(e.manifest, { platform: e.platform })),
  });
}

/** Unique blobs by digest, first occurrence kept. */
export function uniqueBlobs<B extends BlobInfo>(blobs: B[]): B[] {
  const seen = new Map<string, B>();
  for (const b of blobs) if (!seen.has(b.digest)) seen.set(b.digest, b);
  return [...seen.values()];
}

/** Options of the multi-platform builders. */
export interface MultiPlatformOptions {
  platforms: Platform[];
  /** Bytes of the base layer every platform shares. */
  sharedBaseSize?: number;
  /** Bytes of each platform's own layer. */
  layerSize?: number;
  seed: string;
}

/** A multi-platform image whose platform manifests share one base layer and each have their own layer and config. */
export function multiPlatformImage(format: ImageFormat, options: MultiPlatformOptions): SyntheticImage<BytesBlob> {
  const { platforms, seed } = options;
  if (platforms.length === 0) throw new Error('multiPlatformImage needs at least one platform');
  const types = typesOf(format);
  const base = bytesBlob(types.layer, seededBytes(`${seed}/base`, options.sharedBaseSize ?? 64 * 1024));
  const blobs: BytesBlob[] = [base];
  const children: ManifestDoc[] = [];
  const entries = platforms.map((platform) => {
    const own = bytesBlob(
      types.layer,
      seededBytes(`${seed}/layer/${platformName(platform)}`, options.layerSize ?? 32 * 1024),
    );
    const config = imageConfig(format, platform, [base, own], seed);
    const manifest = imageManifest(format, config, [base, own]);
    blobs.push(own, config);
    children.push(manifest);
    return { manifest, platform };
  });
  const root = indexManifest(format, entries);
  return { root, manifests: [...children, root], blobs: uniqueBlobs(blobs) };
}

/** An OCI image index (OCI media types throughout). */
export function ociIndex(options: MultiPlatformOptions): SyntheticImage<BytesBlob> {
  return multiPlatformImage('oci', options);
}

/** A Docker manifest list (Docker media types throughout). */
export function dockerManifestList(options: MultiPlatformOptions): SyntheticImage<BytesBlob> {
  return multiPlatformImage('docker', options);
}

/** A single-platform Docker v2 schema 2 image. */
export function dockerImage(options: {
  seed: string;
  layerSizes?: number[];
  platform?: Platform;
}): SyntheticImage<BytesBlob> {
  const { seed } = options;
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const layers = (options.layerSizes ?? [32 * 1024, 16 * 1024]).map((size, i) =>
    bytesBlob(MediaTypes.dockerLayerGzip, seededBytes(`${seed}/layer/${i}`, size)),
  );
  const config = imageConfig('docker', platform, layers, seed);
  const root = imageManifest('docker', config, layers);
  return { root, manifests: [root], blobs: uniqueBlobs([...layers, config]) };
}

/** A cosign signature image plus the tag cosign pushes it under (`sha256-<hex>.sig`). */
export type SignatureImage = SyntheticImage<BytesBlob> & { tag: string };

/**
 * A manifest shaped like cosign's signature of `subject`: OCI image config, one simple-signing
 * layer carrying the signature annotation. Compact JSON, like cosign writes.
 */
export function cosignSignature(subject: ManifestDoc, seed: string): SignatureImage {
  const payload = bytesBlob(
    MediaTypes.cosignSimpleSigning,
    Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': 'harness.local/signed' },
          image: { 'docker-manifest-digest': subject.digest },
          type: 'cosign container image signature',
        },
        optional: { 'harness.seed': seed },
      }),
    ),
  );
  const config = bytesBlob(
    MediaTypes.ociConfig,
    Buffer.from(
      JSON.stringify({
        architecture: '',
        created: '0001-01-01T00:00:00Z',
        history: [{ created: '0001-01-01T00:00:00Z' }],
        os: '',
        rootfs: { type: 'layers', diff_ids: [payload.digest] },
        config: {},
      }),
    ),
  );
  const signature = seededBytes(`${seed}/signature`, 71).toString('base64');
  const root = manifestDoc(
    MediaTypes.ociManifest,
    {
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: descriptorOf(config),
      layers: [descriptorOf(payload, { annotations: { [COSIGN_SIGNATURE_ANNOTATION]: signature } })],
    },
    0,
  );
  return { root, manifests: [root], blobs: [config, payload], tag: digestTag(subject.digest, 'sig') };
}

/** Options of `artifactWithSubject`. */
export interface ArtifactOptions {
  artifactType: string;
  seed: string;
  /** Media type of the single layer (default `application/octet-stream`). */
  layerMediaType?: string;
  /** Bytes of the single layer (default 512). */
  layerSize?: number;
  /** Manifest-level annotations (default: a creation time and the seed). */
  annotations?: Record<string, string>;
}

/** An OCI 1.1 artifact: an image manifest with `artifactType`, the empty config, one layer and a `subject`. */
export function artifactWithSubject(subject: ManifestDoc, options: ArtifactOptions): SyntheticImage<BytesBlob> {
  const empty = bytesBlob(MediaTypes.ociEmpty, EMPTY_JSON);
  const layer = bytesBlob(
    options.layerMediaType ?? 'application/octet-stream',
    seededBytes(`${options.seed}/artifact`, options.layerSize ?? 512),
  );
  const root = manifestDoc(MediaTypes.ociManifest, {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    artifactType: options.artifactType,
    config: descriptorOf(empty),
    layers: [descriptorOf(layer)],
    subject: descriptorOf(subject),
    annotations: options.annotations ?? { 'org.opencontainers.image.created': CREATED, 'harness.seed': options.seed },
  });
  return { root, manifests: [root], blobs: [empty, layer] };
}
