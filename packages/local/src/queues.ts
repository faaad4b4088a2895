import { createHash, randomUUID } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

/**
 * Amazon SQS queues in memory, with the semantics the product relies on:
 *
 * - FIFO: messages of one group are delivered in order, and none of a group
 *   while an earlier one of it is in flight (received and not yet deleted);
 *   a MessageGroupId and MessageDeduplicationId are required; a repeated
 *   deduplication id within 5 minutes is accepted and dropped (scope: the
 *   message group, as the deployed queue has it, or the queue); per-message
 *   DelaySeconds is refused.
 * - Standard: per-message DelaySeconds (0 to 900).
 * - Both: a visibility timeout (a received message comes back when it was not
 *   deleted in time) and a redrive policy (after maxReceiveCount receives the
 *   message moves to the dead-letter queue instead of being delivered again).
 *
 * Times are scaled by `timeScale` (0.02: a 30 s delay lasts 0.6 s) so that
 * tests and the demo can go through the product's real delays quickly.
 */

/** An SQS message attribute as SendMessage takes it. */
export interface MessageAttribute {
  DataType: string;
  StringValue?: string;
}

/** What SendMessage carries (the fields the product uses). */
export interface SendInput {
  body: string;
  groupId?: string;
  deduplicationId?: string;
  delaySeconds?: number;
  attributes?: Record<string, MessageAttribute>;
}

export interface SendOutput {
  messageId: string;
  sequenceNumber?: string;
  /**
   * The deduplication id was seen within the window: nothing was queued (SQS still answers with the first message's
   * id).
   */
  duplicate: boolean;
}

/** A message held by a queue. */
export interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
  readonly groupId?: string;
  readonly deduplicationId?: string;
  readonly sequenceNumber?: string;
  readonly attributes: Record<string, MessageAttribute>;
  /** DelaySeconds given at send (standard queues). */
  readonly delaySeconds?: number;
  readonly sentAt: number;
  /** Not deliverable before this time (delay, or visibility timeout while in flight). */
  visibleAt: number;
  inFlight: boolean;
  receiveCount: number;
  firstReceivedAt?: number;
  receiptHandle?: string;
}

export interface LocalQueueOptions {
  name: string;
  fifo: boolean;
  /** Visibility timeout in seconds (before `timeScale`). */
  visibilityTimeoutSeconds: number;
  /** Redrive policy: receives before a message moves to `deadLetterQueue`. */
  maxReceiveCount?: number;
  deadLetterQueue?: LocalQueue;
  /** FIFO deduplication scope; `messageGroup` as deployed. */
  deduplicationScope?: 'messageGroup' | 'queue';
  /** Multiplies every delay and timeout (default 1). */
  timeScale?: number;
  account?: string;
  region?: string;
  now?: () => number;
}

/** An error shaped like the SDK's service exceptions (a `name` the callers can test). */
export class LocalServiceError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

const DEDUPLICATION_WINDOW_MS = 5 * 60 * 1000;
const MAX_DELAY_SECONDS = 900;

export class LocalQueue {
  readonly name: string;
  readonly fifo: boolean;
  readonly url: string;
  readonly arn: string;
  readonly region: string;
  /** Every message ever accepted (not duplicates), in order: for assertions. */
  readonly sent: QueuedMessage[] = [];
  /** Sends dropped as duplicates within the deduplication window. */
  duplicatesDropped = 0;

  private readonly options: LocalQueueOptions;
  private readonly messages: QueuedMessage[] = [];
  private readonly deduplication = new Map<string, { messageId: string; sequenceNumber?: string; at: number }>();
  private readonly listeners = new Set<() => void>();
  private readonly timeScale: number;
  private readonly now: () => number;
  private sequence = 0n;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private closed = false;

  constructor(options: LocalQueueOptions) {
    if (options.fifo !== options.name.endsWith('.fifo'))
      throw new Error(`queue ${options.name}: a FIFO queue's name ends in .fifo, and only a FIFO queue's`);
    this.options = options;
    this.name = options.name;
    this.fifo = options.fifo;
    this.region = options.region ?? 'us-east-1';
    const account = options.account ?? '123456789012';
    this.url = `https://sqs.${this.region}.amazonaws.com/${account}/${options.name}`;
    this.arn = `arn:aws:sqs:${this.region}:${account}:${options.name}`;
    this.timeScale = options.timeScale ?? 1;
    this.now = options.now ?? Date.now;
  }

  /** SendMessage. Throws a LocalServiceError for what SQS refuses. */
  send(input: SendInput): SendOutput {
    if (this.closed) throw new LocalServiceError('QueueDoesNotExist', `queue ${this.name} is gone`);
    const now = this.now();
    if (this.fifo) {
      if (!input.groupId)
        throw new LocalServiceError(
          'MissingParameter',
          `The request must contain the parameter MessageGroupId (queue ${this.name}).`,
        );
      if (!input.deduplicationId) {
        throw new LocalServiceError(
          'InvalidParameterValue',
          `The queue ${this.name} should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly`,
        );
      }
      if (input.delaySeconds !== undefined && input.delaySeconds !== 0) {
        throw new LocalServiceError(
          'InvalidParameterValue',
          `Value ${input.delaySeconds} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.`,
        );
      }
      checkId(input.groupId, 'MessageGroupId');
      checkId(input.deduplicationId, 'MessageDeduplicationId');
      const scope = (this.options.deduplicationScope ?? 'messageGroup') === 'messageGroup' ? `${input.groupId}\n` : '';
      const key = `${scope}${input.deduplicationId}`;
      this.forgetOldDeduplicationIds(now);
      const seen = this.deduplication.get(key);
      if (seen !== undefined) {
        this.duplicatesDropped += 1;
        return {
          messageId: seen.messageId,
          ...(seen.sequenceNumber === undefined ? {} : { sequenceNumber: seen.sequenceNumber }),
          duplicate: true,
        };
      }
      this.sequence += 1n;
      const message = this.accept(input, now, now, this.sequence.toString().padStart(20, '0'));
      this.deduplication.set(key, { messageId: message.messageId, sequenceNumber: message.sequenceNumber, at: now });
      return { messageId: message.messageId, sequenceNumber: message.sequenceNumber, duplicate: false };
    }
    if (input.deduplicationId !== undefined) {
      throw new LocalServiceError(
        'InvalidParameterValue',
        `The request include parameter MessageDeduplicationId that is not valid for this queue type (${this.name}).`,
      );
    }
    const delay = input.delaySeconds ?? 0;
    if (!Number.isInteger(delay) || delay < 0 || delay > MAX_DELAY_SECONDS) {
      throw new LocalServiceError(
        'InvalidParameterValue',
        `Value ${delay} for parameter DelaySeconds is invalid. Reason: must be 0 to ${MAX_DELAY_SECONDS}.`,
      );
    }
    const message = this.accept(input, now, now + delay * 1000 * this.timeScale);
    return { messageId: message.messageId, duplicate: false };
  }

  /**
   * ReceiveMessage: up to `max` deliverable messages, made invisible for the
   * visibility timeout. On a FIFO queue, a group with a message in flight
   * gives nothing, and a group's messages come in order.
   */
  receive(max: number): QueuedMessage[] {
    const now = this.now();
    this.settle(now);
    const blocked = new Set<string>();
    if (this.fifo) for (const m of this.messages) if (m.inFlight && m.groupId !== undefined) blocked.add(m.groupId);
    const taken: QueuedMessage[] = [];
    for (const message of this.messages) {
      if (taken.length >= max) break;
      if (this.fifo) {
        const group = message.groupId as string;
        if (blocked.has(group)) continue;
        if (message.inFlight || message.visibleAt > now) {
          blocked.add(group); // later messages of the group wait for this one
          continue;
        }
      } else if (message.inFlight || message.visibleAt > now) {
        continue;
      }
      message.inFlight = true;
      message.visibleAt = now + this.options.visibilityTimeoutSeconds * 1000 * this.timeScale;
      message.receiveCount += 1;
      message.firstReceivedAt ??= now;
      message.receiptHandle = randomUUID();
      taken.push(message);
    }
    if (taken.length > 0) this.schedule();
    return taken;
  }

  /** DeleteMessage; false when the receipt handle is not the message's current one. */
  delete(receiptHandle: string): boolean {
    const index = this.messages.findIndex((m) => m.receiptHandle === receiptHandle && m.inFlight);
    if (index < 0) return false;
    this.messages.splice(index, 1);
    this.changed();
    return true;
  }

  /** Messages the queue holds: waiting (visible or delayed) and in flight. */
  get size(): number {
    return this.messages.length;
  }

  /** The messages the queue holds, oldest first (copies of the list, not of the messages). */
  peek(): readonly QueuedMessage[] {
    return [...this.messages];
  }

  /** Calls `listener` whenever a message may have become deliverable. Returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the timers; the queue refuses new messages. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  private accept(input: SendInput, now: number, visibleAt: number, sequenceNumber?: string): QueuedMessage {
    const message: QueuedMessage = {
      messageId: randomUUID(),
      body: input.body,
      ...(input.groupId === undefined ? {} : { groupId: input.groupId }),
      ...(input.deduplicationId === undefined ? {} : { deduplicationId: input.deduplicationId }),
      ...(sequenceNumber === undefined ? {} : { sequenceNumber }),
      attributes: { ...input.attributes },
      ...(input.delaySeconds === undefined ? {} : { delaySeconds: input.delaySeconds }),
      sentAt: now,
      visibleAt,
      inFlight: false,
      receiveCount: 0,
    };
    this.messages.push(message);
    this.sent.push(message);
    this.changed();
    return message;
  }

  /** Ends expired visibility timeouts and applies the redrive policy. */
  private settle(now: number): void {
    for (const message of this.messages) {
      if (message.inFlight && message.visibleAt <= now) {
        message.inFlight = false;
        message.receiptHandle = undefined;
      }
    }
    const limit = this.options.maxReceiveCount;
    const target = this.options.deadLetterQueue;
    if (limit === undefined || target === undefined) return;
    for (let i = 0; i < this.messages.length; ) {
      const message = this.messages[i] as QueuedMessage;
      if (!message.inFlight && message.visibleAt <= now && message.receiveCount >= limit) {
        this.messages.splice(i, 1);
        target.send({
          body: message.body,
          ...(target.fifo
            ? { groupId: message.groupId ?? message.messageId, deduplicationId: `dlq-${message.messageId}` }
            : {}),
          attributes: message.attributes,
        });
      } else {
        i += 1;
      }
    }
  }

  private forgetOldDeduplicationIds(now: number): void {
    for (const [key, seen] of this.deduplication)
      if (now - seen.at >= DEDUPLICATION_WINDOW_MS) this.deduplication.delete(key);
  }

  private changed(): void {
    this.schedule();
    for (const listener of [...this.listeners]) listener();
  }

  /** A timer for the next moment a waiting or in-flight message becomes deliverable. */
  private schedule(): void {
    if (this.closed) return;
    const now = this.now();
    let next = Number.POSITIVE_INFINITY;
    for (const m of this.messages) if (m.visibleAt > now && m.visibleAt < next) next = m.visibleAt;
    if (next === this.timerAt && this.timer !== undefined) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = next;
    if (next === Number.POSITIVE_INFINITY) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.changed();
      },
      Math.max(0, next - now) + 1,
    );
    this.timer.unref();
  }
}

function checkId(value: string, name: string): void {
  if (value.length > 128 || !/^[\x21-\x7e]+$/.test(value)) {
    throw new LocalServiceError(
      'InvalidParameterValue',
      `Value for parameter ${name} is invalid: 1 to 128 printable ASCII characters without spaces.`,
    );
  }
}

/** The Lambda SQS record of a received message, as the event source mapping builds it. */
export function sqsRecordOf(queue: LocalQueue, message: QueuedMessage): SQSRecord {
  const attributes: SQSRecord['attributes'] = {
    ApproximateReceiveCount: String(message.receiveCount),
    SentTimestamp: String(message.sentAt),
    SenderId: 'AROALOCALRUNNER:local',
    ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt ?? message.sentAt),
    ...(message.sequenceNumber === undefined ? {} : { SequenceNumber: message.sequenceNumber }),
    ...(message.groupId === undefined ? {} : { MessageGroupId: message.groupId }),
    ...(message.deduplicationId === undefined ? {} : { MessageDeduplicationId: message.deduplicationId }),
  };
  const messageAttributes: SQSRecord['messageAttributes'] = {};
  for (const [name, value] of Object.entries(message.attributes)) {
    messageAttributes[name] = {
      dataType: value.DataType,
      ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  return {
    messageId: message.messageId,
    receiptHandle: message.receiptHandle ?? '',
    body: message.body,
    attributes,
    messageAttributes,
    md5OfBody: createHash('md5').update(message.body).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: queue.arn,
    awsRegion: queue.region,
  };
}

export interface EventSourceMappingOptions {
  /** Messages per invocation (1 to 10). */
  batchSize: number;
  /** Invocations at once. */
  maxConcurrency: number;
  /** How long to gather messages after the queue woke the poller (ms). */
  batchingWindowMs?: number;
  /** Called when an invocation threw (the batch then comes back after the visibility timeout). */
  onError?: (error: unknown, records: SQSRecord[]) => void;
  /** Called after each invocation with what was deleted and what was left for a retry. */
  onBatch?: (outcome: { records: SQSRecord[]; failed: string[]; error?: unknown }) => void;
  /** Fault injection: true when a DeleteMessage should fail (the message comes back at its visibility timeout). */
  failDelete?: () => boolean;
}

/**
 * A Lambda event source mapping on a queue with ReportBatchItemFailures: it
 * receives batches, invokes the function, deletes the messages that
 * succeeded and leaves the failed ones (or the whole batch, when the function
 * throws or answers with an unknown item) to come back after the visibility
 * timeout.
 */
export class EventSourceMapping {
  private running = false;
  private inFlight = 0;
  private wake: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  private readonly idle = new Set<() => void>();

  constructor(
    readonly queue: LocalQueue,
    private readonly handler: (event: SQSEvent) => Promise<SQSBatchResponse | void>,
    private readonly options: EventSourceMappingOptions,
  ) {
    this.unsubscribe = queue.onChange(() => this.poke());
  }

  start(): void {
    this.running = true;
    this.poke();
  }

  /** Invocations running now. */
  get active(): number {
    return this.inFlight;
  }

  /** Stops polling and waits for the running invocations. */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe();
    if (this.wake) clearTimeout(this.wake);
    this.wake = undefined;
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.add(resolve));
  }

  private poke(): void {
    if (!this.running || this.wake !== undefined) return;
    this.wake = setTimeout(() => {
      this.wake = undefined;
      this.pump();
    }, this.options.batchingWindowMs ?? 0);
  }

  private pump(): void {
    while (this.running && this.inFlight < this.options.maxConcurrency) {
      const messages = this.queue.receive(this.options.batchSize);
      if (messages.length === 0) return;
      const records = messages.map((m) => sqsRecordOf(this.queue, m));
      this.inFlight += 1;
      void this.invoke(records).finally(() => {
        this.inFlight -= 1;
        if (this.inFlight === 0) {
          for (const resolve of [...this.idle]) resolve();
          this.idle.clear();
        }
        this.poke();
      });
    }
  }

  private async invoke(records: SQSRecord[]): Promise<void> {
    let response: SQSBatchResponse | void;
    try {
      response = await this.handler({ Records: records });
    } catch (error) {
      this.options.onError?.(error, records);
      this.options.onBatch?.({ records, failed: records.map((r) => r.messageId), error });
      return;
    }
    const failures = response?.batchItemFailures ?? [];
    const ids = new Set(records.map((r) => r.messageId));
    // An answer naming no message of the batch fails the whole batch, as Lambda does.
    const failed = failures.some((f) => !ids.has(f.itemIdentifier)) ? [...ids] : failures.map((f) => f.itemIdentifier);
    const keep = new Set(failed);
    for (const record of records) {
      if (keep.has(record.messageId) || this.options.failDelete?.() === true) continue;
      this.queue.delete(record.receiptHandle);
    }
    this.options.onBatch?.({ records, failed });
  }
}
