/**
 * Assembles the executable schema: the SDL files in schema/ (one per domain module plus base.graphql) joined with
 * each module's resolvers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { GraphQLSchema } from 'graphql';
import type { Resolvers } from '../generated/graphql.js';
import type { HealthService } from '../health/index.js';
import { catalogResolvers } from '../modules/catalog/resolvers.js';
import { createHealthResolvers } from '../modules/health/resolvers.js';
import { orderResolvers } from '../modules/orders/resolvers.js';
import { paymentResolvers } from '../modules/payments/resolvers.js';
import { userResolvers } from '../modules/users/resolvers.js';
import { applyRateLimitDirective, type RateLimiter } from '../rate-limit/index.js';
import { DateTime } from './scalars.js';

/** `schema/` at the project root, from both `src/graphql` and the compiled `dist/graphql`. */
export const schemaFolder = fileURLToPath(new URL('../../schema', import.meta.url));

export function loadTypeDefs(): string[] {
  return readdirSync(schemaFolder)
    .filter((file) => file.endsWith('.graphql'))
    .sort()
    .map((file) => readFileSync(`${schemaFolder}/${file}`, 'utf8'));
}

export const resolvers: Resolvers[] = [
  { DateTime },
  userResolvers,
  catalogResolvers,
  orderResolvers,
  paymentResolvers,
];

/**
 * Builds the executable schema and applies `@rateLimit`: its arguments are checked either way (a bad one throws), and
 * the annotated resolvers are wrapped only when an enabled `rateLimiter` is given (none = no limits). `health` answers
 * `Query.health` (src/modules/health).
 */
export function buildSchema(options: { rateLimiter?: RateLimiter; health?: HealthService } = {}): GraphQLSchema {
  return applyRateLimitDirective(
    makeExecutableSchema({ typeDefs: loadTypeDefs(), resolvers: [...resolvers, createHealthResolvers(options.health)] }),
    options.rateLimiter,
  );
}
