/**
 * Resolvers for schema/orders.graphql.
 */
import { requireAuthenticated } from '../../auth/access.js';
import type { OrderStatus, Resolvers } from '../../generated/graphql.js';
import { badUserInput } from '../../graphql/errors.js';
import { runMutation } from '../../idempotency/index.js';
import { parseId } from '../../graphql/ids.js';
import { parsePageArgs, toConnection } from '../../graphql/pagination.js';
import { mustExist } from '../../graphql/relations.js';
import { rowFields } from '../../graphql/selection.js';
import { insertOrder, listOrders, orderRowFields, type OrderListArgs, type PlaceOrderCommand } from './data.js';

const MAX_ITEMS = 100;
const MAX_QUANTITY = 1000;

export function parseOrderListArgs(args: {
  first?: number | null;
  after?: string | null;
  status?: OrderStatus | null;
}): OrderListArgs {
  return { ...parsePageArgs('o', args), status: args.status ?? null };
}

function validatePlaceOrder(input: {
  userId: string;
  items: Array<{ productId: string; quantity: number }>;
}): PlaceOrderCommand {
  if (input.items.length < 1 || input.items.length > MAX_ITEMS) {
    throw badUserInput(`input.items must hold 1 to ${MAX_ITEMS} items (got ${input.items.length}).`, 'input.items');
  }
  const seen = new Set<number>();
  const items = input.items.map((item, i) => {
    const productId = parseId(item.productId, `input.items[${i}].productId`);
    if (seen.has(productId)) {
      throw badUserInput(`Product ${productId} appears twice: list each product once.`, `input.items[${i}].productId`);
    }
    seen.add(productId);
    if (!Number.isInteger(item.quantity) || item.quantity < 1 || item.quantity > MAX_QUANTITY) {
      throw badUserInput(`quantity must be 1 to ${MAX_QUANTITY} (got ${item.quantity}).`, `input.items[${i}].quantity`);
    }
    return { productId, quantity: item.quantity };
  });
  return { userId: parseId(input.userId, 'input.userId'), items };
}

export const orderResolvers: Resolvers = {
  Query: {
    order: (_parent, args, ctx, info) => {
      requireAuthenticated(ctx.principal, 'order');
      return ctx.loaders.orderById(info).load(parseId(args.id, 'id'));
    },
    /** Admins see every order; a customer sees their own. */
    orders: async (_parent, args, ctx, info) => {
      requireAuthenticated(ctx.principal, 'orders');
      const listArgs = parseOrderListArgs(args);
      return toConnection('o', await listOrders(ctx.reader, listArgs, ctx.access, rowFields(info, orderRowFields).fields), listArgs.first);
    },
  },
  Mutation: {
    placeOrder: (_parent, { input, idempotencyKey }, ctx, info) => {
      requireAuthenticated(ctx.principal, 'placeOrder');
      return runMutation(ctx, info, { key: idempotencyKey, required: true, args: { input } }, async (tx) => ({
        order: await insertOrder(tx, validatePlaceOrder(input), ctx.access),
      }));
    },
  },
  Order: {
    user: (order, _args, ctx, info) => mustExist(ctx.loaders.userById(info).load(order.userId), 'User', order.userId),
    items: (order, _args, ctx, info) => ctx.loaders.itemsByOrderId(info).load(order.id),
    payments: (order, _args, ctx, info) => ctx.loaders.paymentsByOrderId(info).load(order.id),
  },
  OrderItem: {
    product: (item, _args, ctx, info) =>
      mustExist(ctx.loaders.productById(info).load(item.productId), 'Product', item.productId),
  },
};
