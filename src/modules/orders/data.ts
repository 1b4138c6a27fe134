/**
 * Orders' data access: batched lookups (orders by id, items by order, each user's page of orders) and the
 * transaction behind placeOrder.
 */
import DataLoader from 'dataloader';
import { and, asc, desc, eq, lt, Param, sql, type SQL } from 'drizzle-orm';
import { orderOwnedBy, ownedBy, type Access } from '../../auth/access.js';
import type { Db } from '../../db/client.js';
import { rowGroupsByKey, rowsByKey } from '../../db/batch.js';
import { orderItems, orders, products, users, type OrderItemRow, type OrderRow, type OrderStatus } from '../../db/schema.js';
import { badUserInput, notFound } from '../../graphql/errors.js';
import type { PageArgs } from '../../graphql/pagination.js';

export interface OrderListArgs extends PageArgs {
  status: OrderStatus | null;
}

function ids(keys: readonly number[]): SQL {
  return sql`${new Param(keys)}::int[]`;
}

/**
 * Filters shared by the global order list and the per-user pages: the caller's own orders only (unless admin), the
 * status, and newest first, so "after" means a smaller id.
 */
function listFilter(args: OrderListArgs, access: Access): SQL | undefined {
  return and(
    ownedBy(orders.userId, access),
    args.status === null ? undefined : eq(orders.status, args.status),
    args.afterId === null ? undefined : lt(orders.id, args.afterId),
  );
}

/** Given order ids, one statement returns an order or null per id, in key order. */
export async function loadOrdersByIds(
  db: Db,
  keys: readonly number[],
  access: Access,
): Promise<Array<OrderRow | null>> {
  const rows = await db
    .select()
    .from(orders)
    .where(and(sql`${orders.id} = any(${ids(keys)})`, ownedBy(orders.userId, access)));
  return rowsByKey(keys, rows, (row) => row.id);
}

/** Given order ids, one statement returns each order's items (in id order), in key order. */
export async function loadItemsByOrderIds(db: Db, keys: readonly number[], access: Access): Promise<OrderItemRow[][]> {
  const rows = await db
    .select()
    .from(orderItems)
    .where(and(sql`${orderItems.orderId} = any(${ids(keys)})`, orderOwnedBy(orderItems.orderId, access)))
    .orderBy(asc(orderItems.orderId), asc(orderItems.id));
  return rowGroupsByKey(keys, rows, (row) => row.orderId);
}

/**
 * Given user ids, ONE statement returns each user's page of orders (up to `first + 1` rows each, newest first): a
 * LATERAL join runs the per-user page query once per id on the (user_id, status, id) indexes.
 */
export async function loadOrderPagesByUserIds(
  db: Db,
  keys: readonly number[],
  args: OrderListArgs,
  access: Access,
): Promise<OrderRow[][]> {
  const page = db
    .select()
    .from(orders)
    .where(and(sql`${orders.userId} = parent.user_id`, listFilter(args, access)))
    .orderBy(desc(orders.id))
    .limit(args.first + 1)
    .as('page');
  const rows = await db
    .select(page._.selectedFields)
    .from(sql`unnest(${ids(keys)}) as parent(user_id)`)
    .crossJoinLateral(page);
  return rowGroupsByKey(keys, rows, (row) => row.userId);
}

export function createOrderLoaders(db: Db, access: Access) {
  // One loader per distinct argument set: identical arguments share a batch, differing ones batch separately.
  const pagesByArgs = new Map<string, DataLoader<number, OrderRow[]>>();
  return {
    orderById: new DataLoader<number, OrderRow | null>((keys) => loadOrdersByIds(db, keys, access)),
    itemsByOrderId: new DataLoader<number, OrderItemRow[]>((keys) => loadItemsByOrderIds(db, keys, access)),
    /** The loader answering "this user's page of orders" for one argument set. */
    orderPagesByUserId(args: OrderListArgs): DataLoader<number, OrderRow[]> {
      const argsKey = `${args.first}:${args.afterId}:${args.status}`;
      let loader = pagesByArgs.get(argsKey);
      if (!loader) {
        loader = new DataLoader((keys) => loadOrderPagesByUserIds(db, keys, args, access));
        pagesByArgs.set(argsKey, loader);
      }
      return loader;
    },
  };
}

/** A page of all orders, newest first, up to `first + 1` rows. */
export function listOrders(db: Db, args: OrderListArgs, access: Access): Promise<OrderRow[]> {
  return db
    .select()
    .from(orders)
    .where(listFilter(args, access))
    .orderBy(desc(orders.id))
    .limit(args.first + 1);
}

export interface PlaceOrderCommand {
  userId: number;
  items: Array<{ productId: number; quantity: number }>;
}

const MAX_TOTAL_CENTS = 2_147_483_647;

/**
 * Prices the items from the catalog and writes the order and its items. Run inside a transaction (the caller's), so
 * a failure leaves nothing behind.
 */
export async function insertOrder(tx: Db, command: PlaceOrderCommand, access: Access): Promise<OrderRow> {
  // A customer orders for themself only; anyone else's id reads as unknown.
  const [user] = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.id, command.userId), ownedBy(users.id, access)));
  if (!user) throw notFound('User', command.userId);

  const productIds = command.items.map((item) => item.productId);
  const priced = rowsByKey(
    productIds,
    await tx
      .select({ id: products.id, priceCents: products.priceCents, currency: products.currency })
      .from(products)
      .where(sql`${products.id} = any(${ids(productIds)})`),
    (row) => row.id,
  );
  const missing = priced.findIndex((row) => row === null);
  if (missing >= 0) throw notFound('Product', productIds[missing]!);

  const currencies = new Set(priced.map((row) => row!.currency));
  if (currencies.size > 1) {
    throw badUserInput(
      `All items of an order must be priced in one currency (got ${[...currencies].sort().join(', ')}).`,
      'input.items',
    );
  }
  const totalCents = command.items.reduce((sum, item, i) => sum + item.quantity * priced[i]!.priceCents, 0);
  if (totalCents > MAX_TOTAL_CENTS) {
    throw badUserInput(`The order total exceeds the maximum of ${MAX_TOTAL_CENTS} cents.`, 'input.items');
  }

  const [order] = await tx
    .insert(orders)
    .values({
      userId: command.userId,
      currency: priced[0]!.currency,
      totalCents,
      // Nothing to pay for a free order.
      status: totalCents === 0 ? 'PAID' : 'PENDING',
    })
    .returning();
  await tx.insert(orderItems).values(
    command.items.map((item, i) => ({
      orderId: order!.id,
      productId: item.productId,
      quantity: item.quantity,
      unitPriceCents: priced[i]!.priceCents,
    })),
  );
  return order!;
}
