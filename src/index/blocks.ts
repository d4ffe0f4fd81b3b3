// Freeze-time writing of the lookup's blocks (cold path, guarded by `bench index` "freeze"; the lookup
// they serve by the "batch lookup" rows): each prefix's flattened timeline as one timeline block, each
// IPv4 range list as one range block, both in the one `tl` section (layout.ts). A block carries its
// own length, so a lookup goes from a trie slot to a range block to a timeline block with no index
// array in between, and the batch lookup overlaps the rows' cache misses.
//
// Placement: a block of at most 16 words (64 bytes) is moved to the next cache line rather than cross
// one, a block of 17–32 words rather than span three; the lookup then reads at most two lines of a
// timeline, both touched ahead of the search (native-free-wasm/assembly/lookup.ts).

import type { Flattened } from './flatten.js';
import { tlKeyOf } from './layout.js';

function place(at: number, words: number): number {
  const o = at & 15;
  return (words <= 16 && o + words > 16) || (words > 16 && words <= 32 && o + words > 32) ? (at + 15) & ~15 : at;
}

/**
 * Word offsets in the blocks section of each IPv4 range block (`rangeAt`, list i being ranges
 * [lists[i], lists[i+1]) of `pfx`, prefix ids, -1 none) and each prefix's timeline block (`tlAt`);
 * returns the words needed. The deepest prefix of a range block that has no timeline placed yet gets
 * its timeline right after the block, both within two cache lines when they fit: an address in a
 * /32 of a /24 block with a few hosts then costs one cache miss, not one for the block and one for
 * the timeline. The other timelines follow, then every prefix not placed yet in prefix order.
 * `idx`: prefix p's timeline has idx[p+1] - idx[p] spans; `len`: prefix lengths (IPv4 ids first).
 */
export function placeBlocks(lists: Int32Array, listCount: number, pfx: Int32Array, idx: Int32Array, len: Uint8Array, P: number, rangeAt: Int32Array, tlAt: Int32Array): number {
  const tlWords = (p: number): number => 2 + 2 * ((idx[p + 1] as number) - (idx[p] as number));
  tlAt.fill(-1, 0, P);
  let w = 0;
  for (let i = 0; i < listCount; i++) {
    const lo = lists[i] as number;
    const hi = lists[i + 1] as number;
    const words = 1 + 2 * (hi - lo);
    let first = -1;
    for (let k = lo; k < hi; k++) {
      const p = pfx[k] as number;
      if (p >= 0 && (tlAt[p] as number) < 0 && (first < 0 || (len[p] as number) > (len[first] as number))) first = p;
    }
    if (first >= 0 && words + tlWords(first) <= 32) {
      w = place(w, words + tlWords(first));
      rangeAt[i] = w;
      w += words;
      tlAt[first] = w;
      w += tlWords(first);
    } else {
      w = place(w, words);
      rangeAt[i] = w;
      w += words;
    }
    for (let k = lo; k < hi; k++) {
      const p = pfx[k] as number;
      if (p < 0 || (tlAt[p] as number) >= 0) continue;
      w = place(w, tlWords(p));
      tlAt[p] = w;
      w += tlWords(p);
    }
  }
  for (let p = 0; p < P; p++) {
    if ((tlAt[p] as number) >= 0) continue;
    w = place(w, tlWords(p));
    tlAt[p] = w;
    w += tlWords(p);
  }
  return w;
}

export function writeTimelines(tl: Int32Array, f: Flattened, at: Int32Array, P: number, origin: number): void {
  for (let p = 0; p < P; p++) {
    const lo = f.idx[p] as number;
    const n = (f.idx[p + 1] as number) - lo;
    const b = at[p] as number;
    tl[b] = n;
    tl[b + 1] = p;
    for (let i = 0; i < n; i++) {
      tl[b + 2 + i] = tlKeyOf(f.start[lo + i] as number, origin);
      tl[b + 2 + n + i] = f.res[lo + i] as number;
    }
  }
}

/** Writes the IPv4 range blocks ([m, starts[m], refs[m]]) placed by placeBlocks; `refOf` turns a prefix id into a timeline ref. */
export function writeRangeBlocks(out: Uint32Array, starts: Uint32Array, pfx: Int32Array, lists: Int32Array, count: number, at: Int32Array, refOf: (p: number) => number): void {
  for (let i = 0; i < count; i++) {
    const lo = lists[i] as number;
    const m = (lists[i + 1] as number) - lo;
    const b = at[i] as number;
    out[b] = m;
    for (let k = 0; k < m; k++) {
      out[b + 1 + k] = starts[lo + k] as number;
      out[b + 1 + m + k] = refOf(pfx[lo + k] as number);
    }
  }
}
