/**
 * Deterministic demo data: the same options always produce the same rows (a seeded PRNG, fixed timestamps), in one
 * transaction, so a half-seeded database never exists. The mix is realistic: most orders paid (some in two
 * instalments), some pending (a few partly paid), some cancelled, a few refunded.
 */
import { sql } from 'drizzle-orm';
import { createApiToken, demoToken } from '../auth/principal.js';
import type { Db } from './client.js';
import {
  apiTokens,
  orderItems,
  orders,
  payments,
  products,
  refunds,
  users,
  type OrderStatus,
  type PaymentStatus,
} from './schema.js';

export interface SeedOptions {
  users: number;
  products: number;
  ordersPerUser: number;
  /** PRNG seed; change it for a different but still reproducible data set. */
  seed: number;
}

export const DEFAULT_SEED_OPTIONS: SeedOptions = { users: 100, products: 50, ordersPerUser: 10, seed: 42 };

export interface SeedSummary {
  users: number;
  products: number;
  orders: number;
  orderItems: number;
  payments: number;
  refunds: number;
}

/** mulberry32: a tiny, fast, seedable PRNG; good enough for demo data. */
function createRandom(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}

const FIRST_NAMES = ['Ada', 'Grace', 'Alan', 'Barbara', 'Edsger', 'Frances', 'Donald', 'Margaret', 'Ken', 'Radia'];
const LAST_NAMES = ['Lovelace', 'Hopper', 'Turing', 'Liskov', 'Dijkstra', 'Allen', 'Knuth', 'Hamilton', 'Thompson'];
const ADJECTIVES = ['Sturdy', 'Compact', 'Vintage', 'Smart', 'Quiet', 'Bright', 'Ergonomic', 'Portable', 'Classic'];
const NOUNS = ['Kettle', 'Lamp', 'Backpack', 'Keyboard', 'Notebook', 'Headphones', 'Chair', 'Mug', 'Umbrella', 'Desk'];

/** Every row is stamped from this fixed point, so seeds are reproducible whatever the day. */
const EPOCH = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

function chunks<T>(rows: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

export async function isDatabaseEmpty(db: Db): Promise<boolean> {
  const rows = await db.select({ id: users.id }).from(users).limit(1);
  return rows.length === 0;
}

/** Removes every row of the domain tables and restarts their ids, so a re-seed yields the same ids. */
export async function resetData(db: Db): Promise<void> {
  await db.execute(
    sql`truncate table ${apiTokens}, ${refunds}, ${payments}, ${orderItems}, ${orders}, ${products}, ${users} restart identity cascade`,
  );
}

/**
 * Seeds in one transaction; with `reset`, existing domain rows are removed first, in the same transaction. With
 * `demoTokens`, it also creates an admin (admin@example.com) and two API tokens with well-known values (see
 * `demoToken`): an admin token and a customer token for user 1.
 */
export async function seedDemoData(
  db: Db,
  options: SeedOptions = DEFAULT_SEED_OPTIONS,
  { reset = false, demoTokens = false }: { reset?: boolean; demoTokens?: boolean } = {},
): Promise<SeedSummary> {
  const random = createRandom(options.seed);
  return db.transaction(async (tx) => {
    if (reset) await resetData(tx);
    const userRows = Array.from({ length: options.users }, (_, i) => ({
      email: `user${i + 1}@example.com`,
      name: `${random.pick(FIRST_NAMES)} ${random.pick(LAST_NAMES)}`,
      createdAt: new Date(EPOCH + i * 7 * MINUTE),
    }));
    const userIds: number[] = [];
    for (const chunk of chunks(userRows, 1000)) {
      userIds.push(...(await tx.insert(users).values(chunk).returning({ id: users.id })).map((r) => r.id));
    }

    const productRows = Array.from({ length: options.products }, (_, i) => ({
      sku: `SKU-${String(i + 1).padStart(5, '0')}`,
      name: `${random.pick(ADJECTIVES)} ${random.pick(NOUNS)} ${i + 1}`,
      priceCents: random.int(2, 200) * 100 - random.pick([0, 1, 5]),
      currency: i % 10 === 9 ? 'EUR' : 'USD',
      createdAt: new Date(EPOCH + i * MINUTE),
    }));
    const catalog = (
      await tx
        .insert(products)
        .values(productRows)
        .returning({ id: products.id, priceCents: products.priceCents, currency: products.currency })
    );
    const byCurrency = new Map<string, typeof catalog>();
    for (const product of catalog) byCurrency.set(product.currency, [...(byCurrency.get(product.currency) ?? []), product]);

    // Plan every order first, then write in large batches.
    type PlannedOrder = {
      row: typeof orders.$inferInsert;
      items: Array<{ productId: number; quantity: number; unitPriceCents: number }>;
      payments: Array<{ amountCents: number; status: PaymentStatus }>;
    };
    const planned: PlannedOrder[] = [];
    const orderCount = options.users * options.ordersPerUser;
    for (let i = 0; i < orderCount; i++) {
      const userId = userIds[random.int(0, userIds.length - 1)]!;
      const currency = random.next() < 0.9 || !byCurrency.has('EUR') ? 'USD' : 'EUR';
      const pool = byCurrency.get(currency) ?? catalog;
      const chosen = new Set<(typeof catalog)[number]>();
      const itemCount = Math.min(random.int(1, 4), pool.length);
      while (chosen.size < itemCount) chosen.add(random.pick(pool));
      const items = [...chosen].map((product) => ({
        productId: product.id,
        quantity: random.int(1, 3),
        unitPriceCents: product.priceCents,
      }));
      const totalCents = items.reduce((sum, item) => sum + item.quantity * item.unitPriceCents, 0);

      const roll = random.next();
      const status: OrderStatus = roll < 0.7 ? 'PAID' : roll < 0.85 ? 'PENDING' : roll < 0.95 ? 'CANCELLED' : 'REFUNDED';
      const orderPayments: PlannedOrder['payments'] = [];
      if (status === 'PAID' || status === 'REFUNDED') {
        const paymentStatus: PaymentStatus = status === 'REFUNDED' ? 'REFUNDED' : 'SUCCEEDED';
        if (totalCents > 1 && random.next() < 0.2) {
          const first = Math.floor(totalCents / 2);
          orderPayments.push({ amountCents: first, status: paymentStatus });
          orderPayments.push({ amountCents: totalCents - first, status: paymentStatus });
        } else {
          orderPayments.push({ amountCents: totalCents, status: paymentStatus });
        }
      } else if (status === 'PENDING' && totalCents > 1 && random.next() < 0.3) {
        orderPayments.push({ amountCents: Math.floor(totalCents / 2), status: 'SUCCEEDED' });
      }
      const paidCents = status === 'REFUNDED' ? 0 : orderPayments.reduce((sum, p) => sum + p.amountCents, 0);
      planned.push({
        row: { userId, status, currency, totalCents, paidCents, createdAt: new Date(EPOCH + i * 3 * MINUTE) },
        items,
        payments: orderPayments,
      });
    }

    if (demoTokens) {
      const [admin] = await tx
        .insert(users)
        .values({ email: 'admin@example.com', name: 'Demo Admin', createdAt: new Date(EPOCH) })
        .returning({ id: users.id });
      await createApiToken(tx, { userId: admin!.id, role: 'admin', label: 'demo', token: demoToken('admin', options.seed) });
      await createApiToken(tx, {
        userId: userIds[0]!,
        role: 'customer',
        label: 'demo',
        token: demoToken('customer', options.seed),
      });
    }

    let itemTotal = 0;
    let paymentTotal = 0;
    let refundTotal = 0;
    for (const batch of chunks(planned, 1000)) {
      const ids = await tx
        .insert(orders)
        .values(batch.map((order) => order.row))
        .returning({ id: orders.id });
      const itemRows = batch.flatMap((order, i) =>
        order.items.map((item) => ({ ...item, orderId: ids[i]!.id, createdAt: order.row.createdAt })),
      );
      const paymentRows = batch.flatMap((order, i) =>
        order.payments.map((payment, n) => ({
          ...payment,
          refundedCents: payment.status === 'REFUNDED' ? payment.amountCents : 0,
          orderId: ids[i]!.id,
          currency: order.row.currency,
          createdAt: new Date(order.row.createdAt!.getTime() + (n + 1) * MINUTE),
        })),
      );
      for (const chunk of chunks(itemRows, 2000)) await tx.insert(orderItems).values(chunk);
      for (const chunk of chunks(paymentRows, 2000)) {
        const inserted = await tx.insert(payments).values(chunk).returning({
          id: payments.id,
          refundedCents: payments.refundedCents,
          currency: payments.currency,
          createdAt: payments.createdAt,
        });
        // A refunded order's payments were refunded in full, a day later.
        const refundRows = inserted
          .filter((payment) => payment.refundedCents > 0)
          .map((payment) => ({
            paymentId: payment.id,
            amountCents: payment.refundedCents,
            currency: payment.currency,
            createdAt: new Date(payment.createdAt.getTime() + 24 * 60 * MINUTE),
          }));
        if (refundRows.length > 0) await tx.insert(refunds).values(refundRows);
        refundTotal += refundRows.length;
      }
      itemTotal += itemRows.length;
      paymentTotal += paymentRows.length;
    }
    return {
      users: userIds.length,
      products: catalog.length,
      orders: planned.length,
      orderItems: itemTotal,
      payments: paymentTotal,
      refunds: refundTotal,
    };
  });
}
