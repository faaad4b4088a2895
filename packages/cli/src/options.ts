import { readFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import type { DestinationSecret } from '@ecr-replicate/common';
import { DEFAULT_REQUEST_RETRY_POLICY, type RequestRetryNotice, type RequestRetryPolicy } from '@ecr-replicate/oci';
import { RegistryClient, usesPlainHttp } from '@ecr-replicate/oci';
import { chooseCredentials, dockerConfigPath } from './credentials';
import { loadDestinationSecret } from '@ecr-replicate/ecr';
import { UsageError } from './usage';

/**
 * What the commands that talk to a source and a destination registry share:
 * their credential and connection options, how those are parsed and checked,
 * and how the two registry clients are opened.
 */

/** The options every registry-to-registry command takes (`copy`, `sync`). */
export const REGISTRY_ACCESS_OPTIONS = {
  'src-creds': { type: 'string' },
  'dest-creds': { type: 'string' },
  'src-creds-file': { type: 'string' },
  'dest-creds-file': { type: 'string' },
  'dest-secret': { type: 'string' },
  concurrency: { type: 'string' },
  retries: { type: 'string' },
  'plain-http': { type: 'string', multiple: true },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Runs `parseArgs` (strict, with positionals); its errors become UsageErrors. */
export function parseCommandLine<R>(parse: () => R): R {
  try {
    return parse();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** A whole number from 1 to `max`, `fallback` when the option is absent. */
export function positiveInteger(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new UsageError(`${name} must be a whole number from 1 to ${max} (got "${value}")`);
  }
  return Number(value);
}

/** How to reach the source and destination registries. */
export interface RegistryAccess {
  sourceCreds?: string;
  destinationCreds?: string;
  destinationSecret?: string;
  retries: number;
  plainHttp: string[];
  /** The Docker config file to read credentials from. */
  dockerConfigPath: string;
  /** What the user should hear about the options (a password on the command line). */
  warnings: string[];
}

/** Reads `USER:PASSWORD` from a file, or from standard input for `-` (one line; surrounding blanks dropped). */
function readCredentialsFile(path: string, name: string): string {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `${name}: cannot read ${path === '-' ? 'standard input' : `"${path}"`} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  const line = text
    .split(/\r?\n/)
    .find((l) => l.trim() !== '')
    ?.trim();
  if (line === undefined)
    throw new UsageError(`${name}: ${path === '-' ? 'standard input' : `"${path}"`} holds no USER:PASSWORD line`);
  return line;
}

/**
 * Reads the credential and connection options (and their environment
 * variables); throws UsageError naming the bad one.
 */
export function parseRegistryAccess(
  values: {
    'src-creds'?: string;
    'dest-creds'?: string;
    'src-creds-file'?: string;
    'dest-creds-file'?: string;
    'dest-secret'?: string;
    retries?: string;
    'plain-http'?: string[];
  },
  env: NodeJS.ProcessEnv,
): RegistryAccess {
  const warnings: string[] = [];
  if (values['src-creds-file'] === '-' && values['dest-creds-file'] === '-') {
    throw new UsageError('--src-creds-file and --dest-creds-file cannot both read standard input ("-")');
  }
  for (const side of ['src', 'dest'] as const) {
    if (values[`${side}-creds`] !== undefined && values[`${side}-creds-file`] !== undefined) {
      throw new UsageError(`--${side}-creds and --${side}-creds-file are exclusive: give one`);
    }
    if (values[`${side}-creds`] !== undefined) {
      warnings.push(
        `--${side}-creds puts a password on the command line, where other users of this machine can read it (the process list, shell history): prefer --${side}-creds-file FILE, --${side}-creds-file - (standard input) or ECR_REPLICATE_${side === 'src' ? 'SRC' : 'DEST'}_CREDS`,
      );
    }
  }
  const fromFile = (side: 'src' | 'dest'): string | undefined => {
    const path = values[`${side}-creds-file`];
    return path === undefined ? undefined : readCredentialsFile(path, `--${side}-creds-file`);
  };
  const sourceCreds = values['src-creds'] ?? fromFile('src') ?? env.ECR_REPLICATE_SRC_CREDS;
  const destinationCreds = values['dest-creds'] ?? fromFile('dest') ?? env.ECR_REPLICATE_DEST_CREDS;
  if (values['dest-secret'] !== undefined && destinationCreds !== undefined) {
    throw new UsageError(
      '--dest-secret and --dest-creds (or --dest-creds-file, or ECR_REPLICATE_DEST_CREDS) are exclusive: give one',
    );
  }
  for (const [name, value] of [
    ['--src-creds', sourceCreds],
    ['--dest-creds', destinationCreds],
  ] as const) {
    if (value !== undefined && value.indexOf(':') <= 0) throw new UsageError(`${name} must be USER:PASSWORD`);
  }
  return {
    ...(sourceCreds !== undefined ? { sourceCreds } : {}),
    ...(destinationCreds !== undefined ? { destinationCreds } : {}),
    ...(values['dest-secret'] !== undefined ? { destinationSecret: values['dest-secret'] } : {}),
    retries: positiveInteger(values.retries, '--retries', DEFAULT_REQUEST_RETRY_POLICY.attempts, 20),
    plainHttp: values['plain-http'] ?? [],
    dockerConfigPath: dockerConfigPath(env),
    warnings,
  };
}

/** The source and destination clients of a command, and how to close them. */
export interface OpenedRegistries {
  source: RegistryClient;
  /** The same object as `source` when both are one registry with the same credentials. */
  destination: RegistryClient;
  /** The destination secret, when `--dest-secret` named one. */
  secret?: DestinationSecret;
  retry: RequestRetryPolicy;
  close(): Promise<void>;
}

/**
 * Opens clients for the source and destination registries with the chosen
 * credentials (nothing is fetched until a registry asks, except the
 * destination secret, which is read here).
 */
export async function openRegistries(
  sourceHost: string,
  destinationHost: string,
  access: RegistryAccess,
  options: {
    connections: number;
    onRetry?: (notice: RequestRetryNotice & { what: string }) => void;
    onWarning?: (message: string) => void;
  },
): Promise<OpenedRegistries> {
  const retry = { ...DEFAULT_REQUEST_RETRY_POLICY, attempts: access.retries };
  const secret =
    access.destinationSecret === undefined ? undefined : await loadDestinationSecret(access.destinationSecret);
  const sourceAuth = chooseCredentials(sourceHost, {
    dockerConfigPath: access.dockerConfigPath,
    ...(access.sourceCreds !== undefined ? { explicit: access.sourceCreds, explicitName: '--src-creds' } : {}),
  });
  const destinationAuth = chooseCredentials(destinationHost, {
    dockerConfigPath: access.dockerConfigPath,
    ...(access.destinationCreds !== undefined
      ? { explicit: access.destinationCreds, explicitName: '--dest-creds' }
      : {}),
    ...(secret !== undefined ? { secret } : {}),
  });
  const source = new RegistryClient({
    host: sourceHost,
    credentials: sourceAuth.source,
    basicUpFront: sourceAuth.basicUpFront,
    plainHttp: usesPlainHttp(sourceHost, access.plainHttp),
    retry,
    connections: options.connections,
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
  });
  const destination =
    destinationHost === sourceHost && access.destinationCreds === access.sourceCreds && secret === undefined
      ? source
      : new RegistryClient({
          host: destinationHost,
          credentials: destinationAuth.source,
          basicUpFront: destinationAuth.basicUpFront,
          plainHttp: usesPlainHttp(destinationHost, access.plainHttp),
          retry,
          connections: options.connections,
          ...(options.onRetry ? { onRetry: options.onRetry } : {}),
          ...(options.onWarning ? { onWarning: options.onWarning } : {}),
        });
  return {
    source,
    destination,
    ...(secret !== undefined ? { secret } : {}),
    retry,
    async close() {
      await Promise.all([source.close(), destination === source ? undefined : destination.close()]);
    },
  };
}
