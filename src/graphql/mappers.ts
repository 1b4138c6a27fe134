/**
 * What each GraphQL object type's resolvers receive as their parent: the storage row (or a connection of rows) that
 * the parent field returned. GraphQL Code Generator types the resolvers with these (codegen.ts).
 */
import type { OrderItemRow, OrderRow, PaymentRow, ProductRow, RefundRow, UserRow } from '../db/schema.js';
import type { Connection } from './pagination.js';

export type User = UserRow;
export type UserConnection = Connection<UserRow>;
export type Product = ProductRow;
export type ProductConnection = Connection<ProductRow>;
export type Order = OrderRow;
export type OrderConnection = Connection<OrderRow>;
export type OrderItem = OrderItemRow;
export type Payment = PaymentRow;
export type Refund = RefundRow;
