import { ErrorCode, ReplicationError, digestProblem, safeText } from '@ecr-replicate/common/core';

/** Manifest media types the engine reads and writes byte for byte. */
export const MediaType = {
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

/** Every manifest type we accept, sent as the Accept list of manifest requests. */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
].join(', ');

/**
 * Layers a registry may not serve (Windows base layers, OCI non-distributable layers): their bytes live at the
 * descriptor's `urls`, and registries store the manifest without them. The copy skips them unless asked.
 */
const FOREIGN_LAYER_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

export function isForeignLayer(descriptor: { mediaType: string }): boolean {
  return FOREIGN_LAYER_TYPES.has(descriptor.mediaType);
}

/** Registries reject manifests above 4 MiB (ECR's limit too). */
export const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.OciIndex, MediaType.DockerManifestList]);
const IMAGE_TYPES: ReadonlySet<string> = new Set([MediaType.OciManifest, MediaType.DockerManifest]);

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** What the copy needs to know of a manifest, parsed from its exact bytes. */
export type ParsedManifest =
  | {
      kind: 'index';
      mediaType: string;
      children: Descriptor[];
      subject?: Descriptor;
      artifactType?: string;
      raw: Record<string, unknown>;
    }
  | {
      kind: 'image';
      mediaType: string;
      blobs: Descriptor[];
      subject?: Descriptor;
      artifactType?: string;
      raw: Record<string, unknown>;
    };

export function isDescriptor(value: unknown): value is Descriptor {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as Record<string, unknown>;
  return (
    typeof d.digest === 'string' &&
    typeof d.size === 'number' &&
    Number.isSafeInteger(d.size) &&
    d.size >= 0 &&
    typeof d.mediaType === 'string'
  );
}

function descriptors(value: unknown, field: string, mediaType: string): Descriptor[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every(isDescriptor)) {
    throw new ReplicationError(
      ErrorCode.RegistryProtocol,
      `manifest of type ${mediaType} has a malformed "${field}" list`,
    );
  }
  for (const descriptor of value) {
    // A digest goes into URLs: it must be one the product can verify before anything uses it.
    const problem = digestProblem(descriptor.digest);
    if (problem !== undefined) {
      throw new ReplicationError(
        ErrorCode.RegistryProtocol,
        `manifest of type ${mediaType} lists the digest "${safeText(descriptor.digest).slice(0, 200)}" in "${field}": ${problem}`,
      );
    }
  }
  return value;
}

/**
 * Parses a manifest's bytes. The media type comes from the registry's
 * Content-Type, falling back to the manifest's own `mediaType` field.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new ReplicationError(ErrorCode.RegistryProtocol, 'manifest is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ReplicationError(ErrorCode.RegistryProtocol, 'manifest is not a JSON object');
  }
  const declared = typeof raw.mediaType === 'string' ? raw.mediaType : undefined;
  const header = contentType?.split(';')[0]?.trim();
  let mediaType = header && (INDEX_TYPES.has(header) || IMAGE_TYPES.has(header)) ? header : declared;
  if (mediaType === undefined) {
    // An OCI manifest may omit mediaType: tell index from image by shape.
    mediaType = Array.isArray(raw.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  }
  const subject =
    isDescriptor(raw.subject) && digestProblem(raw.subject.digest) === undefined ? raw.subject : undefined;
  const artifactType = typeof raw.artifactType === 'string' ? raw.artifactType : undefined;
  const common = { mediaType, raw, ...(subject ? { subject } : {}), ...(artifactType ? { artifactType } : {}) };
  if (INDEX_TYPES.has(mediaType)) {
    return { kind: 'index', children: descriptors(raw.manifests, 'manifests', mediaType), ...common };
  }
  if (IMAGE_TYPES.has(mediaType)) {
    if (raw.schemaVersion === 1) {
      throw new ReplicationError(ErrorCode.RegistryProtocol, 'Docker schema 1 manifests are not supported');
    }
    const config = descriptors(isDescriptor(raw.config) ? [raw.config] : [], 'config', mediaType);
    return { kind: 'image', blobs: [...config, ...descriptors(raw.layers, 'layers', mediaType)], ...common };
  }
  throw new ReplicationError(ErrorCode.RegistryProtocol, `unsupported manifest media type "${mediaType}"`, {
    details: { mediaType },
  });
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** Parses `os/arch[/variant]`; undefined when malformed. */
export function parsePlatform(text: string): Platform | undefined {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p.length === 0)) return undefined;
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** Does a descriptor's platform match a requested one (variant only compared when requested)? */
export function platformMatches(actual: Platform | undefined, wanted: Platform): boolean {
  if (actual === undefined) return false;
  return (
    actual.os === wanted.os &&
    actual.architecture === wanted.architecture &&
    (wanted.variant === undefined || actual.variant === wanted.variant)
  );
}
