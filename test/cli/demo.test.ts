// `dredge demo` (what `npm start` runs): decodes the bundled samples, runs the engine on them into a
// DuckDB store and answers two `dredge query` reports from it, then the live product for a few seconds
// (kinesalite in-process, the generator and the daemon as child processes) whose store ends up holding
// exactly what the generator sent; exit 0 and nothing left behind but the demo's store.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;

test('the demo decodes, runs the engine into DuckDB, queries it, then runs the live product', () => {
  const before = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('dredge-demo-')));
  const cwd = mkdtempSync(join(tmpdir(), 'dredge-demo-cwd-'));
  const r = spawnSync(process.execPath, [BIN, 'demo', '--seconds', '5', '--rate', '5000'], { cwd, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /15000 records decoded/);
  // The samples hold 15,000 records: 141 without data, one malformed line, the rest flows.
  assert.match(r.stderr, /dredge run: 14859 flows \(15000 records, 141 without data\), 1 malformed, 0 late/);
  assert.match(r.stderr, /vpc-flow-v2\.log:1235: field 4 \(srcaddr\)/);
  assert.match(r.stdout, /\$ dredge query top-talkers --limit 5\nsrc\.app\s+dst\.app\s+flows\s+packets\s+bytes\n/);
  assert.match(r.stdout, /\$ dredge query unattributed\nside\s+reason/);
  // The live part: status lines, the daemon's summary, the store's total equal to what was sent.
  assert.match(r.stdout, /flows enriched, [\d,]+ flows\/s, 4 shards, max \d+ ms behind/);
  assert.match(r.stdout, /^dredge run: \d+ flows/m);
  const m = /([\d,]+) flows in [\d,]+ rollup rows in \.\/dredge-demo\.duckdb; the generator sent ([\d,]+)\./.exec(r.stdout);
  assert.ok(m !== null, r.stdout);
  assert.equal(m[1], m[2]);
  assert.match(r.stdout, /Try next:\n {2}npx dredge query top-talkers --db dredge-demo\.duckdb/);
  assert.deepStrictEqual(readdirSync(cwd).sort(), ['dredge-demo.duckdb']);
  rmSync(cwd, { recursive: true, force: true });
  const after = readdirSync(tmpdir()).filter((n) => n.startsWith('dredge-demo-') && !n.startsWith('dredge-demo-cwd-') && !before.has(n));
  assert.deepStrictEqual(after, []);
});
