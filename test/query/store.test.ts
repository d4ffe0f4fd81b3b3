// The store as the query layer opens it: read-only (a write through `query sql` fails and the data is
// unchanged), and one clear DredgeError for a missing file, a file that is not a dredge store, bad SQL,
// and a store held by a running writer.

import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { DredgeError } from '../../src/errors.js';
import { DuckDBStore } from '../../src/query/store.js';
import { TOTAL, writeStore } from './fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'dredge-query-store-'));
const db = join(dir, 'main.duckdb');

before(() => writeStore(db));
after(() => rmSync(dir, { recursive: true, force: true }));

async function totals(path: string): Promise<unknown[]> {
  const s = await DuckDBStore.open(path);
  try {
    return (await s.userSql('SELECT SUM(flows), SUM(packets), SUM(bytes), count(*) FROM rollups')).rows[0] as unknown[];
  } finally {
    s.close();
  }
}

function isError(code: string, re: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof DredgeError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, re);
    return true;
  };
}

describe('opening', () => {
  it('reads the schema: column kinds, configured dimensions, window length', async () => {
    const s = await DuckDBStore.open(db);
    try {
      const schema = await s.schema();
      assert.deepEqual(Object.fromEntries(schema.columns), {
        window_start: 'timestamp', src_app: 'text', dst_app: 'text', src_region: 'text', dst_region: 'text', src_az: 'text', dst_az: 'text',
        protocol: 'integer', dstport: 'integer', action: 'text', src_reason: 'text', dst_reason: 'text', flows: 'integer', packets: 'integer', bytes: 'integer',
      });
      assert.deepEqual(schema.dimensions, ['src.app', 'dst.app', 'src.region', 'dst.region', 'src.az', 'dst.az', 'protocol', 'dstport', 'action']);
      assert.equal(schema.windowSeconds, 60);
    } finally {
      s.close();
    }
  });

  it('a missing file says to run dredge run first', async () => {
    await assert.rejects(DuckDBStore.open(join(dir, 'nope.duckdb')), isError('DREDGE_ERR_INPUT', /no store at .*nope\.duckdb: run `dredge run --sink duckdb` first/));
  });

  it('a DuckDB file without rollups, or not DuckDB at all, is not a dredge store', async () => {
    const other = join(dir, 'other.duckdb');
    const inst = await DuckDBInstance.create(other);
    const con = await inst.connect();
    await con.run('CREATE TABLE t (x INTEGER)');
    con.closeSync();
    inst.closeSync();
    await assert.rejects(DuckDBStore.open(other), isError('DREDGE_ERR_INPUT', /other\.duckdb is not a dredge store \(it has no rollups table\)/));
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'hello, this is not a database\n'.repeat(200));
    await assert.rejects(DuckDBStore.open(text), isError('DREDGE_ERR_INPUT', /notes\.txt is not a dredge store/));
  });
});

describe('read-only', () => {
  it('DELETE, UPDATE, DROP, CREATE fail and the data is unchanged', async () => {
    const before = await totals(db);
    assert.deepEqual(before, [BigInt(TOTAL.flows), BigInt(TOTAL.packets), BigInt(TOTAL.bytes), 17n]);
    const s = await DuckDBStore.open(db);
    try {
      for (const sql of ['DELETE FROM rollups', "UPDATE rollups SET bytes = 0", 'DROP TABLE rollups', 'CREATE TABLE x (a INTEGER)', "INSERT INTO dredge_meta VALUES ('k', 'v')"]) {
        await assert.rejects(s.userSql(sql), isError('DREDGE_ERR_CONFIG', /read-only mode[\s\S]*hint: dredge query opens the store read-only/), sql);
      }
    } finally {
      s.close();
    }
    assert.deepEqual(await totals(db), before);
  });

  it('no way around it: no ATTACH of another file, no COPY out, no SET back to read-write', async () => {
    const s = await DuckDBStore.open(db);
    try {
      await assert.rejects(s.userSql(`ATTACH '${join(dir, 'w.duckdb')}' AS w`), isError('DREDGE_ERR_CONFIG', /file system operations are disabled/));
      await assert.rejects(s.userSql(`COPY rollups TO '${join(dir, 'out.csv')}'`), isError('DREDGE_ERR_CONFIG', /file system operations are disabled/));
      await assert.rejects(s.userSql(`SET access_mode = 'READ_WRITE'`), isError('DREDGE_ERR_CONFIG', /configuration has been locked|Cannot change/));
      await assert.rejects(s.userSql(`SET enable_external_access = true`), isError('DREDGE_ERR_CONFIG', /locked|Cannot change/));
    } finally {
      s.close();
    }
  });

  it('bad SQL gives DuckDB\'s error and a hint; one statement at a time', async () => {
    const s = await DuckDBStore.open(db);
    try {
      await assert.rejects(s.userSql('SELEC 1'), isError('DREDGE_ERR_CONFIG', /SQL failed: Parser Error: syntax error at or near "SELEC"[\s\S]*hint: the table is `rollups`/));
      await assert.rejects(s.userSql('SELECT nope FROM rollups'), isError('DREDGE_ERR_CONFIG', /Binder Error: .*"nope"[\s\S]*DESCRIBE rollups/));
      await assert.rejects(s.userSql('SELECT 1; SELECT 2'), isError('DREDGE_ERR_CONFIG', /exactly one statement, got 2/));
      const r = await s.userSql('SELECT source, position FROM checkpoints');
      assert.deepEqual(r.rows, [['file:/in/a.log', '1234']]);
    } finally {
      s.close();
    }
  });
});

describe('a store held by a running writer', () => {
  let child: ChildProcessWithoutNullStreams | null = null;
  after(() => {
    if (child !== null && child.exitCode === null) child.kill();
  });

  it('is refused with what to do, and opens again once the writer is gone', async () => {
    const held = join(dir, 'held.duckdb');
    await writeStore(held);
    const c = spawn(process.execPath, [new URL('./hold-lock.js', import.meta.url).pathname, held]);
    child = c;
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      c.stdout.on('data', (d: Buffer) => (d.toString().includes('ready') ? resolve() : undefined));
      c.on('exit', (code) => reject(new Error(`holder exited ${code}: ${err}`)));
    });
    await assert.rejects(DuckDBStore.open(held), (e: unknown) => {
      assert.ok(e instanceof DredgeError);
      assert.equal(e.code, 'DREDGE_ERR_INPUT');
      assert.equal(e.retriable, true);
      assert.match(e.message, new RegExp(`held\\.duckdb is held by a running \`dredge run\` \\(PID ${c.pid}\\)`));
      assert.match(e.message, /not even read-only/);
      assert.match(e.message, /left no query listener/);
      return true;
    });
    const exited = new Promise((resolve) => c.on('exit', resolve));
    c.stdin.end();
    await exited;
    assert.deepEqual(await totals(held), [BigInt(TOTAL.flows), BigInt(TOTAL.packets), BigInt(TOTAL.bytes), 17n]);
  });
});
