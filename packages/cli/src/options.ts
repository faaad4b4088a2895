import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import type { DestinationSecret } from '@ecr-replicate/common';
import { didYouMean } from '@ecr-replicate/common/core';
import {
  DEFAULT_REQUEST_RETRY_POLICY,
  maskedUrl,
  type ConnectionSettings,
  type RequestRetryNotice,
  type RequestRetryPolicy,
  type RequestTrace,
} from '@ecr-replicate/oci';
import { RegistryClient, usesPlainHttp } from '@ecr-replicate/oci';
import { authFilePaths, chooseCredentials } from './credentials';
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
  authfile: { type: 'string' },
  'src-profile': { type: 'string' },
  'dest-profile': { type: 'string' },
  'src-region': { type: 'string' },
  'dest-region': { type: 'string' },
  concurrency: { type: 'string' },
  retries: { type: 'string' },
  'plain-http': { type: 'string', multiple: true },
  'ca-file': { type: 'string', multiple: true },
  'tls-verify': { type: 'string', multiple: true },
  debug: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/**
 * Runs `parseArgs` (strict, with positionals); its errors become UsageErrors in our words, an unknown option with
 * the closest known one.
 */
export function parseCommandLine<R>(parse: () => R, options?: ParseArgsConfig['options']): R {
  try {
    return parse();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message = (error as Error).message;
    const unknown = /^Unknown option '([^']+)'/.exec(message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown !== undefined) {
      const known = Object.keys(options ?? {}).map((name) => `--${name}`);
      throw new UsageError(`unknown option ${unknown}${didYouMean(unknown.replace(/=.*$/, ''), known, '')}`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new UsageError(message.replace(/^Option '([^']+)'/, 'option $1').replace(/'/g, '"'));
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      throw new UsageError(`unexpected argument ${/'([^']+)'/.exec(message)?.[1] ?? ''}`.trim());
    }
    throw new UsageError(message);
  }
}

/**
 * `--tls-verify=false HOST` (skopeo's flag, with the host it applies to) becomes `--tls-verify false=HOST` for
 * parseArgs; verification is never turned off for every host at once.
 */
export function normalizeTlsVerify(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    let value: string | undefined;
    if (arg.startsWith('--tls-verify=')) value = arg.slice('--tls-verify='.length);
    else if (arg === '--tls-verify') {
      value = argv[i + 1];
      i += 1;
    } else {
      out.push(arg);
      continue;
    }
    if (value === 'true') continue; // the default
    if (value !== 'false') throw new UsageError(`--tls-verify takes false and a HOST: --tls-verify=false HOST`);
    const host = argv[i + 1];
    if (host === undefined || host.startsWith('-'))
      throw new UsageError(
        '--tls-verify=false needs the HOST it applies to, e.g. --tls-verify=false registry.internal:5000 (it is never turned off for every host)',
      );
    i += 1;
    out.push('--tls-verify', host);
  }
  return out;
}

/** A whole number from 1 to `max`, `fallback` when the option is absent. */
export function positiveInteger(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new UsageError(`${name} must be a whole number from 1 to ${max} (got "${value}")`);
  }
  return Number(value);
}

/** A whole number from 0 to `max`. */
function wholeNumber(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) > max) {
    throw new UsageError(`${name} must be a whole number from 0 to ${max} (got "${value}")`);
  }
  return Number(value);
}

/** How to reach the source and destination registries. */
export interface RegistryAccess {
  sourceCreds?: string;
  destinationCreds?: string;
  destinationSecret?: string;
  sourceProfile?: string;
  destinationProfile?: string;
  sourceRegion?: string;
  destinationRegion?: string;
  /** Tries per request: retries + 1. */
  retries: number;
  plainHttp: string[];
  /** What the user should hear about the options (a password on the command line). */
  warnings: string[];
  /** The auth files to read credentials from, in order. */
  authFiles: string[];
  /** Certificate authorities: for one host, or (host undefined) for all. */
  caFiles: Array<{ host?: string; path: string; pem: string }>;
  /** Hosts whose certificates are not verified (`--tls-verify=false HOST`). */
  insecureHosts: string[];
  proxy: NonNullable<ConnectionSettings['proxy']>;
  debug: boolean;
  /** The environment credential helpers run with. */
  env: NodeJS.ProcessEnv;
}

/** Most bytes read from a credentials file or standard input before its first line must have ended. */
const CREDENTIALS_READ_CAP = 64 * 1024;

/**
 * Reads up to the end of the first non-blank line of `fd` (or to its end), at most `cap` bytes: a file that never
 * ends (a FIFO, `/dev/zero`, `yes | ...` on standard input) is not read into memory without bound.
 */
function readFirstLine(fd: number, cap: number): { text: string; capped: boolean } {
  const buffer = Buffer.alloc(cap);
  let size = 0;
  for (;;) {
    let read: number;
    try {
      read = readSync(fd, buffer, size, cap - size, null);
    } catch (error) {
      // Standard input may be non-blocking (a pipe still empty): wait a little and read again.
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      continue;
    }
    if (read === 0) return { text: buffer.toString('utf8', 0, size), capped: false };
    size += read;
    const text = buffer.toString('utf8', 0, size);
    const ended = text.lastIndexOf('\n');
    if (ended >= 0 && text.slice(0, ended).trim() !== '') return { text, capped: false };
    if (size >= cap) return { text, capped: true };
  }
}

/** Reads `USER:PASSWORD` from a file, or from standard input for `-` (one line; surrounding blanks dropped). */
function readCredentialsFile(path: string, name: string): string {
  const where = path === '-' ? 'standard input' : `"${path}"`;
  let read: { text: string; capped: boolean };
  let fd: number | undefined;
  try {
    fd = path === '-' ? 0 : openSync(path, 'r');
    read = readFirstLine(fd, CREDENTIALS_READ_CAP);
  } catch (error) {
    throw new UsageError(`${name}: cannot read ${where} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  } finally {
    if (fd !== undefined && fd !== 0) closeSync(fd);
  }
  const line = read.text
    .split(/\r?\n/)
    .find((l) => l.trim() !== '')
    ?.trim();
  if (read.capped)
    throw new UsageError(`${name}: ${where} has no USER:PASSWORD line within its first ${CREDENTIALS_READ_CAP} bytes`);
  if (line === undefined) throw new UsageError(`${name}: ${where} holds no USER:PASSWORD line`);
  return line;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;

function readCaFile(spec: string): { host?: string; path: string; pem: string } {
  const equals = spec.indexOf('=');
  const host = equals > 0 && HOST.test(spec.slice(0, equals)) ? spec.slice(0, equals) : undefined;
  const path = host === undefined ? spec : spec.slice(equals + 1);
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--ca-file ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new UsageError(`--ca-file ${path}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return { ...(host !== undefined ? { host } : {}), path, pem };
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
    authfile?: string;
    'src-profile'?: string;
    'dest-profile'?: string;
    'src-region'?: string;
    'dest-region'?: string;
    retries?: string;
    'plain-http'?: string[];
    'ca-file'?: string[];
    'tls-verify'?: string[];
    debug?: boolean;
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
  for (const name of ['src-region', 'dest-region'] as const) {
    const region = values[name];
    if (region !== undefined && !REGION.test(region))
      throw new UsageError(`--${name} "${region}" is not an AWS region such as us-east-1`);
  }
  const insecureHosts = values['tls-verify'] ?? [];
  for (const host of insecureHosts)
    if (!HOST.test(host)) throw new UsageError(`--tls-verify=false "${host}" is not a registry host[:port]`);
  const variable = (name: string): string | undefined => env[name] ?? env[name.toLowerCase()];
  const proxy = {
    ...(variable('HTTP_PROXY') ? { httpProxy: variable('HTTP_PROXY') } : {}),
    ...(variable('HTTPS_PROXY') ? { httpsProxy: variable('HTTPS_PROXY') } : {}),
    ...(variable('NO_PROXY') ? { noProxy: variable('NO_PROXY') } : {}),
  };
  return {
    ...(sourceCreds !== undefined ? { sourceCreds } : {}),
    ...(destinationCreds !== undefined ? { destinationCreds } : {}),
    ...(values['dest-secret'] !== undefined ? { destinationSecret: values['dest-secret'] } : {}),
    ...(values['src-profile'] !== undefined ? { sourceProfile: values['src-profile'] } : {}),
    ...(values['dest-profile'] !== undefined ? { destinationProfile: values['dest-profile'] } : {}),
    ...(values['src-region'] !== undefined ? { sourceRegion: values['src-region'] } : {}),
    ...(values['dest-region'] !== undefined ? { destinationRegion: values['dest-region'] } : {}),
    retries: wholeNumber(values.retries, '--retries', DEFAULT_REQUEST_RETRY_POLICY.attempts - 1, 19) + 1,
    plainHttp: values['plain-http'] ?? [],
    warnings,
    authFiles: authFilePaths(values.authfile, env),
    caFiles: (values['ca-file'] ?? []).map(readCaFile),
    insecureHosts,
    proxy,
    debug: values.debug === true,
    env,
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

/** Loopback hosts speak plain HTTP, unless a CA file or `--tls-verify=false` names them: then TLS. */
export function plainHttpFor(host: string, access: Pick<RegistryAccess, 'plainHttp' | 'caFiles' | 'insecureHosts'>) {
  if (access.plainHttp.includes(host)) return true;
  if (access.caFiles.some((ca) => ca.host === host) || access.insecureHosts.includes(host)) return false;
  return usesPlainHttp(host);
}

/**
 * A trace line for `--debug`: method, credential-free URL, status, milliseconds, the auth scheme only, and when the
 * request started (milliseconds since the process started: which requests overlapped, where the time went).
 */
export function traceLine(record: RequestTrace, now: number = performance.now()): string {
  return (
    `debug: ${record.method} ${maskedUrl(record.url)} -> ${record.status ?? `failed (${record.error ?? 'no answer'})`}` +
    ` ${record.milliseconds} ms${record.authorization !== undefined ? ` [authorization: ${record.authorization}]` : ''}` +
    ` (started at +${Math.max(0, Math.round(now - record.milliseconds))} ms)\n`
  );
}

/** The connection settings of one registry host. */
export function connectionFor(
  host: string,
  access: RegistryAccess,
  trace: ((record: RequestTrace) => void) | undefined,
): ConnectionSettings {
  const ca = access.caFiles.filter((file) => file.host === undefined || file.host === host).map((file) => file.pem);
  return {
    ...(Object.keys(access.proxy).length > 0 ? { proxy: access.proxy } : {}),
    ...(ca.length > 0 ? { ca } : {}),
    ...(access.insecureHosts.includes(host) ? { tlsVerify: false } : {}),
    ...(trace !== undefined ? { trace } : {}),
  };
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
    /** Warnings and the request trace (stderr). */
    diagnostics?: (line: string) => void;
  },
): Promise<OpenedRegistries> {
  const retry = { ...DEFAULT_REQUEST_RETRY_POLICY, attempts: access.retries };
  const diagnostics = options.diagnostics ?? ((line: string) => process.stderr.write(line));
  for (const host of access.insecureHosts) {
    if (host !== sourceHost && host !== destinationHost) {
      throw new UsageError(
        `--tls-verify=false ${host}: neither the source nor the destination is that host${didYouMean(host, [sourceHost, destinationHost])}`,
      );
    }
    diagnostics(
      `WARNING: TLS certificate verification is OFF for ${host} (--tls-verify=false): whoever sits between here and it can read and change what is copied\n`,
    );
  }
  for (const file of access.caFiles) {
    if (file.host !== undefined && file.host !== sourceHost && file.host !== destinationHost)
      throw new UsageError(`--ca-file ${file.host}=${file.path}: neither the source nor the destination is that host`);
  }
  const trace = access.debug ? (record: RequestTrace) => diagnostics(traceLine(record)) : undefined;
  const secret =
    access.destinationSecret === undefined
      ? undefined
      : await loadDestinationSecret(
          access.destinationSecret,
          access.destinationRegion,
          access.destinationProfile !== undefined ? { profile: access.destinationProfile } : {},
        );
  const sourceAuth = chooseCredentials(sourceHost, {
    authFiles: access.authFiles,
    env: access.env,
    ...(access.sourceProfile !== undefined ? { awsProfile: access.sourceProfile } : {}),
    ...(access.sourceCreds !== undefined ? { explicit: access.sourceCreds, explicitName: '--src-creds' } : {}),
  });
  const destinationAuth = chooseCredentials(destinationHost, {
    authFiles: access.authFiles,
    env: access.env,
    ...(access.destinationProfile !== undefined ? { awsProfile: access.destinationProfile } : {}),
    ...(access.destinationCreds !== undefined
      ? { explicit: access.destinationCreds, explicitName: '--dest-creds' }
      : {}),
    ...(secret !== undefined ? { secret } : {}),
  });
  const client = (host: string, auth: ReturnType<typeof chooseCredentials>): RegistryClient =>
    new RegistryClient({
      host,
      credentials: auth.source,
      basicUpFront: auth.basicUpFront,
      plainHttp: plainHttpFor(host, access),
      retry,
      connections: options.connections,
      connection: connectionFor(host, access, trace),
      ...(options.onRetry ? { onRetry: options.onRetry } : {}),
      ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    });
  const source = client(sourceHost, sourceAuth);
  const destination =
    destinationHost === sourceHost &&
    access.destinationCreds === access.sourceCreds &&
    access.destinationProfile === access.sourceProfile &&
    secret === undefined
      ? source
      : client(destinationHost, destinationAuth);
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
