// Heartbeat extraction in the worker (issue #3's heartbeats API, fed by the pipeline): the local side of
// a record proves that the owner of its interface-id / instance-id owned that address over
// [start, end]. The worker does not know which interface maps to which owner (the builder, on the main
// thread, does), so it only collects candidates, deduplicated per batch in typed arrays:
//
//   flow-direction egress   local = srcaddr           (a certain local side)
//   flow-direction ingress  local = dstaddr
//   no flow-direction       both addresses, flagged   (the builder keeps the one its snapshot maps to
//                                                      the interface, DESIGN.md §9)
//
// One candidate per distinct (address, interface or instance bytes, certainty) with the smallest start
// and largest end seen. IPv4 only (IPv6 local sides are counted as skipped). Returned as one shared
// buffer: Int32 rows [addr, h0, h1, flags, textOff, textLen] + Float64 [start, end] + the id bytes.

import { KIND_TEXT, STATUS_OK } from '../parse/fields.js';
import type { FlowBatch } from '../parse/flow-batch.js';

export const HB_CERTAIN = 1;
/** The id text is an instance id (else an interface id). */
export const HB_INSTANCE = 2;

export interface HeartbeatCandidates {
  count: number;
  ints: Int32Array; // 6 per candidate
  times: Float64Array; // 2 per candidate
  bytes: Uint8Array;
  skippedV6: number;
}

/** Hash of a candidate's identity (address, id-text hash, flags), for the dedup table. */
function slotHash(addr: number, h0: number, h1: number, flags: number): number {
  const h = Math.imul(addr ^ h0, 0x9e3779b1) ^ (h1 + flags);
  return h ^ (h >>> 15);
}

export class HeartbeatCollector {
  private cap = 1024;
  private slots = new Int32Array(2048); // hash table: candidate index + 1, 0 empty
  private ints = new Int32Array(1024 * 6);
  private times = new Float64Array(1024 * 2);
  private bytes = new Uint8Array(16384);
  private byteLen = 0;
  count = 0;
  skippedV6 = 0;

  reset(): void {
    if (this.count > 0) this.slots.fill(0);
    this.count = 0;
    this.byteLen = 0;
    this.skippedV6 = 0;
  }

  /** Collects the candidates of one FlowBatch (no-op when the format cannot give heartbeats). */
  collect(batch: FlowBatch): void {
    const f = batch.format;
    const iIf = f.indexOf('interface-id');
    const iInst = f.indexOf('instance-id');
    const iSrc = f.indexOf('srcaddr');
    const iDst = f.indexOf('dstaddr');
    const iStart = f.indexOf('start');
    const iEnd = f.indexOf('end');
    if ((iIf < 0 && iInst < 0) || iSrc < 0 || iDst < 0 || iStart < 0 || iEnd < 0) return;
    const iDir = f.indexOf('flow-direction');
    const iStatus = f.indexOf('log-status');
    const bIf = iIf >= 0 && f.kinds[iIf] === KIND_TEXT ? (batch.bases[iIf] as number) : -1;
    const bInst = iInst >= 0 && f.kinds[iInst] === KIND_TEXT ? (batch.bases[iInst] as number) : -1;
    const bDir = iDir >= 0 ? (batch.bases[iDir] as number) : -1;
    const bSrc = batch.bases[iSrc] as number;
    const bDst = batch.bases[iDst] as number;
    const bStart = batch.bases[iStart] as number;
    const bEnd = batch.bases[iEnd] as number;
    const bStatus = iStatus >= 0 ? (batch.bases[iStatus] as number) : -1;
    const src = batch.src;
    for (let r = 0; r < batch.length; r++) {
      if (bStatus >= 0 && batch.u8[bStatus + r] !== STATUS_OK) continue;
      if (batch.isNull(r, iStart) || batch.isNull(r, iEnd)) continue;
      let idCell = -1;
      let flags = 0;
      if (bIf >= 0 && !batch.isNull(r, iIf)) idCell = bIf + r;
      else if (bInst >= 0 && !batch.isNull(r, iInst)) {
        idCell = bInst + r;
        flags |= HB_INSTANCE;
      }
      if (idCell < 0) continue;
      let dir = 0; // 1 egress, 2 ingress, 0 unknown
      if (bDir >= 0 && !batch.isNull(r, iDir)) {
        const o = batch.toff[bDir + r] as number;
        const c = src[o];
        dir = c === 101 ? 1 : c === 105 ? 2 : 0; // 'e'gress / 'i'ngress
      }
      const off = batch.toff[idCell] as number;
      const len = batch.tlen[idCell] as number;
      const start = batch.ints[bStart + r] as number;
      const end = batch.ints[bEnd + r] as number;
      if (dir !== 2) this.add(batch, bSrc + r, dir === 1 ? flags | HB_CERTAIN : flags, src, off, len, start, end);
      if (dir !== 1) this.add(batch, bDst + r, dir === 2 ? flags | HB_CERTAIN : flags, src, off, len, start, end);
    }
  }

  private add(batch: FlowBatch, cell: number, flags: number, src: Uint8Array, off: number, len: number, start: number, end: number): void {
    if (batch.fam[cell] !== 4) {
      if (batch.fam[cell] === 6) this.skippedV6++;
      return;
    }
    const addr = batch.addr[cell] as number;
    let h0 = 0x811c9dc5 | 0;
    let h1 = 0x2545f491;
    for (let i = off, e = off + len; i < e; i++) {
      const c = src[i] as number;
      h0 = Math.imul(h0 ^ c, 0x01000193);
      h1 = Math.imul(h1 ^ c, 0x5bd1e995) ^ (h1 >>> 13);
    }
    const mask = this.slots.length - 1;
    let s = slotHash(addr, h0, h1, flags) & mask;
    const ints = this.ints;
    while (true) {
      const v = this.slots[s] as number;
      if (v === 0) break;
      const c = (v - 1) * 6;
      if (ints[c] === (addr | 0) && ints[c + 1] === h0 && ints[c + 2] === h1 && ints[c + 3] === flags) {
        const t = (v - 1) * 2;
        if (start < (this.times[t] as number)) this.times[t] = start;
        if (end > (this.times[t + 1] as number)) this.times[t + 1] = end;
        return;
      }
      s = (s + 1) & mask;
    }
    if (this.count >= this.cap) {
      this.grow();
      this.add(batch, cell, flags, src, off, len, start, end);
      return;
    }
    const i = this.count++;
    this.slots[s] = i + 1;
    if (this.byteLen + len > this.bytes.length) {
      const b = new Uint8Array(Math.max(this.bytes.length * 2, this.byteLen + len));
      b.set(this.bytes);
      this.bytes = b;
    }
    this.bytes.set(src.subarray(off, off + len), this.byteLen);
    const c = i * 6;
    ints[c] = addr | 0;
    ints[c + 1] = h0;
    ints[c + 2] = h1;
    ints[c + 3] = flags;
    ints[c + 4] = this.byteLen;
    ints[c + 5] = len;
    this.byteLen += len;
    this.times[i * 2] = start;
    this.times[i * 2 + 1] = end;
  }

  private grow(): void {
    this.cap *= 2;
    const ints = new Int32Array(this.cap * 6);
    ints.set(this.ints);
    this.ints = ints;
    const times = new Float64Array(this.cap * 2);
    times.set(this.times);
    this.times = times;
    // Rehash every candidate into a table twice the size.
    this.slots = new Int32Array(this.cap * 2);
    const mask = this.slots.length - 1;
    for (let i = 0; i < this.count; i++) {
      const c = i * 6;
      let s = slotHash(this.ints[c] as number, this.ints[c + 1] as number, this.ints[c + 2] as number, this.ints[c + 3] as number) & mask;
      while (this.slots[s] !== 0) s = (s + 1) & mask;
      this.slots[s] = i + 1;
    }
  }

  /** The candidates in shared memory (posted back without a copy). */
  export(): HeartbeatCandidates {
    const ints = new Int32Array(new SharedArrayBuffer(Math.max(4, this.count * 24)));
    ints.set(this.ints.subarray(0, this.count * 6));
    const times = new Float64Array(new SharedArrayBuffer(Math.max(8, this.count * 16)));
    times.set(this.times.subarray(0, this.count * 2));
    const bytes = new Uint8Array(new SharedArrayBuffer(Math.max(1, this.byteLen)));
    bytes.set(this.bytes.subarray(0, this.byteLen));
    return { count: this.count, ints, times, bytes, skippedV6: this.skippedV6 };
  }
}
