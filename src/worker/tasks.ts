// The two worker tasks (DESIGN.md §1, §4), pure CPU, callable in any thread (the pool's workers, or
// the test's own thread for a reference run):
//
//   aggregate   RawBatch bytes → decode (gunzip, CloudWatch envelope, header lines) → FlowBatch →
//               two time-aware lookups per flow in the generation the batch was dispatched with →
//               pre-aggregate into a typed-array table → a Partial (partial.ts), split by key partition
//   merge       partials' rows of ONE key partition → that partition's shared GroupTable
//
// So the merge scales with workers: partition p of every partial is merged by whichever worker takes
// partition p's merge task, and different partitions merge in parallel (issue #4: one thread merging
// everything capped a tuned JS pass at 4.3M flows/s on two threads).
//
// Per-thread caches: index views by generation id, compiled aggregators by (plan, format), one decoder
// per configuration, one scratch table. Nothing here touches files, sockets or timers.

import { GroupTable, type GroupTableHandle } from '../aggregate/group-table.js';
import type { KeyPlan } from '../aggregate/dimensions.js';
import { aggregatorFor, C_MAX_START, type TextDictionary } from '../aggregate/encode.js';
import { IndexView } from '../index/lookup.js';
import { renderEnriched } from './enrich-task.js';
import { HeartbeatCollector, type HeartbeatCandidates } from './heartbeats.js';
import { FlowDecoder } from '../parse/decoder.js';
import type { FlowBatch } from '../parse/flow-batch.js';
import { decodeWhole } from '../parse/inflate.js';
import type { ParseIssue } from '../parse/scan-text.js';
import { MAX_ERRORS, P_BYTES_IN, P_LINES, P_CONTROL_MESSAGES, P_DAMAGED, P_ENVELOPES, P_HEADER_LINES, P_LOOKUPS_JS, P_MALFORMED, P_RECORDS, PartialView, type ParseErrorEntry, writePartial } from './partial.js';

/** What every aggregate task carries besides its bytes (small; SharedArrayBuffers are shared, not copied). */
export interface TaskContext {
  plan: KeyPlan;
  windowSeconds: number;
  parts: number;
  /** Fixed format (`--fields`), else header lines / v2. */
  fields?: string;
  /** Index generation: a handle to its hot memory (shared) and the side projections made for it. */
  generationId: number;
  index: WebAssembly.Memory;
  projSrc: SharedArrayBuffer;
  projDst: SharedArrayBuffer;
  /** Collect heartbeat candidates for the index builder (heartbeats.ts). */
  heartbeats: boolean;
}

/** An aggregate task's result when heartbeats are collected (else the partial's buffer alone). */
export interface AggregateResult {
  partial: SharedArrayBuffer;
  heartbeats: HeartbeatCandidates;
}

export interface AggregateTask {
  kind: 'aggregate';
  ctx: TaskContext;
  /** The batch's bytes: transferred in (or a view of shared memory). */
  bytes: Uint8Array;
  /** Windows with index < this are closed (the watermark when the batch was dispatched). */
  closedBefore: number;
  /** Kinesis: the end offset of each record in `bytes`; each record is decoded on its own. */
  recordEnds?: Uint32Array;
}

/** `--rollup none`: the same decode and lookups, rendered as enriched JSON lines instead of aggregated. */
export interface EnrichTask {
  kind: 'enrich';
  ctx: TaskContext;
  bytes: Uint8Array;
  recordEnds?: Uint32Array;
}

export interface EnrichResult {
  /** NDJSON bytes in shared memory (posted back without a copy). */
  text: Uint8Array;
  records: number;
  flows: number;
  nodata: number;
  packets: number;
  bytes: number;
  unSrc: number;
  unDst: number;
  malformed: number;
  lines: number;
  maxStart: number;
  /** Address lookups that ran in the index's JS path (partial.ts P_LOOKUPS_JS). */
  lookupsJs: number;
  damaged: boolean;
  errors: ParseErrorEntry[];
}

export interface MergeTask {
  kind: 'merge';
  partition: number;
  table: GroupTableHandle;
  partials: SharedArrayBuffer[];
}

export type Task = AggregateTask | MergeTask | EnrichTask;

// ---- per-thread state -------------------------------------------------------------------------

let views = new Map<number, { view: IndexView; projSrc: Int32Array; projDst: Int32Array }>();
/** One decoder per fixed format (`--fields`, or none), reused batch after batch. */
let decoderFor: { fields: string | undefined; decoder: FlowDecoder } | null = null;
let scratch: GroupTable | null = null;
const counters = new Float64Array(32);
let srcRes = new Int32Array(0);
let dstRes = new Int32Array(0);
let errors: ParseErrorEntry[] = [];
let current: { ctx: TaskContext; closedBefore: number; view: IndexView; projSrc: Int32Array; projDst: Int32Array; enriched: string[] | null; enrichCounts: { flows: number; nodata: number; packets: number; bytes: number; unSrc: number; unDst: number; maxStart: number } } | null = null;

/** Per-task dictionary of text-dimension values: (h0, h1) → bytes, no strings. */
class BytesDictionary implements TextDictionary {
  entries = new Int32Array(64);
  count = 0;
  bytes = new Uint8Array(1024);
  byteLength = 0;
  private readonly seen = new Map<number, number>();

  note(h0: number, h1: number, src: Uint8Array, off: number, len: number): void {
    // One Map probe per text value per row; text dimensions are the rare, slower configuration.
    const k = h0 * 4294967296 + (h1 >>> 0);
    if (this.seen.has(k)) return;
    this.seen.set(k, this.count);
    if ((this.count + 1) * 4 > this.entries.length) {
      const e = new Int32Array(this.entries.length * 2);
      e.set(this.entries);
      this.entries = e;
    }
    if (this.byteLength + len > this.bytes.length) {
      const b = new Uint8Array(Math.max(this.bytes.length * 2, this.byteLength + len));
      b.set(this.bytes);
      this.bytes = b;
    }
    const e = this.count * 4;
    this.entries[e] = h0;
    this.entries[e + 1] = h1;
    this.entries[e + 2] = this.byteLength;
    this.entries[e + 3] = len;
    this.bytes.set(src.subarray(off, off + len), this.byteLength);
    this.byteLength += len;
    this.count++;
  }

  reset(): void {
    this.count = 0;
    this.byteLength = 0;
    this.seen.clear();
  }
}
const dict = new BytesDictionary();
const hb = new HeartbeatCollector();

/** The record being decoded when a batch is a list of Kinesis records, else -1. */
let recordIndex = -1;

function onIssue(issue: ParseIssue): void {
  if (errors.length >= MAX_ERRORS) return;
  const reason = issue.unit === 'event' ? `event ${issue.n}: ${issue.reason}` : issue.reason;
  errors.push(recordIndex < 0 ? { line: issue.n, reason } : { line: 0, record: recordIndex, reason: issue.unit === 'event' ? reason : `line ${issue.n}: ${reason}` });
}

function onBatch(batch: FlowBatch): void {
  const c = current as NonNullable<typeof current>;
  const n = batch.length;
  if (srcRes.length < n) {
    srcRes = new Int32Array(batch.capacity);
    dstRes = new Int32Array(batch.capacity);
  }
  const f = batch.format;
  if (f.indexOf('srcaddr') >= 0) c.view.lookupBatch(batch, 'srcaddr', srcRes);
  else srcRes.fill(-4, 0, n);
  if (f.indexOf('dstaddr') >= 0) c.view.lookupBatch(batch, 'dstaddr', dstRes);
  else dstRes.fill(-4, 0, n);
  if (c.enriched !== null) {
    const r = renderEnriched(batch, c.view, srcRes, dstRes, c.ctx.plan.sideKeys, c.enriched);
    const e = c.enrichCounts;
    e.flows += r.flows;
    e.nodata += r.nodata;
    e.packets += r.packets;
    e.bytes += r.bytes;
    e.unSrc += r.unSrc;
    e.unDst += r.unDst;
    if (f.indexOf('start') >= 0) {
      const st = batch.intColumn('start');
      for (let i = 0; i < n; i++) if ((st[i] as number) > e.maxStart) e.maxStart = st[i] as number;
    }
    return;
  }
  if (c.ctx.heartbeats) hb.collect(batch);
  const agg = aggregatorFor(c.ctx.plan, f, c.ctx.windowSeconds);
  agg(batch, srcRes, dstRes, c.projSrc, c.projDst, scratch as GroupTable, c.closedBefore, counters, dict);
}

function generation(ctx: TaskContext): { view: IndexView; projSrc: Int32Array; projDst: Int32Array } {
  let g = views.get(ctx.generationId);
  if (g === undefined) {
    // Keep the few newest generations: batches in flight may still name an older one.
    if (views.size >= 4) views = new Map([...views].slice(-3));
    g = { view: new IndexView(ctx.index), projSrc: new Int32Array(ctx.projSrc), projDst: new Int32Array(ctx.projDst) };
    views.set(ctx.generationId, g);
  }
  return g;
}

/**
 * Decodes a task's bytes through this thread's decoder, `onBatch` doing the per-batch work. A damaged
 * input keeps what was decoded before the damage; the error is reported, never thrown past the batch
 * (DESIGN.md §9: one bad record is skipped and counted, the rest kept). Returns the decoder's stats,
 * whether the input was damaged, and how many of the task's lookups ran in the index's JS path.
 */
function decodeTask(ctx: TaskContext, bytes: Uint8Array, recordEnds: Uint32Array | undefined): { st: FlowDecoder['stats']; damaged: boolean; lookupsJs: number } {
  const view = (current as NonNullable<typeof current>).view;
  const js0 = view.rowsBy.js;
  return { ...decodeInput(ctx, bytes, recordEnds), lookupsJs: view.rowsBy.js - js0 };
}

/** decodeTask's decoding: whole input, or a Kinesis batch record by record. */
function decodeInput(ctx: TaskContext, bytes: Uint8Array, recordEnds: Uint32Array | undefined): { st: FlowDecoder['stats']; damaged: boolean } {
  if (decoderFor === null || decoderFor.fields !== ctx.fields) decoderFor = { fields: ctx.fields, decoder: new FlowDecoder({ fields: ctx.fields, onBatch, onIssue }) };
  const decoder = decoderFor.decoder;
  if (recordEnds !== undefined) return { st: decodeRecords(decoder, bytes, recordEnds), damaged: false };
  let damaged = false;
  try {
    decodeWhole(decoder, bytes);
  } catch (e) {
    damaged = true;
    if (errors.length < MAX_ERRORS) errors.push({ line: 0, reason: (e as Error).message });
  } finally {
    current = null;
  }
  return { st: decoder.stats, damaged };
}

/**
 * Kinesis batches: every record is its own input (its own gzip member, envelope or lines), so one
 * damaged record is counted as malformed and reported by its index, and the records around it are
 * kept (DESIGN.md §9 "Batches and retries"). Lines of a record continue the lines before the damage.
 */
function decodeRecords(decoder: FlowDecoder, bytes: Uint8Array, ends: Uint32Array): FlowDecoder['stats'] {
  const sum = { ...decoder.stats, encoding: 'empty' as FlowDecoder['stats']['encoding'], records: 0, malformed: 0, headerLines: 0, blankLines: 0, envelopes: 0, controlMessages: 0, events: 0 };
  let start = 0;
  try {
    for (let i = 0; i < ends.length; i++) {
      const end = ends[i] as number;
      recordIndex = i;
      try {
        decodeWhole(decoder, bytes.subarray(start, end));
      } catch (e) {
        sum.malformed++;
        if (errors.length < MAX_ERRORS) errors.push({ line: 0, record: i, reason: (e as Error).message });
      }
      const st = decoder.stats;
      if (st.encoding !== 'empty') sum.encoding = st.encoding;
      sum.records += st.records;
      sum.malformed += st.malformed;
      sum.headerLines += st.headerLines;
      sum.blankLines += st.blankLines;
      sum.envelopes += st.envelopes;
      sum.controlMessages += st.controlMessages;
      sum.events += st.events;
      start = end;
    }
  } finally {
    recordIndex = -1;
    current = null;
  }
  return sum;
}

/** Lines (or envelope events) a decode saw: records, malformed, header and blank lines. */
function linesOf(st: FlowDecoder['stats']): number {
  return st.records + st.malformed + st.headerLines + st.blankLines;
}

/** Runs one aggregate task; returns the Partial's buffer (and the heartbeat candidates when asked). */
export function aggregate(task: AggregateTask): SharedArrayBuffer | AggregateResult {
  const ctx = task.ctx;
  const g = generation(ctx);
  if (scratch === null || scratch.keyWords !== ctx.plan.keyWords) scratch = new GroupTable(ctx.plan.keyWords, 16384);
  scratch.clear();
  dict.reset();
  hb.reset();
  counters.fill(0);
  counters[C_MAX_START] = -Infinity;
  errors = [];
  current = { ctx, closedBefore: task.closedBefore, ...g, enriched: null, enrichCounts: { flows: 0, nodata: 0, packets: 0, bytes: 0, unSrc: 0, unDst: 0, maxStart: -Infinity } };
  const { st, damaged, lookupsJs } = decodeTask(ctx, task.bytes, task.recordEnds);
  counters[P_LOOKUPS_JS] = lookupsJs;
  counters[P_ENVELOPES] = st.envelopes;
  counters[P_CONTROL_MESSAGES] = st.controlMessages;
  counters[P_RECORDS] = st.records;
  counters[P_MALFORMED] = st.malformed;
  counters[P_HEADER_LINES] = st.headerLines;
  counters[P_LINES] = linesOf(st);
  counters[P_BYTES_IN] = task.bytes.length;
  counters[P_DAMAGED] = damaged ? 1 : 0;
  const partial = writePartial(scratch, ctx.parts, counters, dict, errors);
  return ctx.heartbeats ? { partial, heartbeats: hb.export() } : partial;
}

/** Runs one enrich task (`--rollup none`). */
export function enrich(task: EnrichTask): EnrichResult {
  const ctx = task.ctx;
  const g = generation(ctx);
  errors = [];
  const out: string[] = [];
  const counts = { flows: 0, nodata: 0, packets: 0, bytes: 0, unSrc: 0, unDst: 0, maxStart: -Infinity };
  current = { ctx, closedBefore: 0, ...g, enriched: out, enrichCounts: counts };
  const { st, damaged, lookupsJs } = decodeTask(ctx, task.bytes, task.recordEnds);
  const encoded = new TextEncoder().encode(out.join(''));
  const text = new Uint8Array(new SharedArrayBuffer(encoded.length));
  text.set(encoded);
  return { text, records: st.records, ...counts, malformed: st.malformed, lines: linesOf(st), lookupsJs, damaged, errors };
}

/** Runs one merge task: the partition's rows of every partial into its table. Returns the table's new handle. */
export function merge(task: MergeTask): GroupTableHandle {
  const table = GroupTable.fromHandle(task.table);
  for (const sab of task.partials) new PartialView(sab).mergeInto(table, task.partition);
  return table.toHandle();
}

export function runTask(task: Task): SharedArrayBuffer | AggregateResult | GroupTableHandle | EnrichResult {
  return task.kind === 'aggregate' ? aggregate(task) : task.kind === 'merge' ? merge(task) : enrich(task);
}

