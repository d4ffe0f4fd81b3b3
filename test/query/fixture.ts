// Fixture stores for the query tests: real DuckDB files in the schema the DuckDB sink writes (rollups
// with one column per dimension, src_reason/dst_reason, flows/packets/bytes; dredge_meta;
// checkpoints). Rows are additive deltas on purpose: the same key appears in several rows and windows,
// so a report that forgets to SUM gets different numbers. The expected sums in the tests are worked
// out by hand from ROWS below.

import { DuckDBInstance } from '@duckdb/node-api';

export const T0 = '2026-11-20 09:00:00';
export const T1 = '2026-11-20 10:30:00';
export const T2 = '2026-11-20 11:15:00';
/** The newest window: `--since 1h` keeps windows after 10:59 (T2, T3). */
export const T3 = '2026-11-20 11:59:00';

export const DEFAULT_COLUMNS = ['src_app', 'dst_app', 'src_region', 'dst_region', 'src_az', 'dst_az', 'protocol', 'dstport', 'action'];

type V = string | number | null;
const E1 = 'us-east-1';
const W2 = 'us-west-2';

/** window, src_app, dst_app, src_region, dst_region, src_az, dst_az, protocol, dstport, action, src_reason, dst_reason, flows, packets, bytes */
export const ROWS: V[][] = [
  [T0, 'web', 'api', E1, E1, 'us-east-1a', 'us-east-1b', 6, 443, 'ACCEPT', null, null, 10, 100, 10000],
  [T3, 'web', 'api', E1, E1, 'us-east-1a', 'us-east-1b', 6, 443, 'ACCEPT', null, null, 5, 50, 5000],
  [T3, 'web', 'api', E1, E1, 'us-east-1a', 'us-east-1b', 6, 443, 'ACCEPT', null, null, 1, 10, 1000], // a late delta of the same key
  [T2, 'web', 'db', E1, E1, 'us-east-1a', 'us-east-1a', 6, 5432, 'ACCEPT', null, null, 4, 40, 40000],
  [T1, 'api', 'cache', E1, W2, 'us-east-1b', 'us-west-2a', 6, 6379, 'ACCEPT', null, null, 3, 30, 300000],
  [T3, 'api', 'cache', E1, W2, 'us-east-1b', 'us-west-2a', 6, 6379, 'ACCEPT', null, null, 2, 20, 200000],
  // An internet side has app = internet and no other metadata (src/index/meta.ts).
  [T2, 'internet', 'web', null, E1, null, 'us-east-1a', 6, 443, 'ACCEPT', null, null, 7, 70, 70000],
  [T3, 'internet', 'web', null, E1, null, 'us-east-1a', 6, 22, 'REJECT', null, null, 20, 20, 1200],
  [T3, 'web', 'internet', E1, null, 'us-east-1a', null, 6, 443, 'ACCEPT', null, null, 3, 30, 9000],
  // An AWS side carries its region (builder.ts): same region is not cross-region, another region is.
  [T3, 'web', 'aws:s3:us-east-1', E1, E1, 'us-east-1a', null, 6, 443, 'ACCEPT', null, null, 2, 20, 50000],
  [T3, 'api', 'aws:s3:us-west-2', E1, W2, 'us-east-1b', null, 6, 443, 'ACCEPT', null, null, 1, 10, 3000],
  [T3, 'api', 'db', E1, E1, 'us-east-1b', 'us-east-1a', 6, 5432, 'REJECT', null, null, 6, 6, 600],
  [T1, 'api', 'db', E1, E1, 'us-east-1b', 'us-east-1a', 6, 5432, 'REJECT', null, null, 4, 4, 400],
  [T3, null, 'db', null, E1, null, 'us-east-1a', 17, 53, 'ACCEPT', 'unknown', null, 8, 8, 800],
  [T2, null, 'web', null, E1, null, 'us-east-1a', 6, 80, 'ACCEPT', 'gap', null, 2, 2, 200],
  [T3, 'web', null, E1, null, 'us-east-1a', null, 6, 8443, 'ACCEPT', null, 'conflict', 1, 1, 100],
  // A name that needs CSV quoting.
  [T0, 'web', 'legacy, "v1"', E1, E1, 'us-east-1a', 'us-east-1a', 6, 8080, 'ACCEPT', null, null, 1, 1, 10],
];

export const TOTAL = { flows: 80, packets: 422, bytes: 691310 };

export interface StoreSpec {
  /** Dimension columns as `name type` pairs, in order. */
  columns: [string, string][];
  dimensions: string;
  rows: V[][];
}

export function defaultSpec(): StoreSpec {
  return {
    columns: DEFAULT_COLUMNS.map((c) => [c, c === 'protocol' || c === 'dstport' ? 'BIGINT' : 'VARCHAR']),
    dimensions: 'src.app,dst.app,src.region,dst.region,src.az,dst.az,protocol,dstport,action',
    rows: ROWS,
  };
}

function literal(v: V): string {
  if (v === null) return 'NULL';
  if (typeof v === 'number') return String(v);
  return `'${v.replace(/'/g, "''")}'`;
}

/** Writes a store at `path` the way the DuckDB sink lays it out. */
export async function writeStore(path: string, spec: StoreSpec = defaultSpec()): Promise<void> {
  const db = await DuckDBInstance.create(path);
  const con = await db.connect();
  try {
    const dims = spec.columns.map(([n, t]) => `${n} ${t}`).join(', ');
    await con.run(`CREATE TABLE rollups (window_start TIMESTAMP, ${dims}, src_reason VARCHAR, dst_reason VARCHAR, flows BIGINT, packets BIGINT, bytes BIGINT)`);
    await con.run('CREATE TABLE checkpoints (source VARCHAR PRIMARY KEY, position VARCHAR, identity VARCHAR, updated_at TIMESTAMP)');
    await con.run('CREATE TABLE dredge_meta (key VARCHAR PRIMARY KEY, value VARCHAR)');
    await con.run(`INSERT INTO dredge_meta VALUES ('dimensions', $1), ('window_seconds', '60')`, [spec.dimensions]);
    await con.run(`INSERT INTO checkpoints VALUES ('file:/in/a.log', '1234', 'ino:1', TIMESTAMP '${T3}')`);
    // Written in several transactions, like successive flushes.
    for (let i = 0; i < spec.rows.length; i += 5) {
      const chunk = spec.rows.slice(i, i + 5);
      await con.run(`INSERT INTO rollups VALUES ${chunk.map((r) => `(TIMESTAMP ${literal(r[0] ?? null)}, ${r.slice(1).map(literal).join(', ')})`).join(', ')}`);
    }
  } finally {
    con.closeSync();
    db.closeSync();
  }
}
