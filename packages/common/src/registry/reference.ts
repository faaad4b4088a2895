import { ErrorCode, ReplicationError } from '../errors';

/**
 * Image references and digests, following the grammar of the distribution
 * project's `reference` package and the OCI image spec's digest rules:
 *
 *   reference := [domain '/'] path [':' tag] ['@' digest]
 */

/** A parsed `[registry/]repository[:tag][@digest]`. */
export interface ImageReference {
  /** Registry host with optional port (`127.0.0.1:5000`, `[::1]:5000`); undefined when absent. */
  registry?: string;
  /** Repository path, e.g. `team/app`. */
  repository: string;
  tag?: string;
  digest?: string;
}

/** Longest name (registry and path together) the distribution spec allows. */
export const NAME_MAX_LENGTH = 255;
/** Longest tag the distribution spec allows. */
export const TAG_MAX_LENGTH = 128;

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const PATH = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?$`);
const DIGEST = /^([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-zA-Z=_-]+)$/;

/** Digest algorithms the product can verify, with the exact form of their encoded part. */
const DIGEST_ALGORITHMS: Readonly<Record<string, RegExp>> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

function invalid(input: string, reason: string): ReplicationError {
  return new ReplicationError(ErrorCode.InvalidReference, `invalid image reference "${input}": ${reason}`, {
    details: { reference: input, reason },
  });
}

/** Why `digest` is not a digest the product can verify, or undefined when it is valid. */
export function digestProblem(digest: string): string | undefined {
  const match = DIGEST.exec(digest);
  if (!match) return 'a digest is <algorithm>:<hex>, e.g. sha256:<64 lowercase hex characters>';
  const [, algorithm, encoded] = match as unknown as [string, string, string];
  const form = DIGEST_ALGORITHMS[algorithm];
  if (form === undefined) return `digest algorithm "${algorithm}" is not supported (use sha256 or sha512)`;
  if (!form.test(encoded)) {
    const length = algorithm === 'sha256' ? 64 : 128;
    return `a ${algorithm} digest has exactly ${length} lowercase hex characters`;
  }
  return undefined;
}

export function isDigest(value: string): boolean {
  return digestProblem(value) === undefined;
}

/** Splits a digest into algorithm and hex; throws `INVALID_REFERENCE` when malformed. */
export function parseDigest(digest: string): { algorithm: 'sha256' | 'sha512'; hex: string } {
  const problem = digestProblem(digest);
  if (problem !== undefined) throw invalid(digest, problem);
  const [algorithm, hex] = digest.split(':') as ['sha256' | 'sha512', string];
  return { algorithm, hex };
}

/** Why `tag` is not a valid tag, or undefined when it is. */
export function tagProblem(tag: string): string | undefined {
  if (tag.length === 0) return 'the tag is empty';
  if (tag.length > TAG_MAX_LENGTH) return `a tag has at most ${TAG_MAX_LENGTH} characters (got ${tag.length})`;
  if (!TAG.test(tag)) return 'a tag is letters, digits, "_", "." and "-", and does not start with "." or "-"';
  return undefined;
}

/** Why `repository` is not a valid repository path, or undefined when it is. */
export function repositoryProblem(repository: string): string | undefined {
  if (repository.length === 0) return 'the repository name is empty';
  if (repository.length > NAME_MAX_LENGTH) {
    return `a repository name has at most ${NAME_MAX_LENGTH} characters (got ${repository.length})`;
  }
  if (/[A-Z]/.test(repository)) return 'repository names must be lowercase';
  if (!PATH.test(repository)) {
    return 'a repository name is lowercase components of letters and digits, joined by "/" and separated within a component by ".", "_", "__" or "-"';
  }
  return undefined;
}

/** Does the first path component name a registry (as docker decides it)? */
function looksLikeRegistry(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || /[A-Z]/.test(component);
}

export interface ParseReferenceOptions {
  /** Registry to use when the reference has none; without it such a reference has no registry. */
  defaultRegistry?: string;
  /** Reject references that have neither a tag nor a digest. */
  requireTagOrDigest?: boolean;
}

/** Parses `[registry/]repository[:tag][@digest]`; throws `INVALID_REFERENCE` naming the problem. */
export function parseReference(input: string, options: ParseReferenceOptions = {}): ImageReference {
  if (input.length === 0) throw invalid(input, 'the reference is empty');
  if (/\s/.test(input)) throw invalid(input, 'a reference contains no white space');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const problem = digestProblem(digest);
    if (problem !== undefined) throw invalid(input, problem);
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    const problem = tagProblem(tag);
    if (problem !== undefined) throw invalid(input, problem);
  }

  let registry: string | undefined;
  const slash = rest.indexOf('/');
  if (slash >= 0 && looksLikeRegistry(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    rest = rest.slice(slash + 1);
    if (!DOMAIN.test(registry)) throw invalid(input, `"${registry}" is not a valid registry host[:port]`);
  }
  const repository = rest;
  const problem = repositoryProblem(repository);
  if (problem !== undefined) throw invalid(input, problem);
  const nameLength = (registry === undefined ? 0 : registry.length + 1) + repository.length;
  if (nameLength > NAME_MAX_LENGTH) {
    throw invalid(
      input,
      `registry and repository together have at most ${NAME_MAX_LENGTH} characters (got ${nameLength})`,
    );
  }
  if (options.requireTagOrDigest && tag === undefined && digest === undefined) {
    throw invalid(input, 'a tag (:tag) or a digest (@sha256:...) is required');
  }

  const reference: ImageReference = { repository };
  const effectiveRegistry = registry ?? options.defaultRegistry;
  if (effectiveRegistry !== undefined) reference.registry = effectiveRegistry;
  if (tag !== undefined) reference.tag = tag;
  if (digest !== undefined) reference.digest = digest;
  return reference;
}

/** Formats a reference back to its canonical string. */
export function formatReference(reference: ImageReference): string {
  let out = reference.registry === undefined ? reference.repository : `${reference.registry}/${reference.repository}`;
  if (reference.tag !== undefined) out += `:${reference.tag}`;
  if (reference.digest !== undefined) out += `@${reference.digest}`;
  return out;
}
