// A stand-in for a running `dredge run`: opens the store for writing (as the DuckDB sink does), says
// `ready` on stdout, and holds the file until its stdin closes. Spawned by the tests, never run alone.

import { DuckDBInstance } from '@duckdb/node-api';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: hold-lock.js FILE');
const db = await DuckDBInstance.create(path);
const con = await db.connect();
await con.run('SELECT count(*) FROM rollups');
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('end', () => {
  con.closeSync();
  db.closeSync();
  process.exit(0);
});
