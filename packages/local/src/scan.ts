import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { LocalFunction, type LambdaHandler, type LocalFunctionOptions, type LocalInvocation } from './lambda';
import { EventSourceMapping, LocalQueue, type LocalQueueOptions } from './queues';

/**
 * The fan-out scan in the local runner: the scan queue and its dead-letter queue, the scheduled repair (the start:
 * one unit per selected repository) and the scan Lambda on the queue, both the real handler modules of the repair
 * package, run in process like the other Lambdas.
 *
 *   repair() → repair handler → scan queue → scan handler (≤ maxConcurrency at once, one unit each)
 *     → FIFO request queue (a request per differing tag) → the pipeline
 *     → scan queue (further pages, continuations)
 *
 * As deployed: the scan queue's visibility timeout is six times the scan's timeout (both scaled, the timeout with the
 * runner's floor), a unit goes to the dead-letter queue after three receives, one unit per invocation.
 */
export interface LocalScanOptions {
  queueOptions: Omit<LocalQueueOptions, 'name' | 'fifo' | 'visibilityTimeoutSeconds'>;
  /** The options every local function gets (region, account, time scale, timeout floor). */
  functionOptions: LocalFunctionOptions;
  /** The scan's timeout in seconds before scaling (default 300, as deployed). */
  timeoutSeconds?: number;
  /** Scan invocations at once (default 4: the deployed default is 10, this machine has two cores). */
  maxConcurrency?: number;
  /** Fault injection: true fails a DeleteMessage of the scan queue's mapping. */
  failDelete?: () => boolean;
  onBatch?: (outcome: { records: number; failed: number }) => void;
}

interface ScanHandlers {
  repair: LambdaHandler<unknown, unknown>;
  scan: LambdaHandler<SQSEvent, SQSBatchResponse>;
}

export class LocalScan {
  readonly queue: LocalQueue;
  readonly deadLetterQueue: LocalQueue;
  private readonly timeoutMs: number;
  private repairFunction: LocalFunction<unknown, unknown> | undefined;
  private scanFunction: LocalFunction<SQSEvent, SQSBatchResponse> | undefined;
  private mapping: EventSourceMapping | undefined;

  constructor(private readonly options: LocalScanOptions) {
    const timeScale = options.queueOptions.timeScale ?? 1;
    this.timeoutMs = Math.max(
      options.functionOptions.minTimeoutMs ?? 5_000,
      (options.timeoutSeconds ?? 300) * 1000 * timeScale,
    );
    this.deadLetterQueue = new LocalQueue({
      ...options.queueOptions,
      name: 'ecr-replicate-local-scan-dlq',
      fifo: false,
      visibilityTimeoutSeconds: 30,
    });
    this.queue = new LocalQueue({
      ...options.queueOptions,
      name: 'ecr-replicate-local-scan',
      fifo: false,
      // Six times the (floored) timeout, unscaled back: the queue scales it again.
      visibilityTimeoutSeconds: (6 * this.timeoutMs) / 1000 / timeScale,
      maxReceiveCount: 3,
      deadLetterQueue: this.deadLetterQueue,
    });
  }

  /** The variables of the two functions that the runner's shared environment lacks. */
  environment(pageTags: number | undefined): Record<string, string> {
    return {
      SCAN_QUEUE_URL: this.queue.url,
      ...(pageTags === undefined ? {} : { SCAN_PAGE_TAGS: String(pageTags) }),
    };
  }

  /** Loads the handler modules (with the environment set) and starts the scan queue's poller. */
  start(): void {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const handlers: ScanHandlers = {
      repair: (require('@ecr-replicate/repair/dist/handler') as { handler: ScanHandlers['repair'] }).handler,
      scan: (require('@ecr-replicate/repair/dist/scan-handler') as { handler: ScanHandlers['scan'] }).handler,
    };
    /* eslint-enable @typescript-eslint/no-require-imports */
    const timeoutSeconds = this.timeoutMs / 1000 / (this.options.queueOptions.timeScale ?? 1);
    this.repairFunction = new LocalFunction('ecr-replicate-local-repair', handlers.repair, {
      ...this.options.functionOptions,
      timeoutSeconds: 900,
      maximumRetryAttempts: 0,
    });
    this.scanFunction = new LocalFunction('ecr-replicate-local-scan', handlers.scan, {
      ...this.options.functionOptions,
      timeoutSeconds,
    });
    const scanFunction = this.scanFunction;
    this.mapping = new EventSourceMapping(this.queue, (event) => scanFunction.invoke(event), {
      batchSize: 1,
      maxConcurrency: this.options.maxConcurrency ?? 4,
      batchingWindowMs: 0,
      ...(this.options.failDelete ? { failDelete: this.options.failDelete } : {}),
      onBatch: ({ records, failed }) => this.options.onBatch?.({ records: records.length, failed: failed.length }),
    });
    this.mapping.start();
  }

  /** Runs the scheduled repair now, as its schedule does: the scan's start. Resolves with its summary. */
  async repair(): Promise<unknown> {
    if (this.repairFunction === undefined) throw new Error('the local scan is not started');
    return this.repairFunction.invoke({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} });
  }

  /** Every scan invocation: when its handler started and ended. */
  runs(): readonly LocalInvocation[] {
    return this.scanFunction?.runs ?? [];
  }

  invocations(): { repair: number; scan: number } {
    return { repair: this.repairFunction?.invocations ?? 0, scan: this.scanFunction?.invocations ?? 0 };
  }

  /** What keeps the scan busy (empty when idle). */
  busy(): string[] {
    const reasons: string[] = [];
    if (this.queue.size > 0) reasons.push(`${this.queue.name}: ${this.queue.size} message(s)`);
    if ((this.mapping?.active ?? 0) > 0)
      reasons.push(`${this.queue.name} poller: ${this.mapping?.active} invocation(s)`);
    for (const fn of [this.repairFunction, this.scanFunction])
      if (fn !== undefined && fn.pending > 0) reasons.push(`${fn.name}: ${fn.pending} pending`);
    return reasons;
  }

  async stop(): Promise<void> {
    await this.mapping?.stop();
    this.repairFunction?.cancelRetries();
    this.scanFunction?.cancelRetries();
    this.queue.close();
    this.deadLetterQueue.close();
  }
}
