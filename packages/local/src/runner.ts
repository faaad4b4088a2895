import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CodeBuildClient, StartBuildCommand, type StartBuildCommandInput } from '@aws-sdk/client-codebuild';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { InvokeCommand, LambdaClient, type InvokeCommandInput } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient, SendMessageCommand, type SendMessageCommandInput } from '@aws-sdk/client-sqs';
import {
  jobKeyOf,
  parseReplicationConfig,
  type PacedApi,
  parseReplicationRequestJson,
  type EcrImageActionEvent,
  type JobRecord,
  type ReplicationConfig,
  type ReplicationConfigInput,
} from '@ecr-replicate/common';
import { JobStore, createJobTable } from '@ecr-replicate/common/state';
import type { BuildStateResult } from '@ecr-replicate/dispatcher';
import type { IngestResult } from '@ecr-replicate/ingest';
import {
  fetchManifest,
  startFaultProxy,
  startLocalDynamoDb,
  startRegistry,
  type FaultProxy,
  type LocalDynamoDb,
  type LocalRegistry,
} from '@ecr-replicate/testing';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { LocalCodeBuild, type BuildStateChangeEvent, type LocalBuild, type WorkerProject } from './builds';
import { ecrImageActionEvent, pushEvents, type PushedImage } from './ecr-events';
import { LocalFunction, type AsyncFailureRecord, type LambdaHandler, type LocalInvocation } from './lambda';
import { routeComponentLogs, type LogRouter } from './log-router';
import { EventSourceMapping, LocalQueue, LocalServiceError } from './queues';
import { startRegistryGate, type RegistryGate } from './registry-gate';
import { LocalScan } from './scan';
import { startRecordingProxy, type DynamoCall, type DynamoFault, type RecordingDynamoDb } from './table-history';
import { sleep, waitFor } from './wait';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { installAwsStubs } = require('../preload/aws-stubs.cjs') as {
  installAwsStubs: (options: {
    token: string;
    secretJson: string;
    destinationRegion: string;
    secretId: () => string | undefined;
    load: (id: string) => unknown;
  }) => () => void;
};

/**
 * The local runner: the product's pipeline on one machine, no AWS account.
 *
 *   emit(ECR event) → ingest handler → FIFO request queue → dispatcher (queue handler)
 *     → job table (dynalite) + StartBuild → worker child process → destination registry
 *     (copyLambda: → job table + Invoke → the copy Lambda in this process → destination registry,
 *      and what does not fit its scaled time → StartBuild, lease kept → worker child process)
 *     build end → build-state handler → retry queue (DelaySeconds) → retry handler → FIFO queue
 *     refused StartBuild / throttles → retry queue (deferral) → retry handler → FIFO queue
 *     every few (scaled) minutes: the sweeper → FIFO queue (stranded jobs)
 *   repair() → the scheduled repair → scan queue (a unit per repository) → scan Lambdas → FIFO queue (scan.ts)
 *
 * Time is scaled by `timeScale`: SQS delays and visibility timeouts, Lambda's
 * retry waits and timeouts (with a floor), leases (LEASE_SECONDS), CodeBuild's
 * queue timeout, the sweeper's schedule, the copy Lambda's timeout, reserve and
 * cold start, and CodeBuild's provisioning. CodeBuild is modelled with a
 * concurrent-build limit, a queue limit past which StartBuild is refused and a
 * provisioning delay (see README, "The local runner's models").
 * Faults can be injected into every DynamoDB call (a proxy), SQS send and
 * delete, StartBuild, and registry request (gates in front of both registries).
 *
 * The handlers are the real Lambda modules (loaded with the environment
 * Lambda would give them), the worker is the real compiled worker in a child
 * process with the environment CodeBuild would give it; the registries and
 * DynamoDB are real local servers. Only the calls that have no local server
 * are stubbed at the SDK client: SQS and CodeBuild StartBuild here, ECR
 * GetAuthorizationToken and Secrets Manager GetSecretValue in the worker
 * (preload/worker-stubs.cjs).
 *
 * One runner per process (per jest test file): the handler modules read their
 * environment once, when loaded, as Lambda does at a cold start.
 */

export interface LocalRunnerOptions {
  /** The replication configuration (REPLICATION_CONFIG of ingest and the worker). */
  config?: ReplicationConfigInput;
  /** Multiplies SQS delays and visibility timeouts and Lambda's asynchronous retry waits (default 1: real time). */
  timeScale?: number;
  /** Requests per dispatcher batch (default 10, as deployed). */
  batchSize?: number;
  /** Dispatcher invocations at once (default 10). */
  dispatcherMaxConcurrency?: number;
  /** How long the request queue's poller gathers messages after a send (default 50 ms). */
  batchingWindowMs?: number;
  /** MAX_ATTEMPTS (default 5). */
  maxAttempts?: number;
  /** LEASE_SECONDS (default 900). */
  leaseSeconds?: number;
  /** Receives of a request before its dead-letter queue (default 5). */
  requestMaxReceiveCount?: number;
  /** Worker builds running at once; more wait QUEUED (default 3). */
  maxConcurrentBuilds?: number;
  /** Worker builds that may wait QUEUED before StartBuild is refused (default 5 × maxConcurrentBuilds). */
  maxQueuedBuilds?: number;
  /** CodeBuild's QueuedTimeoutInMinutes, scaled (default 10, as deployed: under the lease). */
  buildQueuedTimeoutMinutes?: number;
  /** The sweeper's schedule in seconds, scaled (default 300, as deployed; 0: never, call sweep() by hand). */
  sweepEverySeconds?: number;
  /** SWEEP_PENDING_SECONDS before scaling (default 1200, as deployed). */
  sweepPendingSeconds?: number;
  /**
   * The floor of scaled Lambda timeouts (default 10000 ms: a busy two-core machine runs the handlers and the job
   * table's recording proxy far slower than Lambda and DynamoDB). The request queue's visibility timeout is kept above
   * the dispatcher's timeout, as AWS requires.
   */
  lambdaMinTimeoutMs?: number;
  /** The dispatcher's timeout in seconds before scaling (default 60, as deployed). */
  dispatcherTimeoutSeconds?: number;
  /**
   * Request quotas the destination enforces (requests per second; the gate answers 429 TOOMANYREQUESTS past them, as
   * ECR does), scaled to the run. Default: none.
   */
  destinationQuotas?: Partial<Record<PacedApi, number>>;
  /**
   * DEST_API_QUOTAS of the workers: the rates they pace at, together (default: `destinationQuotas` when given, as a
   * deployment configured to its account's quotas; otherwise `off`).
   */
  workerPacing?: string;
  /**
   * The copy Lambda path: the dispatcher hands leased jobs to the copy Lambda (in this process, its time limit
   * enforced, scaled), which hands what does not fit to a worker build, lease kept. Default false: every batch starts
   * a worker build, as a deployment with the Lambda path turned off.
   */
  copyLambda?: boolean;
  /** The copy Lambda's timeout in seconds before scaling (default 900, as deployed). */
  copyLambdaTimeoutSeconds?: number;
  /** The floor of the copy Lambda's scaled timeout (default 2000 ms). */
  copyLambdaMinTimeoutMs?: number;
  /** COPY_RESERVE_SECONDS before scaling (default 30, as deployed; scaled, never under 1 s on a busy machine). */
  copyReserveSeconds?: number;
  /** COPY_ASSUMED_MIBPS (default 40, as deployed). */
  copyAssumedMibps?: number;
  /** The modelled cold start of a copy Lambda container, in seconds before scaling (default 1). */
  coldStartSeconds?: number;
  /** How long an idle copy Lambda container stays warm, in seconds before scaling (default 600). */
  warmForSeconds?: number;
  /** CodeBuild's provisioning before the worker runs, in seconds before scaling (default 0; the model: 60). */
  buildProvisioningSeconds?: number;
  /**
   * Copy Lambda invocations running at once (the function's concurrency); more wait in Lambda's asynchronous queue
   * until one ends. Default: no limit, as Lambda scales out. In this runner every invocation shares one process on the
   * machine's cores, so a bench of thousands of jobs sets one to keep the process from thrashing.
   */
  copyLambdaConcurrency?: number;
  /**
   * Route every DynamoDB call through the recording proxy (default true: `table` holds every change, faults can be
   * injected into the table). False: the components reach dynalite directly (a bench's throughput; `table` then
   * records nothing and `faults.dynamo` is never asked).
   */
  recordTable?: boolean;
  /** Scan invocations at once (default 4; deployed: scanMaxConcurrency, 10). */
  scanMaxConcurrency?: number;
  /** SCAN_PAGE_TAGS of the scan Lambda (default 1000, as deployed). */
  scanPageTags?: number;
  /** The scan's timeout in seconds before scaling (default 300, as deployed; the timeout floor applies). */
  scanTimeoutSeconds?: number;
  /** POWERTOOLS_LOG_LEVEL of the handlers and the worker (default INFO). */
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** Send the components' JSON logs to `logFile` instead of stdout/stderr (default true). */
  routeLogs?: boolean;
  /** Keep the temporary directory (its components.log) after stop() (default: ECR_REPLICATE_LOCAL_KEEP=1). */
  keepTemp?: boolean;
  /** Narration: what happens, as it happens. */
  onEvent?: (event: RunnerEvent) => void;
}

/** What the runner reports as it goes. */
export type RunnerEvent =
  | { type: 'ingest'; event: EcrImageActionEvent; outcome: IngestOutcome }
  | { type: 'dispatch'; records: number; failed: number }
  | { type: 'build'; build: LocalBuild }
  | { type: 'copy'; phase: 'start' | 'end'; invocation: LocalInvocation }
  | { type: 'retry-forwarded'; records: number; failed: number }
  | { type: 'dead-letter'; queue: string; body: string }
  | { type: 'sweep'; result: unknown }
  | { type: 'scan'; records: number; failed: number };

/** Faults to inject; each decides per call. Set and clear them at any time. */
export interface RunnerFaults {
  /** Every DynamoDB call of the handlers and the workers (through the recording proxy). */
  dynamo?: (call: DynamoCall) => DynamoFault | undefined;
  /**
   * Every SQS SendMessage attempt: an error name to fail it with (e.g. 'InternalError'). The stub stands in for the
   * SDK too, so a call fails only when its three attempts (the SDK's standard retries) all do.
   */
  sqsSend?: (queueName: string) => string | undefined;
  /** Every DeleteMessage of the event source mappings: true fails it (the message is delivered again). */
  sqsDelete?: () => boolean;
  /** Every StartBuild: an error to refuse it with. */
  startBuild?: () => Error | undefined;
  /** Every StartBuild: true makes the call never answer (the dispatcher times out before its build starts). */
  startBuildHangs?: () => boolean;
  /** Every Lambda Invoke of the copy Lambda: an error to refuse it with (the dispatcher starts a build instead). */
  copyInvoke?: () => Error | undefined;
}

export type IngestOutcome = IngestResult | { kind: 'failed'; error: string };

/** The source registry as the events name it (account and region), and the destination's. */
export const LOCAL_ACCOUNT = '123456789012';
export const LOCAL_REGION = 'us-east-1';
export const DESTINATION_ACCOUNT = '210987654321';
export const DESTINATION_REGION = 'us-gov-west-1';
export const DESTINATION_PARTITION = 'aws-us-gov';

const FAKE_ACCESS_KEY_ID = 'AKIALOCALRUNNERFAKE0';
const FAKE_SECRET_ACCESS_KEY = 'local-runner-fake-secret-access-key';

interface Handlers {
  ingest: LambdaHandler<unknown, IngestResult>;
  queue: LambdaHandler<SQSEvent, SQSBatchResponse>;
  buildState: LambdaHandler<unknown, BuildStateResult>;
  retry: LambdaHandler<SQSEvent, SQSBatchResponse>;
  sweep: LambdaHandler<unknown, unknown>;
  copy?: LambdaHandler<unknown, unknown>;
}

let handlersLoaded = false;

/** The four Lambda handler modules, compiled (dist), loaded once with the current process.env. */
function loadHandlers(withCopyLambda: boolean): Handlers {
  if (handlersLoaded) {
    throw new Error(
      'one local runner per process: the handler modules read their environment when they load (use one runner per jest test file)',
    );
  }
  handlersLoaded = true;
  /* eslint-disable @typescript-eslint/no-require-imports */
  return {
    ingest: (require('@ecr-replicate/ingest/dist/handler') as { handler: Handlers['ingest'] }).handler,
    queue: (require('@ecr-replicate/dispatcher/dist/handlers/requests') as { handler: Handlers['queue'] }).handler,
    buildState: (require('@ecr-replicate/dispatcher/dist/handlers/build-state') as { handler: Handlers['buildState'] })
      .handler,
    retry: (require('@ecr-replicate/dispatcher/dist/handlers/job-retries') as { handler: Handlers['retry'] }).handler,
    sweep: (require('@ecr-replicate/dispatcher/dist/handlers/sweep') as { handler: Handlers['sweep'] }).handler,
    ...(withCopyLambda
      ? { copy: (require('@ecr-replicate/copy-lambda/dist/handler') as { handler: Handlers['sweep'] }).handler }
      : {}),
  };
  /* eslint-enable @typescript-eslint/no-require-imports */
}

/** The compiled worker and the stubs' preload; a clear error when the workspace is not built. */
function workerFiles(): { workerEntry: string; preload: string } {
  let workerEntry: string;
  try {
    workerEntry = require.resolve('@ecr-replicate/build-worker/dist/main.js');
  } catch {
    throw new Error(
      'the worker is not compiled: run "npx turbo run build" (or "npm run setup") at the repository root',
    );
  }
  return { workerEntry, preload: require.resolve('@ecr-replicate/local/preload/worker-stubs.cjs') };
}

/** The Lambda functions the runner drives in this process. */
export type FunctionName = 'ingest' | 'dispatcher' | 'buildState' | 'retry' | 'sweep' | 'copy' | 'repair' | 'scan';

export interface LocalRunner {
  readonly config: ReplicationConfig;
  readonly options: Required<
    Pick<LocalRunnerOptions, 'timeScale' | 'batchSize' | 'maxAttempts' | 'leaseSeconds' | 'maxConcurrentBuilds'>
  >;
  /** The source registry (open). */
  readonly source: LocalRegistry;
  /** The destination registry: Basic auth, user `AWS`, the password the stubbed ECR token decodes to. */
  readonly destination: LocalRegistry;
  /** The workers reach the destination through this proxy (latency 0 unless set): the cross-partition link. */
  readonly destinationLink: FaultProxy;
  /** In front of destinationLink: records, holds and fails the workers' destination requests. */
  readonly destinationGate: RegistryGate;
  /** In front of the source registry, for the workers: fails their requests (chaos). */
  readonly sourceGate: RegistryGate;
  /** Faults to inject (see RunnerFaults). */
  readonly faults: RunnerFaults;
  /** LEASE_SECONDS as the handlers and workers got it (scaled). */
  readonly leaseSeconds: number;
  readonly dynamo: LocalDynamoDb;
  /** Every change of the job table, in order. */
  readonly table: RecordingDynamoDb;
  readonly tableName: string;
  readonly store: JobStore;
  readonly requestQueue: LocalQueue;
  readonly requestDeadLetterQueue: LocalQueue;
  readonly retryQueue: LocalQueue;
  readonly retryDeadLetterQueue: LocalQueue;
  /** Where EventBridge's targets put events they could not handle (Lambda's on-failure destination). */
  readonly eventsDeadLetterQueue: LocalQueue;
  readonly codebuild: LocalCodeBuild;
  readonly projectName: string;
  /** Whether the dispatcher hands jobs to the copy Lambda. */
  readonly copyLambda: boolean;
  /** Every invocation of the copy Lambda (empty when the path is off). */
  readonly copyInvocations: readonly LocalInvocation[];
  /** The modelled delays, scaled, as applied: the copy Lambda's cold start and timeout, CodeBuild's provisioning. */
  readonly models: { coldStartMs: number; copyTimeoutMs: number; copyReserveSeconds: number; provisioningMs: number };
  /** The fan-out scan: the scan queue, its dead-letter queue, the repair and scan functions. */
  readonly scan: LocalScan;
  /** The source registry as events name it. */
  readonly sourceIdentity: { account: string; region: string };
  /** Registry credentials of the destination (for tools run by hand: `--dest-creds AWS:<password>`). */
  readonly destinationCredentials: { username: string; password: string };
  /** The components' logs (JSON lines), while the runner lives. */
  readonly logFile: string;
  readonly tempDir: string;
  /** Lambda invocations so far, per function. */
  invocations(): Record<FunctionName, number>;
  /** Dispatcher invocations that ran past their (scaled) timeout. */
  dispatcherTimeouts(): number;
  /**
   * Per function of an event's path: invocations (each try), the ones that failed, and those of them that ran past
   * the timeout.
   */
  functionStats(): Record<
    Exclude<FunctionName, 'repair' | 'scan'>,
    { invocations: number; errors: number; timeouts: number }
  >;
  /** Runs the sweeper now (as its schedule does). */
  sweep(): Promise<unknown>;
  /** Runs the scheduled repair now (as its schedule does): a fan-out scan starts. Resolves with its summary. */
  repair(): Promise<unknown>;

  /** Delivers an ECR event to ingest (as EventBridge does: an asynchronous invocation, retried on error). */
  emit(event: EcrImageActionEvent): Promise<IngestOutcome>;
  /** Emits the events ECR sends for a push: tagless PUSHes for an index's children, then the tagged PUSH. */
  emitPush(
    repository: string,
    image: PushedImage,
    tag?: string,
  ): Promise<Array<{ event: EcrImageActionEvent; outcome: IngestOutcome }>>;
  /** Emits a DELETE event (tag and digest as ECR reports them). */
  emitDelete(repository: string, digest: string, tag?: string): Promise<IngestOutcome>;
  /** An ECR Image Action event of the source registry. */
  event(input: {
    action: 'PUSH' | 'DELETE';
    repository: string;
    digest: string;
    tag?: string;
    mediaType?: string;
    time?: Date | number | string;
    id?: string;
  }): EcrImageActionEvent;

  /** What keeps the pipeline busy (empty when idle). */
  busy(): string[];
  /** Waits until no message is queued or in flight, no build runs and no handler is pending. */
  waitForIdle(timeoutMs?: number): Promise<void>;
  /**
   * Whether anything is still to happen for one job: a message for it queued or in flight, a build with it, a handler
   * pending.
   */
  jobBusy(key: string): boolean;
  /** Waits until nothing is to happen for the job (see jobBusy) and returns its record. */
  waitForJob(key: string, timeoutMs?: number): Promise<JobRecord | undefined>;
  /** The digest a registry serves for `repository:reference`, or undefined. */
  digestAt(side: 'source' | 'destination', repository: string, reference: string): Promise<string | undefined>;
  job(key: string): Promise<JobRecord | undefined>;
  jobs(): Promise<JobRecord[]>;
  stop(): Promise<void>;
}

/** Runs at most `limit` tasks at once, the others in order as places free up. */
function concurrencyLimit(limit: number): (task: () => Promise<void>) => Promise<void> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    // A place is handed from the task that ends to the next waiting one.
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else running += 1;
    try {
      await task();
    } finally {
      const next = waiting.shift();
      if (next !== undefined) next();
      else running -= 1;
    }
  };
}

/** Starts everything on free loopback ports. */
export async function startLocalRunner(options: LocalRunnerOptions = {}): Promise<LocalRunner> {
  const { workerEntry, preload } = workerFiles();
  const config = parseReplicationConfig(options.config ?? {});
  const settings = {
    timeScale: options.timeScale ?? 1,
    batchSize: options.batchSize ?? 10,
    maxAttempts: options.maxAttempts ?? 5,
    leaseSeconds: options.leaseSeconds ?? 900,
    maxConcurrentBuilds: options.maxConcurrentBuilds ?? 3,
  };
  const scaledLeaseSeconds = Math.max(2, Math.round(settings.leaseSeconds * settings.timeScale));
  const faults: RunnerFaults = {};
  const logLevel = options.logLevel ?? 'INFO';
  const notify = (event: RunnerEvent): void => {
    try {
      options.onEvent?.(event);
    } catch {
      // narration must not break the pipeline
    }
  };

  const keepTemp = options.keepTemp ?? process.env.ECR_REPLICATE_LOCAL_KEEP === '1';
  const tempDir = mkdtempSync(join(tmpdir(), 'ecr-replicate-local-'));
  const logFile = join(tempDir, 'components.log');
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanUp = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch {
        // keep cleaning up
      }
    }
  };

  // Should the process exit without stop() (an error, a signal handler calling process.exit), the workers and files go
  // too.
  let codebuildForExit: LocalCodeBuild | undefined;
  const onExit = (): void => {
    codebuildForExit?.killAll();
    if (!keepTemp) rmSync(tempDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  try {
    cleanups.push(() => {
      process.removeListener('exit', onExit);
      if (!keepTemp) rmSync(tempDir, { recursive: true, force: true });
      else process.stderr.write(`local runner: kept ${tempDir} (components.log: the handlers' and workers' logs)\n`);
    });
    let logs: LogRouter | undefined;
    if (options.routeLogs !== false) {
      logs = routeComponentLogs(logFile);
      cleanups.push(() => logs?.close());
    }
    const writeLog = (line: string): void => logs?.write(line);

    // ---- local servers ------------------------------------------------------
    const password = randomBytes(18).toString('base64url');
    const started = await Promise.allSettled([
      startRegistry(),
      startRegistry({ htpasswd: { username: 'AWS', password } }),
      startLocalDynamoDb({ childProcess: true }),
    ]);
    for (const result of started) if (result.status === 'fulfilled') cleanups.push(() => result.value.stop());
    const failedStart = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failedStart) throw failedStart.reason;
    const [source, destination, dynamo] = started.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [
      LocalRegistry,
      LocalRegistry,
      LocalDynamoDb,
    ];
    const destinationLink = await startFaultProxy(destination);
    cleanups.push(() => destinationLink.stop());
    const table = await startRecordingProxy(dynamo);
    cleanups.push(() => table.close());
    table.fault = (call) => faults.dynamo?.(call);
    const tableEndpoint = options.recordTable === false ? dynamo.endpoint : table.endpoint;
    const destinationGate = await startRegistryGate(destinationLink);
    cleanups.push(() => destinationGate.stop());
    destinationGate.setQuotas(options.destinationQuotas);
    const workerPacing =
      options.workerPacing ??
      (options.destinationQuotas === undefined
        ? 'off'
        : Object.entries(options.destinationQuotas)
            .map(([api, rate]) => `${api}=${rate}`)
            .join(','));
    const sourceGate = await startRegistryGate(source);
    cleanups.push(() => sourceGate.stop());
    const tableName = 'ecr-replicate-local-jobs';
    await createJobTable(dynamo.client, tableName);
    const store = new JobStore(dynamo.documentClient, tableName);

    // ---- queues -------------------------------------------------------------
    const timeScale = settings.timeScale;
    const lambdaMinTimeoutMs = options.lambdaMinTimeoutMs ?? 10_000;
    const dispatcherTimeoutMs = Math.max(
      lambdaMinTimeoutMs,
      (options.dispatcherTimeoutSeconds ?? 60) * 1000 * timeScale,
    );
    const queueOptions = { account: LOCAL_ACCOUNT, region: LOCAL_REGION, timeScale };
    const requestDeadLetterQueue = new LocalQueue({
      ...queueOptions,
      name: 'ecr-replicate-local-requests-dlq.fifo',
      fifo: true,
      visibilityTimeoutSeconds: 30,
    });
    const requestQueue = new LocalQueue({
      ...queueOptions,
      name: 'ecr-replicate-local-requests.fifo',
      fifo: true,
      // Scaled, but never under the dispatcher's (floored) timeout.
      visibilityTimeoutSeconds: Math.max(360, (dispatcherTimeoutMs + 1_000) / 1000 / timeScale),
      deduplicationScope: 'messageGroup',
      maxReceiveCount: options.requestMaxReceiveCount ?? 5,
      deadLetterQueue: requestDeadLetterQueue,
    });
    const retryDeadLetterQueue = new LocalQueue({
      ...queueOptions,
      name: 'ecr-replicate-local-retries-dlq',
      fifo: false,
      visibilityTimeoutSeconds: 30,
    });
    const retryQueue = new LocalQueue({
      ...queueOptions,
      name: 'ecr-replicate-local-retries',
      fifo: false,
      visibilityTimeoutSeconds: 180,
      maxReceiveCount: 5,
      deadLetterQueue: retryDeadLetterQueue,
    });
    const eventsDeadLetterQueue = new LocalQueue({
      ...queueOptions,
      name: 'ecr-replicate-local-events-dlq',
      fifo: false,
      visibilityTimeoutSeconds: 30,
    });
    const scan = new LocalScan({
      queueOptions,
      functionOptions: { region: LOCAL_REGION, account: LOCAL_ACCOUNT, timeScale, minTimeoutMs: lambdaMinTimeoutMs },
      ...(options.scanTimeoutSeconds === undefined ? {} : { timeoutSeconds: options.scanTimeoutSeconds }),
      ...(options.scanMaxConcurrency === undefined ? {} : { maxConcurrency: options.scanMaxConcurrency }),
      failDelete: () => faults.sqsDelete?.() === true,
      onBatch: ({ records, failed }) => notify({ type: 'scan', records, failed }),
    });
    const reported = new Set<string>();
    const queues = [
      requestQueue,
      requestDeadLetterQueue,
      retryQueue,
      retryDeadLetterQueue,
      eventsDeadLetterQueue,
      scan.queue,
      scan.deadLetterQueue,
    ];
    cleanups.push(() => queues.forEach((q) => q.close()));
    for (const dlq of [requestDeadLetterQueue, retryDeadLetterQueue, eventsDeadLetterQueue, scan.deadLetterQueue]) {
      dlq.onChange(() => {
        const last = dlq.sent.at(-1);
        if (last !== undefined && !reported.has(last.messageId)) {
          reported.add(last.messageId);
          notify({ type: 'dead-letter', queue: dlq.name, body: last.body });
        }
      });
    }

    // ---- the environment Lambda gives the handlers ----------------------------
    const projectName = 'ecr-replicate-local-worker';
    const copyFunctionName = 'ecr-replicate-local-copy';
    const copyLambdaEnabled = options.copyLambda ?? false;
    const destinationSecretId = 'ecr-replicate-local/destination';
    const copyReserveSeconds = Math.max(1, Math.round((options.copyReserveSeconds ?? 30) * timeScale * 1000) / 1000);
    const coldStartMs = (options.coldStartSeconds ?? 1) * 1000 * timeScale;
    const copyTimeoutMs = Math.max(
      options.copyLambdaMinTimeoutMs ?? 2_000,
      (options.copyLambdaTimeoutSeconds ?? 900) * 1000 * timeScale,
    );
    const provisioningMs = (options.buildProvisioningSeconds ?? 0) * 1000 * timeScale;
    const replicationConfigJson = JSON.stringify(config);
    const destinationSecret = {
      user: 'ecr-replicate-local',
      accesskey: 'AKIALOCALDESTINATION',
      secretaccesskey: 'local-destination-fake-secret-access-key',
      partition: DESTINATION_PARTITION,
      accountid: DESTINATION_ACCOUNT,
      region: DESTINATION_REGION,
    };
    const localEcrToken = Buffer.from(`AWS:${password}`).toString('base64');
    Object.assign(process.env, {
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: FAKE_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: FAKE_SECRET_ACCESS_KEY,
      AWS_ENDPOINT_URL_DYNAMODB: tableEndpoint,
      REQUEST_QUEUE_URL: requestQueue.url,
      RETRY_QUEUE_URL: retryQueue.url,
      REPLICATION_CONFIG: replicationConfigJson,
      JOB_TABLE: tableName,
      WORKER_PROJECT_NAME: projectName,
      LEASE_SECONDS: String(scaledLeaseSeconds),
      DEST_API_QUOTAS: workerPacing,
      MAX_ATTEMPTS: String(settings.maxAttempts),
      COPY_FUNCTION_NAME: copyLambdaEnabled ? copyFunctionName : '',
      // The copy Lambda's environment (the worker's, but its jobs; plus its budget), and the scan Lambda's.
      DEST_SECRET_ID: destinationSecretId,
      DEST_REGION: DESTINATION_REGION,
      DEST_REGISTRY: destinationGate.url,
      SOURCE_REGISTRY: sourceGate.url,
      COPY_RESERVE_SECONDS: String(copyReserveSeconds),
      COPY_ASSUMED_MIBPS: String(options.copyAssumedMibps ?? 40),
      SWEEP_PENDING_SECONDS: String(
        Math.max(1, Math.round((options.sweepPendingSeconds ?? 1_200) * settings.timeScale)),
      ),
      POWERTOOLS_LOG_LEVEL: logLevel,
      // The scan Lambda's (it compares the registries the workers read and write: DEST_* and SOURCE_REGISTRY above).
      ...scan.environment(options.scanPageTags),
    });
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;

    // ---- the stubs: SQS → the queues above, CodeBuild → the build runner -------
    const queuesByUrl = new Map(queues.map((q) => [q.url, q]));
    const sqs = mockClient(SQSClient);
    cleanups.push(() => sqs.restore());
    sqs
      .onAnyCommand()
      .rejects(new LocalServiceError('UnsupportedOperation', 'the local runner implements SQS SendMessage only'))
      .on(SendMessageCommand)
      .callsFake((input: SendMessageCommandInput) => {
        const queue = input.QueueUrl === undefined ? undefined : queuesByUrl.get(input.QueueUrl);
        if (queue === undefined)
          throw new LocalServiceError(
            'AWS.SimpleQueueService.NonExistentQueue',
            `The specified queue does not exist: ${input.QueueUrl ?? '(none)'}`,
          );
        if (input.MessageBody === undefined)
          throw new LocalServiceError('MissingParameter', 'The request must contain the parameter MessageBody.');
        let injected: string | undefined;
        for (let attempt = 1; attempt <= 3; attempt += 1) {
          injected = faults.sqsSend?.(queue.name);
          if (injected === undefined) break;
        }
        if (injected !== undefined) throw new LocalServiceError(injected, `SendMessage failed (injected ${injected})`);
        const sent = queue.send({
          body: input.MessageBody,
          ...(input.MessageGroupId === undefined ? {} : { groupId: input.MessageGroupId }),
          ...(input.MessageDeduplicationId === undefined ? {} : { deduplicationId: input.MessageDeduplicationId }),
          ...(input.DelaySeconds === undefined ? {} : { delaySeconds: input.DelaySeconds }),
          ...(input.MessageAttributes === undefined
            ? {}
            : { attributes: input.MessageAttributes as Record<string, { DataType: string; StringValue?: string }> }),
        });
        return {
          MessageId: sent.messageId,
          MD5OfMessageBody: createHash('md5').update(input.MessageBody).digest('hex'),
          ...(sent.sequenceNumber === undefined ? {} : { SequenceNumber: sent.sequenceNumber }),
        };
      });

    let stopping = false;
    const handlers = loadHandlers(copyLambdaEnabled);
    const fnOptions = {
      region: LOCAL_REGION,
      account: LOCAL_ACCOUNT,
      timeScale,
      minTimeoutMs: lambdaMinTimeoutMs,
    };
    const toEventsDlq = (record: AsyncFailureRecord): void => {
      eventsDeadLetterQueue.send({ body: JSON.stringify(record) });
    };
    const ingest = new LocalFunction('ecr-replicate-local-ingest', handlers.ingest, {
      ...fnOptions,
      maximumRetryAttempts: 2,
      onFailure: toEventsDlq,
    });
    const dispatcher = new LocalFunction('ecr-replicate-local-dispatcher', handlers.queue, {
      ...fnOptions,
      timeoutSeconds: options.dispatcherTimeoutSeconds ?? 60,
    });
    const buildState = new LocalFunction('ecr-replicate-local-buildState', handlers.buildState, {
      ...fnOptions,
      maximumRetryAttempts: 2,
      onFailure: toEventsDlq,
    });
    const retry = new LocalFunction('ecr-replicate-local-retry', handlers.retry, fnOptions);
    const sweeper = new LocalFunction('ecr-replicate-local-sweep', handlers.sweep, {
      ...fnOptions,
      timeoutSeconds: 120,
    });
    const copyFunction =
      handlers.copy === undefined
        ? undefined
        : new LocalFunction(copyFunctionName, handlers.copy, {
            ...fnOptions,
            timeoutSeconds: copyTimeoutMs / 1000 / timeScale,
            minTimeoutMs: copyTimeoutMs,
            maximumRetryAttempts: 2,
            onFailure: toEventsDlq,
            memoryMb: 1769,
            coldStart: { ms: coldStartMs, warmForMs: (options.warmForSeconds ?? 600) * 1000 * timeScale },
          });
    const functions = [ingest, dispatcher, buildState, retry, sweeper, ...(copyFunction ? [copyFunction] : [])];
    cleanups.push(() => functions.forEach((f) => f.cancelRetries()));

    const project: WorkerProject = {
      name: projectName,
      image: 'aws/codebuild/amazonlinux-x86_64-standard:5.0',
      computeType: 'BUILD_GENERAL1_SMALL',
      timeoutInMinutes: 60,
      environmentVariables: [
        { name: 'JOB_TABLE', value: tableName },
        { name: 'DEST_SECRET_ID', value: destinationSecretId },
        { name: 'DEST_REGION', value: DESTINATION_REGION },
        { name: 'REPLICATION_CONFIG', value: replicationConfigJson },
        { name: 'LEASE_SECONDS', value: String(scaledLeaseSeconds) },
        { name: 'DEST_API_QUOTAS', value: workerPacing },
        { name: 'NODE_OPTIONS', value: '--enable-source-maps' },
        { name: 'POWERTOOLS_LOG_LEVEL', value: logLevel },
        // Local runs: the registries stand in for the ECR hosts.
        { name: 'DEST_REGISTRY', value: destinationGate.url },
        { name: 'SOURCE_REGISTRY', value: sourceGate.url },
      ],
    };
    const codebuild = new LocalCodeBuild({
      project,
      account: LOCAL_ACCOUNT,
      region: LOCAL_REGION,
      workerEntry,
      preload: [preload],
      processEnvironment: {
        AWS_ACCESS_KEY_ID: FAKE_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: FAKE_SECRET_ACCESS_KEY,
        AWS_ENDPOINT_URL_DYNAMODB: tableEndpoint,
        LOCAL_ECR_TOKEN: localEcrToken,
        LOCAL_DEST_SECRET_JSON: JSON.stringify(destinationSecret),
        LOCAL_DEST_REGION: DESTINATION_REGION,
      },
      maxConcurrentBuilds: settings.maxConcurrentBuilds,
      ...(options.maxQueuedBuilds === undefined ? {} : { maxQueuedBuilds: options.maxQueuedBuilds }),
      queuedTimeoutMs: (options.buildQueuedTimeoutMinutes ?? 10) * 60_000 * timeScale,
      provisioningMs,
      refuse: () => faults.startBuild?.(),
      onStateChange: (event: BuildStateChangeEvent, build: LocalBuild) => {
        notify({ type: 'build', build });
        if (stopping) return;
        void buildState.invokeAsync(event);
      },
      onOutput: (_build, line) => writeLog(line),
    });
    codebuildForExit = codebuild;
    cleanups.push(() => codebuild.close());
    const codebuildMock = mockClient(CodeBuildClient);
    cleanups.push(() => codebuildMock.restore());
    codebuildMock
      .onAnyCommand()
      .rejects(new LocalServiceError('UnsupportedOperation', 'the local runner implements CodeBuild StartBuild only'))
      .on(StartBuildCommand)
      .callsFake((input: StartBuildCommandInput) =>
        faults.startBuildHangs?.() === true ? new Promise<never>(() => undefined) : codebuild.startBuild(input),
      );

    // ---- the copy Lambda: Invoke → the function in this process, with the worker's AWS stubs ----------------
    const copyConcurrency =
      options.copyLambdaConcurrency === undefined ? undefined : concurrencyLimit(options.copyLambdaConcurrency);
    let copiesWaiting = 0;
    const lambdaMock = mockClient(LambdaClient);
    cleanups.push(() => lambdaMock.restore());
    lambdaMock
      .onAnyCommand()
      .rejects(new LocalServiceError('UnsupportedOperation', 'the local runner implements Lambda Invoke only'))
      .on(InvokeCommand)
      .callsFake((input: InvokeCommandInput) => {
        if (copyFunction === undefined || input.FunctionName !== copyFunctionName)
          throw new LocalServiceError('ResourceNotFoundException', `Function not found: ${input.FunctionName ?? ''}`);
        if (input.InvocationType !== 'Event')
          throw new LocalServiceError('InvalidParameterValueException', 'the local runner invokes asynchronously only');
        const refusal = faults.copyInvoke?.();
        if (refusal !== undefined) throw refusal;
        const payload: unknown = JSON.parse(
          Buffer.from((input.Payload ?? new Uint8Array()) as Uint8Array).toString('utf8'),
        );
        const start = (): { run: LocalInvocation; ended: Promise<unknown> } => {
          const ended = copyFunction.invokeAsync(payload).finally(() => {
            const run = copyFunction.runs.find((r) => r.event === payload);
            if (run !== undefined) notify({ type: 'copy', phase: 'end', invocation: run });
          });
          const run = copyFunction.runs.at(-1) as LocalInvocation;
          notify({ type: 'copy', phase: 'start', invocation: run });
          return { run, ended };
        };
        if (copyConcurrency === undefined) {
          const { run, ended } = start();
          void ended.catch(() => undefined);
          return { StatusCode: 202, $metadata: { requestId: run.requestId } };
        }
        // Lambda's asynchronous queue: the invocation runs when the function's concurrency has room.
        copiesWaiting += 1;
        void copyConcurrency(async () => {
          copiesWaiting -= 1;
          await start().ended.catch(() => undefined);
        });
        return { StatusCode: 202, $metadata: { requestId: randomUUID() } };
      });
    {
      // The ECR token and destination secret of the Lambdas that read registries in this process (the scan; the copy
      // Lambda when its path is on), stubbed on the very client classes they load (in a bundle of the local programs
      // too: these imports are the bundle's copies).
      const modules: Record<string, unknown> = {
        'aws-sdk-client-mock': { mockClient },
        '@aws-sdk/client-ecr': { ECRClient, GetAuthorizationTokenCommand },
        '@aws-sdk/client-secrets-manager': { SecretsManagerClient, GetSecretValueCommand },
      };
      const restoreStubs = installAwsStubs({
        token: localEcrToken,
        secretJson: JSON.stringify(destinationSecret),
        destinationRegion: DESTINATION_REGION,
        secretId: () => destinationSecretId,
        load: (id) => modules[id],
      });
      cleanups.push(restoreStubs);
    }

    // ---- event source mappings --------------------------------------------------
    const requestMapping = new EventSourceMapping(requestQueue, (event) => dispatcher.invoke(event), {
      batchSize: settings.batchSize,
      maxConcurrency: options.dispatcherMaxConcurrency ?? 10,
      batchingWindowMs: options.batchingWindowMs ?? 50,
      failDelete: () => faults.sqsDelete?.() === true,
      onBatch: ({ records, failed }) => notify({ type: 'dispatch', records: records.length, failed: failed.length }),
    });
    const retryMapping = new EventSourceMapping(retryQueue, (event) => retry.invoke(event), {
      batchSize: 10,
      maxConcurrency: 5,
      batchingWindowMs: 0,
      failDelete: () => faults.sqsDelete?.() === true,
      onBatch: ({ records, failed }) =>
        notify({ type: 'retry-forwarded', records: records.length, failed: failed.length }),
    });
    const mappings = [requestMapping, retryMapping];
    cleanups.push(async () => {
      stopping = true;
      await Promise.all([...mappings.map((m) => m.stop()), scan.stop()]);
    });
    requestMapping.start();
    retryMapping.start();
    scan.start();

    // ---- the sweeper's schedule ----------------------------------------------------
    let sweeping: Promise<unknown> | undefined;
    const sweep = (): Promise<unknown> => {
      sweeping ??= sweeper
        .invoke({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} })
        .then(
          (result) => {
            notify({ type: 'sweep', result });
            return result;
          },
          (error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }),
        )
        .finally(() => (sweeping = undefined));
      return sweeping;
    };
    const sweepEveryMs = (options.sweepEverySeconds ?? 300) * 1000 * timeScale;
    if (sweepEveryMs > 0) {
      const timer = setInterval(() => {
        if (!stopping) void sweep();
      }, sweepEveryMs);
      timer.unref();
      cleanups.push(async () => {
        clearInterval(timer);
        await sweeping;
      });
    }

    // ---- the runner's interface ---------------------------------------------------
    const identity = { account: LOCAL_ACCOUNT, region: LOCAL_REGION };
    const makeEvent: LocalRunner['event'] = (input) => ecrImageActionEvent({ ...input, ...identity });
    const emit = async (event: EcrImageActionEvent): Promise<IngestOutcome> => {
      const result = await ingest.invokeAsync(event);
      const outcome: IngestOutcome = result.ok
        ? result.result
        : { kind: 'failed', error: result.error instanceof Error ? result.error.message : String(result.error) };
      notify({ type: 'ingest', event, outcome });
      return outcome;
    };
    const busy = (): string[] => {
      const reasons: string[] = [];
      for (const queue of [requestQueue, retryQueue])
        if (queue.size > 0) reasons.push(`${queue.name}: ${queue.size} message(s)`);
      for (const mapping of mappings)
        if (mapping.active > 0) reasons.push(`${mapping.queue.name} poller: ${mapping.active} invocation(s)`);
      const builds = codebuild.builds.filter((b) => b.status === 'QUEUED' || b.status === 'IN_PROGRESS');
      if (builds.length > 0)
        reasons.push(
          `builds: ${builds.map((b) => `${b.id.split(':')[1]?.slice(0, 8)} ${b.status} ${JSON.stringify(b.jobKeys)}`).join('; ')}`,
        );
      for (const fn of functions)
        if (fn !== sweeper && fn.pending > 0) reasons.push(`${fn.name}: ${fn.pending} pending`);
      if (copiesWaiting > 0) reasons.push(`copy Lambda: ${copiesWaiting} invocation(s) waiting for its concurrency`);
      reasons.push(...scan.busy());
      return reasons;
    };

    const jobOfMessage = (body: string): string | undefined => {
      try {
        return jobKeyOf(parseReplicationRequestJson(body));
      } catch {
        return undefined;
      }
    };
    const jobBusy = (key: string): boolean =>
      [...requestQueue.peek(), ...retryQueue.peek()].some((m) => m.groupId === key || jobOfMessage(m.body) === key) ||
      codebuild.builds.some((b) => (b.status === 'QUEUED' || b.status === 'IN_PROGRESS') && b.jobKeys.includes(key)) ||
      functions.some((f) => f !== ingest && f !== sweeper && f.pending > 0);

    let stopped: Promise<void> | undefined;
    const runner: LocalRunner = {
      config,
      options: settings,
      source,
      destination,
      destinationLink,
      destinationGate,
      sourceGate,
      faults,
      leaseSeconds: scaledLeaseSeconds,
      dynamo,
      table,
      tableName,
      store,
      requestQueue,
      requestDeadLetterQueue,
      retryQueue,
      retryDeadLetterQueue,
      eventsDeadLetterQueue,
      codebuild,
      projectName,
      copyLambda: copyLambdaEnabled,
      copyInvocations: copyFunction?.runs ?? [],
      models: { coldStartMs, copyTimeoutMs, copyReserveSeconds, provisioningMs },
      scan,
      sourceIdentity: identity,
      destinationCredentials: { username: 'AWS', password },
      logFile,
      tempDir,
      invocations: () => ({
        ingest: ingest.invocations,
        dispatcher: dispatcher.invocations,
        buildState: buildState.invocations,
        retry: retry.invocations,
        sweep: sweeper.invocations,
        copy: copyFunction?.invocations ?? 0,
        ...scan.invocations(),
      }),
      dispatcherTimeouts: () => dispatcher.timeouts,
      functionStats: () => {
        const stats = (f: { invocations: number; errors: number; timeouts: number }) => ({
          invocations: f.invocations,
          errors: f.errors,
          timeouts: f.timeouts,
        });
        return {
          ingest: stats(ingest),
          dispatcher: stats(dispatcher),
          buildState: stats(buildState),
          retry: stats(retry),
          sweep: stats(sweeper),
          copy: copyFunction === undefined ? { invocations: 0, errors: 0, timeouts: 0 } : stats(copyFunction),
        };
      },
      sweep,
      repair: () => scan.repair(),
      emit,
      async emitPush(repository, image, tag) {
        const results: Array<{ event: EcrImageActionEvent; outcome: IngestOutcome }> = [];
        for (const event of pushEvents(repository, image, tag, identity))
          results.push({ event, outcome: await emit(event) });
        return results;
      },
      emitDelete: (repository, digest, tag) =>
        emit(makeEvent({ action: 'DELETE', repository, digest, ...(tag === undefined ? {} : { tag }) })),
      event: makeEvent,
      busy,
      async waitForIdle(timeoutMs = 60_000) {
        await waitFor(
          async () => {
            if (busy().length > 0) return false;
            await sleep(40); // nothing may be about to start: look again
            return busy().length === 0;
          },
          { timeoutMs, intervalMs: 20, what: 'the pipeline to settle', describe: () => busy().join(' | ') },
        );
      },
      jobBusy,
      async waitForJob(key, timeoutMs = 30_000) {
        const found = await waitFor(
          async () => {
            if (jobBusy(key)) return false;
            const record = await store.get(key);
            return record?.status === 'IN_PROGRESS' || jobBusy(key) ? false : { record };
          },
          { timeoutMs, intervalMs: 20, what: `job ${key} to settle`, describe: () => busy().join(' | ') },
        );
        return found.record;
      },
      async digestAt(side, repository, reference) {
        const registry = side === 'source' ? source : destination;
        return (await fetchManifest(registry, repository, reference))?.digest;
      },
      job: (key) => store.get(key),
      jobs: () => store.list(),
      stop() {
        stopped ??= (async () => {
          stopping = true;
          await cleanUp();
        })();
        return stopped;
      },
    };
    return runner;
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
