import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { DestinationSecret } from '@ecr-replicate/common';
import { ErrorCode, ReplicationError, ecrHost, safeText, tryParseEcrHost } from '@ecr-replicate/common/core';
import type { CredentialSource, Credentials } from '@ecr-replicate/oci';
import { ecrCredentials } from '@ecr-replicate/ecr';

/**
 * Where a registry's credentials come from, as skopeo, crane and the Docker CLI look for them:
 *
 *   1. explicit `USER:PASSWORD` (`--src-creds`, `--dest-creds` or their environment variables);
 *   2. the destination secret's AWS keys (an ECR destination in another partition);
 *   3. for an ECR host, a fresh token from ECR GetAuthorizationToken with the AWS credential chain (the side's
 *      `--src-profile`/`--dest-profile`, else the standard AWS variables and files): a token stored in a file
 *      is at most 12 hours fresh, the chain's is always;
 *   4. the auth files, first one naming the host wins: `--authfile`, else `REGISTRY_AUTH_FILE`, then the Docker
 *      config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`). In each, `credHelpers[host]` runs
 *      `docker-credential-<helper> get`, else `auths[host]`, else `credsStore` runs its helper;
 *   5. for an ECR host whose AWS credentials failed and no file names it: the AWS error;
 *   6. anonymous.
 */

/** Where the credentials of one registry come from, in order of precedence. */
export interface CredentialChoice {
  /** `USER:PASSWORD` given on the command line or in the environment. */
  explicit?: string;
  /** Name of the option or variable `explicit` came from, for error messages. */
  explicitName?: string;
  /** The destination secret: static keys for the registry's own partition. */
  secret?: DestinationSecret;
  /** The auth files to search, in order (default: the Docker config file). */
  authFiles?: readonly string[];
  /** A single auth file (when authFiles is absent). */
  dockerConfigPath?: string;
  /** The AWS profile for an ECR host's token (`--src-profile`, `--dest-profile`). */
  awsProfile?: string;
  /** The environment credential helpers run with (their PATH finds them). */
  env?: NodeJS.ProcessEnv;
}

export interface ResolvedCredentials {
  source: CredentialSource;
  /** ECR and explicit credentials are Basic: send them without waiting for a challenge. */
  basicUpFront: boolean;
  /** Where they come from, for logs (never the secret itself). */
  origin: string;
}

/** Parses `USER:PASSWORD`; the password may contain colons. */
export function parseUserPassword(text: string, name: string): Credentials {
  const colon = text.indexOf(':');
  if (colon <= 0) {
    throw new ReplicationError(ErrorCode.InvalidInput, `${name} must be USER:PASSWORD`);
  }
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

/** The auth files to search, in order: `--authfile` (else `REGISTRY_AUTH_FILE`), then the Docker config. */
export function authFilePaths(authFile: string | undefined, env: NodeJS.ProcessEnv): string[] {
  const first = authFile ?? (env.REGISTRY_AUTH_FILE || undefined);
  const docker = dockerConfigPath(env);
  return first === undefined || first === docker ? [docker] : [first, docker];
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
}

interface AuthFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** The keys a host may be stored under: `host`, with a scheme, or Docker Hub's legacy index URL. */
function keysFor(host: string): string[] {
  const keys = [
    host,
    `https://${host}`,
    `http://${host}`,
    `https://${host}/`,
    `https://${host}/v1/`,
    `https://${host}/v2/`,
  ];
  if (host === 'registry-1.docker.io') keys.push('docker.io', 'index.docker.io', 'https://index.docker.io/v1/');
  return keys;
}

function lookup<T>(map: Record<string, T> | undefined, host: string): { key: string; value: T } | undefined {
  if (map === undefined) return undefined;
  for (const key of keysFor(host)) if (Object.hasOwn(map, key)) return { key, value: map[key] as T };
  return undefined;
}

async function readAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed !== null && typeof parsed === 'object' ? (parsed as AuthFile) : {};
  } catch {
    throw new ReplicationError(ErrorCode.InvalidInput, `the auth file ${path} is not valid JSON`, {});
  }
}

const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const HELPER_TIMEOUT_MS = 60_000;

/**
 * Runs `docker-credential-<helper> get` with the server on stdin (the Docker credential helper protocol) and reads
 * `{ "Username", "Secret" }` from its stdout. "credentials not found" means none; any other failure is an error
 * naming the helper (never its output, which may hold the secret).
 */
export async function credentialHelperGet(
  helper: string,
  server: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credentials | undefined> {
  if (!HELPER_NAME.test(helper)) {
    throw new ReplicationError(ErrorCode.InvalidInput, `credential helper name "${helper}" is not a plain name`);
  }
  const program = `docker-credential-${helper}`;
  const childEnv = { ...process.env, ...env };
  const { code, stdout, stderr, error } = await new Promise<{
    code: number | null;
    stdout: string;
    stderr: string;
    error?: Error;
  }>((resolve) => {
    // The time limit is kept here, not with spawn's `timeout`: Node leaves that timer running when the program
    // cannot start (ENOENT), which kept the command alive for the whole limit after it had failed.
    const child = spawn(program, ['get'], { env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    const limit = setTimeout(() => child.kill('SIGTERM'), HELPER_TIMEOUT_MS);
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', (e) => {
      clearTimeout(limit);
      resolve({ code: null, stdout: out, stderr: err, error: e });
    });
    child.on('close', (c) => {
      clearTimeout(limit);
      resolve({ code: c, stdout: out, stderr: err });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(server);
  });
  if (error !== undefined) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ReplicationError(
      ErrorCode.AuthUnavailable,
      missing
        ? `credential helper ${program} (named for ${server} in the auth file) is not on PATH (${(childEnv.PATH ?? '').split(delimiter).length} directories searched)`
        : `credential helper ${program} could not run: ${error.message}`,
    );
  }
  if (code !== 0) {
    if (/credentials not found/i.test(`${stdout} ${stderr}`)) return undefined;
    throw new ReplicationError(
      ErrorCode.AuthUnavailable,
      `credential helper ${program} failed for ${server} (exit ${code}): ${safeText(stderr.trim().split('\n')[0] ?? '').slice(0, 200)}`,
    );
  }
  let answer: { Username?: unknown; Secret?: unknown };
  try {
    answer = JSON.parse(stdout) as typeof answer;
  } catch {
    throw new ReplicationError(ErrorCode.AuthUnavailable, `credential helper ${program} printed no JSON for ${server}`);
  }
  if (typeof answer.Username !== 'string' || typeof answer.Secret !== 'string' || answer.Secret === '') {
    throw new ReplicationError(
      ErrorCode.AuthUnavailable,
      `credential helper ${program} answered without Username and Secret for ${server}`,
    );
  }
  return { username: answer.Username, password: answer.Secret };
}

/** Credentials for `host` from one auth file: its credential helper, its `auths` entry, or its store. */
async function fromAuthFile(
  host: string,
  path: string,
  env: NodeJS.ProcessEnv,
): Promise<{ credentials: Credentials; origin: string } | undefined> {
  const file = await readAuthFile(path);
  if (file === undefined) return undefined;
  const helper = lookup(file.credHelpers, host);
  if (helper !== undefined) {
    const credentials = await credentialHelperGet(helper.value, helper.key, env);
    return credentials === undefined
      ? undefined
      : { credentials, origin: `docker-credential-${helper.value} (credHelpers in ${path})` };
  }
  const entry = lookup(file.auths, host);
  if (entry !== undefined) {
    const { username, password, auth } = entry.value ?? {};
    if (username !== undefined && password !== undefined && username !== '')
      return { credentials: { username, password }, origin: `auths in ${path}` };
    if (auth !== undefined && auth !== '') {
      const credentials = parseUserPassword(
        Buffer.from(auth, 'base64').toString('utf8'),
        `the "auth" of ${host} in ${path}`,
      );
      return { credentials, origin: `auths in ${path}` };
    }
  }
  if (typeof file.credsStore === 'string' && file.credsStore !== '') {
    const server = entry?.key ?? host;
    const credentials = await credentialHelperGet(file.credsStore, server, env);
    if (credentials !== undefined)
      return { credentials, origin: `docker-credential-${file.credsStore} (credsStore in ${path})` };
  }
  return undefined;
}

/** Credentials for `host` from the first auth file that has some. */
export async function authFileCredentials(
  host: string,
  paths: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ credentials: Credentials; origin: string } | undefined> {
  for (const path of paths) {
    const found = await fromAuthFile(host, path, env);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Credentials for `host` from a Docker config file, if any (one file; see authFileCredentials). */
export async function dockerConfigCredentials(
  host: string,
  path = dockerConfigPath(),
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credentials | undefined> {
  return (await authFileCredentials(host, [path], env))?.credentials;
}

/**
 * Chooses the credentials of a registry (the order is in this module's header). Resolution is lazy: nothing is
 * read or fetched until a registry asks.
 */
export function chooseCredentials(host: string, choice: CredentialChoice): ResolvedCredentials {
  if (choice.explicit !== undefined) {
    const credentials = parseUserPassword(choice.explicit, choice.explicitName ?? 'credentials');
    return {
      source: async () => credentials,
      basicUpFront: false,
      origin: choice.explicitName ?? 'explicit credentials',
    };
  }
  const ecr = tryParseEcrHost(host);
  const secret = choice.secret;
  if (secret !== undefined) {
    if (ecr === undefined) {
      throw new ReplicationError(
        ErrorCode.InvalidInput,
        `the destination secret holds AWS keys, but ${host} is not an ECR registry host`,
      );
    }
    if (ecr.accountId !== secret.accountid || ecr.partition !== secret.partition) {
      throw new ReplicationError(
        ErrorCode.InvalidInput,
        `the destination secret is for account ${secret.accountid} in ${secret.partition}, but the destination is ${ecrHost(ecr)} (${ecr.partition})`,
      );
    }
    const keys = { accessKeyId: secret.accesskey, secretAccessKey: secret.secretaccesskey };
    return {
      source: () => ecrCredentials(ecr, keys),
      basicUpFront: true,
      origin: `destination secret (user ${secret.user})`,
    };
  }
  const files = choice.authFiles ?? [choice.dockerConfigPath ?? dockerConfigPath(choice.env)];
  const env = choice.env ?? process.env;
  const profile = choice.awsProfile;
  return {
    source: async () => {
      if (ecr === undefined) return (await authFileCredentials(host, files, env))?.credentials;
      try {
        return await ecrCredentials(ecr, undefined, profile !== undefined ? { profile } : {});
      } catch (awsError) {
        // A named profile is an explicit choice: its failure is the answer.
        if (profile !== undefined) throw awsError;
        const stored = await authFileCredentials(host, files, env);
        if (stored !== undefined) return stored.credentials;
        throw awsError;
      }
    },
    basicUpFront: ecr !== undefined,
    origin:
      ecr !== undefined
        ? `AWS credentials${profile !== undefined ? ` (profile ${profile})` : ''}, else the auth files (ECR)`
        : 'the auth files, else anonymous',
  };
}
