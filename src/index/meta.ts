// Metadata records: what an attributed address resolves to (app, cluster, account, region, az, vpc,
// subnet, owner, interface/instance id and any extra snapshot column), interned on the builder side and
// frozen as one FlatBuffers table inside a generation. Written with the flatbuffers runtime by hand
// (no flatc in the build); the schema it implements:
//
//   table Record   { fields:[int];    // one string id per META_KEYS entry, -1 when absent
//                    extra:[int]; }   // (key string id, value string id) pairs, sorted by key text
//   table MetaTable { keys:[string];   // META_KEYS, so a reader can check the order it was built with
//                     strings:[string]; // interned strings: every id above indexes this vector
//                     records:[Record];
//                     owners:[int]; }  // owner identity per record (see ownerOf)
//   root_type MetaTable; file_identifier "DRMT";
//
// Record 0 is always `internet` (a public address no prefix covers). An interval's origin (which file
// and line, or which source, started it) is a string id in the same table.

import * as flatbuffers from 'flatbuffers';
import { DredgeError } from '../errors.js';

export const META_KEYS = ['app', 'cluster', 'account', 'region', 'az', 'vpc', 'subnet', 'owner', 'interface_id', 'instance_id'] as const;
export type MetaKey = (typeof META_KEYS)[number];
export const KEY_APP = 0;
export const KEY_INTERFACE = 8;
export const KEY_INSTANCE = 9;

/** Metadata as the loaders produce it: standard keys plus extra columns, all strings. */
export type MetaInput = Partial<Record<MetaKey, string>> & { extra?: Record<string, string> };

export const META_INTERNET = 0;
const FILE_ID = 'DRMT';

/** Builder-side interning of strings and records (cold path). */
export class MetaInterner {
  readonly strings: string[] = [];
  private readonly stringIds = new Map<string, number>();
  /** Per record: META_KEYS.length string ids, then extra pairs. */
  readonly records: Int32Array[] = [];
  private readonly recordIds = new Map<string, number>();
  /** Owner identity per record: the app's string id when it has an app, else -(record id) - 1. */
  readonly owners: number[] = [];

  constructor() {
    const id = this.intern({ app: 'internet' });
    if (id !== META_INTERNET) throw new DredgeError('DREDGE_ERR_INTERNAL', 'record 0 must be internet');
  }

  str(s: string): number {
    let id = this.stringIds.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(s);
      this.stringIds.set(s, id);
    }
    return id;
  }

  /** The record id of this metadata (the same content always gets the same id). */
  intern(m: MetaInput): number {
    const extraKeys = m.extra === undefined ? [] : Object.keys(m.extra).filter((k) => (m.extra as Record<string, string>)[k] !== '').sort();
    const rec = new Int32Array(META_KEYS.length + extraKeys.length * 2);
    for (let i = 0; i < META_KEYS.length; i++) {
      const v = m[META_KEYS[i] as MetaKey];
      rec[i] = v === undefined || v === '' ? -1 : this.str(v);
    }
    for (let j = 0; j < extraKeys.length; j++) {
      const k = extraKeys[j] as string;
      rec[META_KEYS.length + j * 2] = this.str(k);
      rec[META_KEYS.length + j * 2 + 1] = this.str((m.extra as Record<string, string>)[k] as string);
    }
    const key = rec.join(',');
    let id = this.recordIds.get(key);
    if (id === undefined) {
      id = this.records.length;
      this.records.push(rec);
      this.recordIds.set(key, id);
      this.owners.push((rec[KEY_APP] as number) >= 0 ? (rec[KEY_APP] as number) : -id - 1);
    }
    return id;
  }

  ownerOf(recordId: number): number {
    return this.owners[recordId] as number;
  }

  /** The owner identity an app name stands for (releases name owners by app). */
  ownerOfApp(app: string): number {
    return this.str(app);
  }

  field(recordId: number, key: number): string | null {
    const sid = (this.records[recordId] as Int32Array)[key] as number;
    return sid < 0 ? null : (this.strings[sid] as string);
  }

  private encoded: { strings: number; records: number; bytes: Uint8Array } | null = null;

  /**
   * Serializes strings + records into FlatBuffers bytes. Strings, records and owners are only ever
   * appended, so equal counts mean equal bytes: a freeze that interned nothing new reuses them.
   */
  encode(): Uint8Array {
    const c = this.encoded;
    if (c !== null && c.strings === this.strings.length && c.records === this.records.length) return c.bytes;
    const bytes = this.encodeNow();
    this.encoded = { strings: this.strings.length, records: this.records.length, bytes };
    return bytes;
  }

  private encodeNow(): Uint8Array {
    const b = new flatbuffers.Builder(1024 + this.strings.length * 24 + this.records.length * 64);
    const keyOffs = META_KEYS.map((k) => b.createString(k));
    const strOffs = this.strings.map((s) => b.createString(s));
    const recOffs: number[] = new Array(this.records.length);
    for (let r = 0; r < this.records.length; r++) {
      const rec = this.records[r] as Int32Array;
      const fields = int32Vector(b, rec.subarray(0, META_KEYS.length));
      const extra = rec.length > META_KEYS.length ? int32Vector(b, rec.subarray(META_KEYS.length)) : 0;
      b.startObject(2);
      b.addFieldOffset(0, fields, 0);
      if (extra !== 0) b.addFieldOffset(1, extra, 0);
      recOffs[r] = b.endObject();
    }
    const keysVec = offsetVector(b, keyOffs);
    const stringsVec = offsetVector(b, strOffs);
    const recordsVec = offsetVector(b, recOffs);
    const ownersVec = int32Vector(b, Int32Array.from(this.owners));
    b.startObject(4);
    b.addFieldOffset(0, keysVec, 0);
    b.addFieldOffset(1, stringsVec, 0);
    b.addFieldOffset(2, recordsVec, 0);
    b.addFieldOffset(3, ownersVec, 0);
    b.finish(b.endObject(), FILE_ID);
    return b.asUint8Array().slice();
  }
}

function int32Vector(b: flatbuffers.Builder, v: Int32Array): number {
  b.startVector(4, v.length, 4);
  for (let i = v.length - 1; i >= 0; i--) b.addInt32(v[i] as number);
  return b.endVector();
}

function offsetVector(b: flatbuffers.Builder, offs: number[]): number {
  b.startVector(4, offs.length, 4);
  for (let i = offs.length - 1; i >= 0; i--) b.addOffset(offs[i] as number);
  return b.endVector();
}

/**
 * Reads a frozen MetaTable straight from the generation's bytes (a SharedArrayBuffer view works).
 * `fieldId` and `owner` read integers only; `string`/`record` decode text (edges: output, inspect)
 * and cache decoded strings per reader.
 */
export class MetaReader {
  private readonly bb: flatbuffers.ByteBuffer;
  private readonly stringsVec: number;
  private readonly recordsVec: number;
  private readonly ownersVec: number;
  readonly stringCount: number;
  readonly count: number;
  private readonly cache: (string | undefined)[];

  constructor(bytes: Uint8Array) {
    this.bb = new flatbuffers.ByteBuffer(bytes);
    if (bytes.length < 8 || this.bb.getBufferIdentifier() !== FILE_ID) throw new DredgeError('DREDGE_ERR_INDEX', 'metadata section is not a dredge MetaTable (bad identifier); rebuild the index');
    const root = this.bb.readInt32(0);
    const keysVec = this.vector(root, 0);
    const nKeys = this.bb.__vector_len(root + this.bb.__offset(root, 4));
    const keys: string[] = [];
    for (let i = 0; i < nKeys; i++) keys.push(this.bb.__string(keysVec + i * 4) as string);
    if (keys.join(',') !== META_KEYS.join(',')) throw new DredgeError('DREDGE_ERR_INDEX', `metadata keys [${keys.join(',')}] differ from this version's [${META_KEYS.join(',')}]; rebuild the index`);
    this.stringsVec = this.vector(root, 1);
    this.stringCount = this.bb.__vector_len(root + this.bb.__offset(root, 6));
    this.recordsVec = this.vector(root, 2);
    this.count = this.bb.__vector_len(root + this.bb.__offset(root, 8));
    this.ownersVec = this.vector(root, 3);
    this.cache = new Array(this.stringCount);
  }

  private vector(table: number, field: number): number {
    const o = this.bb.__offset(table, 4 + field * 2);
    if (o === 0) throw new DredgeError('DREDGE_ERR_INDEX', `metadata table lacks field ${field}; rebuild the index`);
    return this.bb.__vector(table + o);
  }

  string(id: number): string {
    let s = this.cache[id];
    if (s === undefined) {
      if (id < 0 || id >= this.stringCount) throw new RangeError(`string id ${id} out of range`);
      s = this.bb.__string(this.stringsVec + id * 4) as string;
      this.cache[id] = s;
    }
    return s;
  }

  /** String id of standard key `key` (index into META_KEYS) of record `id`, or -1. */
  fieldId(id: number, key: number): number {
    const rec = this.bb.__indirect(this.recordsVec + id * 4);
    const fields = this.bb.__vector(rec + this.bb.__offset(rec, 4));
    return this.bb.readInt32(fields + key * 4);
  }

  owner(id: number): number {
    return this.bb.readInt32(this.ownersVec + id * 4);
  }

  field(id: number, key: MetaKey): string | null {
    const sid = this.fieldId(id, META_KEYS.indexOf(key));
    return sid < 0 ? null : this.string(sid);
  }

  /** The record as a plain object: standard keys present, then extra columns (edge use). */
  record(id: number): Record<string, string> {
    if (id < 0 || id >= this.count) throw new RangeError(`metadata record ${id} out of range (0..${this.count - 1})`);
    const out: Record<string, string> = {};
    for (let k = 0; k < META_KEYS.length; k++) {
      const sid = this.fieldId(id, k);
      if (sid >= 0) out[META_KEYS[k] as string] = this.string(sid);
    }
    const rec = this.bb.__indirect(this.recordsVec + id * 4);
    const eo = this.bb.__offset(rec, 6);
    if (eo !== 0) {
      const v = this.bb.__vector(rec + eo);
      const n = this.bb.__vector_len(rec + eo);
      for (let i = 0; i + 1 < n; i += 2) out[this.string(this.bb.readInt32(v + i * 4))] = this.string(this.bb.readInt32(v + (i + 1) * 4));
    }
    return out;
  }
}
