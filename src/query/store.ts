// The rollup store as a RowSource: a DuckDB file opened read-only, so no statement run through it can
// change the data. DuckDB allows one writing process per file and refuses even a read-only open while
// that writer runs (DESIGN.md §9); that refusal, a missing file and a file that is not a dredge store
// each become one DredgeError that says what to do next.

import { existsSync } from 'node:fs';
import { DuckDBInstance, DuckDBTypeId, StatementType, type DuckDBConnection, type DuckDBResultReader } from '@duckdb/node-api';
import { DredgeError } from '../errors.js';
import { DEFAULT_DB as SINK_DEFAULT_DB } from '../sinks/duckdb.js';
import type { Cell, Column, ColumnKind, Query, RowSource, Rows, StoreSchema } from './rows.js';

/** The store `dredge run` writes unless told otherwise (the sink owns the name). */
export const DEFAULT_DB = `./${SINK_DEFAULT_DB}`;

function kindOf(typeId: DuckDBTypeId): ColumnKind {
  switch (typeId) {
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM:
      return 'integer';
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.DECIMAL:
      return 'float';
    case DuckDBTypeId.VARCHAR:
    case DuckDBTypeId.ENUM:
    case DuckDBTypeId.UUID:
      return 'text';
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
    case DuckDBTypeId.TIMESTAMP_TZ:
    case DuckDBTypeId.DATE:
      return 'timestamp';
    case DuckDBTypeId.BOOLEAN:
      return 'boolean';
    default:
      return 'other';
  }
}

/** `2026-11-20T12:00:00Z`; milliseconds only when the value has them. */
export function isoUtc(d: Date): string {
  if (Number.isNaN(d.getTime())) return String(d);
  return d.toISOString().replace('.000Z', 'Z');
}

function jsonText(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x instanceof Date ? isoUtc(x) : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x));
}

function toCell(v: unknown, kind: ColumnKind): Cell {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'integer':
      return typeof v === 'bigint' ? v : BigInt(v as number);
    case 'float':
      return v as number;
    case 'timestamp':
      return v instanceof Date ? isoUtc(v) : String(v);
    case 'boolean':
      return v as boolean;
    case 'text':
      return String(v);
    default:
      return typeof v === 'string' ? v : jsonText(v);
  }
}

async function readRows(reader: DuckDBResultReader): Promise<Rows> {
  const columns: Column[] = reader.columnNames().map((name, i) => ({ name, kind: kindOf(reader.columnTypeId(i)) }));
  const raw = reader.getRowsJS();
  const rows: Cell[][] = new Array<Cell[]>(raw.length);
  for (let r = 0; r < raw.length; r++) {
    const src = raw[r] as unknown[];
    const row = new Array<Cell>(columns.length);
    for (let c = 0; c < columns.length; c++) row[c] = toCell(src[c], (columns[c] as Column).kind);
    rows[r] = row;
  }
  return { columns, rows };
}

function firstLine(msg: string): string {
  return msg.split('\n')[0] ?? msg;
}

/** Turns DuckDB's refusal to open a file into what the user should do about it. */
function openError(path: string, e: unknown): DredgeError {
  const msg = (e as Error).message ?? String(e);
  if (/Could not set lock|Conflicting lock/i.test(msg)) {
    const pid = /\(PID (\d+)\)/.exec(msg)?.[1];
    return new DredgeError(
      'DREDGE_ERR_INPUT',
      `${path} is held by a running \`dredge run\`${pid === undefined ? '' : ` (PID ${pid})`}: DuckDB lets no other process open a store, ` +
        `not even read-only, while one writes to it, and that run left no query listener (${path}.query.json; it was started with --query-listen off, ` +
        `or is not a dredge). Query after the run ends (Ctrl-C flushes and exits), or run it with its listener on (the default) so it answers dredge query itself`,
      { retriable: true, cause: e },
    );
  }
  if (/not a valid DuckDB database|database file .* is not a valid|invalid file|unsupported|newer version|older version/i.test(msg)) {
    return new DredgeError('DREDGE_ERR_INPUT', `${path} is not a dredge store (${firstLine(msg)}); point --db at the file \`dredge run --sink duckdb\` writes`, { cause: e });
  }
  return new DredgeError('DREDGE_ERR_INPUT', `cannot open ${path}: ${firstLine(msg)}`, { cause: e });
}

/** Statement types a connection that could write may run for `query sql`: reads only. */
const READ_STATEMENTS = new Set<number>([StatementType.SELECT, StatementType.EXPLAIN]);

export class DuckDBStore implements RowSource {
  private cached: StoreSchema | null = null;

  private constructor(
    readonly path: string,
    private readonly instance: DuckDBInstance | null,
    private readonly con: DuckDBConnection,
    /** The connection belongs to a writer (the running daemon): `query sql` must check statement types. */
    private readonly guard: boolean,
  ) {}

  /**
   * A store over a connection of the process that writes the file (`dredge run` answering queries on
   * its listener, DESIGN.md §9): the file cannot be opened read-only there, so `query sql` runs only
   * statements DuckDB classifies as SELECT or EXPLAIN. The connection is the caller's; close() closes it.
   */
  static overConnection(path: string, con: DuckDBConnection): DuckDBStore {
    return new DuckDBStore(path, null, con, true);
  }

  /**
   * Opens `path` read-only. External access is off and the configuration locked, so even `query sql`
   * cannot ATTACH another file, COPY out or SET its way to writing.
   */
  static async open(path: string = DEFAULT_DB): Promise<DuckDBStore> {
    if (!existsSync(path)) {
      throw new DredgeError('DREDGE_ERR_INPUT', `no store at ${path}: run \`dredge run --sink duckdb\` first (it writes ./dredge.duckdb), or point --db at the file it wrote`);
    }
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY', enable_external_access: 'false', lock_configuration: 'true' });
    } catch (e) {
      throw openError(path, e);
    }
    const con = await instance.connect();
    const store = new DuckDBStore(path, instance, con, false);
    try {
      await store.schema();
    } catch (e) {
      store.close();
      throw e;
    }
    return store;
  }

  async schema(): Promise<StoreSchema> {
    if (this.cached !== null) return this.cached;
    const columns = new Map<string, ColumnKind>();
    // A view since schema 2 (rollup_facts + dimension_values, src/sinks/duckdb.ts), a table before.
    const has = await this.con.runAndReadAll(
      `SELECT (SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'rollups') + ` +
        `(SELECT count(*) FROM duckdb_views() WHERE database_name = current_database() AND schema_name = 'main' AND view_name = 'rollups')`,
    );
    if (Number((has.getRowsJS()[0] as unknown[])[0]) > 0) {
      // The result's own types, so kinds match what fetch() reports for the same columns.
      const empty = await this.con.runAndReadAll('SELECT * FROM rollups LIMIT 0');
      empty.columnNames().forEach((name, i) => columns.set(name.toLowerCase(), kindOf(empty.columnTypeId(i))));
    }
    if (!columns.has('bytes') || !columns.has('window_start')) {
      throw new DredgeError('DREDGE_ERR_INPUT', `${this.path} is not a dredge store (it has no rollups table); point --db at the file \`dredge run --sink duckdb\` writes`);
    }
    let dimensions: string[] | null = null;
    let windowSeconds: number | null = null;
    const meta = await this.con.runAndReadAll(`SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'dredge_meta'`);
    if (Number((meta.getRowsJS()[0] as unknown[])[0]) > 0) {
      const kv = await this.con.runAndReadAll(`SELECT key, value FROM dredge_meta WHERE key IN ('dimensions', 'window_seconds')`);
      for (const [k, v] of kv.getRowsJS() as [string, string | null][]) {
        if (v === null) continue;
        if (k === 'dimensions') dimensions = v.split(/[\s,]+/).filter((s) => s.length > 0);
        else if (Number.isFinite(Number(v))) windowSeconds = Number(v);
      }
    }
    this.cached = { columns, dimensions, windowSeconds };
    return this.cached;
  }

  async fetch(query: Query): Promise<Rows> {
    let reader: DuckDBResultReader;
    try {
      reader = await this.con.runAndReadAll(query.sql, query.params);
    } catch (e) {
      throw new DredgeError('DREDGE_ERR_INTERNAL', `query failed: ${firstLine((e as Error).message)}`, { cause: e });
    }
    return readRows(reader);
  }

  async userSql(sql: string): Promise<Rows> {
    let count: number;
    try {
      count = (await this.con.extractStatements(sql)).count;
    } catch (e) {
      throw sqlError(e);
    }
    if (count !== 1) throw new DredgeError('DREDGE_ERR_CONFIG', `query sql takes exactly one statement, got ${count}`);
    if (this.guard) {
      let type: number;
      try {
        type = (await this.con.prepare(sql)).statementType;
      } catch (e) {
        throw sqlError(e);
      }
      if (!READ_STATEMENTS.has(type)) throw new DredgeError('DREDGE_ERR_CONFIG', `SQL refused: the running dredge answers read-only statements only (SELECT, WITH, DESCRIBE, EXPLAIN)\nhint: nothing sent to a running dredge can change its store`);
    }
    let reader: DuckDBResultReader;
    try {
      reader = await this.con.runAndReadAll(sql);
    } catch (e) {
      throw sqlError(e);
    }
    return readRows(reader);
  }

  close(): void {
    this.con.closeSync();
    this.instance?.closeSync();
  }
}

/** DuckDB's own text (it points at the error), plus what the user can do about it. */
function sqlError(e: unknown): DredgeError {
  const msg = ((e as Error).message ?? String(e)).replace(/^Failed to extract statements: /, '').trimEnd();
  let hint = 'the table is `rollups` (window_start, one column per dimension with . and - as _, src_reason, dst_reason, flows, packets, bytes); try `dredge query sql "DESCRIBE rollups"`';
  if (/read-only mode|file system operations are disabled|configuration has been locked/i.test(msg)) {
    hint = 'dredge query opens the store read-only: SELECT, WITH, DESCRIBE, SHOW and EXPLAIN work; nothing can change the data or touch other files';
  }
  return new DredgeError('DREDGE_ERR_CONFIG', `SQL failed: ${msg}\nhint: ${hint}`, { cause: e });
}
