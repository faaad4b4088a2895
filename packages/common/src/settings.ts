import { z } from 'zod';
import { ErrorCode, ValidationError } from './errors';
import { parseReplicationConfigJson } from './models/config';
import { parseWith } from './validation';
import { parseApiQuotas } from './quotas';

/**
 * The environment of every component, defined once: each variable's name and
 * schema live here, and each component picks the variables it reads. A bad
 * environment is reported as a {@link ValidationError} naming each variable
 * and what is wrong with it, never its value.
 */

/** Environment variable names, by setting name. */
export const EnvName = {
  /** URL of the FIFO request queue (ingest sends to it, the retry forwarder re-sends to it). */
  requestQueueUrl: 'REQUEST_QUEUE_URL',
  /** URL of the standard retry queue (per-message delays), see the dispatcher's build-state handler. */
  retryQueueUrl: 'RETRY_QUEUE_URL',
  /**
   * The replication configuration as JSON; empty or unset means the defaults. Deployed components read
   * it from the configuration store instead (the three REPLICATION_CONFIG_* variables below).
   */
  replicationConfig: 'REPLICATION_CONFIG',
  /** The configuration store: the S3 bucket of the deployment's configuration object. */
  replicationConfigBucket: 'REPLICATION_CONFIG_BUCKET',
  /** The configuration object's key (one per deployment). */
  replicationConfigKey: 'REPLICATION_CONFIG_KEY',
  /** The SHA-256 (hex) the configuration object must have: what was validated at packaging. */
  replicationConfigSha256: 'REPLICATION_CONFIG_SHA256',
  /** FIPS endpoints for the AWS SDK clients and the ECR registry host of the source side (the SDK reads it too). */
  useFipsEndpoint: 'AWS_USE_FIPS_ENDPOINT',
  /** FIPS endpoints for the destination side (its ECR client and registry host). */
  destUseFipsEndpoint: 'DEST_USE_FIPS_ENDPOINT',
  /** Create a missing destination repository with the source's settings (within the configuration's scope). */
  createRepositories: 'CREATE_REPOSITORIES',
  /** The worker's own account: it refuses requests naming another source account. */
  sourceAccountId: 'SOURCE_ACCOUNT_ID',
  /** The worker's own region: it refuses requests naming another source region. */
  sourceRegion: 'SOURCE_REGION',
  /** Name of the DynamoDB job table. */
  jobTable: 'JOB_TABLE',
  /** Name of the CodeBuild project that runs the worker. */
  workerProjectName: 'WORKER_PROJECT_NAME',
  /** Lease length in seconds; the worker renews its lease well before it ends. */
  leaseSeconds: 'LEASE_SECONDS',
  /** Builds per job before it is given up (status FAILED). */
  maxAttempts: 'MAX_ATTEMPTS',
  /** The worker's jobs: a JSON array of job keys. */
  jobKeys: 'JOB_KEYS',
  /** The lease owner id the worker's jobs are leased to. */
  leaseOwner: 'LEASE_OWNER',
  /** Secrets Manager id (name or ARN) of the destination-credentials secret. */
  destSecretId: 'DEST_SECRET_ID',
  /** Optional destination registry override (`host[:port]`, optionally with `http://` or `https://`). */
  destRegistry: 'DEST_REGISTRY',
  /** Optional source registry override, like DEST_REGISTRY (local runs: the source is not ECR). */
  sourceRegistry: 'SOURCE_REGISTRY',
  /** Destination region when the destination secret has none. */
  destRegion: 'DEST_REGION',
  /** Seconds a PENDING job may stay unchanged before the sweeper re-queues it. */
  sweepPendingSeconds: 'SWEEP_PENDING_SECONDS',
  /** Tags the scheduled repair (drift repair) compares at once. */
  repairConcurrency: 'REPAIR_CONCURRENCY',
  /**
   * The destination's request quotas the workers pace their calls at (`quotas.ts`): unset for ECR's defaults, `off`,
   * or `PutImage=20,UploadLayerPart=1000` (requests per second; unnamed APIs keep their defaults).
   */
  destApiQuotas: 'DEST_API_QUOTAS',
  /** The copy Lambda the dispatcher hands leased jobs to (name or ARN); unset or empty: CodeBuild only. */
  copyFunctionName: 'COPY_FUNCTION_NAME',
  /**
   * Seconds the copy Lambda keeps back from its time limit for what follows a copy (the tag write, the job's record,
   * a hand-off to CodeBuild): a blob starts only when it is expected to end before that.
   */
  copyReserveSeconds: 'COPY_RESERVE_SECONDS',
  /** Throughput (MiB/s) the copy Lambda assumes for an image until it has measured its own. */
  copyAssumedMibps: 'COPY_ASSUMED_MIBPS',
  /** URL of the standard scan queue: one message per repository (or page of tags) of a fan-out scan. */
  scanQueueUrl: 'SCAN_QUEUE_URL',
  /** Tags per page of a fan-out scan: a repository with more is split into pages scanned in parallel. */
  scanPageTags: 'SCAN_PAGE_TAGS',
} as const;

export type SettingName = keyof typeof EnvName;
export type EnvName = (typeof EnvName)[SettingName];

export const DEFAULT_LEASE_SECONDS = 900;
export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_REPAIR_CONCURRENCY = 8;
export const DEFAULT_SCAN_PAGE_TAGS = 1_000;
/** Longer than the longest deferral (300 s) and retry delay (900 s) a PENDING job may legitimately wait. */
export const DEFAULT_SWEEP_PENDING_SECONDS = 1_200;
/** What the copy Lambda keeps back from its time limit (see COPY_RESERVE_SECONDS). */
export const DEFAULT_COPY_RESERVE_SECONDS = 30;
/** A conservative guess of a Lambda's throughput between partitions before it has measured its own. */
export const DEFAULT_COPY_ASSUMED_MIBPS = 40;

/** An environment: `process.env` or any map of names to optional strings. */
export type Environment = Readonly<Record<string, string | undefined>>;

const QueueUrlSchema = z
  .string()
  .regex(/^https?:\/\/[^\s/]+\/\S+$/, 'must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)');

const TableNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -)');

const ProjectNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{1,254}$/,
    'must be a CodeBuild project name (2 to 255 of A-Z a-z 0-9 _ -, starting with a letter or digit)',
  );

/** A whole number within bounds, with a default when unset or empty. */
function wholeNumber(min: number, max: number, fallback: number) {
  return z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text.trim() === '') return fallback;
      const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return value;
    });
}

/** A decimal number within bounds (e.g. `0.5`), with a default when unset or empty. */
function decimalNumber(min: number, max: number, fallback: number) {
  return z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text.trim() === '') return fallback;
      const value = /^\d+(?:\.\d+)?$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
      if (!Number.isFinite(value) || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `must be a number from ${min} to ${max}` });
        return z.NEVER;
      }
      return value;
    });
}

/** The replication configuration: JSON text, validated; its field errors keep their paths. */
const ReplicationConfigTextSchema = z
  .string()
  .optional()
  .transform((text, ctx) => {
    try {
      return parseReplicationConfigJson(text);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      for (const issue of error.issues) ctx.addIssue({ code: 'custom', message: `${issue.path}: ${issue.reason}` });
      return z.NEVER;
    }
  });

/** A JSON array of 1 to 100 distinct job keys. */
const JobKeysTextSchema = z
  .string()
  .min(1, 'must not be empty')
  .transform((text, ctx) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array of job keys' });
      return z.NEVER;
    }
    const keys = z.array(z.string().min(1)).min(1).max(100).safeParse(value);
    if (!keys.success || new Set(keys.data).size !== keys.data.length) {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array of 1 to 100 distinct, non-empty job keys' });
      return z.NEVER;
    }
    return keys.data;
  });

const LeaseOwnerSchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,128}$/, 'must be 1 to 128 printable ASCII characters without spaces');

const SecretIdSchema = z.string().regex(/^\S{1,2048}$/, 'must be a Secrets Manager secret name or ARN');

const RegistryOverrideSchema = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined || text.trim() === '') return undefined;
    if (!/^(?:https?:\/\/)?(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?\/?$/.test(text.trim())) {
      ctx.addIssue({ code: 'custom', message: 'must be a registry host[:port], optionally with http:// or https://' });
      return z.NEVER;
    }
    return text.trim();
  });

/** 'true' or 'false' (any case), or unset/empty for `fallback`. */
function flag(fallback: boolean) {
  return z
    .string()
    .optional()
    .transform((text, ctx) => {
      const value = text === undefined ? '' : text.trim().toLowerCase();
      if (value === '') return fallback;
      if (value === 'true' || value === 'false') return value === 'true';
      ctx.addIssue({ code: 'custom', message: 'must be true or false' });
      return z.NEVER;
    });
}

/** An optional value: unset or empty is undefined, anything else must match `pattern`. */
function optionalMatching(pattern: RegExp, message: string) {
  return z
    .string()
    .optional()
    .transform((text) => (text === undefined || text.trim() === '' ? undefined : text.trim()))
    .pipe(z.string().regex(pattern, message).optional());
}

const SETTING_SCHEMAS = {
  requestQueueUrl: QueueUrlSchema,
  retryQueueUrl: QueueUrlSchema,
  replicationConfig: ReplicationConfigTextSchema,
  jobTable: TableNameSchema,
  workerProjectName: ProjectNameSchema,
  leaseSeconds: wholeNumber(2, 43_200, DEFAULT_LEASE_SECONDS),
  maxAttempts: wholeNumber(1, 100, DEFAULT_MAX_ATTEMPTS),
  jobKeys: JobKeysTextSchema,
  leaseOwner: LeaseOwnerSchema,
  destSecretId: SecretIdSchema,
  destRegistry: RegistryOverrideSchema,
  sourceRegistry: RegistryOverrideSchema,
  destRegion: z
    .string()
    .optional()
    .transform((text) => (text === undefined || text.trim() === '' ? undefined : text.trim()))
    .pipe(
      z
        .string()
        .regex(/^[a-z]{2}(?:-[a-z]+)+-\d+$/, 'must be an AWS region such as us-gov-west-1')
        .optional(),
    ),
  repairConcurrency: wholeNumber(1, 64, DEFAULT_REPAIR_CONCURRENCY),
  scanQueueUrl: QueueUrlSchema,
  scanPageTags: wholeNumber(1, 100_000, DEFAULT_SCAN_PAGE_TAGS),
  replicationConfigBucket: optionalMatching(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
  replicationConfigKey: optionalMatching(/^[\x21-\x7e]{1,1024}$/, 'must be an S3 object key (printable ASCII)'),
  replicationConfigSha256: optionalMatching(/^[0-9a-f]{64}$/, 'must be a SHA-256 in lower-case hex'),
  useFipsEndpoint: flag(false),
  destUseFipsEndpoint: flag(false),
  createRepositories: flag(false),
  sourceAccountId: optionalMatching(/^\d{12}$/, 'must be a 12-digit AWS account id'),
  sourceRegion: optionalMatching(/^[a-z]{2}(?:-[a-z]+)+-\d+$/, 'must be an AWS region such as us-east-1'),
  sweepPendingSeconds: wholeNumber(1, 86_400, DEFAULT_SWEEP_PENDING_SECONDS),
  destApiQuotas: z
    .string()
    .optional()
    .transform((text, ctx) => {
      try {
        return parseApiQuotas(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
        return z.NEVER;
      }
    }),
  copyFunctionName: optionalMatching(
    /^(?:arn:[a-z-]+:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(?::[A-Za-z0-9_$-]{1,128})?$/,
    'must be a Lambda function name or ARN',
  ),
  copyReserveSeconds: decimalNumber(0, 600, DEFAULT_COPY_RESERVE_SECONDS),
  copyAssumedMibps: decimalNumber(0.1, 100_000, DEFAULT_COPY_ASSUMED_MIBPS),
} as const satisfies Record<SettingName, z.ZodType>;

/** The parsed values of the settings `K`. */
export type SettingsOf<K extends SettingName> = { [P in K]: z.output<(typeof SETTING_SCHEMAS)[P]> };

/** The settings a definition parses (its names, derived from the list it was given). */
export type SettingsOfDefinition<D> = D extends SettingsDefinition<infer K> ? SettingsOf<K> : never;

/** One component's settings: the variables it reads, and their parser. */
export interface SettingsDefinition<K extends SettingName> {
  readonly component: string;
  /** The environment variable names the component reads. */
  readonly variables: readonly EnvName[];
  /** Parses the environment; throws a ValidationError naming each bad variable. */
  parse(env?: Environment): SettingsOf<K>;
}

export function defineSettings<K extends SettingName>(component: string, names: readonly K[]): SettingsDefinition<K> {
  const shape: Record<string, z.ZodType> = {};
  for (const name of names) shape[EnvName[name]] = SETTING_SCHEMAS[name];
  const schema = z.object(shape);
  return {
    component,
    variables: names.map((name) => EnvName[name]),
    parse(env: Environment = process.env): SettingsOf<K> {
      const parsed = parseWith(schema, { ...env }, `${component} environment`, ErrorCode.InvalidInput) as Record<
        string,
        unknown
      >;
      const settings: Record<string, unknown> = {};
      for (const name of names) settings[name] = parsed[EnvName[name]];
      return settings as SettingsOf<K>;
    },
  };
}

/** Ingest (EventBridge rule): where to queue requests and what to replicate. */
export const IngestSettings = defineSettings('ingest', ['requestQueueUrl', 'replicationConfig']);
export type IngestSettings = SettingsOfDefinition<typeof IngestSettings>;

/** Dispatcher, FIFO queue handler: records requests, takes leases, starts worker builds. */
export const DispatchSettings = defineSettings('dispatcher (queue)', [
  'jobTable',
  'workerProjectName',
  'leaseSeconds',
  'retryQueueUrl',
  'copyFunctionName',
]);
export type DispatchSettings = SettingsOfDefinition<typeof DispatchSettings>;

/** Dispatcher, build-state handler: retries or fails the jobs of worker builds that died. */
export const BuildStateSettings = defineSettings('dispatcher (build state)', [
  'jobTable',
  'retryQueueUrl',
  'maxAttempts',
  'workerProjectName',
]);
export type BuildStateSettings = SettingsOfDefinition<typeof BuildStateSettings>;

/** Dispatcher, retry handler: forwards delayed retries into the FIFO queue. */
export const RetryForwardSettings = defineSettings('dispatcher (retry)', ['requestQueueUrl']);
export type RetryForwardSettings = SettingsOfDefinition<typeof RetryForwardSettings>;

/** Dispatcher, sweeper (scheduled): re-queues stranded jobs. */
export const SweepSettings = defineSettings('dispatcher (sweep)', [
  'jobTable',
  'requestQueueUrl',
  'sweepPendingSeconds',
]);
export type SweepSettings = SettingsOfDefinition<typeof SweepSettings>;

/** The worker (CodeBuild): its jobs, its lease, the destination credentials and the configuration. */
export const WorkerSettings = defineSettings('worker', [
  'jobTable',
  'jobKeys',
  'leaseOwner',
  'destSecretId',
  'replicationConfig',
  'leaseSeconds',
  'destRegistry',
  'sourceRegistry',
  'destRegion',
  'destApiQuotas',
]);
export type WorkerSettings = SettingsOfDefinition<typeof WorkerSettings>;

/**
 * The copy Lambda: the worker's settings but its jobs and lease owner (they come with each invocation), the project it
 * hands jobs over to, and its time budget.
 */
export const CopyLambdaSettings = defineSettings('copy Lambda', [
  'jobTable',
  'destSecretId',
  'replicationConfig',
  'leaseSeconds',
  'destRegistry',
  'sourceRegistry',
  'destRegion',
  'destApiQuotas',
  'workerProjectName',
  'copyReserveSeconds',
  'copyAssumedMibps',
]);
export type CopyLambdaSettings = SettingsOfDefinition<typeof CopyLambdaSettings>;

/**
 * The scheduled repair (drift repair and backfill), the start of a fan-out scan: lists the source registry (its own
 * account and region) and sends one scan unit per selected repository to the scan queue.
 */
export const RepairSettings = defineSettings('repair', ['scanQueueUrl', 'replicationConfig', 'sourceRegistry']);
export type RepairSettings = SettingsOfDefinition<typeof RepairSettings>;

/**
 * The scan Lambda (the scan queue's): compares one repository (or page of tags) with the destination, queues a
 * request per tag that differs, and continues by a message when it runs low on time.
 */
export const ScanSettings = defineSettings('repair (scan)', [
  'requestQueueUrl',
  'scanQueueUrl',
  'replicationConfig',
  'destSecretId',
  'destRegion',
  'destRegistry',
  'sourceRegistry',
  'repairConcurrency',
  'scanPageTags',
]);
export type ScanSettings = SettingsOfDefinition<typeof ScanSettings>;

/**
 * Where a component's replication configuration comes from: the configuration
 * store (all three REPLICATION_CONFIG_BUCKET, _KEY and _SHA256, as deployed
 * stacks set them) or REPLICATION_CONFIG (local runs and tests). Read it with
 * `loadReplicationConfig` (`@ecr-replicate/common/config-store`).
 */
export const ConfigSourceSettings = defineSettings('configuration', [
  'replicationConfig',
  'replicationConfigBucket',
  'replicationConfigKey',
  'replicationConfigSha256',
]);
export type ConfigSourceSettings = SettingsOfDefinition<typeof ConfigSourceSettings>;

/** FIPS endpoints of each side: the source (its SDK clients and registry host) and the destination. */
export const FipsSettings = defineSettings('FIPS', ['useFipsEndpoint', 'destUseFipsEndpoint']);
export type FipsSettings = SettingsOfDefinition<typeof FipsSettings>;

export const parseFipsSettings = (env?: Environment): FipsSettings => FipsSettings.parse(env);

/**
 * What the worker guards: the source account and region it serves (requests for others are refused), whether
 * it creates missing destination repositories, and FIPS on each side.
 */
export const WorkerGuardSettings = defineSettings('worker', [
  'sourceAccountId',
  'sourceRegion',
  'createRepositories',
  'useFipsEndpoint',
  'destUseFipsEndpoint',
]);
export type WorkerGuardSettings = SettingsOfDefinition<typeof WorkerGuardSettings>;
export const parseWorkerGuardSettings = (env?: Environment): WorkerGuardSettings => WorkerGuardSettings.parse(env);

export const parseIngestSettings = (env?: Environment): IngestSettings => IngestSettings.parse(env);
export const parseDispatchSettings = (env?: Environment): DispatchSettings => DispatchSettings.parse(env);
export const parseBuildStateSettings = (env?: Environment): BuildStateSettings => BuildStateSettings.parse(env);
export const parseRetryForwardSettings = (env?: Environment): RetryForwardSettings => RetryForwardSettings.parse(env);
export const parseSweepSettings = (env?: Environment): SweepSettings => SweepSettings.parse(env);
export const parseWorkerSettings = (env?: Environment): WorkerSettings => WorkerSettings.parse(env);
export const parseCopyLambdaSettings = (env?: Environment): CopyLambdaSettings => CopyLambdaSettings.parse(env);
export const parseRepairSettings = (env?: Environment): RepairSettings => RepairSettings.parse(env);
export const parseScanSettings = (env?: Environment): ScanSettings => ScanSettings.parse(env);
