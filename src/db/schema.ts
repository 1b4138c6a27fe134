/**
 * The storage model: a small commerce ledger. drizzle-kit generates the SQL migrations in `drizzle/` from this file
 * (`npm run db:generate`); CI fails when they are stale.
 *
 * Money is integer cents plus an ISO 4217 currency code. Every table has `created_at`. Every foreign key that a
 * relation lookup follows has an index, and pagination orders by primary key (unique, so cursors are stable).
 */
import { sql } from 'drizzle-orm';
import {
  char,
  check,
  index,
  integer,
  json,
  pgEnum,
  primaryKey,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

export const orderStatus = pgEnum('order_status', ['PENDING', 'PAID', 'REFUNDED', 'CANCELLED']);
export const paymentStatus = pgEnum('payment_status', ['SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED']);
export const tokenRole = pgEnum('token_role', ['customer', 'admin']);
/** `completed`: the mutation committed and its response (success or business failure) is stored. */
export const idempotencyState = pgEnum('idempotency_state', ['completed']);

/** A mutation field's result as a client saw it, replayed byte for byte. */
export interface StoredResponse {
  data: unknown;
  errors?: Array<{ message: string; path?: ReadonlyArray<string | number>; extensions?: Record<string, unknown> }>;
}

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();

export const users = pgTable(
  'users',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    email: text('email').notNull(),
    name: text('name').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    // Emails are unique regardless of case.
    uniqueIndex('users_email_lower_key').on(sql`lower(${t.email})`),
  ],
);

export const products = pgTable(
  'products',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    sku: text('sku').notNull().unique('products_sku_key'),
    name: text('name').notNull(),
    priceCents: integer('price_cents').notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [check('products_price_nonnegative', sql`${t.priceCents} >= 0`)],
);

export const orders = pgTable(
  'orders',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id),
    status: orderStatus('status').notNull().default('PENDING'),
    currency: char('currency', { length: 3 }).notNull(),
    totalCents: integer('total_cents').notNull(),
    /** Sum of successful payments minus refunds; kept with the payment rows in the same transaction. */
    paidCents: integer('paid_cents').notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [
    // User.orders pages by (user_id, id), optionally filtered by status.
    index('orders_user_id_id_idx').on(t.userId, t.id),
    index('orders_user_id_status_id_idx').on(t.userId, t.status, t.id),
    // Query.orders(status:) pages by id within a status.
    index('orders_status_id_idx').on(t.status, t.id),
    check('orders_total_nonnegative', sql`${t.totalCents} >= 0`),
    check('orders_paid_within_total', sql`${t.paidCents} >= 0 AND ${t.paidCents} <= ${t.totalCents}`),
  ],
);

export const orderItems = pgTable(
  'order_items',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    orderId: integer('order_id')
      .notNull()
      .references(() => orders.id),
    productId: integer('product_id')
      .notNull()
      .references(() => products.id),
    quantity: integer('quantity').notNull(),
    unitPriceCents: integer('unit_price_cents').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('order_items_order_id_idx').on(t.orderId, t.id),
    index('order_items_product_id_idx').on(t.productId),
    check('order_items_quantity_positive', sql`${t.quantity} > 0`),
    check('order_items_unit_price_nonnegative', sql`${t.unitPriceCents} >= 0`),
  ],
);

export const payments = pgTable(
  'payments',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    orderId: integer('order_id')
      .notNull()
      .references(() => orders.id),
    amountCents: integer('amount_cents').notNull(),
    /** Sum of this payment's refunds; kept with the refund rows in the same transaction. */
    refundedCents: integer('refunded_cents').notNull().default(0),
    currency: char('currency', { length: 3 }).notNull(),
    status: paymentStatus('status').notNull().default('SUCCEEDED'),
    createdAt: createdAt(),
  },
  (t) => [
    index('payments_order_id_idx').on(t.orderId, t.id),
    check('payments_amount_positive', sql`${t.amountCents} > 0`),
    check('payments_refunded_within_amount', sql`${t.refundedCents} >= 0 AND ${t.refundedCents} <= ${t.amountCents}`),
  ],
);

export const refunds = pgTable(
  'refunds',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    paymentId: integer('payment_id')
      .notNull()
      .references(() => payments.id),
    amountCents: integer('amount_cents').notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('refunds_payment_id_idx').on(t.paymentId, t.id),
    check('refunds_amount_positive', sql`${t.amountCents} > 0`),
  ],
);

/**
 * Idempotency keys: one row per (scope, key), written in the same transaction as the mutation it guards, holding the
 * response to replay. While that transaction runs, the uncommitted row itself is the "in progress" marker: a
 * concurrent duplicate blocks on it in the unique index until the first commits (then replays) or rolls back (then
 * executes).
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    /** Whose key it is: `user:<id>` for an authenticated principal, `ip:<address>` for an anonymous one. */
    scope: text('scope').notNull(),
    key: text('key').notNull(),
    /** The mutation field the key was first used with, e.g. `payOrder`. */
    field: text('field').notNull(),
    /** SHA-256 of the canonicalised arguments, hex. */
    fingerprint: char('fingerprint', { length: 64 }).notNull(),
    state: idempotencyState('state').notNull(),
    /** The field's stored GraphQL result: `{ data, errors }`. */
    /** `json`, not `jsonb`: the text is kept as written, so a replay has the original's key order, byte for byte. */
    response: json('response').$type<StoredResponse>().notNull(),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [
    primaryKey({ name: 'idempotency_keys_pkey', columns: [t.scope, t.key] }),
    index('idempotency_keys_expires_at_idx').on(t.expiresAt),
  ],
);

export const apiTokens = pgTable(
  'api_tokens',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id),
    role: tokenRole('role').notNull(),
    /** SHA-256 of the token, hex. The token itself is shown once and never stored. */
    tokenHash: char('token_hash', { length: 64 }).notNull().unique('api_tokens_token_hash_key'),
    label: text('label'),
    createdAt: createdAt(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [index('api_tokens_user_id_idx').on(t.userId)],
);

export type UserRow = typeof users.$inferSelect;
export type ProductRow = typeof products.$inferSelect;
export type OrderRow = typeof orders.$inferSelect;
export type OrderItemRow = typeof orderItems.$inferSelect;
export type PaymentRow = typeof payments.$inferSelect;
export type RefundRow = typeof refunds.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;
export type OrderStatus = (typeof orderStatus.enumValues)[number];
export type PaymentStatus = (typeof paymentStatus.enumValues)[number];
export type TokenRole = (typeof tokenRole.enumValues)[number];
