/**
 * Resolvers for schema/catalog.graphql.
 */
import type { Resolvers } from '../../generated/graphql.js';
import { parseId } from '../../graphql/ids.js';
import { parsePageArgs, toConnection } from '../../graphql/pagination.js';
import { listProducts } from './data.js';

export const catalogResolvers: Resolvers = {
  Query: {
    product: (_parent, args, ctx) => ctx.loaders.productById.load(parseId(args.id, 'id')),
    products: async (_parent, args, ctx) => {
      const page = parsePageArgs('p', args);
      return toConnection('p', await listProducts(ctx.reader, page), page.first);
    },
  },
};
