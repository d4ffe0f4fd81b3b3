// Freeze-time writing of the lookup's blocks (cold path, guarded by `bench index` "freeze"; the lookup
// they serve by the "batch lookup" rows): each prefix's flattened timeline as one timeline block, each
// IPv4 range list as one range block, both in the one `tl` section (layout.ts). A block carries its
// own length, so a lookup goes from a trie slot to a range block to a timeline block with no index
// array in between, and the batch lookup overlaps the rows' cache misses.
//
// Placement: a block of at most 16 words (64 bytes) is moved to the next cache line rather than cross
// one, a block of 17–32 words rather than span three, a range block of more than 32 starts a line;
// the lookup touches the lines of a block ahead of searching it (native-free-wasm/assembly/lookup.ts),
// and a ref or slot says how many lines that is (layout.ts REF_TWO_LINES, rangeSlotPayload), counted
// over what the search reads (its vector loads read a little past a short block: `reach`): up to two
// lines of a timeline and four of a range block. A /24's block of 48 ranges is 61 words, so only a
// root /16's list of more than 31 ranges (1 + 2m words) and wide timelines past 15 spans can make a
// search wait for a line the touch pass did not bring in.
//
// A timeline of at most TL_COMPACT_MAX spans whose keys lie within 65,535 s of each other (a first
// span open since -Infinity aside) and whose results fit 16 bits is written compact, in one cache
// line: 16-bit key offsets from a base and 16-bit results (layout.ts). Others, and every timeline of
// a generation that needs its exact Float64 starts, are written wide.

import type { Flattened } from './flatten.js';
import { compactHeader, rangeWords, REF_TWO_LINES, TL_COMPACT_MAX, TL_KEY_LIM, TL_PREFIX_LIM, TL_RESULT_BIAS, tlKeyOf } from './layout.js';

/** Range blocks start at an even word (their slot holds the offset halved, beside a line count: rangeSlotPayload), and at a line when over 32 words. */
function placeRange(at: number, words: number): number {
  const even = at + (at & 1); // first: place() returns its argument or a line start, both even
  return words > 32 ? (even + 15) & ~15 : place(even, words);
}

/** Words from a range block's start that the lookup's search reads: the block, and at least what its vector counts load (16 or 48 start bytes; `wide`: 16 or 48 starts). */
export function rangeReach(m: number, wide: boolean): number {
  return Math.max(rangeWords(m, wide), 1 + (m <= 16 ? 4 : 12) * (wide ? 4 : 1));
}

/** Words from a timeline block's start that the lookup's search reads (compact: one vector of keys up to 8, two above; wide: four vectors up to 16, else the bisection stays in the block). */
export function timelineReach(compact: boolean, n: number): number {
  return compact ? Math.max(2 + n, n <= 8 ? 6 : 10) : Math.max(2 + 2 * n, n <= 16 ? 18 : 0);
}

/** An IPv4 SLOT_LIST or SLOT_LIST32 slot's payload (layout.ts): the range block's word offset halved, and how many lines (1-4) the search of the block and of a timeline placed with it reaches into, less one. */
export function rangeSlotPayload(at: number, reach: number): number {
  const lines = Math.min(4, ((at & 15) + reach + 15) >> 4);
  return ((at >>> 1) << 2) | (lines - 1);
}

function place(at: number, words: number): number {
  const o = at & 15;
  return (words <= 16 && o + words > 16) || (words > 16 && words <= 32 && o + words > 32) ? (at + 15) & ~15 : at;
}

/** Which timelines are compact, every timeline block's size in words and how far its search reads (timelineReach). */
export interface TimelineForms {
  compact: Uint8Array;
  words: Int32Array;
  reach: Int32Array;
}

/** Whether the timeline at f[lo..] opens at -Infinity (a compact block then keeps that span out of its 16-bit offsets). */
function opensAtMinusInfinity(f: Flattened, lo: number, origin: number): boolean {
  return tlKeyOf(f.start[lo] as number, origin) === -TL_KEY_LIM;
}

/** The key a compact block's 16-bit offsets count from: its first finite span's. */
function compactBase(f: Flattened, lo: number, n: number, origin: number, open: boolean): number {
  const first = open ? lo + 1 : lo;
  return first < lo + n ? tlKeyOf(f.start[first] as number, origin) : 0;
}

/** Decides each prefix's timeline form (compact needs `exact`: no Float64 starts in the generation). */
export function timelineForms(f: Flattened, P: number, origin: number, exact: boolean, compact: Uint8Array, words: Int32Array, reach: Int32Array): TimelineForms {
  for (let p = 0; p < P; p++) {
    const lo = f.idx[p] as number;
    const n = (f.idx[p + 1] as number) - lo;
    let ok = exact && n >= 1 && n <= TL_COMPACT_MAX && p < TL_PREFIX_LIM;
    if (ok) {
      const open = opensAtMinusInfinity(f, lo, origin);
      const base = compactBase(f, lo, n, origin, open);
      for (let i = open ? lo + 1 : lo; ok && i < lo + n; i++) {
        const k = tlKeyOf(f.start[i] as number, origin) - base;
        if (k < 0 || k > 0xffff) ok = false;
      }
      for (let i = lo; ok && i < lo + n; i++) if ((f.res[i] as number) + TL_RESULT_BIAS > 0xffff) ok = false;
    }
    compact[p] = ok ? 1 : 0;
    words[p] = ok ? 2 + n : 2 + 2 * n;
    reach[p] = timelineReach(ok, n);
  }
  return { compact, words, reach };
}

/**
 * Word offsets in the blocks section of each IPv4 range block (`rangeAt`, list i being ranges
 * [lists[i], lists[i+1]) of `pfx`, prefix ids, -1 none; `wide[i]` 1 for a root slot's list: layout.ts SLOT_LIST32) and each prefix's timeline block (`tlAt`);
 * returns the words needed. The timelines of a block's prefixes that are not placed yet follow the
 * block, deepest prefix first. When block and timelines fit in four cache lines they are placed as
 * one piece and the block's slot says to touch all of it: an address in a host of a /24 with a few
 * hosts then costs one cache miss (adjacent lines), not one for the block and one for its timeline.
 * Otherwise only the first timeline shares the block's lines, when both fit in 32 words. Every prefix
 * not placed by then follows in prefix order. `reachOut[i]` gets how far the searches of the block and
 * of the timelines placed with it read (for rangeSlotPayload). `len`: prefix lengths (IPv4 ids first).
 */
export function placeBlocks(lists: Int32Array, listCount: number, wide: Uint8Array, pfx: Int32Array, forms: TimelineForms, len: Uint8Array, P: number, rangeAt: Int32Array, reachOut: Int32Array, tlAt: Int32Array): number {
  const tlWords = forms.words;
  tlAt.fill(-1, 0, P);
  const group: number[] = [];
  const deeper = (x: number, y: number): number => (len[y] as number) - (len[x] as number);
  let w = 0;
  for (let i = 0; i < listCount; i++) {
    const lo = lists[i] as number;
    const hi = lists[i + 1] as number;
    const w32 = wide[i] === 1;
    const words = rangeWords(hi - lo, w32);
    // the timelines not placed yet of this block's prefixes, deepest first (a parent's ranges repeat: -2 marks one taken)
    group.length = 0;
    for (let k = lo; k < hi; k++) {
      const p = pfx[k] as number;
      if (p >= 0 && (tlAt[p] as number) === -1) {
        tlAt[p] = -2;
        group.push(p);
      }
    }
    group.sort(deeper);
    let all = words;
    let reach = rangeReach(hi - lo, w32);
    for (const p of group) {
      reach = Math.max(reach, all + (forms.reach[p] as number));
      all += tlWords[p] as number;
    }
    if (all <= 64) {
      // block and timelines in at most four lines, all touched in one pass (measured: uniform −5 to −8%)
      w = placeRange(w, all);
      rangeAt[i] = w;
      reachOut[i] = reach;
      w += words;
      for (const p of group) {
        tlAt[p] = w;
        w += tlWords[p] as number;
      }
      continue;
    }
    const first = group.length > 0 ? (group[0] as number) : -1;
    if (first >= 0 && words + (tlWords[first] as number) <= 32) {
      w = placeRange(w, words + (tlWords[first] as number));
      rangeAt[i] = w;
      reachOut[i] = Math.max(rangeReach(hi - lo, w32), words + (forms.reach[first] as number));
      w += words;
      tlAt[first] = w;
      w += tlWords[first] as number;
    } else {
      w = placeRange(w, words);
      rangeAt[i] = w;
      reachOut[i] = rangeReach(hi - lo, w32);
      w += words;
    }
    for (const p of group) {
      if (p === first && (tlAt[p] as number) >= 0) continue;
      w = place(w, tlWords[p] as number);
      tlAt[p] = w;
      w += tlWords[p] as number;
    }
  }
  for (let p = 0; p < P; p++) {
    if ((tlAt[p] as number) >= 0) continue;
    w = place(w, tlWords[p] as number);
    tlAt[p] = w;
    w += tlWords[p] as number;
  }
  return w;
}

/** Whether `words` words from word `at` reach into a second cache line (the section is line-aligned). */
export function spansTwoLines(at: number, words: number): boolean {
  return (at & 15) + words > 16;
}

export function writeTimelines(tl: Int32Array, f: Flattened, at: Int32Array, forms: TimelineForms, P: number, origin: number): void {
  const h16 = new Uint16Array(tl.buffer, tl.byteOffset, tl.length * 2);
  for (let p = 0; p < P; p++) {
    const lo = f.idx[p] as number;
    const n = (f.idx[p + 1] as number) - lo;
    const b = at[p] as number;
    if (forms.compact[p] === 1) {
      const open = opensAtMinusInfinity(f, lo, origin);
      const base = compactBase(f, lo, n, origin, open);
      tl[b] = compactHeader(n, p, open);
      tl[b + 1] = base;
      const keys = 2 * (b + 2);
      const res = keys + n;
      for (let i = 0; i < n; i++) {
        h16[keys + i] = open && i === 0 ? 0 : tlKeyOf(f.start[lo + i] as number, origin) - base;
        h16[res + i] = (f.res[lo + i] as number) + TL_RESULT_BIAS;
      }
      continue;
    }
    tl[b] = n;
    tl[b + 1] = p;
    for (let i = 0; i < n; i++) {
      tl[b + 2 + i] = tlKeyOf(f.start[lo + i] as number, origin);
      tl[b + 2 + n + i] = f.res[lo + i] as number;
    }
  }
}

/** A timeline ref (layout.ts) of the block at word `at` whose search reads `reach` words. */
export function refAt(at: number, reach: number): number {
  return ((at + 1) << 1) | (spansTwoLines(at, reach) ? REF_TWO_LINES : 0);
}

/** Writes the IPv4 range blocks placed by placeBlocks (layout.ts: [m, start bytes[m] padded to a word, refs[m]], or for `wide` lists [m, starts[m], refs[m]]); `refOf` turns a prefix id into a timeline ref. */
export function writeRangeBlocks(out: Uint32Array, starts: Uint32Array, pfx: Int32Array, lists: Int32Array, wide: Uint8Array, count: number, at: Int32Array, refOf: (p: number) => number): void {
  const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < count; i++) {
    const lo = lists[i] as number;
    const m = (lists[i + 1] as number) - lo;
    const b = at[i] as number;
    out[b] = m;
    if (wide[i] === 1) {
      for (let k = 0; k < m; k++) {
        out[b + 1 + k] = starts[lo + k] as number;
        out[b + 1 + m + k] = refOf(pfx[lo + k] as number);
      }
      continue;
    }
    const refs = b + 1 + ((m + 3) >> 2);
    out.fill(0, b + 1, refs); // the padding after the last start byte
    for (let k = 0; k < m; k++) {
      bytes[4 * (b + 1) + k] = (starts[lo + k] as number) & 255; // every start of the list is in one /24 (trie-build.ts)
      out[refs + k] = refOf(pfx[lo + k] as number);
    }
  }
}
