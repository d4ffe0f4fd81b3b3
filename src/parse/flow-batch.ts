// FlowBatch: a columnar, typed-array view of up to `capacity` flow records of one format, filled by the
// scanner without a string per field (DESIGN.md §2). Each field kind has one backing array, and a field
// owns the stripe `[slot * capacity, (slot + 1) * capacity)` of its kind's array, so the scanner's
// stores stay monomorphic whatever the format:
//
//   ints   Float64Array  version packets bytes start end tcp-flags traffic-path packets-lost-*  (exact to 2^53)
//   ports  Uint16Array   srcport dstport
//   u8     Uint8Array    protocol, action (1 ACCEPT, 2 REJECT), log-status (1 OK, 2 NODATA, 3 SKIPDATA)
//   addr   Uint32Array   IPv4 as uint32; for IPv6 the index of its 16 bytes in `v6`
//   fam    Uint8Array    0 absent, 4 IPv4, 6 IPv6 (per address cell)
//   toff   Uint32Array   text token start offset in `src`;  tlen: its length
//   nulls  Uint32Array   `nullWords` bits per row: bit i set when field i was `-`
//
// Text and addresses as written stay in `src` (the decoded bytes the batch was scanned from), so
// rendering at the edges (dredge parse, errors) reads them back without the hot path ever copying.
// A batch is reused: `reset()` keeps the arrays.

import {
  FlowFormat,
  KIND_ACTION,
  KIND_ADDR,
  KIND_INT,
  KIND_PORT,
  KIND_PROTO,
  KIND_STATUS,
  KIND_TEXT,
} from './fields.js';
import { grown } from '../typed.js';

export const DEFAULT_BATCH_ROWS = 8192;

export class FlowBatch {
  readonly format: FlowFormat;
  readonly capacity: number;
  /** Rows filled. */
  length = 0;
  /** The bytes text offsets point into (set by the scanner). */
  src: Uint8Array = EMPTY;

  readonly ints: Float64Array;
  readonly ports: Uint16Array;
  readonly u8: Uint8Array;
  readonly addr: Uint32Array;
  readonly fam: Uint8Array;
  readonly toff: Uint32Array;
  readonly tlen: Uint32Array;
  readonly nulls: Uint32Array;
  /** Per field position: where its column starts in its kind's backing array. */
  readonly bases: Int32Array;
  /** IPv6 addresses, 16 bytes each; `addr` holds the index for cells whose `fam` is 6. */
  v6: Uint8Array;
  /** Where each IPv6 address was written in `src` (rendering keeps the text as written). */
  v6Off: Uint32Array = new Uint32Array(0);
  v6Len: Uint32Array = new Uint32Array(0);
  v6Count = 0;

  constructor(format: FlowFormat, capacity = DEFAULT_BATCH_ROWS) {
    this.format = format;
    this.capacity = capacity;
    const k = format.kindCounts;
    this.ints = new Float64Array((k[KIND_INT] as number) * capacity);
    this.ports = new Uint16Array((k[KIND_PORT] as number) * capacity);
    this.u8 = new Uint8Array(((k[KIND_PROTO] as number) + (k[KIND_ACTION] as number) + (k[KIND_STATUS] as number)) * capacity);
    this.addr = new Uint32Array((k[KIND_ADDR] as number) * capacity);
    this.fam = new Uint8Array((k[KIND_ADDR] as number) * capacity);
    this.toff = new Uint32Array((k[KIND_TEXT] as number) * capacity);
    this.tlen = new Uint32Array((k[KIND_TEXT] as number) * capacity);
    this.nulls = new Uint32Array(format.nullWords * capacity);
    this.v6 = new Uint8Array(0);
    this.bases = new Int32Array(format.names.length);
    for (let i = 0; i < format.names.length; i++) this.bases[i] = this.columnBase(i);
  }

  reset(): void {
    this.length = 0;
    this.v6Count = 0;
    this.src = EMPTY;
  }

  /** Appends 16 IPv6 bytes; returns their index. Cold path: grows the side table geometrically. */
  pushV6(bytes: Uint8Array, tokStart: number, tokLen: number): number {
    const idx = this.v6Count++;
    if (idx >= this.v6Off.length) {
      const n = Math.max(16, this.v6Off.length * 2);
      this.v6 = grown(this.v6, n * 16);
      this.v6Off = grown(this.v6Off, n);
      this.v6Len = grown(this.v6Len, n);
    }
    this.v6.set(bytes.subarray(0, 16), idx * 16);
    this.v6Off[idx] = tokStart;
    this.v6Len[idx] = tokLen;
    return idx;
  }

  /** Offset of field position `i`'s column inside its kind's backing array. */
  columnBase(i: number): number {
    const kind = this.format.kinds[i];
    const slot = this.format.slots[i] as number;
    if (kind === KIND_PROTO) return slot * this.capacity;
    const k = this.format.kindCounts;
    if (kind === KIND_ACTION) return ((k[KIND_PROTO] as number) + slot) * this.capacity;
    if (kind === KIND_STATUS) return ((k[KIND_PROTO] as number) + (k[KIND_ACTION] as number) + slot) * this.capacity;
    return slot * this.capacity;
  }

  isNull(row: number, i: number): boolean {
    return ((this.nulls[row * this.format.nullWords + (i >>> 5)] as number) & (1 << (i & 31))) !== 0;
  }

  /** Typed views of one field's column (length `capacity`; rows beyond `length` are stale). */
  intColumn(name: string): Float64Array {
    return this.view(name, KIND_INT, this.ints) as Float64Array;
  }
  portColumn(name: string): Uint16Array {
    return this.view(name, KIND_PORT, this.ports) as Uint16Array;
  }
  /** protocol, action or log-status. */
  u8Column(name: string): Uint8Array {
    const i = this.requireField(name);
    const kind = this.format.kinds[i];
    if (kind !== KIND_PROTO && kind !== KIND_ACTION && kind !== KIND_STATUS) throw new TypeError(`${name} is not a protocol/action/log-status field`);
    const base = this.columnBase(i);
    return this.u8.subarray(base, base + this.capacity);
  }
  addrColumn(name: string): { addr: Uint32Array; fam: Uint8Array } {
    const i = this.requireField(name);
    if (this.format.kinds[i] !== KIND_ADDR) throw new TypeError(`${name} is not an address field`);
    const base = this.columnBase(i);
    return { addr: this.addr.subarray(base, base + this.capacity), fam: this.fam.subarray(base, base + this.capacity) };
  }

  /** The text of a text field as written, or null for `-` (edge use only: allocates a string). */
  text(row: number, i: number): string | null {
    if (this.isNull(row, i)) return null;
    const cell = this.columnBase(i) + row;
    const off = this.toff[cell] as number;
    return latin1OrUtf8(this.src, off, off + (this.tlen[cell] as number));
  }

  private requireField(name: string): number {
    const i = this.format.indexOf(name);
    if (i < 0) throw new RangeError(`this batch's format has no field "${name}" (format: ${this.format.names.join(' ')})`);
    return i;
  }

  private view(name: string, kind: number, arr: Float64Array | Uint16Array): Float64Array | Uint16Array {
    const i = this.requireField(name);
    if (this.format.kinds[i] !== kind) throw new TypeError(`${name} is not stored in this column kind`);
    const base = this.columnBase(i);
    return arr.subarray(base, base + this.capacity);
  }
}

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8');

/** Decodes a byte range; pure ASCII takes the cheap path. */
export function latin1OrUtf8(src: Uint8Array, start: number, end: number): string {
  let ascii = true;
  for (let p = start; p < end; p++) {
    if ((src[p] as number) > 127) {
      ascii = false;
      break;
    }
  }
  if (ascii && end - start < 64) {
    let s = '';
    for (let p = start; p < end; p++) s += String.fromCharCode(src[p] as number);
    return s;
  }
  return utf8.decode(src.subarray(start, end));
}
