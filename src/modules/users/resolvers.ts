/**
 * Resolvers for schema/users.graphql.
 */
import { requireAdmin, requireAuthenticated } from '../../auth/access.js';
import type { Resolvers } from '../../generated/graphql.js';
import { badUserInput } from '../../graphql/errors.js';
import { parseId } from '../../graphql/ids.js';
import { parsePageArgs, toConnection } from '../../graphql/pagination.js';
import { runMutation } from '../../idempotency/index.js';
import { parseOrderListArgs } from '../orders/resolvers.js';
import { rowFields } from '../../graphql/selection.js';
import { insertUser, listUsers, userRowFields } from './data.js';

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function validateNewUser(input: { email: string; name: string }): { email: string; name: string } {
  const email = input.email.trim();
  const name = input.name.trim();
  if (email.length > 254 || !EMAIL_PATTERN.test(email)) {
    throw badUserInput('input.email must be an email address (at most 254 characters).', 'input.email');
  }
  if (name.length < 1 || name.length > 200) {
    throw badUserInput('input.name must be 1 to 200 characters.', 'input.name');
  }
  return { email, name };
}

export const userResolvers: Resolvers = {
  Query: {
    user: (_parent, args, ctx, info) => {
      requireAuthenticated(ctx.principal, 'user');
      return ctx.loaders.userById(info).load(parseId(args.id, 'id'));
    },
    users: async (_parent, args, ctx, info) => {
      requireAdmin(ctx.principal, 'users');
      const page = parsePageArgs('u', args);
      return toConnection('u', await listUsers(ctx.reader, page, ctx.access, rowFields(info, userRowFields).fields), page.first);
    },
  },
  Mutation: {
    createUser: (_parent, { input, idempotencyKey }, ctx, info) => {
      requireAdmin(ctx.principal, 'createUser');
      return runMutation(ctx, info, { key: idempotencyKey, required: false, args: { input } }, async (tx) => ({
        user: await insertUser(tx, validateNewUser(input)),
      }));
    },
  },
  User: {
    orders: async (user, args, ctx, info) => {
      const listArgs = parseOrderListArgs(args);
      const rows = await ctx.loaders.orderPagesByUserId(info, listArgs).load(user.id);
      return toConnection('o', rows, listArgs.first);
    },
  },
};
