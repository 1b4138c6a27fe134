/**
 * Read statements built once and run many times: the hot read paths (every loader, the list pages, the token lookup)
 * go through here instead of drizzle's query builder. The SQL is still written with drizzle's `sql` template and the
 * schema's tables and columns, but it is rendered to text once, at module load, with named parameters
 * (`param('ids')`); a request only supplies the values. Each select list names its columns by their schema fields
 * (`"orders"."user_id" as "userId"`), so rows come back from the driver already shaped like drizzle's row types and
 * only timestamps need decoding. A `SelectFamily` holds one statement per set of columns, so a request selects only
 * the columns its operation needs (src/graphql/selection.ts).
 *
 * Measured under the benchmark's case 1, building each query per request and mapping its rows through drizzle took
 * about a fifth of the server's CPU; texts are a small fixed set, and the drivers prepare each one once per
 * connection.
 *
 * A statement whose shape depends on a condition (the caller's access, an optional filter) is one `Statement` per
 * variant, never one text with `($2 is null or ...)` branches, so every variant keeps its own index-friendly plan.
 */
import { and, getTableColumns, Placeholder, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import { PgDialect, type PgTable } from 'drizzle-orm/pg-core';

const dialect = new PgDialect();

/** The values a statement runs with, by parameter name. */
export type StatementValues = Readonly<Record<string, unknown>>;

/** A value supplied when the statement runs. */
export function param(name: string): Placeholder {
  return sql.placeholder(name);
}

/** Column data types whose values the drivers return exactly as drizzle's row types hold them. */
const PLAIN_DATA_TYPES = new Set(['number', 'string']);

type Row<T extends PgTable> = T['$inferSelect'];

export class Statement<R> {
  /** The SQL text, with $1, $2, ... for the parameters. */
  readonly text: string;
  /** Per $n: the name of the value to bind, or a constant the template held. */
  private readonly slots: ReadonlyArray<{ name: string } | { constant: unknown }>;
  /** Fields holding timestamps: the drivers return them as text (drizzle's parsers), rows hold Dates. */
  private readonly dateFields: readonly string[];

  constructor(query: SQL, dateFields: readonly string[]) {
    const { sql: text, params } = dialect.sqlToQuery(query);
    this.text = text;
    this.slots = params.map((value) => (value instanceof Placeholder ? { name: value.name } : { constant: value }));
    this.dateFields = dateFields;
  }

  /** The parameter values in $n order. A missing value is a programming error, never sent as NULL. */
  values(values: StatementValues): unknown[] {
    return this.slots.map((slot) => {
      if (!('name' in slot)) return slot.constant;
      const value = values[slot.name];
      if (value === undefined) throw new Error(`No value for parameter "${slot.name}" of statement: ${this.text}`);
      return value;
    });
  }

  /** The same statement with its values inlined as parameters, to run through a drizzle handle. */
  bind(values: StatementValues): SQL {
    const bound = this.values(values);
    const parts = this.text.split(/\$(\d+)/);
    const chunks: SQL[] = [];
    for (let i = 0; i < parts.length; i++) {
      chunks.push(i % 2 === 0 ? sql.raw(parts[i]!) : sql`${sql.param(bound[Number(parts[i]) - 1])}`);
    }
    return sql.join(chunks);
  }

  /** Turns the driver's rows into the statement's row type (in place). */
  decode(rows: Array<Record<string, unknown>>): R[] {
    if (this.dateFields.length > 0) {
      for (const row of rows) {
        for (const field of this.dateFields) {
          const value = row[field];
          if (typeof value === 'string') row[field] = new Date(value);
        }
      }
    }
    return rows as R[];
  }
}

/**
 * A statement selecting rows of `table`: `build` receives the select list (every column, or only `fields`, each
 * aliased to its field name) and returns the whole statement.
 */
export function selectStatement<T extends PgTable, K extends keyof Row<T> & string = keyof Row<T> & string>(
  table: T,
  build: (columns: SQL) => SQL,
  fields?: readonly K[],
): Statement<Pick<Row<T>, K>> {
  const all = getTableColumns(table) as Record<string, T['_']['columns'][string]>;
  const names = fields ?? (Object.keys(all) as K[]);
  const dateFields: string[] = [];
  for (const name of names) {
    const column = all[name];
    if (!column) throw new Error(`selectStatement: ${name} is not a column of the table`);
    if (column.dataType === 'date') dateFields.push(name);
    else if (!PLAIN_DATA_TYPES.has(column.dataType)) {
      throw new Error(`selectStatement: column ${name} (${column.dataType}) needs decoding that is not implemented`);
    }
  }
  const columns = sql.join(
    names.map((name) => sql`${all[name]!} as ${sql.identifier(name)}`),
    sql`, `,
  );
  return new Statement(build(columns), dateFields);
}

/**
 * A select statement per set of fields, each built on first use: the caller names the row fields it needs (the
 * GraphQL fields an operation selects decide them, src/graphql/selection.ts) and gets a statement selecting only
 * those columns; `undefined` selects every column. Field sets come from a table's few columns, so the family stays
 * small. Rows of a narrowed statement carry only the fields asked for, although typed as whole rows: callers must ask
 * for every field they read.
 */
export class SelectFamily<T extends PgTable> {
  private readonly built = new Map<string, Statement<Row<T>>>();

  constructor(
    private readonly table: T,
    private readonly build: (columns: SQL) => SQL,
  ) {}

  select(fields: readonly (keyof Row<T> & string)[] | undefined): Statement<Row<T>> {
    const key = fields === undefined ? '*' : fields.join(',');
    let statement = this.built.get(key);
    if (!statement) {
      statement = selectStatement(this.table, this.build, fields) as Statement<Row<T>>;
      this.built.set(key, statement);
    }
    return statement;
  }
}

export function selectFamily<T extends PgTable>(table: T, build: (columns: SQL) => SQL): SelectFamily<T> {
  return new SelectFamily(table, build);
}

/**
 * The batched lookup every loader runs: rows of `table` whose `keyColumn` is one of the `ids` parameter, narrowed by
 * `where` (an access condition) and ordered by `orderBy` (so a key's rows come grouped, in a stable order).
 */
export function keyLookup<T extends PgTable>(
  table: T,
  keyColumn: AnyColumn,
  options: { where?: SQL; orderBy?: AnyColumn[] } = {},
): SelectFamily<T> {
  const order = options.orderBy ? sql` order by ${sql.join(options.orderBy, sql`, `)}` : sql``;
  return selectFamily(
    table,
    (columns) =>
      sql`select ${columns} from ${table} where ${and(sql`${keyColumn} = any(${param('ids')}::int[])`, options.where)}${order}`,
  );
}

/** Runs statements: on the pool (counted into an operation's figures) or through an open transaction. */
export interface Reader {
  rows<R>(statement: Statement<R>, values: StatementValues): Promise<R[]>;
}
