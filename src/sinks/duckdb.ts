// DuckDB sink, the embedded default store (DESIGN.md §5, §9; issue #6). One file (`./dredge.duckdb`
// unless `--db`), opened read-write by this process only (DuckDB locks it), with three tables:
//
//   rollups     window_start TIMESTAMP, one column per dimension (`src.app` → src_app; text VARCHAR,
//               ports/protocol BIGINT), src_reason, dst_reason VARCHAR, flows, packets, bytes BIGINT.
//               Rows are additive deltas: queries SUM them (late rows for a flushed window add rows).
//   checkpoints source VARCHAR PRIMARY KEY, position VARCHAR, identity VARCHAR, updated_at TIMESTAMP
//   flushes     one row per acknowledged flush: when, rows, late flows/packets/bytes (late flows are
//               counted, not in rollups: rollups.flows + flushes.late_flows = every flow read)
//   dredge_meta key/value: dimensions, window_seconds (a store holds one configuration; `dredge query`
//               reads it)
//
// Exactly once across crashes: each write is ONE transaction holding the flush's rows (bulk appended
// as DataChunks through an appender, which joins the open transaction), its flush row and the source
// positions it covers; `write` resolves after COMMIT, which DuckDB makes durable in its WAL. A crash
// before COMMIT leaves none of it (the WAL's open transaction is discarded at the next open), after it
// all of it; the next run resumes from the positions in the same file, so no flow is lost or counted
// twice (test/sinks/duckdb-crash.test.ts kills a real `dredge run` inside flushes to prove it).
//
// The appender runs on the main thread; it yields to the event loop every YIELD_ROWS rows so a large
// flush does not stall dispatch to the workers (they keep the tasks already queued meanwhile).

import { DuckDBConnection, DuckDBDataChunk, DuckDBInstance, DOUBLE, INTEGER, UTINYINT, VARCHAR, type DuckDBVector } from '@duckdb/node-api';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { dimensionValueKind } from '../aggregate/decode-rows.js';
import type { KeyPlan } from '../aggregate/dimensions.js';
import { REASON_NAMES, type RollupBatch } from '../aggregate/rollups.js';
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
 * Crash tests (test/sinks/duckdb-crash.test.ts) set DREDGE_CRASH_POINT=<point>:<write number> to have
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

interface DictState {
  /** Temp table suffix. */
  k: number;
  /** Entries in the temp table as of the last COMMIT, and as of this write. */
  uploaded: number;
  pending: number;
}

interface ColumnSpec {
  name: string;
  type: 'VARCHAR' | 'BIGINT' | 'TIMESTAMP';
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
  /** Dictionaries uploaded to temp tables: how many entries are committed there. */
  private readonly dicts = new Map<readonly (string | null)[], DictState>();
  private dictSeq = 0;
  private stageShape = '';
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
    this.columns = [
      { name: 'window_start', type: 'TIMESTAMP' },
      ...plan.dims.map((d): ColumnSpec => ({ name: columnName(d.name), type: dimensionValueKind(d) === 'string' ? 'VARCHAR' : 'BIGINT' })),
      { name: 'src_reason', type: 'VARCHAR' },
      { name: 'dst_reason', type: 'VARCHAR' },
      { name: 'flows', type: 'BIGINT' },
      { name: 'packets', type: 'BIGINT' },
      { name: 'bytes', type: 'BIGINT' },
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
    await this.con.run('BEGIN');
    try {
      await this.con.run(`CREATE TABLE IF NOT EXISTS rollups (${this.columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ')})`);
      await this.con.run('CREATE TABLE IF NOT EXISTS checkpoints (source VARCHAR PRIMARY KEY, position VARCHAR, identity VARCHAR, updated_at TIMESTAMP)');
      await this.con.run('CREATE TABLE IF NOT EXISTS flushes (flushed_at TIMESTAMP, seq BIGINT, "rows" BIGINT, late_flows BIGINT, late_packets BIGINT, late_bytes BIGINT)');
      await this.con.run("INSERT OR REPLACE INTO dredge_meta VALUES ('dimensions', $1), ('window_seconds', $2), ('schema_version', '1')", [dims.join(','), String(windowSeconds)]);
      await this.con.run('COMMIT');
    } catch (e) {
      await this.con.run('ROLLBACK').catch(() => undefined);
      throw new DredgeError('DREDGE_ERR_CONFIG', `cannot prepare the store ${this.path}: ${(e as Error).message}`, { cause: e });
    }
    // A store made by an older configuration with the same dimension names must have the same columns.
    const have = (await this.con.runAndReadAll("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'rollups' ORDER BY ordinal_position")).getRowObjects();
    const got = have.map((r) => `${String(r.column_name)} ${String(r.data_type)}`).join(', ');
    const want = this.columns.map((c) => `${c.name} ${c.type}`).join(', ');
    if (got !== want) throw new DredgeError('DREDGE_ERR_CONFIG', `the store ${this.path} has rollups columns (${got}), this run writes (${want}); give another --db FILE`);
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
      for (const st of this.dicts.values()) st.pending = st.uploaded;
      // Temp tables made in the rolled-back transaction are gone too: start the staging afresh.
      this.stageShape = '';
      for (const [d, st] of this.dicts) if (st.uploaded === 0) this.dicts.delete(d);
      throw new DredgeError('DREDGE_ERR_SINK_WRITE', `cannot write flush ${b.seq} to ${this.path}: ${(e as Error).message}`, { cause: e, retriable: retriable(e) });
    }
    for (const p of b.positions) this.committed.set(p.key, p.value);
    for (const st of this.dicts.values()) st.uploaded = Math.max(st.uploaded, st.pending);
    this.stats.writes++;
    this.stats.rows += b.rows;
    this.stats.writeMs += performance.now() - t0;
  }

  /**
   * The rows, staged as numbers, then turned into the table's typed row by DuckDB. Measured here (bench
   * duckdb --quick, 457k rows × 9 text dims): a VARCHAR vector costs one native call per string, and
   * filling them took ~65% of a 2.3–2.6 s write; staging dictionary ids (INTEGER vectors, one bulk copy
   * each) and letting DuckDB pick each string out of the dictionary as a LIST (`l[id + 1]`, one per
   * dictionary) inside `INSERT … SELECT` took 1.64 s with BigInt metrics (470 ms of it staging) and
   * 1.28 s with the numbers staged as DOUBLE; DuckDB's own INSERT … SELECT of those rows took 0.65 s.
   */
  private async appendRows(b: RollupBatch): Promise<void> {
    const lists = await this.prepareDicts(b);
    const nDims = b.columns.length;
    // Numbers are staged as DOUBLE (exact to 2^53, as the batch holds them): a DOUBLE vector takes a JS
    // number as it is, a BIGINT one needs a BigInt per value (whole write, 457k rows: 1.64 s → 1.28 s).
    const stageTypes = [DOUBLE, ...b.columns.map((c) => (c.kind === 'string' ? INTEGER : DOUBLE)), UTINYINT, UTINYINT, DOUBLE, DOUBLE, DOUBLE];
    const shape = stageTypes.map((t) => t.toString()).join(',');
    if (this.stageShape !== shape) {
      await this.con.run(`CREATE OR REPLACE TEMP TABLE dredge_stage (ws DOUBLE, ${b.columns.map((c, d) => `c${d} ${c.kind === 'string' ? 'INTEGER' : 'DOUBLE'}`).join(', ')}${nDims > 0 ? ', ' : ''}sr UTINYINT, dr UTINYINT, flows DOUBLE, packets DOUBLE, bytes DOUBLE)`);
      this.stageShape = shape;
    }
    const appender = await this.con.createAppender('dredge_stage', 'main', 'temp');
    const chunk = DuckDBDataChunk.create(stageTypes, CHUNK_ROWS);
    let sinceYield = 0;
    try {
      for (let base = 0; base < b.rows; base += CHUNK_ROWS) {
        const n = Math.min(CHUNK_ROWS, b.rows - base);
        chunk.rowCount = n;
        const ws = chunk.getColumnVector(0) as DuckDBVector<number>;
        for (let i = 0; i < n; i++) ws.setItem(i, b.windowStart[base + i] as number);
        ws.flush();
        for (let d = 0; d < nDims; d++) {
          const col = b.columns[d]!;
          if (col.kind === 'string') {
            const v = chunk.getColumnVector(1 + d) as DuckDBVector<number>;
            const ids = col.ids;
            for (let i = 0; i < n; i++) v.setItem(i, ids[base + i] as number);
            v.flush();
          } else {
            const v = chunk.getColumnVector(1 + d) as DuckDBVector<number>;
            const vals = col.values;
            for (let i = 0; i < n; i++) {
              const x = vals[base + i] as number;
              v.setItem(i, Number.isNaN(x) ? null : x);
            }
            v.flush();
          }
        }
        const sr = chunk.getColumnVector(1 + nDims) as DuckDBVector<number>;
        const dr = chunk.getColumnVector(2 + nDims) as DuckDBVector<number>;
        for (let i = 0; i < n; i++) {
          sr.setItem(i, b.srcReason[base + i] as number);
          dr.setItem(i, b.dstReason[base + i] as number);
        }
        sr.flush();
        dr.flush();
        const metrics = [b.flows, b.packets, b.bytes];
        for (let m = 0; m < 3; m++) {
          const v = chunk.getColumnVector(3 + nDims + m) as DuckDBVector<number>;
          const a = metrics[m]!;
          for (let i = 0; i < n; i++) v.setItem(i, a[base + i] as number);
          v.flush();
        }
        appender.appendDataChunk(chunk);
        if (base === CHUNK_ROWS) crashPoint('mid-append', this.stats.writes + 1);
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
    const reasons = `[${REASON_NAMES.map((r) => (r === null ? 'NULL' : `'${r}'`)).join(', ')}]`;
    const cols = b.columns.map((c, d) => (c.kind === 'string' ? `dl${lists.get(c.dict)!}.l[s.c${d} + 1]` : `s.c${d}::BIGINT`));
    const from = ['dredge_stage s', ...[...new Set(lists.values())].map((k) => `dredge_list_${k} dl${k}`)].join(', ');
    await this.con.run(`INSERT INTO rollups SELECT make_timestamp(s.ws::BIGINT * 1000000), ${cols.join(', ')}${nDims > 0 ? ', ' : ''}(${reasons})[s.sr + 1], (${reasons})[s.dr + 1], s.flows::BIGINT, s.packets::BIGINT, s.bytes::BIGINT FROM ${from}`);
    await this.con.run('DELETE FROM dredge_stage');
  }

  /**
   * Each string column's dictionary as a one-row temp table holding it as a LIST (rebuilt only when the
   * dictionary grew: the pipeline's is append-only and shared by every column and flush). Runs inside
   * the write's transaction; `dicts` is updated by the caller after COMMIT, so a rolled-back write
   * uploads again. Returns dictionary → table number.
   */
  private async prepareDicts(b: RollupBatch): Promise<Map<readonly (string | null)[], number>> {
    const out = new Map<readonly (string | null)[], number>();
    for (const c of b.columns) {
      if (c.kind !== 'string' || out.has(c.dict)) continue;
      let st = this.dicts.get(c.dict);
      if (st === undefined) {
        // A few dictionaries at a time (the pipeline has one; tests and tools may pass a new one per batch).
        if (this.dicts.size >= 8) {
          const [oldest, old] = this.dicts.entries().next().value as [readonly (string | null)[], DictState];
          this.dicts.delete(oldest);
          await this.con.run(`DROP TABLE IF EXISTS temp.dredge_dict_${old.k}`);
          await this.con.run(`DROP TABLE IF EXISTS temp.dredge_list_${old.k}`);
        }
        st = { k: ++this.dictSeq, uploaded: 0, pending: 0 };
        this.dicts.set(c.dict, st);
        await this.con.run(`CREATE OR REPLACE TEMP TABLE dredge_dict_${st.k} (id INTEGER, s VARCHAR)`);
      }
      out.set(c.dict, st.k);
      const have = c.dict.length;
      if (have === st.uploaded && st.uploaded > 0) continue;
      const app = await this.con.createAppender(`dredge_dict_${st.k}`, 'main', 'temp');
      const chunk = DuckDBDataChunk.create([INTEGER, VARCHAR], CHUNK_ROWS);
      try {
        for (let base = st.uploaded; base < have; base += CHUNK_ROWS) {
          const n = Math.min(CHUNK_ROWS, have - base);
          chunk.rowCount = n;
          const ids = chunk.getColumnVector(0) as DuckDBVector<number>;
          const strs = chunk.getColumnVector(1) as DuckDBVector<string>;
          for (let i = 0; i < n; i++) {
            ids.setItem(i, base + i);
            strs.setItem(i, c.dict[base + i] ?? null);
          }
          ids.flush();
          strs.flush();
          app.appendDataChunk(chunk);
        }
        app.flushSync();
      } finally {
        app.closeSync();
      }
      await this.con.run(`CREATE OR REPLACE TEMP TABLE dredge_list_${st.k} AS SELECT coalesce(list(s ORDER BY id), []) AS l FROM dredge_dict_${st.k}`);
      st.pending = have;
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
