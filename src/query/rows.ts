// The shapes the query layer speaks: a query as SQL text plus positional `$n` parameters, and its result
// as typed columns and plain cells. Both are independent of how rows are fetched, so the DuckDB file
// (store.ts) and, later, a running daemon's HTTP listener can serve the same reports and formats.

/** How a column's cells are typed; the formatter aligns and encodes by it. */
export type ColumnKind = 'integer' | 'float' | 'text' | 'timestamp' | 'boolean' | 'other';

export interface Column {
  name: string;
  kind: ColumnKind;
  /** A summed metric (flows, packets, bytes): shown with thousands separators in the table. */
  metric?: boolean;
  /** Digits after the point in the table (shares in percent); JSON and CSV keep the value as is. */
  decimals?: number;
}

/**
 * One value. Integers are bigint whatever their size (SUM of BIGINT is a 128-bit HUGEINT), timestamps
 * are already ISO-8601 text with `Z`, anything nested (lists, structs, intervals) is JSON text.
 */
export type Cell = null | bigint | number | string | boolean;

export interface Rows {
  columns: Column[];
  rows: Cell[][];
}

export type QueryParam = string | number | bigint | boolean | null;

export interface Query {
  sql: string;
  /** Bound to `$1`, `$2` … in order; user values never become SQL text. */
  params: QueryParam[];
  /** Output columns that are summed metrics. */
  metrics: string[];
  /** Output columns shown with a fixed number of decimals in the table. */
  decimals?: Record<string, number>;
}

/** What the query layer needs to know about a store before it builds SQL against it. */
export interface StoreSchema {
  /** Columns of `rollups`, lower-cased name → kind. */
  columns: Map<string, ColumnKind>;
  /** `dimensions` from `dredge_meta` as the run configured them, or null when the store has none. */
  dimensions: string[] | null;
  windowSeconds: number | null;
}

/** Where rows come from: the DuckDB file today, a running daemon's HTTP listener later. */
export interface RowSource {
  schema(): Promise<StoreSchema>;
  /** Runs SQL built by the query layer (reports.ts). */
  fetch(query: Query): Promise<Rows>;
  /** Runs one statement a user typed (`dredge query sql`); the source guarantees it cannot write. */
  userSql(sql: string): Promise<Rows>;
  close(): void;
}
