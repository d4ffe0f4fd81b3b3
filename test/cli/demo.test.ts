// `dredge demo` (what `npm start` runs): decodes the bundled samples, runs the engine on them into a
// DuckDB store, and answers two `dredge query` reports from it; exit 0 and nothing left behind.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;

test('the demo decodes, runs the engine into DuckDB, and queries it', () => {
  const before = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('dredge-demo-')));
  const r = spawnSync(process.execPath, [BIN, 'demo'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /15000 records decoded/);
  // The samples hold 15,000 records: 141 without data, one malformed line, the rest flows.
  assert.match(r.stderr, /dredge run: 14859 flows \(15000 records, 141 without data\), 1 malformed, 0 late/);
  assert.match(r.stderr, /vpc-flow-v2\.log:1235: field 4 \(srcaddr\)/);
  assert.match(r.stdout, /\$ dredge query top-talkers --limit 5\nsrc\.app\s+dst\.app\s+flows\s+packets\s+bytes\n/);
  assert.match(r.stdout, /\$ dredge query unattributed\nside\s+reason/);
  const after = readdirSync(tmpdir()).filter((n) => n.startsWith('dredge-demo-') && !before.has(n));
  assert.deepStrictEqual(after, []);
});
