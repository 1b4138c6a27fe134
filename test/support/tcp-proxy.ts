/**
 * A small TCP proxy for fault injection: tests point a client (Postgres, Redis) at the proxy, then
 * - `cut()` it to sever every open connection and refuse new ones, as a dead server does (clients fail at once), and
 *   `restore()` it to let connections through again;
 * - `stall()` it to keep every connection open but move no byte, as a hung server or a network partition does (no
 *   FIN, no RST: only the client's own timeouts notice), and `resume()` it to deliver what was held back and forward
 *   again.
 * Nothing is mocked: the client sees real socket behaviour.
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
  /** Stops forwarding in both directions; connections stay open and new ones are accepted. */
  stall(): void;
  /** Forwards again, including what was held back while stalled. */
  resume(): void;
  /** Connections currently open through the proxy. */
  readonly openConnections: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  /** Chunks held back while stalled, with where they were going. */
  const held: Array<[Socket, Buffer]> = [];
  let severed = false;
  let stalled = false;

  const forward = (from: Socket, to: Socket) =>
    from.on('data', (chunk: Buffer) => {
      if (stalled) held.push([to, chunk]);
      else to.write(chunk);
    });

  const server: Server = createServer((client) => {
    if (severed) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: target.host, port: target.port });
    const teardown = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', teardown).on('close', teardown);
    }
    forward(client, upstream);
    forward(upstream, client);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');

  const destroyAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };

  return {
    host: '127.0.0.1',
    port: address.port,
    cut() {
      severed = true;
      destroyAll();
    },
    restore() {
      severed = false;
    },
    stall() {
      stalled = true;
    },
    resume() {
      stalled = false;
      for (const [to, chunk] of held.splice(0)) if (!to.destroyed) to.write(chunk);
    },
    get openConnections() {
      return sockets.size / 2;
    },
    async close() {
      severed = true;
      destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
