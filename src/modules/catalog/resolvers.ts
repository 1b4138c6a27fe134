/**
 * Resolvers for schema/catalog.graphql.
 */
import type { Resolvers } from '../../generated/graphql.js';
import { parseId } from '../../graphql/ids.js';
import { parsePageArgs, toConnection } from '../../graphql/pagination.js';
import { rowFields } from '../../graphql/selection.js';
import { listProducts, productRowFields } from './data.js';

export const catalogResolvers: Resolvers = {
  Query: {
    product: (_parent, args, ctx, info) => ctx.loaders.productById(info).load(parseId(args.id, 'id')),
    products: async (_parent, args, ctx, info) => {
      const page = parsePageArgs('p', args);
      const rows = await listProducts(ctx.reader, page, rowFields(info, productRowFields).fields);
      return toConnection('p', rows, page.first);
    },
  },
};
