/**
 * Execution through graphql-jit: each validated document is compiled once into a specialised function and reused,
 * which cuts execution overhead well below graphql-js's generic interpreter on this API's list-heavy queries (see
 * the benchmark in bench/).
 *
 * It plugs into Apollo Server through its gateway `executor` interface, so Apollo still parses, validates, runs
 * plugins (query limits, error logging) and formats errors exactly as with graphql-js; only execution changes. Two
 * seams are adapted so clients cannot tell the executors apart:
 * - variables are coerced by graphql-js first, so invalid variables produce graphql-js's errors (which Apollo marks
 *   BAD_USER_INPUT) rather than graphql-jit's differently worded ones;
 * - graphql-jit's error objects are rebuilt as graphql-js GraphQLErrors, keeping message, locations, path, extensions
 *   and the original error, so the error policy in apollo.ts sees what it would see from graphql-js.
 */
import type { GatewayExecutionResult, GatewayInterface } from '@apollo/server-gateway-interface';
import {
  getOperationAST,
  getVariableValues,
  GraphQLError,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
  type SourceLocation,
} from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { GraphQLContext } from './context.js';

type Compiled = CompiledQuery | ExecutionResult;

/** Compiled operations per parsed document. Apollo caches parsed documents, so a WeakMap frees them with its cache. */
const compiledByDocument = new WeakMap<DocumentNode, Map<string, Compiled>>();

function compile(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined): Compiled {
  let byOperation = compiledByDocument.get(document);
  if (!byOperation) {
    byOperation = new Map();
    compiledByDocument.set(document, byOperation);
  }
  const key = operationName ?? '';
  let compiled = byOperation.get(key);
  if (!compiled) {
    compiled = compileQuery(schema, document, operationName, { disablingCapturingStackErrors: true });
    byOperation.set(key, compiled);
  }
  return compiled;
}

interface JitError {
  message: string;
  locations?: readonly SourceLocation[];
  path?: ReadonlyArray<string | number>;
  originalError?: Error | null;
  extensions?: Record<string, unknown>;
}

/** Rebuilds a graphql-jit error as a graphql-js GraphQLError with the same fields. */
function toGraphQLError(error: JitError): GraphQLError {
  const rebuilt = new GraphQLError(error.message, {
    path: error.path,
    originalError: error.originalError ?? undefined,
    extensions: error.extensions,
  });
  if (error.locations?.length) {
    Object.defineProperty(rebuilt, 'locations', { value: error.locations, enumerable: true });
  }
  return rebuilt;
}

function normalize(result: ExecutionResult): GatewayExecutionResult {
  return result.errors ? { ...result, errors: result.errors.map((error) => toGraphQLError(error)) } : result;
}

/** An Apollo "gateway" that serves a fixed local schema and executes with graphql-jit. */
export function createJitGateway(schema: GraphQLSchema): GatewayInterface {
  return {
    async load() {
      return {
        schema,
        executor: async ({ document, operationName, request, context }) => {
          const variables = request.variables ?? {};
          const operation = getOperationAST(document, operationName);
          if (operation?.variableDefinitions?.length) {
            const coerced = getVariableValues(schema, operation.variableDefinitions, variables, { maxErrors: 50 });
            if (coerced.errors) return { errors: coerced.errors };
          }
          const compiled = compile(schema, document, operationName ?? undefined);
          if (!isCompiledQuery(compiled)) return normalize(compiled);
          const result = normalize(await compiled.query(undefined, context, variables));
          (context as Partial<Pick<GraphQLContext, 'trackResult'>>).trackResult?.(result);
          return result;
        },
      };
    },
    onSchemaLoadOrUpdate(callback) {
      callback({ apiSchema: schema, coreSupergraphSdl: '' });
      return () => {};
    },
    async stop() {},
  };
}
