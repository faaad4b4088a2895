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
import { enqueuePlan, type SourceRegistryIdentity } from '@ecr-replicate/repair';
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
  /** `direct`: copy here; `enqueue`: queue a request per differing tag for the workers. */
  mode: 'direct' | 'enqueue';
  queueUrl?: string;
  /** The source registry the queued requests name (enqueue mode). */
  sourceIdentity?: SourceRegistryIdentity;
  dryRun: boolean;
  /** Images copied at once; four times as many requests while comparing. */
  concurrency: number;
  json: boolean;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const FIFO_QUEUE_URL = /^https?:\/\/[^\s/]+\/\S+\.fifo$/;
const ACCOUNT_ID = /^\d{12}$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;

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
  'source-account': { type: 'string' },
  'source-region': { type: 'string' },
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
  if (queueUrl !== undefined && !FIFO_QUEUE_URL.test(queueUrl)) {
    throw new UsageError(
      `--enqueue "${queueUrl}" is not the URL of a FIFO queue (https://sqs.<region>.amazonaws.com/<account>/<name>.fifo)`,
    );
  }
  const sourceIdentity =
    queueUrl === undefined ? undefined : enqueueSource(source, values['source-account'], values['source-region']);
  if (queueUrl === undefined && (values['source-account'] !== undefined || values['source-region'] !== undefined)) {
    throw new UsageError('--source-account and --source-region only go with --enqueue');
  }
  const access = parseRegistryAccess(values, env);
  return {
    source,
    destination,
    ...access,
    config: readConfig(values.config, env),
    mode: queueUrl === undefined ? 'direct' : 'enqueue',
    ...(queueUrl !== undefined ? { queueUrl } : {}),
    ...(sourceIdentity !== undefined ? { sourceIdentity } : {}),
    dryRun: values['dry-run'] === true,
    concurrency: positiveInteger(values.concurrency, '--concurrency', 4, 64),
    json: values.json === true,
  };
}

/**
 * The ECR registry queued requests name as their source: the source host's, or the one given for a stand-in registry.
 */
function enqueueSource(host: string, account: string | undefined, region: string | undefined): SourceRegistryIdentity {
  const ecr = tryParseEcrHost(host);
  if (ecr !== undefined) {
    if (account !== undefined || region !== undefined)
      throw new UsageError(
        `--source-account and --source-region are for a source that is not an ECR host; ${host} is ECR`,
      );
    return { accountId: ecr.accountId, region: ecr.region };
  }
  if (account === undefined || region === undefined) {
    throw new UsageError(
      `--enqueue needs the source's ECR account and region: ${host} is not an ECR host, so give --source-account and --source-region`,
    );
  }
  if (!ACCOUNT_ID.test(account)) throw new UsageError(`--source-account "${account}" is not a 12-digit AWS account id`);
  if (!REGION.test(region)) throw new UsageError(`--source-region "${region}" is not an AWS region such as us-east-1`);
  return { accountId: account, region };
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
    const plan = await planSync({
      source,
      destination,
      listRepositories:
        sourceEcr !== undefined
          ? () =>
              listEcrRepositories(
                sourceEcr,
                undefined,
                args.sourceProfile !== undefined ? { profile: args.sourceProfile } : {},
              )
          : () => source.listRepositories(),
      config: args.config,
      concurrency: args.concurrency * 4,
      onProgress: (progress) => reporter.scan(progress),
    });
    reporter.plan(plan);

    let results: EntryResult[] = [];
    if (!args.dryRun && args.mode === 'enqueue') {
      const region = regionOfQueueUrl(args.queueUrl as string);
      const sqs = new SQSClient(region !== undefined ? { region } : {});
      try {
        results = await enqueuePlan(plan, {
          sqs,
          queueUrl: args.queueUrl as string,
          source: args.sourceIdentity as SourceRegistryIdentity,
          onResult: (result) => reporter.result(result),
        });
      } finally {
        sqs.destroy();
      }
    } else if (!args.dryRun) {
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
      mode: args.dryRun ? 'dry-run' : args.mode,
      source: args.source,
      destination: args.destination,
      repositories: plan.repositories,
      tags: plan.tags,
      ...counts,
      ...(args.dryRun
        ? {}
        : args.mode === 'enqueue'
          ? { queued: results.filter((r) => r.outcome === 'queued').length }
          : { done: results.filter((r) => r.outcome === 'done' && r.restored === undefined).length }),
      ...(args.dryRun || args.mode === 'enqueue'
        ? {}
        : { bytesCopied: results.reduce((sum, r) => sum + (r.bytesCopied ?? 0), 0) }),
      failed,
      equal: failed === 0 && (changes === 0 || (!args.dryRun && args.mode === 'direct')),
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
