/**
 * Resolvers for schema/payments.graphql.
 */
import type { Resolvers } from '../../generated/graphql.js';
import { badUserInput } from '../../graphql/errors.js';
import { parseId } from '../../graphql/ids.js';
import { mustExist } from '../../graphql/relations.js';
import { insertPayment } from './data.js';

export const paymentResolvers: Resolvers = {
  Query: {
    payment: (_parent, args, ctx) => ctx.loaders.paymentById.load(parseId(args.id, 'id')),
  },
  Mutation: {
    payOrder: async (_parent, { input }, ctx) => {
      const orderId = parseId(input.orderId, 'input.orderId');
      if (!Number.isInteger(input.amountCents) || input.amountCents < 1) {
        throw badUserInput(`input.amountCents must be a positive integer (got ${input.amountCents}).`, 'input.amountCents');
      }
      return ctx.db.transaction((tx) => insertPayment(tx, { orderId, amountCents: input.amountCents }));
    },
  },
  Payment: {
    order: (payment, _args, ctx) => mustExist(ctx.loaders.orderById.load(payment.orderId), 'Order', payment.orderId),
  },
};
