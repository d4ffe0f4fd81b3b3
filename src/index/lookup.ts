// Hot: guarded by `node dist/bench/run.js index` ("batch lookup" rows, ≥30M IPv4 lookups/s target).
//
// Time-aware longest-prefix lookup `(ip, t) → metadata record id | unattributed reason`, reading a
// frozen generation only (layout.ts), so it runs in any worker that was handed the SharedArrayBuffer.
// No allocation per call: the per-address work is a few Int32 trie reads, a binary search in a short
// range list, then ONE binary search in the deepest prefix's flattened timeline (flatten.ts), which
// already says, for every t, what "the longest prefix that has an owner at t" (DESIGN.md §9) answers:
// the walk up the prefix chain was done once at freeze (`resolveChain` is that walk, kept as the
// reference the tests compare with).
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
import { F_CUTOFF, F_KNOWN_UNTIL, F_NEWEST_TIME, F_TL_ORIGIN, H_GENERATION, H_INTERVALS, H_META_RECORDS, H_PREFIXES, H_V4_PREFIXES, H_V4_ROOT, H_V6_ROOT, openViews, SLOT_LIST, SLOT_NODE, TL_KEY_LIM, tlQueryOf, type Views } from './layout.js';
import { MetaReader } from './meta.js';

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

/** A frozen generation opened for lookups. Construct once per buffer per thread (it only creates views). */
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
  private readonly v4List: Uint32Array;
  private readonly v4Lists: Int32Array;
  private readonly v6Start: Uint32Array;
  private readonly v6Pfx: Int32Array;
  private readonly v6Lists: Int32Array;
  private readonly pfxTl: Int32Array;
  private readonly tlKey: Int32Array;
  private readonly tlStart: Float64Array;
  private readonly tlOrigin: number;
  private metaReader: MetaReader | null = null;
  /** Per-row scratch of the batch form (grown, never per call). */
  private scratch = new Int32Array(0);
  /** What the touch stage read (kept so the reads are not dead code). */
  private touched = 0;

  /**
   * `buf` is the generation's hot buffer (all a lookup reads); `cold` its explain data, which only the
   * thread that froze or loaded the generation has (layout.ts). A view without it looks up but cannot explain.
   */
  constructor(buf: SharedArrayBuffer | ArrayBuffer, cold: ArrayBuffer | SharedArrayBuffer | null = null) {
    const v = openViews(buf, cold);
    this.v = v;
    this.generation = v.header[H_GENERATION] as number;
    this.prefixCount = v.header[H_PREFIXES] as number;
    this.v4PrefixCount = v.header[H_V4_PREFIXES] as number;
    this.intervalCount = v.header[H_INTERVALS] as number;
    this.metaCount = v.header[H_META_RECORDS] as number;
    this.nodes = v.nodes;
    this.v4Root = v.header[H_V4_ROOT] as number;
    this.v6Root = v.header[H_V6_ROOT] as number;
    this.v4List = v.v4List;
    this.v4Lists = v.v4Lists;
    this.v6Start = v.v6Start;
    this.v6Pfx = v.v6Pfx;
    this.v6Lists = v.v6Lists;
    this.pfxTl = v.pfxTl;
    this.tlKey = v.tlKey;
    this.tlStart = v.tlStart;
    this.tlOrigin = v.f64[F_TL_ORIGIN] as number;
  }

  /** The hot buffer: what a worker needs to look up (pipelines hand this to the pool). */
  get buffer(): SharedArrayBuffer | ArrayBuffer {
    return this.v.sab;
  }

  /** Bytes of this generation as held here: the lookup buffer plus the explain data when this view has it. */
  get byteLength(): number {
    return this.v.sab.byteLength + (this.v.cold?.byteLength ?? 0);
  }

  /** Whether this view has the explain data (the cold buffer). */
  get explainable(): boolean {
    return this.v.cold !== null;
  }

  /** Both buffers as one byte array, as `index.bin` holds them (hot, then cold). */
  fileBytes(): Uint8Array {
    const cold = this.v.cold;
    if (cold === null) throw new DredgeError('DREDGE_ERR_INDEX', 'this index view has no explain data (a worker\'s view): write the index from the thread that built or loaded it');
    const out = new Uint8Array(this.v.sab.byteLength + cold.byteLength);
    out.set(new Uint8Array(this.v.sab), 0);
    out.set(new Uint8Array(cold), this.v.sab.byteLength);
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

  /** Deepest prefix id covering an IPv4 address (uint32), or -1. */
  deepestV4(ip: number): number {
    const nodes = this.nodes;
    let s = nodes[this.v4Root + (ip >>> 16)] as number;
    let shift = 16;
    while ((s & 3) === SLOT_NODE) {
      shift -= 8;
      s = nodes[(s >>> 2) + ((ip >>> shift) & 255)] as number;
    }
    if ((s & 3) !== SLOT_LIST) return (s >>> 2) - 1;
    const li = s >>> 2;
    let lo = this.v4Lists[li] as number;
    let hi = (this.v4Lists[li + 1] as number) - 1;
    const list = this.v4List;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((list[2 * mid] as number) <= ip) lo = mid;
      else hi = mid - 1;
    }
    return (list[2 * lo + 1] as number) - 1;
  }

  /** Deepest prefix id covering an IPv6 address (four big-endian uint32 words), or -1. */
  deepestV6(w0: number, w1: number, w2: number, w3: number): number {
    const nodes = this.nodes;
    let s = nodes[this.v6Root + (w0 >>> 16)] as number;
    let bit = 16; // bits consumed
    while ((s & 3) === SLOT_NODE) {
      const w = bit < 32 ? w0 : bit < 64 ? w1 : bit < 96 ? w2 : w3;
      const byte = (w >>> (24 - (bit & 31))) & 255;
      bit += 8;
      s = nodes[(s >>> 2) + byte] as number;
    }
    if ((s & 3) !== SLOT_LIST) return (s >>> 2) - 1;
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
    return this.v6Pfx[lo] as number;
  }

  /** The deepest covering prefix's flattened timeline at t: what the prefix chain answers at t. */
  resolve(p: number, t: number, publicIfUncovered: boolean): number {
    if (p < 0) return publicIfUncovered ? 0 : RESULT_UNKNOWN;
    const tl = this.pfxTl;
    let base = tl[p] as number;
    const end = tl[p + 1] as number;
    let len = end - base;
    if (len === 0 || !(t < Infinity)) return RESULT_GAP;
    const start = this.tlStart;
    if (start.length > 0) {
      if (!((start[base] as number) <= t)) return RESULT_GAP;
      while (len > 1) {
        const half = len >>> 1;
        base = (start[base + half] as number) <= t ? base + half : base;
        len -= half;
      }
      return this.tlKey[2 * base + 1] as number;
    }
    // exact keys (layout.ts): the last entry whose key ≤ t's
    const key = this.tlKey;
    const tq = tlQueryOf(t, this.tlOrigin);
    if ((key[2 * base] as number) > tq) return RESULT_GAP;
    while (len > 1) {
      const half = len >>> 1;
      base = (key[2 * (base + half)] as number) <= tq ? base + half : base;
      len -= half;
    }
    return key[2 * base + 1] as number;
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
    return this.resolve(this.deepestV4(ip), t, isPublicV4Fast(ip));
  }

  lookupV6(w0: number, w1: number, w2: number, w3: number, t: number): number {
    if (w0 === 0 && w1 === 0 && w2 === 0xffff) return this.lookupV4(w3, t);
    return this.resolve(this.deepestV6(w0, w1, w2, w3), t, isPublicV6Fast(w0, w1, w2, w3));
  }

  /** IPv6 from 16 bytes at b[at..]. */
  lookupV6Bytes(b: Uint8Array, at: number, t: number): number {
    return this.lookupV6(word(b, at), word(b, at + 4), word(b, at + 8), word(b, at + 12), t);
  }

  /**
   * Batch form: rows [0, n) of an address column (FlowBatch layout: `fam` 4/6/0, IPv4 in `addr`,
   * IPv6 bytes at v6[addr*16]) at times `t` → `out` (results as above). Caller owns `out`.
   */
  lookupColumn(addr: Uint32Array, fam: Uint8Array, v6: Uint8Array, t: Float64Array, n: number, out: Int32Array): void {
    // Staged over the whole batch: each stage does one memory read per row and rows are independent,
    // so the CPU can overlap their cache misses, where a row-at-a-time walk waits for every miss of
    // its dependent chain in turn (measured here: 3.3 → ~5.5M lookups/s on 100k prefixes with
    // uniform addresses, a loaded 2-vCPU machine). Each stage is its own small function: one function
    // holding all the loops was OSR-compiled and deoptimized again on every call (--trace-deopt).
    // The timeline stage runs per chunk of TOUCH_CHUNK rows after a touch pass (touchTimelines).
    // Measured slower here, so not done: splitting the binary searches into one stage per probe
    // (1.5×), and a touch pass before the range-list stage as well (~10 %).
    if (this.scratch.length < n) this.scratch = new Int32Array(Math.max(n, 2 * this.scratch.length));
    const st = this.scratch;
    let others = stageRoot(this.nodes, this.v4Root, addr, fam, st, n);
    stageNode(this.nodes, addr, st, n, 8);
    stageNode(this.nodes, addr, st, n, 0);
    stageList(this.v4Lists, this.v4List, addr, st, n);
    for (let lo = 0; lo < n; lo += TOUCH_CHUNK) {
      const hi = Math.min(n, lo + TOUCH_CHUNK);
      this.touched ^= touchTimelines(this.pfxTl, this.tlKey, st, lo, hi);
      stageTimeline(this.pfxTl, this.tlKey, this.tlStart, this.tlOrigin, addr, t, st, lo, hi, out);
    }
    for (let r = 0; others > 0 && r < n; r++) {
      if ((st[r] as number) >= 0) continue;
      others--;
      const f = fam[r] as number;
      out[r] = f === 6 ? this.lookupV6Bytes(v6, (addr[r] as number) * 16, t[r] as number) : RESULT_NO_ADDRESS;
    }
  }

  /** Looks up one address column of a FlowBatch (e.g. 'srcaddr') at each row's `start`. */
  lookupBatch(batch: FlowBatch, column: string, out: Int32Array, timeColumn = 'start'): void {
    const { addr, fam } = batch.addrColumn(column);
    this.lookupColumn(addr, fam, batch.v6, batch.intColumn(timeColumn), batch.length, out);
  }
}

/** Timeline windows up to this many entries are counted, not bisected. */
const TL_SCAN = 16;
/** Rows per touch-then-search chunk: their timelines' lines (~2 per row) stay in L2 in between. */
const TOUCH_CHUNK = 1024;
const TL_Q_MIN = -TL_KEY_LIM + 1;
const TL_Q_MAX = TL_KEY_LIM - 1;

/** Stage 1: root slot of each IPv4 row; -1 marks rows that are not IPv4. Returns how many those are. */
function stageRoot(nodes: Int32Array, root: number, addr: Uint32Array, fam: Uint8Array, st: Int32Array, n: number): number {
  let others = 0;
  for (let r = 0; r < n; r++) {
    if (fam[r] === 4) st[r] = nodes[root + ((addr[r] as number) >>> 16)] as number;
    else {
      st[r] = -1;
      others++;
    }
  }
  return others;
}

/** Stage 2: one level of stride-8 inner nodes. */
function stageNode(nodes: Int32Array, addr: Uint32Array, st: Int32Array, n: number, shift: number): void {
  for (let r = 0; r < n; r++) {
    const s = st[r] as number;
    if (s >= 0 && (s & 3) === SLOT_NODE) st[r] = nodes[(s >>> 2) + (((addr[r] as number) >>> shift) & 255)] as number;
  }
}

/** Stage 3: slot → deepest prefix id + 1 (0 none), through the range list when there is one. */
function stageList(lists: Int32Array, list: Uint32Array, addr: Uint32Array, st: Int32Array, n: number): void {
  for (let r = 0; r < n; r++) {
    const s = st[r] as number;
    if (s < 0) continue;
    if ((s & 3) !== SLOT_LIST) {
      st[r] = s >>> 2;
      continue;
    }
    const ip = addr[r] as number;
    const li = s >>> 2;
    // Last entry whose start ≤ ip; the trip count depends only on the list length and the step is
    // a select, so the loop has no data-dependent branch to mispredict (no measurable gain here yet).
    let base = lists[li] as number;
    let len = (lists[li + 1] as number) - base;
    while (len > 1) {
      const half = len >>> 1;
      base = (list[2 * (base + half)] as number) <= ip ? base + half : base;
      len -= half;
    }
    st[r] = list[2 * base + 1] as number;
  }
}

/**
 * Stage 4a, per chunk of TOUCH_CHUNK rows: reads the first and last key of each row's timeline, with
 * nothing depending on the reads, so all rows' misses overlap and stage 4b finds its lines in cache
 * (the search itself runs too many instructions per row for the CPU to overlap rows' misses).
 */
function touchTimelines(tl: Int32Array, key: Int32Array, st: Int32Array, from: number, to: number): number {
  let x = 0;
  for (let r = from; r < to; r++) {
    const q = st[r] as number;
    if (q <= 0) continue;
    const lo = tl[q - 1] as number;
    const end = tl[q] as number;
    if (end > lo) x ^= (key[2 * lo] as number) ^ (key[2 * end - 2] as number);
  }
  return x;
}

/**
 * Stage 4b: the deepest prefix's flattened timeline at t (IndexView.resolve). Integer keys (layout.ts
 * tlKeyOf) are counted, not bisected: the loads are independent and the count is branch-free, so
 * rows' cache misses overlap (a data-dependent branch per probe serialized them: ~240 → ~50 ns per
 * row in isolation). The exact Float64 start is read only when the next key is in t's own second.
 */
function stageTimeline(tl: Int32Array, key: Int32Array, start: Float64Array, origin: number, addr: Uint32Array, t: Float64Array, st: Int32Array, from: number, to: number, out: Int32Array): void {
  const fixups = start.length > 0; // without Float64 starts the keys alone decide (layout.ts tlStart)
  for (let r = from; r < to; r++) {
    const q = st[r] as number;
    if (q < 0) continue;
    if (q === 0) {
      out[r] = isPublicV4Fast(addr[r] as number) ? 0 : RESULT_UNKNOWN;
      continue;
    }
    const time = t[r] as number;
    const lo = tl[q - 1] as number;
    const end = tl[q] as number;
    if (!(time < Infinity) || lo === end) {
      out[r] = RESULT_GAP;
      continue;
    }
    let tq = Math.floor(time) - origin;
    tq = (tq < TL_Q_MIN ? TL_Q_MIN : tq > TL_Q_MAX ? TL_Q_MAX : tq) | 0;
    let base = lo;
    let len = end - lo;
    while (len > TL_SCAN) {
      const half = len >>> 1;
      base = (key[2 * (base + half)] as number) <= tq ? base + half : base;
      len -= half;
    }
    // entries [lo, k] have key ≤ tq (keys are sorted; key[lo..base) ≤ tq when base moved)
    let k = base - 1;
    for (let j = 2 * base, e = 2 * (base + len); j < e; j += 2) k -= ((key[j] as number) - tq - 1) >> 31;
    if (fixups) while (k + 1 < end && (key[2 * k + 2] as number) === tq + 1 && (start[k + 1] as number) <= time) k++;
    out[r] = k < lo ? RESULT_GAP : (key[2 * k + 1] as number);
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
