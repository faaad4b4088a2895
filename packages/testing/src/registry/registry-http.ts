/**
 * The harness's own minimal OCI distribution client: pushes synthetic images, checks
 * digests independently of the product's registry client, and lists tags. Raw HTTP with
 * undici's `request()`, Basic auth when credentials are given, no retries (a harness
 * failure must be loud).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import { sha256Digest } from './deterministic';
import { digestTag, MediaTypes, openBlob } from './images';
import type { Blob, Descriptor, ManifestDoc, SyntheticImage } from './images';

/** Where a registry is and how to log in (Basic auth when username is set). */
export interface RegistryEndpoint {
  url: string;
  username?: string;
  password?: string;
}

/** Every manifest media type, for an Accept header that never makes the registry convert. */
export const MANIFEST_ACCEPT = [
  MediaTypes.ociIndex,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifestList,
  MediaTypes.dockerManifest,
  'application/vnd.oci.artifact.manifest.v1+json',
].join(', ');

/** A registry answered with an unexpected status. */
export class RegistryHttpError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${url} answered ${status}: ${body.slice(0, 500)}`);
    this.name = 'RegistryHttpError';
  }
}

/** A fully read response. */
export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One header's value (the first when repeated). */
export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** The Authorization header for an endpoint, if it has credentials. */
export function basicAuthorization(endpoint: RegistryEndpoint): string | undefined {
  if (endpoint.username === undefined) return undefined;
  return `Basic ${Buffer.from(`${endpoint.username}:${endpoint.password ?? ''}`).toString('base64')}`;
}

/**
 * One HTTP request to a registry; `target` is a path (`/v2/...`) or an absolute URL (an
 * upload Location). Credentials are sent only to the endpoint's own origin.
 */
export async function registryRequest(
  endpoint: RegistryEndpoint,
  method: string,
  target: string,
  init: { headers?: Record<string, string>; body?: Buffer | string | Readable } = {},
): Promise<HttpResult> {
  const url = new URL(target, endpoint.url);
  const headers: Record<string, string> = { ...init.headers };
  const auth = basicAuthorization(endpoint);
  if (auth && url.origin === new URL(endpoint.url).origin) headers.authorization = auth;
  const res = await request(url, { method, headers, body: init.body ?? null });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

/** Throws a RegistryHttpError unless the status is one of `expected`. */
function expectStatus(result: HttpResult, method: string, target: string, ...expected: number[]): void {
  if (!expected.includes(result.status))
    throw new RegistryHttpError(method, target, result.status, result.body.toString());
}

/** Does the repository have this blob (HEAD 200)? */
export async function blobExists(registry: RegistryEndpoint, repository: string, digest: string): Promise<boolean> {
  const path = `/v2/${repository}/blobs/${digest}`;
  const res = await registryRequest(registry, 'HEAD', path);
  if (res.status === 404) return false;
  expectStatus(res, 'HEAD', path, 200);
  return true;
}

/** Downloads a (small) blob and checks its digest. */
export async function fetchBlob(registry: RegistryEndpoint, repository: string, digest: string): Promise<Buffer> {
  const path = `/v2/${repository}/blobs/${digest}`;
  const res = await registryRequest(registry, 'GET', path);
  expectStatus(res, 'GET', path, 200);
  if (sha256Digest(res.body) !== digest)
    throw new Error(`blob ${digest} of ${repository} has digest ${sha256Digest(res.body)}`);
  return res.body;
}

/**
 * Uploads a blob unless HEAD says it is there: POST to open an upload, then one PUT
 * `?digest=` with the whole content (streamed for streamed blobs). Returns whether it uploaded.
 */
export async function pushBlob(registry: RegistryEndpoint, repository: string, blob: Blob): Promise<boolean> {
  if (await blobExists(registry, repository, blob.digest)) return false;
  const start = `/v2/${repository}/blobs/uploads/`;
  const opened = await registryRequest(registry, 'POST', start);
  expectStatus(opened, 'POST', start, 202);
  const location = headerValue(opened.headers, 'location');
  if (!location) throw new Error(`POST ${start} answered 202 without Location`);
  const put = new URL(location, registry.url);
  put.searchParams.set('digest', blob.digest);
  const done = await registryRequest(registry, 'PUT', put.href, {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
    body: blob.bytes ?? openBlob(blob),
  });
  expectStatus(done, 'PUT', put.pathname, 201);
  const echoed = headerValue(done.headers, 'docker-content-digest');
  if (echoed && echoed !== blob.digest) throw new Error(`registry stored blob ${blob.digest} as ${echoed}`);
  return true;
}

/** PUTs a manifest under a tag or its digest and checks the digest the registry reports. */
export async function putManifest(
  registry: RegistryEndpoint,
  repository: string,
  reference: string,
  doc: ManifestDoc,
): Promise<void> {
  const path = `/v2/${repository}/manifests/${reference}`;
  const res = await registryRequest(registry, 'PUT', path, {
    headers: { 'content-type': doc.mediaType },
    body: doc.bytes,
  });
  expectStatus(res, 'PUT', path, 201);
  const echoed = headerValue(res.headers, 'docker-content-digest');
  if (echoed && echoed !== doc.digest) throw new Error(`registry stored manifest ${doc.digest} as ${echoed}`);
}

/** What `pushImage` did. */
export interface PushResult {
  uploadedBlobs: string[];
  skippedBlobs: string[];
}

/**
 * Pushes an image: every blob (skipping those HEAD finds), every manifest by digest
 * (children first), then the root under `tag` if given.
 */
export async function pushImage(
  registry: RegistryEndpoint,
  repository: string,
  image: SyntheticImage,
  tag?: string,
): Promise<PushResult> {
  const result: PushResult = { uploadedBlobs: [], skippedBlobs: [] };
  for (const blob of image.blobs) {
    if (result.uploadedBlobs.includes(blob.digest) || result.skippedBlobs.includes(blob.digest)) continue;
    const uploaded = await pushBlob(registry, repository, blob);
    (uploaded ? result.uploadedBlobs : result.skippedBlobs).push(blob.digest);
  }
  for (const doc of image.manifests) await putManifest(registry, repository, doc.digest, doc);
  if (tag !== undefined) await putManifest(registry, repository, tag, image.root);
  return result;
}

/** A manifest as a registry serves it. */
export interface FetchedManifest {
  /** sha256 of the exact body bytes. */
  digest: string;
  /** The Docker-Content-Digest header, if any. */
  headerDigest: string | undefined;
  mediaType: string | undefined;
  bytes: Buffer;
}

/** GETs a manifest with the given Accept (default: every manifest type); undefined on 404. */
export async function fetchManifest(
  registry: RegistryEndpoint,
  repository: string,
  reference: string,
  accept: string = MANIFEST_ACCEPT,
): Promise<FetchedManifest | undefined> {
  const path = `/v2/${repository}/manifests/${reference}`;
  const res = await registryRequest(registry, 'GET', path, { headers: { accept } });
  if (res.status === 404) return undefined;
  expectStatus(res, 'GET', path, 200);
  return {
    digest: sha256Digest(res.body),
    headerDigest: headerValue(res.headers, 'docker-content-digest'),
    mediaType: headerValue(res.headers, 'content-type'),
    bytes: res.body,
  };
}

/**
 * The digest of a manifest computed from the exact bytes served (full Accept list);
 * throws if it is missing, if it disagrees with Docker-Content-Digest, or (by digest) with the reference.
 */
export async function manifestDigestOf(
  registry: RegistryEndpoint,
  repository: string,
  reference: string,
): Promise<string> {
  const got = await fetchManifest(registry, repository, reference);
  if (!got) throw new Error(`manifest ${repository}:${reference} not found at ${registry.url}`);
  if (got.headerDigest !== undefined && got.headerDigest !== got.digest) {
    throw new Error(
      `manifest ${repository}:${reference}: body hashes to ${got.digest} but Docker-Content-Digest is ${got.headerDigest}`,
    );
  }
  if (reference.startsWith('sha256:') && reference !== got.digest) {
    throw new Error(`manifest ${repository}@${reference}: body hashes to ${got.digest}`);
  }
  return got.digest;
}

/** Every tag of a repository (following `Link` pagination); [] when the repository is unknown. */
export async function listTags(registry: RegistryEndpoint, repository: string): Promise<string[]> {
  const tags: string[] = [];
  let next: string | undefined = `/v2/${repository}/tags/list`;
  while (next) {
    const res = await registryRequest(registry, 'GET', next);
    if (res.status === 404) return tags;
    expectStatus(res, 'GET', next, 200);
    const page = JSON.parse(res.body.toString()) as { tags?: string[] | null };
    tags.push(...(page.tags ?? []));
    next = /<([^>]+)>;\s*rel="?next"?/.exec(headerValue(res.headers, 'link') ?? '')?.[1];
  }
  return tags;
}

/** An OCI image index as JSON. */
interface IndexJson {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
}

/**
 * Pushes `artifact` by digest, then does what an OCI 1.1 client does on a registry without
 * the referrers API: reads the index at tag `sha256-<subject hex>` (or starts an empty one),
 * adds the artifact's descriptor (mediaType, digest, size, artifactType, annotations) unless
 * present, and PUTs it back under that tag. Returns the tag and the new index.
 */
export async function pushReferrer(
  registry: RegistryEndpoint,
  repository: string,
  subject: ManifestDoc,
  artifact: SyntheticImage,
): Promise<{ tag: string; index: ManifestDoc }> {
  await pushImage(registry, repository, artifact);
  const tag = digestTag(subject.digest);
  const current = await fetchManifest(registry, repository, tag, MediaTypes.ociIndex);
  const index: IndexJson = current
    ? (JSON.parse(current.bytes.toString()) as IndexJson)
    : { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] };
  const parsed = JSON.parse(artifact.root.bytes.toString()) as {
    artifactType?: string;
    config?: { mediaType?: string };
    annotations?: Record<string, string>;
  };
  const descriptor: Descriptor = {
    mediaType: artifact.root.mediaType,
    digest: artifact.root.digest,
    size: artifact.root.bytes.length,
  };
  const artifactType = parsed.artifactType ?? parsed.config?.mediaType;
  if (artifactType) descriptor.artifactType = artifactType;
  if (parsed.annotations) descriptor.annotations = parsed.annotations;
  if (!index.manifests.some((d) => d.digest === descriptor.digest)) index.manifests.push(descriptor);
  const bytes = Buffer.from(JSON.stringify(index));
  const doc: ManifestDoc = { digest: sha256Digest(bytes), mediaType: MediaTypes.ociIndex, bytes };
  await putManifest(registry, repository, tag, doc);
  return { tag, index: doc };
}

/** Options of `skopeoInspectDigest`. */
export interface SkopeoOptions {
  /** `user:password` for `--creds`. */
  creds?: string;
  tlsVerify: boolean;
  timeoutMs?: number;
}

/**
 * A second, independent opinion: `skopeo inspect --raw docker://<ref>` and the sha256 of
 * the raw bytes it prints (`ref` is `HOST/REPO:TAG` or `HOST/REPO@DIGEST`).
 */
export async function skopeoInspectDigest(ref: string, options: SkopeoOptions = { tlsVerify: false }): Promise<string> {
  const args = ['inspect', '--raw', `--tls-verify=${options.tlsVerify}`];
  if (options.creds !== undefined) args.push('--creds', options.creds);
  args.push(`docker://${ref}`);
  const stdout = await new Promise<Buffer>((resolve, reject) => {
    execFile(
      'skopeo',
      args,
      { encoding: 'buffer', maxBuffer: 16 << 20, timeout: options.timeoutMs ?? 30_000 },
      (error, out, err) => {
        const shown = args.map((a, i) => (args[i - 1] === '--creds' ? '***' : a)).join(' ');
        if (error) reject(new Error(`skopeo ${shown} failed: ${err.toString().trim() || error.message}`));
        else resolve(out);
      },
    );
  });
  return `sha256:${createHash('sha256').update(stdout).digest('hex')}`;
}
