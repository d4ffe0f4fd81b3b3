// How the query layer's values travel as JSON between a running `dredge run` (src/daemon/query-server.ts)
// and `dredge query` (http-source.ts). JSON has no bigint: integer cells and bigint parameters go as
// decimal strings and come back as bigint by their column kind (integer cells) or a `{"$bigint": "…"}`
// wrapper (parameters). The listener's address and its token are in a file beside the store,
// `<db>.query.json`, readable by its owner only.
//
//   POST /v1/query   Authorization: Bearer <token>
//   {"op":"schema"} | {"op":"fetch","sql":"…","params":[…],"metrics":[…]} | {"op":"sql","sql":"…"}
//   200 {"columns":[{"name":…,"kind":…}],"rows":[[…]]}  or {"schema":{"columns":[[name,kind]…],"dimensions":…,"windowSeconds":…}}
//   4xx/5xx {"error":{"code":"DREDGE_ERR_…","message":"…"}}

import type { Cell, QueryParam, Rows, StoreSchema } from './rows.js';

export const QUERY_PATH = '/v1/query';

/** The sidecar file that tells `dredge query` where a running dredge answers for `db`. */
export function sidecarPath(db: string): string {
  return `${db}.query.json`;
}

export interface Sidecar {
  pid: number;
  url: string;
  token: string;
}

export type WireRequest = { op: 'schema' } | { op: 'fetch'; sql: string; params: unknown[] } | { op: 'sql'; sql: string };

export function encodeParams(params: readonly QueryParam[]): unknown[] {
  return params.map((p) => (typeof p === 'bigint' ? { $bigint: p.toString() } : p));
}

export function decodeParams(params: readonly unknown[]): QueryParam[] {
  return params.map((p) => {
    if (p !== null && typeof p === 'object' && typeof (p as { $bigint?: unknown }).$bigint === 'string') return BigInt((p as { $bigint: string }).$bigint);
    if (p === null || typeof p === 'string' || typeof p === 'number' || typeof p === 'boolean') return p;
    throw new Error(`unsupported parameter ${JSON.stringify(p)}`);
  });
}

export function encodeRows(r: Rows): unknown {
  return { columns: r.columns, rows: r.rows.map((row) => row.map((c) => (typeof c === 'bigint' ? c.toString() : c))) };
}

export function decodeRows(x: unknown): Rows {
  const w = x as { columns: Rows['columns']; rows: (string | number | boolean | null)[][] };
  const ints = w.columns.map((c) => c.kind === 'integer');
  return { columns: w.columns, rows: w.rows.map((row) => row.map((c, i): Cell => (ints[i] === true && typeof c === 'string' ? BigInt(c) : c))) };
}

export function encodeSchema(s: StoreSchema): unknown {
  return { schema: { columns: [...s.columns.entries()], dimensions: s.dimensions, windowSeconds: s.windowSeconds } };
}

export function decodeSchema(x: unknown): StoreSchema {
  const s = (x as { schema: { columns: [string, StoreSchema['columns'] extends Map<string, infer K> ? K : never][]; dimensions: string[] | null; windowSeconds: number | null } }).schema;
  return { columns: new Map(s.columns), dimensions: s.dimensions, windowSeconds: s.windowSeconds };
}
