/**
 * The per-request loader registry. Built by the context factory for each operation, never shared between requests
 * (or principals), so a loader's cache lives exactly as long as the operation that filled it.
 *
 * Every batch function keeps DataLoader's contract: given an array of keys, it returns a promise of an array of the
 * same length whose i-th value answers keys[i] (null, or an empty list, where nothing matches), in one SQL statement.
 */
import type { Db } from '../db/client.js';
import { createCatalogLoaders } from '../modules/catalog/data.js';
import { createOrderLoaders } from '../modules/orders/data.js';
import { createPaymentLoaders } from '../modules/payments/data.js';
import { createUserLoaders } from '../modules/users/data.js';

export function createLoaders(db: Db) {
  return {
    ...createUserLoaders(db),
    ...createCatalogLoaders(db),
    ...createOrderLoaders(db),
    ...createPaymentLoaders(db),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
