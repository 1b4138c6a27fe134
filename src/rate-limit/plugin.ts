/**
 * The Apollo plugin that sets the `Retry-After` response header when any field of the response was rate limited.
 *
 * Responsible for the header only: its value is the largest `retryAfterSeconds` among the response's RATE_LIMITED
 * and RATE_LIMIT_UNAVAILABLE errors (over every operation of a batched request, which share one response head). Not
 * responsible for the errors themselves (directive.ts); the HTTP status stays 200, as for any partial result.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { RateLimitErrorCode } from './directive.js';

const CODES: ReadonlySet<unknown> = new Set(Object.values(RateLimitErrorCode));

export function createRetryAfterPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          let seconds = 0;
          for (const error of response.body.singleResult.errors ?? []) {
            const retryAfter = error.extensions?.retryAfterSeconds;
            if (CODES.has(error.extensions?.code) && typeof retryAfter === 'number') {
              seconds = Math.max(seconds, retryAfter);
            }
          }
          if (seconds === 0) return;
          const current = Number(response.http.headers.get('retry-after') ?? 0);
          response.http.headers.set('retry-after', String(Math.max(seconds, Number.isFinite(current) ? current : 0)));
        },
      };
    },
  };
}
