/**
 * The catalog's data access: batched product lookups and the product list.
 */
import { sql } from 'drizzle-orm';
import { rowsByKey } from '../../db/batch.js';
import { products, type ProductRow } from '../../db/schema.js';
import { keyLookup, param, selectFamily, type Reader } from '../../db/statements.js';
import type { PageArgs } from '../../graphql/pagination.js';
import { rowFieldSpec, type RowFields } from '../../graphql/selection.js';

/** What a Product row must hold for an operation. */
export const productRowFields = rowFieldSpec('Product', products, {}, ['id']);

const productsByIds = keyLookup(products, products.id);

/** Given product ids, one statement returns a product or null per id, in key order. */
export async function loadProductsByIds(
  reader: Reader,
  ids: readonly number[],
  fields: RowFields<typeof products>['fields'],
): Promise<Array<ProductRow | null>> {
  return rowsByKey(ids, await reader.rows(productsByIds.select(fields), { ids }), (row) => row.id);
}

/** The product page statement: from the start, or after a cursor. */
const productPages = [false, true].map((after) =>
  selectFamily(
    products,
    (columns) => sql`select ${columns} from ${products}
      where ${after ? sql`${products.id} > ${param('afterId')}` : sql`true`}
      order by ${products.id} asc limit ${param('limit')}`,
  ),
);

/** A page of products in id order, up to `first + 1` rows. */
export function listProducts(
  reader: Reader,
  page: PageArgs,
  fields: RowFields<typeof products>['fields'],
): Promise<ProductRow[]> {
  return reader.rows(productPages[page.afterId === null ? 0 : 1]!.select(fields), { afterId: page.afterId, limit: page.first + 1 });
}
