import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** A Lambda handler module's export, as middy wraps it. */
export type LambdaHandler<E, R> = (event: E, context: Context) => Promise<R>;

/** A fresh Lambda context per invocation, as the runtime gives one. */
export function lambdaContext(
  functionName: string,
  region: string,
  account: string,
  timeoutMs: number,
  requestId: string = randomUUID(),
  memoryMb = 256,
): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${account}:function:${functionName}`,
    memoryLimitInMB: String(memoryMb),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export interface LocalFunctionOptions {
  region: string;
  account: string;
  /**
   * The function's timeout, scaled by `timeScale` (but never under `minTimeoutMs`): an invocation that runs longer
   * fails with "Task timed out", as Lambda's does. The handler's promise is abandoned, not stopped: unlike Lambda,
   * which freezes the container, its remaining calls still happen (a harsher fault than the real one).
   */
  timeoutSeconds?: number;
  /** The floor of the scaled timeout (default 5 s: a busy two-core machine runs handlers slower than Lambda). */
  minTimeoutMs?: number;
  /** Asynchronous invocations: retries after a failure (Lambda's MaximumRetryAttempts, 0 to 2). */
  maximumRetryAttempts?: number;
  /** Multiplies Lambda's waits between asynchronous retries (about 1 and 2 minutes). */
  timeScale?: number;
  /** Where an asynchronous invocation goes after its last failed try (the on-failure destination). */
  onFailure?: (record: AsyncFailureRecord) => void;
  onError?: (error: unknown) => void;
  /**
   * The cold start model (already scaled): an invocation that finds no idle warm container waits `ms` before its
   * handler runs (Lambda's INIT phase, outside the function's timeout); a container stays warm `warmForMs` after its
   * last invocation. Absent: no cold starts.
   */
  coldStart?: { ms: number; warmForMs: number };
  /** The memory size the context reports (default 256). */
  memoryMb?: number;
}

/** One invocation: when it ran, whether it started cold, how it ended. */
export interface LocalInvocation {
  readonly requestId: string;
  readonly event: unknown;
  /** When it was invoked; its handler started after the cold start, if any (epoch ms). */
  readonly invokedAt: number;
  handlerStartedAt?: number;
  endedAt?: number;
  coldStartMs: number;
  outcome?: 'ok' | 'error' | 'timeout';
  error?: string;
}

/** What Lambda sends to an on-failure destination: the event is in `requestPayload`. */
export interface AsyncFailureRecord {
  version: '1.0';
  timestamp: string;
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: 'RetriesExhausted';
    approximateInvokeCount: number;
  };
  requestPayload: unknown;
  responseContext: { statusCode: 200; executedVersion: '$LATEST'; functionError: 'Unhandled' };
  responsePayload: { errorType: string; errorMessage: string };
}

/**
 * One Lambda function in this process: synchronous invocations (what an SQS
 * event source does) and asynchronous ones (what EventBridge does), the
 * latter retried like Lambda does, then sent to the on-failure destination.
 */
export class LocalFunction<E, R> {
  private pendingCount = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Invocations made, and failures (each try counts). */
  invocations = 0;
  errors = 0;
  /** Invocations that ran past the timeout. */
  timeouts = 0;
  /** Every invocation, in order. */
  readonly runs: LocalInvocation[] = [];
  /** When each warm container was last left idle (the cold start model). */
  private readonly idleContainers: number[] = [];

  constructor(
    readonly name: string,
    private readonly handler: LambdaHandler<E, R>,
    private readonly options: LocalFunctionOptions,
  ) {}

  /** Asynchronous invocations not settled yet (running or waiting for a retry), plus running synchronous ones. */
  get pending(): number {
    return this.pendingCount;
  }

  /** Invokes and waits for the result (RequestResponse). */
  async invoke(event: E): Promise<R> {
    this.pendingCount += 1;
    try {
      return await this.run(event);
    } finally {
      this.settle();
    }
  }

  /**
   * Invokes asynchronously (Event): the first try now; when it throws, up to
   * `maximumRetryAttempts` more after Lambda's waits; then the failure record
   * goes to the on-failure destination. Resolves with the first try's outcome.
   */
  async invokeAsync(event: E): Promise<{ ok: true; result: R } | { ok: false; error: unknown }> {
    this.pendingCount += 1;
    const first = await this.attempt(event);
    if (first.ok) {
      this.settle();
      return first;
    }
    this.retryLater(event, 1, first.error);
    return first;
  }

  /** Cancels the retries still waiting. */
  cancelRetries(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.pendingCount -= this.timers.size;
    this.timers.clear();
  }

  private async attempt(event: E): Promise<{ ok: true; result: R } | { ok: false; error: unknown }> {
    try {
      return { ok: true, result: await this.run(event) };
    } catch (error) {
      return { ok: false, error };
    }
  }

  private retryLater(event: E, tries: number, error: unknown): void {
    const retries = this.options.maximumRetryAttempts ?? 2;
    if (tries > retries) {
      this.options.onFailure?.(this.failureRecord(event, tries, error));
      this.settle();
      return;
    }
    const waitMs = 60_000 * tries * (this.options.timeScale ?? 1);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.attempt(event).then((outcome) => {
        if (outcome.ok) this.settle();
        else this.retryLater(event, tries + 1, outcome.error);
      });
    }, waitMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** The effective timeout of one invocation, in milliseconds. */
  get timeoutMs(): number {
    const scaled = (this.options.timeoutSeconds ?? 30) * 1000 * (this.options.timeScale ?? 1);
    return Math.max(this.options.minTimeoutMs ?? 5_000, scaled);
  }

  private async run(event: E): Promise<R> {
    this.invocations += 1;
    const timeoutMs = this.timeoutMs;
    const requestId = randomUUID();
    const record: LocalInvocation = { requestId, event, invokedAt: Date.now(), coldStartMs: 0 };
    this.runs.push(record);
    const cold = this.options.coldStart;
    if (cold !== undefined) {
      const now = Date.now();
      // Containers idle for longer than warmForMs are gone.
      while (this.idleContainers.length > 0 && now - (this.idleContainers[0] as number) > cold.warmForMs)
        this.idleContainers.shift();
      if (this.idleContainers.length > 0) {
        this.idleContainers.pop();
      } else {
        record.coldStartMs = cold.ms;
        await new Promise((resolve) => setTimeout(resolve, cold.ms));
      }
    }
    const context = lambdaContext(
      this.name,
      this.options.region,
      this.options.account,
      timeoutMs,
      requestId,
      this.options.memoryMb,
    );
    let timer: NodeJS.Timeout | undefined;
    const started = Date.now();
    record.handlerStartedAt = started;
    try {
      const timedOut = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`)),
          timeoutMs,
        );
      });
      const result = await Promise.race([this.handler(event, context), timedOut]);
      record.outcome = 'ok';
      return result;
    } catch (error) {
      // Ours, or middy's own (it gives up a few milliseconds before the deadline).
      const timedOut = Date.now() - started >= timeoutMs - 100;
      if (timedOut) this.timeouts += 1;
      this.errors += 1;
      record.outcome = timedOut ? 'timeout' : 'error';
      record.error = error instanceof Error ? error.message : String(error);
      this.options.onError?.(error);
      throw error;
    } finally {
      clearTimeout(timer);
      record.endedAt = Date.now();
      // The container is idle again (sorted: the oldest first).
      if (cold !== undefined) this.idleContainers.push(record.endedAt);
    }
  }

  private failureRecord(event: E, tries: number, error: unknown): AsyncFailureRecord {
    const failure = error instanceof Error ? error : new Error(String(error));
    return {
      version: '1.0',
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId: randomUUID(),
        functionArn: `arn:aws:lambda:${this.options.region}:${this.options.account}:function:${this.name}:$LATEST`,
        condition: 'RetriesExhausted',
        approximateInvokeCount: tries,
      },
      requestPayload: event,
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: { errorType: failure.name, errorMessage: failure.message },
    };
  }

  private settle(): void {
    this.pendingCount -= 1;
  }
}
