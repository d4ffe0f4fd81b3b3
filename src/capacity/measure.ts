// `dredge capacity`'s measurements, all on the same records (input.ts), in this process, now:
//
//   decode only        FlowDecoder over the bytes, one thread (CloudWatch: gunzip of each envelope included)
//   decode + lookups   the same, plus the two time-aware index lookups (srcaddr, dstaddr) per batch
//   whole engine       Pipeline with N workers and a counting sink: decode, enrich, aggregate, merge,
//                      flush; text in batches cut at line ends (≤ 4 MB, as the file source), envelopes
//                      20 per batch with their record ends (a GetRecords page at 2 MB/s and 5 calls/s)
//   bytes per flow     plain text, gzip text (node:zlib, default level), CloudWatch JSON, CloudWatch gzipped
//   peak RSS           sampled every 20 ms while the engine runs
//
// Single-thread stages repeat until they have run for their share of the budget and keep the best
// pass. The engine runs one untimed warm-up pass (JIT, pool start), flushes, then feeds the batches
// again as many times as fill its share of the budget (the bytes are in shared memory, so a batch can
// be submitted again), and is timed up to the last flush's acknowledgement.

import { performance } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';
import type { RollupBatch } from '../aggregate/rollups.js';
import { Pipeline, type RawBatch } from '../daemon/pipeline.js';
import type { IndexView } from '../index/lookup.js';
import { FlowDecoder } from '../parse/decoder.js';
import type { FlowBatch } from '../parse/flow-batch.js';
import { decodeWhole } from '../parse/inflate.js';
import type { Sink } from '../sinks/sink.js';
import type { CapacityEncoding, StageNs, StageRates } from './plan.js';
import type { Sample } from './input.js';

/** Counts what arrives, keeps nothing. */
class CountingSink implements Sink {
  readonly name = 'count';
  rows = 0;
  async write(b: RollupBatch): Promise<void> {
    this.rows += b.rows;
  }
  async close(): Promise<void> {}
}

/** Runs `fn` until `minMs` have passed (at least 3 times, at most `maxRuns`); the best run after the first (a warm-up), in ms. */
function best(fn: () => void, minMs: number, maxRuns = 50): number {
  const t0 = performance.now();
  const times: number[] = [];
  while (times.length < 3 || (performance.now() - t0 < minMs && times.length < maxRuns)) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  return Math.min(...times.slice(1));
}

export interface StageResult {
  ns: StageNs;
  rates: StageRates;
  /** Records the decoder found (and malformed lines) in one pass. */
  records: number;
  malformed: number;
  groupsPerFlow: number;
}

/** Peak RSS while the engine runs. */
export class RssSampler {
  peak = 0;
  private timer: NodeJS.Timeout | null = null;
  start(): void {
    this.sample();
    this.timer ??= setInterval(() => this.sample(), 20);
  }
  stop(): void {
    this.sample();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
  sample(): void {
    const r = process.memoryUsage.rss();
    if (r > this.peak) this.peak = r;
  }
}

interface DecodeCounts {
  records: number;
  malformed: number;
}

/** One pass of the single-thread stage over the sample in `encoding`; `lookups` adds the two index lookups per batch. */
function decodePass(s: Sample, encoding: CapacityEncoding, view: IndexView, lookups: boolean): () => DecodeCounts {
  let src = new Int32Array(8192);
  let dst = new Int32Array(8192);
  const onBatch = lookups
    ? (b: FlowBatch): void => {
        if (src.length < b.length) {
          src = new Int32Array(b.capacity);
          dst = new Int32Array(b.capacity);
        }
        view.lookupBatch(b, 'srcaddr', src);
        view.lookupBatch(b, 'dstaddr', dst);
      }
    : (): void => undefined;
  const decoder = new FlowDecoder({ onBatch, onIssue: () => undefined, ...(s.fields !== undefined ? { fields: s.fields } : {}) });
  return () => {
    let records = 0;
    let malformed = 0;
    if (encoding === 'text') {
      const st = decodeWhole(decoder, s.text);
      records = st.records;
      malformed = st.malformed;
    } else {
      for (const e of s.envelopes) {
        const st = decodeWhole(decoder, e);
        records += st.records;
        malformed += st.malformed;
      }
    }
    return { records, malformed };
  };
}

/** Shared-memory batches of the sample: text cut at line ends, or envelopes with their record ends. */
export function engineBatches(s: Sample, encoding: CapacityEncoding, workers: number): RawBatch[] {
  const out: RawBatch[] = [];
  if (encoding === 'text') {
    const bytes = new Uint8Array(new SharedArrayBuffer(s.text.length));
    bytes.set(s.text);
    // ≤ 4 MB as the file source cuts them, and at least 2 batches per worker so a pass keeps all busy.
    const size = Math.max(64 << 10, Math.min(4 << 20, Math.ceil(bytes.length / (2 * workers))));
    for (let at = 0; at < bytes.length; ) {
      let end = Math.min(bytes.length, at + size);
      if (end < bytes.length) {
        const nl = bytes.indexOf(10, end);
        end = nl < 0 ? bytes.length : nl + 1;
      }
      out.push({ bytes: bytes.subarray(at, end), source: 'capacity' });
      at = end;
    }
    return out;
  }
  const PER_BATCH = 20;
  for (let i = 0; i < s.envelopes.length; i += PER_BATCH) {
    const group = s.envelopes.slice(i, i + PER_BATCH);
    const len = group.reduce((a, e) => a + e.length, 0);
    const bytes = new Uint8Array(new SharedArrayBuffer(len));
    const ends = new Uint32Array(group.length);
    let at = 0;
    group.forEach((e, k) => {
      bytes.set(e, at);
      at += e.length;
      ends[k] = at;
    });
    out.push({ bytes, recordEnds: ends, source: 'capacity' });
  }
  return out;
}

export interface EngineResult {
  records: number;
  flowsPerS: number;
  ms: number;
  passes: number;
  groupsPerFlow: number;
}

/** The whole engine: warm-up pass, flush, then timed passes over the same batches until `targetMs`. */
export async function engineRun(o: { view: IndexView; batches: RawBatch[]; workers: number; dimensions: string; fields: string | undefined; targetMs: number; rss: RssSampler }): Promise<EngineResult> {
  const sink = new CountingSink();
  const p = new Pipeline({
    sink,
    index: o.view,
    workers: o.workers,
    dimensions: o.dimensions,
    flushIntervalMs: 10_000,
    // Passes repeat the same start times: no record may count as late (a late record skips aggregation).
    latenessSeconds: 1e9,
    ...(o.fields !== undefined ? { fields: o.fields } : {}),
  });
  o.rss.start();
  try {
    await new Promise((r) => setTimeout(r, 200)); // the threads start: intake, not start-up, is measured
    const tw = performance.now();
    for (const b of o.batches) await p.submit(b);
    await p.drain();
    await p.flush();
    const warmMs = Math.max(1, performance.now() - tw);
    const before = p.stats.records;
    // Rollup rows of one pass over the sample: its distinct groups (later passes merge into the same keys).
    const groupsPerFlow = before > 0 ? sink.rows / before : 0;
    const passes = Math.max(1, Math.min(500, Math.ceil(o.targetMs / warmMs)));
    const t0 = performance.now();
    for (let i = 0; i < passes; i++) for (const b of o.batches) await p.submit(b);
    await p.drain();
    await p.flush();
    const ms = performance.now() - t0;
    const records = p.stats.records - before;
    await p.close();
    return { records, flowsPerS: (records * 1000) / ms, ms, passes, groupsPerFlow };
  } catch (e) {
    await p.abort().catch(() => undefined);
    throw e;
  } finally {
    o.rss.stop();
  }
}

/** Decode, decode + lookups (one thread) and the whole engine (N workers) for one encoding. */
export async function measureEncoding(s: Sample, encoding: CapacityEncoding, o: { view: IndexView; workers: number; dimensions: string; stageMs: number; engineMs: number; rss: RssSampler }): Promise<StageResult> {
  const decode = decodePass(s, encoding, o.view, false);
  const counts = decode();
  const decodeMs = best(decode, o.stageMs);
  const withLookups = decodePass(s, encoding, o.view, true);
  const lookupMs = best(withLookups, o.stageMs);
  const e = await engineRun({ view: o.view, batches: engineBatches(s, encoding, o.workers), workers: o.workers, dimensions: o.dimensions, fields: s.fields, targetMs: o.engineMs, rss: o.rss });
  const n = counts.records;
  const wallNs = 1e9 / e.flowsPerS;
  return {
    ns: { decode: (decodeMs * 1e6) / n, decode_lookups: (lookupMs * 1e6) / n, engine_per_core: wallNs * o.workers, engine_wall: wallNs },
    rates: { decode: (n * 1000) / decodeMs, decode_lookups: (n * 1000) / lookupMs, engine: e.flowsPerS, engine_per_core: e.flowsPerS / o.workers },
    records: n,
    malformed: counts.malformed,
    groupsPerFlow: e.groupsPerFlow,
  };
}

/** Bytes per record of each encoding, on the same records. */
export function bytesPerFlow(s: Sample): { text: number; text_gzip: number; cloudwatch_json: number; cloudwatch_gzip: number } {
  const n = s.records;
  let json = 0;
  let gz = 0;
  for (const e of s.envelopes) {
    gz += e.length;
    json += gunzipSync(e).length;
  }
  return { text: s.text.length / n, text_gzip: s.textGzipBytes / n, cloudwatch_json: json / n, cloudwatch_gzip: gz / n };
}
