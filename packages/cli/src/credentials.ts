import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { DestinationSecret } from '@ecr-replicate/common';
import { ErrorCode, ReplicationError, ecrHost, tryParseEcrHost } from '@ecr-replicate/common/core';
import type { CredentialSource, Credentials } from '@ecr-replicate/oci';
import { ecrCredentials } from '@ecr-replicate/ecr';

/** Where the credentials of one registry come from, in order of precedence. */
export interface CredentialChoice {
  /** `USER:PASSWORD` given on the command line or in the environment. */
  explicit?: string;
  /** Name of the option or variable `explicit` came from, for error messages. */
  explicitName?: string;
  /** The destination secret: static keys for the registry's own partition. */
  secret?: DestinationSecret;
  /** Docker config file (default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`). */
  dockerConfigPath?: string;
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

/** Credentials for `host` from a Docker config file's `auths`, if any. */
export async function dockerConfigCredentials(
  host: string,
  path = dockerConfigPath(),
): Promise<Credentials | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  let config: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    config = JSON.parse(text) as typeof config;
  } catch {
    throw new ReplicationError(ErrorCode.InvalidInput, `the Docker config file ${path} is not valid JSON`, {});
  }
  const auths = config.auths ?? {};
  const entry =
    auths[host] ??
    auths[`https://${host}`] ??
    auths[`http://${host}`] ??
    (host === 'registry-1.docker.io' ? auths['https://index.docker.io/v1/'] : undefined);
  if (entry === undefined) return undefined;
  if (entry.username !== undefined && entry.password !== undefined)
    return { username: entry.username, password: entry.password };
  if (entry.auth !== undefined)
    return parseUserPassword(Buffer.from(entry.auth, 'base64').toString('utf8'), `the "auth" of ${host} in ${path}`);
  return undefined;
}

/**
 * Chooses the credentials of a registry: explicit USER:PASSWORD, else the
 * destination secret's keys (ECR hosts), else the Docker config file, else
 * ECR's GetAuthorizationToken with the default AWS credentials (ECR hosts),
 * else anonymous. Resolution is lazy: nothing is fetched until a registry asks.
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
  return {
    source: async () => {
      const fromConfig = await dockerConfigCredentials(host, choice.dockerConfigPath);
      if (fromConfig !== undefined) return fromConfig;
      if (ecr !== undefined) return ecrCredentials(ecr);
      return undefined;
    },
    basicUpFront: ecr !== undefined,
    origin: ecr !== undefined ? 'Docker config or AWS credentials (ECR)' : 'Docker config or anonymous',
  };
}
