/**
 * Payments' data access: batched lookups and the transaction behind payOrder.
 */
import { and, eq } from 'drizzle-orm';
import { accessVariants, forAccess, orderOwnedBy, orderOwnerParam, ownedBy, type Access } from '../../auth/access.js';
import type { Db } from '../../db/client.js';
import { rowGroupsByKey, rowsByKey } from '../../db/batch.js';
import { keyLookup, type Reader } from '../../db/statements.js';
import { orders, payments, refunds, type OrderRow, type PaymentRow, type RefundRow } from '../../db/schema.js';
import { badUserInput, BusinessError, ErrorCode, notFound } from '../../graphql/errors.js';
import { rowFieldSpec, type RowFields } from '../../graphql/selection.js';

/** What a Payment row must hold for an operation: `order` reads orderId. */
export const paymentRowFields = rowFieldSpec('Payment', payments, { order: ['orderId'] }, ['id']);
/** The same, for an order's payments: grouped by orderId. */
export const orderPaymentRowFields = rowFieldSpec('Payment', payments, { order: ['orderId'] }, ['id', 'orderId']);

const paymentsByIds = accessVariants((restricted) =>
  keyLookup(payments, payments.id, { where: orderOwnerParam(payments.orderId, restricted) }),
);

/** Given payment ids, one statement returns a payment or null per id, in key order. */
export async function loadPaymentsByIds(
  reader: Reader,
  keys: readonly number[],
  access: Access,
  fields: RowFields<typeof payments>['fields'],
): Promise<Array<PaymentRow | null>> {
  const { statement, ownerId } = forAccess(paymentsByIds, access);
  return rowsByKey(keys, await reader.rows(statement.select(fields), { ids: keys, ownerId }), (row) => row.id);
}

const paymentsByOrderIds = accessVariants((restricted) =>
  keyLookup(payments, payments.orderId, {
    where: orderOwnerParam(payments.orderId, restricted),
    orderBy: [payments.orderId, payments.id],
  }),
);

/** Given order ids, one statement returns each order's payments (oldest first), in key order. */
export async function loadPaymentsByOrderIds(
  reader: Reader,
  keys: readonly number[],
  access: Access,
  fields: RowFields<typeof payments>['fields'],
): Promise<PaymentRow[][]> {
  const { statement, ownerId } = forAccess(paymentsByOrderIds, access);
  const rows = await reader.rows(statement.select(fields), { ids: keys, ownerId });
  return rowGroupsByKey(keys, rows, (row) => row.orderId);
}

export interface PayOrderCommand {
  orderId: number;
  amountCents: number;
}

/**
 * Records a payment and moves the order to PAID once fully paid. Run inside a transaction: the order row is locked
 * first, so concurrent payments of one order are serialised and can never overpay it.
 */
export async function insertPayment(
  tx: Db,
  command: PayOrderCommand,
  access: Access,
): Promise<{ payment: PaymentRow; order: OrderRow }> {
  const [order] = await tx
    .select()
    .from(orders)
    .where(and(eq(orders.id, command.orderId), ownedBy(orders.userId, access)))
    .for('update');
  if (!order) throw notFound('Order', command.orderId);
  if (order.status === 'PAID') {
    throw new BusinessError(ErrorCode.ORDER_ALREADY_PAID, `Order ${order.id} is already paid.`, {
      orderId: String(order.id),
    });
  }
  if (order.status !== 'PENDING') {
    throw new BusinessError(ErrorCode.ORDER_NOT_PAYABLE, `Order ${order.id} is ${order.status} and cannot be paid.`, {
      orderId: String(order.id),
      status: order.status,
    });
  }
  const outstanding = order.totalCents - order.paidCents;
  if (command.amountCents > outstanding) {
    throw badUserInput(
      `amountCents ${command.amountCents} exceeds the outstanding balance of ${outstanding} ${order.currency} cents.`,
      'input.amountCents',
    );
  }

  const [payment] = await tx
    .insert(payments)
    .values({ orderId: order.id, amountCents: command.amountCents, currency: order.currency })
    .returning();
  const paidCents = order.paidCents + command.amountCents;
  const [updated] = await tx
    .update(orders)
    .set({ paidCents, status: paidCents === order.totalCents ? 'PAID' : 'PENDING' })
    .where(eq(orders.id, order.id))
    .returning();
  return { payment: payment!, order: updated! };
}

export interface RefundCommand {
  paymentId: number;
  amountCents: number;
}

/**
 * Refunds part or all of a payment. Run inside a transaction: the order row is locked first (the same order as
 * payOrder takes its locks, so the two cannot deadlock), then the payment row, so concurrent refunds of one payment
 * are serialised and can never refund more than was paid.
 */
export async function insertRefund(
  tx: Db,
  command: RefundCommand,
  access: Access,
): Promise<{ refund: RefundRow; payment: PaymentRow }> {
  const [target] = await tx
    .select({ orderId: payments.orderId })
    .from(payments)
    .where(and(eq(payments.id, command.paymentId), orderOwnedBy(payments.orderId, access)));
  if (!target) throw notFound('Payment', command.paymentId);
  const [order] = await tx.select().from(orders).where(eq(orders.id, target.orderId)).for('update');
  const [payment] = await tx.select().from(payments).where(eq(payments.id, command.paymentId)).for('update');
  const refundable = payment!.amountCents - payment!.refundedCents;
  if (command.amountCents > refundable) {
    throw badUserInput(
      `amountCents ${command.amountCents} exceeds what is left to refund of payment ${payment!.id}: ${refundable} ${payment!.currency} cents.`,
      'input.amountCents',
    );
  }

  const [refund] = await tx
    .insert(refunds)
    .values({ paymentId: payment!.id, amountCents: command.amountCents, currency: payment!.currency })
    .returning();
  const refundedCents = payment!.refundedCents + command.amountCents;
  const [updatedPayment] = await tx
    .update(payments)
    .set({ refundedCents, status: refundedCents === payment!.amountCents ? 'REFUNDED' : 'PARTIALLY_REFUNDED' })
    .where(eq(payments.id, payment!.id))
    .returning();
  const paidCents = order!.paidCents - command.amountCents;
  await tx
    .update(orders)
    .set({ paidCents, ...(order!.status === 'PAID' && paidCents === 0 && { status: 'REFUNDED' as const }) })
    .where(eq(orders.id, order!.id));
  return { refund: refund!, payment: updatedPayment! };
}
