// The engine's main-thread half (DESIGN.md §1, §4, §5): takes RawBatches from sources, dispatches them
// to the worker pool with the current index generation, merges their partials by key partition (in
// the workers), and flushes rollup deltas to the sink every flush interval; checkpoints follow the
// sink's acknowledgement.
//
//   submit(batch) ──▶ aggregate task (worker) ──▶ Partial (shared memory, split by partition)
//                                                   │ pending until the next merge round
//   merge round: one task per partition p ──▶ partials' rows of p → table p (shared GroupTable)
//   flush (timer / close): merge round, swap the tables for empty ones, decode rows → sink.write
//                          → ack → checkpoints of every source up to the batches now flushed
//
// Flow control: at most `maxInFlight` aggregate tasks; `submit` waits while that many are running,
// while unmerged partials exceed two merge rounds' worth, or while a flush is being delivered and the
// tables already hold `maxGroups` groups (a slow sink slows intake instead of growing the heap).
//
// Windows and lateness: a window closes when the watermark (newest `start` seen minus the allowed
// lateness) passes its end. A batch is aggregated against the watermark at its dispatch: records of
// windows already closed then are counted as late (flows, packets, bytes), never silently dropped.
//
// Faults: a batch whose worker dies is run once more (re-read through `RawBatch.reread` when its bytes
// were transferred away) and counted in `retried`; a second failure, or a failed merge task (its
// partition table may be half-updated), fails the pipeline: `close()` rejects, no checkpoint moves
// past what was acknowledged, and a restart resumes from the last checkpoint (at-least-once).

import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { planKey, type KeyPlan } from '../aggregate/dimensions.js';
import { decodeRows, TextValues } from '../aggregate/decode-rows.js';
import { C_BYTES, C_FLOWS, C_LATE_BYTES, C_LATE_FLOWS, C_LATE_PACKETS, C_MAX_START, C_NO_START, C_NODATA, C_PACKETS, C_SKIPDATA, C_UNATTRIBUTED_DST, C_UNATTRIBUTED_SRC } from '../aggregate/encode.js';
import { GroupTable, type GroupTableHandle } from '../aggregate/group-table.js';
import { SideProjector, ValueDictionary } from '../aggregate/projection.js';
import type { RollupBatch } from '../aggregate/rollups.js';
import { DredgeError } from '../errors.js';
import type { IndexView } from '../index/lookup.js';
import type { CheckpointStore, Sink, SourcePosition } from '../sinks/sink.js';
import { P_BYTES_IN, P_CONTROL_MESSAGES, P_DAMAGED, P_ENVELOPES, P_LINES, P_LOOKUPS_JS, P_MALFORMED, P_RECORDS, PartialView, type ParseErrorEntry } from '../worker/partial.js';
import type { HeartbeatCandidates } from '../worker/heartbeats.js';
import type { AggregateResult, AggregateTask, EnrichResult, EnrichTask, MergeTask, TaskContext } from '../worker/tasks.js';

export interface RawBatch {
  /** The batch's bytes (plain, gzip or CloudWatch envelopes). An ArrayBuffer-backed array is transferred (detached here); a SharedArrayBuffer-backed one is shared. */
  bytes: Uint8Array;
  /** The position reached once this batch is flushed (checkpointed after the sink's ack). */
  position?: SourcePosition;
  /** Name used in error reports (a file path, a shard id). Batches of one source share it. */
  source?: string;
  /** Fetches the same bytes again (after a worker died holding them). */
  reread?: () => Promise<Uint8Array>;
  /** Lines at the head of `bytes` that are not the source's own (a repeated header line). */
  prefixLines?: number;
  /**
   * Kinesis: the end offset of each record in `bytes`. Each record is decoded on its own, so a damaged
   * one is counted and skipped and the others kept; `recordIds` (sequence numbers) name it in errors.
   * A batch with no bytes only moves its source's position (a shard's SHARD_END).
   */
  recordEnds?: Uint32Array;
  recordIds?: readonly string[];
}

export interface PipelineOptions {
  sink: Sink;
  index: IndexView;
  dimensions?: string;
  keepPorts?: readonly number[];
  windowSeconds?: number;
  latenessSeconds?: number;
  flushIntervalMs?: number;
  workers?: number;
  /** Fixed flow-log format (`--fields`); default: header lines, else v2. */
  fields?: string;
  maxInFlight?: number;
  partitions?: number;
  /** Unmerged partial rows that start a merge round. */
  mergeRows?: number;
  /** Groups the tables may hold while a flush is being delivered before intake waits. */
  maxGroups?: number;
  checkpoints?: CheckpointStore;
  /** 'window' (default): rollups. 'none': every flow enriched, to `Sink.writeFlows`. */
  rollup?: 'window' | 'none';
  /** Receives each batch's heartbeat candidates (worker/heartbeats.ts); unset: none are collected. */
  onHeartbeats?: (c: HeartbeatCandidates) => void;
}

export interface BatchError {
  source: string;
  /** Line (or envelope event) in the source, counting from 1; 0 when the whole batch was damaged. */
  line: number;
  reason: string;
}

export interface PipelineStats {
  batches: number;
  bytesIn: number;
  records: number;
  flows: number;
  packets: number;
  bytes: number;
  malformed: number;
  /** CloudWatch envelopes decoded, and the CONTROL_MESSAGE ones among them (no records). */
  envelopes: number;
  controlMessages: number;
  nodata: number;
  skipdata: number;
  noStart: number;
  late: { flows: number; packets: number; bytes: number };
  unattributedSrc: number;
  unattributedDst: number;
  /** Address lookups (once per flow side) that ran in the index's JS path, 3-7× slower than its WebAssembly. */
  lookupsJs: number;
  damagedBatches: number;
  retried: number;
  /** Sink writes tried again after a retriable error. */
  sinkRetries: number;
  flushes: number;
  rowsFlushed: number;
  merges: number;
  generation: number;
  /** Batch latency, dispatch → partial merged (ms), and dispatch → flush acknowledged (ms). */
  batchLatencyMs: number[];
  flushDelayMs: number[];
}

/** Every counter at zero (a fresh pipeline's stats). */
export function emptyPipelineStats(): PipelineStats {
  return {
    batches: 0,
    bytesIn: 0,
    records: 0,
    flows: 0,
    packets: 0,
    bytes: 0,
    malformed: 0,
    envelopes: 0,
    controlMessages: 0,
    nodata: 0,
    skipdata: 0,
    noStart: 0,
    late: { flows: 0, packets: 0, bytes: 0 },
    unattributedSrc: 0,
    unattributedDst: 0,
    lookupsJs: 0,
    damagedBatches: 0,
    retried: 0,
    sinkRetries: 0,
    flushes: 0,
    rowsFlushed: 0,
    merges: 0,
    generation: 0,
    batchLatencyMs: [],
    flushDelayMs: [],
  };
}

interface Entry {
  source: string;
  recordIds: readonly string[] | undefined;
  /** Late flows, packets, bytes of this batch (records for windows closed at its dispatch). */
  late: [number, number, number];
  position: SourcePosition | undefined;
  dispatchedAt: number;
  state: 0 | 1 | 2; // 0 in flight, 1 partial received, 2 merged
  lines: number;
  prefixLines: number;
  bytesIn: number;
  errors: ParseErrorEntry[];
}

const MAX_REPORTED_ERRORS = 100;
const LATENCY_SAMPLES = 100_000;

export class Pipeline {
  readonly plan: KeyPlan;
  readonly windowSeconds: number;
  readonly latenessSeconds: number;
  readonly workers: number;
  readonly parts: number;
  readonly rollup: 'window' | 'none';
  private pendingFlows: Uint8Array[] = [];
  private readonly onHeartbeats: ((c: HeartbeatCandidates) => void) | undefined;
  private readonly pool: Piscina;
  private readonly sink: Sink;
  private readonly checkpoints: CheckpointStore | undefined;
  private readonly dict = new ValueDictionary();
  private readonly projector: SideProjector;
  private readonly text: TextValues;
  private ctx: TaskContext;
  private readonly maxInFlight: number;
  private readonly mergeRows: number;
  private readonly maxGroups: number;
  private inFlight = 0;
  private readonly inFlightDone = new Set<Promise<void>>();
  private tables: GroupTable[];
  private spare: GroupTable[] | null = null;
  private pending: { view: PartialView; entry: Entry }[] = [];
  private pendingRows = 0;
  private merging: Promise<void> | null = null;
  private swapping = false;
  private flushing: Promise<void> | null = null;
  private flushSeq = 0;
  private maxStart = -Infinity;
  private readonly perSource = new Map<string, { entries: Entry[]; line: number; flushed: SourcePosition | undefined }>();
  private waiters: (() => void)[] = [];
  private fatal: Error | null = null;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  readonly errors: BatchError[] = [];
  readonly stats: PipelineStats = emptyPipelineStats();

  constructor(opts: PipelineOptions) {
    this.plan = planKey(opts.dimensions, opts.keepPorts);
    this.windowSeconds = opts.windowSeconds ?? 60;
    this.latenessSeconds = opts.latenessSeconds ?? 600;
    if (!(this.windowSeconds >= 1) || !Number.isInteger(this.windowSeconds)) throw new DredgeError('DREDGE_ERR_CONFIG', `--window must be a whole number of seconds ≥ 1, got ${this.windowSeconds}`);
    if (!(this.latenessSeconds >= 0)) throw new DredgeError('DREDGE_ERR_CONFIG', `--lateness must be ≥ 0, got ${this.latenessSeconds}`);
    this.workers = opts.workers ?? Math.max(1, availableParallelism());
    if (!Number.isInteger(this.workers) || this.workers < 1) throw new DredgeError('DREDGE_ERR_CONFIG', `--workers must be a positive integer, got ${opts.workers}`);
    this.parts = opts.partitions ?? this.workers;
    this.maxInFlight = opts.maxInFlight ?? this.workers * 2;
    this.mergeRows = opts.mergeRows ?? 1 << 19;
    this.maxGroups = opts.maxGroups ?? 4_000_000;
    this.sink = opts.sink;
    this.rollup = opts.rollup ?? 'window';
    this.onHeartbeats = opts.onHeartbeats;
    if (this.rollup === 'none' && this.sink.writeFlows === undefined) throw new DredgeError('DREDGE_ERR_CONFIG', `--rollup none needs a sink that takes enriched flows; the ${this.sink.name} sink takes rollups only`);
    this.checkpoints = opts.checkpoints;
    this.projector = new SideProjector(this.plan, this.dict);
    this.text = new TextValues(this.dict);
    this.ctx = this.contextFor(opts.index, opts.fields);
    this.tables = this.newTables();
    this.pool = new Piscina({
      filename: new URL('../worker/entry.cjs', import.meta.url).href,
      minThreads: this.workers,
      maxThreads: this.workers,
      idleTimeout: 60_000,
    });
    this.timer = setInterval(() => {
      if (!this.closed && this.fatal === null) this.flush().catch(() => undefined);
    }, opts.flushIntervalMs ?? 10_000);
    this.timer.unref();
  }

  private newTables(): GroupTable[] {
    return Array.from({ length: this.parts }, () => new GroupTable(this.plan.keyWords, 4096, true));
  }

  private contextFor(index: IndexView, fields: string | undefined): TaskContext {
    const { projSrc, projDst } = this.projector.project(index);
    const prev = this.ctx as TaskContext | undefined;
    this.stats.generation = index.generation;
    return {
      plan: this.plan,
      windowSeconds: this.windowSeconds,
      parts: this.parts,
      ...(fields !== undefined ? { fields } : prev?.fields !== undefined ? { fields: prev.fields } : {}),
      generationId: (prev?.generationId ?? 0) + 1,
      heartbeats: this.onHeartbeats !== undefined,
      index: index.memory,
      projSrc,
      projDst,
    };
  }

  /** Batches dispatched from now on are enriched with this generation; batches in flight keep theirs. */
  setIndex(index: IndexView): void {
    this.ctx = this.contextFor(index, undefined);
  }

  /** The error that stopped the pipeline, or null while it runs (readiness checks). */
  get failure(): Error | null {
    return this.fatal;
  }

  /** The index generation batches are dispatched with now, and its size. */
  get index(): { generation: number; bytes: number } {
    return { generation: this.stats.generation, bytes: this.ctx.index.buffer.byteLength };
  }

  /** Newest flow `start` seen minus the allowed lateness (the index's retention counts back from it). */
  get watermark(): number {
    return this.maxStart - this.latenessSeconds;
  }

  /** Waits for room (flow control), then dispatches the batch. Rejects once the pipeline failed. */
  async submit(batch: RawBatch): Promise<void> {
    if (this.closed) throw new DredgeError('DREDGE_ERR_INTERNAL', 'Pipeline.submit after close()');
    while (this.fatal === null && !this.hasRoom()) await new Promise<void>((r) => this.waiters.push(r));
    if (this.fatal !== null) throw this.fatal;
    this.dispatch(batch);
  }

  private hasRoom(): boolean {
    if (this.inFlight >= this.maxInFlight) return false;
    if (this.pendingRows >= this.mergeRows * 2) return false;
    if (this.flushing !== null) {
      let groups = 0;
      for (const t of this.tables) groups += t.size;
      if (groups >= this.maxGroups) return false;
    }
    return true;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private dispatch(batch: RawBatch): void {
    const source = batch.source ?? batch.position?.key ?? '-';
    let ps = this.perSource.get(source);
    if (ps === undefined) {
      ps = { entries: [], line: 0, flushed: undefined };
      this.perSource.set(source, ps);
    }
    const entry: Entry = { source, recordIds: batch.recordIds, late: [0, 0, 0], position: batch.position, dispatchedAt: performance.now(), state: 0, lines: 0, prefixLines: batch.prefixLines ?? 0, bytesIn: batch.bytes.length, errors: [] };
    ps.entries.push(entry);
    if (batch.bytes.length === 0) {
      // Nothing to decode: the position moves once the batches before it are flushed.
      entry.state = 2;
      return;
    }
    this.stats.batches++;
    this.inFlight++;
    const done = this.runBatch(batch, entry, this.ctx, this.closedBefore(), false).finally(() => {
      this.inFlight--;
      this.inFlightDone.delete(done);
      this.wake();
    });
    this.inFlightDone.add(done);
  }

  private closedBefore(): number {
    if (this.maxStart === -Infinity) return -2147483648;
    return Math.floor((this.maxStart - this.latenessSeconds) / this.windowSeconds);
  }

  private async runBatch(batch: RawBatch, entry: Entry, ctx: TaskContext, closedBefore: number, retry: boolean): Promise<void> {
    let bytes = batch.bytes;
    const recordEnds = batch.recordEnds;
    const task: AggregateTask | EnrichTask = this.rollup === 'none' ? { kind: 'enrich', ctx, bytes, ...(recordEnds !== undefined ? { recordEnds } : {}) } : { kind: 'aggregate', ctx, bytes, closedBefore, ...(recordEnds !== undefined ? { recordEnds } : {}) };
    let transfer: ArrayBuffer[] = [];
    if (!(bytes.buffer instanceof SharedArrayBuffer)) {
      // Transfer needs the whole buffer; a view of part of a larger one is copied once (sources that
      // care hand over exactly-sized buffers).
      if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength) {
        bytes = bytes.slice();
        task.bytes = bytes;
      }
      transfer = [bytes.buffer as ArrayBuffer];
    }
    let sab: SharedArrayBuffer | AggregateResult | EnrichResult;
    try {
      sab = (await this.pool.run(task, { transferList: transfer })) as SharedArrayBuffer | AggregateResult | EnrichResult;
    } catch (e) {
      if (retry || this.fatal !== null) return this.fail(new DredgeError('DREDGE_ERR_WORKER', `a worker failed twice on a batch of ${entry.source}: ${(e as Error).message}`));
      this.stats.retried++;
      let again: Uint8Array;
      if (batch.bytes.buffer instanceof SharedArrayBuffer) again = batch.bytes;
      else if (batch.bytes.byteLength > 0 && batch.bytes !== bytes) again = batch.bytes; // the copy went, the original stayed
      else if (batch.reread !== undefined) again = await batch.reread();
      else return this.fail(new DredgeError('DREDGE_ERR_WORKER', `a worker died holding a batch of ${entry.source} that cannot be re-read (no RawBatch.reread): ${(e as Error).message}`));
      return this.runBatch({ ...batch, bytes: again }, entry, ctx, closedBefore, true);
    }
    if (sab instanceof SharedArrayBuffer) this.receive(new PartialView(sab), entry);
    else if ('partial' in sab) {
      this.receive(new PartialView(sab.partial), entry);
      if (this.onHeartbeats !== undefined && sab.heartbeats.count > 0) this.onHeartbeats(sab.heartbeats);
    } else this.receiveFlows(sab, entry);
  }

  private receiveFlows(r: EnrichResult, entry: Entry): void {
    const s = this.stats;
    s.bytesIn += entry.bytesIn;
    s.records += r.records;
    s.malformed += r.malformed;
    s.flows += r.flows;
    s.packets += r.packets;
    s.bytes += r.bytes;
    s.nodata += r.nodata;
    s.unattributedSrc += r.unSrc;
    s.unattributedDst += r.unDst;
    s.lookupsJs += r.lookupsJs;
    if (r.damaged) s.damagedBatches++;
    if (r.maxStart > this.maxStart) this.maxStart = r.maxStart;
    entry.lines = r.lines - entry.prefixLines;
    entry.errors = r.errors;
    entry.state = 2;
    if (r.text.length > 0) this.pendingFlows.push(r.text);
  }

  private fail(e: Error): void {
    if (this.fatal === null) this.fatal = e;
    this.wake();
  }

  private receive(view: PartialView, entry: Entry): void {
    const c = view.counters;
    const s = this.stats;
    s.bytesIn += c[P_BYTES_IN] as number;
    s.records += c[P_RECORDS] as number;
    s.malformed += c[P_MALFORMED] as number;
    s.envelopes += c[P_ENVELOPES] as number;
    s.controlMessages += c[P_CONTROL_MESSAGES] as number;
    s.flows += c[C_FLOWS] as number;
    s.packets += c[C_PACKETS] as number;
    s.bytes += c[C_BYTES] as number;
    s.nodata += c[C_NODATA] as number;
    s.skipdata += c[C_SKIPDATA] as number;
    s.noStart += c[C_NO_START] as number;
    entry.late = [c[C_LATE_FLOWS] as number, c[C_LATE_PACKETS] as number, c[C_LATE_BYTES] as number];
    s.late.flows += entry.late[0];
    s.late.packets += entry.late[1];
    s.late.bytes += entry.late[2];
    s.unattributedSrc += c[C_UNATTRIBUTED_SRC] as number;
    s.unattributedDst += c[C_UNATTRIBUTED_DST] as number;
    s.lookupsJs += c[P_LOOKUPS_JS] as number;
    if ((c[P_DAMAGED] as number) !== 0) s.damagedBatches++;
    const maxStart = c[C_MAX_START] as number;
    if (maxStart > this.maxStart) this.maxStart = maxStart;
    entry.lines = (c[P_LINES] as number) - entry.prefixLines;
    if (c[P_MALFORMED] !== 0 || c[P_DAMAGED] !== 0) entry.errors = view.errors();
    // Text-dimension values: a handful per partial.
    const de = view.dictEntries;
    if (de.length > 0) {
      const td = new TextDecoder();
      for (let i = 0; i < de.length; i += 4) {
        const off = de[i + 2] as number;
        this.text.add(de[i] as number, de[i + 1] as number, td.decode(view.dictBytes.slice(off, off + (de[i + 3] as number))));
      }
    }
    entry.state = 1;
    this.pending.push({ view, entry });
    this.pendingRows += view.rows;
    this.maybeMerge();
  }

  /** Starts a merge round when enough partial rows wait and none is running (also after each round). */
  private maybeMerge(): void {
    if (this.pendingRows >= this.mergeRows && this.merging === null && this.fatal === null && !this.swapping) void this.mergeRound().catch((e: unknown) => this.fail(e as Error));
  }

  /**
   * Partials whose every earlier batch of the same source has arrived. Only those are merged, so the
   * tables (and so every flush) hold exactly a prefix of each source's batches: the positions a flush
   * names then cover every row in it and no other, which is what lets the DuckDB sink commit rows and
   * checkpoints together. A partial that overtook a slower earlier batch waits in `pending`.
   */
  private takeReady(): { view: PartialView; entry: Entry }[] {
    const ready = new Set<Entry>();
    for (const ps of this.perSource.values()) {
      for (const e of ps.entries) {
        if (e.state === 0) break;
        ready.add(e);
      }
    }
    const take: { view: PartialView; entry: Entry }[] = [];
    const keep: { view: PartialView; entry: Entry }[] = [];
    let keptRows = 0;
    for (const p of this.pending) {
      if (ready.has(p.entry)) take.push(p);
      else {
        keep.push(p);
        keptRows += p.view.rows;
      }
    }
    this.pending = keep;
    this.pendingRows = keptRows;
    return take;
  }

  /** Merges every ready partial (takeReady) into the partition tables (one task per partition, in parallel). */
  private mergeRound(): Promise<void> {
    if (this.merging !== null) return this.merging.then(() => (this.pending.length > 0 ? this.mergeRound() : undefined));
    const batch = this.takeReady();
    if (batch.length === 0) return Promise.resolve();
    const partials = batch.map((b) => b.view.sab);
    const round = Promise.all(
      this.tables.map((t, p) => {
        const task: MergeTask = { kind: 'merge', partition: p, table: t.toHandle(), partials };
        return this.pool.run(task) as Promise<GroupTableHandle>;
      }),
    ).then(
      (handles) => {
        this.tables = handles.map((h) => GroupTable.fromHandle(h));
        this.stats.merges++;
        const now = performance.now();
        for (const b of batch) {
          b.entry.state = 2;
          if (this.stats.batchLatencyMs.length < LATENCY_SAMPLES) this.stats.batchLatencyMs.push(now - b.entry.dispatchedAt);
        }
        this.merging = null;
        // Partials that arrived during this round may already be enough for the next one; without
        // this, intake could wait on a merge nobody starts.
        this.maybeMerge();
        this.wake();
      },
      (e: unknown) => {
        this.merging = null;
        throw new DredgeError('DREDGE_ERR_WORKER', `a merge task failed; partition tables may be incomplete, so nothing more is flushed (restart resumes from the last checkpoint): ${(e as Error).message}`);
      },
    );
    this.merging = round;
    return round;
  }

  /**
   * Merges what has arrived, hands the rows accumulated since the last flush to the sink, waits for
   * its acknowledgement, then saves the positions those rows cover. One flush at a time.
   */
  flush(): Promise<void> {
    if (this.flushing !== null) return this.flushing.then(() => this.flush());
    const run = this.flushNow().finally(() => {
      this.flushing = null;
      this.wake();
    });
    this.flushing = run;
    return run;
  }

  private async flushNow(): Promise<void> {
    if (this.fatal !== null) throw this.fatal;
    // No new rounds start on their own until the tables are swapped: under sustained intake a round
    // ends with enough partials waiting for the next, and the flush would wait behind them forever.
    this.swapping = true;
    try {
      await this.mergeRound();
      while (this.merging !== null) await this.merging;
      if (this.fatal !== null) throw this.fatal;
      await this.deliverFlush();
    } finally {
      if (this.swapping) {
        this.swapping = false;
        this.maybeMerge();
      }
    }
  }

  /** The swap and the delivery of one flush (flushNow holds merges off until the swap is done). */
  private async deliverFlush(): Promise<void> {
    // Positions covered: per source, the prefix of batches that are merged.
    const positions: SourcePosition[] = [];
    const flushedEntries: Entry[] = [];
    for (const ps of this.perSource.values()) {
      let moved = false;
      while (ps.entries.length > 0 && (ps.entries[0] as Entry).state === 2) {
        const e = ps.entries.shift() as Entry;
        for (const err of e.errors) {
          if (this.errors.length >= MAX_REPORTED_ERRORS) break;
          if (err.record !== undefined) this.errors.push({ source: e.source, line: 0, reason: `record ${e.recordIds?.[err.record] ?? `#${err.record + 1}`}: ${err.reason}` });
          else this.errors.push({ source: e.source, line: err.line === 0 ? 0 : ps.line + err.line - e.prefixLines, reason: err.reason });
        }
        ps.line += e.lines;
        if (e.position !== undefined) {
          ps.flushed = e.position;
          moved = true;
        }
        flushedEntries.push(e);
      }
      if (moved && ps.flushed !== undefined) positions.push(ps.flushed);
    }
    if (this.rollup === 'none') {
      const chunks = this.pendingFlows;
      this.pendingFlows = [];
      if (chunks.length === 0 && positions.length === 0) return;
      const flush = { seq: ++this.flushSeq, chunks, positions };
      await this.deliver(() => (this.sink.writeFlows as NonNullable<Sink['writeFlows']>).call(this.sink, flush));
      this.stats.flushes++;
      if (this.checkpoints !== undefined && positions.length > 0) await this.checkpoints.save(positions);
      return;
    }
    // The tables hold exactly the batches in `flushedEntries` (takeReady merges prefixes only).
    const taken = this.tables;
    this.tables = this.spare ?? this.newTables();
    this.spare = null;
    this.swapping = false;
    this.maybeMerge();
    const s = this.stats;
    // Late counts travel with the batches they came from, so a flush reports exactly its batches' ones.
    const late = { flows: 0, packets: 0, bytes: 0 };
    for (const e of flushedEntries) {
      late.flows += e.late[0];
      late.packets += e.late[1];
      late.bytes += e.late[2];
    }
    const rollups: RollupBatch = decodeRows(taken, { plan: this.plan, windowSeconds: this.windowSeconds, projector: this.projector, dict: this.dict, text: this.text }, ++this.flushSeq, positions, late);
    for (const t of taken) t.clear();
    this.spare = taken;
    if (rollups.rows === 0 && positions.length === 0 && late.flows === 0) return;
    await this.deliver(() => this.sink.write(rollups));
    s.flushes++;
    s.rowsFlushed += rollups.rows;
    if (this.checkpoints !== undefined && positions.length > 0) await this.checkpoints.save(positions);
    const now = performance.now();
    for (const e of flushedEntries) if (s.flushDelayMs.length < LATENCY_SAMPLES) s.flushDelayMs.push(now - e.dispatchedAt);
  }

  /** Waits until every batch dispatched so far has returned its partial (merge and flush not included). */
  async drain(): Promise<void> {
    while (this.inFlightDone.size > 0) await Promise.all([...this.inFlightDone]);
  }

  /**
   * Hands one flush to the sink: a retriable rejection is tried again (0.2 s, 1 s, 5 s), anything else
   * fails the pipeline. The rows of a flush exist only here once the tables were swapped, so a flush
   * that is given up must stop the run: a later flush would otherwise checkpoint past rows never
   * delivered (with the run stopped, a restart re-reads them from the last checkpoint).
   */
  private async deliver(write: () => Promise<void>): Promise<void> {
    const waits = [200, 1000, 5000];
    for (let attempt = 0; ; attempt++) {
      try {
        await write();
        return;
      } catch (e) {
        const retriable = e instanceof DredgeError && e.retriable;
        if (!retriable || attempt >= waits.length) {
          const err = new DredgeError('DREDGE_ERR_SINK_WRITE', `the ${this.sink.name} sink did not take flush ${this.flushSeq}${retriable ? ` after ${attempt + 1} attempts` : ''}: ${(e as Error).message}. Nothing past the last acknowledged flush was checkpointed; fix the sink and run again to resume.`, { cause: e });
          this.fail(err);
          throw err;
        }
        this.stats.sinkRetries++;
        await new Promise((r) => setTimeout(r, waits[attempt]));
      }
    }
  }

  /** Drains in-flight batches, merges, flushes every open window, and resolves once the sink acknowledged. */
  async close(): Promise<PipelineStats> {
    if (this.closed) throw new DredgeError('DREDGE_ERR_INTERNAL', 'Pipeline.close called twice');
    this.closed = true;
    clearInterval(this.timer);
    try {
      await this.drain();
      if (this.fatal !== null) throw this.fatal;
      await this.flush();
      if (this.fatal !== null) throw this.fatal;
      await this.sink.close();
      return this.stats;
    } finally {
      await this.pool.destroy();
    }
  }

  /** Stops the workers without flushing (after a fatal error, or in tests). */
  async abort(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.pool.destroy();
  }

  /** The worker threads (tests use this to kill one mid-batch). */
  get threads(): readonly import('node:worker_threads').Worker[] {
    return this.pool.threads;
  }
}
