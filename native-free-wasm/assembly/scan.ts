// HOT: guarded by bench/parse/wasm.ts (`npm run build && node dist/bench/run.js parse-wasm`). Flow-log text → column stripes.
//
// The WebAssembly twin of src/parse/scan-text.ts for the common case. It decodes whole lines of a
// window of text (copied into this memory by src/parse/wasm/scan-wasm.ts) into per-field column
// stripes, and stops at the first line it does not handle itself — anything the JS scanner would treat
// on a cold path: a line starting with a lowercase letter (maybe a header), a non-IPv4 address token
// (IPv6, junk), any malformed token, more than 15 digits, an overlong line. The JS wrapper hands that one
// line to the JS scanner (so cold paths and messages live in one place) and resumes here after it.
// What it accepts it decodes to exactly the values the JS scanner writes (same cells, same null bits).
//
// Memory (all offsets chosen by the JS side and passed to `configure`; nothing here allocates):
//   kinds  u8[nf]        field kind per position (KIND_* of src/parse/fields.ts)
//   off1   u32[nf]       byte offset of the field's stripe: f64 ints | u16 ports | u8 proto/action/status
//                        | u32 addr | u32 text offset
//   off2   u32[nf]       second stripe: u8 fam (addresses), u32 text length (text)
//   nulls  u32[rows * nullWords], row-major, bit f of a row set when field f was `-`
//   out    u32[4]        rows, blank lines, stop reason (written by scan)
// Stripes hold row 0 … maxRows-1 of one call; the wrapper copies the used rows into the FlowBatch.
//
// SIMD: one 16-byte compare finds a token's end (text) or its digit run (numbers); the digits of a
// number are right-aligned with one swizzle and reduced with three i32x4.dot_i16x8_s steps instead of a
// digit-at-a-time multiply-add chain; a dotted quad is checked from bit masks (dots, digits, zeros) and
// its octets gathered by one swizzle from a 64-entry table. Measured (ns/line, v2, window in cache, same
// run): scalar digit loops 150 → SIMD numbers 143 → SIMD IPv4 127. Tried and dropped: a 64-byte
// separator mask per line walked with ctz (shorter dependency chain on paper) measured 151-194, slower.
// Scalar byte loops are what wasm does only ~2.5× faster than JS (DEPENDENCIES.md §5).

const KIND_INT: u32 = 0;
const KIND_PORT: u32 = 1;
const KIND_PROTO: u32 = 2;
const KIND_ADDR: u32 = 3;
const KIND_ACTION: u32 = 4;
const KIND_STATUS: u32 = 5;

/** Consumed the whole window. */
const STOP_END: u32 = 0;
/** Wrote maxRows rows. */
const STOP_ROWS: u32 = 1;
/** The line at the returned position needs the JS scanner. */
const STOP_LINE: u32 = 2;

let cfgKinds: usize = 0;
let cfgOff1: usize = 0;
let cfgOff2: usize = 0;
let cfgFields: u32 = 0;
let cfgWords: u32 = 0;
let cfgNulls: usize = 0;
let cfgOut: usize = 0;

/** Where JS may start laying out its regions (past this module's static data), 64 KiB aligned. */
export function heapBase(): usize {
  return (__heap_base + 65535) & ~(<usize>65535);
}

export function configure(kinds: usize, off1: usize, off2: usize, fields: u32, words: u32, nulls: usize, out: usize): void {
  cfgKinds = kinds;
  cfgOff1 = off1;
  cfgOff2 = off2;
  cfgFields = fields;
  cfgWords = words;
  cfgNulls = nulls;
  cfgOut = out;
}

// @ts-ignore: decorator
@inline function isSep(c: u32): bool {
  return c == 32 || c == 10 || c == 13;
}

/** Bit i set when byte p+i is a digit. */
// @ts-ignore: decorator
@inline function digitMask(v: v128): u32 {
  return <u32>i8x16.bitmask(i8x16.lt_u(i8x16.sub(v, i8x16.splat(48)), i8x16.splat(10)));
}

/**
 * The value of the L (1..15) decimal digits at the start of `v` (ASCII). Right-aligns them with one
 * swizzle (out-of-range lanes read 0), then folds pairs → 2-digit → 4-digit → 8-digit groups.
 */
// @ts-ignore: decorator
@inline function digitsValue(v: v128, L: u32): u64 {
  const d = i8x16.sub(v, i8x16.splat(48));
  const idx = i8x16.add(i8x16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), i8x16.splat(<i8>(L - 16)));
  const a = i8x16.swizzle(d, idx);
  const w10 = i16x8(10, 1, 10, 1, 10, 1, 10, 1);
  const p1 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(a), w10);
  const p2 = i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(a), w10);
  const q = i32x4.dot_i16x8_s(i16x8.narrow_i32x4_u(p1, p2), i16x8(100, 1, 100, 1, 100, 1, 100, 1));
  const r = i32x4.dot_i16x8_s(i16x8.narrow_i32x4_u(q, q), i16x8(10000, 1, 10000, 1, 10000, 1, 10000, 1));
  return <u64>i32x4.extract_lane(r, 0) * 100000000 + <u64>i32x4.extract_lane(r, 1);
}

/**
 * Swizzle indices for one octet, by (end e, length l): its hundreds, tens and units digits in lanes
 * 0-2 (0x80, i.e. "read 0", where the octet is shorter) and 0x80 in lane 3. 16 ends × 4 lengths.
 */
const OCTET_SHUF: usize = memory.data(16 * 4 * 4, 16);
for (let e: u32 = 0; e < 16; e++) {
  for (let l: u32 = 0; l < 4; l++) {
    const h = l >= 3 ? (e - 3) & 0xff : 0x80;
    const t = l >= 2 ? (e - 2) & 0xff : 0x80;
    const u = l >= 1 ? (e - 1) & 0xff : 0x80;
    store<u32>(OCTET_SHUF + ((e * 4 + l) << 2), h | (t << 8) | (u << 16) | (0x80 << 24));
  }
}

// @ts-ignore: decorator
@inline function octetShuf(e: u32, l: u32): u32 {
  return load<u32>(OCTET_SHUF + ((e * 4 + l) << 2));
}

/**
 * The IPv4 address whose token is the first L (< 16) bytes of `v`, or -1 unless those bytes are what
 * the JS scanner's fast path accepts: four octets of 1–3 digits joined by dots, no leading zero in a
 * multi-digit octet, each ≤ 255. Structure from bit masks, digits from one swizzle and two dot steps.
 */
// @ts-ignore: decorator
@inline function ipv4(v: v128, L: u32): i64 {
  const len = (<u32>1 << L) - 1;
  const dots = <u32>i8x16.bitmask(i8x16.eq(v, i8x16.splat(46))) & len;
  const digs = digitMask(v) & len;
  if ((dots | digs) != len || popcnt(dots) != 3) return -1;
  const p1 = ctz(dots);
  const r1 = dots & (dots - 1);
  const p2 = ctz(r1);
  const p3 = ctz(r1 & (r1 - 1));
  const l0 = p1;
  const l1 = p2 - p1 - 1;
  const l2 = p3 - p2 - 1;
  const l3 = L - p3 - 1;
  if (l0 - 1 > 2 || l1 - 1 > 2 || l2 - 1 > 2 || l3 - 1 > 2) return -1; // each 1..3 (0 wraps)
  // a '0' that starts an octet and is followed by a digit
  const zeros = <u32>i8x16.bitmask(i8x16.eq(v, i8x16.splat(48))) & len;
  if ((zeros & (1 | (dots << 1)) & (digs >> 1)) != 0) return -1;
  let shuf = i32x4.splat(octetShuf(p1, l0));
  shuf = i32x4.replace_lane(shuf, 1, octetShuf(p2, l1));
  shuf = i32x4.replace_lane(shuf, 2, octetShuf(p3, l2));
  shuf = i32x4.replace_lane(shuf, 3, octetShuf(L, l3));
  const d = i8x16.swizzle(i8x16.sub(v, i8x16.splat(48)), shuf);
  const w = i16x8(100, 10, 1, 0, 100, 10, 1, 0);
  const a = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(d), w);
  const b = i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(d), w);
  const o = i32x4.dot_i16x8_s(i16x8.narrow_i32x4_u(a, b), i16x8.splat(1));
  if (v128.any_true(i32x4.gt_u(o, i32x4.splat(255)))) return -1;
  const n = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(o, o), i16x8.splat(0));
  const be = i8x16.shuffle(n, n, 3, 2, 1, 0, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  return <i64><u32>i32x4.extract_lane(be, 0);
}

// @ts-ignore: decorator
@inline function setNull(rowNull: usize, f: u32): void {
  const w = rowNull + ((f >>> 5) << 2);
  store<u32>(w, load<u32>(w) | (<u32>1 << (f & 31)));
}

/**
 * Decodes one line starting at its first non-space byte `p` into row `row`. Returns the position after
 * its '\n', or 0 when the line needs the JS scanner (nothing written then matters: the JS scanner
 * rewrites that row).
 */
// @ts-ignore: decorator
@inline function decodeLine(p: usize, lineStart: usize, row: u32, maxLine: u32, delta: u32): usize {
  const nf = cfgFields;
  const kinds = cfgKinds;
  const off1 = cfgOff1;
  const off2 = cfgOff2;
  const words = cfgWords;
  const rowNull = cfgNulls + ((<usize>(row * words)) << 2);
  for (let w: u32 = 0; w < words; w++) store<u32>(rowNull + (<usize>w << 2), 0);
  let c = <u32>load<u8>(p);
  for (let f: u32 = 0; f < nf; f++) {
    while (c == 32) c = <u32>load<u8>(++p);
    if (c == 10 || c == 13) return 0; // too few fields
    const kind = <u32>load<u8>(kinds + f);
    const o1 = <usize>load<u32>(off1 + (<usize>f << 2));
    if (kind <= KIND_PROTO) {
      const v = v128.load(p);
      const L = ctz(~digitMask(v));
      if (L == 0) {
        // `-` alone is null; anything else is the JS scanner's to report
        if (c != 45 || !isSep(<u32>load<u8>(p + 1))) return 0;
        setNull(rowNull, f);
        p += 1;
        c = <u32>load<u8>(p);
        if (kind == KIND_INT) store<f64>(o1 + (<usize>row << 3), 0);
        else if (kind == KIND_PORT) store<u16>(o1 + (<usize>row << 1), 0);
        else store<u8>(o1 + <usize>row, 0);
        continue;
      }
      if (L > 15) return 0; // may exceed 2^53-1: JS decides
      c = <u32>load<u8>(p + L);
      if (!isSep(c)) return 0;
      const x = digitsValue(v, L);
      p += L;
      if (kind == KIND_INT) {
        store<f64>(o1 + (<usize>row << 3), <f64><i64>x); // x < 10^15: the signed conversion is exact (and one instruction)
      } else if (kind == KIND_PORT) {
        if (x > 65535) return 0;
        store<u16>(o1 + (<usize>row << 1), <u16>x);
      } else {
        if (x > 255) return 0;
        store<u8>(o1 + <usize>row, <u8>x);
      }
    } else if (kind == KIND_ADDR) {
      const o2 = <usize>load<u32>(off2 + (<usize>f << 2));
      const v = v128.load(p);
      const L = ctz(<u32>i8x16.bitmask(i8x16.le_u(v, i8x16.splat(32)))); // 32 when no end in 16 bytes
      const a = L < 16 ? ipv4(v, L) : -1;
      if (a >= 0 && isSep(<u32>load<u8>(p + L))) {
        store<u32>(o1 + (<usize>row << 2), <u32>a);
        store<u8>(o2 + <usize>row, 4);
        p += L;
        c = <u32>load<u8>(p);
      } else if (c == 45 && isSep(<u32>load<u8>(p + 1))) {
        setNull(rowNull, f);
        store<u32>(o1 + (<usize>row << 2), 0);
        store<u8>(o2 + <usize>row, 0);
        p += 1;
        c = <u32>load<u8>(p);
      } else {
        return 0; // IPv6 or not an address: the JS scanner's cold path
      }
    } else if (kind == KIND_ACTION) {
      let x: u8 = 0;
      const w4 = load<u32>(p);
      if (w4 == 0x45434341 && load<u16>(p + 4) == 0x5450) {
        x = 1; // ACCEPT
        p += 6;
      } else if (w4 == 0x454a4552 && load<u16>(p + 4) == 0x5443) {
        x = 2; // REJECT
        p += 6;
      } else if (c == 45) {
        setNull(rowNull, f);
        p += 1;
      } else {
        return 0;
      }
      c = <u32>load<u8>(p);
      if (!isSep(c)) return 0;
      store<u8>(o1 + <usize>row, x);
    } else if (kind == KIND_STATUS) {
      let x: u8 = 0;
      if (load<u16>(p) == 0x4b4f) {
        x = 1; // OK
        p += 2;
      } else if (load<u32>(p) == 0x41444f4e && load<u16>(p + 4) == 0x4154) {
        x = 2; // NODATA
        p += 6;
      } else if (load<u64>(p) == 0x4154414450494b53) {
        x = 3; // SKIPDATA
        p += 8;
      } else if (c == 45) {
        setNull(rowNull, f);
        p += 1;
      } else {
        return 0;
      }
      c = <u32>load<u8>(p);
      if (!isSep(c)) return 0;
      store<u8>(o1 + <usize>row, x);
    } else {
      // Text: bytes > 32 as written; 16 at a time.
      const t0 = p;
      let m = <u32>i8x16.bitmask(i8x16.le_u(v128.load(p), i8x16.splat(32)));
      while (m == 0) {
        p += 16;
        m = <u32>i8x16.bitmask(i8x16.le_u(v128.load(p), i8x16.splat(32)));
      }
      p += ctz(m);
      c = <u32>load<u8>(p);
      if (!isSep(c)) return 0;
      const len = <u32>(p - t0);
      if (len == 1 && load<u8>(t0) == 45) setNull(rowNull, f);
      const o2 = <usize>load<u32>(off2 + (<usize>f << 2));
      store<u32>(o1 + (<usize>row << 2), <u32>t0 + delta);
      store<u32>(o2 + (<usize>row << 2), len);
    }
  }
  while (c == 32) c = <u32>load<u8>(++p);
  if (c == 13) c = <u32>load<u8>(++p);
  if (c != 10) return 0; // too many fields or a stray byte
  if (<u32>(p - lineStart) > maxLine) return 0; // overlong: JS reports it
  return p + 1;
}

/**
 * Decodes lines of [start, end) (end-1 is '\n', and 16 readable bytes follow `end`) into rows
 * 0 … maxRows-1 of the stripes. Text offsets are written as `position + delta`. Returns the position
 * where it stopped; out[0] rows written, out[1] blank lines consumed, out[2] the stop reason.
 */
export function scan(start: usize, end: usize, maxRows: u32, maxLine: u32, delta: u32): usize {
  let p = start;
  let n: u32 = 0;
  let blanks: u32 = 0;
  let stop = STOP_END;
  while (p < end) {
    if (n == maxRows) {
      stop = STOP_ROWS;
      break;
    }
    const lineStart = p;
    let c = <u32>load<u8>(p);
    while (c == 32) c = <u32>load<u8>(++p);
    if (c == 10) {
      blanks++;
      p++;
      continue;
    }
    if (c == 13 && load<u8>(p + 1) == 10) {
      blanks++;
      p += 2;
      continue;
    }
    if (c - 97 < 26) {
      // maybe a header line
      p = lineStart;
      stop = STOP_LINE;
      break;
    }
    const q = decodeLine(p, lineStart, n, maxLine, delta);
    if (q == 0) {
      p = lineStart;
      stop = STOP_LINE;
      break;
    }
    p = q;
    n++;
  }
  store<u32>(cfgOut, n);
  store<u32>(cfgOut + 4, blanks);
  store<u32>(cfgOut + 8, stop);
  return p;
}
