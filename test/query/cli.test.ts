// `dredge query` as a user runs it: the built binary over fixture stores. Every report prints the same
// sums through the CLI as through the query layer; --json/--csv/table output; the default ./dredge.duckdb;
// and each error (unknown dimension, missing column, bad SQL, a write attempt, no file, a held file,
// bad usage) is one line on stderr with the right exit code.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jsonValue } from '../../src/query/format.js';
import { REPORTS, runReport, type ReportName } from '../../src/query/reports.js';
import { DuckDBStore } from '../../src/query/store.js';
import { T3, TOTAL, defaultSpec, writeStore } from './fixture.js';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'dredge-query-cli-'));
const db = join(dir, 'dredge.duckdb');
const big = join(dir, 'big.duckdb');
const narrow = join(dir, 'narrow.duckdb');

before(async () => {
  await writeStore(db);
  const spec = defaultSpec();
  const MAX = 9007199254740991;
  await writeStore(big, { ...spec, rows: [[T3, 'a', 'b', null, null, null, null, 6, 443, 'ACCEPT', null, null, 1, MAX, MAX], [T3, 'a', 'b', null, null, null, null, 6, 443, 'ACCEPT', null, null, 1, 1, MAX]] });
  await writeStore(narrow, { columns: [['src_app', 'VARCHAR'], ['dst_app', 'VARCHAR']], dimensions: 'src.app,dst.app', rows: [[T3, 'a', 'b', null, null, 1, 2, 3]] });
});
after(() => rmSync(dir, { recursive: true, force: true }));

function dredge(args: string[], cwd = dir): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'query', ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: string[]): string {
  const r = dredge(args);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout;
}

function fails(args: string[], code: number, re: RegExp): string {
  const r = dredge(args);
  assert.equal(r.code, code, `exit ${r.code}\n${r.stdout}${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, re);
  return r.stderr;
}

describe('reports', () => {
  for (const name of Object.keys(REPORTS) as ReportName[]) {
    it(`${name}: the CLI prints what the query layer returns`, async () => {
      const store = await DuckDBStore.open(db);
      let expected: Record<string, unknown>[];
      try {
        const rows = await runReport(store, name, { limit: 0 });
        expected = rows.rows.map((r) => Object.fromEntries(rows.columns.map((c, i) => [c.name, jsonValue(r[i] ?? null)])));
      } finally {
        store.close();
      }
      assert.ok(expected.length > 0);
      assert.deepEqual(JSON.parse(ok([name, '--limit', '0', '--json'])), expected);
    });
  }

  it('top-talkers --by dst.app --since 1h as a table (stdout is not a terminal: still a table)', () => {
    assert.equal(
      ok(['top-talkers', '--by', 'dst.app', '--since', '1h']),
      [
        'dst.app           flows  packets    bytes',
        '----------------  -----  -------  -------',
        'cache                 2       20  200,000',
        'web                  29       92   71,400',
        'aws:s3:us-east-1      2       20   50,000',
        'db                   18       54   41,400',
        'internet              3       30    9,000',
        'api                   6       60    6,000',
        'aws:s3:us-west-2      1       10    3,000',
        'null                  1        1      100',
        '',
      ].join('\n'),
    );
  });

  it('unattributed shares with two decimals; query sql separates thousands in flows/packets/bytes only', () => {
    assert.equal(
      ok(['unattributed']),
      [
        'side  reason    flows  packets  bytes  flows_pct  bytes_pct',
        '----  --------  -----  -------  -----  ---------  ---------',
        'src   unknown       8        8    800      10.00       0.12',
        'src   gap           2        2    200       2.50       0.03',
        'dst   conflict      1        1    100       1.25       0.01',
        '',
      ].join('\n'),
    );
    assert.equal(ok(['sql', 'SELECT 8080 AS dstport, SUM(bytes) AS bytes FROM rollups']), 'dstport    bytes\n-------  -------\n   8080  691,310\n');
  });

  it('sums past 2^53 come out as JSON strings, smaller ones as numbers; timestamps with Z', () => {
    assert.deepEqual(JSON.parse(ok(['top-talkers', '--db', big, '--by', 'window_start,src.app', '--json'])), [
      { window_start: '2026-11-20T11:59:00Z', 'src.app': 'a', flows: 2, packets: '9007199254740992', bytes: '18014398509481982' },
    ]);
    assert.deepEqual(JSON.parse(ok(['sql', 'SELECT max(window_start) AS newest, count(*) AS n FROM rollups', '--json'])), [{ newest: '2026-11-20T11:59:00Z', n: 17 }]);
  });

  it('--csv: a header row and RFC 4180 quoting', () => {
    const out = ok(['top-talkers', '--csv', '--where', 'dst.app=legacy, "v1"']);
    assert.equal(out, 'src.app,dst.app,flows,packets,bytes\nweb,"legacy, ""v1""",1,1,10\n');
    assert.equal(ok(['unattributed', '--csv', '--limit', '1']), 'side,reason,flows,packets,bytes,flows_pct,bytes_pct\nsrc,unknown,8,8,800,10,0.12\n');
  });

  it('uses ./dredge.duckdb by default and --db otherwise', () => {
    assert.deepEqual(JSON.parse(ok(['sql', 'SELECT SUM(bytes) AS bytes FROM rollups', '--json'])), [{ bytes: TOTAL.bytes }]);
    assert.deepEqual(JSON.parse(ok(['sql', 'SELECT SUM(bytes) AS bytes FROM rollups', '--json', '--db', narrow])), [{ bytes: 3 }]);
  });
});

describe('errors', () => {
  it('an unknown dimension', () => {
    fails(['top-talkers', '--by', 'dst.app,colour'], 1, /^dredge query: --by: unknown dimension "colour"\. This store has: src\.app, dst\.app/);
  });

  it('a report that needs columns the store lacks names the dimensions and the run to collect them', () => {
    fails(['cross-az', '--db', narrow], 1, /cross-az needs src\.az and dst\.az; this store has no src\.az, dst\.az .*`dredge run --dimensions "src\.app,dst\.app,src\.az,dst\.az"/);
    fails(['top-talkers', '--by', 'src.vpc'], 1, /this store has no src\.vpc \(column src_vpc\)/);
  });

  it('bad SQL: DuckDB\'s message and a hint, exit 1', () => {
    fails(['sql', 'SELECT bytes FROM rollup'], 1, /SQL failed: Catalog Error: Table with name rollup does not exist[\s\S]*hint:/);
  });

  it('a write attempt fails and the data is unchanged', () => {
    const before = ok(['sql', 'SELECT count(*) AS n, SUM(bytes) AS b FROM rollups', '--json']);
    assert.deepEqual(JSON.parse(before), [{ n: 17, b: TOTAL.bytes }]);
    fails(['sql', 'DELETE FROM rollups'], 1, /Cannot execute statement of type "DELETE".*read-only mode[\s\S]*hint: dredge query opens the store read-only/);
    fails(['sql', 'DROP', 'TABLE', 'rollups'], 1, /read-only/);
    assert.equal(ok(['sql', 'SELECT count(*) AS n, SUM(bytes) AS b FROM rollups', '--json']), before);
  });

  it('no store file', () => {
    fails(['top-talkers', '--db', join(dir, 'missing.duckdb')], 1, /^dredge query: no store at .*missing\.duckdb: run `dredge run --sink duckdb` first/);
    const empty = mkdtempSync(join(dir, 'empty-'));
    const r = dredge(['top-talkers'], empty);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no store at \.\/dredge\.duckdb/);
  });

  it('a store held by a running writer says so and what to do', async () => {
    const held = join(dir, 'held.duckdb');
    await writeStore(held);
    const c = spawn(process.execPath, [new URL('./hold-lock.js', import.meta.url).pathname, held]);
    try {
      await new Promise<void>((resolve, reject) => {
        c.stdout.on('data', (d: Buffer) => (d.toString().includes('ready') ? resolve() : undefined));
        c.on('exit', (code) => reject(new Error(`holder exited ${code}`)));
      });
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const q = spawn(process.execPath, [BIN, 'query', 'top-talkers', '--db', held]);
        let stderr = '';
        q.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        q.on('exit', (code) => resolve({ code, stderr }));
      });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^dredge query: .*held\\.duckdb is held by a running \`dredge run\` \\(PID ${c.pid}\\).*left no query listener.*answers dredge query itself`));
    } finally {
      const exited = new Promise((resolve) => c.on('exit', resolve));
      c.stdin.end();
      await exited;
    }
  });

  it('bad usage exits 2 with the fix; --help lists every report', () => {
    const help = ok(['--help']);
    for (const name of [...Object.keys(REPORTS), 'sql', '--since', '--until', '--where', '--limit', '--db', '--json', '--csv', '--by']) assert.ok(help.includes(name), name);
    fails([], 2, /name a report or sql/);
    fails(['top-speakers'], 2, /unknown report "top-speakers"; reports: top-talkers, cross-region/);
    fails(['top-talkers', '--json', '--csv'], 2, /--json or --csv, not both/);
    fails(['top-talkers', '--limit', 'ten'], 2, /--limit takes a whole number/);
    fails(['top-talkers', '--colour'], 2, /Unknown option '--colour'/);
    fails(['sql'], 2, /takes the statement as an argument/);
    fails(['sql', 'SELECT 1', '--since', '1h'], 2, /--since is for the reports/);
  });
});
