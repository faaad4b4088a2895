import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** A Lambda handler module's export, as middy wraps it. */
export type LambdaHandler<E, R> = (event: E, context: Context) => Promise<R>;

/** A fresh Lambda context per invocation, as the runtime gives one. */
export function lambdaContext(functionName: string, region: string, account: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${account}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
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
    const context = lambdaContext(this.name, this.options.region, this.options.account, timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const started = Date.now();
    try {
      const timedOut = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`)),
          timeoutMs,
        );
      });
      return await Promise.race([this.handler(event, context), timedOut]);
    } catch (error) {
      // Ours, or middy's own (it gives up a few milliseconds before the deadline).
      if (Date.now() - started >= timeoutMs - 100) this.timeouts += 1;
      this.errors += 1;
      this.options.onError?.(error);
      throw error;
    } finally {
      clearTimeout(timer);
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
