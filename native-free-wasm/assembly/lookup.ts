// The index's batch IPv4 lookup (src/index/lookup.ts IndexView.lookupColumn), compiled to WebAssembly.
// It runs over the generation's own shared memory (layout.ts): the trie, the range blocks and the
// timeline blocks are read in place; the rows come in through a scratch slot of that memory, which
// the calling thread holds for the call (layout.ts SCRATCH_*).
//
// Why WebAssembly: a lookup is a few random reads into ~10 MB. The batch is processed in passes, each
// doing one read per row with nothing depending on it, so the CPU overlaps the rows' cache misses; how
// many it overlaps depends on how few instructions sit between them. TurboFan's loops keep re-checking
// every typed array's map, length and base (measured: a random gather from 9 MiB cost 33 ns per row in
// JS, 10 ns here, 4.6 ns in C), so the same passes run ~3× faster here.
//
// The JS path in lookup.ts (lookupColumnJs) is the same algorithm, kept as the reference: the tests
// run both on the same fixtures.

// Slot layout (ROWS rows; layout.ts SLOT_* writes the same numbers): t f64 | addr u32 | st i32 | tq i32 | out i32 | fam u8.
// A call takes up to ROWS rows (one copy in and out per ROWS: measured 3.9 → 2.0 ns per row for the
// copies from 256 to 1024) and runs the passes over CHUNK rows at a time (what the passes touch stays
// in L1/L2: 128 and 512 measured no better).
const ROWS: usize = 1024;
const CHUNK: i32 = 256;
const T_AT: usize = 0;
const ADDR_AT: usize = 8 * ROWS;
const ST_AT: usize = 12 * ROWS;
const TQ_AT: usize = 16 * ROWS;
const OUT_AT: usize = 20 * ROWS;
const FAM_AT: usize = 24 * ROWS;

const SLOT_NODE: i32 = 1;
const REF_TWO_LINES: i32 = 1;
const TL_COMPACT: i32 = 1 << 30;
const TL_OPEN_START: i32 = 1 << 29;
const TL_COUNT_MASK: i32 = 0xf;
const TL_RESULT_BIAS: i32 = 3;
const SLOT_LIST32: i32 = 3;
const RESULT_UNKNOWN: i32 = -1;
const RESULT_GAP: i32 = -2;
const TL_Q_MIN: i32 = -1073741823; // layout.ts: -TL_KEY_LIM + 1
const TL_Q_MAX: i32 = 1073741823;
/** A row's time key when its time is NaN or +Infinity (past TL_Q_MAX, so no key equals it). */
const TQ_NONE: i32 = 1073741824;
/** Wide timelines up to this many spans are counted with four vector compares; longer ones bisected. */
const COUNT_MAX: i32 = 16;

@inline function ld(base: usize, i: i32): i32 {
  return load<i32>(base + (<usize>i << 2));
}

/** The lanes of v that are ≤ q (all bits set), compared signed (timeline keys) or unsigned (addresses). */
@inline function le(v: v128, q: v128, unsigned: bool): v128 {
  return unsigned ? i32x4.le_u(v, q) : i32x4.le_s(v, q);
}

/** How many of the n (≤ 16) sorted keys from p are ≤ q (the index of the first > q); `unsigned` is a constant at each call, so the choice folds away. Reads 16 keys. */
@inline function countLe(p: usize, n: i32, q: i32, unsigned: bool): i32 {
  const qv = i32x4.splat(q);
  // a bit per lane from each compare, lanes ≥ n masked off in the scalar mask, one popcnt (as countLe16)
  const bits = i32x4.bitmask(le(v128.load(p), qv, unsigned))
    | (i32x4.bitmask(le(v128.load(p, 16), qv, unsigned)) << 4)
    | (i32x4.bitmask(le(v128.load(p, 32), qv, unsigned)) << 8)
    | (i32x4.bitmask(le(v128.load(p, 48), qv, unsigned)) << 12);
  return <i32>popcnt<u32>(<u32>(bits & ((1 << n) - 1)));
}

/** How many of the n (≤ 16) 16-bit keys at p are ≤ q (0 ≤ q ≤ 65535), skipping the first `skip` (0 or 1). Reads 16 bytes, 32 when n > 8 (blocks.ts timelineReach). */
@inline function countLe16(p: usize, n: i32, skip: i32, q: i32): i32 {
  const qv = i16x8.splat(<i16>q);
  const mask = ((1 << n) - 1) & ~skip; // lanes [skip, n)
  let bits = i16x8.bitmask(i16x8.le_u(v128.load(p), qv));
  if (n > 8) bits |= i16x8.bitmask(i16x8.le_u(v128.load(p, 16), qv)) << 8;
  return <i32>popcnt<u32>(<u32>(bits & mask));
}

/** prefix.ts isPublicV4. */
@inline function isPublic(a: u32): bool {
  const o1 = a >>> 24;
  if (o1 == 10 || o1 == 127) return false;
  const o12 = a >>> 16;
  if (o12 >= 0xac10 && o12 <= 0xac1f) return false;
  if (o12 == 0xc0a8 || o12 == 0xa9fe) return false;
  if (o12 >= 0x6440 && o12 <= 0x647f) return false;
  return true;
}

/**
 * Rows [0, n) of the slot at `slot` (n ≤ ROWS): results into the slot's `out` for IPv4 rows; rows
 * whose `fam` is not 4 are left to the caller. Byte offsets of the sections: `nodes` (Int32 trie
 * slots, root at slot index `root`), `tl` (range and timeline blocks),
 * `tlEntry`/`tlStart` (exact starts; used when `fixups`). Returns how many rows were not IPv4; what
 * the touch passes read is stored in the slot's st[0], so the reads are not dead code.
 */
export function lookupV4(nodes: usize, root: i32, tl: usize, tlEntry: usize, tlStart: usize, fixups: i32, origin: f64, slot: usize, n: i32): i32 {
  let others: i32 = 0;
  let x: i32 = 0;
  for (let lo: i32 = 0; lo < n; lo += CHUNK) {
    const m = min(CHUNK, n - lo);
    others += chunk(nodes, root, tl, tlEntry, tlStart, fixups, origin, slot, lo, m);
    x ^= load<i32>(slot + ST_AT + (<usize>lo << 2));
  }
  store<i32>(slot + ST_AT, x);
  return others;
}

/**
 * The passes over rows [lo, lo + n) of the slot (n ≤ CHUNK); what the touch passes read goes to st[lo].
 * Each loop walks one row pointer `p` (slot + 4 × row) and reaches the 4-byte columns at constant
 * offsets from it (ADDR_AT, ST_AT, TQ_AT, OUT_AT: folded into the loads' addressing), so a loop keeps
 * few values live and V8 spills fewer of them.
 */
@inline function chunk(nodes: usize, root: i32, tl: usize, tlEntry: usize, tlStart: usize, fixups: i32, origin: f64, slot: usize, lo: i32, n: i32): i32 {
  let x: i32 = 0;
  let others: i32 = 0;
  const begin = slot + (<usize>lo << 2);
  const end = begin + (<usize>n << 2);
  // 1. trie walk (the root and node slots a batch uses stay cached)
  const rootAt = nodes + (<usize>root << 2);
  let f = slot + FAM_AT + <usize>lo;
  for (let p = begin; p < end; p += 4, f++) {
    if (load<u8>(f) != 4) {
      store<i32>(p, -1, ST_AT);
      others++;
      continue;
    }
    const ip = load<u32>(p, ADDR_AT);
    // root stride 16, then at most two nodes of stride 8 (layout.ts ROOT_STRIDE, NODE_STRIDE): written
    // out, so no inner loop (V8 puts an interrupt check in each iteration) and no variable shift
    // (byte addresses: a node slot's word offset is s >>> 2, so s & ~3 is its byte offset)
    let s = load<i32>(rootAt + (<usize>(ip >>> 16) << 2));
    if ((s & 3) == SLOT_NODE) {
      s = load<i32>(nodes + <usize>(s & ~3) + <usize>((ip >>> 6) & 0x3fc));
      if ((s & 3) == SLOT_NODE) s = load<i32>(nodes + <usize>(s & ~3) + (<usize>(ip & 255) << 2));
    }
    store<i32>(p, s, ST_AT);
  }
  // 1b. time keys, four rows per step (the slot has room past n: ROWS): floor(t) - origin, saturated
  // to i32, clamped to the keys' range; NaN and +Infinity get TQ_NONE (pass 5: a gap)
  const ov = f64x2.splat(origin);
  const inf = f64x2.splat(Infinity);
  const qlo = i32x4.splat(TL_Q_MIN);
  const qhi = i32x4.splat(TL_Q_MAX);
  const none = i32x4.splat(TQ_NONE);
  const t = slot + T_AT + (<usize>lo << 3);
  for (let r = 0; r < n; r += 4) {
    const p = t + (<usize>r << 3);
    const t0 = v128.load(p);
    const t1 = v128.load(p, 16);
    const a = i32x4.trunc_sat_f64x2_s_zero(f64x2.sub(f64x2.floor(t0), ov));
    const b = i32x4.trunc_sat_f64x2_s_zero(f64x2.sub(f64x2.floor(t1), ov));
    const q = i32x4.min_s(i32x4.max_s(i8x16.shuffle(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), qlo), qhi);
    const ok = i8x16.shuffle(f64x2.lt(t0, inf), f64x2.lt(t1, inf), 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    v128.store(begin + (<usize>r << 2), v128.bitselect(q, none, ok), TQ_AT);
  }
  // 2. touch the range blocks: the block, and the timeline placed after it (blocks.ts), as many
  // lines (up to 4; a root list past 31 ranges reaches further: blocks.ts) as they reach into (the
  // slot says). A loop of its own: touching in pass 1 put each row's walk and touch misses in one
  // chain, and with ~40 instructions per row few rows fit the CPU's window (measured: 31 → 20 ns per
  // row for pass 1)
  for (let p = begin; p < end; p += 4) {
    const s = load<i32>(p, ST_AT);
    if ((s & 0x80000002) == 2) { // SLOT_LIST or SLOT_LIST32 (a row that is not IPv4 has -1)
      const bp = tl + (<usize>(s >>> 4) << 3); // the block (its word offset is (s >>> 4) << 1)
      const lines = (s >>> 2) & 3; // less one
      x ^= load<i32>(bp);
      if (lines > 0) x ^= load<i32>(bp, 64);
      if (lines > 1) x ^= load<i32>(bp, 128);
      if (lines > 2) x ^= load<i32>(bp, 192);
    }
  }
  // 3. range block → timeline ref (tl word offset + 1, 0: no prefix covers the address)
  for (let p = begin; p < end; p += 4) {
    const s = load<i32>(p, ST_AT);
    if (s < 0) continue;
    if ((s & 2) == 0) {
      store<i32>(p, s >>> 2, ST_AT); // SLOT_PREFIX: the ref itself
      continue;
    }
    const bp = tl + (<usize>(s >>> 4) << 3);
    const m = load<i32>(bp);
    if ((s & 3) == SLOT_LIST32) {
      // a root slot's block (a /16): [m ≤ 48, starts[m], refs[m]]; the densest (17-48 ranges): two
      // probes pick the 16 starts holding ip's range, one count finishes
      const ip = load<u32>(p, ADDR_AT);
      const seg = m <= 16 ? 0 : <i32>(load<u32>(bp, 4 + 64) <= ip) + <i32>((m > 32) & (load<u32>(bp, 4 + 128) <= ip));
      const k = (seg << 4) + countLe(bp + 4 + (<usize>seg << 6), min(m - (seg << 4), 16), <i32>ip, true);
      store<i32>(p, load<i32>(bp + (<usize>(m + k) << 2)), ST_AT);
      continue;
    }
    // SLOT_LIST, a node's block (a /24): [m ≤ 48, start bytes[m] padded to a word, refs[m]] (layout.ts):
    // its ranges' starts differ in the last byte only; one 16-lane compare counts up to 16, three up to 48
    const qv = i8x16.splat(<i8>load<u8>(p, ADDR_AT)); // little-endian: the address's last byte
    let bits = <u64>i8x16.bitmask(i8x16.le_u(v128.load(bp, 4), qv));
    if (m > 16) bits |= (<u64>i8x16.bitmask(i8x16.le_u(v128.load(bp, 4 + 16), qv)) << 16) | (<u64>i8x16.bitmask(i8x16.le_u(v128.load(bp, 4 + 32), qv)) << 32);
    const k = <i32>popcnt<u64>(bits & ((<u64>1 << <u64>m) - 1)); // ≥ 1: the first start is the block's, byte 0
    store<i32>(p, load<i32>(bp + (<usize>(((m + 3) >> 2) + k) << 2)), ST_AT); // refs[k - 1]
  }
  // a ref is the timeline's word offset + 1 (shifted left by one, with a flag): tlRef + (ref >>> 1) × 4 is its byte address
  const tlRef = tl - 4;
  // 4. touch the timeline blocks' line, or two when the ref says so (blocks of ≤ 32 words never span more: blocks.ts)
  for (let p = begin; p < end; p += 4) {
    const v = load<i32>(p, ST_AT);
    if (v > 0) {
      const bp = tlRef + (<usize>(v >>> 1) << 2);
      x ^= load<i32>(bp);
      if (v & REF_TWO_LINES) x ^= load<i32>(bp, 64);
    }
  }
  // 5. timeline at t (layout.ts): wide [n, prefix, keys[n], results[n]], or compact
  for (let p = begin; p < end; p += 4) {
    const v = load<i32>(p, ST_AT);
    if (v < 0) continue;
    if (v == 0) {
      store<i32>(p, isPublic(load<u32>(p, ADDR_AT)) ? 0 : RESULT_UNKNOWN, OUT_AT);
      continue;
    }
    const q = load<i32>(p, TQ_AT);
    if (q == TQ_NONE) {
      store<i32>(p, RESULT_GAP, OUT_AT); // NaN or +Infinity
      continue;
    }
    const bp = tlRef + (<usize>(v >>> 1) << 2);
    const h = load<i32>(bp);
    if (h & TL_COMPACT) {
      // ≤ 13 16-bit offsets from the base key; an open first span counts whatever q is
      const cn = h & TL_COUNT_MASK;
      const open = (h & TL_OPEN_START) != 0 ? 1 : 0;
      const rq = q - load<i32>(bp, 4);
      const keys = bp + 8;
      const c = open + (rq < 0 ? 0 : countLe16(keys, cn, open, rq > 0xffff ? 0xffff : rq));
      store<i32>(p, c == 0 ? RESULT_GAP : <i32>load<u16>(keys + (<usize>(cn + c - 1) << 1)) - TL_RESULT_BIAS, OUT_AT);
      continue;
    }
    const len = h;
    if (len == 0) {
      store<i32>(p, RESULT_GAP, OUT_AT);
      continue;
    }
    let k: i32;
    if (len <= COUNT_MAX) k = countLe(bp + 8, len, q, false);
    else {
      let base = 0;
      let l = len;
      while (l > 1) {
        const half = l >>> 1;
        base = load<i32>(bp + (<usize>(base + half) << 2), 8) <= q ? base + half : base;
        l -= half;
      }
      k = load<i32>(bp + (<usize>base << 2), 8) <= q ? base + 1 : 0;
    }
    if (fixups) {
      // keys order starts except within t's own second (layout.ts tlKeyOf): the exact starts decide
      const e = ld(tlEntry, load<i32>(bp, 4));
      const time = load<f64>(slot + T_AT + ((p - slot) << 1)); // the row's t: 8 bytes a row
      while (k < len && load<i32>(bp + (<usize>k << 2), 8) == q + 1 && load<f64>(tlStart + (<usize>(e + k) << 3)) <= time) k++;
    }
    store<i32>(p, k == 0 ? RESULT_GAP : load<i32>(bp + (<usize>(len + k) << 2), 4), OUT_AT);
  }
  store<i32>(begin, x, ST_AT);
  return others;
}
