/**
 * The per-request loader registry. Built by the context factory for each operation, never shared between requests
 * (or principals), so a loader's cache lives exactly as long as the operation that filled it.
 *
 * Every batch function keeps DataLoader's contract: given an array of keys, it returns a promise of an array of the
 * same length whose i-th value answers keys[i] (null, or an empty list, where nothing matches), in one SQL statement.
 * Loaders of tenant data are built for one principal's `Access` and filter in that same statement: a row the
 * principal may not see is indistinguishable from a row that does not exist.
 */
import type { Access } from '../auth/access.js';
import type { Db } from '../db/client.js';
import { createCatalogLoaders } from '../modules/catalog/data.js';
import { createOrderLoaders } from '../modules/orders/data.js';
import { createPaymentLoaders } from '../modules/payments/data.js';
import { createUserLoaders } from '../modules/users/data.js';

export function createLoaders(db: Db, access: Access) {
  return {
    ...createUserLoaders(db, access),
    ...createCatalogLoaders(db),
    ...createOrderLoaders(db, access),
    ...createPaymentLoaders(db, access),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;

type BatchLoadFn = (keys: readonly unknown[]) => PromiseLike<ArrayLike<unknown>>;

/** Wraps one loader's batch function so each batch reports its size; a loader without one is left as it is. */
function observeLoader(loader: object, name: string, observe: (loader: string, size: number) => void): void {
  const target = loader as { _batchLoadFn?: BatchLoadFn };
  const batchLoadFn = target._batchLoadFn;
  if (typeof batchLoadFn !== 'function') return;
  target._batchLoadFn = (keys) => {
    observe(name, keys.length);
    return batchLoadFn.call(loader, keys);
  };
}

/**
 * Reports the size of every batch the registry's loaders dispatch to `observe` (the loader's name and its number of
 * keys), for metrics. DataLoader has no public hook for its batches, so this wraps the batch function each loader keeps
 * (`_batchLoadFn`, unchanged across DataLoader 2.x); a loader without one is left as it is. Loader factories (such as
 * `orderPagesByUserId(args)`) are wrapped so the loaders they create report under the factory's name. Mutates and
 * returns `loaders`.
 */
export function observeLoaderBatches(loaders: Loaders, observe: (loader: string, size: number) => void): Loaders {
  const registry = loaders as unknown as Record<string, unknown>;
  for (const [name, value] of Object.entries(registry)) {
    if (typeof value === 'function') {
      const factory = value as (...args: unknown[]) => unknown;
      const observed = new WeakSet<object>();
      registry[name] = (...args: unknown[]) => {
        const loader = factory.apply(registry, args);
        if (typeof loader === 'object' && loader !== null && !observed.has(loader)) {
          observed.add(loader);
          observeLoader(loader, name, observe);
        }
        return loader;
      };
    } else if (typeof value === 'object' && value !== null) {
      observeLoader(value, name, observe);
    }
  }
  return loaders;
}
