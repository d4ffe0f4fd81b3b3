// Freeze-time flattening of "longest prefix that has an owner at t, else its parent…" (DESIGN.md §9)
// into ONE timeline per prefix (cold path, guarded by `bench index` "freeze"; the lookup it enables is
// guarded by the "batch lookup" rows). A timeline is a partition of time into spans, stored as sorted
// span starts and one result per span (a metadata record id, RESULT_CONFLICT or RESULT_GAP); before
// the first start the result is RESULT_GAP, adjacent spans never have the same result. A lookup is
// then one binary search, where walking the prefix chain took one search per prefix.
//
// Prefixes come parents first (sorted by address, then length), so a prefix's parent timeline is
// already built when the prefix is reached: its own intervals win inside them, the parent's timeline
// answers everywhere else. +Infinity never starts a span: no interval contains t = +Infinity (the
// lookup answers RESULT_GAP there), so open-ended intervals cost no closing entry.

import { offHeap } from '../typed.js';

/** Timeline results: the lookup RESULT_* codes (duplicated here to keep this module leaf-level). */
export const TL_GAP = -2;

export interface Flattened {
  /** Timeline of prefix p is entries [idx[p], idx[p+1]). */
  idx: Int32Array;
  start: Float64Array;
  res: Int32Array;
  count: number;
}

/**
 * `from/to/meta`: every prefix's own sorted, disjoint intervals, prefix p's being [pfxIv[p],
 * pfxIv[p+1]); `parent[p]` the next shorter covering prefix (-1 none; always < p).
 */
export function flattenTimelines(from: ArrayLike<number>, to: ArrayLike<number>, meta: ArrayLike<number>, pfxIv: Int32Array, parent: Int32Array, P: number): Flattened {
  // Off the heap's books (typed.ts offHeap): these are the freeze's biggest temporaries.
  const idx = offHeap(Int32Array, P + 1);
  let cap = Math.max(1024, (pfxIv[P] as number) + 16);
  let start = offHeap(Float64Array, cap);
  let res = offHeap(Int32Array, cap);
  let n = 0;
  let last = TL_GAP;
  const emit = (x: number, v: number): void => {
    if (v === last || x === Infinity) return;
    if (n === cap) {
      cap *= 2;
      const s2 = offHeap(Float64Array, cap);
      s2.set(start);
      start = s2;
      const r2 = offHeap(Int32Array, cap);
      r2.set(res);
      res = r2;
    }
    start[n] = x;
    res[n++] = v;
    last = v;
  };
  for (let p = 0; p < P; p++) {
    idx[p] = n;
    last = TL_GAP;
    const a = pfxIv[p] as number;
    const b = pfxIv[p + 1] as number;
    const par = parent[p] as number;
    if (par < 0) {
      // No parent: the own intervals, with a GAP span wherever they are not contiguous.
      for (let k = a; k < b; k++) {
        emit(from[k] as number, meta[k] as number);
        const e = to[k] as number;
        if (k + 1 >= b || (from[k + 1] as number) !== e) emit(e, TL_GAP);
      }
      continue;
    }
    let pj = idx[par] as number;
    const pd = idx[par + 1] as number;
    let pval = TL_GAP;
    for (let k = a; k < b; k++) {
      const f = from[k] as number;
      while (pj < pd && (start[pj] as number) < f) {
        pval = res[pj] as number;
        emit(start[pj] as number, pval);
        pj++;
      }
      emit(f, meta[k] as number);
      const e = to[k] as number;
      while (pj < pd && (start[pj] as number) <= e) pval = res[pj++] as number;
      if (k + 1 >= b || (from[k + 1] as number) !== e) emit(e, pval);
    }
    while (pj < pd) {
      emit(start[pj] as number, res[pj] as number);
      pj++;
    }
  }
  idx[P] = n;
  return { idx, start: start.subarray(0, n), res: res.subarray(0, n), count: n };
}
