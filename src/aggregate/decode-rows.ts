// Merged partition tables → one RollupBatch (columnar, rollups.ts): the key words of each group are
// decoded back into dimension values with the plan's layout (dimensions.ts), tuple ids through the
// side projector, text hashes through the run's text dictionary. Runs once per flush, O(groups).

import { ACTION_NAMES, KIND_PORT, KIND_PROTO } from '../parse/fields.js';
import { METRICS, M_BYTES, M_FLOWS, M_PACKETS, M_UNATTRIBUTED_DST, M_UNATTRIBUTED_SRC, type GroupTable } from './group-table.js';
import { NULL_INT, NULL_PORT, NULL_PROTO, type Dimension, type KeyPlan } from './dimensions.js';
import type { SideProjector, ValueDictionary } from './projection.js';
import type { DimValueColumn, LateCounts, RollupBatch } from './rollups.js';
import type { SourcePosition } from '../sinks/sink.js';


/** Text-dimension values seen in partials: 64-bit hash (as `h0:h1`) → value id. */
export class TextValues {
  private readonly byHash = new Map<number, number>();
  constructor(private readonly dict: ValueDictionary) {}

  add(h0: number, h1: number, value: string): void {
    const k = h0 * 4294967296 + (h1 >>> 0);
    if (!this.byHash.has(k)) this.byHash.set(k, this.dict.id(value));
  }

  id(h0: number, h1: number): number {
    if (h0 === 0 && h1 === 0) return 0;
    return this.byHash.get(h0 * 4294967296 + (h1 >>> 0)) ?? 0;
  }
}

export interface DecodeContext {
  plan: KeyPlan;
  windowSeconds: number;
  projector: SideProjector;
  dict: ValueDictionary;
  text: TextValues;
}

/** Whether a dimension's values are text or integers (sinks type their columns by it). */
export function dimensionValueKind(d: Dimension): 'string' | 'number' {
  return d.kind === 'side' || d.kind === 'text' || (d.kind === 'small' && d.fieldKind !== KIND_PORT && d.fieldKind !== KIND_PROTO) ? 'string' : 'number';
}

export function decodeRows(tables: readonly GroupTable[], c: DecodeContext, seq: number, positions: readonly SourcePosition[], late: LateCounts): RollupBatch {
  let rows = 0;
  for (const t of tables) rows += t.size;
  const { plan } = c;
  const windowStart = new Float64Array(rows);
  const srcReason = new Uint8Array(rows);
  const dstReason = new Uint8Array(rows);
  const flows = new Float64Array(rows);
  const packets = new Float64Array(rows);
  const bytes = new Float64Array(rows);
  const unSrc = new Float64Array(rows);
  const unDst = new Float64Array(rows);
  const strings = c.dict.strings;
  const columns: DimValueColumn[] = plan.dims.map((d) =>
    dimensionValueKind(d) === 'string' ? { kind: 'string', ids: new Int32Array(rows), dict: strings } : { kind: 'number', values: new Float64Array(rows) },
  );
  // Action names as value ids.
  // Action codes 0 (`-`), 1, 2 as value ids; 3 cannot occur in a 2-bit field the encoder wrote, but maps to null.
  const actionIds = [0, 1, 2, 3].map((a) => c.dict.id(ACTION_NAMES[a] ?? null));
  const sideKeyIndex = plan.dims.map((d) => (d.kind === 'side' ? plan.sideKeys[d.side].indexOf(d.key) : -1));
  // Each group's key words and metrics are copied out of its slot once, then decoded from here.
  const m = new Float64Array(METRICS);
  let i = 0;
  for (const t of tables) {
    const key = new Int32Array(t.keyWords);
    for (let g = 0; g < t.size; g++, i++) {
      const s = t.order[g] as number;
      t.copyKey(s, key, 0);
      t.copyMetrics(s, m, 0);
      windowStart[i] = (key[0] as number) * c.windowSeconds;
      const packed1 = key[1] as number;
      srcReason[i] = packed1 & 7;
      dstReason[i] = (packed1 >>> 3) & 7;
      flows[i] = m[M_FLOWS] as number;
      packets[i] = m[M_PACKETS] as number;
      bytes[i] = m[M_BYTES] as number;
      unSrc[i] = m[M_UNATTRIBUTED_SRC] as number;
      unDst[i] = m[M_UNATTRIBUTED_DST] as number;
      for (let d = 0; d < plan.dims.length; d++) {
        const dim = plan.dims[d] as KeyPlan['dims'][number];
        const colm = columns[d] as DimValueColumn;
        if (dim.kind === 'side') {
          const tuple = key[plan.sideWord[dim.side]] as number;
          (colm as { ids: Int32Array }).ids[i] = tuple === 0 ? 0 : c.projector.value(dim.side, tuple, sideKeyIndex[d] as number);
        } else if (dim.kind === 'small') {
          const v = ((key[dim.word] as number) >>> dim.shift) & ((1 << dim.width) - 1);
          if (dim.fieldKind === KIND_PORT) (colm as { values: Float64Array }).values[i] = v === NULL_PORT ? NaN : v;
          else if (dim.fieldKind === KIND_PROTO) (colm as { values: Float64Array }).values[i] = v === NULL_PROTO ? NaN : v;
          else (colm as { ids: Int32Array }).ids[i] = actionIds[v] as number;
        } else if (dim.kind === 'int') {
          const v = key[dim.word] as number;
          (colm as { values: Float64Array }).values[i] = v === NULL_INT ? NaN : v;
        } else {
          (colm as { ids: Int32Array }).ids[i] = c.text.id(key[dim.word] as number, key[dim.word + 1] as number);
        }
      }
    }
  }
  return {
    seq,
    dimensions: plan.dims.map((d) => d.name),
    windowSeconds: c.windowSeconds,
    rows,
    windowStart,
    columns,
    srcReason,
    dstReason,
    flows,
    packets,
    bytes,
    unattributedSrc: unSrc,
    unattributedDst: unDst,
    positions,
    late: { ...late },
  };
}
