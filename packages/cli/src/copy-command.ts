import { parseArgs } from 'node:util';
import { ReplicationError, formatReference, parseReference, type ImageReference } from '@ecr-replicate/common/core';
import {
  copyImage,
  DEFAULT_BLOB_CONCURRENCY,
  parsePlatform,
  type CopyEvent,
  type CopyResult,
  type Platform,
} from '@ecr-replicate/oci';
import {
  REGISTRY_ACCESS_OPTIONS,
  openRegistries,
  normalizeTlsVerify,
  parseCommandLine,
  parseRegistryAccess,
  positiveInteger,
  type RegistryAccess,
} from './options';
import { COPY_HELP, UsageError } from './usage';

export interface CopyArguments extends RegistryAccess {
  source: ImageReference & { registry: string };
  destination: ImageReference & { registry: string };
  /** The destination as the copy ends: its tag filled in from the source's when not given. */
  target: ImageReference & { registry: string };
  platforms: Platform[];
  referrers: boolean;
  includeForeignLayers: boolean;
  concurrency: number;
  json: boolean;
}

/** Docker Hub's API host and its implicit `library/` namespace. */
function normalizeRegistry(
  reference: ImageReference,
  role: string,
  raw: string,
): ImageReference & { registry: string } {
  if (reference.registry === undefined) {
    throw new UsageError(
      `${role} "${raw}" names no registry: write registry/repository[:tag], e.g. 127.0.0.1:5000/app:1`,
    );
  }
  if (reference.registry === 'docker.io' || reference.registry === 'index.docker.io') {
    const repository = reference.repository.includes('/') ? reference.repository : `library/${reference.repository}`;
    return { ...reference, registry: 'registry-1.docker.io', repository };
  }
  return { ...reference, registry: reference.registry };
}

/** skopeo's and crane's transport prefix: `docker://` means the same registry API here, so it is dropped. */
function withoutTransport(raw: string, role: string): string {
  if (raw.startsWith('docker://')) return raw.slice('docker://'.length);
  const transport = /^([a-z][a-z0-9-]*):(?!\d)/.exec(raw)?.[1];
  if (
    transport !== undefined &&
    ['oci', 'dir', 'docker-archive', 'oci-archive', 'containers-storage', 'docker-daemon'].includes(transport)
  )
    throw new UsageError(
      `${role} "${raw}": only registries are supported (docker://registry/repository[:tag]), not ${transport}:`,
    );
  return raw;
}

function parseImage(raw: string, role: string): ImageReference & { registry: string } {
  try {
    return normalizeRegistry(parseReference(withoutTransport(raw, role)), role, raw);
  } catch (error) {
    if (error instanceof ReplicationError) throw new UsageError(`${role}: ${error.message}`);
    throw error;
  }
}

/** Parses `copy` arguments; throws UsageError naming the bad argument. */
const COPY_OPTIONS = {
  ...REGISTRY_ACCESS_OPTIONS,
  platform: { type: 'string', multiple: true },
  'no-referrers': { type: 'boolean' },
  'include-foreign-layers': { type: 'boolean' },
} as const;

export function parseCopyArguments(argv: string[], env: NodeJS.ProcessEnv): CopyArguments | 'help' {
  const parsed = parseCommandLine(
    () =>
      parseArgs({
        args: normalizeTlsVerify(argv),
        allowPositionals: true,
        strict: true,
        options: COPY_OPTIONS,
      }),
    COPY_OPTIONS,
  );
  const { values, positionals } = parsed;
  if (values.help === true) return 'help';
  if (positionals.length !== 2) {
    throw new UsageError(
      `copy takes SOURCE and DESTINATION (got ${positionals.length} argument${positionals.length === 1 ? '' : 's'})`,
    );
  }
  const source = parseImage(positionals[0] as string, 'SOURCE');
  const destination = parseImage(positionals[1] as string, 'DESTINATION');
  if (source.tag === undefined && source.digest === undefined) source.tag = 'latest';
  if (destination.digest !== undefined) {
    throw new UsageError(`DESTINATION "${positionals[1]}" has a digest: name a tag (or none to keep the source's)`);
  }
  const platforms = (values.platform ?? []).map((text) => {
    const platform = parsePlatform(text);
    if (platform === undefined)
      throw new UsageError(`--platform "${text}" is not OS/ARCH[/VARIANT], e.g. linux/arm64/v8`);
    return platform;
  });
  const access = parseRegistryAccess(values, env);
  const tag = destination.tag ?? source.tag;
  return {
    source,
    destination,
    target: { ...destination, ...(tag !== undefined ? { tag } : {}) },
    ...access,
    platforms,
    referrers: values['no-referrers'] !== true,
    includeForeignLayers: values['include-foreign-layers'] === true,
    concurrency: positiveInteger(values.concurrency, '--concurrency', DEFAULT_BLOB_CONCURRENCY, 64),
    json: values.json === true,
  };
}

export { COPY_HELP };

/** Runs a parsed copy; events go to `onEvent`. */
export async function runCopy(
  args: CopyArguments,
  onEvent: (event: CopyEvent) => void,
  options: { diagnostics?: (line: string) => void } = {},
): Promise<CopyResult> {
  const onRetry = (notice: { what: string; attempt: number; delayMs: number; error: Error }): void =>
    onEvent({
      type: 'retry',
      what: notice.what,
      attempt: notice.attempt,
      delayMs: Math.round(notice.delayMs),
      message: notice.error.message,
    });
  for (const message of args.warnings) onEvent({ type: 'warning', message });
  const registries = await openRegistries(args.source.registry, args.destination.registry, args, {
    connections: Math.max(16, args.concurrency * 2),
    onRetry,
    onWarning: (message) => onEvent({ type: 'warning', message }),
    ...(options.diagnostics !== undefined ? { diagnostics: options.diagnostics } : {}),
  });
  try {
    const reference = args.source.digest ?? (args.source.tag as string);
    const tag = args.destination.tag ?? args.source.tag;
    return await copyImage({
      source: { client: registries.source, repository: args.source.repository, reference },
      destination: {
        client: registries.destination,
        repository: args.destination.repository,
        ...(tag !== undefined ? { tag } : {}),
      },
      platforms: args.platforms,
      referrers: args.referrers,
      includeForeignLayers: args.includeForeignLayers,
      concurrency: args.concurrency,
      retry: registries.retry,
      onEvent,
    });
  } finally {
    await registries.close();
  }
}

export function describe(reference: ImageReference): string {
  return formatReference(reference);
}
