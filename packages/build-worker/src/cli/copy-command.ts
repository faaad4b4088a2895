import { parseArgs } from 'node:util';
import { ReplicationError, formatReference, parseReference, type ImageReference } from '@ecr-replicate/common';
import { copyImage, type CopyResult } from '../copy/copy-image';
import type { CopyEvent } from '../copy/events';
import { DEFAULT_RETRY_POLICY } from '../http/retry';
import { RegistryClient, usesPlainHttp } from '../registry/client';
import { chooseCredentials, dockerConfigPath } from '../registry/credentials';
import { loadDestinationSecret } from '../registry/destination-secret';
import { parsePlatform, type Platform } from '../registry/media-types';
import { COPY_HELP, UsageError } from './usage';

export interface CopyArguments {
  source: ImageReference & { registry: string };
  destination: ImageReference & { registry: string };
  sourceCreds?: string;
  destinationCreds?: string;
  destinationSecret?: string;
  platforms: Platform[];
  referrers: boolean;
  concurrency: number;
  retries: number;
  plainHttp: string[];
  json: boolean;
  /** The Docker config file to read credentials from. */
  dockerConfigPath: string;
}

function positiveInteger(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new UsageError(`${name} must be a whole number from 1 to ${max} (got "${value}")`);
  }
  return Number(value);
}

/** Docker Hub's API host and its implicit `library/` namespace. */
function normalizeRegistry(reference: ImageReference, role: string, raw: string): ImageReference & { registry: string } {
  if (reference.registry === undefined) {
    throw new UsageError(`${role} "${raw}" names no registry: write registry/repository[:tag], e.g. 127.0.0.1:5000/app:1`);
  }
  if (reference.registry === 'docker.io' || reference.registry === 'index.docker.io') {
    const repository = reference.repository.includes('/') ? reference.repository : `library/${reference.repository}`;
    return { ...reference, registry: 'registry-1.docker.io', repository };
  }
  return { ...reference, registry: reference.registry };
}

function parseImage(raw: string, role: string): ImageReference & { registry: string } {
  try {
    return normalizeRegistry(parseReference(raw), role, raw);
  } catch (error) {
    if (error instanceof ReplicationError) throw new UsageError(`${role}: ${error.message}`);
    throw error;
  }
}

/** Parses `copy` arguments; throws UsageError naming the bad argument. */
export function parseCopyArguments(argv: string[], env: NodeJS.ProcessEnv): CopyArguments | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'src-creds': { type: 'string' },
        'dest-creds': { type: 'string' },
        'dest-secret': { type: 'string' },
        platform: { type: 'string', multiple: true },
        'no-referrers': { type: 'boolean' },
        concurrency: { type: 'string' },
        retries: { type: 'string' },
        'plain-http': { type: 'string', multiple: true },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return 'help';
  if (positionals.length !== 2) {
    throw new UsageError(`copy takes SOURCE and DESTINATION (got ${positionals.length} argument${positionals.length === 1 ? '' : 's'})`);
  }
  const source = parseImage(positionals[0] as string, 'SOURCE');
  const destination = parseImage(positionals[1] as string, 'DESTINATION');
  if (source.tag === undefined && source.digest === undefined) source.tag = 'latest';
  if (destination.digest !== undefined) {
    throw new UsageError(`DESTINATION "${positionals[1]}" has a digest: name a tag (or none to keep the source's)`);
  }
  const platforms = (values.platform ?? []).map((text) => {
    const platform = parsePlatform(text);
    if (platform === undefined) throw new UsageError(`--platform "${text}" is not OS/ARCH[/VARIANT], e.g. linux/arm64/v8`);
    return platform;
  });
  if (values['dest-secret'] !== undefined && (values['dest-creds'] ?? env.ECR_REPLICATE_DEST_CREDS) !== undefined) {
    throw new UsageError('--dest-secret and --dest-creds (or ECR_REPLICATE_DEST_CREDS) are exclusive: give one');
  }
  const sourceCreds = values['src-creds'] ?? env.ECR_REPLICATE_SRC_CREDS;
  const destinationCreds = values['dest-creds'] ?? env.ECR_REPLICATE_DEST_CREDS;
  for (const [name, value] of [['--src-creds', sourceCreds], ['--dest-creds', destinationCreds]] as const) {
    if (value !== undefined && value.indexOf(':') <= 0) throw new UsageError(`${name} must be USER:PASSWORD`);
  }
  return {
    source,
    destination,
    ...(sourceCreds !== undefined ? { sourceCreds } : {}),
    ...(destinationCreds !== undefined ? { destinationCreds } : {}),
    ...(values['dest-secret'] !== undefined ? { destinationSecret: values['dest-secret'] } : {}),
    platforms,
    referrers: values['no-referrers'] !== true,
    concurrency: positiveInteger(values.concurrency, '--concurrency', 8, 64),
    retries: positiveInteger(values.retries, '--retries', DEFAULT_RETRY_POLICY.attempts, 20),
    plainHttp: values['plain-http'] ?? [],
    json: values.json === true,
    dockerConfigPath: dockerConfigPath(env),
  };
}

export { COPY_HELP };

/** Runs a parsed copy; events go to `onEvent`. */
export async function runCopy(args: CopyArguments, onEvent: (event: CopyEvent) => void): Promise<CopyResult> {
  const retry = { ...DEFAULT_RETRY_POLICY, attempts: args.retries };
  const onRetry = (notice: { what: string; attempt: number; delayMs: number; error: Error }): void =>
    onEvent({ type: 'retry', what: notice.what, attempt: notice.attempt, delayMs: Math.round(notice.delayMs), message: notice.error.message });
  const secret = args.destinationSecret === undefined ? undefined : await loadDestinationSecret(args.destinationSecret);
  const sourceAuth = chooseCredentials(args.source.registry, {
    dockerConfigPath: args.dockerConfigPath,
    ...(args.sourceCreds !== undefined ? { explicit: args.sourceCreds, explicitName: '--src-creds' } : {}),
  });
  const destinationAuth = chooseCredentials(args.destination.registry, {
    dockerConfigPath: args.dockerConfigPath,
    ...(args.destinationCreds !== undefined ? { explicit: args.destinationCreds, explicitName: '--dest-creds' } : {}),
    ...(secret !== undefined ? { secret } : {}),
  });
  const connections = Math.max(16, args.concurrency * 2);
  const source = new RegistryClient({
    host: args.source.registry,
    credentials: sourceAuth.source,
    basicUpFront: sourceAuth.basicUpFront,
    plainHttp: usesPlainHttp(args.source.registry, args.plainHttp),
    retry,
    connections,
    onRetry,
  });
  const destination =
    args.destination.registry === args.source.registry && args.destinationCreds === args.sourceCreds && secret === undefined
      ? source
      : new RegistryClient({
          host: args.destination.registry,
          credentials: destinationAuth.source,
          basicUpFront: destinationAuth.basicUpFront,
          plainHttp: usesPlainHttp(args.destination.registry, args.plainHttp),
          retry,
          connections,
          onRetry,
        });
  try {
    const reference = args.source.digest ?? (args.source.tag as string);
    const tag = args.destination.tag ?? args.source.tag;
    return await copyImage({
      source: { client: source, repository: args.source.repository, reference },
      destination: { client: destination, repository: args.destination.repository, ...(tag !== undefined ? { tag } : {}) },
      platforms: args.platforms,
      referrers: args.referrers,
      concurrency: args.concurrency,
      retry,
      onEvent,
    });
  } finally {
    await Promise.all([source.close(), destination === source ? undefined : destination.close()]);
  }
}

export function describe(reference: ImageReference): string {
  return formatReference(reference);
}
