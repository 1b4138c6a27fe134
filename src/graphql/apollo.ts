/**
 * The Apollo Server instance: schema, plugins and the error policy.
 *
 * Error policy: errors raised on purpose (GraphQLErrors: business failures, invalid input, parse and validation
 * errors) reach the client as they are. Anything else is unexpected: it is logged with the request id and replaced by
 * a generic INTERNAL_SERVER_ERROR, or SERVICE_UNAVAILABLE when the database cannot be reached, so no stack trace,
 * SQL text or driver message ever leaves the server.
 */
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { GraphQLError, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import type { GraphQLConfig, QueryLimits } from '../config/index.js';
import { isDatabaseUnavailable } from '../db/errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { createQueryLimitsPlugin } from '../query-limits/index.js';
import type { GraphQLContext } from './context.js';
import { ErrorCode } from './errors.js';
import { createJitGateway } from './executor.js';

/** True when the error was raised on purpose and its message and code are meant for the client. */
function isIntended(error: unknown): boolean {
  return error instanceof GraphQLError;
}

export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  if (isIntended(original)) {
    // Drop anything Apollo may have attached for debugging.
    const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions };
  }
  if (isDatabaseUnavailable(original)) {
    return {
      message: 'The database is unavailable. Retry later.',
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: ErrorCode.SERVICE_UNAVAILABLE },
    };
  }
  return {
    message: 'Unexpected server error.',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  };
}

/** Logs every unexpected error with the operation's request id (the client only sees the masked version). */
function errorLoggingPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue, operationName }) {
          for (const error of errors) {
            const original = unwrapResolverError(error);
            if (isIntended(original)) continue;
            const level = isDatabaseUnavailable(original) ? 'warn' : 'error';
            contextValue.log[level]({ err: original, path: error.path, operationName }, 'resolver failed');
          }
        },
      };
    },
  };
}

/**
 * Records each operation's name on the context (for the request log line) and, when the debug switch is on, reports
 * the statements and SQL time spent so far in the response's `extensions.sql`. In a batched request the figures are
 * those of the whole request up to that operation (the operations share one context).
 */
function operationStatsPlugin(debugExtensions: boolean): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operationName, contextValue }) {
          contextValue.operationNames.push(operationName ?? '(anonymous)');
        },
        async willSendResponse({ response, contextValue }) {
          if (!debugExtensions || response.body.kind !== 'single') return;
          const { statements, sqlMs } = contextValue.sqlStats;
          response.body.singleResult.extensions = {
            ...response.body.singleResult.extensions,
            sql: { statements, timeMs: Math.round(sqlMs * 1000) / 1000 },
          };
        },
      };
    },
  };
}

/**
 * Metrics per operation: count and latency by operation name and outcome (`success` or the first error's code, as the
 * client saw it after formatError), and the SQL statements and time the operation spent. In a batched request the
 * operations share one context and run concurrently, so each one's SQL figures may include its siblings' statements.
 */
function metricsPlugin(metrics: Metrics): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart({ contextValue }) {
      const startedAt = performance.now();
      const statementsBefore = contextValue.sqlStats.statements;
      const sqlMsBefore = contextValue.sqlStats.sqlMs;
      // Unparsable or invalid documents never resolve an operation: their names are not worth a label.
      let operation = '(unresolved)';
      return {
        async didResolveOperation({ operationName }) {
          operation = metrics.operationLabel(operationName);
        },
        async willSendResponse({ response, contextValue }) {
          const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
          metrics.recordOperation({
            operation,
            outcome: errors?.length ? metrics.outcomeLabel(errors[0]!.extensions?.code) : 'success',
            seconds: (performance.now() - startedAt) / 1000,
            statements: contextValue.sqlStats.statements - statementsBefore,
            sqlSeconds: (contextValue.sqlStats.sqlMs - sqlMsBefore) / 1000,
          });
        },
      };
    },
  };
}

export function createApolloServer(options: {
  schema: GraphQLSchema;
  config: GraphQLConfig;
  /** Depth, cost, alias and list-size limits every operation is checked against before it executes. */
  queryLimits: QueryLimits;
  logger: Logger;
  /** Per-operation metrics (counts, latency, SQL figures); none recorded when absent. */
  metrics?: Metrics;
  plugins?: ApolloServerPlugin<GraphQLContext>[];
}): ApolloServer<GraphQLContext> {
  return new ApolloServer<GraphQLContext>({
    ...(options.config.executor === 'jit'
      ? { gateway: createJitGateway(options.schema) }
      : { schema: options.schema }),
    introspection: options.config.introspection,
    includeStacktraceInErrorResponses: false,
    allowBatchedHttpRequests: true,
    // The app owns shutdown (src/app.ts, src/main.ts). Apollo's own handlers would stop it mid-drain and re-raise the
    // signal, which main.ts takes for a second signal and exits at once.
    stopOnTerminationSignals: false,
    formatError,
    logger: {
      debug: (message) => options.logger.debug(message),
      info: (message) => options.logger.info(message),
      warn: (message) => options.logger.warn(message),
      error: (message) => options.logger.error(message),
    },
    plugins: [
      // This API sets no cache hints; the default cache-control plugin would wrap every resolver for nothing.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginSchemaReportingDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
      options.config.landingPage
        ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false })
        : ApolloServerPluginLandingPageDisabled(),
      errorLoggingPlugin(),
      operationStatsPlugin(options.config.debugExtensions),
      createQueryLimitsPlugin<GraphQLContext>(options.queryLimits, options.logger),
      ...(options.metrics ? [metricsPlugin(options.metrics)] : []),
      ...(options.plugins ?? []),
    ],
  });
}
