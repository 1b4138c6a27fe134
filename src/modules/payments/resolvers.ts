/**
 * Resolvers for schema/payments.graphql.
 */
import type { Resolvers } from '../../generated/graphql.js';
import { requireAuthenticated } from '../../auth/access.js';
import { badUserInput } from '../../graphql/errors.js';
import { parseId } from '../../graphql/ids.js';
import { mustExist } from '../../graphql/relations.js';
import { runMutation } from '../../idempotency/index.js';
import { insertPayment, insertRefund } from './data.js';

function positiveAmount(amountCents: number): number {
  if (!Number.isInteger(amountCents) || amountCents < 1) {
    throw badUserInput(`input.amountCents must be a positive integer (got ${amountCents}).`, 'input.amountCents');
  }
  return amountCents;
}

export const paymentResolvers: Resolvers = {
  Query: {
    payment: (_parent, args, ctx, info) => {
      requireAuthenticated(ctx.principal, 'payment');
      return ctx.loaders.paymentById(info).load(parseId(args.id, 'id'));
    },
  },
  Mutation: {
    payOrder: (_parent, { input, idempotencyKey }, ctx, info) => {
      requireAuthenticated(ctx.principal, 'payOrder');
      return runMutation(ctx, info, { key: idempotencyKey, required: true, args: { input } }, (tx) =>
        insertPayment(
          tx,
          { orderId: parseId(input.orderId, 'input.orderId'), amountCents: positiveAmount(input.amountCents) },
          ctx.access,
        ),
      );
    },
    refundPayment: (_parent, { input, idempotencyKey }, ctx, info) => {
      requireAuthenticated(ctx.principal, 'refundPayment');
      return runMutation(ctx, info, { key: idempotencyKey, required: true, args: { input } }, (tx) =>
        insertRefund(
          tx,
          { paymentId: parseId(input.paymentId, 'input.paymentId'), amountCents: positiveAmount(input.amountCents) },
          ctx.access,
        ),
      );
    },
  },
  Payment: {
    order: (payment, _args, ctx, info) =>
      mustExist(ctx.loaders.orderById(info).load(payment.orderId), 'Order', payment.orderId),
  },
  Refund: {
    payment: (refund, _args, ctx, info) =>
      mustExist(ctx.loaders.paymentById(info).load(refund.paymentId), 'Payment', refund.paymentId),
  },
};
