/**
 * Orders' data access: batched lookups (orders by id, items by order, each user's page of orders) and the
 * transaction behind placeOrder.
 */
import { and, eq, Param, sql, type SQL } from 'drizzle-orm';
import { accessVariants, forAccess, orderOwnerParam, ownedBy, ownerParam, type Access } from '../../auth/access.js';
import type { Db } from '../../db/client.js';
import { rowGroupsByKey, rowsByKey } from '../../db/batch.js';
import { keyLookup, param, selectFamily, type Reader } from '../../db/statements.js';
import { orderItems, orders, products, users, type OrderItemRow, type OrderRow, type OrderStatus } from '../../db/schema.js';
import { badUserInput, notFound } from '../../graphql/errors.js';
import type { PageArgs } from '../../graphql/pagination.js';
import { rowFieldSpec, type RowFields } from '../../graphql/selection.js';

const orderReads = { user: ['userId'], items: ['id'], payments: ['id'] } as const;
/** What an Order row must hold for an operation: its relations read userId and id. */
export const orderRowFields = rowFieldSpec('Order', orders, orderReads, ['id']);
/** The same, for users' pages of orders: grouped by userId. */
export const userOrderRowFields = rowFieldSpec('Order', orders, orderReads, ['id', 'userId']);
/** What an OrderItem row must hold: `product` reads productId; grouped by orderId. */
export const itemRowFields = rowFieldSpec('OrderItem', orderItems, { product: ['productId'] }, ['id', 'orderId']);

export interface OrderListArgs extends PageArgs {
  status: OrderStatus | null;
}

function ids(keys: readonly number[]): SQL {
  return sql`${new Param(keys)}::int[]`;
}

const ordersByIds = accessVariants((restricted) =>
  keyLookup(orders, orders.id, { where: ownerParam(orders.userId, restricted) }),
);

/** Given order ids, one statement returns an order or null per id, in key order. */
export async function loadOrdersByIds(
  reader: Reader,
  keys: readonly number[],
  access: Access,
  fields: RowFields<typeof orders>['fields'],
): Promise<Array<OrderRow | null>> {
  const { statement, ownerId } = forAccess(ordersByIds, access);
  return rowsByKey(keys, await reader.rows(statement.select(fields), { ids: keys, ownerId }), (row) => row.id);
}

const itemsByOrderIds = accessVariants((restricted) =>
  keyLookup(orderItems, orderItems.orderId, {
    where: orderOwnerParam(orderItems.orderId, restricted),
    orderBy: [orderItems.orderId, orderItems.id],
  }),
);

/** Given order ids, one statement returns each order's items (in id order), in key order. */
export async function loadItemsByOrderIds(
  reader: Reader,
  keys: readonly number[],
  access: Access,
  fields: RowFields<typeof orderItems>['fields'],
): Promise<OrderItemRow[][]> {
  const { statement, ownerId } = forAccess(itemsByOrderIds, access);
  const rows = await reader.rows(statement.select(fields), { ids: keys, ownerId });
  return rowGroupsByKey(keys, rows, (row) => row.orderId);
}

/**
 * The conditions of an order page, as prepared-statement SQL: the caller's own orders only (unless unrestricted),
 * the status if one is asked for, and ids below the cursor. Newest first, so "after" means a smaller id.
 */
interface PageVariant {
  status: boolean;
  after: boolean;
}

function pageConditions(variant: PageVariant, restricted: boolean): SQL | undefined {
  return and(
    ownerParam(orders.userId, restricted),
    variant.status ? sql`${orders.status} = ${param('status')}` : undefined,
    variant.after ? sql`${orders.id} < ${param('afterId')}` : undefined,
  );
}

/** One statement per page variant (status filter or not, cursor or not), each built on first use. */
function variantsOf<S>(build: (variant: PageVariant) => S): (args: OrderListArgs) => S {
  const built = new Map<string, S>();
  return (args) => {
    const variant = { status: args.status !== null, after: args.afterId !== null };
    const key = `${variant.status}:${variant.after}`;
    let statement = built.get(key);
    if (!statement) built.set(key, (statement = build(variant)));
    return statement;
  };
}

function pageValues(args: OrderListArgs, ownerId: number | null) {
  return { status: args.status, afterId: args.afterId, ownerId, limit: args.first + 1 };
}

/**
 * Each user's page of orders: ONE statement for all the given users, a LATERAL join running the per-user page query
 * once per id on the (user_id, status, id) indexes.
 */
const orderPagesByUsers = variantsOf((variant) =>
  accessVariants((restricted) =>
    selectFamily(
      orders,
      (columns) => sql`select page.* from unnest(${param('ids')}::int[]) as parent(user_id)
        cross join lateral (
          select ${columns} from ${orders}
          where ${and(sql`${orders.userId} = parent.user_id`, pageConditions(variant, restricted))}
          order by ${orders.id} desc limit ${param('limit')}
        ) as page`,
    ),
  ),
);

/** Given user ids, one statement returns each user's page of orders (up to `first + 1` rows each, newest first). */
export async function loadOrderPagesByUserIds(
  reader: Reader,
  keys: readonly number[],
  args: OrderListArgs,
  access: Access,
  fields: RowFields<typeof orders>['fields'],
): Promise<OrderRow[][]> {
  const { statement, ownerId } = forAccess(orderPagesByUsers(args), access);
  const rows = await reader.rows(statement.select(fields), { ids: keys, ...pageValues(args, ownerId) });
  return rowGroupsByKey(keys, rows, (row) => row.userId);
}

const orderPages = variantsOf((variant) =>
  accessVariants((restricted) =>
    selectFamily(
      orders,
      (columns) => sql`select ${columns} from ${orders}
        where ${pageConditions(variant, restricted) ?? sql`true`}
        order by ${orders.id} desc limit ${param('limit')}`,
    ),
  ),
);

/** A page of all orders (the caller's own, unless unrestricted), newest first, up to `first + 1` rows. */
export function listOrders(
  reader: Reader,
  args: OrderListArgs,
  access: Access,
  fields: RowFields<typeof orders>['fields'],
): Promise<OrderRow[]> {
  const { statement, ownerId } = forAccess(orderPages(args), access);
  return reader.rows(statement.select(fields), pageValues(args, ownerId));
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
