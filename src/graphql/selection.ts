/**
 * Which row fields an operation needs, so that loaders and list queries select only those columns ("select only what
 * is needed"). For each object type, the operation's selected fields are collected once, anywhere in the operation
 * (nested, in fragments and inline fragments, under @skip/@include alike); a row then needs the columns of those
 * fields, what its relation fields read (`Order.user` reads `userId`), and the keys its loader groups by. A field this
 * file cannot map to columns makes the row select every column, so a mistake costs speed, never a wrong answer.
 *
 * Computed per operation node and cached: Apollo caches parsed documents, so every request with the same text shares
 * the result. All the loads of one type in one operation ask for the same fields, so they still batch into one
 * statement.
 */
import {
  getNamedType,
  isAbstractType,
  isObjectType,
  Kind,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { getTableColumns } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';

/** What one kind of row needs for a GraphQL object type. Declared once per loader or list query. */
export interface RowFieldSpec<T extends PgTable = PgTable> {
  typeName: string;
  /** The row's fields: the table's columns by field name. */
  columns: ReadonlySet<string>;
  /** GraphQL fields of the type that read row fields other than their own name (relations). */
  reads: Readonly<Record<string, readonly string[]>>;
  /** Always selected: the id (cursors, loader keys) and the key the loader groups rows by. */
  required: readonly (keyof T['$inferSelect'] & string)[];
}

export function rowFieldSpec<T extends PgTable>(
  typeName: string,
  table: T,
  reads: Readonly<Record<string, readonly (keyof T['$inferSelect'] & string)[]>>,
  required: readonly (keyof T['$inferSelect'] & string)[],
): RowFieldSpec<T> {
  return { typeName, columns: new Set(Object.keys(getTableColumns(table))), reads, required };
}

/** The row fields to select (sorted), or undefined for every column; `key` names the set. */
export interface RowFields<T extends PgTable = PgTable> {
  fields: readonly (keyof T['$inferSelect'] & string)[] | undefined;
  key: string;
}

const selectedByOperation = new WeakMap<OperationDefinitionNode, Map<string, Set<string>>>();
const rowFieldsByOperation = new WeakMap<OperationDefinitionNode, Map<RowFieldSpec, RowFields>>();

/** The row fields `spec`'s rows need for the operation `info` belongs to. */
export function rowFields<T extends PgTable>(info: GraphQLResolveInfo, spec: RowFieldSpec<T>): RowFields<T> {
  let cached = rowFieldsByOperation.get(info.operation);
  if (!cached) {
    cached = new Map();
    rowFieldsByOperation.set(info.operation, cached);
  }
  let result = cached.get(spec as RowFieldSpec);
  if (!result) {
    result = computeRowFields(selectedFieldsByType(info).get(spec.typeName), spec as RowFieldSpec);
    cached.set(spec as RowFieldSpec, result);
  }
  return result as RowFields<T>;
}

function computeRowFields(selected: ReadonlySet<string> | undefined, spec: RowFieldSpec): RowFields {
  const fields = new Set<string>(spec.required);
  for (const field of selected ?? []) {
    if (field.startsWith('__')) continue;
    const reads = spec.columns.has(field) ? [field] : spec.reads[field];
    if (reads === undefined) return { fields: undefined, key: '*' };
    for (const read of reads) fields.add(read);
  }
  const sorted = [...fields].sort();
  return { fields: sorted, key: sorted.join(',') };
}

/** Field names selected on each object type anywhere in the operation. */
function selectedFieldsByType(info: GraphQLResolveInfo): Map<string, Set<string>> {
  let selected = selectedByOperation.get(info.operation);
  if (selected) return selected;
  selected = new Map();
  const root = info.schema.getRootType(info.operation.operation);
  if (root) collect(info, info.operation.selectionSet, root, selected, new Set());
  selectedByOperation.set(info.operation, selected);
  return selected;
}

function collect(
  info: GraphQLResolveInfo,
  selectionSet: SelectionSetNode,
  type: GraphQLNamedType,
  selected: Map<string, Set<string>>,
  visitedFragments: Set<string>,
): void {
  const objectTypes: readonly GraphQLObjectType[] = isObjectType(type)
    ? [type]
    : isAbstractType(type)
      ? info.schema.getPossibleTypes(type)
      : [];
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      const name = selection.name.value;
      for (const objectType of objectTypes) {
        let fields = selected.get(objectType.name);
        if (!fields) selected.set(objectType.name, (fields = new Set()));
        fields.add(name);
        const definition = objectType.getFields()[name];
        if (selection.selectionSet && definition) {
          collect(info, selection.selectionSet, getNamedType(definition.type), selected, visitedFragments);
        }
      }
    } else {
      const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : info.fragments[selection.name.value];
      if (!fragment) continue;
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const visit = `${selection.name.value}@${type.name}`;
        if (visitedFragments.has(visit)) continue;
        visitedFragments.add(visit);
      }
      const condition = fragment.typeCondition ? info.schema.getType(fragment.typeCondition.name.value) : type;
      if (condition) collect(info, fragment.selectionSet, condition, selected, visitedFragments);
    }
  }
}
