/**
 * A TCP proxy that can stall: connections stay open but no byte moves, as with a Redis that hangs or a network
 * partition that drops packets without resetting connections. The complement of tcp-proxy.ts's `cut()` (which
 * closes connections, so clients fail at once): here only a client's own timeouts notice. Nothing is mocked.
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface StallProxy {
  readonly host: string;
  readonly port: number;
  /** Stops forwarding in both directions; connections stay open. */
  stall(): void;
  /** Forwards again, including what was held back. */
  resume(): void;
  close(): Promise<void>;
}

export async function startStallProxy(target: { host: string; port: number }): Promise<StallProxy> {
  const sockets = new Set<Socket>();
  /** Chunks held back while stalled, with where they were going. */
  const held: Array<[Socket, Buffer]> = [];
  let stalled = false;

  const forward = (from: Socket, to: Socket) =>
    from.on('data', (chunk: Buffer) => {
      if (stalled) held.push([to, chunk]);
      else to.write(chunk);
    });

  const server = createServer((client) => {
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

  return {
    host: '127.0.0.1',
    port: address.port,
    stall() {
      stalled = true;
    },
    resume() {
      stalled = false;
      for (const [to, chunk] of held.splice(0)) if (!to.destroyed) to.write(chunk);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
