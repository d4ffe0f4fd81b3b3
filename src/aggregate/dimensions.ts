// Group-key dimensions (DESIGN.md §4, §9 "Dimensions") and the key layout they compile to.
//
//   src.<key> / dst.<key>   inventory metadata of that side (app cluster account region az vpc subnet
//                           owner, or any extra snapshot column); `src.account` is the inventory's
//                           account, not the record's
//   <record field>          protocol srcport dstport action flow_direction traffic_path account_id …
//                           (AWS name with `-` or `_`; src_port / dst_port alias srcport / dstport)
//
// A group key is a row of Int32 words; the layout is fixed per run (it does not depend on the format
// of a batch, so partials of different formats merge):
//
//   word 0          window index: floor(start / windowSeconds)
//   word 1..        packed small values: src reason (3 bits), dst reason (3 bits), then protocol
//                   (9 bits), action (2 bits) and ports (17 bits) as they fit, a new word when full
//   side words      one per side that has metadata dimensions: the id of that side's tuple of
//                   values (projection.ts), 0 when the side has no owner
//   int words       one per integer record field (traffic_path, tcp_flags …), NULL_INT for `-`
//   text words      two per text record field: a 64-bit hash of its bytes (0,0 for `-`); the partial
//                   carries the bytes of every hash it used, so no string is made on the hot path
//
// Ephemeral ports: a port ≥ 32768 becomes 0 in group keys unless listed in `--keep-ports` (DESIGN.md
// §9), so client-side ports do not explode the key space.

import { DredgeError } from '../errors.js';
import { FIELDS, KIND_ACTION, KIND_ADDR, KIND_INT, KIND_PORT, KIND_PROTO, KIND_STATUS, KIND_TEXT, fieldId, normalizeFieldName } from '../parse/fields.js';

export const DEFAULT_DIMENSIONS = 'src.app,dst.app,src.region,dst.region,src.az,dst.az,protocol,dstport,action';
export const EPHEMERAL_PORT_MIN = 32768;
/** Integer dimension value of `-` (or of a value that does not fit an Int32). */
export const NULL_INT = -1;
export const NULL_PORT = 65536;
export const NULL_PROTO = 256;

const SIDE_KEYS_STANDARD = ['app', 'cluster', 'account', 'region', 'az', 'vpc', 'subnet', 'owner'];
/** Record fields that are metrics or times, not dimensions. */
const NOT_DIMENSIONS: Record<string, string> = {
  'log-status': 'log_status is not a dimension: NODATA/SKIPDATA records carry no flow and are counted in the run summary',
  packets: 'packets is a metric (summed), not a dimension',
  bytes: 'bytes is a metric (summed), not a dimension',
  start: 'start decides the window (--window), it is not a dimension',
  end: 'end is a time, not a dimension; windows are assigned by start',
};

export type Dimension =
  | { name: string; kind: 'side'; side: 0 | 1; key: string }
  | { name: string; kind: 'small'; field: string; fieldKind: typeof KIND_PORT | typeof KIND_PROTO | typeof KIND_ACTION; word: number; shift: number; width: number }
  | { name: string; kind: 'int'; field: string; word: number }
  | { name: string; kind: 'text'; field: string; word: number };

export interface KeyPlan {
  /** Dimensions in the order the user wrote them (output order). */
  dims: readonly Dimension[];
  keyWords: number;
  /** Metadata keys per side (src, dst) in first-use order; empty when that side has no dimension. */
  sideKeys: readonly [readonly string[], readonly string[]];
  /** Key word of each side's tuple id, or -1. */
  sideWord: readonly [number, number];
  /** Ports kept as they are although ≥ 32768. */
  keepPorts: readonly number[];
  /** The words `spec` was parsed from, normalised (for messages and equality). */
  spec: string;
}

/** Parses `--dimensions` (names separated by commas and/or spaces) into a key plan. Errors name the fix. */
export function planKey(spec: string = DEFAULT_DIMENSIONS, keepPorts: readonly number[] = []): KeyPlan {
  const names = spec.split(/[\s,]+/).filter((s) => s.length > 0);
  if (names.length === 0) throw new DredgeError('DREDGE_ERR_CONFIG', `--dimensions is empty: name at least one, e.g. "${DEFAULT_DIMENSIONS}"`);
  for (const p of keepPorts) {
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new DredgeError('DREDGE_ERR_CONFIG', `--keep-ports: "${p}" is not a port number (0–65535)`);
  }
  const seen = new Set<string>();
  const sideKeys: [string[], string[]] = [[], []];
  const pending: ({ name: string; kind: 'side'; side: 0 | 1; key: string } | { name: string; field: string; fk: number })[] = [];
  for (const name of names) {
    if (seen.has(name)) throw new DredgeError('DREDGE_ERR_CONFIG', `--dimensions: "${name}" is listed twice`);
    seen.add(name);
    const m = /^(src|dst)\.([A-Za-z0-9_-]+)$/.exec(name);
    if (m !== null) {
      const side = m[1] === 'src' ? 0 : 1;
      const key = (m[2] as string).replace(/-/g, '_');
      if (key === 'reason') throw new DredgeError('DREDGE_ERR_CONFIG', `--dimensions: ${name} is always in every row; leave it out of --dimensions`);
      if (!sideKeys[side].includes(key)) sideKeys[side].push(key);
      pending.push({ name, kind: 'side', side, key });
      continue;
    }
    let field = normalizeFieldName(name);
    if (field === 'src-port') field = 'srcport';
    if (field === 'dst-port') field = 'dstport';
    const why = NOT_DIMENSIONS[field];
    if (why !== undefined) throw new DredgeError('DREDGE_ERR_CONFIG', `--dimensions: ${why}`);
    const id = fieldId(field);
    if (id < 0) {
      throw new DredgeError(
        'DREDGE_ERR_CONFIG',
        `--dimensions: unknown dimension "${name}". Use src.<key> or dst.<key> for owner metadata (${SIDE_KEYS_STANDARD.join(' ')} or an extra snapshot column), or a flow-log field such as protocol, dstport, action, flow_direction`,
      );
    }
    const fk = (FIELDS[id] as { kind: number }).kind;
    if (fk === KIND_ADDR) throw new DredgeError('DREDGE_ERR_CONFIG', `--dimensions: ${name} is an address; group by its owner instead (src.app, dst.app, src.subnet …)`);
    if (fk === KIND_STATUS) throw new DredgeError('DREDGE_ERR_CONFIG', `--dimensions: ${NOT_DIMENSIONS['log-status']}`);
    pending.push({ name, field, fk });
  }

  // Layout: window, packed small values, side tuples, ints, texts.
  const dims: Dimension[] = [];
  let word = 1;
  let shift = 6; // the two 3-bit reasons come first
  const smallAt = (width: number): { word: number; shift: number } => {
    if (shift + width > 32) {
      word++;
      shift = 0;
    }
    const at = { word, shift };
    shift += width;
    return at;
  };
  const placed = new Map<string, Dimension>();
  for (const p of pending) {
    if ('kind' in p) continue;
    if (p.fk === KIND_PORT || p.fk === KIND_PROTO || p.fk === KIND_ACTION) {
      const width = p.fk === KIND_PORT ? 17 : p.fk === KIND_PROTO ? 9 : 2;
      const at = smallAt(width);
      placed.set(p.name, { name: p.name, kind: 'small', field: p.field, fieldKind: p.fk as typeof KIND_PORT, word: at.word, shift: at.shift, width });
    }
  }
  let next = word + 1;
  const sideWord: [number, number] = [-1, -1];
  for (const s of [0, 1] as const) if (sideKeys[s].length > 0) sideWord[s] = next++;
  for (const p of pending) {
    if ('kind' in p) continue;
    if (p.fk === KIND_INT) placed.set(p.name, { name: p.name, kind: 'int', field: p.field, word: next++ });
  }
  for (const p of pending) {
    if ('kind' in p) continue;
    if (p.fk === KIND_TEXT) {
      placed.set(p.name, { name: p.name, kind: 'text', field: p.field, word: next });
      next += 2;
    }
  }
  for (const p of pending) dims.push('kind' in p ? p : (placed.get(p.name) as Dimension));
  return { dims, keyWords: next, sideKeys, sideWord, keepPorts: [...new Set(keepPorts)].sort((a, b) => a - b), spec: names.join(',') };
}

/** Parses `--keep-ports` ("443,8443 9000"). */
export function parsePortList(s: string): number[] {
  const out: number[] = [];
  for (const w of s.split(/[\s,]+/).filter((x) => x.length > 0)) {
    const n = Number(w);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new DredgeError('DREDGE_ERR_CONFIG', `--keep-ports: "${w}" is not a port number (0–65535)`);
    out.push(n);
  }
  return out;
}
