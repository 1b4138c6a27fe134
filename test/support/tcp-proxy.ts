/**
 * A small TCP proxy for fault injection: tests point a client (Postgres, Redis) at the proxy, then `cut()` it to
 * sever every open connection and refuse new ones, as a network partition or a dead server would, and `restore()` it
 * to let connections through again. Nothing is mocked: the client sees real socket errors.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** host:port clients should connect to. */
  readonly host: string;
  readonly port: number;
  /** Destroys every open connection and refuses new ones until `restore()`. */
  cut(): void;
  /** Accepts and forwards connections again. */
  restore(): void;
  /** Connections currently open through the proxy. */
  readonly openConnections: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let severed = false;

  const server: Server = createServer((client) => {
    if (severed) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: target.host, port: target.port });
    sockets.add(client);
    sockets.add(upstream);
    const teardown = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', teardown).on('close', teardown);
    upstream.on('error', teardown).on('close', teardown);
    client.pipe(upstream);
    upstream.pipe(client);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');

  return {
    host: '127.0.0.1',
    port: address.port,
    cut() {
      severed = true;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    restore() {
      severed = false;
    },
    get openConnections() {
      return sockets.size / 2;
    },
    async close() {
      severed = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
