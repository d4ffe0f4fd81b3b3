// HOT: guarded by `npm run bench -- aggregate` (bench/aggregate/group-table.ts).
//
// GroupTable: group key → summed metrics, all in typed arrays (DESIGN.md §4: workers pre-aggregate
// per batch into a typed-array hash table; partials merge without per-row objects).
//
// A key is `keyWords` Int32 words (window index, dimension value ids, protocol, port, action …;
// the caller encodes them). Open addressing with linear probing over a power-of-two table kept at
// most half full. Every slot lives in ONE buffer with a fixed stride, viewed as Int32 and as Float64:
//
//   slot s, at byte s × slotBytes(keyWords):
//     Int32   hash              the key's 32-bit hash, forced odd (0 = empty slot); compared first
//     Int32   key[keyWords]
//     Int32   pad               when keyWords is even, so the metrics are 8-byte aligned
//     Float64 metrics[5]        M_* order; Float64 is exact to 2^53 (byte sums exceed 4 GiB quickly)
//
// That is 56 bytes for 3 key words and 64, one cache line, for 5 (the default plan). Callers read
// slots through hashAt / keyWord / metric / copyKey / copyMetrics, never through offsets. Slots are
// also listed in insertion order (`order`), so iterating, exporting and clearing cost O(groups), not
// O(capacity): a per-batch table is cleared and reused without being reallocated.
//
// Why one buffer. It replaced three arrays (hashes, keys, metrics). Scratch loop: 1.4M adds over 1M
// distinct random keys (753k groups), table made inside the timing, ns per add as CPU time, median of
// 7 alternating rounds in one process (2-core EPYC KVM guest, Node 20), three arrays → one buffer:
//   grown from 4096 groups       3 words 584 → 434, 5 words 732 → 512 (shared: 676 → 493, 592 → 453)
//   presized for 2M groups       3 words 399 → 424 and 386 → 395 (a tie), 5 words 495 → 443 (shared 412 → 373)
//   reused (cleared, no faults)  3 words a tie (223–301 both ways), 5 words 309 → 258 presized
//   50k groups, grown            3 words 112 → 78, 5 words 210 → 125 (reused: 142 → 126, 146 → 128)
// The three arrays did NOT cost three serial misses: a new key's key and metric writes are buffered
// stores, and a found key's three loads go out in parallel once the slot is known, while the 4-byte
// hash array stayed half in L3. What one buffer wins is one line and one TLB entry per slot, half the
// page faults of fresh memory, and the sequential walks below. Padding 56-byte slots to 64, so none
// straddles a line, measured the same within noise (3 words, 64 vs 56 bytes: reused 235 vs 231
// presized, 253 vs 258 grown; fresh 390 vs 398, 458 vs 444); slots are packed: 12% less memory to fault in.
//
// Three choices follow from the measurements. (1) `grow` walks the old slots in slot order: a group's
// new home is its old one or old + capacity, so the new table is written as two near-sequential
// streams instead of at random. (2) `mergeFrom` walks a table at least 1/8 full in slot order too:
// both tables are then read and written nearly sequentially (bench "merge two halves" 416 → 92 ns a
// group). (3) A new buffer gets one write per 4 KiB page first (`prefault`): probing reads a slot
// before writing it, and a read of a never-written page maps the zero page, so the write faulted a
// second time (256 MiB: write-touch 175 ms, read-then-write 290 ms; presized 3-word case 608 → 485).
//
// `partitionOf(hash, parts)` gives a key's partition from the same hash, so partials can be split by
// key space and merged by several threads at once (the merge must scale with workers, issue #4).

export const METRICS = 5;
export const M_FLOWS = 0;
export const M_PACKETS = 1;
export const M_BYTES = 2;
export const M_UNATTRIBUTED_SRC = 3;
export const M_UNATTRIBUTED_DST = 4;

/** 32-bit hash of key words (murmur3-style mixing); odd, so never 0. */
export function hashKey(keys: Int32Array, off: number, words: number): number {
  let h = 0x2545f491;
  for (let i = 0; i < words; i++) {
    let k = Math.imul(keys[off + i] as number, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= words;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 1;
}

/** Partition in [0, parts) from a key hash (high bits: independent of the low bits used for slots). */
export function partitionOf(hash: number, parts: number): number {
  return Math.floor(((hash >>> 16) * parts) / 65536);
}

/** A shared table's buffers and size, as posted between threads. */
export interface GroupTableHandle {
  keyWords: number;
  capacity: number;
  size: number;
  /** capacity × slotBytes(keyWords) bytes: hash, key words, metrics of each slot (layout above). */
  slots: SharedArrayBuffer;
  order: SharedArrayBuffer;
}

/** Int32 words before a slot's metrics: the hash and the key words, padded so the metrics are 8-byte aligned. */
const headWords = (keyWords: number): number => (keyWords + 2) & ~1;

/** Bytes per slot for `keyWords`-word keys: hash, key words, padding to 8, metrics (56 for 3 words, 64 for 5). */
export function slotBytes(keyWords: number): number {
  return headWords(keyWords) * 4 + METRICS * 8;
}

/** Int32 words per 4 KiB page (`prefault` writes one per page). */
const PAGE_WORDS = 1024;

export class GroupTable {
  readonly keyWords: number;
  /** Backed by SharedArrayBuffers (a merge partition another thread continues, `toHandle`). */
  readonly shared: boolean;
  /** Int32 words per slot (slotBytes / 4). */
  private readonly stride: number;
  /** Float64 index of a slot's first metric, relative to the slot's first Float64. */
  private readonly metricsAt: number;
  private cap: number;
  private mask: number;
  /** Groups held. */
  size: number;
  /** The slots as Int32 words: word 0 of slot s (at s × stride) is its hash, words 1 … keyWords its key. */
  private i32: Int32Array;
  /** The same buffer as Float64: the metrics of slot s are at s × stride / 2 + metricsAt + M_*. */
  private f64: Float64Array;
  /** Slot of the i-th group inserted, for i < size. */
  order: Int32Array;

  constructor(keyWords: number, expectedGroups = 1024, shared = false, from?: GroupTableHandle) {
    if (!Number.isInteger(keyWords) || keyWords < 1) throw new RangeError('keyWords must be a positive integer');
    // Every table, new or continued from a handle, initialises the same fields in the same order: one
    // hidden class, so `add` stays monomorphic (a table made with Object.create ran the merge ~3× slower).
    this.keyWords = keyWords;
    this.shared = shared || from !== undefined;
    this.stride = slotBytes(keyWords) >>> 2;
    this.metricsAt = headWords(keyWords) >>> 1;
    let cap = 16;
    while (cap < expectedGroups * 2) cap *= 2;
    if (from !== undefined) cap = from.capacity;
    this.cap = cap;
    this.mask = cap - 1;
    this.size = from?.size ?? 0;
    const slots = from !== undefined ? from.slots : this.buffer(cap * this.stride * 4);
    this.i32 = new Int32Array(slots);
    this.f64 = new Float64Array(slots);
    this.order = from !== undefined ? new Int32Array(from.order) : new Int32Array(this.buffer((cap >>> 1) * 4));
    if (from === undefined) prefault(this.i32);
  }

  private buffer(bytes: number): ArrayBuffer | SharedArrayBuffer {
    return this.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  }

  /** Slots (a power of two; the table grows when more than half are used). */
  get capacity(): number {
    return this.cap;
  }

  /** The key hash stored in `slot` (odd; 0 for an empty slot). */
  hashAt(slot: number): number {
    return this.i32[slot * this.stride] as number;
  }

  /** Word `w` of the key stored in `slot`. */
  keyWord(slot: number, w: number): number {
    return this.i32[slot * this.stride + 1 + w] as number;
  }

  /** Metric `m` (M_*) of the group in `slot`. */
  metric(slot: number, m: number): number {
    return this.f64[((slot * this.stride) >> 1) + this.metricsAt + m] as number;
  }

  /** Copies the key words of `slot` to `dst[dstOff .. dstOff + keyWords)`. */
  copyKey(slot: number, dst: Int32Array, dstOff: number): void {
    const i32 = this.i32;
    const b = slot * this.stride + 1;
    for (let w = 0; w < this.keyWords; w++) dst[dstOff + w] = i32[b + w] as number;
  }

  /** Copies the METRICS metrics of `slot` to `dst[dstOff .. dstOff + METRICS)`. */
  copyMetrics(slot: number, dst: Float64Array, dstOff: number): void {
    const f64 = this.f64;
    const m = ((slot * this.stride) >> 1) + this.metricsAt;
    for (let i = 0; i < METRICS; i++) dst[dstOff + i] = f64[m + i] as number;
  }

  /** The table's state as shared buffers (no copy), for another thread to continue it. */
  toHandle(): GroupTableHandle {
    if (!this.shared) throw new TypeError('toHandle needs a table built with shared = true');
    return {
      keyWords: this.keyWords,
      capacity: this.cap,
      size: this.size,
      slots: this.i32.buffer as SharedArrayBuffer,
      order: this.order.buffer as SharedArrayBuffer,
    };
  }

  /** Continues a shared table from its handle (the same memory: writes are seen by the handle's owner). */
  static fromHandle(h: GroupTableHandle): GroupTable {
    return new GroupTable(h.keyWords, 0, true, h);
  }

  /**
   * Adds one flow's (or one group's) metrics under the key at `key[off .. off + keyWords)` with
   * hash `h` (hashKey of the same words). Returns the slot.
   */
  add(key: Int32Array, off: number, h: number, flows: number, packets: number, bytes: number, unSrc: number, unDst: number): number {
    const kw = this.keyWords;
    const stride = this.stride;
    const mask = this.mask;
    const i32 = this.i32;
    let s = h & mask;
    let b = s * stride;
    while (true) {
      const sh = i32[b] as number;
      if (sh === 0) break;
      if (sh === h) {
        let i = 0;
        while (i < kw && i32[b + 1 + i] === key[off + i]) i++;
        if (i === kw) {
          const f64 = this.f64;
          const m = (b >> 1) + this.metricsAt;
          f64[m] = (f64[m] as number) + flows;
          f64[m + 1] = (f64[m + 1] as number) + packets;
          f64[m + 2] = (f64[m + 2] as number) + bytes;
          f64[m + 3] = (f64[m + 3] as number) + unSrc;
          f64[m + 4] = (f64[m + 4] as number) + unDst;
          return s;
        }
      }
      s = (s + 1) & mask;
      b = s * stride;
    }
    if (this.size >= this.cap >>> 1) {
      this.grow();
      return this.add(key, off, h, flows, packets, bytes, unSrc, unDst);
    }
    i32[b] = h;
    for (let i = 0; i < kw; i++) i32[b + 1 + i] = key[off + i] as number;
    const f64 = this.f64;
    const m = (b >> 1) + this.metricsAt;
    f64[m] = flows;
    f64[m + 1] = packets;
    f64[m + 2] = bytes;
    f64[m + 3] = unSrc;
    f64[m + 4] = unDst;
    this.order[this.size++] = s;
    return s;
  }

  /**
   * Reads the home slot of each of `hashes[from .. to)`: the loads are independent, so their cache
   * misses overlap, and the adds that follow find the slots' lines in cache (encode.ts, and the
   * partials' merge). Returns an XOR of what it read, for the caller to keep (so the reads are not
   * dead code).
   */
  touch(hashes: Int32Array, from: number, to: number): number {
    const i32 = this.i32;
    const mask = this.mask;
    const stride = this.stride;
    let x = 0;
    for (let i = from; i < to; i++) x ^= i32[((hashes[i] as number) & mask) * stride] as number;
    return x;
  }

  /**
   * Adds every group of `other` (same keyWords) into this table. A table at least 1/8 full is walked
   * in slot order: its reads are sequential, and since a group's home slot is the low bits of its
   * hash in both tables, so are most of this table's writes (200k groups, 3–6 key words: 350–390 →
   * 79–91 ns a group against walking `other.order`). Groups new to this table are therefore appended
   * in `other`'s slot order, not its insertion order.
   */
  mergeFrom(other: GroupTable): void {
    if (other.keyWords !== this.keyWords) throw new RangeError(`cannot merge a ${other.keyWords}-word table into a ${this.keyWords}-word one`);
    const oi = other.i32;
    const of = other.f64;
    const stride = other.stride;
    const metricsAt = other.metricsAt;
    if (other.size * 8 >= other.cap) {
      const end = other.cap * stride;
      for (let b = 0; b < end; b += stride) {
        const h = oi[b] as number;
        if (h === 0) continue;
        const m = (b >> 1) + metricsAt;
        this.add(oi, b + 1, h, of[m] as number, of[m + 1] as number, of[m + 2] as number, of[m + 3] as number, of[m + 4] as number);
      }
      return;
    }
    for (let i = 0; i < other.size; i++) {
      const b = (other.order[i] as number) * stride;
      const m = (b >> 1) + metricsAt;
      this.add(oi, b + 1, oi[b] as number, of[m] as number, of[m + 1] as number, of[m + 2] as number, of[m + 3] as number, of[m + 4] as number);
    }
  }


  /** Empties the table in O(groups), keeping its buffers (metrics are overwritten on the next insert). */
  clear(): void {
    const i32 = this.i32;
    const stride = this.stride;
    for (let i = 0; i < this.size; i++) i32[(this.order[i] as number) * stride] = 0;
    this.size = 0;
  }

  /**
   * Doubles the capacity. The old slots are walked in slot order, so the new table is written as
   * two nearly sequential streams (a slot's new home is its old home or old home + old capacity)
   * instead of at random; `order` is then mapped through old slot → new slot, keeping insertion order.
   * A walk starts after an empty slot, so no probe run wraps past the start. Each slot is copied
   * whole as Int32 words (the Float64 metrics bit for bit); its key is not compared (all distinct).
   */
  private grow(): void {
    const old = this.i32;
    const oldOrder = this.order;
    const oldCap = this.cap;
    const oldMask = oldCap - 1;
    const n = this.size;
    const stride = this.stride;
    const used = headWords(this.keyWords) + METRICS * 2;
    this.cap = oldCap * 2;
    this.mask = this.cap - 1;
    const slots = this.buffer(this.cap * stride * 4);
    this.i32 = new Int32Array(slots);
    this.f64 = new Float64Array(slots);
    this.order = new Int32Array(this.buffer((this.cap >>> 1) * 4));
    prefault(this.i32);
    const i32 = this.i32;
    const mask = this.mask;
    const moved = new Int32Array(oldCap);
    let start = 0;
    while (old[start * stride] !== 0) start++; // at most half full: an empty slot exists
    for (let k = 1; k <= oldCap; k++) {
      const s = (start + k) & oldMask;
      const from = s * stride;
      const h = old[from] as number;
      if (h === 0) continue;
      let t = h & mask;
      while (i32[t * stride] !== 0) t = (t + 1) & mask;
      const to = t * stride;
      for (let w = 0; w < used; w++) i32[to + w] = old[from + w] as number;
      moved[s] = t;
    }
    const order = this.order;
    for (let i = 0; i < n; i++) order[i] = moved[oldOrder[i] as number] as number;
  }
}

/**
 * Writes one word of every 4 KiB page of a new slot buffer. Probing reads a slot before writing it,
 * and a read of a never-touched page maps the zero page, so each page then faults twice (read, then
 * copy-on-write); one write per page up front costs one fault. The memory is zero already, so
 * writing 0 changes nothing.
 */
function prefault(words: Int32Array): void {
  for (let i = 0; i < words.length; i += PAGE_WORDS) words[i] = 0;
}
