/**
 * The fault-injection proxy itself: it forwards, cuts open connections, refuses new ones while cut, and recovers.
 */
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { baseConfig, usingPostgres } from './support/server.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

let proxy: TcpProxy | undefined;
afterAll(() => proxy?.close());

describe.runIf(usingPostgres)('TCP proxy (needs DATABASE_URL)', () => {
  it('forwards, severs and restores a real Postgres connection', async () => {
    const url = new URL(baseConfig.database.url!);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.hostname = proxy.host;
    url.port = String(proxy.port);
    const sql = postgres(url.toString(), { max: 1, connect_timeout: 2, onnotice: () => {} });
    try {
      expect(await sql`select 1 as one`).toEqual([{ one: 1 }]);
      expect(proxy.openConnections).toBe(1);
      proxy.cut();
      await expect(sql`select 1`).rejects.toThrow();
      proxy.restore();
      expect(await sql`select 2 as two`).toEqual([{ two: 2 }]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
