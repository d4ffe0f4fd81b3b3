// Hot: guarded by `node dist/bench/run.js index` ("batch lookup" rows, ≥30M IPv4 lookups/s target).
//
// Time-aware longest-prefix lookup `(ip, t) → metadata record id | unattributed reason`, reading a
// frozen generation only (layout.ts), so it runs in any worker that was handed the hot memory.
// No allocation per call: the trie's slots lead to a range block (IPv4 blocks split among several
// prefixes) and then to ONE timeline block, the deepest prefix's flattened timeline (flatten.ts),
// which already says, for every t, what "the longest prefix that has an owner at t" (DESIGN.md §9)
// answers: the walk up the prefix chain was done once at freeze (`resolveChain` is that walk, kept
// as the reference the tests compare with).
//
// The batch form runs in WebAssembly (native-free-wasm/assembly/lookup.ts) over the generation's
// own memory, through a scratch slot; `lookupColumnJs` is the same algorithm in JS, the fallback when
// no slot is free, and the reference the tests compare with.
//
// Results (Int32, what the batch form writes):
//   ≥ 0               a metadata record id (0 is `internet`: a public address no prefix covers;
//                     AWS ranges are ordinary records `aws:<service>:<region>`)
//   RESULT_UNKNOWN    no prefix covers this (non-public) address
//   RESULT_GAP        covered, but nobody owned it at t (or not yet known at t)
//   RESULT_CONFLICT   evidence for t disagrees
//   RESULT_NO_ADDRESS the address field was `-`

import { DredgeError } from '../errors.js';
import type { FlowBatch } from '../parse/flow-batch.js';
import { compactPrefix, F_CUTOFF, F_KNOWN_UNTIL, F_NEWEST_TIME, F_TL_ORIGIN, H_BYTE_LENGTH, H_GENERATION, H_INTERVALS, H_META_RECORDS, H_PREFIXES, H_V4_PREFIXES, H_V4_ROOT, H_V6_ROOT, hotMemory, LOOKUP_CHUNK, openViews, REF_TWO_LINES, SCRATCH_FLAGS_BYTES, SCRATCH_SLOTS, scratchAt, SLOT_ADDR, SLOT_BYTES, SLOT_FAM, SLOT_LIST, SLOT_LIST32, SLOT_NODE, SLOT_OUT, SLOT_PREFIX, SLOT_ROWS, SLOT_T, TL_COMPACT, TL_COUNT_MASK, TL_OPEN_START, TL_RESULT_BIAS, tlQueryOf, type Views } from './layout.js';
import { MetaReader } from './meta.js';
import { lookupWasm, type LookupExports } from './wasm/load.js';

export const RESULT_UNKNOWN = -1;
export const RESULT_GAP = -2;
export const RESULT_CONFLICT = -3;
export const RESULT_NO_ADDRESS = -4;

export const REASONS: Readonly<Record<number, string>> = {
  [RESULT_UNKNOWN]: 'unknown',
  [RESULT_GAP]: 'gap',
  [RESULT_CONFLICT]: 'conflict',
  [RESULT_NO_ADDRESS]: 'no-address',
};

/** Which batch lookup an IndexView runs: 'wasm' (default; JS when no scratch slot is free) or 'js' (always). */
export type LookupEngine = 'wasm' | 'js';

/** One scratch slot's views (layout.ts SLOT_*), made once per view and slot. */
interface SlotViews {
  at: number;
  t: Float64Array;
  addr: Uint32Array;
  fam: Uint8Array;
  out: Int32Array;
}

/** A frozen generation opened for lookups. Construct once per generation per thread (it only creates views and a small WebAssembly instance). */
export class IndexView {
  readonly v: Views;
  readonly generation: number;
  readonly prefixCount: number;
  readonly v4PrefixCount: number;
  readonly intervalCount: number;
  readonly metaCount: number;
  private readonly nodes: Int32Array;
  private readonly v4Root: number;
  private readonly v6Root: number;
  /** The tl section read as bytes (range blocks' start bytes) and as Uint16 (compact timelines). */
  private readonly tlB: Uint8Array;
  private readonly tlH: Uint16Array;
  private readonly v6Start: Uint32Array;
  private readonly v6Ref: Int32Array;
  private readonly v6Lists: Int32Array;
  private readonly pfxTl: Int32Array;
  private readonly tl: Int32Array;
  private readonly tlEntry: Int32Array;
  private readonly tlStart: Float64Array;
  private readonly tlOrigin: number;
  private metaReader: MetaReader | null = null;
  private readonly engine: LookupEngine;
  /** The WebAssembly lookup over this generation's memory (made on first batch; null: JS only). */
  private wasm: LookupExports | null | undefined = undefined;
  private readonly slotFlags: Int32Array;
  private readonly slots: (SlotViews | undefined)[] = [];
  /** Per-row scratch of the JS batch form (grown, never per call). */
  private scratch = new Int32Array(0);
  /** What the JS touch stage read (kept so the reads are not dead code). */
  private touched = 0;
  /** Rows looked up by each engine (for tests and the benchmark: which path ran). */
  readonly rowsBy = { wasm: 0, js: 0 };

  /**
   * `hot` is the generation's hot part: the shared WebAssembly.Memory a freeze or a load made (what a
   * worker gets), or a buffer holding the hot part, which is copied into a new memory. `cold` is its
   * explain data, which only the thread that froze or loaded the generation has (layout.ts); a view
   * without it looks up but cannot explain.
   */
  constructor(hot: WebAssembly.Memory | SharedArrayBuffer | ArrayBuffer, cold: ArrayBuffer | SharedArrayBuffer | null = null, opts: { engine?: LookupEngine } = {}) {
    const v = openViews(hot instanceof WebAssembly.Memory ? hot : hotMemory(new Uint8Array(hot)), cold);
    this.v = v;
    this.engine = opts.engine ?? 'wasm';
    this.generation = v.header[H_GENERATION] as number;
    this.prefixCount = v.header[H_PREFIXES] as number;
    this.v4PrefixCount = v.header[H_V4_PREFIXES] as number;
    this.intervalCount = v.header[H_INTERVALS] as number;
    this.metaCount = v.header[H_META_RECORDS] as number;
    this.nodes = v.nodes;
    this.v4Root = v.header[H_V4_ROOT] as number;
    this.v6Root = v.header[H_V6_ROOT] as number;
    this.tlB = new Uint8Array(v.tl.buffer, v.tl.byteOffset, v.tl.byteLength);
    this.tlH = new Uint16Array(v.tl.buffer, v.tl.byteOffset, v.tl.length * 2);
    this.v6Start = v.v6Start;
    this.v6Ref = v.v6Ref;
    this.v6Lists = v.v6Lists;
    this.pfxTl = v.pfxTl;
    this.tl = v.tl;
    this.tlEntry = v.tlEntry;
    this.tlStart = v.tlStart;
    this.tlOrigin = v.f64[F_TL_ORIGIN] as number;
    this.slotFlags = new Int32Array(v.sab, scratchAt(v.header[H_BYTE_LENGTH] as number), SCRATCH_SLOTS);
  }

  /** The hot part: what a worker needs to look up (pipelines hand this to the pool). */
  get memory(): WebAssembly.Memory {
    return this.v.memory as WebAssembly.Memory;
  }

  /** The hot part's buffer (a SharedArrayBuffer: the layout, then the scratch slots). */
  get buffer(): SharedArrayBuffer | ArrayBuffer {
    return this.v.sab;
  }

  /** Bytes of this generation as held here: the hot memory plus the explain data when this view has it. */
  get byteLength(): number {
    return this.v.sab.byteLength + (this.v.cold?.byteLength ?? 0);
  }

  /** Whether this view has the explain data (the cold buffer). */
  get explainable(): boolean {
    return this.v.cold !== null;
  }

  /** Both parts as one byte array, as `index.bin` holds them (the hot layout, then cold). */
  fileBytes(): Uint8Array {
    const cold = this.v.cold;
    if (cold === null) throw new DredgeError('DREDGE_ERR_INDEX', 'this index view has no explain data (a worker\'s view): write the index from the thread that built or loaded it');
    const hotBytes = this.v.header[H_BYTE_LENGTH] as number;
    const out = new Uint8Array(hotBytes + cold.byteLength);
    out.set(new Uint8Array(this.v.sab, 0, hotBytes), 0);
    out.set(new Uint8Array(cold), hotBytes);
    return out;
  }

  /** Newest evidence time seen when frozen; the retention cutoff; the time up to which events are assumed complete. */
  get newestTime(): number {
    return this.v.f64[F_NEWEST_TIME] as number;
  }
  get cutoff(): number {
    return this.v.f64[F_CUTOFF] as number;
  }
  get knownUntil(): number {
    return this.v.f64[F_KNOWN_UNTIL] as number;
  }

  /** The metadata table (decoded lazily, strings cached per view). */
  get meta(): MetaReader {
    if (this.metaReader === null) this.metaReader = new MetaReader(this.v.meta);
    return this.metaReader;
  }

  /** Timeline ref (layout.ts) of the deepest prefix covering an IPv4 address (uint32); 0 none. */
  refV4(ip: number): number {
    return slotRef(this.tl, this.tlB, v4Slot(this.nodes, this.v4Root, ip), ip);
  }

  /** Timeline ref of the deepest prefix covering an IPv6 address (four big-endian uint32 words); 0 none. */
  refV6(w0: number, w1: number, w2: number, w3: number): number {
    const nodes = this.nodes;
    let s = nodes[this.v6Root + (w0 >>> 16)] as number;
    let bit = 16; // bits consumed
    while ((s & 3) === SLOT_NODE) {
      const w = bit < 32 ? w0 : bit < 64 ? w1 : bit < 96 ? w2 : w3;
      const byte = (w >>> (24 - (bit & 31))) & 255;
      bit += 8;
      s = nodes[(s >>> 2) + byte] as number;
    }
    if ((s & 3) !== SLOT_LIST) return s >>> 2;
    const li = s >>> 2;
    let lo = this.v6Lists[li] as number;
    let hi = (this.v6Lists[li + 1] as number) - 1;
    const st = this.v6Start;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const m4 = mid * 4;
      const a0 = st[m4] as number;
      let le: boolean;
      if (a0 !== w0) le = a0 < w0;
      else {
        const a1 = st[m4 + 1] as number;
        if (a1 !== w1) le = a1 < w1;
        else {
          const a2 = st[m4 + 2] as number;
          le = a2 !== w2 ? a2 < w2 : (st[m4 + 3] as number) <= w3;
        }
      }
      if (le) lo = mid;
      else hi = mid - 1;
    }
    return this.v6Ref[lo] as number;
  }

  /** Deepest prefix id covering an IPv4 address (uint32), or -1. */
  deepestV4(ip: number): number {
    return this.prefixOf(this.refV4(ip >>> 0));
  }

  /** Deepest prefix id covering an IPv6 address (four big-endian uint32 words), or -1. */
  deepestV6(w0: number, w1: number, w2: number, w3: number): number {
    return this.prefixOf(this.refV6(w0, w1, w2, w3));
  }

  private prefixOf(ref: number): number {
    if (ref === 0) return -1;
    const b = (ref >>> 1) - 1;
    const h = this.tl[b] as number;
    return (h & TL_COMPACT) !== 0 ? compactPrefix(h) : (this.tl[b + 1] as number); // layout.ts: compact header, or wide [n, prefix, …]
  }

  /** Prefix p's flattened timeline at t: what the prefix chain answers at t (p = -1: none covers). */
  resolve(p: number, t: number, publicIfUncovered: boolean): number {
    return this.resolveRef(p < 0 ? 0 : (this.pfxTl[p] as number), t, publicIfUncovered);
  }

  /** The timeline block `ref` names, at t (ref 0: no prefix covers the address). */
  resolveRef(ref: number, t: number, publicIfUncovered: boolean): number {
    if (ref === 0) return publicIfUncovered ? 0 : RESULT_UNKNOWN;
    return timelineAt(this.tl, this.tlH, (ref >>> 1) - 1, tlQueryOf(t, this.tlOrigin), t, this.tlEntry, this.tlStart);
  }

  /** Reference: from the deepest covering prefix, the first one with an own interval containing t. */
  resolveChain(p: number, t: number, publicIfUncovered: boolean): number {
    if (p < 0) return publicIfUncovered ? 0 : RESULT_UNKNOWN;
    if (this.v.cold === null) throw new DredgeError('DREDGE_ERR_INDEX', 'resolveChain needs the explain data, which this view (opened from the hot buffer alone) does not have');
    const ivAt = this.v.pfxIv;
    const parent = this.v.pfxParent;
    const iv = this.v.iv;
    while (p >= 0) {
      let lo = ivAt[p] as number;
      let hi = (ivAt[p + 1] as number) - 1;
      if (lo <= hi && (iv[3 * lo] as number) <= t) {
        while (lo < hi) {
          const mid = (lo + hi + 1) >>> 1;
          if ((iv[3 * mid] as number) <= t) lo = mid;
          else hi = mid - 1;
        }
        if (t < (iv[3 * lo + 1] as number)) return iv[3 * lo + 2] as number;
      }
      p = parent[p] as number;
    }
    return RESULT_GAP;
  }

  lookupV4(ip: number, t: number): number {
    ip >>>= 0;
    return this.resolveRef(this.refV4(ip), t, isPublicV4Fast(ip));
  }

  lookupV6(w0: number, w1: number, w2: number, w3: number, t: number): number {
    if (w0 === 0 && w1 === 0 && w2 === 0xffff) return this.lookupV4(w3, t);
    return this.resolveRef(this.refV6(w0, w1, w2, w3), t, isPublicV6Fast(w0, w1, w2, w3));
  }

  /** IPv6 from 16 bytes at b[at..]. */
  lookupV6Bytes(b: Uint8Array, at: number, t: number): number {
    return this.lookupV6(word(b, at), word(b, at + 4), word(b, at + 8), word(b, at + 12), t);
  }

  /**
   * Batch form: rows [0, n) of an address column (FlowBatch layout: `fam` 4/6/0, IPv4 in `addr`,
   * IPv6 bytes at v6[addr*16]) at times `t` → `out` (results as above). Caller owns `out`.
   * IPv4 rows run in WebAssembly when this view's engine is 'wasm' and a scratch slot is free, else
   * in JS (lookupColumnJs); the two give the same results. IPv6 and address-less rows run in JS.
   */
  lookupColumn(addr: Uint32Array, fam: Uint8Array, v6: Uint8Array, t: Float64Array, n: number, out: Int32Array): void {
    const ex = this.engine === 'wasm' ? this.wasmExports() : null;
    const si = ex === null ? -1 : this.takeSlot();
    if (si < 0) {
      this.lookupColumnJs(addr, fam, v6, t, n, out);
      return;
    }
    try {
      const sv = this.slotViews(si);
      const hasFixups = this.tlStart.length > 0 ? 1 : 0;
      const v = this.v;
      const base = v.nodes.byteOffset;
      let others = 0;
      for (let lo = 0; lo < n; lo += SLOT_ROWS) {
        const m = Math.min(SLOT_ROWS, n - lo);
        // memcpy (TypedArray#set) at the price of a subarray object per array and call: element
        // loops cost 8-11 ns per row here, more than the lookup's slowest pass.
        sv.addr.set(addr.subarray(lo, lo + m));
        sv.fam.set(fam.subarray(lo, lo + m));
        sv.t.set(t.subarray(lo, lo + m));
        others += (ex as LookupExports).lookupV4(base, this.v4Root, v.tl.byteOffset, v.tlEntry.byteOffset, v.tlStart.byteOffset, hasFixups, this.tlOrigin, sv.at, m);
        out.set(sv.out.subarray(0, m), lo); // rows that are not IPv4 are overwritten below
      }
      this.rowsBy.wasm += n;
      this.lookupOthers(addr, fam, v6, t, n, out, others);
    } finally {
      Atomics.store(this.slotFlags, si, 0);
    }
  }

  /** lookupColumn in JS: the same passes as the WebAssembly lookup (native-free-wasm/assembly/lookup.ts), one function per pass. */
  lookupColumnJs(addr: Uint32Array, fam: Uint8Array, v6: Uint8Array, t: Float64Array, n: number, out: Int32Array): void {
    // Staged over the batch: each stage does one memory read per row and rows are independent, so the
    // CPU can overlap their cache misses, where a row-at-a-time walk waits for every miss of its
    // dependent chain in turn. Each stage is its own small function: one function holding all the
    // loops was OSR-compiled and deoptimized again on every call (--trace-deopt).
    if (this.scratch.length < n) this.scratch = new Int32Array(Math.max(n, 2 * this.scratch.length));
    const st = this.scratch;
    const others = stageTrie(this.nodes, this.v4Root, addr, fam, st, n);
    for (let lo = 0; lo < n; lo += LOOKUP_CHUNK) {
      const hi = Math.min(n, lo + LOOKUP_CHUNK);
      stageRanges(this.tl, this.tlB, addr, st, lo, hi);
      this.touched ^= touchTimelines(this.tl, st, lo, hi);
      stageTimeline(this.tl, this.tlH, this.tlEntry, this.tlStart, this.tlOrigin, addr, t, st, lo, hi, out);
    }
    this.lookupOthers(addr, fam, v6, t, n, out, others);
    this.rowsBy.js += n;
  }

  /** The batch's `others` rows that are not IPv4: IPv6 ones looked up one at a time, the rest RESULT_NO_ADDRESS. */
  private lookupOthers(addr: Uint32Array, fam: Uint8Array, v6: Uint8Array, t: Float64Array, n: number, out: Int32Array, others: number): void {
    for (let r = 0; others > 0 && r < n; r++) {
      const f = fam[r] as number;
      if (f === 4) continue;
      others--;
      out[r] = f === 6 ? this.lookupV6Bytes(v6, (addr[r] as number) * 16, t[r] as number) : RESULT_NO_ADDRESS;
    }
  }

  /** Looks up one address column of a FlowBatch (e.g. 'srcaddr') at each row's `start`. */
  lookupBatch(batch: FlowBatch, column: string, out: Int32Array, timeColumn = 'start'): void {
    const { addr, fam } = batch.addrColumn(column);
    this.lookupColumn(addr, fam, batch.v6, batch.intColumn(timeColumn), batch.length, out);
  }

  private wasmExports(): LookupExports | null {
    if (this.wasm === undefined) this.wasm = lookupWasm(this.memory);
    return this.wasm;
  }

  /** A free scratch slot, taken (compare-and-swap on its flag), or -1 when all are in use. */
  private takeSlot(): number {
    const f = this.slotFlags;
    for (let i = 0; i < SCRATCH_SLOTS; i++) if (Atomics.compareExchange(f, i, 0, 1) === 0) return i;
    return -1;
  }

  private slotViews(i: number): SlotViews {
    let sv = this.slots[i];
    if (sv === undefined) {
      const at = this.slotFlags.byteOffset + SCRATCH_FLAGS_BYTES + i * SLOT_BYTES;
      const b = this.v.sab;
      sv = { at, t: new Float64Array(b, at + SLOT_T, SLOT_ROWS), addr: new Uint32Array(b, at + SLOT_ADDR, SLOT_ROWS), fam: new Uint8Array(b, at + SLOT_FAM, SLOT_ROWS), out: new Int32Array(b, at + SLOT_OUT, SLOT_ROWS) };
      this.slots[i] = sv;
    }
    return sv;
  }
}

/** Timeline blocks up to this many spans are counted, not bisected (as in lookup.wasm). */
const TL_SCAN = 16;

/** The IPv4 trie slot that is not a node for ip: the root's (stride 16), else a node's below it (stride 8). */
function v4Slot(nodes: Int32Array, root: number, ip: number): number {
  let s = nodes[root + (ip >>> 16)] as number;
  let shift = 16;
  while ((s & 3) === SLOT_NODE) {
    shift -= 8;
    s = nodes[(s >>> 2) + ((ip >>> shift) & 255)] as number;
  }
  return s;
}

/** The timeline ref an IPv4 trie slot that is not a node gives ip (layout.ts): its own, or through its range block. */
function slotRef(tl: Int32Array, tlB: Uint8Array, s: number, ip: number): number {
  const kind = s & 3;
  if (kind === SLOT_PREFIX) return s >>> 2;
  const b = (s >>> 4) << 1;
  const m = tl[b] as number;
  let k = 1; // ranges before ip's: the first start is the block's own, ≤ every ip routed here
  if (kind === SLOT_LIST32) {
    while (k < m && ((tl[b + 1 + k] as number) >>> 0) <= ip) k++;
    return tl[b + m + k] as number;
  }
  // a /24's block (ip's, trie-build.ts): starts are last bytes
  const at = 4 * (b + 1);
  while (k < m && (tlB[at + k] as number) <= (ip & 255)) k++;
  return tl[b + ((m + 3) >> 2) + k] as number;
}

/** Timeline block at word b (layout.ts: wide or compact) at query key q (tlQueryOf(t)) and time t. */
function timelineAt(tl: Int32Array, tlH: Uint16Array, b: number, q: number, t: number, tlEntry: Int32Array, tlStart: Float64Array): number {
  const h = tl[b] as number;
  if (!(t < Infinity)) return RESULT_GAP;
  if ((h & TL_COMPACT) !== 0) {
    // n ≤ TL_COMPACT_MAX 16-bit offsets from the base key; an open first span counts whatever q is
    const n = h & TL_COUNT_MASK;
    const open = (h & TL_OPEN_START) !== 0 ? 1 : 0;
    const rq = q - (tl[b + 1] as number);
    const keys = 2 * (b + 2);
    let k = open;
    if (rq >= 0) for (let i = keys + open, e = keys + n; i < e; i++) k += (tlH[i] as number) <= rq ? 1 : 0;
    return k === 0 ? RESULT_GAP : (tlH[keys + n + k - 1] as number) - TL_RESULT_BIAS;
  }
  const n = h;
  if (n === 0) return RESULT_GAP;
  // k = how many keys are ≤ q: keys [0, base) are, by the bisection; the window's are counted
  let base = 0;
  let len = n;
  while (len > TL_SCAN) {
    const half = len >>> 1;
    base = (tl[b + 2 + base + half] as number) <= q ? base + half : base;
    len -= half;
  }
  let k = base;
  for (let j = b + 2 + base, e = b + 2 + base + len; j < e; j++) k -= ((tl[j] as number) - q - 1) >> 31;
  if (tlStart.length > 0) {
    // keys order starts except within t's own second (layout.ts tlKeyOf): the exact starts decide
    const e = tlEntry[tl[b + 1] as number] as number;
    while (k < n && (tl[b + 2 + k] as number) === q + 1 && (tlStart[e + k] as number) <= t) k++;
  }
  return k === 0 ? RESULT_GAP : (tl[b + 1 + n + k] as number);
}

/** Stage 1: the trie slot of each IPv4 row (its walk through the root and nodes); -1 marks rows that are not IPv4. Returns how many those are. */
function stageTrie(nodes: Int32Array, root: number, addr: Uint32Array, fam: Uint8Array, st: Int32Array, n: number): number {
  let others = 0;
  for (let r = 0; r < n; r++) {
    if (fam[r] !== 4) {
      st[r] = -1;
      others++;
      continue;
    }
    st[r] = v4Slot(nodes, root, addr[r] as number);
  }
  return others;
}

/** Stage 2: slot → timeline ref, through the range block when the slot has one. */
function stageRanges(tl: Int32Array, tlB: Uint8Array, addr: Uint32Array, st: Int32Array, from: number, to: number): void {
  for (let r = from; r < to; r++) {
    const s = st[r] as number;
    if (s < 0) continue;
    st[r] = slotRef(tl, tlB, s, addr[r] as number);
  }
}

/** Stage 3: reads the line or two of each row's timeline block with nothing depending on the reads, so the rows' misses overlap and stage 4 finds its lines in cache. */
function touchTimelines(tl: Int32Array, st: Int32Array, from: number, to: number): number {
  let x = 0;
  const last = tl.length - 1;
  for (let r = from; r < to; r++) {
    const v = st[r] as number;
    if (v <= 0) continue; // 0: no prefix; -1: not IPv4
    const b = (v >>> 1) - 1;
    x ^= tl[b] as number;
    if ((v & REF_TWO_LINES) !== 0) x ^= tl[Math.min(b + 16, last)] as number;
  }
  return x;
}

/** Stage 4: the timeline block at t (IndexView.resolveRef). */
function stageTimeline(tl: Int32Array, tlH: Uint16Array, tlEntry: Int32Array, tlStart: Float64Array, origin: number, addr: Uint32Array, t: Float64Array, st: Int32Array, from: number, to: number, out: Int32Array): void {
  for (let r = from; r < to; r++) {
    const v = st[r] as number;
    if (v < 0) continue;
    if (v === 0) {
      out[r] = isPublicV4Fast(addr[r] as number) ? 0 : RESULT_UNKNOWN;
      continue;
    }
    const time = t[r] as number;
    out[r] = timelineAt(tl, tlH, (v >>> 1) - 1, tlQueryOf(time, origin), time, tlEntry, tlStart);
  }
}

function word(b: Uint8Array, at: number): number {
  return (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0;
}

/** prefix.ts isPublicV4, branch-light for the hot path. */
function isPublicV4Fast(a: number): boolean {
  const o1 = a >>> 24;
  if (o1 === 10 || o1 === 127) return false;
  const o12 = a >>> 16;
  if (o12 >= 0xac10 && o12 <= 0xac1f) return false; // 172.16/12
  if (o12 === 0xc0a8 || o12 === 0xa9fe) return false; // 192.168/16, 169.254/16
  if (o12 >= 0x6440 && o12 <= 0x647f) return false; // 100.64/10
  return true;
}

function isPublicV6Fast(w0: number, w1: number, w2: number, w3: number): boolean {
  if (w0 >>> 25 === 0x7e || w0 >>> 22 === 0x3fa) return false;
  return !(w0 === 0 && w1 === 0 && w2 === 0 && w3 === 1);
}
