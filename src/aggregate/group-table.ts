// HOT: guarded by `npm run bench -- aggregate` (bench/aggregate/group-table.ts).
//
// GroupTable: group key → summed metrics, all in typed arrays (DESIGN.md §4: workers pre-aggregate
// per batch into a typed-array hash table; partials merge without per-row objects).
//
// A key is `keyWords` Int32 words (window index, dimension value ids, protocol, port, action …;
// the caller encodes them). Open addressing with linear probing over a power-of-two table kept at
// most half full; each slot stores the key's 32-bit hash (forced odd, so 0 means empty), compared
// before the key words, so a probe rarely touches the key array of another group. Metrics are
// Float64 (exact to 2^53: byte sums exceed 4 GiB quickly). Slots are also listed in insertion order,
// so iterating, exporting and clearing cost O(groups), not O(capacity): a per-batch table is cleared
// and reused without being reallocated.
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
  hashes: SharedArrayBuffer;
  keys: SharedArrayBuffer;
  metrics: SharedArrayBuffer;
  order: SharedArrayBuffer;
}

export class GroupTable {
  readonly keyWords: number;
  private capacity: number;
  private mask: number;
  /** Groups held. */
  size: number;
  hashes: Int32Array;
  keys: Int32Array;
  metrics: Float64Array;
  /** Slot of the i-th group inserted, for i < size. */
  order: Int32Array;

  /** Backed by SharedArrayBuffers (a merge partition another thread continues, `toHandle`). */
  readonly shared: boolean;

  constructor(keyWords: number, expectedGroups = 1024, shared = false, from?: GroupTableHandle) {
    if (!Number.isInteger(keyWords) || keyWords < 1) throw new RangeError('keyWords must be a positive integer');
    // Every table, new or continued from a handle, initialises the same fields in the same order: one
    // hidden class, so `add` stays monomorphic (a table made with Object.create ran the merge ~3× slower).
    this.keyWords = keyWords;
    this.shared = shared || from !== undefined;
    let cap = 16;
    while (cap < expectedGroups * 2) cap *= 2;
    if (from !== undefined) cap = from.capacity;
    this.capacity = cap;
    this.mask = cap - 1;
    this.size = from?.size ?? 0;
    this.hashes = from !== undefined ? new Int32Array(from.hashes) : this.i32(cap);
    this.keys = from !== undefined ? new Int32Array(from.keys) : this.i32(cap * keyWords);
    this.metrics = from !== undefined ? new Float64Array(from.metrics) : this.shared ? new Float64Array(new SharedArrayBuffer(cap * METRICS * 8)) : new Float64Array(cap * METRICS);
    this.order = from !== undefined ? new Int32Array(from.order) : this.i32(cap >>> 1);
  }

  private i32(n: number): Int32Array {
    return this.shared ? new Int32Array(new SharedArrayBuffer(n * 4)) : new Int32Array(n);
  }

  /** The table's state as shared buffers (no copy), for another thread to continue it. */
  toHandle(): GroupTableHandle {
    if (!this.shared) throw new TypeError('toHandle needs a table built with shared = true');
    return {
      keyWords: this.keyWords,
      capacity: this.capacity,
      size: this.size,
      hashes: this.hashes.buffer as SharedArrayBuffer,
      keys: this.keys.buffer as SharedArrayBuffer,
      metrics: this.metrics.buffer as SharedArrayBuffer,
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
    const hashes = this.hashes;
    const keys = this.keys;
    let s = h & this.mask;
    while (true) {
      const sh = hashes[s] as number;
      if (sh === 0) break;
      if (sh === h) {
        const base = s * kw;
        let i = 0;
        while (i < kw && keys[base + i] === key[off + i]) i++;
        if (i === kw) {
          const m = s * METRICS;
          const metrics = this.metrics;
          metrics[m] = (metrics[m] as number) + flows;
          metrics[m + 1] = (metrics[m + 1] as number) + packets;
          metrics[m + 2] = (metrics[m + 2] as number) + bytes;
          metrics[m + 3] = (metrics[m + 3] as number) + unSrc;
          metrics[m + 4] = (metrics[m + 4] as number) + unDst;
          return s;
        }
      }
      s = (s + 1) & this.mask;
    }
    if (this.size >= this.capacity >>> 1) {
      this.grow();
      return this.add(key, off, h, flows, packets, bytes, unSrc, unDst);
    }
    hashes[s] = h;
    const base = s * kw;
    for (let i = 0; i < kw; i++) keys[base + i] = key[off + i] as number;
    const m = s * METRICS;
    const metrics = this.metrics;
    metrics[m] = flows;
    metrics[m + 1] = packets;
    metrics[m + 2] = bytes;
    metrics[m + 3] = unSrc;
    metrics[m + 4] = unDst;
    this.order[this.size++] = s;
    return s;
  }

  /** Adds every group of `other` (same keyWords) into this table. */
  mergeFrom(other: GroupTable): void {
    if (other.keyWords !== this.keyWords) throw new RangeError(`cannot merge a ${other.keyWords}-word table into a ${this.keyWords}-word one`);
    const om = other.metrics;
    for (let i = 0; i < other.size; i++) {
      const s = other.order[i] as number;
      const m = s * METRICS;
      this.add(other.keys, s * other.keyWords, other.hashes[s] as number, om[m] as number, om[m + 1] as number, om[m + 2] as number, om[m + 3] as number, om[m + 4] as number);
    }
  }

  /** Empties the table in O(groups), keeping its arrays. */
  clear(): void {
    const hashes = this.hashes;
    for (let i = 0; i < this.size; i++) hashes[this.order[i] as number] = 0;
    this.size = 0;
  }

  private grow(): void {
    const old = { hashes: this.hashes, keys: this.keys, metrics: this.metrics, order: this.order, size: this.size };
    const kw = this.keyWords;
    this.capacity *= 2;
    this.mask = this.capacity - 1;
    this.hashes = this.i32(this.capacity);
    this.keys = this.i32(this.capacity * kw);
    this.metrics = this.shared ? new Float64Array(new SharedArrayBuffer(this.capacity * METRICS * 8)) : new Float64Array(this.capacity * METRICS);
    this.order = this.i32(this.capacity >>> 1);
    this.size = 0;
    for (let i = 0; i < old.size; i++) {
      const s = old.order[i] as number;
      const m = s * METRICS;
      const om = old.metrics;
      this.add(old.keys, s * kw, old.hashes[s] as number, om[m] as number, om[m + 1] as number, om[m + 2] as number, om[m + 3] as number, om[m + 4] as number);
    }
  }
}
