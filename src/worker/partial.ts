// Partial: what one worker task returns for one RawBatch: its pre-aggregated groups, already split by
// key partition, plus counters, the bytes behind text-dimension hashes, and the first parse errors.
// It is ONE SharedArrayBuffer, so posting it back shares it (no copy, no structured clone of rows),
// and the merge tasks of every partition read their slice of it in place.
//
// Layout (byte offsets; every section 8-byte aligned):
//   Int32   header[16]        H_* slots below
//   Float64 counters[32]      encode.ts C_* (0..12), then P_* decode counters
//   Int32   partStart[parts+1] rows of partition p are [partStart[p], partStart[p+1])
//   Int32   hashes[rows]
//   Int32   keys[rows * keyWords]
//   Float64 metrics[rows * 5] flows packets bytes unattributed-src unattributed-dst
//   Int32   dict[entries * 4] h0 h1 byteOffset byteLength
//   Uint8   dictBytes[]
//   Uint8   errors[]          UTF-8 JSON: [{"line": n, "reason": "…"}, …] (the first MAX_ERRORS)

import { METRICS, type GroupTable, partitionOf } from '../aggregate/group-table.js';
import { AGG_COUNTERS } from '../aggregate/encode.js';

export const PARTIAL_MAGIC = 0x44525054; // "DRPT"
const H_MAGIC = 0;
const H_KEY_WORDS = 1;
const H_PARTS = 2;
const H_ROWS = 3;
const H_DICT_ENTRIES = 4;
const H_DICT_BYTES = 5;
const H_ERRORS_BYTES = 6;
const HEADER_INTS = 16;
const COUNTERS = 32;

// Decode counters after the aggregation ones.
export const P_RECORDS = AGG_COUNTERS;
export const P_MALFORMED = AGG_COUNTERS + 1;
export const P_HEADER_LINES = AGG_COUNTERS + 2;
export const P_ENVELOPES = AGG_COUNTERS + 3;
export const P_CONTROL_MESSAGES = AGG_COUNTERS + 4;
export const P_BYTES_IN = AGG_COUNTERS + 5;
/** 1 when the input was damaged (truncated gzip or envelope): records before the damage are kept. */
export const P_DAMAGED = AGG_COUNTERS + 6;
/** Lines (or envelope events) the batch held: records, malformed, header and blank lines. */
export const P_LINES = AGG_COUNTERS + 7;
/** Address lookups (a batch's rows, once per address column) that ran in the index's JS path instead of WebAssembly (IndexView.rowsBy). */
export const P_LOOKUPS_JS = AGG_COUNTERS + 8;

export const MAX_ERRORS = 20;

/** Rows per touch-then-add chunk of the merge (PartialView.mergeInto). */
const MERGE_CHUNK = 512;

export interface ParseErrorEntry {
  line: number;
  /** Index of the Kinesis record in its batch (the pipeline names it by sequence number). */
  record?: number;
  reason: string;
}

const align8 = (n: number): number => (n + 7) & ~7;

/** Byte offset of every section (the layout in the module comment), for the writer and the reader alike. */
function layout(kw: number, parts: number, rows: number, dictEntries: number, dictBytes: number) {
  const oCounters = HEADER_INTS * 4;
  const oPart = oCounters + COUNTERS * 8;
  const oHashes = align8(oPart + (parts + 1) * 4);
  const oKeys = align8(oHashes + rows * 4);
  const oMetrics = align8(oKeys + rows * kw * 4);
  const oDict = oMetrics + rows * METRICS * 8;
  const oDictBytes = align8(oDict + dictEntries * 16);
  const oErrors = oDictBytes + dictBytes;
  return { oCounters, oPart, oHashes, oKeys, oMetrics, oDict, oDictBytes, oErrors };
}

/** Writes a partial from a worker's per-batch table, grouping its rows by partition. */
export function writePartial(table: GroupTable, parts: number, counters: Float64Array, dict: { entries: Int32Array; count: number; bytes: Uint8Array; byteLength: number }, errors: readonly ParseErrorEntry[]): SharedArrayBuffer {
  const kw = table.keyWords;
  const rows = table.size;
  const errBytes = errors.length > 0 ? new TextEncoder().encode(JSON.stringify(errors)) : new Uint8Array(0);
  const { oCounters, oPart, oHashes, oKeys, oMetrics, oDict, oDictBytes, oErrors } = layout(kw, parts, rows, dict.count, dict.byteLength);
  const sab = new SharedArrayBuffer(align8(oErrors + errBytes.length));
  const header = new Int32Array(sab, 0, HEADER_INTS);
  header[H_MAGIC] = PARTIAL_MAGIC;
  header[H_KEY_WORDS] = kw;
  header[H_PARTS] = parts;
  header[H_ROWS] = rows;
  header[H_DICT_ENTRIES] = dict.count;
  header[H_DICT_BYTES] = dict.byteLength;
  header[H_ERRORS_BYTES] = errBytes.length;
  new Float64Array(sab, oCounters, COUNTERS).set(counters.subarray(0, COUNTERS));
  // Counting sort of the table's rows by partition, walking the slots in slot order: sequential reads
  // of the table instead of random ones through its insertion order (the row order of a partial does
  // not matter to the merge).
  const partStart = new Int32Array(sab, oPart, parts + 1);
  const hashes = new Int32Array(sab, oHashes, rows);
  const keys = new Int32Array(sab, oKeys, rows * kw);
  const metrics = new Float64Array(sab, oMetrics, rows * METRICS);
  const cap = table.capacity;
  for (let s = 0; s < cap; s++) {
    const h = table.hashAt(s);
    if (h === 0) continue;
    const p = partitionOf(h, parts);
    partStart[p + 1] = (partStart[p + 1] as number) + 1;
  }
  for (let p = 0; p < parts; p++) partStart[p + 1] = (partStart[p + 1] as number) + (partStart[p] as number);
  const fill = partStart.slice(0, parts);
  for (let s = 0; s < cap; s++) {
    const h = table.hashAt(s);
    if (h === 0) continue;
    const p = partitionOf(h, parts);
    const j = fill[p] as number;
    fill[p] = j + 1;
    hashes[j] = h;
    table.copyKey(s, keys, j * kw);
    table.copyMetrics(s, metrics, j * METRICS);
  }
  if (dict.count > 0) {
    new Int32Array(sab, oDict, dict.count * 4).set(dict.entries.subarray(0, dict.count * 4));
    new Uint8Array(sab, oDictBytes, dict.byteLength).set(dict.bytes.subarray(0, dict.byteLength));
  }
  if (errBytes.length > 0) new Uint8Array(sab, oErrors, errBytes.length).set(errBytes);
  return sab;
}

/** Read access to a partial (any thread). */
export class PartialView {
  readonly sab: SharedArrayBuffer;
  readonly keyWords: number;
  readonly parts: number;
  readonly rows: number;
  readonly counters: Float64Array;
  readonly partStart: Int32Array;
  readonly hashes: Int32Array;
  readonly keys: Int32Array;
  readonly metrics: Float64Array;
  readonly dictEntries: Int32Array;
  readonly dictBytes: Uint8Array;
  private readonly errorBytes: Uint8Array;

  constructor(sab: SharedArrayBuffer) {
    const header = new Int32Array(sab, 0, HEADER_INTS);
    if (header[H_MAGIC] !== PARTIAL_MAGIC) throw new TypeError('not a dredge partial');
    this.sab = sab;
    const kw = (this.keyWords = header[H_KEY_WORDS] as number);
    const parts = (this.parts = header[H_PARTS] as number);
    const rows = (this.rows = header[H_ROWS] as number);
    const entries = header[H_DICT_ENTRIES] as number;
    const dictBytes = header[H_DICT_BYTES] as number;
    const errBytes = header[H_ERRORS_BYTES] as number;
    const { oCounters, oPart, oHashes, oKeys, oMetrics, oDict, oDictBytes, oErrors } = layout(kw, parts, rows, entries, dictBytes);
    this.counters = new Float64Array(sab, oCounters, COUNTERS);
    this.partStart = new Int32Array(sab, oPart, parts + 1);
    this.hashes = new Int32Array(sab, oHashes, rows);
    this.keys = new Int32Array(sab, oKeys, rows * kw);
    this.metrics = new Float64Array(sab, oMetrics, rows * METRICS);
    this.dictEntries = new Int32Array(sab, oDict, entries * 4);
    this.dictBytes = new Uint8Array(sab, oDictBytes, dictBytes);
    this.errorBytes = new Uint8Array(sab, oErrors, errBytes);
  }

  errors(): ParseErrorEntry[] {
    if (this.errorBytes.length === 0) return [];
    return JSON.parse(new TextDecoder().decode(this.errorBytes.slice())) as ParseErrorEntry[];
  }

  /**
   * Adds partition p's rows into `table` (the merge step; runs in whichever thread owns the partition).
   * Rows go in chunks whose home slots are touched first: a partition's rows are in hash order, but a
   * few thousand rows over a table of megabytes land kilobytes apart, each its own miss, so the touch
   * lets the misses overlap (merging the e2e partials, one thread, A/B: 183–233 → 120–153 ns a row).
   */
  mergeInto(table: GroupTable, p: number): number {
    const kw = this.keyWords;
    const from = this.partStart[p] as number;
    const to = this.partStart[p + 1] as number;
    const m = this.metrics;
    const hashes = this.hashes;
    let touched = 0;
    for (let c0 = from; c0 < to; c0 += MERGE_CHUNK) {
      const c1 = c0 + MERGE_CHUNK < to ? c0 + MERGE_CHUNK : to;
      touched ^= table.touch(hashes, c0, c1);
      for (let i = c0; i < c1; i++) {
        const o = i * METRICS;
        table.add(this.keys, i * kw, hashes[i] as number, m[o] as number, m[o + 1] as number, m[o + 2] as number, m[o + 3] as number, m[o + 4] as number);
      }
    }
    return touched;
  }
}
