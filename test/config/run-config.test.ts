// `dredge run` with a dredge.yaml (found in the working folder), DREDGE_* overrides and command-line
// flags: the file's inputs, inventory and store are used; an environment variable overrides the file;
// a flag overrides both; a usage error caused by a value from the file names the file's key.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

// The daemon logs plain lines here (on a pipe its default is JSON; test/cli/run.test.ts checks that form).
process.env.DREDGE_OPS_LOG_FORMAT = 'pretty';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
let dir = '';
let truth: { flows: number };

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'dredge-run-config-'));
  const g = spawnSync(process.execPath, [BIN, 'generate', '--out', join(dir, 'gen'), '--flows', '5000', '--span', '10m', '--subnets', '300'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  truth = JSON.parse(readFileSync(join(dir, 'gen', 'truth.json'), 'utf8')) as typeof truth;
});
after(() => rmSync(dir, { recursive: true, force: true }));

function dredge(cwd: string, args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, stderr: r.stderr };
}

function yaml(dbName: string, extra = ''): string {
  return [
    'source:',
    `  input: [${join(dir, 'gen', 'flows-0001.log')}]`,
    'index:',
    `  snapshot: [${join(dir, 'gen', 'snapshot.csv')}]`,
    `  events: [${join(dir, 'gen', 'events.ndjson')}]`,
    'sink:',
    '  type: duckdb',
    `  db: ${dbName}`,
    'ops:',
    '  quiet: true',
    extra,
  ].join('\n');
}

test('the working folder\'s dredge.yaml runs the job; DREDGE_* overrides the file; a flag overrides both', () => {
  const cwd = join(dir, 'a');
  mkdirSync(cwd);
  writeFileSync(join(cwd, 'dredge.yaml'), yaml('from-file.duckdb'));
  const r = dredge(cwd, ['run']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`dredge run: ${truth.flows} flows`));
  assert.ok(existsSync(join(cwd, 'from-file.duckdb')));
  const env = dredge(cwd, ['run'], { DREDGE_SINK_DB: 'from-env.duckdb' });
  assert.equal(env.status, 0, env.stderr);
  assert.ok(existsSync(join(cwd, 'from-env.duckdb')));
  const flag = dredge(cwd, ['run', '--db', 'from-flag.duckdb'], { DREDGE_SINK_DB: 'from-env-2.duckdb' });
  assert.equal(flag.status, 0, flag.stderr);
  assert.ok(existsSync(join(cwd, 'from-flag.duckdb')));
  assert.ok(!existsSync(join(cwd, 'from-env-2.duckdb')));
});

test('a bad key stops the run naming it; a run-time usage error names the file key behind the flag', () => {
  const cwd = join(dir, 'b');
  mkdirSync(cwd);
  writeFileSync(join(cwd, 'dredge.yaml'), yaml('x.duckdb', 'aggregate:\n  windw: 60s\n'));
  const bad = dredge(cwd, ['run']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /windw/);
  assert.match(bad.stderr, /window/);
  writeFileSync(join(cwd, 'dredge.yaml'), yaml('x.duckdb').replace('  type: duckdb', '  type: ndjson').replace('  db: x.duckdb\n', ''));
  const cross = dredge(cwd, ['run']);
  assert.equal(cross.status, 2, cross.stderr);
  assert.match(cross.stderr, /--out DIR is required with --sink ndjson/);
  assert.match(cross.stderr, /sink\.type/);
});
