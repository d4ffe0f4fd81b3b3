// FlowBatch rows → one JSON object per record (the edge: `dredge parse`, enriched-flow output, errors).
// Keys are exactly the format's fields in format order. Integer fields are JSON numbers; every other
// field is the string as written (addresses included, so IPv6 keeps its spelling); `-` is null.

import { ACTION_NAMES, KIND_ACTION, KIND_ADDR, KIND_INT, KIND_PORT, KIND_PROTO, KIND_STATUS, STATUS_NAMES } from './fields.js';
import { type FlowBatch, latin1OrUtf8 } from './flow-batch.js';
import { formatIPv4 } from './ip.js';

/** Per-format prefixes `"name":` computed once. */
const keyCache = new WeakMap<object, string[]>();

function keys(batch: FlowBatch): string[] {
  let k = keyCache.get(batch.format);
  if (k === undefined) {
    k = batch.format.names.map((n, i) => (i === 0 ? '{' : ',') + JSON.stringify(n) + ':');
    keyCache.set(batch.format, k);
  }
  return k;
}

/** The JSON text of one record (no trailing newline). */
export function renderRecordJson(batch: FlowBatch, row: number): string {
  const fmt = batch.format;
  const k = keys(batch);
  let out = '';
  for (let i = 0; i < fmt.names.length; i++) {
    out += k[i] as string;
    out += batch.isNull(row, i) ? 'null' : valueJson(batch, row, i);
  }
  return out + '}';
}

function valueJson(batch: FlowBatch, row: number, i: number): string {
  const cell = (batch.bases[i] as number) + row;
  switch (batch.format.kinds[i]) {
    case KIND_INT:
      return String(batch.ints[cell]);
    case KIND_PORT:
      return String(batch.ports[cell]);
    case KIND_PROTO:
      return String(batch.u8[cell]);
    case KIND_ACTION:
      return `"${ACTION_NAMES[batch.u8[cell] as number] ?? ''}"`;
    case KIND_STATUS:
      return `"${STATUS_NAMES[batch.u8[cell] as number] ?? ''}"`;
    case KIND_ADDR:
      return `"${addressText(batch, cell)}"`;
    default:
      return JSON.stringify(batch.text(row, i));
  }
}

/** An address cell as written in the input (IPv4 text is canonical, so it is re-formatted). */
export function addressText(batch: FlowBatch, cell: number): string {
  if (batch.fam[cell] === 4) return formatIPv4(batch.addr[cell] as number);
  const idx = batch.addr[cell] as number;
  const off = batch.v6Off[idx] as number;
  return latin1OrUtf8(batch.src, off, off + (batch.v6Len[idx] as number));
}
