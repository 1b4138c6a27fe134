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
import type { Access } from '../auth/access.js';
import type { OrderItemRow, OrderRow, PaymentRow, ProductRow, UserRow } from '../db/schema.js';
import type { Reader } from '../db/statements.js';
import { loadProductsByIds } from '../modules/catalog/data.js';
import {
  loadItemsByOrderIds,
  loadOrderPagesByUserIds,
  loadOrdersByIds,
  type OrderListArgs,
} from '../modules/orders/data.js';
import { loadPaymentsByIds, loadPaymentsByOrderIds } from '../modules/payments/data.js';
import { loadUsersByIds } from '../modules/users/data.js';

/** Told the size of every batch a loader dispatches (for metrics). */
export type BatchObserver = (loader: string, size: number) => void;

export class Loaders {
  #userById?: DataLoader<number, UserRow | null>;
  #productById?: DataLoader<number, ProductRow | null>;
  #orderById?: DataLoader<number, OrderRow | null>;
  #itemsByOrderId?: DataLoader<number, OrderItemRow[]>;
  #paymentById?: DataLoader<number, PaymentRow | null>;
  #paymentsByOrderId?: DataLoader<number, PaymentRow[]>;
  /** One loader per distinct argument set: identical arguments share a batch, differing ones batch separately. */
  #orderPages?: Map<string, DataLoader<number, OrderRow[]>>;

  constructor(
    private readonly reader: Reader,
    private readonly access: Access,
    private readonly observe?: BatchObserver,
  ) {}

  get userById() {
    return (this.#userById ??= this.loader('userById', (ids) => loadUsersByIds(this.reader, ids, this.access)));
  }

  get productById() {
    return (this.#productById ??= this.loader('productById', (ids) => loadProductsByIds(this.reader, ids)));
  }

  get orderById() {
    return (this.#orderById ??= this.loader('orderById', (ids) => loadOrdersByIds(this.reader, ids, this.access)));
  }

  get itemsByOrderId() {
    return (this.#itemsByOrderId ??= this.loader('itemsByOrderId', (ids) =>
      loadItemsByOrderIds(this.reader, ids, this.access),
    ));
  }

  get paymentById() {
    return (this.#paymentById ??= this.loader('paymentById', (ids) =>
      loadPaymentsByIds(this.reader, ids, this.access),
    ));
  }

  get paymentsByOrderId() {
    return (this.#paymentsByOrderId ??= this.loader('paymentsByOrderId', (ids) =>
      loadPaymentsByOrderIds(this.reader, ids, this.access),
    ));
  }

  /** The loader answering "this user's page of orders" for one argument set. */
  orderPagesByUserId(args: OrderListArgs): DataLoader<number, OrderRow[]> {
    const pages = (this.#orderPages ??= new Map());
    const argsKey = `${args.first}:${args.afterId}:${args.status}`;
    let loader = pages.get(argsKey);
    if (!loader) {
      loader = this.loader('orderPagesByUserId', (ids) => loadOrderPagesByUserIds(this.reader, ids, args, this.access));
      pages.set(argsKey, loader);
    }
    return loader;
  }

  /**
   * Drops every loader and its cache once the request is answered. Apollo's gateway request context (which the
   * executor receives) keeps the whole request reachable from an object in the old generation until the next full
   * garbage collection; released, the loaded rows are not promoted with it.
   */
  release(): void {
    this.#userById = undefined;
    this.#productById = undefined;
    this.#orderById = undefined;
    this.#itemsByOrderId = undefined;
    this.#paymentById = undefined;
    this.#paymentsByOrderId = undefined;
    this.#orderPages = undefined;
  }

  private loader<V>(name: string, batch: (ids: readonly number[]) => Promise<V[]>): DataLoader<number, V> {
    const observe = this.observe;
    return new DataLoader<number, V>(
      observe
        ? (ids) => {
            observe(name, ids.length);
            return batch(ids);
          }
        : batch,
    );
  }
}
