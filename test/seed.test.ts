/**
 * The demo seed: deterministic, realistic, consistent, and all-or-nothing.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { seedDemoData } from '../src/db/seed.js';
import { startServer } from './support/server.js';

const OPTIONS = { users: 40, products: 20, ordersPerUser: 5, seed: 99 };

async function snapshot() {
  const server = await startServer();
  try {
    const summary = await seedDemoData(server.app.database.db, OPTIONS);
    const { database } = server.app;
    const digest = await database.rows<{ orders: string; items: string; payments: string; users: string }>(
      database.db,
      sql`select
        (select md5(string_agg(concat_ws(',', id, user_id, status, currency, total_cents, paid_cents, created_at), ';' order by id)) from orders) as orders,
        (select md5(string_agg(concat_ws(',', id, order_id, product_id, quantity, unit_price_cents), ';' order by id)) from order_items) as items,
        (select md5(string_agg(concat_ws(',', id, order_id, amount_cents, status), ';' order by id)) from payments) as payments,
        (select md5(string_agg(concat_ws(',', id, email, name, created_at), ';' order by id)) from users) as users`,
    );
    const statuses = await database.rows<{ status: string; n: number }>(
      database.db,
      sql`select status, count(*)::int as n from orders group by status`,
    );
    const inconsistent = await database.rows<{ n: number }>(
      database.db,
      sql`select count(*)::int as n from orders o where
            o.total_cents <> (select sum(quantity * unit_price_cents) from order_items i where i.order_id = o.id)
         or (o.status = 'PAID' and o.total_cents <> (select coalesce(sum(amount_cents), 0) from payments p where p.order_id = o.id))
         or (o.status = 'CANCELLED' and exists (select 1 from payments p where p.order_id = o.id))
         or exists (select 1 from order_items i join products pr on pr.id = i.product_id where i.order_id = o.id and pr.currency <> o.currency)`,
    );
    return { summary, digest: digest[0], statuses: Object.fromEntries(statuses.map((s) => [s.status, s.n])), inconsistent: inconsistent[0]!.n };
  } finally {
    await server.close();
  }
}

describe('seedDemoData', () => {
  it('produces the same rows every time, in a realistic and consistent mix', async () => {
    const first = await snapshot();
    const second = await snapshot();
    expect(second.digest).toEqual(first.digest);
    expect(first.summary).toMatchObject({ users: 40, products: 20, orders: 200 });
    expect(first.summary.orderItems).toBeGreaterThan(200);
    expect(first.inconsistent).toBe(0);
    const { PAID = 0, PENDING = 0, CANCELLED = 0, REFUNDED = 0 } = first.statuses;
    expect(PAID).toBeGreaterThan(200 / 2);
    expect(PENDING).toBeGreaterThan(0);
    expect(CANCELLED).toBeGreaterThan(0);
    expect(REFUNDED).toBeGreaterThan(0);
  });
});
