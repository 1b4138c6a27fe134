/**
 * Idempotent mutations, after Stripe's API and the IETF Idempotency-Key draft: a client retrying a mutation with the
 * same key gets the first attempt's response, and the mutation's effect happens exactly once, even when duplicates
 * arrive at the same instant on several server instances.
 *
 * Responsible for: the key (argument or `Idempotency-Key` header), its scope (the principal), the fingerprint of the
 * arguments, claiming the key and running the mutation's writes and storing its response in ONE transaction, waiting
 * for a concurrent duplicate, replaying, and purging expired keys. Not responsible for the business rules themselves
 * (the modules' data.ts) or for who may call a mutation (auth).
 *
 * How exactly-once works: the claim is an INSERT into idempotency_keys inside the mutation's transaction. Until that
 * transaction ends, a duplicate's INSERT of the same (scope, key) blocks in the unique index (bounded by
 * `lock_timeout`); when the first commits, the duplicate finds the stored response and replays it; if the first rolls
 * back (a transient failure), the duplicate's INSERT succeeds and it executes instead. No committed "in progress" row
 * ever exists, so a crash can never strand a key.
 *
 * What is stored is the mutation field's complete GraphQL result, computed inside the transaction: the payload's
 * selection set is executed against the transaction, so the stored data is exactly what was committed, and the first
 * response and every replay are the same bytes.
 */
import { createHash } from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';
import { and, eq, lte, sql } from 'drizzle-orm';
import {
  execute,
  GraphQLError,
  GraphQLObjectType,
  GraphQLSchema,
  Kind,
  OperationTypeNode,
  type DocumentNode,
  type FieldNode,
  type GraphQLFormattedError,
  type GraphQLOutputType,
  type GraphQLResolveInfo,
  type OperationDefinitionNode,
} from 'graphql';
import type { Principal } from '../auth/principal.js';
import type { IdempotencyConfig } from '../config/index.js';
import type { Database, Db } from '../db/client.js';
import { sqlState } from '../db/batch.js';
import { idempotencyKeys, type StoredResponse } from '../db/schema.js';
import type { GraphQLContext } from '../graphql/context.js';
import { badUserInput, BusinessError } from '../graphql/errors.js';
import type { Logger } from '../observability/logger.js';

export const IdempotencyErrorCode = {
  IDEMPOTENCY_KEY_REUSED: 'IDEMPOTENCY_KEY_REUSED',
  IDEMPOTENCY_KEY_IN_USE: 'IDEMPOTENCY_KEY_IN_USE',
} as const;

const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;

/** What one mutation field of an operation resolved to under a key: executed now, or replayed from storage. */
export interface IdempotentResult {
  responseKey: string;
  field: string;
  key: string;
  replayed: boolean;
  response: StoredResponse;
}

/** Per-request idempotency state, kept on the GraphQL context. */
export interface IdempotencyState {
  /** The `Idempotency-Key` request header, if sent. */
  headerKey: string | undefined;
  /** Results to write into each operation's response (see `createIdempotencyPlugin`). */
  results: Map<OperationDefinitionNode, IdempotentResult[]>;
}

export function createIdempotencyState(headerKey: string | undefined): IdempotencyState {
  return { headerKey, results: new Map() };
}

/** The key's owner: keys of different principals never meet. */
export function scopeOf(principal: Principal): string {
  return principal.kind === 'user' ? `user:${principal.userId}` : `ip:${principal.ip}`;
}

/** JSON with object keys sorted at every level, so equal arguments always hash the same. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function fingerprint(args: unknown): string {
  return createHash('sha256').update(canonicalJson(args)).digest('hex');
}

/** The operation's root fields, counting each fragment spread as "more than one" (the header then is ambiguous). */
function rootFieldCount(operation: OperationDefinitionNode): number {
  return operation.selectionSet.selections.reduce((n, s) => n + (s.kind === Kind.FIELD ? 1 : 2), 0);
}

/** The key for this field: the argument, else the header when this field is the operation's only root field. */
function resolveKey(
  state: IdempotencyState,
  info: GraphQLResolveInfo,
  argument: string | null | undefined,
  required: boolean,
): string | null {
  const header = state.headerKey;
  let key = argument ?? null;
  if (header !== undefined) {
    if (rootFieldCount(info.operation) !== 1) {
      if (key === null) {
        throw badUserInput(
          'The Idempotency-Key header applies only to an operation with exactly one mutation field; pass idempotencyKey as an argument instead.',
          'idempotencyKey',
        );
      }
    } else if (key !== null && key !== header) {
      throw badUserInput('The idempotencyKey argument and the Idempotency-Key header differ.', 'idempotencyKey');
    } else {
      key = header;
    }
  }
  if (key === null) {
    if (required) {
      throw badUserInput(
        `${info.fieldName} requires an idempotency key: pass idempotencyKey (a fresh UUID per logical operation) or the Idempotency-Key header.`,
        'idempotencyKey',
      );
    }
    return null;
  }
  if (!KEY_PATTERN.test(key)) {
    throw badUserInput('An idempotency key must be 1 to 255 printable ASCII characters.', 'idempotencyKey');
  }
  return key;
}

/** A schema whose only root field returns the mutation's payload, to execute the payload's selection set alone. */
const snapshotSchemas = new WeakMap<GraphQLSchema, Map<string, GraphQLSchema>>();

function snapshotSchemaFor(schema: GraphQLSchema, payloadType: GraphQLOutputType): GraphQLSchema {
  let byType = snapshotSchemas.get(schema);
  if (!byType) {
    byType = new Map();
    snapshotSchemas.set(schema, byType);
  }
  const name = payloadType.toString();
  let snapshotSchema = byType.get(name);
  if (!snapshotSchema) {
    snapshotSchema = new GraphQLSchema({
      query: new GraphQLObjectType({
        name: 'IdempotencySnapshot',
        fields: { payload: { type: payloadType, resolve: (root: { payload: unknown }) => root.payload } },
      }),
      // Every named type, so the operation's variable definitions (e.g. `$input: PayOrderInput!`) resolve.
      types: Object.values(schema.getTypeMap()).filter((type) => !type.name.startsWith('__')),
    });
    byType.set(name, snapshotSchema);
  }
  return snapshotSchema;
}

/** A stored error as the client sees it: located at this field, with its code and details. */
function storedError(error: GraphQLError, info: GraphQLResolveInfo, path: ReadonlyArray<string | number>) {
  const located = new GraphQLError(error.message, { nodes: info.fieldNodes, path, extensions: error.extensions });
  const { message, locations, extensions } = located.toJSON();
  return { message, locations, path: [...path], extensions };
}

/**
 * Executes the payload's selection set against the transaction, so the stored result is exactly what commits.
 * Unexpected errors are thrown (the transaction rolls back and nothing is stored).
 */
async function snapshot(
  ctx: GraphQLContext,
  info: GraphQLResolveInfo,
  tx: Db,
  payload: unknown,
): Promise<StoredResponse> {
  const responseKey = String(info.path.key);
  const selections = info.fieldNodes.flatMap((node: FieldNode) => node.selectionSet?.selections ?? []);
  const document: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [
      {
        kind: Kind.OPERATION_DEFINITION,
        operation: OperationTypeNode.QUERY,
        variableDefinitions: info.operation.variableDefinitions,
        selectionSet: {
          kind: Kind.SELECTION_SET,
          selections: [
            {
              kind: Kind.FIELD,
              name: { kind: Kind.NAME, value: 'payload' },
              selectionSet: { kind: Kind.SELECTION_SET, selections },
            },
          ],
        },
      },
      ...Object.values(info.fragments),
    ],
  };
  const result = await execute({
    schema: snapshotSchemaFor(info.schema, info.returnType),
    document,
    rootValue: { payload },
    contextValue: ctx.inTransaction(tx),
    variableValues: info.variableValues,
  });
  const errors = (result.errors ?? []).map((error) => {
    if (error.originalError && !(error.originalError instanceof GraphQLError)) throw error.originalError;
    return storedError(error, info, [responseKey, ...(error.path ?? []).slice(1)]);
  });
  const data = (result.data as { payload?: unknown } | null | undefined)?.payload ?? null;
  return errors.length > 0 ? { data, errors } : { data };
}

export interface MutationOptions {
  /** The `idempotencyKey` argument. */
  key: string | null | undefined;
  /** Whether a key (argument or header) is mandatory for this field. */
  required: boolean;
  /** The field's arguments other than the key: their fingerprint detects reuse with different arguments. */
  args: unknown;
}

/**
 * Runs a mutation's writes (`perform`, given the open transaction) with idempotency. Without a key (where allowed)
 * it is a plain transaction and the payload is returned for normal resolution. With a key, the result is stored and
 * the resolver returns null: the idempotency plugin writes the stored result into the response, so the first
 * response and every replay are identical.
 *
 * `perform` should validate its input itself: business failures it throws (BusinessError) are stored and replayed
 * like successes, with its writes undone; any other error rolls everything back and stores nothing, so a retry
 * executes afresh.
 */
export async function runMutation<T>(
  ctx: GraphQLContext,
  info: GraphQLResolveInfo,
  options: MutationOptions,
  perform: (tx: Db) => Promise<T>,
): Promise<T | null> {
  const key = resolveKey(ctx.idempotency, info, options.key, options.required);
  if (key === null) return ctx.db.transaction(perform);

  const scope = scopeOf(ctx.principal);
  const field = info.fieldName;
  const argsFingerprint = fingerprint(options.args);
  const config = ctx.idempotencyConfig;
  const expiresAt = sql`now() + make_interval(secs => ${config.ttlSeconds})`;

  let outcome: { replayed: boolean; response: StoredResponse };
  try {
    outcome = await ctx.db.transaction(async (tx) => {
      // Wait at most waitMs for a concurrent duplicate holding this key; then give up with IDEMPOTENCY_KEY_IN_USE.
      await tx.execute(sql`select set_config('lock_timeout', ${`${config.waitMs}ms`}, true)`);
      const claimed = await tx
        .insert(idempotencyKeys)
        .values({ scope, key, field, fingerprint: argsFingerprint, state: 'completed', response: { data: null }, expiresAt })
        .onConflictDoUpdate({
          target: [idempotencyKeys.scope, idempotencyKeys.key],
          // An expired key counts as new: take it over.
          set: { field, fingerprint: argsFingerprint, response: { data: null }, createdAt: sql`now()`, expiresAt },
          setWhere: lte(idempotencyKeys.expiresAt, sql`now()`),
        })
        .returning({ scope: idempotencyKeys.scope });
      await tx.execute(sql`select set_config('lock_timeout', '0', true)`);

      if (claimed.length === 0) {
        const [existing] = await tx
          .select()
          .from(idempotencyKeys)
          .where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)));
        if (!existing || existing.field !== field || existing.fingerprint !== argsFingerprint) {
          throw new BusinessError(
            IdempotencyErrorCode.IDEMPOTENCY_KEY_REUSED,
            existing && existing.field !== field
              ? `This idempotency key was used for ${existing.field}; use a fresh key for each operation.`
              : 'This idempotency key was used with different arguments; use a fresh key for each operation.',
          );
        }
        return { replayed: true, response: existing.response };
      }

      let response: StoredResponse;
      try {
        // A savepoint: a business failure undoes the mutation's writes but keeps the claim, to store the failure.
        const payload = await tx.transaction((savepoint) => perform(savepoint));
        response = await snapshot(ctx, info, tx, payload);
      } catch (error) {
        if (!(error instanceof BusinessError)) throw error;
        response = { data: null, errors: [storedError(error, info, [String(info.path.key)])] };
      }
      await tx
        .update(idempotencyKeys)
        .set({ response })
        .where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)));
      return { replayed: false, response };
    });
  } catch (error) {
    if (sqlState(error) === '55P03') {
      throw new BusinessError(
        IdempotencyErrorCode.IDEMPOTENCY_KEY_IN_USE,
        'A request with this idempotency key is still being processed. Retry shortly with the same key.',
        { retryAfterSeconds: 1 },
      );
    }
    throw error;
  }

  const results = ctx.idempotency.results.get(info.operation) ?? [];
  results.push({ responseKey: String(info.path.key), field, key, ...outcome });
  ctx.idempotency.results.set(info.operation, results);
  return null;
}

/**
 * Deletes expired keys in batches of `batchSize` (at most `maxBatches` per run). `FOR UPDATE SKIP LOCKED` lets
 * several instances purge at once without waiting on or double-deleting each other's rows.
 */
export async function purgeExpiredKeys(database: Database, batchSize: number, maxBatches = 100): Promise<number> {
  let total = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const deleted = await database.rows<{ scope: string }>(
      database.db,
      sql`delete from idempotency_keys where (scope, key) in (
            select scope, key from idempotency_keys where expires_at <= now()
            limit ${batchSize} for update skip locked)
          returning scope`,
    );
    total += deleted.length;
    if (deleted.length < batchSize) break;
  }
  return total;
}

/** Runs `purgeExpiredKeys` every `intervalMs` (unref'd: it never keeps the process alive). Returns a stop function. */
export function startPurgeJob(database: Database, config: IdempotencyConfig, logger: Logger): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    purgeExpiredKeys(database, config.purgeBatchSize)
      .then((deleted) => {
        if (deleted > 0) logger.info({ deleted }, 'expired idempotency keys purged');
      })
      .catch((error: unknown) => logger.warn({ err: error }, 'idempotency key purge failed; will retry'))
      .finally(() => {
        running = false;
      });
  }, config.purgeIntervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

export type IdempotencyOutcome = 'executed' | 'replayed' | 'conflict' | 'in_use';

const OUTCOME_BY_CODE: Record<string, IdempotencyOutcome> = {
  [IdempotencyErrorCode.IDEMPOTENCY_KEY_REUSED]: 'conflict',
  [IdempotencyErrorCode.IDEMPOTENCY_KEY_IN_USE]: 'in_use',
};

/** The field name behind a response key (an alias or the name itself) among the operation's root fields. */
function rootFieldName(operation: OperationDefinitionNode, responseKey: unknown): string {
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind === Kind.FIELD && (selection.alias ?? selection.name).value === responseKey) {
      return selection.name.value;
    }
  }
  return String(responseKey);
}

/**
 * Writes each keyed mutation field's stored result into its operation's response (the resolver returned null for
 * it), and marks replays: `extensions.idempotency.replayed` and the `Idempotent-Replayed: true` header. Reports every
 * outcome (executed, replayed, conflict, in use) to `onOutcome`, e.g. for metrics.
 */
export function createIdempotencyPlugin(
  onOutcome: (field: string, outcome: IdempotencyOutcome) => void = () => {},
): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue, operation }) {
          if (!operation || response.body.kind !== 'single') return;
          for (const error of response.body.singleResult.errors ?? []) {
            const outcome = OUTCOME_BY_CODE[String(error.extensions?.code)];
            if (outcome) onOutcome(rootFieldName(operation, error.path?.[0]), outcome);
          }
          const results = contextValue.idempotency.results.get(operation);
          if (!results?.length) return;
          for (const r of results) onOutcome(r.field, r.replayed ? 'replayed' : 'executed');
          const result = response.body.singleResult;
          const data = { ...(result.data ?? {}) } as Record<string, unknown>;
          let errors = [...(result.errors ?? [])];
          for (const { responseKey, response: stored } of results) {
            data[responseKey] = stored.data;
            errors = errors.filter((error) => error.path?.[0] !== responseKey);
            errors.push(...((stored.errors ?? []) as GraphQLFormattedError[]));
          }
          result.data = data;
          result.errors = errors.length > 0 ? errors : undefined;
          const replayed = results.some((r) => r.replayed);
          result.extensions = { ...result.extensions, idempotency: { replayed } };
          if (replayed) response.http.headers.set('idempotent-replayed', 'true');
        },
      };
    },
  };
}
