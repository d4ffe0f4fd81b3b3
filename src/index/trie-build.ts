// Builds the longest-prefix-match structure of a generation (cold path, guarded by `bench index`
// "freeze"): prefixes → disjoint address ranges, each naming its deepest covering prefix → a multibit
// trie over those ranges. The trie's root has stride 16 (65 536 slots), inner nodes stride 8; a slot
// whose block holds one range names that prefix directly, a block with at most LIST_MAX ranges becomes
// a sorted range list, anything denser gets a child node. A node's list covers a /24, so its starts
// differ in their last byte only and are stored as bytes (SLOT_LIST, counted with 16-lane compares at
// lookup); a root slot's list covers a /16 and keeps whole addresses (SLOT_LIST32).
//
// Why not plain 256-way nodes to /32: 1M scattered /32s would need ~1M leaf nodes of 1 KiB each
// (DESIGN.md §7); a /24's range list costs 5 bytes per range, a root /16's 8 (IPv6: 20). LIST_MAX
// bounds an IPv4 list search to three 16-byte compares (a root list: two probes and four compares).

import { NODE_STRIDE, ROOT_STRIDE, SLOT_LIST, SLOT_LIST32, SLOT_NODE, SLOT_PREFIX } from './layout.js';
import { offHeap, type ScratchArrays } from '../typed.js';

export const LIST_MAX = 48;

/** Growable typed arrays (cold path). */
export class I32Buf {
  a: Int32Array;
  n = 0;
  constructor(cap = 1024) {
    this.a = offHeap(Int32Array, cap);
  }
  push(v: number): void {
    if (this.n === this.a.length) this.grow(this.n + 1);
    this.a[this.n++] = v;
  }
  alloc(k: number, fill: number): number {
    if (this.n + k > this.a.length) this.grow(this.n + k);
    const at = this.n;
    this.a.fill(fill, at, at + k);
    this.n += k;
    return at;
  }
  private grow(min: number): void {
    const b = offHeap(Int32Array, Math.max(min, this.a.length * 2));
    b.set(this.a.subarray(0, this.n));
    this.a = b;
  }
}

export class U32Buf {
  a: Uint32Array;
  n = 0;
  constructor(cap = 1024) {
    this.a = offHeap(Uint32Array, cap);
  }
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = offHeap(Uint32Array, this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
}

/**
 * IPv4: prefixes sorted by (address, length), unique → parent of each (index into the same order,
 * -1 none) and the disjoint ranges (start, deepest prefix or -1), adjacent equal ranges merged.
 */
export function v4Ranges(addr: Uint32Array, len: Uint8Array, n: number, scratch?: ScratchArrays): { parent: Int32Array; starts: Float64Array; pfx: Int32Array; count: number } {
  // parent is written for every prefix, starts/pfx below `count`, which is all a reader looks at.
  const parent = scratch !== undefined ? scratch.take('rangesParent', Int32Array, n) : new Int32Array(n);
  const starts = scratch !== undefined ? scratch.take('rangesStarts', Float64Array, 2 * n + 1) : new Float64Array(2 * n + 1);
  const pfx = scratch !== undefined ? scratch.take('rangesPfx', Int32Array, 2 * n + 1) : new Int32Array(2 * n + 1);
  let count = 0;
  const stack = new Int32Array(33);
  const stackEnd = new Float64Array(33);
  let sp = 0;
  let cursor = 0;
  const emit = (start: number, p: number): void => {
    if (count > 0 && pfx[count - 1] === p) return;
    starts[count] = start;
    pfx[count++] = p;
  };
  for (let i = 0; i < n; i++) {
    const s = addr[i] as number;
    while (sp > 0 && (stackEnd[sp - 1] as number) <= s) {
      const end = stackEnd[sp - 1] as number;
      if (cursor < end) {
        emit(cursor, stack[sp - 1] as number);
        cursor = end;
      }
      sp--;
    }
    if (cursor < s) {
      emit(cursor, sp > 0 ? (stack[sp - 1] as number) : -1);
      cursor = s;
    }
    parent[i] = sp > 0 ? (stack[sp - 1] as number) : -1;
    stack[sp] = i;
    stackEnd[sp] = s + 2 ** (32 - (len[i] as number));
    sp++;
  }
  while (sp > 0) {
    const end = stackEnd[sp - 1] as number;
    if (cursor < end) {
      emit(cursor, stack[sp - 1] as number);
      cursor = end;
    }
    sp--;
  }
  if (cursor < 2 ** 32) emit(cursor, -1);
  return { parent, starts, pfx, count };
}

/** IPv6 version of v4Ranges over bigint addresses (IPv6 prefix counts are modest; clarity first). */
export function v6Ranges(addr: readonly bigint[], len: Uint8Array, n: number): { parent: Int32Array; starts: bigint[]; pfx: Int32Array; count: number } {
  const parent = new Int32Array(n);
  const starts: bigint[] = [];
  const pfx = new Int32Array(2 * n + 1);
  const stack: number[] = [];
  const stackEnd: bigint[] = [];
  let cursor = 0n;
  const emit = (start: bigint, p: number): void => {
    if (starts.length > 0 && pfx[starts.length - 1] === p) return;
    pfx[starts.length] = p;
    starts.push(start);
  };
  for (let i = 0; i < n; i++) {
    const s = addr[i] as bigint;
    while (stack.length > 0 && (stackEnd[stackEnd.length - 1] as bigint) <= s) {
      const end = stackEnd.pop() as bigint;
      const top = stack.pop() as number;
      if (cursor < end) {
        emit(cursor, top);
        cursor = end;
      }
    }
    if (cursor < s) {
      emit(cursor, stack.length > 0 ? (stack[stack.length - 1] as number) : -1);
      cursor = s;
    }
    parent[i] = stack.length > 0 ? (stack[stack.length - 1] as number) : -1;
    stack.push(i);
    stackEnd.push(s + (1n << BigInt(128 - (len[i] as number))));
  }
  while (stack.length > 0) {
    const end = stackEnd.pop() as bigint;
    const top = stack.pop() as number;
    if (cursor < end) {
      emit(cursor, top);
      cursor = end;
    }
  }
  if (cursor < 1n << 128n) emit(cursor, -1);
  return { parent, starts, pfx, count: starts.length };
}

function slotFor(p: number): number {
  return ((p + 1) << 2) | SLOT_PREFIX;
}

/**
 * Writes the IPv4 trie into `nodes` and the range lists into `lStart/lPfx/lists`; returns the root's
 * offset in `nodes`. `idBase` is added to every prefix id.
 */
export function buildV4Trie(starts: Float64Array, pfx: Int32Array, count: number, idBase: number, nodes: I32Buf, lStart: U32Buf, lPfx: I32Buf, lists: I32Buf): number {
  const root = nodes.alloc(1 << ROOT_STRIDE, 0);
  fillV4(root, 0, ROOT_STRIDE, 32 - ROOT_STRIDE, 0, starts, pfx, count, idBase, nodes, lStart, lPfx, lists);
  return root;
}

function fillV4(node: number, blockStart: number, stride: number, shift: number, rFirst: number, starts: Float64Array, pfx: Int32Array, count: number, idBase: number, nodes: I32Buf, lStart: U32Buf, lPfx: I32Buf, lists: I32Buf): void {
  const size = 2 ** shift;
  let r = rFirst;
  const slots = 1 << stride;
  for (let k = 0; k < slots; k++) {
    const bs = blockStart + k * size;
    const be = bs + size;
    while (r + 1 < count && (starts[r + 1] as number) <= bs) r++;
    let j = r + 1;
    while (j < count && (starts[j] as number) < be) j++;
    const c = j - r;
    let slot: number;
    if (c === 1) {
      // Every slot before the next range's block resolves to this range's prefix.
      const next = j < count ? (starts[j] as number) : blockStart + slots * size;
      const kEnd = Math.min(slots, Math.floor((next - blockStart) / size));
      nodes.a.fill(slotFor(pfxId(pfx[r] as number, idBase)), node + k, node + kEnd);
      k = kEnd - 1;
      continue;
    } else if (c <= LIST_MAX || shift < NODE_STRIDE) {
      const li = lists.n - 1;
      lStart.push(bs);
      lPfx.push(pfxId(pfx[r] as number, idBase));
      for (let q = r + 1; q < j; q++) {
        lStart.push(starts[q] as number);
        lPfx.push(pfxId(pfx[q] as number, idBase));
      }
      lists.push(lPfx.n);
      slot = (li << 2) | (shift > NODE_STRIDE ? SLOT_LIST32 : SLOT_LIST);
    } else {
      const child = nodes.alloc(1 << NODE_STRIDE, 0);
      fillV4(child, bs, NODE_STRIDE, shift - NODE_STRIDE, r, starts, pfx, count, idBase, nodes, lStart, lPfx, lists);
      slot = (child << 2) | SLOT_NODE;
    }
    nodes.a[node + k] = slot;
  }
}

function pfxId(p: number, idBase: number): number {
  return p < 0 ? -1 : p + idBase;
}

/** IPv6 trie over bigint range starts; lists store 4 words per range. */
export function buildV6Trie(starts: bigint[], pfx: Int32Array, idBase: number, nodes: I32Buf, lStart: U32Buf, lPfx: I32Buf, lists: I32Buf): number {
  const root = nodes.alloc(1 << ROOT_STRIDE, 0);
  fillV6(root, 0n, ROOT_STRIDE, 128 - ROOT_STRIDE, 0, starts, pfx, idBase, nodes, lStart, lPfx, lists);
  return root;
}

function fillV6(node: number, blockStart: bigint, stride: number, shift: number, rFirst: number, starts: bigint[], pfx: Int32Array, idBase: number, nodes: I32Buf, lStart: U32Buf, lPfx: I32Buf, lists: I32Buf): void {
  const size = 1n << BigInt(shift);
  const count = starts.length;
  let r = rFirst;
  const slots = 1 << stride;
  for (let k = 0; k < slots; k++) {
    const bs = blockStart + BigInt(k) * size;
    const be = bs + size;
    while (r + 1 < count && (starts[r + 1] as bigint) <= bs) r++;
    let j = r + 1;
    while (j < count && (starts[j] as bigint) < be) j++;
    const c = j - r;
    let slot: number;
    if (c === 1) {
      const next = j < count ? (starts[j] as bigint) : blockStart + BigInt(slots) * size;
      const kEnd = Math.min(slots, Number((next - blockStart) / size));
      nodes.a.fill(slotFor(pfxId(pfx[r] as number, idBase)), node + k, node + kEnd);
      k = kEnd - 1;
      continue;
    } else if (c <= LIST_MAX || shift < NODE_STRIDE) {
      const li = lists.n - 1;
      pushV6(lStart, bs);
      lPfx.push(pfxId(pfx[r] as number, idBase));
      for (let q = r + 1; q < j; q++) {
        pushV6(lStart, starts[q] as bigint);
        lPfx.push(pfxId(pfx[q] as number, idBase));
      }
      lists.push(lPfx.n);
      slot = (li << 2) | SLOT_LIST;
    } else {
      const child = nodes.alloc(1 << NODE_STRIDE, 0);
      fillV6(child, bs, NODE_STRIDE, shift - NODE_STRIDE, r, starts, pfx, idBase, nodes, lStart, lPfx, lists);
      slot = (child << 2) | SLOT_NODE;
    }
    nodes.a[node + k] = slot;
  }
}

function pushV6(b: U32Buf, x: bigint): void {
  b.push(Number((x >> 96n) & 0xffffffffn));
  b.push(Number((x >> 64n) & 0xffffffffn));
  b.push(Number((x >> 32n) & 0xffffffffn));
  b.push(Number(x & 0xffffffffn));
}
