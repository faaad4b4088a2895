/** The in-memory SQS queues and the event source mapping: the semantics the pipeline relies on. */
import type { SQSEvent } from 'aws-lambda';
import { EventSourceMapping, LocalQueue, waitFor } from '../../src';

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function fifo(time = clock(), extra: Partial<ConstructorParameters<typeof LocalQueue>[0]> = {}) {
  const deadLetterQueue = new LocalQueue({
    name: 'q-dlq.fifo',
    fifo: true,
    visibilityTimeoutSeconds: 30,
    now: time.now,
  });
  const queue = new LocalQueue({
    name: 'q.fifo',
    fifo: true,
    visibilityTimeoutSeconds: 60,
    maxReceiveCount: 3,
    deadLetterQueue,
    now: time.now,
    ...extra,
  });
  return { queue, deadLetterQueue, time };
}

const send = (queue: LocalQueue, body: string, groupId: string, deduplicationId = body) =>
  queue.send({ body, groupId, deduplicationId });
const bodies = (messages: ReadonlyArray<{ body: string }>) => messages.map((m) => m.body);

afterEach(() => {
  jest.useRealTimers();
});

describe('FIFO queue', () => {
  it('delivers a group in order and nothing more of it while a message of it is in flight; other groups go on', () => {
    const { queue } = fifo();
    send(queue, 'a1', 'a');
    send(queue, 'b1', 'b');
    send(queue, 'a2', 'a');
    const first = queue.receive(1);
    expect(bodies(first)).toEqual(['a1']);
    expect(bodies(queue.receive(10))).toEqual(['b1']); // a is blocked by a1 in flight
    expect(queue.receive(10)).toEqual([]);
    expect(queue.delete(first[0]?.receiptHandle as string)).toBe(true);
    expect(bodies(queue.receive(10))).toEqual(['a2']);
  });

  it('gives a batch several messages of a group, in order', () => {
    const { queue } = fifo();
    for (const body of ['a1', 'b1', 'a2', 'a3']) send(queue, body, body[0] as string);
    expect(bodies(queue.receive(10))).toEqual(['a1', 'b1', 'a2', 'a3']);
  });

  it('drops a repeated deduplication id within 5 minutes (per message group), answering with the first message id', () => {
    const { queue, time } = fifo();
    const first = send(queue, 'x', 'a', 'event-1');
    const again = send(queue, 'x again', 'a', 'event-1');
    expect(again).toEqual({ messageId: first.messageId, sequenceNumber: first.sequenceNumber, duplicate: true });
    expect(send(queue, 'other group', 'b', 'event-1').duplicate).toBe(false);
    time.advance(5 * 60_000);
    expect(send(queue, 'later', 'a', 'event-1').duplicate).toBe(false);
    expect(queue.size).toBe(3);
    expect(queue.duplicatesDropped).toBe(1);
  });

  it('returns a message that was not deleted after the visibility timeout, then moves it to the dead-letter queue after maxReceiveCount receives', () => {
    const { queue, deadLetterQueue, time } = fifo();
    send(queue, 'poison', 'a');
    send(queue, 'next', 'a');
    for (let receive = 1; receive <= 3; receive += 1) {
      const [message] = queue.receive(1);
      expect(message).toMatchObject({ body: 'poison', receiveCount: receive });
      time.advance(59_999);
      expect(queue.receive(10)).toEqual([]);
      time.advance(1);
    }
    // The fourth receive finds it over the limit: it goes to the dead-letter queue and the group moves on.
    expect(bodies(queue.receive(10))).toEqual(['next']);
    expect(bodies(deadLetterQueue.peek())).toEqual(['poison']);
  });

  it('refuses what SQS refuses on a FIFO queue', () => {
    const { queue } = fifo();
    expect(() => queue.send({ body: 'x', deduplicationId: 'd' })).toThrow(
      expect.objectContaining({ name: 'MissingParameter' }),
    );
    expect(() => queue.send({ body: 'x', groupId: 'g' })).toThrow(/MessageDeduplicationId/);
    expect(() => queue.send({ body: 'x', groupId: 'g', deduplicationId: 'd', delaySeconds: 30 })).toThrow(
      /DelaySeconds/,
    );
    expect(() => queue.send({ body: 'x', groupId: 'has space', deduplicationId: 'd' })).toThrow(/MessageGroupId/);
    expect(() => new LocalQueue({ name: 'q', fifo: true, visibilityTimeoutSeconds: 1 })).toThrow(/\.fifo/);
  });
});

describe('standard queue', () => {
  it('holds a message back for its DelaySeconds (scaled) and refuses a deduplication id', () => {
    const time = clock();
    const queue = new LocalQueue({
      name: 'retries',
      fifo: false,
      visibilityTimeoutSeconds: 100,
      timeScale: 0.5,
      now: time.now,
    });
    queue.send({ body: 'later', delaySeconds: 30 });
    queue.send({ body: 'now' });
    expect(bodies(queue.receive(10))).toEqual(['now']);
    time.advance(14_999);
    expect(queue.receive(10)).toEqual([]);
    time.advance(1);
    expect(bodies(queue.receive(10))).toEqual(['later']);
    expect(() => queue.send({ body: 'x', deduplicationId: 'd' })).toThrow(/MessageDeduplicationId/);
    expect(() => queue.send({ body: 'x', delaySeconds: 901 })).toThrow(/DelaySeconds/);
  });
});

describe('event source mapping', () => {
  it('deletes what succeeded and redelivers the reported failures after the visibility timeout', async () => {
    const queue = new LocalQueue({ name: 'm.fifo', fifo: true, visibilityTimeoutSeconds: 10, timeScale: 0.01 });
    const batches: string[][] = [];
    let failOnce = true;
    const mapping = new EventSourceMapping(
      queue,
      async (event: SQSEvent) => {
        batches.push(event.Records.map((r) => `${r.body}#${r.attributes.ApproximateReceiveCount}`));
        const failed = failOnce ? event.Records.filter((r) => r.body === 'a2') : [];
        failOnce = false;
        return { batchItemFailures: failed.map((r) => ({ itemIdentifier: r.messageId })) };
      },
      { batchSize: 10, maxConcurrency: 1, batchingWindowMs: 5 },
    );
    for (const body of ['a1', 'a2', 'b1']) send(queue, body, body[0] as string);
    mapping.start();
    try {
      await waitFor(() => queue.size === 0, { timeoutMs: 5_000, what: 'the queue to empty' });
    } finally {
      await mapping.stop();
      queue.close();
    }
    expect(batches).toEqual([['a1#1', 'a2#1', 'b1#1'], ['a2#2']]);
  });

  it('redelivers the whole batch when the function throws', async () => {
    const queue = new LocalQueue({ name: 'n', fifo: false, visibilityTimeoutSeconds: 10, timeScale: 0.01 });
    let calls = 0;
    const mapping = new EventSourceMapping(
      queue,
      async () => {
        calls += 1;
        if (calls === 1) throw new Error('boom');
      },
      { batchSize: 10, maxConcurrency: 1, batchingWindowMs: 5 },
    );
    queue.send({ body: 'x' });
    queue.send({ body: 'y' });
    mapping.start();
    try {
      await waitFor(() => queue.size === 0, { timeoutMs: 5_000, what: 'the queue to empty' });
    } finally {
      await mapping.stop();
      queue.close();
    }
    expect(calls).toBe(2);
  });
});
