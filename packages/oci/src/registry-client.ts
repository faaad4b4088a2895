import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from './transport/undici';
import { ErrorCode, ReplicationError, parseDigest } from '@ecr-replicate/common/core';
import {
  DEFAULT_REQUEST_RETRY_POLICY,
  TransientError,
  classifyNetworkError,
  parseRetryAfter,
  withRequestRetries,
  type RequestRetryNotice,
  type RequestRetryPolicy,
} from './transport/request-retry';
import { Authenticator, type CredentialSource } from './auth/authenticator';
import { RegistryHttpError, credentialFreeUrl, parseRegistryErrorBody } from './transport/registry-http-error';
import { MANIFEST_ACCEPT, MANIFEST_MAX_BYTES, MediaType, type Descriptor } from './manifest/media-types';

type Headers = Record<string, string>;
type ResponseData = Dispatcher.ResponseData;
/** A response with the request it answers, for {@link RegistryHttpError}. */
type SentResponse = ResponseData & { request: { method: string; url: string } };

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
  onRetry?: (notice: RequestRetryNotice & { what: string }) => void;
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

/** Is `host` (with optional port) a loopback address, served over plain HTTP by default? */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '::1' || /^127(?:\.\d{1,3}){3}$/.test(name);
}

/** Plain HTTP only for loopback hosts and hosts named explicitly; TLS everywhere else. */
export function usesPlainHttp(host: string, plainHttpHosts: readonly string[] = []): boolean {
  return isLoopbackHost(host) || plainHttpHosts.includes(host);
}

function header(response: ResponseData, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readText(body: Readable, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    if (length < limit) chunks.push(buffer);
    length += buffer.length;
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

function drain(response: ResponseData): void {
  response.body.resume();
  response.body.on('error', () => undefined);
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function digestOf(bytes: Buffer, algorithm: 'sha256' | 'sha512'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/**
 * A client of one registry's OCI distribution API. Manifests are kept as the
 * exact bytes the registry served; blobs are streamed, never buffered.
 * Requests that can be replayed are retried with backoff on 429, 5xx and
 * connection faults; a 401 refreshes the authorization once.
 */
export class RegistryClient {
  readonly host: string;
  readonly baseUrl: string;
  private readonly agent: Agent;
  private readonly auth: Authenticator;
  private readonly retry: RequestRetryPolicy;
  private readonly onRetry: RegistryClientOptions['onRetry'];
  /** Whether the registry serves the referrers API; learnt on first use. */
  private referrersApi: boolean | undefined;
  /** Repository each digest was last seen in, for cross-repository mounts. */
  private readonly blobHomes = new Map<string, string>();

  constructor(options: RegistryClientOptions) {
    this.host = options.host;
    this.baseUrl = `${options.plainHttp ? 'http' : 'https'}://${options.host}`;
    this.retry = options.retry ?? DEFAULT_REQUEST_RETRY_POLICY;
    this.onRetry = options.onRetry;
    this.agent = new Agent({
      connections: options.connections ?? 32,
      keepAliveTimeout: 30_000,
      headersTimeout: 60_000,
      bodyTimeout: 120_000,
      connect: { timeout: 15_000 },
    });
    this.auth = new Authenticator(
      options.host,
      options.credentials ?? (async () => undefined),
      (url, authorization) => this.fetchToken(url, authorization),
      {
        basicUpFront: options.basicUpFront ?? false,
      },
    );
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private url(path: string): string {
    return new URL(path, this.baseUrl).toString();
  }

  private retrying<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return withRequestRetries(what, this.retry, operation, (notice) => this.onRetry?.({ ...notice, what }));
  }

  private async fetchToken(url: string, authorization: string | undefined): Promise<{ status: number; body: string }> {
    return this.retrying(`token request to ${new URL(url).host}`, async () => {
      const response = await request(url, {
        dispatcher: this.agent,
        method: 'GET',
        headers: authorization ? { authorization } : {},
      }).catch((error: unknown) => {
        throw classifyNetworkError(error, `token request to ${new URL(url).host}`);
      });
      const body = await readText(response.body);
      if (response.statusCode === 429 || response.statusCode >= 500) {
        throw new TransientError(ErrorCode.RegistryUnavailable, `token service answered ${response.statusCode}`, {
          retryAfterMs: parseRetryAfter(response.headers['retry-after']),
        });
      }
      return { status: response.statusCode, body };
    });
  }

  /**
   * Sends one request with authorization. On 401 it refreshes the
   * authorization and, when the body can be sent again, resends once; a
   * streamed body cannot, so the 401 becomes a transient error for the
   * caller's retry to start over.
   */
  private async send(options: {
    method: Dispatcher.HttpMethod;
    url: string;
    scope: string;
    what: string;
    headers?: Headers;
    body?: Buffer | Readable | null;
  }): Promise<SentResponse> {
    const replayable = !(options.body !== undefined && options.body !== null && !Buffer.isBuffer(options.body));
    let authorization = await this.auth.headerFor(options.scope);
    for (let attempt = 0; ; attempt += 1) {
      const headers: Headers = { ...options.headers };
      if (authorization !== undefined) headers.authorization = authorization;
      let response: ResponseData;
      try {
        response = await request(options.url, {
          dispatcher: this.agent,
          method: options.method,
          headers,
          body: options.body ?? null,
        });
      } catch (error) {
        throw classifyNetworkError(error, options.what);
      }
      if (response.statusCode !== 401) {
        return Object.assign(response, { request: { method: options.method, url: credentialFreeUrl(options.url) } });
      }
      drain(response);
      const challenge = header(response, 'www-authenticate');
      if (attempt > 0) {
        this.auth.reset();
        throw new ReplicationError(
          ErrorCode.AuthFailed,
          `${options.what}: ${this.host} refused the credentials (401)`,
          {
            details: { registry: this.host },
          },
        );
      }
      const rejected = authorization;
      authorization = await this.auth.onUnauthorized(challenge, options.scope, rejected);
      if (!replayable) {
        throw new TransientError(
          ErrorCode.AuthUnavailable,
          `${options.what}: authorization expired during a streamed request`,
        );
      }
    }
  }

  /** Maps a response that is not one of the expected statuses to the transport's typed error. */
  private async failure(response: SentResponse, what: string): Promise<RegistryHttpError> {
    const text = await readText(response.body).catch(() => '');
    const { codes, message } = parseRegistryErrorBody(text);
    const status = response.statusCode;
    const reason = [codes[0], message].filter((x) => x !== undefined).join(': ') || `status ${status}`;
    const fields = { registry: this.host, status, registryCodes: codes, ...response.request };
    if (status === 429 || status >= 500) {
      return new RegistryHttpError(`${what}: ${this.host} answered ${status} (${reason})`, {
        ...fields,
        retryAfterMs: parseRetryAfter(response.headers['retry-after']),
      });
    }
    if (status === 403) return new RegistryHttpError(`${what}: access denied by ${this.host} (${reason})`, fields);
    if (status === 404) return new RegistryHttpError(`${what}: not found (${reason})`, fields);
    const error = new RegistryHttpError(`${what}: ${this.host} answered ${status} (${reason})`, fields);
    if (error.code === ErrorCode.ImmutableTagConflict) {
      return new RegistryHttpError(`${what}: ${message ?? 'the tag is immutable'}`, fields);
    }
    if (error.code === ErrorCode.NotFound) {
      return new RegistryHttpError(
        `${what}: the registry is missing content the manifest refers to (${reason})`,
        fields,
      );
    }
    return error;
  }

  private static pull(repository: string): string {
    return `repository:${repository}:pull`;
  }

  private static push(repository: string): string {
    return `repository:${repository}:pull,push`;
  }

  // ---- manifests ---------------------------------------------------------

  /** Reads a manifest's exact bytes; verifies them against the digest when fetched by digest. */
  async getManifest(repository: string, reference: string): Promise<ManifestData> {
    const what = `GET manifest ${repository}:${reference} from ${this.host}`;
    return this.retrying(what, async () => {
      const response = await this.send({
        method: 'GET',
        url: this.url(`/v2/${repository}/manifests/${reference}`),
        scope: RegistryClient.pull(repository),
        what,
        headers: { accept: MANIFEST_ACCEPT },
      });
      if (response.statusCode !== 200) throw await this.failure(response, what);
      const declared = Number(header(response, 'content-length'));
      if (declared > MANIFEST_MAX_BYTES) {
        drain(response);
        throw this.tooLarge(what, declared);
      }
      const bytes = await this.readManifestBody(response, what);
      const mediaType = header(response, 'content-type')?.split(';')[0]?.trim() ?? MediaType.OciManifest;
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
        digest = sha256(bytes);
        const announced = header(response, 'docker-content-digest');
        if (announced !== undefined && announced.startsWith('sha256:') && announced !== digest) {
          throw new TransientError(
            ErrorCode.DigestMismatch,
            `${what}: the body hashes to ${digest}, the registry announced ${announced}`,
            {
              details: { expected: announced, actual: digest },
            },
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
   * Like getManifest, but an absent manifest is an answer: `absent`, and
   * whether the registry knows the repository at all (it answers
   * NAME_UNKNOWN for one it does not know: then no manifest or blob is there).
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
      `${what}: the manifest is ${size} bytes, over the ${MANIFEST_MAX_BYTES}-byte limit`,
      {
        details: { size, limit: MANIFEST_MAX_BYTES },
      },
    );
  }

  private async readManifestBody(response: ResponseData, what: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > MANIFEST_MAX_BYTES) {
          response.body.destroy();
          throw this.tooLarge(what, size);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      throw classifyNetworkError(error, what);
    }
    return Buffer.concat(chunks);
  }

  /** HEAD of a manifest: its digest, or undefined when absent. */
  async headManifest(repository: string, reference: string): Promise<ManifestHead | undefined> {
    const what = `HEAD manifest ${repository}:${reference} on ${this.host}`;
    const head = await this.retrying(what, async () => {
      const response = await this.send({
        method: 'HEAD',
        url: this.url(`/v2/${repository}/manifests/${reference}`),
        scope: RegistryClient.pull(repository),
        what,
        headers: { accept: MANIFEST_ACCEPT },
      });
      drain(response);
      if (response.statusCode === 404) return undefined;
      if (response.statusCode !== 200) throw await this.failure(response, what);
      return {
        digest: header(response, 'docker-content-digest'),
        mediaType: header(response, 'content-type')?.split(';')[0]?.trim() ?? MediaType.OciManifest,
        size: Number(header(response, 'content-length') ?? 0),
      };
    });
    if (head === undefined) return undefined;
    if (head.digest !== undefined) return { ...head, digest: head.digest };
    // The registry did not announce the digest: read the manifest to learn it.
    const manifest = await this.getManifest(repository, reference);
    return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.length };
  }

  /** Stores a manifest under a tag or its digest; verifies the digest the registry answers with. */
  async putManifest(
    repository: string,
    reference: string,
    manifest: { bytes: Buffer; mediaType: string; digest: string },
  ): Promise<void> {
    const what = `PUT manifest ${repository}:${reference} to ${this.host}`;
    if (manifest.bytes.length > MANIFEST_MAX_BYTES) throw this.tooLarge(what, manifest.bytes.length);
    await this.retrying(what, async () => {
      const response = await this.send({
        method: 'PUT',
        url: this.url(`/v2/${repository}/manifests/${reference}`),
        scope: RegistryClient.push(repository),
        what,
        headers: { 'content-type': manifest.mediaType },
        body: manifest.bytes,
      });
      if (response.statusCode !== 201 && response.statusCode !== 200) throw await this.failure(response, what);
      drain(response);
      const stored = header(response, 'docker-content-digest');
      if (stored !== undefined && stored !== manifest.digest) {
        throw new ReplicationError(
          ErrorCode.DigestMismatch,
          `${what}: the registry stored ${stored}, expected ${manifest.digest}`,
          {
            details: { expected: manifest.digest, actual: stored },
          },
        );
      }
    });
  }

  /** Deletes a manifest by digest (removing every tag that points at it). */
  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    const what = `DELETE manifest ${repository}@${digest} on ${this.host}`;
    return this.retrying(what, async () => {
      const response = await this.send({
        method: 'DELETE',
        url: this.url(`/v2/${repository}/manifests/${digest}`),
        scope: RegistryClient.push(repository),
        what,
      });
      if (response.statusCode === 404) {
        drain(response);
        return false;
      }
      if (response.statusCode !== 202 && response.statusCode !== 200) throw await this.failure(response, what);
      drain(response);
      return true;
    });
  }

  /**
   * Removes a tag without touching the image (OCI 1.1 DELETE by tag).
   * Returns 'unsupported' when the registry only deletes by digest
   * (distribution 2.8 answers 400 or 405), 'absent' when there is no such tag.
   */
  async deleteTag(repository: string, tag: string): Promise<'deleted' | 'absent' | 'unsupported'> {
    const what = `DELETE tag ${repository}:${tag} on ${this.host}`;
    return this.retrying(what, async () => {
      const response = await this.send({
        method: 'DELETE',
        url: this.url(`/v2/${repository}/manifests/${tag}`),
        scope: RegistryClient.push(repository),
        what,
      });
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
      throw await this.failure(response, what);
    });
  }

  /**
   * Whether the registry knows the repository: false only when it answers
   * NAME_UNKNOWN to a one-tag listing. One try, no retry: on any failure the
   * answer is true, which costs nothing but the shortcuts an unknown
   * repository allows (asking it for no blob or manifest).
   */
  async repositoryKnown(repository: string): Promise<boolean> {
    const what = `GET tags of ${repository} from ${this.host}`;
    try {
      const response = await this.send({
        method: 'GET',
        url: this.url(`/v2/${repository}/tags/list?n=1`),
        scope: RegistryClient.pull(repository),
        what,
      });
      const text = await readText(response.body);
      return !(response.statusCode === 404 && parseRegistryErrorBody(text).codes.includes('NAME_UNKNOWN'));
    } catch {
      return true;
    }
  }

  /** Every tag of a repository, following `Link` pagination. */
  async listTags(repository: string): Promise<string[]> {
    const tags: string[] = [];
    let next: string | undefined = this.url(`/v2/${repository}/tags/list?n=1000`);
    while (next !== undefined) {
      const url: string = next;
      const what = `GET tags of ${repository} from ${this.host}`;
      const page = await this.retrying(what, async () => {
        const response = await this.send({ method: 'GET', url, scope: RegistryClient.pull(repository), what });
        if (response.statusCode !== 200) throw await this.failure(response, what);
        const body = JSON.parse(await readText(response.body, 16 * 1024 * 1024)) as { tags?: string[] | null };
        const link = header(response, 'link');
        const target = link === undefined ? undefined : /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1];
        return { tags: body.tags ?? [], next: target === undefined ? undefined : this.url(target) };
      });
      tags.push(...page.tags);
      next = page.next;
    }
    return tags;
  }

  /**
   * Every repository of the registry through the catalog API (GET
   * /v2/_catalog), following `Link` pagination. ECR does not serve it: list
   * ECR repositories with DescribeRepositories.
   */
  async listRepositories(): Promise<string[]> {
    const repositories: string[] = [];
    let next: string | undefined = this.url('/v2/_catalog?n=1000');
    while (next !== undefined) {
      const url: string = next;
      const what = `GET the repository catalog of ${this.host}`;
      const page = await this.retrying(what, async () => {
        const response = await this.send({ method: 'GET', url, scope: 'registry:catalog:*', what });
        if (response.statusCode !== 200) throw await this.failure(response, what);
        const body = JSON.parse(await readText(response.body, 16 * 1024 * 1024)) as { repositories?: string[] | null };
        const link = header(response, 'link');
        const target = link === undefined ? undefined : /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1];
        return { repositories: body.repositories ?? [], next: target === undefined ? undefined : this.url(target) };
      });
      repositories.push(...page.repositories);
      next = page.next;
    }
    return repositories;
  }

  /**
   * The referrers of a manifest through the OCI 1.1 referrers API, or
   * undefined when the registry does not serve that API.
   */
  async referrers(repository: string, digest: string): Promise<Descriptor[] | undefined> {
    if (this.referrersApi === false) return undefined;
    const what = `GET referrers of ${repository}@${digest} from ${this.host}`;
    const result = await this.retrying(what, async () => {
      const response = await this.send({
        method: 'GET',
        url: this.url(`/v2/${repository}/referrers/${digest}`),
        scope: RegistryClient.pull(repository),
        what,
        headers: { accept: MediaType.OciIndex },
      });
      if (response.statusCode === 404 || response.statusCode === 400 || response.statusCode === 405) {
        drain(response);
        return undefined;
      }
      if (response.statusCode !== 200) throw await this.failure(response, what);
      const type = header(response, 'content-type') ?? '';
      const text = await readText(response.body, MANIFEST_MAX_BYTES);
      if (!type.startsWith(MediaType.OciIndex)) return undefined;
      const body = JSON.parse(text) as { manifests?: Descriptor[] };
      return body.manifests ?? [];
    });
    this.referrersApi = result !== undefined;
    return result;
  }

  // ---- blobs -------------------------------------------------------------

  /** Whether a blob exists in a repository (HEAD, following redirects). */
  async blobExists(repository: string, digest: string): Promise<boolean> {
    const what = `HEAD blob ${repository}@${digest} on ${this.host}`;
    const exists = await this.retrying(what, async () => {
      const response = await this.followRedirects(
        'HEAD',
        `/v2/${repository}/blobs/${digest}`,
        RegistryClient.pull(repository),
        what,
      );
      drain(response);
      if (response.statusCode === 404) return false;
      if (response.statusCode === 200) return true;
      throw await this.failure(response, what);
    });
    if (exists) this.blobHomes.set(digest, repository);
    return exists;
  }

  /**
   * Opens a blob for reading. A redirect (ECR sends blob GETs to S3) is
   * followed without the Authorization header when it leads to another host.
   * The caller must consume or destroy the returned stream.
   */
  async openBlob(repository: string, digest: string): Promise<Readable> {
    const what = `GET blob ${repository}@${digest} from ${this.host}`;
    const response = await this.followRedirects(
      'GET',
      `/v2/${repository}/blobs/${digest}`,
      RegistryClient.pull(repository),
      what,
    );
    if (response.statusCode !== 200) throw await this.failure(response, what);
    return response.body;
  }

  private async followRedirects(
    method: 'GET' | 'HEAD',
    path: string,
    scope: string,
    what: string,
  ): Promise<SentResponse> {
    let response = await this.send({ method, url: this.url(path), scope, what });
    let url = this.url(path);
    for (let hops = 0; hops < 5 && [301, 302, 303, 307, 308].includes(response.statusCode); hops += 1) {
      const location = header(response, 'location');
      drain(response);
      if (location === undefined)
        throw new ReplicationError(ErrorCode.RegistryProtocol, `${what}: redirect without a Location`);
      const target = new URL(location, url);
      url = target.toString();
      if (target.host === new URL(this.baseUrl).host) {
        response = await this.send({ method, url, scope, what });
      } else {
        // Another host (object storage): the registry's credentials must not follow.
        try {
          const answer = await request(url, { dispatcher: this.agent, method });
          response = Object.assign(answer, { request: { method, url: credentialFreeUrl(url) } });
        } catch (error) {
          throw classifyNetworkError(error, what);
        }
      }
    }
    return response;
  }

  /**
   * Starts an upload, first trying to mount the blob from another repository
   * of this registry where it was seen (201 = mounted; 202 = upload instead).
   */
  async startUpload(repository: string, digest: string): Promise<UploadStart> {
    const from = this.blobHomes.get(digest);
    const mountFrom = from !== undefined && from !== repository ? from : undefined;
    const query =
      mountFrom === undefined ? '' : `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}`;
    const scope =
      mountFrom === undefined
        ? RegistryClient.push(repository)
        : `${RegistryClient.push(repository)} ${RegistryClient.pull(mountFrom)}`;
    const what = `start upload of ${digest} to ${repository} on ${this.host}`;
    return this.retrying(what, async () => {
      const response = await this.send({
        method: 'POST',
        url: this.url(`/v2/${repository}/blobs/uploads/${query}`),
        scope,
        what,
      });
      if (response.statusCode !== 202 && !(response.statusCode === 201 && mountFrom !== undefined))
        throw await this.failure(response, what);
      drain(response);
      if (response.statusCode === 201) {
        this.blobHomes.set(digest, repository);
        return { mounted: true };
      }
      const location = header(response, 'location');
      if (location === undefined)
        throw new ReplicationError(ErrorCode.RegistryProtocol, `${what}: 202 without a Location`);
      return { mounted: false, location: new URL(location, this.baseUrl).toString() };
    });
  }

  /**
   * Sends the whole blob as one streamed PATCH (ECR drops later PATCHes of a
   * multi-part upload) and returns the next location. ECR answers 201 where
   * the spec says 202: both are accepted. Not retried here: the stream is
   * consumed, so the caller starts the blob over.
   */
  async patchUpload(repository: string, location: string, body: Readable, size: number): Promise<string> {
    const what = `PATCH upload to ${repository} on ${this.host}`;
    const response = await this.send({
      method: 'PATCH',
      url: location,
      scope: RegistryClient.push(repository),
      what,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(size),
        'content-range': `0-${Math.max(0, size - 1)}`,
      },
      body,
    });
    if (response.statusCode !== 202 && response.statusCode !== 201 && response.statusCode !== 204)
      throw await this.failure(response, what);
    drain(response);
    const next = header(response, 'location');
    return next === undefined ? location : new URL(next, this.baseUrl).toString();
  }

  /** Commits an upload under its digest (PUT ?digest=). */
  async finishUpload(repository: string, location: string, digest: string): Promise<void> {
    const what = `commit upload of ${digest} to ${repository} on ${this.host}`;
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const response = await this.send({
      method: 'PUT',
      url: url.toString(),
      scope: RegistryClient.push(repository),
      what,
      headers: { 'content-type': 'application/octet-stream', 'content-length': '0' },
      body: Buffer.alloc(0),
    });
    if (response.statusCode !== 201 && response.statusCode !== 204 && response.statusCode !== 200)
      throw await this.failure(response, what);
    drain(response);
    this.blobHomes.set(digest, repository);
  }

  /** Abandons an upload; failures are ignored (the registry expires it anyway). */
  async cancelUpload(repository: string, location: string): Promise<void> {
    try {
      const response = await this.send({
        method: 'DELETE',
        url: location,
        scope: RegistryClient.push(repository),
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
    await this.retrying(what, async () => {
      const response = await this.send({ method: 'GET', url: this.url('/v2/'), scope: '', what });
      drain(response);
      if (response.statusCode !== 200) throw await this.failure(response, what);
    });
  }
}
