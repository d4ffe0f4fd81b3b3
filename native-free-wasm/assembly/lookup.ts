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

// Slot layout (rows per chunk CHUNK; layout.ts writes the same numbers): t f64 | addr u32 | st i32 | tq i32 | out i32 | fam u8
const CHUNK: usize = 256;
const T_AT: usize = 0;
const ADDR_AT: usize = 8 * CHUNK;
const ST_AT: usize = 12 * CHUNK;
const TQ_AT: usize = 16 * CHUNK;
const OUT_AT: usize = 20 * CHUNK;
const FAM_AT: usize = 24 * CHUNK;

const SLOT_NODE: i32 = 1;
const REF_TWO_LINES: i32 = 1;
const TL_COMPACT: i32 = 1 << 30;
const TL_OPEN_START: i32 = 1 << 29;
const TL_COUNT_MASK: i32 = 0xffff;
const TL_RESULT_BIAS: i32 = 3;
const SLOT_LIST: i32 = 2;
const RESULT_UNKNOWN: i32 = -1;
const RESULT_GAP: i32 = -2;
const TL_Q_MIN: f64 = -1073741823; // layout.ts: -TL_KEY_LIM + 1
const TL_Q_MAX: f64 = 1073741823;
/** Blocks up to this many entries are counted with four vector compares; longer ones bisected first. */
const COUNT_MAX: i32 = 16;

@inline function ld(base: usize, i: i32): i32 {
  return load<i32>(base + (<usize>i << 2));
}

/** The lanes of v that are ≤ q (all bits set), compared signed or unsigned (range starts are addresses). */
@inline function le(v: v128, q: v128, unsigned: bool): v128 {
  return unsigned ? i32x4.le_u(v, q) : i32x4.le_s(v, q);
}

/** How many of the `n` (≤ 16) keys from p are ≤ q (keys sorted: the index of the first > q); `unsigned` is a constant at each call, so the choice folds away. */
@inline function countLe(p: usize, n: i32, q: i32, unsigned: bool): i32 {
  const qv = i32x4.splat(q);
  const nv = i32x4.splat(n);
  const lane = i32x4(0, 1, 2, 3);
  const four = i32x4.splat(4);
  // a true lane is -1: subtracting the masks counts them; lanes ≥ n are masked off
  let acc = v128.and(le(v128.load(p), qv, unsigned), i32x4.lt_s(lane, nv));
  const l1 = i32x4.add(lane, four);
  acc = i32x4.add(acc, v128.and(le(v128.load(p, 16), qv, unsigned), i32x4.lt_s(l1, nv)));
  const l2 = i32x4.add(l1, four);
  acc = i32x4.add(acc, v128.and(le(v128.load(p, 32), qv, unsigned), i32x4.lt_s(l2, nv)));
  const l3 = i32x4.add(l2, four);
  acc = i32x4.add(acc, v128.and(le(v128.load(p, 48), qv, unsigned), i32x4.lt_s(l3, nv)));
  return -(i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3));
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
 * Rows [0, n) of the slot at `slot` (n ≤ CHUNK): results into the slot's `out` for IPv4 rows; rows
 * whose `fam` is not 4 are left to the caller. Byte offsets of the sections: `nodes` (Int32 trie
 * slots, root at slot index `root`), `tl` (range and timeline blocks),
 * `tlEntry`/`tlStart` (exact starts; used when `fixups`). Returns how many rows were not IPv4; what
 * the touch passes read is stored in the slot's st[0], so the reads are not dead code.
 */
export function lookupV4(nodes: usize, root: i32, tl: usize, tlEntry: usize, tlStart: usize, fixups: i32, origin: f64, slot: usize, n: i32): i32 {
  let x: i32 = 0;
  let others: i32 = 0;
  const addr = slot + ADDR_AT;
  const st = slot + ST_AT;
  const tq = slot + TQ_AT;
  const t = slot + T_AT;
  // 1. trie walk (the root and node slots a batch uses stay cached)
  for (let r = 0; r < n; r++) {
    const ro = <usize>r << 2;
    if (load<u8>(slot + FAM_AT + <usize>r) != 4) {
      store<i32>(st + ro, -1);
      others++;
      continue;
    }
    const ip = load<u32>(addr + ro);
    let s = ld(nodes, root + <i32>(ip >>> 16));
    let shift: u32 = 16;
    while ((s & 3) == SLOT_NODE) {
      shift -= 8;
      s = ld(nodes, (s >>> 2) + <i32>((ip >>> shift) & 255));
    }
    store<i32>(st + ro, s);
    const q = Math.floor(load<f64>(t + (<usize>r << 3))) - origin;
    store<i32>(tq + ro, <i32>(q < TL_Q_MIN ? TL_Q_MIN : q > TL_Q_MAX ? TL_Q_MAX : q)); // NaN → 0; the time check below decides
  }
  // 2. touch the range blocks: the block, and the timeline placed after it (blocks.ts), as many
  // lines (up to 4) as they reach into (the slot says). A loop of its own: touching in pass 1 put each
  // row's walk and touch misses in one chain, and with ~40 instructions per row few rows fit the
  // CPU's window (measured: 31 → 20 ns per row for pass 1)
  for (let r = 0; r < n; r++) {
    const s = load<i32>(st + (<usize>r << 2));
    if ((s & 3) == SLOT_LIST) {
      const b = (s >>> 4) << 1;
      const lines = (s >>> 2) & 3; // less one
      x ^= ld(tl, b);
      if (lines > 0) x ^= ld(tl, b + 16);
      if (lines > 1) x ^= ld(tl, b + 32);
      if (lines > 2) x ^= ld(tl, b + 48);
    }
  }
  // 3. range block → timeline ref (tl word offset + 1, 0: no prefix covers the address)
  for (let r = 0; r < n; r++) {
    const ro = <usize>r << 2;
    const s = load<i32>(st + ro);
    if (s < 0) continue;
    if ((s & 3) != SLOT_LIST) {
      store<i32>(st + ro, s >>> 2);
      continue;
    }
    const b = (s >>> 4) << 1;
    const m = ld(tl, b);
    const ip = load<u32>(addr + ro);
    let k: i32;
    if (m <= COUNT_MAX) k = countLe(tl + (<usize>(b + 1) << 2), m, ip, true);
    else if (m <= 48) {
      // the densest blocks the trie makes (trie-build.ts LIST_MAX): two probes pick the 16 starts
      // holding ip's range, one count finishes (three counts cost twice as much: 19 ns per row)
      const p = tl + (<usize>(b + 1) << 2);
      const seg = <i32>(load<u32>(p, 64) <= ip) + <i32>((m > 32) & (load<u32>(p, 128) <= ip));
      k = (seg << 4) + countLe(p + (<usize>seg << 6), m - (seg << 4), ip, true);
    } else {
      let base = 0;
      let len = m;
      while (len > 1) {
        const half = len >>> 1;
        base = load<u32>(tl + (<usize>(b + 1 + base + half) << 2)) <= ip ? base + half : base;
        len -= half;
      }
      k = base + 1;
    }
    store<i32>(st + ro, ld(tl, b + m + k)); // refs[k - 1]; the first start is the block's, so k ≥ 1
  }
  // 4. touch the timeline blocks' line, or two when the ref says so (blocks of ≤ 32 words never span more: blocks.ts)
  for (let r = 0; r < n; r++) {
    const v = load<i32>(st + (<usize>r << 2));
    if (v > 0) {
      const b = (v >>> 1) - 1;
      x ^= ld(tl, b);
      if (v & REF_TWO_LINES) x ^= ld(tl, b + 16);
    }
  }
  // 5. timeline at t (layout.ts): wide [n, prefix, keys[n], results[n]], or compact
  const out = slot + OUT_AT;
  for (let r = 0; r < n; r++) {
    const ro = <usize>r << 2;
    const v = load<i32>(st + ro);
    if (v < 0) continue;
    if (v == 0) {
      store<i32>(out + ro, isPublic(load<u32>(addr + ro)) ? 0 : RESULT_UNKNOWN);
      continue;
    }
    const time = load<f64>(t + (<usize>r << 3));
    const b = (v >>> 1) - 1;
    const h = ld(tl, b);
    if (!(time < Infinity)) {
      store<i32>(out + ro, RESULT_GAP);
      continue;
    }
    const q = load<i32>(tq + ro);
    if (h & TL_COMPACT) {
      // ≤ 13 16-bit offsets from the base key; an open first span counts whatever q is
      const cn = h & TL_COUNT_MASK;
      const open = (h & TL_OPEN_START) != 0 ? 1 : 0;
      const rq = q - ld(tl, b + 2);
      const keys = tl + (<usize>(b + 3) << 2);
      const c = open + (rq < 0 ? 0 : countLe16(keys, cn, open, rq > 0xffff ? 0xffff : rq));
      store<i32>(out + ro, c == 0 ? RESULT_GAP : <i32>load<u16>(keys + (<usize>(cn + c - 1) << 1)) - TL_RESULT_BIAS);
      continue;
    }
    const len = h;
    if (len == 0) {
      store<i32>(out + ro, RESULT_GAP);
      continue;
    }
    let k: i32;
    if (len <= COUNT_MAX) k = countLe(tl + (<usize>(b + 2) << 2), len, q, false);
    else {
      let base = 0;
      let l = len;
      while (l > 1) {
        const half = l >>> 1;
        base = ld(tl, b + 2 + base + half) <= q ? base + half : base;
        l -= half;
      }
      k = ld(tl, b + 2 + base) <= q ? base + 1 : 0;
    }
    if (fixups) {
      // keys order starts except within t's own second (layout.ts tlKeyOf): the exact starts decide
      const e = ld(tlEntry, ld(tl, b + 1));
      while (k < len && ld(tl, b + 2 + k) == q + 1 && load<f64>(tlStart + (<usize>(e + k) << 3)) <= time) k++;
    }
    store<i32>(out + ro, k == 0 ? RESULT_GAP : ld(tl, b + 1 + len + k));
  }
  store<i32>(st, x);
  return others;
}
