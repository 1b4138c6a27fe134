/**
 * Payments' data access: batched lookups and the transaction behind payOrder.
 */
import DataLoader from 'dataloader';
import { asc, eq, Param, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { rowGroupsByKey, rowsByKey } from '../../db/batch.js';
import { orders, payments, type OrderRow, type PaymentRow } from '../../db/schema.js';
import { badUserInput, BusinessError, ErrorCode, notFound } from '../../graphql/errors.js';

/** Given payment ids, one statement returns a payment or null per id, in key order. */
export async function loadPaymentsByIds(db: Db, keys: readonly number[]): Promise<Array<PaymentRow | null>> {
  const rows = await db
    .select()
    .from(payments)
    .where(sql`${payments.id} = any(${new Param(keys)}::int[])`);
  return rowsByKey(keys, rows, (row) => row.id);
}

/** Given order ids, one statement returns each order's payments (oldest first), in key order. */
export async function loadPaymentsByOrderIds(db: Db, keys: readonly number[]): Promise<PaymentRow[][]> {
  const rows = await db
    .select()
    .from(payments)
    .where(sql`${payments.orderId} = any(${new Param(keys)}::int[])`)
    .orderBy(asc(payments.orderId), asc(payments.id));
  return rowGroupsByKey(keys, rows, (row) => row.orderId);
}

export function createPaymentLoaders(db: Db) {
  return {
    paymentById: new DataLoader<number, PaymentRow | null>((keys) => loadPaymentsByIds(db, keys)),
    paymentsByOrderId: new DataLoader<number, PaymentRow[]>((keys) => loadPaymentsByOrderIds(db, keys)),
  };
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
): Promise<{ payment: PaymentRow; order: OrderRow }> {
  const [order] = await tx.select().from(orders).where(eq(orders.id, command.orderId)).for('update');
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
