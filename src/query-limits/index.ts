/**
 * Query limits: refuses abusive operations after validation and before any resolver (and so any SQL) runs.
 *
 * Responsible for measuring one parsed, validated operation (`measureOperation`, a pure function) and for the Apollo
 * plugin that rejects it with a 400 when a measurement exceeds its limit (`createQueryLimitsPlugin`). It applies to
 * every operation Apollo executes: GET, POST and each operation of a batched POST on its own. Not responsible for
 * reading the limits (src/config), for request rate limiting, body size or batch size (the HTTP layer), nor for
 * business rules on arguments (resolvers still validate `first`, item counts, etc.).
 *
 * Measurements (fragment spreads and inline fragments are expanded in place, each fragment measured once per context
 * and memoized, so a fragment spread many times, or fragments spreading each other, cost linear work to measure):
 *
 * - depth: the most fields on one path from the root, e.g. `{ user { orders { nodes { id } } } }` is 4. Inline
 *   fragments and fragment spreads add no level. `__typename` adds none (it is a leaf answered without a resolver).
 *   Inside introspection (`__schema`, `__type`) `__Type.ofType` adds none: it unwraps a type reference whose length
 *   the schema bounds, and graphql-js's standard introspection query nests it 9 times; every other introspection field
 *   counts. (Nested `types { fields { type { fields ... } } }` bombs are refused earlier by graphql-js's own
 *   validation rule, MaxIntrospectionDepthRule.)
 * - cost, in the spirit of GitHub's GraphQL API:
 *       cost(selection set) = sum of cost(field) over its fields
 *       cost(field)         = 1 + multiplier(field) * cost(field's selection set)
 *   where multiplier(field) is
 *       - for a connection field (one taking a `first` argument): `first` (a literal, else the variable's value, else
 *         the variable's default, else the argument's schema default, else 20), at least 1;
 *       - 1 for a list field selected directly in a connection (`nodes`, `edges`): `first` already counted the page;
 *       - 10 (`ASSUMED_LIST_SIZE`) per list level for any other list field, e.g. `Order.items`, `Order.payments`:
 *         an estimate of a typical unpaginated list (an order holds a few items and one or two payments), as
 *         GitHub's formula estimates rather than bounds; the hard bounds (100 items an order) live elsewhere;
 *       - 1 otherwise.
 *   `__typename` and everything under `__schema`/`__type` cost 0 (served from the in-memory schema, no resolver, no
 *   SQL; introspection is off in production and its depth is still limited). Costs saturate at
 *   Number.MAX_SAFE_INTEGER. Examples: `orders(first: 100) { nodes { user { name } items { quantity product { name } }
 *   payments { amountCents } } }` costs 4,501; `users(first: 100) { nodes { orders(first: 100) { nodes { items {
 *   product { name } } } } } }` costs 220,201.
 * - aliases: the fields whose alias differs from their name (`a: product(id: 1)`), counted over the expanded
 *   operation (a fragment spread twice counts its aliases twice).
 * - largest list: the most elements in any one list literal in the operation's arguments, variable defaults included,
 *   or in any list nested anywhere in the values of the operation's variables.
 *
 * `@skip`/`@include` are ignored: everything written in the document counts. When several limits are exceeded, the
 * error reports the first of depth, aliases, list size, cost.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import {
  getNamedType,
  getNullableType,
  getOperationAST,
  GraphQLError,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  SchemaMetaFieldDef,
  TypeMetaFieldDef,
  visit,
  type ASTNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type GraphQLType,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { QueryLimits } from '../config/index.js';

export type { QueryLimits };

/** Page size a connection field is assumed to return when `first` is absent (the resolvers' default). */
export const DEFAULT_FIRST = 20;
/** Size assumed for a list field that takes no `first`. */
export const ASSUMED_LIST_SIZE = 10;

export interface OperationMeasurements {
  depth: number;
  cost: number;
  aliases: number;
  /** Elements in the largest list argument or list variable value (0 when there is none). */
  largestList: number;
}

export type QueryLimitCode = 'QUERY_TOO_DEEP' | 'QUERY_TOO_COMPLEX' | 'TOO_MANY_ALIASES' | 'LIST_TOO_LARGE';

export interface QueryLimitViolation {
  code: QueryLimitCode;
  limit: keyof QueryLimits;
  value: number;
  maximum: number;
}

interface Measure {
  depth: number;
  cost: number;
  aliases: number;
}

interface WalkContext {
  /** The enclosing field is a connection field: list fields here are its page, already sized by `first`. */
  inConnection: boolean;
  introspection: boolean;
}

const ZERO: Measure = { depth: 0, cost: 0, aliases: 0 };

function add(a: number, b: number): number {
  return Math.min(a + b, Number.MAX_SAFE_INTEGER);
}

function multiply(a: number, b: number): number {
  return Math.min(a * b, Number.MAX_SAFE_INTEGER);
}

function listLevels(type: GraphQLType): number {
  let levels = 0;
  let current: GraphQLType = type;
  for (;;) {
    if (isNonNullType(current)) current = current.ofType;
    else if (isListType(current)) {
      levels++;
      current = current.ofType;
    } else return levels;
  }
}

/**
 * Measures the operation `operationName` of a parsed and validated `document` (the only operation when the name is
 * null). `variables` are the request's raw variable values. Pure: reads nothing but its arguments.
 */
export function measureOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined = {},
): OperationMeasurements {
  const operation = getOperationAST(document, operationName);
  if (!operation) return { depth: 0, cost: 0, aliases: 0, largestList: 0 };
  const vars = variables ?? {};
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }

  const memo = new Map<string, Measure>();

  function firstValue(node: FieldNode, field: GraphQLField<unknown, unknown>): number {
    const argument = field.args.find((arg) => arg.name === 'first');
    const schemaDefault = typeof argument?.defaultValue === 'number' ? argument.defaultValue : DEFAULT_FIRST;
    const valueNode = node.arguments?.find((arg) => arg.name.value === 'first')?.value;
    let value: unknown = undefined;
    if (valueNode?.kind === Kind.INT) value = Number(valueNode.value);
    else if (valueNode?.kind === Kind.VARIABLE) {
      const name = valueNode.name.value;
      if (vars[name] !== undefined) value = vars[name];
      else {
        const fallback = operation!.variableDefinitions?.find((v) => v.variable.name.value === name)?.defaultValue;
        if (fallback?.kind === Kind.INT) value = Number(fallback.value);
      }
    }
    // null, absent or not a number: the resolver applies its default (a non-number is refused before execution).
    const first = typeof value === 'number' && Number.isFinite(value) ? Math.ceil(value) : schemaDefault;
    return Math.min(Math.max(first, 1), Number.MAX_SAFE_INTEGER);
  }

  function fieldDefinition(parentType: GraphQLNamedType | undefined, name: string) {
    if (name === SchemaMetaFieldDef.name) return SchemaMetaFieldDef;
    if (name === TypeMetaFieldDef.name) return TypeMetaFieldDef;
    if (isObjectType(parentType) || isInterfaceType(parentType)) return parentType.getFields()[name];
    return undefined;
  }

  function measureField(node: FieldNode, parentType: GraphQLNamedType | undefined, context: WalkContext): Measure {
    const name = node.name.value;
    const aliases = node.alias && node.alias.value !== name ? 1 : 0;
    if (name === '__typename') return { depth: 0, cost: 0, aliases };

    const field = fieldDefinition(parentType, name);
    const introspection = context.introspection || name === SchemaMetaFieldDef.name || name === TypeMetaFieldDef.name;
    const isConnection = field?.args.some((arg) => arg.name === 'first') ?? false;
    let multiplier = 1;
    if (field && !introspection) {
      if (isConnection) multiplier = firstValue(node, field);
      else if (!context.inConnection) multiplier = ASSUMED_LIST_SIZE ** listLevels(field.type);
    }
    const children = node.selectionSet
      ? measureSelectionSet(node.selectionSet, field && getNamedType(getNullableType(field.type)), {
          inConnection: isConnection,
          introspection,
        })
      : ZERO;
    const addsLevel = !(context.introspection && name === 'ofType');
    return {
      depth: children.depth + (addsLevel ? 1 : 0),
      cost: introspection ? 0 : add(1, multiply(multiplier, children.cost)),
      aliases: add(aliases, children.aliases),
    };
  }

  function measureFragment(fragment: FragmentDefinitionNode, context: WalkContext): Measure {
    const key = `${fragment.name.value}|${context.inConnection ? 1 : 0}|${context.introspection ? 1 : 0}`;
    const known = memo.get(key);
    if (known) return known;
    memo.set(key, ZERO); // guards against cycles, which validation already rejects
    const type = schema.getType(fragment.typeCondition.name.value) ?? undefined;
    const measured = measureSelectionSet(fragment.selectionSet, type, context);
    memo.set(key, measured);
    return measured;
  }

  function measureSelectionSet(
    selectionSet: SelectionSetNode,
    parentType: GraphQLNamedType | undefined,
    context: WalkContext,
  ): Measure {
    let depth = 0;
    let cost = 0;
    let aliases = 0;
    for (const selection of selectionSet.selections) {
      let measured: Measure;
      if (selection.kind === Kind.FIELD) measured = measureField(selection, parentType, context);
      else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parentType;
        measured = measureSelectionSet(selection.selectionSet, type ?? undefined, context);
      } else {
        const fragment = fragments.get(selection.name.value);
        measured = fragment ? measureFragment(fragment, context) : ZERO;
      }
      depth = Math.max(depth, measured.depth);
      cost = add(cost, measured.cost);
      aliases = add(aliases, measured.aliases);
    }
    return { depth, cost, aliases };
  }

  const rootType = schema.getRootType(operation.operation) ?? undefined;
  const measured = measureSelectionSet(operation.selectionSet, rootType, { inConnection: false, introspection: false });
  return { ...measured, largestList: largestList(operation, fragments, vars) };
}

/** Fragments the operation reaches, directly or through other fragments. */
function reachableFragments(
  operation: OperationDefinitionNode,
  fragments: Map<string, FragmentDefinitionNode>,
): FragmentDefinitionNode[] {
  const found = new Map<string, FragmentDefinitionNode>();
  const pending: ASTNode[] = [operation];
  while (pending.length > 0) {
    visit(pending.pop()!, {
      FragmentSpread(spread) {
        const name = spread.name.value;
        const fragment = fragments.get(name);
        if (fragment && !found.has(name)) {
          found.set(name, fragment);
          pending.push(fragment);
        }
      },
    });
  }
  return [...found.values()];
}

/** The most elements in one list, in the operation's literals or its variables' values (iterative: no recursion). */
function largestList(
  operation: OperationDefinitionNode,
  fragments: Map<string, FragmentDefinitionNode>,
  variables: Record<string, unknown>,
): number {
  let largest = 0;
  for (const node of [operation, ...reachableFragments(operation, fragments)]) {
    visit(node, {
      ListValue(list) {
        largest = Math.max(largest, list.values.length);
      },
    });
  }
  const pending: unknown[] = (operation.variableDefinitions ?? []).map(
    (definition) => variables[definition.variable.name.value],
  );
  while (pending.length > 0) {
    const value = pending.pop();
    if (Array.isArray(value)) {
      largest = Math.max(largest, value.length);
      for (const item of value) if (typeof item === 'object' && item !== null) pending.push(item);
    } else if (typeof value === 'object' && value !== null) {
      for (const item of Object.values(value)) if (typeof item === 'object' && item !== null) pending.push(item);
    }
  }
  return largest;
}

/** The first limit `measured` exceeds, in the order depth, aliases, list size, cost; undefined when all hold. */
export function findViolation(measured: OperationMeasurements, limits: QueryLimits): QueryLimitViolation | undefined {
  const checks: QueryLimitViolation[] = [
    { code: 'QUERY_TOO_DEEP', limit: 'maxDepth', value: measured.depth, maximum: limits.maxDepth },
    { code: 'TOO_MANY_ALIASES', limit: 'maxAliases', value: measured.aliases, maximum: limits.maxAliases },
    { code: 'LIST_TOO_LARGE', limit: 'maxListSize', value: measured.largestList, maximum: limits.maxListSize },
    { code: 'QUERY_TOO_COMPLEX', limit: 'maxCost', value: measured.cost, maximum: limits.maxCost },
  ];
  return checks.find((check) => check.value > check.maximum);
}

const DESCRIPTIONS: Record<keyof QueryLimits, string> = {
  maxDepth: 'depth',
  maxAliases: 'alias count',
  maxListSize: 'largest list size',
  maxCost: 'estimated cost',
};

/**
 * The rejection. A lone operation answers 400 (a request error, nothing executed); inside a batch the HTTP status is
 * shared by every operation, so it stays 200 and the other operations' results stay a success.
 */
export function queryLimitError(violation: QueryLimitViolation, batched = false): GraphQLError {
  const { code, limit, value, maximum } = violation;
  return new GraphQLError(
    `The operation exceeds the ${limit} limit: its ${DESCRIPTIONS[limit]} is ${value}, the maximum is ${maximum}.`,
    { extensions: { code, limit, value, maximum, http: { status: batched ? 200 : 400 } } },
  );
}

/** The little of a logger the plugin uses (pino's `Logger` fits). */
export interface QueryLimitsLogger {
  info(fields: object, message: string): void;
}

/**
 * An Apollo Server plugin that measures each operation once it is resolved (after validation, before execution) and
 * rejects it with a GraphQLError when it exceeds `limits`. In a batched request only the offending operation is
 * rejected.
 *
 * An operation that declares no variables measures the same every time, so its measurement is kept with the parsed
 * document (Apollo caches parsed documents, so repeated queries are measured once, not on every request).
 */
export function createQueryLimitsPlugin<TContext extends BaseContext = BaseContext>(
  limits: QueryLimits,
  logger?: QueryLimitsLogger,
): ApolloServerPlugin<TContext> {
  const constantMeasurements = new WeakMap<DocumentNode, Map<string, OperationMeasurements>>();
  const measure = (
    schema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Record<string, unknown> | undefined,
  ): OperationMeasurements => {
    if (getOperationAST(document, operationName)?.variableDefinitions?.length) {
      return measureOperation(schema, document, operationName, variables);
    }
    let byOperation = constantMeasurements.get(document);
    if (!byOperation) constantMeasurements.set(document, (byOperation = new Map()));
    let measured = byOperation.get(operationName ?? '');
    if (!measured) byOperation.set(operationName ?? '', (measured = measureOperation(schema, document, operationName)));
    return measured;
  };
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, request, operationName, contextValue, requestIsBatched }) {
          const measured = measure(schema, document, request.operationName, request.variables);
          const violation = findViolation(measured, limits);
          if (!violation) return;
          const requestId = (contextValue as { requestId?: unknown }).requestId;
          logger?.info(
            { ...(typeof requestId === 'string' && { requestId }), operationName, ...violation, measured },
            'operation rejected by query limits',
          );
          throw queryLimitError(violation, requestIsBatched);
        },
      };
    },
  };
}
