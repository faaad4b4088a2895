import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  ErrorCode,
  ReplicationError,
  isDigest,
  parseDigest,
  repositoryProblem,
  safeText,
  tagProblem,
} from '@ecr-replicate/common/core';
import { TransientError, type RequestRetryNotice, type RequestRetryPolicy } from './transport/request-retry';
import type { CredentialSource } from './auth/authenticator';
import { RegistryHttpError, parseRegistryErrorBody } from './transport/registry-http-error';
import { RegistryTransport, type TransportTimeouts } from './transport/registry-transport';
import type { ConnectionSettings } from './transport/connection';
import { paced, type Pacer } from './transport/pacing';
import { BODY_CAPS, discard, drain, failTrickle, header, readCapped } from './transport/body';
import { paginate } from './api/paginate';
import { paths } from './api/paths';
import {
  MANIFEST_ACCEPT,
  MANIFEST_MAX_BYTES,
  MediaType,
  isDescriptor,
  manifestMediaType,
  type Descriptor,
} from './manifest/media-types';

export interface RegistryClientOptions {
  /** `host[:port]` as in an image reference. */
  host: string;
  credentials?: CredentialSource;
  /** Use plain HTTP. Decide with `usesPlainHttp`; never on for a non-loopback host by default. */
  plainHttp?: boolean;
  /** Send Basic credentials without waiting for a challenge (ECR tokens are Basic). */
  basicUpFront?: boolean;
  retry?: RequestRetryPolicy;
  /** Connections kept open to the registry (and to each redirect target). */
  connections?: number;
  /** Deadlines of a request: connecting, the answer's headers, silence inside a body. */
  timeouts?: Partial<TransportTimeouts>;
  onRetry?: (notice: RequestRetryNotice & { what: string }) => void;
  /** Told about what the registry sent that was skipped (a listed name that breaks the grammar). */
  onWarning?: (message: string) => void;
  /** Proxy, trusted authorities, certificate verification and request trace (`transport/connection.ts`). */
  connection?: ConnectionSettings;
  /**
   * The rate budget of the registry's quota-bound calls (manifest PUT, upload start, PATCH, commit, blob HEAD): each
   * try waits for it, and a throttled answer slows it down (`transport/pacing.ts`). None: calls go at once.
   */
  pacer?: Pacer;
}

export interface ManifestData {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

/** Outcome of starting an upload: mounted from another repository, or a location to upload to. */
export type UploadStart = { mounted: true } | { mounted: false; location: string };

function digestOf(bytes: Buffer, algorithm: 'sha256' | 'sha512'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** A digest header's value when it is a valid digest; a malformed one is treated as absent. */
function digestHeader(response: Parameters<typeof header>[0]): string | undefined {
  const value = header(response, 'docker-content-digest');
  return value !== undefined && isDigest(value) ? value : undefined;
}

function mediaTypeOf(response: Parameters<typeof header>[0]): string {
  return header(response, 'content-type')?.split(';')[0]?.trim() ?? MediaType.OciManifest;
}

const pull = (repository: string): string => `repository:${repository}:pull`;
const push = (repository: string): string => `repository:${repository}:pull,push`;

/** Options of a write that moves or removes something at the registry. */
export interface WriteOptions {
  /** Cancels the write (and its retries) when aborted: the worker bounds tag moves and deletes in time. */
  signal?: AbortSignal;
}

/**
 * The API calls of one registry's OCI distribution API — manifests, blobs, tags and catalog, referrers — over its
 * {@link RegistryTransport} (authorization, origins, redirects, caps). Manifests are kept as the exact bytes the
 * registry served; blobs are streamed, never buffered. Requests that can be replayed are retried with backoff on
 * 429, 5xx and connection faults. Every name and digest is checked before it is put in a URL.
 */
export class RegistryClient {
  readonly host: string;
  readonly baseUrl: string;
  private readonly transport: RegistryTransport;
  private readonly onWarning: (message: string) => void;
  /** Whether the registry serves the referrers API; learnt on first use. */
  private referrersApi: boolean | undefined;
  /** The first referrers request, while it tells whether the API is served. */
  private referrersProbe: Promise<unknown> | undefined;
  /** Repository each digest was last seen in, for cross-repository mounts. */
  private readonly blobHomes = new Map<string, string>();
  private readonly pacer: Pacer | undefined;

  constructor(options: RegistryClientOptions) {
    this.transport = new RegistryTransport(options);
    this.pacer = options.pacer;
    this.host = options.host;
    this.baseUrl = this.transport.baseUrl;
    this.onWarning = options.onWarning ?? (() => undefined);
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  private url(path: string): string {
    return this.transport.url(path);
  }

  // ---- manifests ---------------------------------------------------------

  /** Reads a manifest's exact bytes; verifies them against the digest when fetched by digest. */
  async getManifest(repository: string, reference: string): Promise<ManifestData> {
    const what = `GET manifest ${repository}:${reference} from ${this.host}`;
    const url = this.url(paths.manifest(repository, reference));
    return this.transport.retrying(what, async () => {
      const response = await this.transport.sendFollowing('GET', url, pull(repository), what, {
        accept: MANIFEST_ACCEPT,
      });
      if (response.statusCode !== 200) throw await this.transport.failure(response, what);
      const bytes = await readCapped(response, MANIFEST_MAX_BYTES, what, {
        tooLarge: (size) => this.tooLarge(what, size),
      });
      const encoding = header(response, 'content-encoding')?.trim().toLowerCase();
      if (
        encoding !== undefined &&
        encoding !== '' &&
        encoding !== 'identity' &&
        !/^\s*\{/.test(bytes.toString('latin1', 0, 64))
      ) {
        // Nothing was asked for (no Accept-Encoding): an encoded manifest is the registry's (or a proxy's) error.
        throw new ReplicationError(
          ErrorCode.RegistryProtocol,
          `${what}: the manifest came with Content-Encoding "${safeText(encoding).slice(0, 40)}", which was not asked for; its bytes are not a JSON manifest`,
        );
      }
      // The manifest's own type, whatever Content-Type the registry served it with: it is sent with the bytes.
      const mediaType = manifestMediaType(bytes, header(response, 'content-type'));
      let digest: string;
      if (reference.includes(':')) {
        const { algorithm } = parseDigest(reference);
        digest = digestOf(bytes, algorithm);
        if (digest !== reference) {
          throw new TransientError(ErrorCode.DigestMismatch, `${what}: the body hashes to ${digest}`, {
            details: { expected: reference, actual: digest },
          });
        }
      } else {
        digest = digestOf(bytes, 'sha256');
        const announced = digestHeader(response);
        if (announced !== undefined && announced.startsWith('sha256:') && announced !== digest) {
          throw new TransientError(
            ErrorCode.DigestMismatch,
            `${what}: the body hashes to ${digest}, the registry announced ${announced}`,
            { details: { expected: announced, actual: digest } },
          );
        }
      }
      return { bytes, mediaType, digest };
    });
  }

  /** Like getManifest, but undefined when the manifest does not exist. */
  async findManifest(repository: string, reference: string): Promise<ManifestData | undefined> {
    const found = await this.lookupManifest(repository, reference);
    return 'absent' in found ? undefined : found;
  }

  /**
   * Like getManifest, but an absent manifest is an answer: `absent`, and whether the registry knows the
   * repository at all (it answers NAME_UNKNOWN for one it does not know: then no manifest or blob is there).
   */
  async lookupManifest(
    repository: string,
    reference: string,
  ): Promise<ManifestData | { absent: true; repositoryKnown: boolean }> {
    try {
      return await this.getManifest(repository, reference);
    } catch (error) {
      if (error instanceof RegistryHttpError && error.code === ErrorCode.NotFound) {
        return { absent: true, repositoryKnown: !error.has('NAME_UNKNOWN') };
      }
      throw error;
    }
  }

  private tooLarge(what: string, size: number): ReplicationError {
    return new ReplicationError(
      ErrorCode.ManifestTooLarge,
      `${what}: the manifest is ${size} bytes or more, over the ${MANIFEST_MAX_BYTES}-byte limit`,
      { details: { size, limit: MANIFEST_MAX_BYTES } },
    );
  }

  /** HEAD of a manifest: its digest, or undefined when absent. */
  async headManifest(repository: string, reference: string): Promise<ManifestHead | undefined> {
    const what = `HEAD manifest ${repository}:${reference} on ${this.host}`;
    const url = this.url(paths.manifest(repository, reference));
    const head = await this.transport.retrying(what, async () => {
      const response = await this.transport.sendFollowing('HEAD', url, pull(repository), what, {
        accept: MANIFEST_ACCEPT,
      });
      if (response.statusCode === 404) {
        drain(response);
        return undefined;
      }
      if (response.statusCode !== 200) throw await this.transport.failure(response, what);
      drain(response);
      return {
        digest: digestHeader(response),
        mediaType: mediaTypeOf(response),
        size: Number(header(response, 'content-length') ?? 0) || 0,
      };
    });
    if (head === undefined) return undefined;
    if (head.digest !== undefined && (!reference.includes(':') || head.digest === reference)) {
      return { digest: head.digest, mediaType: head.mediaType, size: head.size };
    }
    // The registry did not announce a usable digest: read the manifest to learn it.
    const manifest = await this.getManifest(repository, reference);
    return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.length };
  }

  /** Stores a manifest under a tag or its digest; verifies the digest the registry answers with. */
  async putManifest(
    repository: string,
    reference: string,
    manifest: { bytes: Buffer; mediaType: string; digest: string },
    options: WriteOptions = {},
  ): Promise<void> {
    const what = `PUT manifest ${repository}:${reference} to ${this.host}`;
    if (manifest.bytes.length > MANIFEST_MAX_BYTES) throw this.tooLarge(what, manifest.bytes.length);
    const url = this.url(paths.manifest(repository, reference));
    await this.transport.retrying(what, async () => {
      const response = await paced(this.pacer, 'PutImage', async () => {
        const answer = await this.transport.send({
          method: 'PUT',
          url,
          scope: push(repository),
          what,
          headers: { 'content-type': manifest.mediaType },
          body: manifest.bytes,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
        if (answer.statusCode !== 201 && answer.statusCode !== 200) throw await this.transport.failure(answer, what);
        return answer;
      });
      drain(response);
      const stored = header(response, 'docker-content-digest');
      if (stored !== undefined && stored !== manifest.digest) {
        throw new ReplicationError(
          ErrorCode.DigestMismatch,
          `${what}: the registry stored ${safeText(stored).slice(0, 200)}, expected ${manifest.digest}`,
          { details: { expected: manifest.digest } },
        );
      }
    });
  }

  /** Deletes a manifest by digest (removing every tag that points at it). */
  async deleteManifest(repository: string, digest: string, options: WriteOptions = {}): Promise<boolean> {
    const what = `DELETE manifest ${repository}@${digest} on ${this.host}`;
    const url = this.url(paths.manifest(repository, digest));
    const bound = options.signal === undefined ? {} : { signal: options.signal };
    return this.transport.retrying(what, async () => {
      const response = await this.transport.send({ method: 'DELETE', url, scope: push(repository), what, ...bound });
      if (response.statusCode === 404) {
        drain(response);
        return false;
      }
      if (response.statusCode !== 202 && response.statusCode !== 200)
        throw await this.transport.failure(response, what);
      drain(response);
      return true;
    });
  }

  /**
   * Removes a tag without touching the image (OCI 1.1 DELETE by tag). Returns 'unsupported' when the registry
   * only deletes by digest (distribution 2.8 answers 400 or 405), 'absent' when there is no such tag.
   */
  async deleteTag(
    repository: string,
    tag: string,
    options: WriteOptions = {},
  ): Promise<'deleted' | 'absent' | 'unsupported'> {
    const what = `DELETE tag ${repository}:${tag} on ${this.host}`;
    const url = this.url(paths.manifest(repository, tag));
    const bound = options.signal === undefined ? {} : { signal: options.signal };
    return this.transport.retrying(what, async () => {
      const response = await this.transport.send({ method: 'DELETE', url, scope: push(repository), what, ...bound });
      if (response.statusCode === 202 || response.statusCode === 200) {
        drain(response);
        return 'deleted';
      }
      if (response.statusCode === 404) {
        drain(response);
        return 'absent';
      }
      if (response.statusCode === 400 || response.statusCode === 405) {
        drain(response);
        return 'unsupported';
      }
      throw await this.transport.failure(response, what);
    });
  }

  // ---- tags and catalog ----------------------------------------------------

  /**
   * Whether the repository has any tag: false only when the registry answers NAME_UNKNOWN to a one-tag listing.
   * That is a hint, not a proof that the repository is empty: distribution answers so for a repository that holds
   * blobs or untagged manifests. One try, no retry: on any failure the answer is true.
   */
  async repositoryKnown(repository: string): Promise<boolean> {
    const what = `GET tags of ${repository} from ${this.host}`;
    try {
      const response = await this.transport.send({
        method: 'GET',
        url: this.url(`${paths.tags(repository)}?n=1`),
        scope: pull(repository),
        what,
      });
      if (response.statusCode !== 404) {
        drain(response);
        return true;
      }
      const text = await readCapped(response, BODY_CAPS.error, what, { truncate: true });
      return !parseRegistryErrorBody(text.toString('utf8')).codes.includes('NAME_UNKNOWN');
    } catch {
      return true;
    }
  }

  /** Every tag of a repository, following `Link` pagination; a listed tag that breaks the grammar is skipped. */
  async listTags(repository: string): Promise<string[]> {
    const what = `GET tags of ${repository} from ${this.host}`;
    const listed = await paginate<unknown>(this.transport, `${paths.tags(repository)}?n=1000`, {
      scope: pull(repository),
      what,
      field: 'tags',
    });
    return this.valid(listed, (tag) => tagProblem(tag), `${this.host} listed in ${repository} the tag`);
  }

  /**
   * Every repository of the registry through the catalog API (GET /v2/_catalog), following `Link` pagination;
   * a listed name that breaks the grammar is skipped. ECR does not serve it: list ECR repositories with
   * DescribeRepositories.
   */
  async listRepositories(): Promise<string[]> {
    const what = `GET the repository catalog of ${this.host}`;
    const listed = await paginate<unknown>(this.transport, `${paths.catalog()}?n=1000`, {
      scope: 'registry:catalog:*',
      what,
      field: 'repositories',
    });
    return this.valid(listed, (name) => repositoryProblem(name), `${this.host} listed the repository`);
  }

  /** The names that pass `problem`, warning once for each one skipped. */
  private valid(listed: unknown[], problem: (name: string) => string | undefined, said: string): string[] {
    const kept: string[] = [];
    const seen = new Set<string>();
    for (const name of listed) {
      const why = typeof name === 'string' ? problem(name) : 'not a string';
      if (why === undefined && !seen.has(name as string)) {
        seen.add(name as string);
        kept.push(name as string);
      } else if (why !== undefined) {
        this.onWarning(`${said} "${safeText(String(name)).slice(0, 200)}", which was skipped: ${why}`);
      }
    }
    return kept;
  }

  // ---- referrers -----------------------------------------------------------

  /**
   * The referrers of a manifest through the OCI 1.1 referrers API, or undefined when the registry does not serve
   * that API. Descriptors that are malformed or carry an invalid digest are left out.
   */
  async referrers(repository: string, digest: string): Promise<Descriptor[] | undefined> {
    if (this.referrersApi === undefined && this.referrersProbe !== undefined) {
      // Another call is finding out whether the registry serves the API: one probe, not one per subject.
      await this.referrersProbe.catch(() => undefined);
    }
    if (this.referrersApi === false) return undefined;
    if (this.referrersApi === undefined) {
      const probe = this.askReferrers(repository, digest);
      this.referrersProbe ??= probe;
      return probe;
    }
    return this.askReferrers(repository, digest);
  }

  private async askReferrers(repository: string, digest: string): Promise<Descriptor[] | undefined> {
    const what = `GET referrers of ${repository}@${digest} from ${this.host}`;
    const url = this.url(paths.referrers(repository, digest));
    const result = await this.transport.retrying(what, async () => {
      const response = await this.transport.sendFollowing('GET', url, pull(repository), what, {
        accept: MediaType.OciIndex,
      });
      if (response.statusCode === 404 || response.statusCode === 400 || response.statusCode === 405) {
        drain(response);
        return undefined;
      }
      if (response.statusCode !== 200) throw await this.transport.failure(response, what);
      const type = header(response, 'content-type') ?? '';
      const bytes = await readCapped(response, MANIFEST_MAX_BYTES, what);
      if (!type.startsWith(MediaType.OciIndex)) return undefined;
      let body: { manifests?: unknown };
      try {
        body = JSON.parse(bytes.toString('utf8')) as { manifests?: unknown };
      } catch {
        throw new ReplicationError(ErrorCode.RegistryProtocol, `${what}: the answer is not JSON`);
      }
      const listed = Array.isArray(body?.manifests) ? (body.manifests as unknown[]) : [];
      return listed.filter((d): d is Descriptor => isDescriptor(d) && isDigest(d.digest));
    });
    this.referrersApi = result !== undefined;
    return result;
  }

  // ---- blobs -------------------------------------------------------------

  /** Whether a blob exists in a repository (HEAD, following redirects). */
  async blobExists(repository: string, digest: string): Promise<boolean> {
    const what = `HEAD blob ${repository}@${digest} on ${this.host}`;
    const url = this.url(paths.blob(repository, digest));
    const exists = await this.transport.retrying(what, () =>
      paced(this.pacer, 'BatchCheckLayerAvailability', async () => {
        const response = await this.transport.sendFollowing('HEAD', url, pull(repository), what);
        if (response.statusCode === 404) {
          drain(response);
          return false;
        }
        if (response.statusCode === 200) {
          drain(response);
          return true;
        }
        throw await this.transport.failure(response, what);
      }),
    );
    if (exists) this.blobHomes.set(digest, repository);
    return exists;
  }

  /**
   * Opens a blob for reading. A redirect (ECR sends blob GETs to S3) is followed without the Authorization header
   * when it leads to another origin. An answer announcing more bytes than `size` is refused before any read. The
   * caller must consume the returned stream or `discard` it.
   */
  async openBlob(repository: string, digest: string, size?: number): Promise<Readable> {
    const what = `GET blob ${repository}@${digest} from ${this.host}`;
    const response = await this.transport.sendFollowing(
      'GET',
      this.url(paths.blob(repository, digest)),
      pull(repository),
      what,
    );
    if (response.statusCode !== 200) throw await this.transport.failure(response, what);
    const declared = Number(header(response, 'content-length'));
    if (size !== undefined && Number.isFinite(declared) && declared !== size) {
      discard(response.body);
      throw new TransientError(
        ErrorCode.DigestMismatch,
        `${what}: the registry announced ${declared} bytes, the manifest says ${size}`,
        { details: { digest, size, announced: declared } },
      );
    }
    failTrickle(response.body, what, this.transport.bodyIdleMs);
    return response.body;
  }

  /** Remembers that a blob is in a repository of this registry (a mount source for other repositories). */
  noteBlob(digest: string, repository: string): void {
    this.blobHomes.set(digest, repository);
  }

  /** A repository of this registry where the blob was seen, other than `repository`. */
  blobHome(digest: string, repository: string): string | undefined {
    const home = this.blobHomes.get(digest);
    return home !== undefined && home !== repository ? home : undefined;
  }

  /**
   * Starts an upload, first trying to mount the blob from another repository of this registry (`from`, or where
   * this client saw it): 201 = mounted; 202 = upload instead, at the Location given.
   */
  async startUpload(repository: string, digest: string, from?: string): Promise<UploadStart> {
    const candidate = from ?? this.blobHome(digest, repository);
    const mountFrom = candidate !== undefined && candidate !== repository ? candidate : undefined;
    let query = '';
    if (mountFrom !== undefined) {
      paths.blob(mountFrom, digest); // both names checked before they reach the query
      query = `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}`;
    }
    const scope = mountFrom === undefined ? push(repository) : `${push(repository)} ${pull(mountFrom)}`;
    const what = `start upload of ${digest} to ${repository} on ${this.host}`;
    const url = this.url(`${paths.uploads(repository)}${query}`);
    if (mountFrom !== undefined) {
      try {
        return await this.openUpload(url, scope, what, true, digest, repository);
      } catch (error) {
        // No right to read the other repository: a plain upload needs none.
        const code = (error as { code?: unknown }).code;
        if (code !== ErrorCode.AuthFailed && code !== ErrorCode.AccessDenied) throw error;
        return this.openUpload(this.url(paths.uploads(repository)), push(repository), what, false, digest, repository);
      }
    }
    return this.openUpload(url, scope, what, false, digest, repository);
  }

  private openUpload(
    url: string,
    scope: string,
    what: string,
    mounting: boolean,
    digest: string,
    repository: string,
  ): Promise<UploadStart> {
    return this.transport.retrying(what, async () => {
      const response = await paced(this.pacer, 'InitiateLayerUpload', async () => {
        const answer = await this.transport.send({ method: 'POST', url, scope, what });
        if (answer.statusCode !== 202 && !(answer.statusCode === 201 && mounting))
          throw await this.transport.failure(answer, what);
        return answer;
      });
      drain(response);
      if (response.statusCode === 201) {
        this.blobHomes.set(digest, repository);
        return { mounted: true };
      }
      const location = header(response, 'location');
      if (location === undefined)
        throw new ReplicationError(ErrorCode.RegistryProtocol, `${what}: 202 without a Location`);
      return { mounted: false, location: this.uploadUrl(location, url, what) };
    });
  }

  /** An upload location, absolute; only HTTP(S). Credentials follow it only when it is the registry's origin. */
  private uploadUrl(location: string, base: string, what: string): string {
    let target: URL;
    try {
      target = new URL(location, base);
    } catch {
      throw new ReplicationError(ErrorCode.RegistryProtocol, `${what}: the upload Location is not a URL`);
    }
    if (target.protocol !== 'https:' && target.protocol !== 'http:') {
      throw new ReplicationError(ErrorCode.RegistryProtocol, `${what}: upload Location with scheme ${target.protocol}`);
    }
    return target.toString();
  }

  /**
   * Sends the whole blob as one streamed PATCH (ECR drops later PATCHes of a multi-part upload) and returns the
   * next location. ECR answers 201 where the spec says 202: both are accepted. Not retried here: the stream is
   * consumed, so the caller starts the blob over.
   */
  async patchUpload(repository: string, location: string, body: Readable, size: number): Promise<string> {
    const what = `PATCH upload to ${repository} on ${this.host}`;
    const response = await paced(this.pacer, 'UploadLayerPart', async () => {
      const answer = await this.transport.send({
        method: 'PATCH',
        url: location,
        scope: push(repository),
        what,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(size),
          'content-range': `0-${Math.max(0, size - 1)}`,
        },
        body,
      });
      if (answer.statusCode !== 202 && answer.statusCode !== 201 && answer.statusCode !== 204)
        throw await this.transport.failure(answer, what);
      return answer;
    });
    drain(response);
    const next = header(response, 'location');
    return next === undefined ? location : this.uploadUrl(next, location, what);
  }

  /** Commits an upload under its digest (PUT ?digest=). */
  async finishUpload(repository: string, location: string, digest: string): Promise<void> {
    const what = `commit upload of ${digest} to ${repository} on ${this.host}`;
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const response = await paced(this.pacer, 'CompleteLayerUpload', async () => {
      const answer = await this.transport.send({
        method: 'PUT',
        url: url.toString(),
        scope: push(repository),
        what,
        headers: { 'content-type': 'application/octet-stream', 'content-length': '0' },
        body: Buffer.alloc(0),
      });
      if (answer.statusCode !== 201 && answer.statusCode !== 204 && answer.statusCode !== 200)
        throw await this.transport.failure(answer, what);
      return answer;
    });
    drain(response);
    this.blobHomes.set(digest, repository);
  }

  /** Abandons an upload; failures are ignored (the registry expires it anyway). */
  async cancelUpload(repository: string, location: string): Promise<void> {
    try {
      const response = await this.transport.send({
        method: 'DELETE',
        url: location,
        scope: push(repository),
        what: 'cancel upload',
      });
      drain(response);
    } catch {
      // best effort
    }
  }

  /** Checks the registry answers the API at all, with the credentials given. */
  async ping(): Promise<void> {
    const what = `GET /v2/ on ${this.host}`;
    await this.transport.retrying(what, async () => {
      const response = await this.transport.send({ method: 'GET', url: this.url('/v2/'), scope: '', what });
      if (response.statusCode !== 200) throw await this.transport.failure(response, what);
      drain(response);
    });
  }
}
