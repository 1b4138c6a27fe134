/**
 * The `@rateLimit(max, window, identityArgs, message)` schema directive: validates every use at schema build and
 * wraps each annotated field's resolver so the limit is checked before the resolver runs (a limited call executes
 * nothing and writes nothing).
 *
 * Responsible for the argument checks (all problems reported at once, naming the field), the key of a call
 * (`<Type.field>:<identity>[:<digest of identityArgs values>]`, identity = `user:<id>` for a token's user, else
 * `ip:<client ip>`), and the errors a limited call resolves to: RATE_LIMITED (with `retryAfterSeconds`, `limit`,
 * `window`) or, in fail-closed mode while Redis is failing, RATE_LIMIT_UNAVAILABLE. Other fields of the operation
 * still execute (partial data). Not responsible for counting (limiter.ts) nor for the Retry-After header (plugin.ts).
 */
import { createHash } from 'node:crypto';
import { getDirective, MapperKind, mapSchema } from '@graphql-tools/utils';
import {
  defaultFieldResolver,
  getNullableType,
  isInputObjectType,
  type GraphQLArgumentConfig,
  type GraphQLFieldConfig,
  type GraphQLFieldResolver,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';
import type { Principal } from '../auth/principal.js';
import { BusinessError } from '../graphql/errors.js';
import type { RateLimiter } from './limiter.js';
import { toPolicy, type RateLimitPolicy } from './policy.js';

export const RATE_LIMIT_DIRECTIVE = 'rateLimit';

export const RateLimitErrorCode = {
  RATE_LIMITED: 'RATE_LIMITED',
  RATE_LIMIT_UNAVAILABLE: 'RATE_LIMIT_UNAVAILABLE',
} as const;

/** A `@rateLimit` use that cannot work; thrown at schema build, listing every problem. */
export class RateLimitDirectiveError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid @rateLimit directive:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'RateLimitDirectiveError';
  }
}

/** One annotated field's limit, checked. `identityArgs` are argument paths split on dots (`input.orderId`). */
export interface FieldRateLimit {
  coordinate: string;
  policy: RateLimitPolicy;
  identityArgs: string[][];
  message: string | undefined;
}

/** The rate-limit identity of a principal: its user when authenticated, else its client IP. */
export function principalIdentity(principal: Principal): string {
  return principal.kind === 'user' ? `user:${principal.userId}` : `ip:${principal.ip}`;
}

/** The counter key of one call, without the deployment's key prefix (the limiter adds it). */
export function rateLimitKey(limit: FieldRateLimit, principal: Principal, args: Record<string, unknown>): string {
  const base = `${limit.coordinate}:${principalIdentity(principal)}`;
  if (limit.identityArgs.length === 0) return base;
  const values = limit.identityArgs.map((path) => valueAt(args, path) ?? null);
  // Argument values are client input: digest them so keys stay short and free of separators.
  return `${base}:${createHash('sha256').update(JSON.stringify(values)).digest('base64url').slice(0, 22)}`;
}

function valueAt(args: Record<string, unknown>, path: string[]): unknown {
  let value: unknown = args;
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

export function rateLimitedError(limit: FieldRateLimit, retryAfterMs: number): BusinessError {
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  const { max, window } = limit.policy;
  return new BusinessError(
    RateLimitErrorCode.RATE_LIMITED,
    limit.message ??
      `Too many calls to ${limit.coordinate}: at most ${max} per ${window}. Retry in ${retryAfterSeconds} s.`,
    { retryAfterSeconds, limit: max, window },
  );
}

export function rateLimitUnavailableError(limit: FieldRateLimit, retryAfterMs: number): BusinessError {
  return new BusinessError(
    RateLimitErrorCode.RATE_LIMIT_UNAVAILABLE,
    `${limit.coordinate} is temporarily unavailable because its rate limit cannot be checked. Retry later.`,
    { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) },
  );
}

/**
 * Wraps `resolve` so each call is counted under `limit` first. A call over the limit throws RATE_LIMITED (or
 * RATE_LIMIT_UNAVAILABLE) and never reaches `resolve`.
 */
export function rateLimitResolver<
  TSource,
  TContext extends { principal: Principal },
  TArgs extends Record<string, any>,
>(
  resolve: GraphQLFieldResolver<TSource, TContext, TArgs>,
  limit: FieldRateLimit,
  limiter: Pick<RateLimiter, 'consume' | 'reportRefusal'>,
): GraphQLFieldResolver<TSource, TContext, TArgs> {
  return async (source, args, context, info) => {
    const decision = await limiter.consume(rateLimitKey(limit, context.principal, args), limit.policy);
    if (!decision.allowed) {
      limiter.reportRefusal(limit.coordinate, decision.reason);
      throw decision.reason === 'limited'
        ? rateLimitedError(limit, decision.retryAfterMs)
        : rateLimitUnavailableError(limit, decision.retryAfterMs);
    }
    return resolve(source, args, context, info);
  };
}

/**
 * Reads and checks one field's `@rateLimit` arguments. Returns the limit, or pushes a problem per bad argument.
 */
export function parseFieldRateLimit(
  coordinate: string,
  directiveArgs: Record<string, unknown>,
  fieldArgs: Record<string, GraphQLArgumentConfig> | undefined,
  problems: string[],
): FieldRateLimit | undefined {
  const before = problems.length;
  const policy = toPolicy(directiveArgs.max, directiveArgs.window);
  if ('problems' in policy) problems.push(...policy.problems.map((p) => `${coordinate}: ${p}`));

  const identityArgs: string[][] = [];
  for (const path of (directiveArgs.identityArgs as string[] | undefined) ?? []) {
    const problem = checkArgumentPath(path, fieldArgs ?? {});
    if (problem) problems.push(`${coordinate}: identityArgs ${JSON.stringify(path)} ${problem}`);
    else identityArgs.push(path.split('.'));
  }

  const message = directiveArgs.message as string | undefined;
  if (message !== undefined && message.trim() === '') problems.push(`${coordinate}: message must not be empty`);

  if (problems.length > before || 'problems' in policy) return undefined;
  return { coordinate, policy, identityArgs, message };
}

/** Why `path` does not name an argument (or a field inside an input-object argument), or undefined when it does. */
function checkArgumentPath(path: string, fieldArgs: Record<string, GraphQLArgumentConfig>): string | undefined {
  const [name, ...rest] = path.split('.');
  const argument = fieldArgs[name!];
  if (!argument) {
    const known = Object.keys(fieldArgs);
    return `names no argument of the field (arguments: ${known.length ? known.join(', ') : 'none'})`;
  }
  let type: GraphQLInputType = argument.type;
  for (const segment of rest) {
    const nullable = getNullableType(type);
    if (!isInputObjectType(nullable)) return `does not resolve: ${String(type)} has no field "${segment}"`;
    const field = nullable.getFields()[segment];
    if (!field) return `does not resolve: "${segment}" is not a field of ${nullable.name}`;
    type = field.type;
  }
  return undefined;
}

/**
 * Applies `@rateLimit` to a built schema: checks every use (throwing one RateLimitDirectiveError listing all
 * problems) and, when `limiter` is given, wraps each annotated field's resolver. Without a limiter (limits disabled)
 * the schema is returned unchanged after the checks, so a bad directive fails startup either way.
 */
export function applyRateLimitDirective(schema: GraphQLSchema, limiter: RateLimiter | undefined): GraphQLSchema {
  const problems: string[] = [];
  const wrap = (
    fieldConfig: GraphQLFieldConfig<unknown, { principal: Principal }>,
    fieldName: string,
    typeName: string,
  ) => {
    const directive = getDirective(schema, fieldConfig, RATE_LIMIT_DIRECTIVE)?.[0];
    if (!directive) return fieldConfig;
    const limit = parseFieldRateLimit(`${typeName}.${fieldName}`, directive, fieldConfig.args, problems);
    if (!limit || !limiter?.enabled) return fieldConfig;
    return { ...fieldConfig, resolve: rateLimitResolver(fieldConfig.resolve ?? defaultFieldResolver, limit, limiter) };
  };
  const mapped = mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: wrap,
    [MapperKind.INTERFACE_FIELD]: (fieldConfig, fieldName, typeName) => {
      if (getDirective(schema, fieldConfig, RATE_LIMIT_DIRECTIVE)?.[0]) {
        problems.push(`${typeName}.${fieldName}: @rateLimit belongs on object type fields, not interface fields`);
      }
      return fieldConfig;
    },
  });
  if (problems.length > 0) throw new RateLimitDirectiveError(problems);
  return mapped;
}
