import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  ReplicationError,
  parseReplicationConfigJson,
  toReplicationError,
  tryParseEcrHost,
  type EcrRegistry,
  type ReplicationConfig,
} from '@ecr-replicate/common';
import { applyPlan, type EntryResult } from '@ecr-replicate/repair';
import { fanOutScan } from '@ecr-replicate/repair';
import { countActions, planSync } from '@ecr-replicate/repair';
import { listEcrRepositories } from '@ecr-replicate/ecr';
import type { RegistryEndpoint } from '@ecr-replicate/ecr';
import { removeTag } from '@ecr-replicate/ecr';
import type { CliIo } from './io';
import {
  REGISTRY_ACCESS_OPTIONS,
  openRegistries,
  normalizeTlsVerify,
  parseCommandLine,
  parseRegistryAccess,
  plainHttpFor,
  positiveInteger,
  type OpenedRegistries,
  type RegistryAccess,
} from './options';
import { JsonSyncReporter, TerminalSyncReporter, type SyncReporter, type SyncSummary } from './sync-reporter';
import { EXIT_FAILED, EXIT_OK, SYNC_HELP, UsageError } from './usage';

export interface SyncArguments extends RegistryAccess {
  /** Registry hosts (`host[:port]`). */
  source: string;
  destination: string;
  config: ReplicationConfig;
  /** `direct`: copy here; `enqueue`: one scan unit per repository for the deployed scan Lambdas. */
  mode: 'direct' | 'enqueue';
  /** The scan queue (enqueue mode). */
  queueUrl?: string;
  dryRun: boolean;
  /** Images copied at once; four times as many requests while comparing. */
  concurrency: number;
  json: boolean;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const QUEUE_URL = /^https?:\/\/[^\s/]+\/\S+$/;

function registryHost(raw: string, role: string): string {
  if (!HOST.test(raw)) {
    throw new UsageError(
      `${role} "${raw}" is not a registry host[:port] (sync works on whole registries: choose repositories with --config)`,
    );
  }
  return raw;
}

/** The configuration from --config FILE, else REPLICATION_CONFIG, else the defaults (everything). */
function readConfig(file: string | undefined, env: NodeJS.ProcessEnv): ReplicationConfig {
  let text = env.REPLICATION_CONFIG;
  let origin = 'REPLICATION_CONFIG';
  if (file !== undefined) {
    origin = `--config ${file}`;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(
        `${origin}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
  }
  try {
    return parseReplicationConfigJson(text);
  } catch (error) {
    if (error instanceof ReplicationError) throw new UsageError(`${origin}: ${error.message}`);
    throw error;
  }
}

/** Parses `sync` arguments; throws UsageError naming the bad argument. */
const SYNC_OPTIONS = {
  ...REGISTRY_ACCESS_OPTIONS,
  config: { type: 'string' },
  'dry-run': { type: 'boolean' },
  direct: { type: 'boolean' },
  enqueue: { type: 'string' },
} as const;

export function parseSyncArguments(argv: string[], env: NodeJS.ProcessEnv): SyncArguments | 'help' {
  const { values, positionals } = parseCommandLine(
    () =>
      parseArgs({
        args: normalizeTlsVerify(argv),
        allowPositionals: true,
        strict: true,
        options: SYNC_OPTIONS,
      }),
    SYNC_OPTIONS,
  );
  if (values.help === true) return 'help';
  if (positionals.length !== 2) {
    throw new UsageError(
      `sync takes SOURCE_REGISTRY and DESTINATION_REGISTRY (got ${positionals.length} argument${positionals.length === 1 ? '' : 's'})`,
    );
  }
  const source = registryHost(positionals[0] as string, 'SOURCE_REGISTRY');
  const destination = registryHost(positionals[1] as string, 'DESTINATION_REGISTRY');
  if (values.direct === true && values.enqueue !== undefined)
    throw new UsageError('--direct and --enqueue are exclusive: give one');
  const queueUrl = values.enqueue;
  if (queueUrl !== undefined && !QUEUE_URL.test(queueUrl)) {
    throw new UsageError(
      `--enqueue "${queueUrl}" is not the URL of an SQS queue (https://sqs.<region>.amazonaws.com/<account>/<name>)`,
    );
  }
  if (queueUrl !== undefined && queueUrl.endsWith('.fifo')) {
    throw new UsageError(
      `--enqueue "${queueUrl}" is a FIFO queue (the request queue): give the scan queue (the stack's ScanQueueUrl output); the deployed scan Lambdas compare each repository and queue the requests`,
    );
  }
  const access = parseRegistryAccess(values, env);
  return {
    source,
    destination,
    ...access,
    config: readConfig(values.config, env),
    mode: queueUrl === undefined ? 'direct' : 'enqueue',
    ...(queueUrl !== undefined ? { queueUrl } : {}),
    dryRun: values['dry-run'] === true,
    concurrency: positiveInteger(values.concurrency, '--concurrency', 4, 64),
    json: values.json === true,
  };
}

/** The region of an SQS queue URL (`https://sqs.<region>.amazonaws.com/...`), when it says. */
export function regionOfQueueUrl(url: string): string | undefined {
  const host = new URL(url).hostname;
  return (
    /^sqs(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(host)?.[1] ??
    /^([a-z0-9-]+)\.queue\.amazonaws\.com(?:\.cn)?$/.exec(host)?.[1]
  );
}

/**
 * Stands for "not an ECR registry" where the worker's tag removal wants an
 * identity: it reads the identity only for ECR endpoints (`isEcr`).
 */
const NOT_AN_ECR_REGISTRY: EcrRegistry = {
  accountId: '000000000000',
  region: 'us-east-1',
  partition: 'aws',
  fips: false,
};

function destinationEndpoint(host: string, access: RegistryAccess): RegistryEndpoint {
  const ecr = tryParseEcrHost(host);
  return {
    identity: ecr ?? NOT_AN_ECR_REGISTRY,
    host,
    plainHttp: plainHttpFor(host, access),
    isEcr: ecr !== undefined,
  };
}

function reporterFor(io: CliIo, args: SyncArguments): SyncReporter {
  return args.json || !io.stdout.isTTY || !io.stderr.isTTY
    ? new JsonSyncReporter(io.stdout, io.stderr)
    : new TerminalSyncReporter(io.stdout, io.stderr, args.dryRun);
}

/** `ecr-replicate sync`: the exit status. */
export async function syncCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseSyncArguments(argv, io.env);
  if (args === 'help') {
    io.stdout.write(SYNC_HELP);
    return EXIT_OK;
  }
  const reporter = reporterFor(io, args);
  const started = performance.now();
  let registries: OpenedRegistries | undefined;
  try {
    for (const message of args.warnings) reporter.copyEvent({ type: 'warning', message });
    registries = await openRegistries(args.source, args.destination, args, {
      connections: Math.max(16, args.concurrency * 8),
      onWarning: (message) => reporter.copyEvent({ type: 'warning', message }),
      diagnostics: (line) => io.stderr.write(line),
      onRetry: (notice) =>
        reporter.copyEvent({
          type: 'retry',
          what: notice.what,
          attempt: notice.attempt,
          delayMs: Math.round(notice.delayMs),
          message: notice.error.message,
        }),
    });
    const { source, destination } = registries;
    const sourceEcr = tryParseEcrHost(args.source);
    const listRepositories =
      sourceEcr !== undefined
        ? () =>
            listEcrRepositories(
              sourceEcr,
              undefined,
              args.sourceProfile !== undefined ? { profile: args.sourceProfile } : {},
            )
        : () => source.listRepositories();
    if (!args.dryRun && args.mode === 'enqueue') {
      // The fan-out: one scan unit per selected repository; the deployed scan Lambdas do the comparing.
      const queueUrl = args.queueUrl as string;
      const region = regionOfQueueUrl(queueUrl);
      const sqs = new SQSClient(region !== undefined ? { region } : {});
      try {
        const fanOut = await fanOutScan({
          listRepositories,
          config: args.config,
          sqs,
          scanQueueUrl: queueUrl,
          origin: 'sync',
          onUnit: (unit, outcome) => reporter.unit({ sourceRepository: unit.sourceRepository, ...outcome }),
        });
        for (const failure of fanOut.failures.filter((f) => f.stage !== 'enqueue'))
          reporter.unit({ sourceRepository: failure.sourceRepository ?? '', failure });
        reporter.fanOutSummary({
          mode: 'enqueue',
          source: args.source,
          queue: queueUrl,
          scanId: fanOut.scanId,
          repositories: fanOut.repositories,
          queued: fanOut.queued,
          failed: fanOut.failures.length,
          seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
        });
        return fanOut.failures.length === 0 ? EXIT_OK : EXIT_FAILED;
      } finally {
        sqs.destroy();
      }
    }
    const plan = await planSync({
      source,
      destination,
      listRepositories,
      config: args.config,
      concurrency: args.concurrency * 4,
      onProgress: (progress) => reporter.scan(progress),
    });
    reporter.plan(plan);

    let results: EntryResult[] = [];
    if (!args.dryRun) {
      const endpoint = destinationEndpoint(args.destination, args);
      const secret = registries.secret;
      const keys =
        secret === undefined ? undefined : { accessKeyId: secret.accesskey, secretAccessKey: secret.secretaccesskey };
      results = await applyPlan(plan, {
        source,
        destination,
        removeTag: (repository, tag) => removeTag({ endpoint, client: destination, keys }, repository, tag),
        concurrency: args.concurrency,
        retry: registries.retry,
        onEvent: (event) => reporter.copyEvent(event),
        onResult: (result) => reporter.result(result),
      });
    }

    const counts = countActions(plan.entries);
    const failed = plan.failures.length + results.filter((r) => r.outcome === 'failed').length;
    const changes = counts.copy + counts.update + counts.delete;
    const summary: SyncSummary = {
      mode: args.dryRun ? 'dry-run' : 'direct',
      source: args.source,
      destination: args.destination,
      repositories: plan.repositories,
      tags: plan.tags,
      ...counts,
      ...(args.dryRun
        ? {}
        : {
            done: results.filter((r) => r.outcome === 'done' && r.restored === undefined).length,
            bytesCopied: results.reduce((sum, r) => sum + (r.bytesCopied ?? 0), 0),
          }),
      failed,
      equal: failed === 0 && (changes === 0 || !args.dryRun),
      seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
    };
    reporter.summary(summary);
    return failed === 0 ? EXIT_OK : EXIT_FAILED;
  } catch (thrown) {
    if (thrown instanceof UsageError) throw thrown;
    const error = toReplicationError(thrown);
    reporter.error(error.code, error.message);
    return EXIT_FAILED;
  } finally {
    reporter.close();
    await registries?.close();
  }
}
