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
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

export const orderStatus = pgEnum('order_status', ['PENDING', 'PAID', 'REFUNDED', 'CANCELLED']);
export const paymentStatus = pgEnum('payment_status', ['SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED']);
export const tokenRole = pgEnum('token_role', ['customer', 'admin']);

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
    currency: char('currency', { length: 3 }).notNull(),
    status: paymentStatus('status').notNull().default('SUCCEEDED'),
    createdAt: createdAt(),
  },
  (t) => [
    index('payments_order_id_idx').on(t.orderId, t.id),
    check('payments_amount_positive', sql`${t.amountCents} > 0`),
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
export type ApiTokenRow = typeof apiTokens.$inferSelect;
export type OrderStatus = (typeof orderStatus.enumValues)[number];
export type PaymentStatus = (typeof paymentStatus.enumValues)[number];
export type TokenRole = (typeof tokenRole.enumValues)[number];
