/**
 * The catalog's data access: batched product lookups and the product list.
 */
import DataLoader from 'dataloader';
import { asc, gt, Param, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { rowsByKey } from '../../db/batch.js';
import { products, type ProductRow } from '../../db/schema.js';
import type { PageArgs } from '../../graphql/pagination.js';

/** Given product ids, one statement returns a product or null per id, in key order. */
export async function loadProductsByIds(db: Db, ids: readonly number[]): Promise<Array<ProductRow | null>> {
  const rows = await db
    .select()
    .from(products)
    .where(sql`${products.id} = any(${new Param(ids)}::int[])`);
  return rowsByKey(ids, rows, (row) => row.id);
}

export function createCatalogLoaders(db: Db) {
  return {
    productById: new DataLoader<number, ProductRow | null>((ids) => loadProductsByIds(db, ids)),
  };
}

/** A page of products in id order, up to `first + 1` rows. */
export function listProducts(db: Db, page: PageArgs): Promise<ProductRow[]> {
  return db
    .select()
    .from(products)
    .where(page.afterId === null ? undefined : gt(products.id, page.afterId))
    .orderBy(asc(products.id))
    .limit(page.first + 1);
}
