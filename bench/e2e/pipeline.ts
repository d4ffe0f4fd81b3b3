// `bench e2e`: the whole engine, end to end, through the worker pool to an in-memory sink (issue #4).
//
// Workload (printed beside every figure): `dredge generate`'s world (20k nested prefixes over 2,000
// apps, churn events) and its seeded traffic: Zipf-skewed talkers, each subnet mostly talking to a few
// peer subnets, ~5% public peers, v2 default format, records in event-time order with up to 5 min of
// delay. The span is chosen so a 1-minute window holds ~2M flows, which gives about one rollup group
// per ten flows for the C reference's key (minute, src app, dst app, protocol, action) — the measured
// ratio is printed. Plain text already in memory (one SharedArrayBuffer), cut into 4 MB batches at
// line ends as the file source does. Full run: 10M records (~1.15 GB); --quick: 1M.
//
// Yardsticks measured in the same run on the same bytes:
//   - a raw byte scan (count '\n' in JS): the CI guard is e2e flows/s ÷ scan lines/s
//   - the C reference (../shared/perf/ref.c) with 1 and 2 threads: the issue's "≥ 0.8× C" reading
// Also: gzip CloudWatch envelopes (500 events each, 10 envelopes per batch like one GetRecords page),
// hdr-histogram p50/p99/p999 of batch latency (dispatch → merged) and of event-to-flush delay
// (dispatch → sink ack), peak RSS, and the main thread's event-loop utilisation.

import { existsSync, mkdirSync, renameSync, writeFileSync, readFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import type { RollupBatch } from '../../src/aggregate/rollups.js';
import { Pipeline } from '../../src/daemon/pipeline.js';
import { IndexBuilder } from '../../src/index/builder.js';
import { parseEvents } from '../../src/index/load/events.js';
import { parseSnapshot } from '../../src/index/load/snapshot.js';
import type { IndexView } from '../../src/index/lookup.js';
import type { Sink } from '../../src/sinks/sink.js';
import { cloudWatchEnvelopes, TrafficGenerator } from '../../src/sources/generator/traffic.js';
import { buildWorld } from '../../src/sources/generator/world.js';
import { countNewlines } from '../parse/common.js';
import { cRefUnavailable, runCRef } from '../perf/c-ref.js';
import type { BenchOptions, GuardResult, ScenarioResult } from '../run.js';

const SEED = 42;
const START = 1763900000;
const FLOWS_PER_WINDOW = 2_000_000;
const DIMENSIONS = 'src.app,dst.app,protocol,action';
/**
 * CI floor: e2e flows/s with 2 workers ÷ raw newline-scan lines/s of the same bytes, same run. Measured
 * 0.10–0.13 on this 2-core machine (BENCHMARKS.md); the floor sits well below so a noisy CI box does
 * not flake, and still catches a pipeline that lost half its speed or serialised onto one thread.
 */
const GUARD_RATIO = 0.04;

/** Counts what arrives, keeps nothing (the in-memory sink of the issue, without per-row objects). */
export class CountingSink implements Sink {
  readonly name = 'count';
  rows = 0;
  flows = 0;
  async write(b: RollupBatch): Promise<void> {
    this.rows += b.rows;
    for (let i = 0; i < b.rows; i++) this.flows += b.flows[i] as number;
  }
  async close(): Promise<void> {}
}

interface Input {
  path: string;
  /** The bytes in a SharedArrayBuffer (what the batches view). */
  bytes: Uint8Array;
  /** Lines/s of the raw newline scan, measured on an ordinary-memory copy (a JS loop over shared memory runs slower) that is then dropped. */
  scanLinesPerS: number;
  records: number;
  view: IndexView;
  cCsv: string;
}

function cacheDir(): string {
  const d = join(tmpdir(), 'dredge-bench');
  mkdirSync(d, { recursive: true });
  return d;
}

/** Generates (once, cached in the temp dir) the flow file, the world, and the C reference's CIDR CSV. */
export function prepare(records: number): Input {
  const span = Math.max(60, Math.round((records / FLOWS_PER_WINDOW) * 60));
  const dir = cacheDir();
  const path = join(dir, `e2e-v2-${records}-${SEED}-${span}.log`);
  const world = buildWorld({ seed: SEED, startTime: START, spanSeconds: span });
  if (!existsSync(path)) {
    const gen = new TrafficGenerator(undefined, { seed: SEED, startTime: START, spanSeconds: span, flowsPerSecond: records / span, maxDelaySeconds: Math.min(300, span) });
    const tmp = `${path}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w');
    for (let done = 0; done < records; ) {
      const n = Math.min(200_000, records - done);
      writeSync(fd, gen.lines(n));
      done += n;
    }
    closeSync(fd);
    renameSync(tmp, path);
  }
  const b = new IndexBuilder({ horizonSeconds: null });
  for (const r of parseSnapshot(world.snapshotCsv, 'snapshot.csv')) b.addSnapshotRow(r);
  for (const e of parseEvents(world.eventsNdjson, 'events.ndjson')) b.addEvent(e);
  const view = b.freeze().view;
  // The C reference reads `cidr,app,account,region,az` (no time): the same prefixes and apps.
  const cCsv = join(dir, `e2e-cidrs-${SEED}-${span}.csv`);
  const lines = world.snapshotCsv.trim().split('\n');
  const head = (lines[0] as string).split(',');
  const ci = head.indexOf('cidr');
  const ai = head.indexOf('app');
  writeFileSync(cCsv, ['cidr,app,account,region,az', ...lines.slice(1).map((l) => {
    const f = l.split(',');
    return `${f[ci]},${f[ai]},123456789012,us-east-1,use1-az1`;
  })].join('\n') + '\n');
  const { bytes, scanLinesPerS } = loadShared(path, records);
  globalThis.gc?.(); // the ordinary copy is unreachable now: peak RSS should show the engine, not two inputs
  return { path, bytes, records, view, cCsv, scanLinesPerS };
}

/** Reads the file, times the raw newline scan on that ordinary copy (best of 3), and returns a shared copy. */
function loadShared(path: string, records: number): { bytes: Uint8Array; scanLinesPerS: number } {
  const file = readFileSync(path);
  let scanMs = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    countNewlines(file);
    scanMs = Math.min(scanMs, performance.now() - t);
  }
  const bytes = new Uint8Array(new SharedArrayBuffer(file.length));
  bytes.set(file);
  return { bytes, scanLinesPerS: (records * 1000) / scanMs };
}

export function batchesOf(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    let end = Math.min(bytes.length, at + size);
    if (end < bytes.length) end = bytes.indexOf(10, end) + 1;
    out.push(bytes.subarray(at, end));
    at = end;
  }
  return out;
}

interface E2E {
  flowsPerS: number;
  flows: number;
  rows: number;
  ms: number;
  mainElu: number;
  batchP: [number, number, number];
  flushP: [number, number, number];
  rssMb: number;
}

export function pct(samples: number[]): [number, number, number] {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3 });
  for (const s of samples) h.recordValue(Math.max(1, Math.round(s * 1000))); // µs
  const r: [number, number, number] = [h.getValueAtPercentile(50) / 1000, h.getValueAtPercentile(99) / 1000, h.getValueAtPercentile(99.9) / 1000];
  h.destroy();
  return r;
}

async function runE2E(view: IndexView, batches: Uint8Array[], workers: number): Promise<E2E> {
  const sink = new CountingSink();
  const p = new Pipeline({ sink, index: view, workers, dimensions: DIMENSIONS, flushIntervalMs: 10_000 });
  await new Promise((r) => setTimeout(r, 200)); // let the threads start: intake, not start-up, is measured
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  for (const b of batches) await p.submit({ bytes: b });
  const s = await p.close();
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  return {
    flowsPerS: (s.flows * 1000) / ms,
    flows: s.flows,
    rows: sink.rows,
    ms,
    mainElu: elu.utilization,
    batchP: pct(s.batchLatencyMs),
    flushP: pct(s.flushDelayMs),
    rssMb: process.resourceUsage().maxRSS / 1024,
  };
}

const f2 = (x: number): string => x.toFixed(2);
const m = (x: number): string => `${(x / 1e6).toFixed(2)}M`;

export async function run(opts: BenchOptions): Promise<ScenarioResult> {
  const records = opts.quick ? 1_000_000 : 10_000_000;
  const input = prepare(records);
  const batches = batchesOf(input.bytes, 4 << 20);
  const scanLinesPerS = input.scanLinesPerS;
  const c1 = runCRef(input.path, input.cCsv, 1, 'full', opts.quick ? 1 : 3);
  const c2 = runCRef(input.path, input.cCsv, 2, 'full', opts.quick ? 1 : 3);
  const rows: Record<string, string | number>[] = [];
  const results = new Map<number, E2E>();
  for (const workers of [1, 2]) {
    const r = await runE2E(input.view, batches, workers);
    results.set(workers, r);
    const c = workers === 1 ? c1 : c2;
    rows.push({
      case: `v2 text, ${workers} worker${workers > 1 ? 's' : ''}`,
      'flows/s': m(r.flowsPerS),
      'vs scan': f2(r.flowsPerS / scanLinesPerS),
      'vs C': c === null ? 'n/a' : f2(r.flowsPerS / c.flowsPerS),
      'groups/flow': f2(r.rows / r.flows),
      'main ELU': `${(r.mainElu * 100).toFixed(0)}%`,
      'batch p50/p99/p999 ms': `${r.batchP.map((x) => x.toFixed(0)).join('/')}`,
      'flush delay p50/p99 ms': `${r.flushP[0].toFixed(0)}/${r.flushP[1].toFixed(0)}`,
      'peak RSS MB': r.rssMb.toFixed(0),
    });
  }
  // gzip CloudWatch envelopes: a slice of the same traffic, 500 events per envelope, 10 per batch.
  const cwRecords = opts.quick ? 200_000 : 2_000_000;
  const text = Buffer.from(input.bytes.subarray(0, input.bytes.indexOf(10, Math.floor((input.bytes.length * cwRecords) / records)) + 1)).toString('latin1');
  const lines = text.split('\n');
  lines.pop();
  const envs = cloudWatchEnvelopes(lines, 500);
  const cwBatches: Uint8Array[] = [];
  for (let i = 0; i < envs.length; i += 10) {
    const group = Buffer.concat(envs.slice(i, i + 10));
    const s = new Uint8Array(new SharedArrayBuffer(group.length));
    s.set(group);
    cwBatches.push(s);
  }
  const gzBytes = cwBatches.reduce((a, b) => a + b.length, 0);
  const cw = await runE2E(input.view, cwBatches, 2);
  rows.push({
    case: 'gzip CloudWatch envelopes, 2 workers',
    'flows/s': m(cw.flowsPerS),
    'vs scan': '-',
    'vs C': '-',
    'groups/flow': f2(cw.rows / cw.flows),
    'main ELU': `${(cw.mainElu * 100).toFixed(0)}%`,
    'batch p50/p99/p999 ms': `${cw.batchP.map((x) => x.toFixed(0)).join('/')}`,
    'flush delay p50/p99 ms': `${cw.flushP[0].toFixed(0)}/${cw.flushP[1].toFixed(0)}`,
    'peak RSS MB': cw.rssMb.toFixed(0),
  });
  const two = results.get(2) as E2E;
  const ratio = two.flowsPerS / scanLinesPerS;
  const guards: GuardResult[] = [
    { name: 'e2e (2 workers) ≥ 0.04 × raw newline scan', ok: ratio >= GUARD_RATIO, detail: `${f2(ratio)} (${m(two.flowsPerS)} flows/s vs ${m(scanLinesPerS)} lines/s scanned)` },
    { name: 'every flow reaches the sink', ok: two.flows === (results.get(1) as E2E).flows && two.flows > 0.98 * records, detail: `${two.flows} flows of ${records} records` },
  ];
  const notes = [
    `workload: ${records} v2 records, ${(input.bytes.length / 1e6).toFixed(0)} MB in memory, ${batches.length} batches of ~4 MB; 20k nested prefixes / 2,000 apps + churn events; dimensions ${DIMENSIONS}, 60 s windows, ~${m(FLOWS_PER_WINDOW)} flows per window`,
    `raw newline scan: ${m(scanLinesPerS)} lines/s; C reference: ${c1 === null ? cRefUnavailable() : `${m(c1.flowsPerS)} flows/s (1 thread), ${c2 === null ? '?' : m(c2.flowsPerS)} (2 threads), ${c1.groups} groups`}`,
    `CloudWatch: ${cwRecords} records in ${envs.length} envelopes, ${(gzBytes / 1e6).toFixed(1)} MB gzipped (${(gzBytes / cwRecords).toFixed(1)} B/flow), inflate included`,
    `target (issue #4): 7M flows/s with 2 workers, i.e. ≥ 0.8× the C reference's 2-thread figure; gzip CloudWatch ≥ 3M flows/s`,
  ];
  return { scenario: 'e2e (pipeline: decode → enrich → aggregate → merge → in-memory sink)', rows, guards, notes };
}
