// The catalog of flow-log fields dredge knows: every AWS VPC Flow Logs field of versions 2–8 and the
// Transit Gateway flow-log fields (version 6), each with the kind of value it holds. A FlowFormat is an
// ordered choice of these fields (a custom format, an S3 header line, or the v2 default), compiled
// once into the small typed arrays the scanner walks per line.

import { DredgeError } from '../errors.js';

/** How a field's token is decoded and where the FlowBatch keeps it. */
export const KIND_INT = 0; // non-negative integer ≤ 2^53−1 → Float64Array
export const KIND_PORT = 1; // 0..65535 → Uint16Array
export const KIND_PROTO = 2; // 0..255 → Uint8Array
export const KIND_ADDR = 3; // IPv4 (uint32) or IPv6 (side table)
export const KIND_ACTION = 4; // ACCEPT | REJECT → Uint8Array enum
export const KIND_STATUS = 5; // OK | NODATA | SKIPDATA → Uint8Array enum
export const KIND_TEXT = 6; // anything else: offsets into the source bytes
export type FieldKind = 0 | 1 | 2 | 3 | 4 | 5 | 6;

export const ACTION_ACCEPT = 1;
export const ACTION_REJECT = 2;
export const ACTION_NAMES = [null, 'ACCEPT', 'REJECT'] as const;
export const STATUS_OK = 1;
export const STATUS_NODATA = 2;
export const STATUS_SKIPDATA = 3;
export const STATUS_NAMES = [null, 'OK', 'NODATA', 'SKIPDATA'] as const;

interface FieldSpec {
  readonly name: string;
  readonly kind: FieldKind;
  /** The flow-log version that introduced it ('tgw' for Transit Gateway-only fields). */
  readonly since: number | 'tgw';
}

const f = (name: string, kind: FieldKind, since: number | 'tgw'): FieldSpec => ({ name, kind, since });

/** Every known field. Order is the AWS documentation order (v2 first, in default-format order). */
export const FIELDS: readonly FieldSpec[] = [
  // v2: the default format, in this order
  f('version', KIND_INT, 2),
  f('account-id', KIND_TEXT, 2),
  f('interface-id', KIND_TEXT, 2),
  f('srcaddr', KIND_ADDR, 2),
  f('dstaddr', KIND_ADDR, 2),
  f('srcport', KIND_PORT, 2),
  f('dstport', KIND_PORT, 2),
  f('protocol', KIND_PROTO, 2),
  f('packets', KIND_INT, 2),
  f('bytes', KIND_INT, 2),
  f('start', KIND_INT, 2),
  f('end', KIND_INT, 2),
  f('action', KIND_ACTION, 2),
  f('log-status', KIND_STATUS, 2),
  // v3
  f('vpc-id', KIND_TEXT, 3),
  f('subnet-id', KIND_TEXT, 3),
  f('instance-id', KIND_TEXT, 3),
  f('tcp-flags', KIND_INT, 3),
  f('type', KIND_TEXT, 3),
  f('pkt-srcaddr', KIND_ADDR, 3),
  f('pkt-dstaddr', KIND_ADDR, 3),
  // v4
  f('region', KIND_TEXT, 4),
  f('az-id', KIND_TEXT, 4),
  f('sublocation-type', KIND_TEXT, 4),
  f('sublocation-id', KIND_TEXT, 4),
  // v5
  f('pkt-src-aws-service', KIND_TEXT, 5),
  f('pkt-dst-aws-service', KIND_TEXT, 5),
  f('flow-direction', KIND_TEXT, 5),
  f('traffic-path', KIND_INT, 5),
  // v7: ECS
  f('ecs-cluster-arn', KIND_TEXT, 7),
  f('ecs-cluster-name', KIND_TEXT, 7),
  f('ecs-container-instance-arn', KIND_TEXT, 7),
  f('ecs-container-instance-id', KIND_TEXT, 7),
  f('ecs-container-id', KIND_TEXT, 7),
  f('ecs-second-container-id', KIND_TEXT, 7),
  f('ecs-service-name', KIND_TEXT, 7),
  f('ecs-task-definition-arn', KIND_TEXT, 7),
  f('ecs-task-arn', KIND_TEXT, 7),
  f('ecs-task-id', KIND_TEXT, 7),
  // v8
  f('reject-reason', KIND_TEXT, 8),
  // Transit Gateway flow logs (version 6); shared names above (version, srcaddr, …) are not repeated
  f('resource-type', KIND_TEXT, 'tgw'),
  f('tgw-id', KIND_TEXT, 'tgw'),
  f('tgw-attachment-id', KIND_TEXT, 'tgw'),
  f('tgw-src-vpc-account-id', KIND_TEXT, 'tgw'),
  f('tgw-dst-vpc-account-id', KIND_TEXT, 'tgw'),
  f('tgw-src-vpc-id', KIND_TEXT, 'tgw'),
  f('tgw-dst-vpc-id', KIND_TEXT, 'tgw'),
  f('tgw-src-subnet-id', KIND_TEXT, 'tgw'),
  f('tgw-dst-subnet-id', KIND_TEXT, 'tgw'),
  f('tgw-src-eni', KIND_TEXT, 'tgw'),
  f('tgw-dst-eni', KIND_TEXT, 'tgw'),
  f('tgw-src-az-id', KIND_TEXT, 'tgw'),
  f('tgw-dst-az-id', KIND_TEXT, 'tgw'),
  f('tgw-pair-attachment-id', KIND_TEXT, 'tgw'),
  f('packets-lost-no-route', KIND_INT, 'tgw'),
  f('packets-lost-blackhole', KIND_INT, 'tgw'),
  f('packets-lost-mtu-exceeded', KIND_INT, 'tgw'),
  f('packets-lost-ttl-expired', KIND_INT, 'tgw'),
];

const BY_NAME: ReadonlyMap<string, number> = new Map(FIELDS.map((s, i) => [s.name, i]));

/** Field id (index into FIELDS) of a known name, or -1. */
export function fieldId(name: string): number {
  return BY_NAME.get(name) ?? -1;
}

export const DEFAULT_V2_FIELDS: readonly string[] = FIELDS.slice(0, 14).map((s) => s.name);

/**
 * An ordered field list compiled for the scanner. `kinds[i]` is the kind of the i-th token of a line;
 * `slots[i]` the column of that kind in a FlowBatch (the i-th int field → int column slots[i]).
 */
export class FlowFormat {
  readonly names: readonly string[];
  readonly ids: Uint16Array;
  readonly kinds: Uint8Array;
  readonly slots: Uint8Array;
  /** Columns per kind: [int, port, proto, addr, action, status, text]. */
  readonly kindCounts: Uint8Array;
  /** Uint32 words per row in the null bitmap. */
  readonly nullWords: number;

  private constructor(names: readonly string[]) {
    this.names = names;
    const n = names.length;
    this.ids = new Uint16Array(n);
    this.kinds = new Uint8Array(n);
    this.slots = new Uint8Array(n);
    this.kindCounts = new Uint8Array(7);
    for (let i = 0; i < n; i++) {
      const id = fieldId(names[i] as string);
      const spec = FIELDS[id] as FieldSpec;
      this.ids[i] = id;
      this.kinds[i] = spec.kind;
      this.slots[i] = this.kindCounts[spec.kind] as number;
      this.kindCounts[spec.kind] = (this.slots[i] as number) + 1;
    }
    this.nullWords = (n + 31) >>> 5;
  }

  /** Position of a field in this format, or -1 when the format does not carry it. */
  indexOf(name: string): number {
    return this.names.indexOf(name);
  }

  /** Same fields in the same order. */
  equals(other: FlowFormat): boolean {
    if (other.names.length !== this.names.length) return false;
    for (let i = 0; i < this.names.length; i++) if (other.names[i] !== this.names[i]) return false;
    return true;
  }

  /** The highest flow-log version among the fields (what AWS writes in `version`). */
  get version(): number {
    let v = 2;
    for (const id of this.ids) {
      const since = (FIELDS[id] as FieldSpec).since;
      v = Math.max(v, since === 'tgw' ? 6 : since);
    }
    return v;
  }

  static readonly V2_DEFAULT = new FlowFormat(DEFAULT_V2_FIELDS);

  /**
   * Compiles a field list: names separated by commas and/or spaces, as users write them in `--fields`
   * or as an S3 header line carries them. Unknown or repeated names are an error that names the fix.
   */
  static parse(spec: string | readonly string[], what = '--fields'): FlowFormat {
    const names = typeof spec === 'string' ? spec.split(/[\s,]+/).filter((s) => s.length > 0) : [...spec];
    if (names.length === 0) {
      throw new DredgeError('DREDGE_ERR_CONFIG', `${what} is empty: name at least one flow-log field, e.g. "${DEFAULT_V2_FIELDS.join(' ')}"`);
    }
    if (names.length > 255) {
      throw new DredgeError('DREDGE_ERR_CONFIG', `${what} names ${names.length} fields; a flow-log format has at most ${FIELDS.length}`);
    }
    const seen = new Set<string>();
    for (const raw of names) {
      // AWS writes `${srcaddr}` in --log-format; accept that spelling and the underscore form.
      const name = normalizeFieldName(raw);
      if (fieldId(name) < 0) {
        throw new DredgeError('DREDGE_ERR_CONFIG', `${what}: unknown flow-log field "${raw}". ${suggest(name)}`);
      }
      if (seen.has(name)) throw new DredgeError('DREDGE_ERR_CONFIG', `${what}: field "${name}" is listed twice`);
      seen.add(name);
    }
    // Interned: the same field list is the same FlowFormat, so per-format work (the compiled scanner,
    // a decoder's batch) is done once even when header lines repeat or alternate.
    const normalized = names.map(normalizeFieldName);
    const key = normalized.join(' ');
    let fmt = INTERNED.get(key);
    if (fmt === undefined) {
      fmt = new FlowFormat(normalized);
      if (INTERNED.size >= MAX_INTERNED) INTERNED.delete(INTERNED.keys().next().value as string);
      INTERNED.set(key, fmt);
    }
    return fmt;
  }
}

const MAX_INTERNED = 1024;
const INTERNED = new Map<string, FlowFormat>([[DEFAULT_V2_FIELDS.join(' '), FlowFormat.V2_DEFAULT]]);

/** `${srcaddr}` → `srcaddr`, `log_status` → `log-status`. */
export function normalizeFieldName(raw: string): string {
  let s = raw.trim();
  if (s.startsWith('${') && s.endsWith('}')) s = s.slice(2, -1);
  return s.replace(/_/g, '-');
}

function suggest(name: string): string {
  let best = '';
  let bestD = Infinity;
  for (const spec of FIELDS) {
    const d = editDistance(name, spec.name);
    if (d < bestD) {
      bestD = d;
      best = spec.name;
    }
  }
  return bestD <= 3 ? `Did you mean "${best}"?` : `Known fields: ${FIELDS.map((s) => s.name).join(' ')}`;
}

function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] as number;
      prev[j] = Math.min(up + 1, (prev[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] as number;
}
