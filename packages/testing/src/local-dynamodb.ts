import { spawn } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** dynalite ships no types: the one function used here. */
type Dynalite = (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

/** A real DynamoDB API (dynalite, in memory) on 127.0.0.1 and clients for it. */
export interface LocalDynamoDb {
  endpoint: string;
  client: DynamoDBClient;
  documentClient: DynamoDBDocumentClient;
  stop(): Promise<void>;
}

export interface LocalDynamoDbOptions {
  /**
   * Serve from a child process of its own rather than from this one: a process that also runs many other servers
   * (the local runner) then does not make every DynamoDB call wait for its own event loop, and the table uses the
   * machine's other core.
   */
  childProcess?: boolean;
}

export async function startLocalDynamoDb(options: LocalDynamoDbOptions = {}): Promise<LocalDynamoDb> {
  const served = options.childProcess === true ? await serveInChild() : await serveHere();
  const endpoint = `http://127.0.0.1:${served.port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const documentClient = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return {
    endpoint,
    client,
    documentClient,
    async stop() {
      client.destroy();
      await served.stop();
    },
  };
}

interface Served {
  port: number;
  stop(): Promise<void>;
}

async function serveHere(): Promise<Served> {
  // Loaded here, not at import: dynalite's storage backend is a native module that bundles cannot carry.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as Dynalite;
  const server = dynalite(DYNALITE_OPTIONS);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const DYNALITE_OPTIONS = { createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 };

/** The child: serves on a free port, prints it, and ends when its parent closes its stdin (or dies). */
const CHILD_PROGRAM = `
const server = require(process.argv[1])(${JSON.stringify(DYNALITE_OPTIONS)});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
process.stdin.on('end', () => process.exit(0)).resume();
`;

async function serveInChild(): Promise<Served> {
  const child = spawn(process.execPath, ['-e', CHILD_PROGRAM, require.resolve('dynalite')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('dynalite did not start within 30 s')), 30_000);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`dynalite exited before it served (code ${code})`)));
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) {
        clearTimeout(timer);
        resolve(Number(text.trim()));
      }
    });
  });
  return {
    port,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
