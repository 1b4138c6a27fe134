/**
 * The per-request loader registry. Built by the context factory for each operation, never shared between requests
 * (or principals), so a loader's cache lives exactly as long as the operation that filled it. Each loader is created
 * on first use: an operation pays only for the loaders its shape needs.
 *
 * Every batch function keeps DataLoader's contract: given an array of keys, it returns a promise of an array of the
 * same length whose i-th value answers keys[i] (null, or an empty list, where nothing matches), in one SQL statement.
 * Loaders of tenant data are built for one principal's `Access` and filter in that same statement: a row the
 * principal may not see is indistinguishable from a row that does not exist.
 */
import DataLoader from 'dataloader';
import type { GraphQLResolveInfo } from 'graphql';
import type { Access } from '../auth/access.js';
import type { OrderItemRow, OrderRow, PaymentRow, ProductRow, UserRow } from '../db/schema.js';
import type { Reader } from '../db/statements.js';
import { loadProductsByIds, productRowFields } from '../modules/catalog/data.js';
import {
  itemRowFields,
  loadItemsByOrderIds,
  loadOrderPagesByUserIds,
  loadOrdersByIds,
  orderRowFields,
  userOrderRowFields,
  type OrderListArgs,
} from '../modules/orders/data.js';
import {
  loadPaymentsByIds,
  loadPaymentsByOrderIds,
  orderPaymentRowFields,
  paymentRowFields,
} from '../modules/payments/data.js';
import { loadUsersByIds, userRowFields } from '../modules/users/data.js';
import { rowFields } from './selection.js';

/** Told the size of every batch a loader dispatches (for metrics). */
export type BatchObserver = (loader: string, size: number) => void;

/**
 * Each loader is asked for with the resolver's `info`: its rows select only the columns the operation needs
 * (selection.ts), and loads asking for the same columns share one loader. Within an operation that is every load of
 * a type, so each relation is still one statement.
 */
export class Loaders {
  /** By loader name, then by column set. */
  private loaders: Map<string, Map<string, DataLoader<number, unknown>>> | undefined;

  constructor(
    private readonly reader: Reader,
    private readonly access: Access,
    private readonly observe?: BatchObserver,
  ) {}

  userById(info: GraphQLResolveInfo): DataLoader<number, UserRow | null> {
    return this.loader('userById', rowFields(info, userRowFields), (ids, fields) =>
      loadUsersByIds(this.reader, ids, this.access, fields),
    );
  }

  productById(info: GraphQLResolveInfo): DataLoader<number, ProductRow | null> {
    return this.loader('productById', rowFields(info, productRowFields), (ids, fields) =>
      loadProductsByIds(this.reader, ids, fields),
    );
  }

  orderById(info: GraphQLResolveInfo): DataLoader<number, OrderRow | null> {
    return this.loader('orderById', rowFields(info, orderRowFields), (ids, fields) =>
      loadOrdersByIds(this.reader, ids, this.access, fields),
    );
  }

  itemsByOrderId(info: GraphQLResolveInfo): DataLoader<number, OrderItemRow[]> {
    return this.loader('itemsByOrderId', rowFields(info, itemRowFields), (ids, fields) =>
      loadItemsByOrderIds(this.reader, ids, this.access, fields),
    );
  }

  paymentById(info: GraphQLResolveInfo): DataLoader<number, PaymentRow | null> {
    return this.loader('paymentById', rowFields(info, paymentRowFields), (ids, fields) =>
      loadPaymentsByIds(this.reader, ids, this.access, fields),
    );
  }

  paymentsByOrderId(info: GraphQLResolveInfo): DataLoader<number, PaymentRow[]> {
    return this.loader('paymentsByOrderId', rowFields(info, orderPaymentRowFields), (ids, fields) =>
      loadPaymentsByOrderIds(this.reader, ids, this.access, fields),
    );
  }

  /**
   * The loader answering "this user's page of orders" for one argument set: identical arguments share a batch,
   * differing ones batch separately.
   */
  orderPagesByUserId(info: GraphQLResolveInfo, args: OrderListArgs): DataLoader<number, OrderRow[]> {
    const fields = rowFields(info, userOrderRowFields);
    return this.loader(
      `orderPagesByUserId:${args.first}:${args.afterId}:${args.status}`,
      fields,
      (ids) => loadOrderPagesByUserIds(this.reader, ids, args, this.access, fields.fields),
      'orderPagesByUserId',
    );
  }

  /** Drops every loader and its cache once the request is answered (see GraphQLContext.release). */
  release(): void {
    this.loaders = undefined;
  }

  private loader<V, F>(
    key: string,
    fields: { fields: F; key: string },
    batch: (ids: readonly number[], fields: F) => Promise<V[]>,
    metricName = key,
  ): DataLoader<number, V> {
    const loaders = (this.loaders ??= new Map());
    let byFields = loaders.get(key);
    if (!byFields) loaders.set(key, (byFields = new Map()));
    let loader = byFields.get(fields.key) as DataLoader<number, V> | undefined;
    if (!loader) {
      const observe = this.observe;
      loader = new DataLoader<number, V>((ids) => {
        observe?.(metricName, ids.length);
        return batch(ids, fields.fields);
      });
      byFields.set(fields.key, loader as DataLoader<number, unknown>);
    }
    return loader;
  }
}
