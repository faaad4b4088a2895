import { parseArgs } from 'node:util';
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type * as CloudFormation from '@aws-sdk/client-cloudformation';
import {
  JobStatus,
  RegionSchema,
  digestProblem,
  repositoryProblem,
  tagProblem,
  type JobRecord,
} from '@ecr-replicate/common';
import { JobStore, createJobTableClient } from '@ecr-replicate/common/state';
import { shortDigest } from '@ecr-replicate/repair';
import { formatTable, type CliIo } from './io';
import { parseCommandLine } from './options';
import { EXIT_FAILED, EXIT_OK, STATUS_HELP, UsageError } from './usage';

export interface StatusArguments {
  /** Destination repository (what job keys use), and optionally a tag or a digest. */
  repository?: string;
  tag?: string;
  digest?: string;
  /** The job table; absent when it is to be found from the deployed stack (`stack`). */
  table?: string;
  /** The deployed source stack whose `JobTableName` output names the table. */
  stack?: string;
  status?: JobStatus;
  region?: string;
  json: boolean;
  /** Seconds between reads with --watch; absent: read once. */
  watchSeconds?: number;
}

const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
/** The Serverless service name of the source stack (serverless.yml): its stacks are `<service>-<stage>`. */
const SERVICE = 'ecr-partition-replicate';

const STATUS_OPTIONS = {
  table: { type: 'string' },
  stage: { type: 'string' },
  stack: { type: 'string' },
  status: { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean' },
  watch: { type: 'boolean' },
  interval: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses `status` arguments; throws UsageError naming the bad argument. */
export function parseStatusArguments(argv: string[], env: NodeJS.ProcessEnv): StatusArguments | 'help' {
  const { values, positionals } = parseCommandLine(
    () => parseArgs({ args: argv, allowPositionals: true, strict: true, options: STATUS_OPTIONS }),
    STATUS_OPTIONS,
  );
  if (values.help === true) return 'help';
  if (positionals.length > 1)
    throw new UsageError(`status takes at most one REPOSITORY[:TAG] (got ${positionals.length} arguments)`);
  const table = values.table ?? (env.JOB_TABLE || undefined);
  if (table !== undefined && !TABLE_NAME.test(table))
    throw new UsageError(`--table "${table}" is not a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -)`);
  if (values.stage !== undefined && values.stack !== undefined)
    throw new UsageError('--stage and --stack both name the stack: give one');
  for (const [name, value] of [
    ['--stage', values.stage],
    ['--stack', values.stack],
  ] as const) {
    if (value !== undefined && !STACK_NAME.test(value))
      throw new UsageError(`${name} "${value}" is not a stack or stage name (letters, digits and -, from a letter)`);
  }
  const stack = values.stack ?? (values.stage !== undefined ? `${SERVICE}-${values.stage}` : undefined);
  if (table === undefined && stack === undefined)
    throw new UsageError(
      `give the job table: --stage STAGE (the deployed stack ${SERVICE}-STAGE says it), --stack NAME, or --table NAME (or JOB_TABLE)`,
    );
  let status: JobStatus | undefined;
  if (values.status !== undefined) {
    const parsed = JobStatus.safeParse(values.status.toUpperCase());
    if (!parsed.success)
      throw new UsageError(`--status "${values.status}" is not one of ${JobStatus.options.join(', ')}`);
    status = parsed.data;
  }
  if (values.region !== undefined && !RegionSchema.safeParse(values.region).success)
    throw new UsageError(`--region "${values.region}" is not an AWS region such as us-east-1`);
  if (values.interval !== undefined && values.watch !== true) throw new UsageError('--interval goes with --watch');
  if (values.interval !== undefined && !(/^\d+(\.\d+)?$/.test(values.interval) && Number(values.interval) >= 0.2))
    throw new UsageError(`--interval "${values.interval}" must be a number of seconds, at least 0.2`);
  return {
    ...(values.watch === true ? { watchSeconds: Number(values.interval ?? 5) } : {}),
    ...(positionals[0] !== undefined ? parseJobFilter(positionals[0]) : {}),
    ...(table !== undefined ? { table } : { stack: stack as string }),
    ...(status !== undefined ? { status } : {}),
    ...(values.region !== undefined ? { region: values.region } : {}),
    json: values.json === true,
  };
}

/** `repository`, `repository:tag` or `repository@digest`. */
function parseJobFilter(text: string): Pick<StatusArguments, 'repository' | 'tag' | 'digest'> {
  const at = text.indexOf('@');
  const colon = text.indexOf(':');
  const repository = at >= 0 ? text.slice(0, at) : colon >= 0 ? text.slice(0, colon) : text;
  const repositoryIssue = repositoryProblem(repository);
  if (repositoryIssue !== undefined) throw new UsageError(`REPOSITORY "${repository}": ${repositoryIssue}`);
  if (at >= 0) {
    const digest = text.slice(at + 1);
    const issue = digestProblem(digest);
    if (issue !== undefined) throw new UsageError(`DIGEST "${digest}": ${issue}`);
    return { repository, digest };
  }
  if (colon >= 0) {
    const tag = text.slice(colon + 1);
    const issue = tagProblem(tag);
    if (issue !== undefined) throw new UsageError(`TAG "${tag}": ${issue}`);
    return { repository, tag };
  }
  return { repository };
}

/**
 * The DynamoDB client settings from the command's environment: the region
 * (--region, AWS_REGION, AWS_DEFAULT_REGION, else the SDK's own lookup), an
 * endpoint override (AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL, as the SDK
 * itself honours them) and keys from the environment when it holds them.
 */
function dynamoDbConfig(args: StatusArguments, env: NodeJS.ProcessEnv): DynamoDBClientConfig {
  const region = args.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const endpoint = env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL;
  const {
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_SESSION_TOKEN: sessionToken,
  } = env;
  return {
    ...(region !== undefined && region !== '' ? { region } : {}),
    ...(endpoint !== undefined && endpoint !== '' ? { endpoint } : {}),
    ...(accessKeyId && secretAccessKey
      ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } }
      : {}),
  };
}

/** The job table's name from the deployed stack's `JobTableName` output (CloudFormation DescribeStacks). */
async function tableOfStack(stack: string, args: StatusArguments, env: NodeJS.ProcessEnv): Promise<string> {
  const { CloudFormationClient, DescribeStacksCommand } = cloudFormationSdk();
  const config = dynamoDbConfig(args, env);
  const endpoint = env.AWS_ENDPOINT_URL_CLOUDFORMATION ?? env.AWS_ENDPOINT_URL;
  const client = new CloudFormationClient({
    ...(config.region !== undefined ? { region: config.region } : {}),
    ...(config.credentials !== undefined ? { credentials: config.credentials } : {}),
    ...(endpoint !== undefined && endpoint !== '' ? { endpoint } : {}),
  });
  try {
    const answer = await client.send(new DescribeStacksCommand({ StackName: stack }));
    const output = answer.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'JobTableName')?.OutputValue;
    if (output === undefined || !TABLE_NAME.test(output))
      throw new Error(`stack ${stack} has no JobTableName output: is it the source stack? (or give --table NAME)`);
    return output;
  } catch (error) {
    const name = (error as { name?: string }).name ?? 'Error';
    const message = (error as { message?: string }).message ?? String(error);
    if (message.startsWith(`stack ${stack} has no`)) throw error;
    const hint = /region is missing/i.test(message)
      ? ' (pass --region or set AWS_REGION)'
      : /does not exist/.test(message)
        ? ' (is the stage, region and account right? or give --table NAME)'
        : '';
    throw new Error(`cannot read stack ${stack}: ${name === 'Error' ? '' : `${name}: `}${message}${hint}`);
  } finally {
    client.destroy();
  }
}

function cloudFormationSdk(): typeof CloudFormation {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@aws-sdk/client-cloudformation') as typeof CloudFormation;
}

/** The jobs the arguments ask for, sorted by job key. */
async function readJobs(store: JobStore, args: StatusArguments): Promise<JobRecord[]> {
  if (args.repository !== undefined && (args.tag !== undefined || args.digest !== undefined)) {
    const key = args.tag !== undefined ? `${args.repository}:${args.tag}` : `${args.repository}@${args.digest}`;
    const record = await store.get(key);
    return record !== undefined && (args.status === undefined || record.status === args.status) ? [record] : [];
  }
  const options = args.status !== undefined ? { status: args.status } : {};
  // One repository: a Query on the table's repository index; everything: a Scan.
  return args.repository === undefined ? store.list(options) : store.listRepository(args.repository, options);
}

/** `42s`, `5m`, `3h`, `4d`. */
export function formatAge(milliseconds: number): string {
  const seconds = Math.max(0, Math.floor(milliseconds / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** One job for `--json`: in the words of ECR's DescribeImageReplicationStatus, plus what the table knows. */
export function jobView(record: JobRecord, now: number): Record<string, unknown> {
  const inProgress = record.status === 'IN_PROGRESS';
  return {
    jobKey: record.jobKey,
    repository: record.destinationRepository,
    ...(record.tag !== undefined ? { tag: record.tag } : {}),
    status: record.status,
    desiredDigest: record.desiredDigest,
    ...(record.replicatedDigest !== undefined ? { replicatedDigest: record.replicatedDigest } : {}),
    attempts: record.attempts,
    ...(record.lastError !== undefined ? { lastError: record.lastError } : {}),
    updatedAt: new Date(record.updatedAt).toISOString(),
    ageSeconds: Math.max(0, Math.floor((now - record.updatedAt) / 1000)),
    ...(inProgress && record.leaseOwner !== undefined ? { leaseOwner: record.leaseOwner } : {}),
    ...(inProgress && record.leaseExpiresAt !== undefined
      ? { leaseExpiresAt: new Date(record.leaseExpiresAt).toISOString() }
      : {}),
    ...(record.dirty ? { dirty: true } : {}),
    action: record.action,
    source: { accountId: record.sourceAccountId, region: record.sourceRegion, repository: record.sourceRepository },
    lastEventTime: record.lastEventTime,
    ...(record.completedAt !== undefined ? { completedAt: new Date(record.completedAt).toISOString() } : {}),
    ...(record.bytesCopied !== undefined ? { bytesCopied: record.bytesCopied } : {}),
    ...(record.durationSeconds !== undefined ? { durationSeconds: record.durationSeconds } : {}),
  };
}

/** The jobs as a table: one row each, the detail (lease or last error) last. */
export function formatJobs(records: readonly JobRecord[], now: number): string {
  const rows = records.map((r) => {
    const detail =
      r.status === 'IN_PROGRESS' && r.leaseOwner !== undefined
        ? `leased to ${r.leaseOwner}${r.leaseExpiresAt !== undefined ? ` until ${new Date(r.leaseExpiresAt).toISOString()}` : ''}${r.dirty ? ' (newer request waiting)' : ''}`
        : r.lastError !== undefined
          ? `${r.status === 'COMPLETE' ? 'earlier: ' : ''}${r.lastError.code}: ${r.lastError.message}`
          : '';
    const job = r.tag === undefined ? `${r.destinationRepository}@${shortDigest(r.desiredDigest)}` : r.jobKey;
    return [
      job,
      r.status,
      shortDigest(r.desiredDigest),
      shortDigest(r.replicatedDigest),
      String(r.attempts),
      formatAge(now - r.updatedAt),
      detail,
    ];
  });
  const byStatus = new Map<string, number>();
  for (const r of records) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
  const counts = [...byStatus].map(([status, n]) => `${n} ${status}`).join(', ');
  return `${formatTable([['JOB', 'STATUS', 'DESIRED', 'REPLICATED', 'ATTEMPTS', 'AGE', 'DETAIL'], ...rows])}${records.length} job${records.length === 1 ? '' : 's'}: ${counts}\n`;
}

function describeFilter(args: StatusArguments): string {
  const what =
    args.repository === undefined
      ? 'any repository'
      : args.tag !== undefined
        ? `${args.repository}:${args.tag}`
        : args.digest !== undefined
          ? `${args.repository}@${args.digest}`
          : args.repository;
  return `${what}${args.status !== undefined ? ` with status ${args.status}` : ''}`;
}

/** `ecr-replicate status`: the exit status. */
export async function statusCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseStatusArguments(argv, io.env);
  if (args === 'help') {
    io.stdout.write(STATUS_HELP);
    return EXIT_OK;
  }
  if (args.table === undefined) {
    try {
      args.table = await tableOfStack(args.stack as string, args, io.env);
    } catch (error) {
      io.stderr.write(`ecr-replicate status: ${(error as Error).message}\n`);
      return EXIT_FAILED;
    }
  }
  const client = createJobTableClient(dynamoDbConfig(args, io.env));
  const store = new JobStore(client, args.table);
  try {
    if (args.watchSeconds === undefined) return await showJobs(store, args, io, false);
    // --watch: read and show again every interval until stopped (Ctrl-C); a failed read is shown and retried.
    for (let round = 0; io.signal?.aborted !== true; round += 1) {
      await showJobs(store, args, io, true);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, args.watchSeconds! * 1000);
        io.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
    return EXIT_OK;
  } finally {
    client.destroy();
  }
}

/** Reads the jobs once and prints them; with `watching`, a terminal is redrawn and other output gets a time line. */
async function showJobs(store: JobStore, args: StatusArguments, io: CliIo, watching: boolean): Promise<number> {
  let records: JobRecord[];
  try {
    records = await readJobs(store, args);
  } catch (thrown) {
    const cause = (thrown as { cause?: unknown }).cause ?? thrown;
    const name = (cause as { name?: string }).name ?? 'Error';
    const message = ((cause as { message?: string }).message ?? String(cause)).replace(
      /^AWS SDK error wrapper for (?:Error: )?/,
      '',
    );
    const reason = name === 'Error' || message.startsWith(name) ? message : `${name}: ${message}`;
    const hint = /region is missing/i.test(message)
      ? ' (pass --region or set AWS_REGION)'
      : name === 'ResourceNotFoundException'
        ? ' (are the name, region and account right?)'
        : '';
    io.stderr.write(`ecr-replicate status: cannot read the job table "${args.table}": ${reason}${hint}\n`);
    return EXIT_FAILED;
  }
  const now = Date.now();
  if (watching && !args.json) {
    const clear = io.stdout.isTTY === true ? '\x1b[H\x1b[2J' : '';
    io.stdout.write(`${clear}${new Date(now).toISOString()}  every ${args.watchSeconds} s (Ctrl-C to stop)\n`);
  }
  if (args.json) {
    for (const record of records) io.stdout.write(`${JSON.stringify(jobView(record, now))}\n`);
  } else if (records.length === 0) {
    (watching ? io.stdout : io.stderr).write(`no job in table "${args.table}" for ${describeFilter(args)}\n`);
  } else {
    io.stdout.write(formatJobs(records, now));
  }
  return EXIT_OK;
}
