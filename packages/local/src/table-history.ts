import { request as httpRequest, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  DescribeTableCommand,
  GetItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { listenOnLoopback, type LocalDynamoDb } from '@ecr-replicate/testing';

/**
 * A DynamoDB-Streams-like record of every change to the tables: a small
 * proxy in front of dynalite that every component (the handlers in this
 * process and the worker children) reaches through AWS_ENDPOINT_URL_DYNAMODB.
 * Reads pass straight through; writes go one at a time, and after each
 * successful one the proxy reads the item back (strongly consistent) and
 * appends the new image, so the history holds every state each item went
 * through, in the order the table applied them.
 */

/** One change of one item. */
export interface TableChange {
  /** 1, 2, 3... in the order the table applied the writes. */
  seq: number;
  /** Epoch milliseconds at which the write was answered. */
  at: number;
  operation: 'PutItem' | 'UpdateItem' | 'DeleteItem';
  table: string;
  /** The item's partition key value. */
  key: string;
  /** The item after the write (NEW_IMAGE); undefined when the write deleted it. */
  image?: Record<string, unknown>;
}

/** One DynamoDB call as the proxy sees it, for fault injection. */
export interface DynamoCall {
  /** GetItem, UpdateItem, PutItem, Scan... */
  operation: string;
  /** The request body (DynamoDB JSON). */
  request: Record<string, unknown>;
}

/** What to do to a call: answer with a throttle (400) or an internal error (500) instead of forwarding it. */
export type DynamoFault = 'throttle' | 'error';

export interface RecordingDynamoDb {
  /** Fault injection: decides, per call, whether it fails (undefined: forward). */
  fault: ((call: DynamoCall) => DynamoFault | undefined) | undefined;
  /** Calls failed by `fault`. */
  readonly faults: number;
  /** Give this to the SDK (AWS_ENDPOINT_URL_DYNAMODB). */
  endpoint: string;
  readonly changes: readonly TableChange[];
  /** Writes the proxy could not attribute to one item (batch and transaction writes; the product makes none). */
  readonly unrecordedWrites: string[];
  /** The changes of one item, oldest first. */
  changesOf(key: string): TableChange[];
  /** Calls `listener` after each change; returns the unsubscribe function. */
  onChange(listener: (change: TableChange) => void): () => void;
  close(): Promise<void>;
}

const SINGLE_ITEM_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);
const MULTI_ITEM_WRITES = new Set(['BatchWriteItem', 'TransactWriteItems']);

async function readBody(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startRecordingProxy(dynamo: LocalDynamoDb): Promise<RecordingDynamoDb> {
  const target = new URL(dynamo.endpoint);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const changes: TableChange[] = [];
  const unrecordedWrites: string[] = [];
  const listeners = new Set<(change: TableChange) => void>();
  const keyNames = new Map<string, string>();
  let writes: Promise<void> = Promise.resolve();

  const forward = (
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const upstream = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
          agent,
        },
        (res) => {
          readBody(res).then(
            (data) => resolve({ status: res.statusCode ?? 500, headers: res.headers, body: data }),
            reject,
          );
        },
      );
      upstream.once('error', reject);
      upstream.end(body);
    });

  const keyNameOf = async (client: DynamoDBClient, table: string): Promise<string> => {
    let name = keyNames.get(table);
    if (name === undefined) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
      name = Table?.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName ?? 'id';
      keyNames.set(table, name);
    }
    return name;
  };

  const record = async (operation: TableChange['operation'], request: Record<string, unknown>): Promise<void> => {
    const table = String(request.TableName);
    const keyName = await keyNameOf(dynamo.client, table);
    const keyItem = (operation === 'PutItem' ? request.Item : request.Key) as
      | Record<string, AttributeValue>
      | undefined;
    const keyValue = keyItem?.[keyName];
    if (keyValue === undefined) {
      unrecordedWrites.push(`${operation} on ${table} without its key`);
      return;
    }
    const { Item } = await dynamo.client.send(
      new GetItemCommand({ TableName: table, Key: { [keyName]: keyValue }, ConsistentRead: true }),
    );
    const key = String(unmarshall({ k: keyValue }).k);
    const change: TableChange = {
      seq: changes.length + 1,
      at: Date.now(),
      operation,
      table,
      key,
      ...(Item === undefined ? {} : { image: unmarshall(Item) }),
    };
    changes.push(change);
    for (const listener of [...listeners]) listener(change);
  };

  let faults = 0;
  const recording: RecordingDynamoDb = {
    endpoint: '',
    fault: undefined,
    get faults() {
      return faults;
    },
    changes,
    unrecordedWrites,
    changesOf: (key) => changes.filter((c) => c.key === key),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      listeners.clear();
      await server.close();
      agent.destroy();
    },
  };
  const server = await listenOnLoopback(async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const operation =
      String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() ?? '';
    const fault = recording.fault?.({
      operation,
      request: (() => {
        try {
          return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        } catch {
          return {};
        }
      })(),
    });
    if (fault !== undefined) {
      faults += 1;
      const [status, type, message] =
        fault === 'throttle'
          ? [400, 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', 'Rate exceeded (injected)']
          : [500, 'com.amazon.coral.service#InternalFailure', 'internal failure (injected)'];
      const text = JSON.stringify({ __type: type, message });
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
      return;
    }
    const answer = async (): Promise<void> => {
      const response = await forward(req, body);
      if (response.status === 200 && SINGLE_ITEM_WRITES.has(operation)) {
        await record(
          operation as TableChange['operation'],
          JSON.parse(body.toString('utf8')) as Record<string, unknown>,
        );
      } else if (response.status === 200 && MULTI_ITEM_WRITES.has(operation)) {
        unrecordedWrites.push(operation);
      }
      const headers = { ...response.headers };
      delete headers['transfer-encoding'];
      headers['content-length'] = String(response.body.length);
      res.writeHead(response.status, headers);
      res.end(response.body);
    };
    if (!SINGLE_ITEM_WRITES.has(operation) && !MULTI_ITEM_WRITES.has(operation)) return answer();
    // Writes one at a time: each recorded image is the state right after that write.
    const turn = writes.then(answer);
    writes = turn.catch(() => undefined);
    return turn;
  });

  recording.endpoint = server.url;
  return recording;
}
