import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createDispatcher } from '../../src';
import { request } from '../../src/transport/undici';
import { preconnectRegistries, takePreconnected } from '../../src/transport/preconnect';

const POOL = {
  connections: 8,
  keepAliveTimeout: 5_000,
  headersTimeout: 10_000,
  bodyTimeout: 10_000,
  connectTimeout: 5_000,
};

/** An HTTP server that answers 200 and counts the TCP connections it accepted. */
async function countingServer(onConnection?: (socket: Socket, n: number) => void) {
  let connections = 0;
  const server: Server = createServer((_req, res) => res.end('ok'));
  server.on('connection', (socket) => {
    connections += 1;
    onConnection?.(socket, connections);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    port,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('connections opened ahead of time', () => {
  it('are the ones the first requests use: no further connection is made', async () => {
    const server = await countingServer();
    const dispatcher = createDispatcher(POOL);
    try {
      preconnectRegistries([server.host], 2);
      await until(() => server.connections() === 2, 'the two early connections');
      const answers = await Promise.all(
        [1, 2].map(async () => {
          const response = await request(`http://${server.host}/v2/`, { method: 'GET', dispatcher });
          await response.body.text();
          return response.statusCode;
        }),
      );
      expect(answers).toEqual([200, 200]);
      expect(server.connections()).toBe(2);
    } finally {
      await dispatcher.close();
      await server.close();
    }
  });

  it('are skipped when the registry closed them: the request connects anew and succeeds', async () => {
    const server = await countingServer((socket, n) => {
      if (n === 1) socket.destroy();
    });
    const dispatcher = createDispatcher(POOL);
    try {
      preconnectRegistries([server.host], 1);
      await until(() => server.connections() === 1, 'the early connection');
      await new Promise((resolve) => setTimeout(resolve, 100)); // the close reaches the client
      const response = await request(`http://${server.host}/v2/`, { method: 'GET', dispatcher });
      await response.body.text();
      expect(response.statusCode).toBe(200);
      expect(server.connections()).toBe(2);
    } finally {
      await dispatcher.close();
      await server.close();
    }
  });

  it('go only to the host and port they were opened to', async () => {
    const server = await countingServer();
    try {
      preconnectRegistries([server.host], 1);
      await until(() => server.connections() === 1, 'the early connection');
      expect(takePreconnected('127.0.0.1', server.port + 1)).toBeUndefined();
      expect(takePreconnected('localhost', server.port)).toBeUndefined();
      const socket = takePreconnected('127.0.0.1', server.port);
      expect(socket?.remotePort).toBe(server.port);
      socket?.destroy();
      expect(takePreconnected('127.0.0.1', server.port)).toBeUndefined();
    } finally {
      await server.close();
    }
  });

  it('leave alone what is not a registry host, and never keep the process alive', async () => {
    const server = await countingServer();
    try {
      preconnectRegistries(['[::1]:5000', 'bad host', 'x'.repeat(10) + ':99999'], 1);
      // A process that opened connections it never used still exits at once.
      const modulePath = require.resolve('../../dist/transport/preconnect.js');
      const run = spawnSync(
        process.execPath,
        ['-e', `require(${JSON.stringify(modulePath)}).preconnectRegistries([${JSON.stringify(server.host)}], 4)`],
        { timeout: 20_000 },
      );
      expect(run.status).toBe(0);
      expect(run.signal).toBeNull();
    } finally {
      await server.close();
    }
  });
});
