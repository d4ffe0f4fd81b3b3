// RollupBatch: one flush's rollup deltas, columnar (one typed array per metric, one value column per
// dimension), handed to every sink. Rows are additive deltas (DESIGN.md §4): the same key may appear
// in several flushes and readers sum them. Strings exist only in the small per-column dictionaries;
// `rollupRow` builds the row object a text sink prints (DESIGN.md §9 "Rollup rows").

import type { SourcePosition } from '../sinks/sink.js';

/** Why a side has no owner: index 0 means attributed (or `internet` / `aws:…`). */
export const REASON_NAMES = [null, 'unknown', 'gap', 'conflict', 'no-address'] as const;
export const REASON_NONE = 0;
export const REASON_UNKNOWN = 1;
export const REASON_GAP = 2;
export const REASON_CONFLICT = 3;
export const REASON_NO_ADDRESS = 4;

/** A dimension's values: dictionary ids (0 is null) or numbers (NaN is null). */
export type DimValueColumn =
  | { kind: 'string'; ids: Int32Array; dict: readonly (string | null)[] }
  | { kind: 'number'; values: Float64Array };

export interface LateCounts {
  flows: number;
  packets: number;
  bytes: number;
}

export interface RollupBatch {
  /** Flush sequence number, from 1, per run. */
  seq: number;
  /** Dimension names exactly as configured (output keys). */
  dimensions: readonly string[];
  windowSeconds: number;
  rows: number;
  /** Window start, epoch seconds (a multiple of windowSeconds). */
  windowStart: Float64Array;
  /** One per dimension, same order as `dimensions`. */
  columns: readonly DimValueColumn[];
  /** REASON_* per row for each side. */
  srcReason: Uint8Array;
  dstReason: Uint8Array;
  flows: Float64Array;
  packets: Float64Array;
  bytes: Float64Array;
  /** Flows whose source / destination side has no owner (reason ≠ none). */
  unattributedSrc: Float64Array;
  unattributedDst: Float64Array;
  /** Source positions every record up to which is in this flush or an earlier one. */
  positions: readonly SourcePosition[];
  /** Flows that arrived for windows already closed since the previous flush (counted, not in rows). */
  late: LateCounts;
}

/** `YYYY-MM-DDTHH:MM:SSZ` (DESIGN.md §9). */
export function formatWindowStart(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().slice(0, 19) + 'Z';
}

/** A dimension value of row i (edge use: allocates). */
export function dimValue(col: DimValueColumn, i: number): string | number | null {
  if (col.kind === 'string') return col.dict[col.ids[i] as number] ?? null;
  const v = col.values[i] as number;
  return Number.isNaN(v) ? null : v;
}

/** The JSON row of DESIGN.md §9: window_start, one key per dimension, reasons, metrics. */
export function rollupRow(b: RollupBatch, i: number): Record<string, string | number | null> {
  const row: Record<string, string | number | null> = { window_start: formatWindowStart(b.windowStart[i] as number) };
  for (let d = 0; d < b.dimensions.length; d++) row[b.dimensions[d] as string] = dimValue(b.columns[d] as DimValueColumn, i);
  row['src.reason'] = REASON_NAMES[b.srcReason[i] as number] ?? null;
  row['dst.reason'] = REASON_NAMES[b.dstReason[i] as number] ?? null;
  row.flows = b.flows[i] as number;
  row.packets = b.packets[i] as number;
  row.bytes = b.bytes[i] as number;
  return row;
}
