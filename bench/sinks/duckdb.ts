// `bench duckdb`: the embedded store (issue #6's "Speed").
//
// Workload (printed beside the figures): the e2e benchmark's generated traffic (bench/e2e/pipeline.ts:
// 2,000 apps, 20k nested prefixes, event-time order), run through the real pipeline with the DEFAULT
// dimensions (9: src/dst app, region, az, protocol, dstport, action), so the rollup rows are the ones
// a user's store gets, not synthetic ones. Full: 2M records; --quick: 1M.
//
//   1. Flush throughput: the same RollupBatches written to a fresh DuckDB file by DuckDbSink (one
//      transaction per flush: fact rows with dictionary ids, new dictionary values, checkpoints), by
//      the NDJSON sink, and two yardsticks: DuckDB's floor for the sink's layout (the same fact rows,
//      already in DuckDB, inserted into another persistent table: no JS at all) and the text-table
//      layout the sink replaced (VARCHAR DataChunks through the appender, values built beforehand, and
//      DuckDB's own INSERT … SELECT into such a table). CI guard: sink rows/s ÷ floor rows/s, same run.
//      Plus one report query (top destinations by bytes) over the sink's view and over the text table,
//      so the read cost of the view is on record beside its write speed.
//   2. Read-to-queryable delay: the pipeline with the DuckDB sink and a 2 s flush interval, fed at
//      200k records/s (a stream below capacity); hdr-histogram of dispatch → COMMIT acknowledged per
//      batch. Issue #6: p99 within the flush interval + 2 s (guarded in full runs; --quick prints it).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BIGINT, DuckDBDataChunk, DuckDBInstance, type DuckDBConnection, DuckDBTimestampValue, TIMESTAMP, VARCHAR, type DuckDBValue } from '@duckdb/node-api';
import { DEFAULT_DIMENSIONS, planKey } from '../../src/aggregate/dimensions.js';
import { REASON_NAMES, type RollupBatch } from '../../src/aggregate/rollups.js';
import { Pipeline } from '../../src/daemon/pipeline.js';
import { DuckDbSink, columnName } from '../../src/sinks/duckdb.js';
import { NdjsonSink } from '../../src/sinks/ndjson.js';
import type { Sink } from '../../src/sinks/sink.js';
import { spawn } from 'node:child_process';
import { makeKinesisClient } from '../../src/sources/kinesis/client.js';
import { DruidKinesisSink } from '../../src/sinks/druid.js';
import { batchesOf, pct, prepare } from '../e2e/pipeline.js';
import { createStream } from '../sources/kinesis.js';
import type { BenchOptions, ScenarioResult } from '../run.js';

/**
 * CI floors, both same-run ratios. (1) DuckDbSink rows/s ÷ DuckDB's own INSERT … SELECT of the same fact
 * rows (no JS; DuckDB runs it on every core, the appender on one): measured 0.34–0.90 across quick and
 * full runs under load 1–4 (BENCHMARKS.md), so the floor sits well below. (2) DuckDbSink ÷ the text-table
 * appender path (VARCHAR vectors, one native call per string): measured 3.8–7×. A sink that fell back to
 * per-string vectors, per-value BigInts, row appends or per-row INSERTs fails one or both.
 */
const GUARD_RATIO = 0.15;
const GUARD_VS_TEXT = 2;
const FLUSH_INTERVAL_MS = 2000;
const PACED_RECORDS_PER_S = 200_000;

class KeepSink implements Sink {
  readonly name = 'keep';
  readonly batches: RollupBatch[] = [];
  async write(b: RollupBatch): Promise<void> {
    this.batches.push(b);
  }
  async close(): Promise<void> {}
}

/**
 * The text-table layout, in one fresh file: the naive path (VARCHAR DataChunks through the appender,
 * every JS value built before the clock starts: what the library's documented fast path costs), then
 * DuckDB's own INSERT … SELECT of those rows into a second such table, then the report query on it.
 */
async function textTable(path: string, batches: readonly RollupBatch[], dims: readonly string[]): Promise<{ naiveMs: number; textFloorMs: number; queryMs: number }> {
  const inst = await DuckDBInstance.create(path);
  const con = await inst.connect();
  const kinds = batches[0]!.columns.map((c) => c.kind);
  const types = [TIMESTAMP, ...kinds.map((k) => (k === 'string' ? VARCHAR : BIGINT)), VARCHAR, VARCHAR, BIGINT, BIGINT, BIGINT];
  const ddl = (t: string): string => `CREATE TABLE ${t} (window_start TIMESTAMP, ${dims.map((d, i) => `${columnName(d)} ${kinds[i] === 'string' ? 'VARCHAR' : 'BIGINT'}`).join(', ')}, src_reason VARCHAR, dst_reason VARCHAR, flows BIGINT, packets BIGINT, bytes BIGINT)`;
  await con.run(ddl('rollups'));
  await con.run(ddl('rollups2'));
  const chunks: DuckDBValue[][][] = [];
  for (const b of batches) {
    for (let base = 0; base < b.rows; base += 2048) {
      const n = Math.min(2048, b.rows - base);
      const cols: DuckDBValue[][] = [];
      cols.push(Array.from({ length: n }, (_, i) => new DuckDBTimestampValue(BigInt(b.windowStart[base + i] as number) * 1_000_000n)));
      for (const c of b.columns) cols.push(Array.from({ length: n }, (_, i) => (c.kind === 'string' ? (c.dict[c.ids[base + i] as number] ?? null) : BigInt(c.values[base + i] as number))));
      cols.push(Array.from({ length: n }, (_, i) => REASON_NAMES[b.srcReason[base + i] as number] ?? null));
      cols.push(Array.from({ length: n }, (_, i) => REASON_NAMES[b.dstReason[base + i] as number] ?? null));
      for (const a of [b.flows, b.packets, b.bytes]) cols.push(Array.from({ length: n }, (_, i) => BigInt(a[base + i] as number)));
      chunks.push(cols);
    }
  }
  let t0 = performance.now();
  await con.run('BEGIN');
  const ap = await con.createAppender('rollups');
  for (const cols of chunks) {
    const chunk = DuckDBDataChunk.create(types, cols[0]!.length);
    chunk.setColumns(cols);
    ap.appendDataChunk(chunk);
  }
  ap.flushSync();
  ap.closeSync();
  await con.run('COMMIT');
  const naiveMs = performance.now() - t0;
  t0 = performance.now();
  await con.run('BEGIN');
  await con.run('INSERT INTO rollups2 SELECT * FROM rollups');
  await con.run('COMMIT');
  const textFloorMs = performance.now() - t0;
  const queryMs = await timeQuery(con);
  con.closeSync();
  inst.closeSync();
  return { naiveMs, textFloorMs, queryMs };
}

const DRUID_SHARDS = 4;

/**
 * The Druid sink's flush throughput: the same batches as JSON rows (with row ids, packed into 1 MiB
 * records) to a 4-shard stream on kinesalite, which runs in a CHILD process here so its work does not
 * share the sink's thread. kinesalite applies no shard limits, so this is the sink's own speed; at
 * AWS's 1 MB/s write limit per shard the same bytes need the shard count printed beside it.
 */
async function druidThroughput(batches: readonly RollupBatch[]): Promise<{ ms: number; cpuMs: number; bytes: number; records: number }> {
  const child = spawn(process.execPath, ['-e', "require('kinesalite')({createStreamMs:0}).listen(0,'127.0.0.1',function(){process.stdout.write(String(this.address().port)+'\\n')})"], { stdio: ['ignore', 'pipe', 'inherit'], cwd: new URL('../../..', import.meta.url).pathname });
  try {
    const port = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
      child.once('exit', (c) => reject(new Error(`bench duckdb: kinesalite exited (${c})`)));
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const client = makeKinesisClient({ endpoint, region: 'us-east-1' });
    await createStream(client, 'bench-rollups', DRUID_SHARDS);
    const sink = new DruidKinesisSink({ stream: 'bench-rollups', client });
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (const b of batches) await sink.write(b);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    await sink.close();
    client.destroy();
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000, bytes: sink.stats.put.bytes, records: sink.stats.put.records };
  } finally {
    child.kill();
  }
}

const REPORT_QUERY = 'SELECT dst_app, sum(bytes) AS bytes FROM rollups GROUP BY 1 ORDER BY 2 DESC LIMIT 10';

/** The report query's best of three (the first run warms DuckDB's caches). */
async function timeQuery(con: DuckDBConnection): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await con.runAndReadAll(REPORT_QUERY);
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** DuckDB's floor for the sink's layout: the sink's fact rows, inside DuckDB, into a second table. */
async function factFloor(path: string): Promise<{ floorMs: number; queryMs: number }> {
  const inst = await DuckDBInstance.create(path);
  const con = await inst.connect();
  await con.run('CREATE TABLE facts2 AS SELECT * FROM rollup_facts LIMIT 0');
  const t0 = performance.now();
  await con.run('BEGIN');
  await con.run('INSERT INTO facts2 SELECT * FROM rollup_facts');
  await con.run('COMMIT');
  const floorMs = performance.now() - t0;
  const queryMs = await timeQuery(con);
  con.closeSync();
  inst.closeSync();
  return { floorMs, queryMs };
}

export async function run(opts: BenchOptions): Promise<ScenarioResult> {
  const records = opts.quick ? 1_000_000 : 2_000_000;
  const input = prepare(records);
  const batches = batchesOf(input.bytes, 4 << 20);
  const dims = DEFAULT_DIMENSIONS.split(',');
  const plan = planKey(DEFAULT_DIMENSIONS);
  const dir = mkdtempSync(join(tmpdir(), 'dredge-bench-duckdb-'));
  try {
    // Real rollup rows: the pipeline over the input, flushes kept (one flush at close: all groups).
    const keep = new KeepSink();
    const p = new Pipeline({ sink: keep, index: input.view, workers: 2, dimensions: DEFAULT_DIMENSIONS, flushIntervalMs: 3_600_000 });
    for (const b of batches) await p.submit({ bytes: b, source: 'bench', position: { key: 'bench', value: String(b.byteOffset + b.length) } });
    const st = await p.close();
    const rowsTotal = keep.batches.reduce((n, b) => n + b.rows, 0);

    const sink = await DuckDbSink.open({ path: join(dir, 'sink.duckdb'), plan, windowSeconds: 60 });
    // The pipeline's garbage is not the sink's cost.
    (globalThis as { gc?: () => void }).gc?.();
    let t0 = performance.now();
    for (const b of keep.batches) await sink.write(b);
    const sinkMs = performance.now() - t0;
    await sink.close();

    const nd = new NdjsonSink({ dir: join(dir, 'ndjson') });
    t0 = performance.now();
    for (const b of keep.batches) await nd.write(b);
    const ndMs = performance.now() - t0;
    await nd.close();

    const { floorMs, queryMs } = await factFloor(join(dir, 'sink.duckdb'));
    const druid = await druidThroughput(keep.batches);
    const text = await textTable(join(dir, 'text-table.duckdb'), keep.batches, dims);

    // Read-to-queryable delay with the DuckDB sink in the loop.
    const live = await DuckDbSink.open({ path: join(dir, 'live.duckdb'), plan, windowSeconds: 60 });
    const p2 = new Pipeline({ sink: live, index: input.view, workers: 2, dimensions: DEFAULT_DIMENSIONS, flushIntervalMs: FLUSH_INTERVAL_MS, checkpoints: live.checkpoints });
    t0 = performance.now();
    // Paced like a stream below capacity (a backfill at full speed would only measure the final flush).
    let sent = 0;
    const perByte = records / input.bytes.length;
    for (const b of batches) {
      const due = t0 + (sent * 1000) / PACED_RECORDS_PER_S;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await p2.submit({ bytes: b, source: 'bench', position: { key: 'bench', value: String(b.byteOffset + b.length) } });
      sent += b.length * perByte;
    }
    const st2 = await p2.close();
    const liveMs = performance.now() - t0;
    const delay = pct(st2.flushDelayMs);

    const rate = (ms: number): number => (rowsTotal * 1000) / ms;
    const k = (x: number): string => `${(x / 1e6).toFixed(2)}M`;
    const ratio = rate(sinkMs) / rate(floorMs);
    return {
      scenario: 'duckdb',
      rows: [
        { case: 'DuckDbSink.write (transaction: fact rows with dictionary ids, checkpoints)', rows: rowsTotal, ms: Math.round(sinkMs), 'rows/s': k(rate(sinkMs)) },
        { case: "floor: DuckDB's own INSERT … SELECT of the same fact rows", rows: rowsTotal, ms: Math.round(floorMs), 'rows/s': k(rate(floorMs)) },
        { case: 'text table: VARCHAR DataChunks via appender, values prebuilt', rows: rowsTotal, ms: Math.round(text.naiveMs), 'rows/s': k(rate(text.naiveMs)) },
        { case: "text table: DuckDB's own INSERT … SELECT of the same rows", rows: rowsTotal, ms: Math.round(text.textFloorMs), 'rows/s': k(rate(text.textFloorMs)) },
        { case: `DruidKinesisSink.write: JSON rows with row_id, ${druid.records} records of ≤ 1 MiB, to kinesalite (${DRUID_SHARDS} shards, child process)`, rows: rowsTotal, ms: Math.round(druid.ms), 'rows/s': k(rate(druid.ms)) },
        { case: 'NdjsonSink.write (same batches)', rows: rowsTotal, ms: Math.round(ndMs), 'rows/s': k(rate(ndMs)) },
        { case: `pipeline → DuckDB at ${PACED_RECORDS_PER_S / 1000}k records/s, flush every ${FLUSH_INTERVAL_MS / 1000}s: read → queryable ms p50/p99/p99.9`, rows: st2.rowsFlushed, ms: Math.round(liveMs), 'rows/s': delay.map((x) => x.toFixed(0)).join(' / ') },
      ],
      notes: [
        `druid: ${(druid.bytes / 1e6).toFixed(0)} MB put (${(druid.bytes / rowsTotal).toFixed(0)} B/row); this process's CPU in the writes ${druid.cpuMs.toFixed(0)} ms (${k((rowsTotal * 1000) / druid.cpuMs)} rows/s of sink CPU; the rest of the wall time is kinesalite); at AWS's 1 MB/s write limit per shard, a flush of these rows every 10 s needs ${Math.ceil(druid.bytes / 1e6 / 10)} shards`,
        `report query (top 10 dst_app by bytes, best of 3): ${queryMs.toFixed(0)} ms over the sink's rollups view, ${text.queryMs.toFixed(0)} ms over the text table`,
        `workload: ${records} v2 records (${st.flows} flows), default dimensions (${dims.length}), ${rowsTotal} rollup rows = ${(rowsTotal / st.flows).toFixed(2)} rows/flow in one flush; read→queryable run: ${st2.flushes} flushes, ${k((st2.flows * 1000) / liveMs)} flows/s`,
      ],
      guards: [
        { name: "DuckDbSink rows/s ÷ DuckDB's own insert of the fact rows", ok: ratio >= GUARD_RATIO, detail: `${ratio.toFixed(2)} (floor ${GUARD_RATIO})` },
        { name: 'DuckDbSink rows/s ÷ the text-table appender path', ok: text.naiveMs / sinkMs >= GUARD_VS_TEXT, detail: `${(text.naiveMs / sinkMs).toFixed(1)}× (floor ${GUARD_VS_TEXT}×)` },
        // An absolute time: guarded in full runs only (CI runs --quick on noisy machines; its guards are ratios).
        ...(opts.quick ? [] : [{ name: 'read → queryable p99 ≤ flush interval + 2 s', ok: delay[1] <= FLUSH_INTERVAL_MS + 2000, detail: `p99 ${delay[1].toFixed(0)} ms` }]),
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
