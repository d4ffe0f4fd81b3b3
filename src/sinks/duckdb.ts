// DuckDB sink, the embedded default store (DESIGN.md §5, §9; issue #6). One file (`./dredge.duckdb`
// unless `--db`), opened read-write by this process only (DuckDB locks it):
//
//   rollups          a VIEW, what every reader queries: window_start TIMESTAMP, one column per dimension
//                    (`src.app` → src_app; text VARCHAR, ports/protocol BIGINT), src_reason, dst_reason
//                    VARCHAR, flows, packets, bytes BIGINT. Rows are additive deltas: queries SUM them
//                    (late rows for a flushed window add rows).
//   rollup_facts     the stored rows: the same columns, text dimensions as INTEGER ids into
//                    dimension_values, reasons as UTINYINT codes.
//   dimension_values id INTEGER PRIMARY KEY (dense from 0; 0 is NULL), value VARCHAR: every text value
//                    of every dimension, once.
//   checkpoints      source VARCHAR PRIMARY KEY, position VARCHAR, identity VARCHAR, updated_at TIMESTAMP
//   flushes          one row per acknowledged flush: when, rows, late flows/packets/bytes (late flows are
//                    counted, not in rollups: rollups.flows + flushes.late_flows = every flow read)
//   dredge_meta      key/value: dimensions, window_seconds, schema_version (a store holds one
//                    configuration; `dredge query` reads it)
//
// Why a fact table and a view: a VARCHAR vector costs one native call per string, and DuckDB's own
// INSERT … SELECT of these rows into a table with nine VARCHAR columns ran at 0.87M rows/s here, under
// issue #6's 1M rows/s before any JS work (bench duckdb). Integer columns are filled in JS typed arrays and
// copied into the DataChunk's vectors in one native call per column per 2,048 rows; the view turns ids back
// into text through the dictionary as one LIST (`l[id + 1]`), which DuckDB evaluates once per query, and
// prunes the columns a query does not read.
//
// Exactly once across crashes: each write is ONE transaction holding the flush's rows (appended as
// DataChunks through an appender, which joins the open transaction), the dictionary values they introduce,
// its flush row and the source positions it covers; `write` resolves after COMMIT, which DuckDB makes
// durable in its WAL. A crash before COMMIT leaves none of it (the WAL's open transaction is discarded at
// the next open), after it all of it; the next run resumes from the positions in the same file, so no flow
// is lost or counted twice (test/cli/duckdb-crash.test.ts kills a real `dredge run` inside flushes).
//
// The appender runs on the main thread; it yields to the event loop every YIELD_ROWS rows so a large
// flush does not stall dispatch to the workers (they keep the tasks already queued meanwhile).

import { DuckDBConnection, DuckDBDataChunk, DuckDBInstance, BIGINT, INTEGER, TIMESTAMP, UTINYINT, VARCHAR, type DuckDBType, type DuckDBVector } from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { dimensionValueKind } from '../aggregate/decode-rows.js';
import type { KeyPlan } from '../aggregate/dimensions.js';
import { REASON_NAMES, type DimValueColumn, type RollupBatch } from '../aggregate/rollups.js';
import { DredgeError } from '../errors.js';
import type { CheckpointStore, Sink, SinkHealth, SourcePosition } from './sink.js';

export const DEFAULT_DB = 'dredge.duckdb';
const CHUNK_ROWS = 2048;
const YIELD_ROWS = 1 << 17;

/** The DuckDB column for a dimension name (DESIGN.md §9: `.` and `-` become `_`). */
export function columnName(dimension: string): string {
  return dimension.replace(/[.-]/g, '_');
}

function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * Crash tests (test/cli/duckdb-crash.test.ts, test/cli/run-generator.test.ts) set DREDGE_CRASH_POINT=<point>:<write number> to have
 * the process SIGKILL itself at that point of that write, inside the flush, where an outside kill
 * would land only by luck. Read once; costs one comparison per write when unset.
 */
const CRASH = /^(before-commit|after-commit|mid-append):(\d+)$/.exec(process.env.DREDGE_CRASH_POINT ?? '');
function crashPoint(point: string, write: number): void {
  if (CRASH !== null && CRASH[1] === point && Number(CRASH[2]) === write) process.kill(process.pid, 'SIGKILL');
}

export interface DuckDbSinkOptions {
  /** Database file; created if missing. */
  path: string;
  plan: KeyPlan;
  windowSeconds: number;
}

export interface DuckDbSinkStats {
  writes: number;
  rows: number;
  errors: number;
  /** Time inside write() (transaction included), ms. */
  writeMs: number;
}

/** How one pipeline dictionary's entries map to ids in `dimension_values`. */
interface DictMap {
  /** Pipeline dictionary index → store id. */
  ids: Int32Array;
  /** Entries mapped as of the last COMMIT, and as of the write in progress. */
  committed: number;
  pending: number;
}

interface ColumnSpec {
  name: string;
  /** The type readers see in the `rollups` view. */
  type: 'VARCHAR' | 'BIGINT' | 'TIMESTAMP';
  /** How `rollup_facts` stores it. */
  stored: 'TIMESTAMP' | 'INTEGER' | 'BIGINT' | 'UTINYINT';
  /** View expression over `rollup_facts f`, the dictionary list `d.l` and the reasons list. */
  expr: string;
}

const REASONS_LIST = `[${REASON_NAMES.map((r) => (r === null ? 'NULL' : `'${r}'`)).join(', ')}]`;
const STORED_TYPES: Record<ColumnSpec['stored'], DuckDBType> = { TIMESTAMP, INTEGER, BIGINT, UTINYINT };
const STORED_BYTES: Record<ColumnSpec['stored'], number> = { TIMESTAMP: 8, INTEGER: 4, BIGINT: 8, UTINYINT: 1 };
const TWO_32 = 4294967296;

/**
 * Writes an integer (|x| < 2^53) as a little-endian int64 into two int32 slots: no BigInt per value
 * (a BIGINT vector's setItem wants one, and building them cost ~0.25 µs per value here).
 */
function putInt64(a: Int32Array, i: number, x: number): void {
  // A fraction, NaN or a value past 2^53 has no exact int64 here: refuse the write, never wrap.
  if (!Number.isSafeInteger(x)) throw new RangeError(`${x} is not an integer DuckDB can store exactly (|x| < 2^53)`);
  a[2 * i] = x >>> 0;
  a[2 * i + 1] = Math.floor(x / TWO_32);
}

/** What DuckDB said, mapped to an error that names the fix. */
function openError(path: string, e: unknown): DredgeError {
  const msg = (e as Error).message;
  if (/lock/i.test(msg)) {
    const pid = /PID (\d+)/.exec(msg)?.[1];
    return new DredgeError('DREDGE_ERR_CONFIG', `the store ${path} is in use by another process${pid !== undefined ? ` (PID ${pid})` : ''}, probably a running \`dredge run\`; stop it, or give this run another --db FILE`, { cause: e });
  }
  return new DredgeError('DREDGE_ERR_INPUT', `cannot open the DuckDB store ${path}: ${msg}. If it is not a DuckDB file, give another --db FILE`, { cause: e });
}

/** Errors worth another try: I/O (disk full, interrupted); a constraint or schema error is not. */
function retriable(e: unknown): boolean {
  return /^(IO|Interrupt|Out of Memory) Error/i.test((e as Error).message);
}

export class DuckDbSink implements Sink {
  readonly name = 'duckdb';
  readonly path: string;
  readonly stats: DuckDbSinkStats = { writes: 0, rows: 0, errors: 0, writeMs: 0 };
  /** The checkpoint store that lives in the same file (positions are saved by `write` itself). */
  readonly checkpoints: CheckpointStore;
  private readonly columns: ColumnSpec[];
  /** Pipeline dictionaries seen (a few: the pipeline has one) → their store ids. */
  private readonly dicts = new Map<readonly (string | null)[], DictMap>();
  /** `dimension_values` as loaded and written: value → id; the next id (ids are dense). */
  private readonly valueIds = new Map<string | null, number>();
  private nextValueId = 0;
  private committedValueId = 0;
  private committed = new Map<string, string>();
  private busy: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    path: string,
    private readonly instance: DuckDBInstance,
    private readonly con: DuckDBConnection,
    plan: KeyPlan,
  ) {
    this.path = path;
    const plain = (name: string, type: 'BIGINT' | 'TIMESTAMP'): ColumnSpec => ({ name, type, stored: type, expr: `f.${quoteIdent(name)}` });
    const reason = (name: string): ColumnSpec => ({ name, type: 'VARCHAR', stored: 'UTINYINT', expr: `${REASONS_LIST}[f.${name} + 1]` });
    this.columns = [
      plain('window_start', 'TIMESTAMP'),
      ...plan.dims.map((d): ColumnSpec => {
        const name = columnName(d.name);
        return dimensionValueKind(d) === 'string' ? { name, type: 'VARCHAR', stored: 'INTEGER', expr: `d.l[f.${quoteIdent(name)} + 1]` } : plain(name, 'BIGINT');
      }),
      reason('src_reason'),
      reason('dst_reason'),
      plain('flows', 'BIGINT'),
      plain('packets', 'BIGINT'),
      plain('bytes', 'BIGINT'),
    ];
    this.checkpoints = {
      load: () => this.loadPositions(),
      save: (positions) => this.savePositions(positions),
    };
  }

  /** Opens (or creates) the store and checks it holds rollups of this configuration. */
  static async open(opts: DuckDbSinkOptions): Promise<DuckDbSink> {
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(opts.path);
    } catch (e) {
      throw openError(opts.path, e);
    }
    const con = await instance.connect();
    const sink = new DuckDbSink(opts.path, instance, con, opts.plan);
    try {
      await sink.prepare(opts.plan, opts.windowSeconds);
    } catch (e) {
      con.closeSync();
      instance.closeSync();
      throw e;
    }
    return sink;
  }

  private async prepare(plan: KeyPlan, windowSeconds: number): Promise<void> {
    const dims = plan.dims.map((d) => d.name);
    const seen = new Map<string, string>();
    for (const d of dims) {
      const c = columnName(d);
      const other = seen.get(c);
      if (other !== undefined) throw new DredgeError('DREDGE_ERR_CONFIG', `--dimensions: ${other} and ${d} would both be the DuckDB column ${c}; keep one of them`);
      if (['window_start', 'src_reason', 'dst_reason', 'flows', 'packets', 'bytes'].includes(c)) throw new DredgeError('DREDGE_ERR_CONFIG', `--dimensions: ${d} would collide with the store's own column ${c}; leave it out`);
      seen.set(c, d);
    }
    await this.con.run('CREATE TABLE IF NOT EXISTS dredge_meta (key VARCHAR PRIMARY KEY, value VARCHAR)');
    const meta = new Map<string, string>();
    for (const r of (await this.con.runAndReadAll('SELECT key, value FROM dredge_meta')).getRowObjects()) meta.set(String(r.key), String(r.value));
    const storedDims = meta.get('dimensions');
    if (storedDims !== undefined && storedDims !== dims.join(',')) {
      throw new DredgeError('DREDGE_ERR_CONFIG', `the store ${this.path} holds rollups by --dimensions "${storedDims}", not "${dims.join(',')}"; run with those dimensions, or give another --db FILE for this configuration`);
    }
    const storedWindow = meta.get('window_seconds');
    if (storedWindow !== undefined && Number(storedWindow) !== windowSeconds) {
      throw new DredgeError('DREDGE_ERR_CONFIG', `the store ${this.path} holds ${storedWindow}s windows, not ${windowSeconds}s; run with --window ${storedWindow}s, or give another --db FILE`);
    }
    const oldLayout = await this.con.runAndReadAll("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'rollups'");
    if (Number(oldLayout.getRows()[0]?.[0]) > 0) {
      throw new DredgeError('DREDGE_ERR_CONFIG', `the store ${this.path} was written by an older dredge (rollups as a table, schema 1); this one stores rollup_facts with a rollups view. Give this run another --db FILE (the old file stays readable with \`dredge query --db ${this.path}\`)`);
    }
    await this.con.run('BEGIN');
    try {
      await this.con.run(`CREATE TABLE IF NOT EXISTS rollup_facts (${this.columns.map((c) => `${quoteIdent(c.name)} ${c.stored}`).join(', ')})`);
      await this.con.run('CREATE TABLE IF NOT EXISTS dimension_values (id INTEGER PRIMARY KEY, value VARCHAR)');
      await this.con.run('INSERT OR IGNORE INTO dimension_values VALUES (0, NULL)');
      await this.con.run(
        `CREATE VIEW IF NOT EXISTS rollups AS SELECT ${this.columns.map((c) => `${c.expr} AS ${quoteIdent(c.name)}`).join(', ')} ` +
          'FROM rollup_facts f, (SELECT list(value ORDER BY id) AS l FROM dimension_values) d',
      );
      await this.con.run('CREATE TABLE IF NOT EXISTS checkpoints (source VARCHAR PRIMARY KEY, position VARCHAR, identity VARCHAR, updated_at TIMESTAMP)');
      await this.con.run('CREATE TABLE IF NOT EXISTS flushes (flushed_at TIMESTAMP, seq BIGINT, "rows" BIGINT, late_flows BIGINT, late_packets BIGINT, late_bytes BIGINT)');
      await this.con.run("INSERT OR REPLACE INTO dredge_meta VALUES ('dimensions', $1), ('window_seconds', $2), ('schema_version', '2')", [dims.join(','), String(windowSeconds)]);
      await this.con.run('COMMIT');
    } catch (e) {
      await this.con.run('ROLLBACK').catch(() => undefined);
      throw new DredgeError('DREDGE_ERR_CONFIG', `cannot prepare the store ${this.path}: ${(e as Error).message}`, { cause: e });
    }
    // A store made by an older configuration with the same dimension names must have the same columns.
    const have = (await this.con.runAndReadAll("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'rollup_facts' ORDER BY ordinal_position")).getRowObjects();
    const got = have.map((r) => `${String(r.column_name)} ${String(r.data_type)}`).join(', ');
    const want = this.columns.map((c) => `${c.name} ${c.stored}`).join(', ');
    if (got !== want) throw new DredgeError('DREDGE_ERR_CONFIG', `the store ${this.path} has rollup_facts columns (${got}), this run writes (${want}); give another --db FILE`);
    for (const r of (await this.con.runAndReadAll('SELECT id, value FROM dimension_values ORDER BY id')).getRows()) {
      this.valueIds.set(r[1] === null ? null : String(r[1]), Number(r[0]));
    }
    this.nextValueId = this.committedValueId = this.valueIds.size;
    for (const p of await this.loadPositions()) this.committed.set(p[0], p[1].value);
  }

  private async loadPositions(): Promise<Map<string, SourcePosition>> {
    const out = new Map<string, SourcePosition>();
    for (const r of (await this.con.runAndReadAll('SELECT source, position, identity FROM checkpoints')).getRowObjects()) {
      const key = String(r.source);
      out.set(key, { key, value: String(r.position), ...(r.identity !== null ? { identity: String(r.identity) } : {}) });
    }
    return out;
  }

  /** The pipeline saves positions after each ack; `write` already committed them with the rows. */
  private async savePositions(positions: readonly SourcePosition[]): Promise<void> {
    const missing = positions.filter((p) => this.committed.get(p.key) !== p.value);
    if (missing.length === 0) return;
    await this.con.run('BEGIN');
    try {
      await this.upsertPositions(missing);
      await this.con.run('COMMIT');
    } catch (e) {
      await this.con.run('ROLLBACK').catch(() => undefined);
      throw new DredgeError('DREDGE_ERR_SINK_WRITE', `cannot save checkpoints in ${this.path}: ${(e as Error).message}`, { cause: e, retriable: retriable(e) });
    }
    for (const p of missing) this.committed.set(p.key, p.value);
  }

  private async upsertPositions(positions: readonly SourcePosition[]): Promise<void> {
    for (const p of positions) {
      await this.con.run('INSERT OR REPLACE INTO checkpoints VALUES ($1, $2, $3, now()::TIMESTAMP)', [p.key, p.value, p.identity ?? null]);
    }
  }

  write(b: RollupBatch): Promise<void> {
    if (this.closed) return Promise.reject(new DredgeError('DREDGE_ERR_SINK_WRITE', `the duckdb sink (${this.path}) is closed`));
    // One transaction at a time on the connection: a write waits for the one before it.
    const w = this.busy.then(() => this.writeNow(b));
    this.busy = w.catch(() => undefined);
    return w;
  }

  private async writeNow(b: RollupBatch): Promise<void> {
    const t0 = performance.now();
    try {
      await this.con.run('BEGIN');
    } catch (e) {
      this.stats.errors++;
      throw new DredgeError('DREDGE_ERR_SINK_WRITE', `cannot start a transaction in ${this.path}: ${(e as Error).message}`, { cause: e, retriable: retriable(e) });
    }
    try {
      if (b.rows > 0) await this.appendRows(b);
      await this.con.run('INSERT INTO flushes VALUES (now()::TIMESTAMP, $1, $2, $3, $4, $5)', [b.seq, b.rows, b.late.flows, b.late.packets, b.late.bytes]);
      await this.upsertPositions(b.positions);
      crashPoint('before-commit', this.stats.writes + 1);
      await this.con.run('COMMIT');
      crashPoint('after-commit', this.stats.writes + 1);
    } catch (e) {
      this.stats.errors++;
      await this.con.run('ROLLBACK').catch(() => undefined);
      // The values this write added to dimension_values are gone: forget them and the ids given out.
      for (const st of this.dicts.values()) st.pending = st.committed;
      for (const [v, id] of this.valueIds) if (id >= this.committedValueId) this.valueIds.delete(v);
      this.nextValueId = this.committedValueId;
      throw new DredgeError('DREDGE_ERR_SINK_WRITE', `cannot write flush ${b.seq} to ${this.path}: ${(e as Error).message}`, { cause: e, retriable: retriable(e) });
    }
    for (const p of b.positions) this.committed.set(p.key, p.value);
    for (const st of this.dicts.values()) st.committed = st.pending;
    this.committedValueId = this.nextValueId;
    this.stats.writes++;
    this.stats.rows += b.rows;
    this.stats.writeMs += performance.now() - t0;
  }

  /**
   * The rows into `rollup_facts`: every column is a typed array filled in JS and copied into the chunk's
   * vector with one native call per column per CHUNK_ROWS rows (text as dictionary ids, reasons as codes).
   */
  private async appendRows(b: RollupBatch): Promise<void> {
    const ids = await this.mapDictionaries(b);
    const cols = this.columns;
    const types = cols.map((c) => STORED_TYPES[c.stored]);
    const appender = await this.con.createAppender('rollup_facts');
    const chunk = DuckDBDataChunk.create(types, CHUNK_ROWS);
    const vectors = cols.map((_, c) => duckdb.data_chunk_get_vector(chunk.chunk, c));
    const bufs = cols.map((c) => new ArrayBuffer(STORED_BYTES[c.stored] * CHUNK_ROWS));
    const i32 = bufs.map((buf) => (buf.byteLength >= 4 * CHUNK_ROWS ? new Int32Array(buf) : new Int32Array(0)));
    // Validity of numeric dimensions (NaN is null): one bit per row, copied with the data.
    const validity = new Uint32Array(CHUNK_ROWS / 32);
    const nDims = b.columns.length;
    const reasonAt = 1 + nDims;
    const srcReason = new Uint8Array(bufs[reasonAt]!);
    const dstReason = new Uint8Array(bufs[reasonAt + 1]!);
    const metrics = [b.flows, b.packets, b.bytes];
    let sinceYield = 0;
    let nullsSet = false;
    try {
      for (let base = 0; base < b.rows; base += CHUNK_ROWS) {
        const n = Math.min(CHUNK_ROWS, b.rows - base);
        chunk.rowCount = n;
        const ws = i32[0]!;
        for (let i = 0; i < n; i++) putInt64(ws, i, (b.windowStart[base + i] as number) * 1_000_000);
        for (let d = 0; d < nDims; d++) {
          const col = b.columns[d] as DimValueColumn;
          const out = i32[1 + d]!;
          if (col.kind === 'string') {
            const src = col.ids;
            const map = ids.get(col.dict)!;
            for (let i = 0; i < n; i++) out[i] = map[src[base + i] as number] as number;
          } else {
            const vals = col.values;
            let nulls = false;
            for (let i = 0; i < n; i++) {
              const x = vals[base + i] as number;
              if (x !== x) nulls = true;
              putInt64(out, i, x !== x ? 0 : x);
            }
            if (nulls) {
              validity.fill(0xffffffff);
              for (let i = 0; i < n; i++) if (Number.isNaN(vals[base + i])) validity[i >>> 5] = (validity[i >>> 5] as number) & ~(1 << (i & 31));
              // A fresh vector has no mask (all valid): make one before copying into it.
              duckdb.vector_ensure_validity_writable(vectors[1 + d]!);
              duckdb.copy_data_to_vector_validity(vectors[1 + d]!, 0, validity.buffer, 0, Math.ceil(n / 64) * 8);
              nullsSet = true;
            }
          }
        }
        srcReason.set(b.srcReason.subarray(base, base + n));
        dstReason.set(b.dstReason.subarray(base, base + n));
        for (let m = 0; m < 3; m++) {
          const out = i32[reasonAt + 2 + m]!;
          const a = metrics[m]!;
          for (let i = 0; i < n; i++) putInt64(out, i, a[base + i] as number);
        }
        for (let c = 0; c < cols.length; c++) duckdb.copy_data_to_vector(vectors[c]!, 0, bufs[c]!, 0, STORED_BYTES[cols[c]!.stored] * n);
        appender.appendDataChunk(chunk);
        // A null set in this chunk must not linger in the next one's validity masks.
        if (nullsSet) {
          chunk.reset();
          nullsSet = false;
        }
        // Rows appended, appender not flushed, transaction open: whatever the write's size.
        if (base === 0) crashPoint('mid-append', this.stats.writes + 1);
        sinceYield += n;
        if (sinceYield >= YIELD_ROWS) {
          sinceYield = 0;
          await yieldLoop();
        }
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }

  /**
   * Each string column's dictionary mapped to `dimension_values` ids; values never stored before are
   * inserted in the write's transaction (the caller commits `pending` after COMMIT, so a rolled-back write
   * maps them again). The pipeline's dictionary is append-only and shared by every column and flush, so
   * a flush maps only the entries added since the last one.
   */
  private async mapDictionaries(b: RollupBatch): Promise<Map<readonly (string | null)[], Int32Array>> {
    const out = new Map<readonly (string | null)[], Int32Array>();
    const added: [number, string][] = [];
    for (const c of b.columns) {
      if (c.kind !== 'string' || out.has(c.dict)) continue;
      let st = this.dicts.get(c.dict);
      if (st === undefined) {
        // A few dictionaries at a time (the pipeline has one; tests and tools may pass a new one per batch).
        if (this.dicts.size >= 8) this.dicts.delete(this.dicts.keys().next().value as readonly (string | null)[]);
        st = { ids: new Int32Array(Math.max(64, c.dict.length)), committed: 0, pending: 0 };
        this.dicts.set(c.dict, st);
      }
      const have = c.dict.length;
      if (st.ids.length < have) {
        const grown = new Int32Array(Math.max(have, st.ids.length * 2));
        grown.set(st.ids);
        st.ids = grown;
      }
      for (let j = st.pending; j < have; j++) {
        const v = c.dict[j] ?? null;
        let id = this.valueIds.get(v);
        if (id === undefined) {
          id = this.nextValueId++;
          this.valueIds.set(v, id);
          added.push([id, v as string]);
        }
        st.ids[j] = id;
      }
      st.pending = have;
      out.set(c.dict, st.ids);
    }
    if (added.length > 0) {
      const app = await this.con.createAppender('dimension_values');
      const chunk = DuckDBDataChunk.create([INTEGER, VARCHAR], CHUNK_ROWS);
      try {
        for (let base = 0; base < added.length; base += CHUNK_ROWS) {
          const n = Math.min(CHUNK_ROWS, added.length - base);
          chunk.rowCount = n;
          const idv = chunk.getColumnVector(0) as DuckDBVector<number>;
          const sv = chunk.getColumnVector(1) as DuckDBVector<string>;
          for (let i = 0; i < n; i++) {
            const [id, v] = added[base + i]!;
            idv.setItem(i, id);
            sv.setItem(i, v);
          }
          idv.flush();
          sv.flush();
          app.appendDataChunk(chunk);
        }
        app.flushSync();
      } finally {
        app.closeSync();
      }
    }
    return out;
  }

  /** A second connection to the same store: reads see every committed flush (the query listener's). */
  connectReader(): Promise<DuckDBConnection> {
    return this.instance.connect();
  }

  /** A read of the store on the sink's own connection (between flushes). */
  async health(): Promise<SinkHealth> {
    if (this.closed) return { ok: false, detail: `duckdb sink (${this.path}) closed` };
    try {
      const r = await this.select('SELECT count(*) FROM flushes');
      return { ok: true, detail: `${this.path}: ${String(r.rows[0]?.[0])} flushes stored` };
    } catch (e) {
      return { ok: false, detail: `${this.path} does not answer: ${(e as Error).message}` };
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * A read-only query on the sink's own connection (DuckDB lets one process hold the file, so the
   * running daemon answers `dredge query` itself). Runs between flushes, never inside one.
   */
  async select(sql: string, params: readonly (string | number | bigint | null)[] = []): Promise<{ columns: string[]; rows: unknown[][] }> {
    if (this.closed) throw new DredgeError('DREDGE_ERR_SINK_WRITE', `the duckdb sink (${this.path}) is closed`);
    const run = this.busy.then(async () => {
      const r = await this.con.runAndReadAll(sql, params as (string | number | bigint | null)[]);
      return { columns: r.columnNames(), rows: r.getRows() as unknown[][] };
    });
    this.busy = run.then(() => undefined, () => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.busy;
    this.con.closeSync();
    this.instance.closeSync();
  }
}
