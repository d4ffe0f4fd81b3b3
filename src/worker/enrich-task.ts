// `--rollup none`: the "enriched flow event" path. Decode and look up as the aggregate task does, then
// render each record as one JSON line: its parsed fields in format order (parse/render.ts), then
// `src.<key>` / `dst.<key>` for the side keys the run's dimensions name, and `src.reason` /
// `dst.reason` (null when attributed). NODATA/SKIPDATA records carry no flow and are only counted.
// This path makes strings per record by design (it is the debugging/audit output, not the hot path).

import { REASON_NAMES } from '../aggregate/rollups.js';
import type { IndexView } from '../index/lookup.js';
import { META_KEYS } from '../index/meta.js';
import { STATUS_OK } from '../parse/fields.js';
import type { FlowBatch } from '../parse/flow-batch.js';
import { renderRecordJson } from '../parse/render.js';

/** Appends the enriched JSON lines of `batch` to `out`; returns the counts. */
export function renderEnriched(batch: FlowBatch, view: IndexView, srcRes: Int32Array, dstRes: Int32Array, sideKeys: readonly [readonly string[], readonly string[]], out: string[]): { flows: number; nodata: number; packets: number; bytes: number; unSrc: number; unDst: number } {
  const f = batch.format;
  const iStatus = f.indexOf('log-status');
  const status = iStatus >= 0 ? batch.u8Column('log-status') : null;
  const iPackets = f.indexOf('packets');
  const iBytes = f.indexOf('bytes');
  const packets = iPackets >= 0 ? batch.intColumn('packets') : null;
  const bytes = iBytes >= 0 ? batch.intColumn('bytes') : null;
  const meta = view.meta;
  let flows = 0;
  let nodata = 0;
  let sumP = 0;
  let sumB = 0;
  let unSrc = 0;
  let unDst = 0;
  const side = (prefix: string, keys: readonly string[], r: number): string => {
    let s = '';
    for (const k of keys) {
      let v: string | null = null;
      if (r >= 0) {
        const std = META_KEYS.indexOf(k as (typeof META_KEYS)[number]);
        v = std >= 0 ? meta.field(r, k as (typeof META_KEYS)[number]) : (meta.record(r)[k] ?? null);
      }
      s += `,${JSON.stringify(`${prefix}.${k}`)}:${v === null ? 'null' : JSON.stringify(v)}`;
    }
    const reason = r >= 0 ? null : (REASON_NAMES[-r] ?? null);
    return s + `,"${prefix}.reason":${reason === null ? 'null' : `"${reason}"`}`;
  };
  for (let row = 0; row < batch.length; row++) {
    if (status !== null && !batch.isNull(row, iStatus) && status[row] !== STATUS_OK) {
      nodata++;
      continue;
    }
    flows++;
    if ((srcRes[row] as number) < 0) unSrc++;
    if ((dstRes[row] as number) < 0) unDst++;
    if (packets !== null && !batch.isNull(row, iPackets)) sumP += packets[row] as number;
    if (bytes !== null && !batch.isNull(row, iBytes)) sumB += bytes[row] as number;
    const rec = renderRecordJson(batch, row);
    out.push(rec.slice(0, -1) + side('src', sideKeys[0], srcRes[row] as number) + side('dst', sideKeys[1], dstRes[row] as number) + '}\n');
  }
  return { flows, nodata, packets: sumP, bytes: sumB, unSrc, unDst };
}
