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

/** Why a JSON value is not a descriptor the copy can use, or undefined when it is one. */
function descriptorProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string') return '"mediaType" is not a string';
  if (typeof d.digest !== 'string') return '"digest" is not a string';
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    return `"size" ${safeText(JSON.stringify(d.size) ?? 'undefined').slice(0, 40)} is not a whole number of bytes`;
  }
  // A digest goes into URLs: it must be one the product can verify before anything uses it.
  const problem = digestProblem(d.digest);
  if (problem !== undefined) return `the digest "${safeText(d.digest).slice(0, 200)}" is invalid: ${problem}`;
  return undefined;
}

function descriptors(value: unknown, field: string, name: string, mediaType: string): Descriptor[] {
  // A list written by Go from a nil slice is null: distribution stores such manifests, so they are copied.
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw new ReplicationError(ErrorCode.RegistryProtocol, `${name} (${mediaType}): "${field}" is not a list`);
  }
  value.forEach((entry: unknown, i) => {
    const problem = descriptorProblem(entry);
    if (problem !== undefined) {
      throw new ReplicationError(
        ErrorCode.RegistryProtocol,
        `${name} (${mediaType}): "${field}" entry ${i} is not a valid descriptor: ${problem}`,
      );
    }
  });
  return value as Descriptor[];
}

const isManifestType = (type: string | undefined): type is string =>
  type !== undefined && (INDEX_TYPES.has(type) || IMAGE_TYPES.has(type));

/**
 * The media type of a manifest: its own `mediaType` field when that names a manifest type (the field is part of the
 * digested bytes, and the destination checks the Content-Type of a PUT against it), else the registry's
 * Content-Type when that names one (compared without parameters or case), else the field as it is, else the shape
 * (an OCI manifest may omit the field). A registry serving `application/json`, no type or another manifest's type
 * thus changes nothing.
 */
function mediaTypeOfManifest(raw: Record<string, unknown>, contentType: string | undefined): string {
  const declared = typeof raw.mediaType === 'string' ? raw.mediaType : undefined;
  if (isManifestType(declared)) return declared;
  const header = contentType?.split(';')[0]?.trim().toLowerCase();
  if (isManifestType(header)) return header;
  if (declared !== undefined) return declared;
  return Array.isArray(raw.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
}

function parseObject(bytes: Buffer, what: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ReplicationError(ErrorCode.RegistryProtocol, `${what} is not valid JSON`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ReplicationError(ErrorCode.RegistryProtocol, `${what} is not a JSON object`);
  }
  return raw as Record<string, unknown>;
}

/**
 * The media type a manifest is stored and sent with (see mediaTypeOfManifest); the Content-Type, without its
 * parameters, when the bytes are not a JSON object (parseManifest then says what is wrong).
 */
export function manifestMediaType(bytes: Buffer, contentType: string | undefined): string {
  let raw: Record<string, unknown>;
  try {
    raw = parseObject(bytes, 'manifest');
  } catch {
    return contentType?.split(';')[0]?.trim() || MediaType.OciManifest;
  }
  return mediaTypeOfManifest(raw, contentType);
}

/**
 * Parses a manifest's bytes; `what` names it in errors (`repository@digest`). The media type is the manifest's own
 * when it names one, else the registry's Content-Type (see mediaTypeOfManifest).
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, what?: string): ParsedManifest {
  const name = what === undefined ? 'manifest' : `manifest ${safeText(what).slice(0, 300)}`;
  const raw = parseObject(bytes, name);
  const mediaType = mediaTypeOfManifest(raw, contentType);
  const subject =
    isDescriptor(raw.subject) && digestProblem(raw.subject.digest) === undefined ? raw.subject : undefined;
  const artifactType = typeof raw.artifactType === 'string' ? raw.artifactType : undefined;
  const common = { mediaType, raw, ...(subject ? { subject } : {}), ...(artifactType ? { artifactType } : {}) };
  if (INDEX_TYPES.has(mediaType)) {
    return { kind: 'index', children: descriptors(raw.manifests, 'manifests', name, mediaType), ...common };
  }
  if (IMAGE_TYPES.has(mediaType)) {
    if (raw.schemaVersion === 1) {
      throw new ReplicationError(ErrorCode.RegistryProtocol, `${name}: Docker schema 1 manifests are not supported`);
    }
    // A config present but malformed is an error, not a blob to leave behind.
    const config = descriptors(raw.config === undefined ? undefined : [raw.config], 'config', name, mediaType);
    return { kind: 'image', blobs: [...config, ...descriptors(raw.layers, 'layers', name, mediaType)], ...common };
  }
  throw new ReplicationError(
    ErrorCode.RegistryProtocol,
    `${name}: unsupported manifest media type "${safeText(mediaType).slice(0, 200)}"`,
    {
      details: { mediaType },
    },
  );
}

/** `os/arch[/variant]`, fit to print: a platform comes from a manifest, and a source may put control characters in. */
export function formatPlatform(p: Platform): string {
  return safeText(p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`);
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
