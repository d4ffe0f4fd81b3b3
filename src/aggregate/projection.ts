// Side projections: for each index generation, metadata record id → the id of that record's tuple of
// the side's dimension values (e.g. src.app, src.region, src.az → one tuple id). Workers put the
// tuple id in the group key (one word per side, whatever the number of src.* dimensions), so two
// records that differ only in a key nobody groups by land in the same group.
//
// Tuple ids and value ids come from run-wide dictionaries owned by the main thread, so they stay the
// same across index generations: partials enriched by different generations merge as they should.
// The projection is computed once per generation (O(metadata records)), off the hot path.

import type { IndexView } from '../index/lookup.js';
import { META_KEYS } from '../index/meta.js';
import type { KeyPlan } from './dimensions.js';

/** Run-wide strings of dimension values; id 0 is null. */
export class ValueDictionary {
  readonly strings: (string | null)[] = [null];
  private readonly ids = new Map<string, number>();

  id(s: string | null): number {
    if (s === null) return 0;
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(s);
      this.ids.set(s, id);
    }
    return id;
  }
}

export class SideProjector {
  readonly plan: KeyPlan;
  readonly dict: ValueDictionary;
  /** Per side: tuple key → tuple id (from 1); and per tuple id the value ids, one per side key. */
  private readonly tupleIds: [Map<string, number>, Map<string, number>] = [new Map(), new Map()];
  readonly tuples: [Int32Array[], Int32Array[]] = [[new Int32Array(0)], [new Int32Array(0)]];

  constructor(plan: KeyPlan, dict: ValueDictionary) {
    this.plan = plan;
    this.dict = dict;
  }

  /** Projection tables of one generation, in shared memory for the workers. */
  project(view: IndexView): { projSrc: SharedArrayBuffer; projDst: SharedArrayBuffer } {
    return { projSrc: this.side(view, 0), projDst: this.side(view, 1) };
  }

  /** Value id of the side's k-th key for a tuple (0 when the tuple is 0: no owner). */
  value(side: 0 | 1, tuple: number, k: number): number {
    return (this.tuples[side][tuple] as Int32Array)[k] ?? 0;
  }

  private side(view: IndexView, side: 0 | 1): SharedArrayBuffer {
    const keys = this.plan.sideKeys[side];
    const n = keys.length === 0 ? 0 : view.metaCount;
    const sab = new SharedArrayBuffer(Math.max(4, n * 4));
    if (n === 0) return sab;
    const out = new Int32Array(sab);
    const meta = view.meta;
    const std = keys.map((k) => META_KEYS.indexOf(k as (typeof META_KEYS)[number]));
    const allStandard = std.every((i) => i >= 0);
    const ids = this.tupleIds[side];
    const values = new Int32Array(keys.length);
    for (let m = 0; m < n; m++) {
      if (allStandard) {
        for (let k = 0; k < keys.length; k++) {
          const sid = meta.fieldId(m, std[k] as number);
          values[k] = this.dict.id(sid < 0 ? null : meta.string(sid));
        }
      } else {
        const rec = meta.record(m);
        for (let k = 0; k < keys.length; k++) values[k] = this.dict.id(rec[keys[k] as string] ?? null);
      }
      const key = values.join(',');
      let t = ids.get(key);
      if (t === undefined) {
        t = this.tuples[side].length;
        this.tuples[side].push(values.slice());
        ids.set(key, t);
      }
      out[m] = t;
    }
    return sab;
  }
}
