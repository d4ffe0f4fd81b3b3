// `dredge config check|example` through the built CLI: exit codes, the printed command line, every
// problem listed, environment overrides shown, ./dredge.yaml picked up by default.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { exampleConfig } from '../../src/config/index.js';

const run = promisify(execFile);
const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
let dir = '';

/** The environment without any DREDGE_* variable of the caller, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DREDGE_')) env[k] = v;
  return { ...env, ...extra };
}

async function dredge(args: string[], env: Record<string, string> = {}, cwd = dir): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { cwd, env: cleanEnv(env) });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'dredge-config-cli-'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('config example prints the commented example, which config check accepts', async () => {
  const ex = await dredge(['config', 'example']);
  assert.equal(ex.code, 0, ex.stderr);
  assert.equal(ex.stdout, exampleConfig());
  writeFileSync(join(dir, 'example.yaml'), ex.stdout);
  const r = await dredge(['config', 'check', '--config', 'example.yaml']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^example\.yaml: valid; 10 settings from the file, 0 from the environment$/m);
  assert.match(r.stdout, /^dredge run --dimensions=src\.app,.* --window=60s --lateness=10m .*--sink=duckdb .*--input=flow-logs\/ --snapshot=inventory\.csv$/m);
  assert.match(r.stdout, /^ {2}--window +aggregate\.window +example\.yaml:\d+:3$/m);
});

test('config check: the environment overrides the file and is shown as the origin', async () => {
  writeFileSync(join(dir, 'env.yaml'), 'aggregate:\n  window: 60s\nsink:\n  type: ndjson\n  out: rollups\n');
  const r = await dredge(['config', 'check', '--config=env.yaml'], { DREDGE_AGGREGATE_WINDOW: '5m', DREDGE_SINK_DRUID_URL: 'https://u:pw@druid:8888' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^dredge run --window=5m --sink=ndjson --out=rollups '--druid-url=https:\/\/u:\*\*\*@druid:8888'$/m);
  assert.match(r.stdout, /^ {2}--window +aggregate\.window +DREDGE_AGGREGATE_WINDOW \(environment\)$/m);
  assert.match(r.stdout, /^ {2}--out +sink\.out +env\.yaml:5:3$/m);
  assert.doesNotMatch(r.stdout, /pw@/);
});

test('config check: every problem, with positions, and exit 1', async () => {
  writeFileSync(join(dir, 'bad.yaml'), 'sink:\n  tpye: duckdb\naggregate:\n  window: 60 seconds\nengine:\n  workers: many\n');
  const r = await dredge(['config', 'check', '--config', 'bad.yaml'], { DREDGE_SINK_DBB: 'x' });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines[0], 'dredge config check: bad.yaml: 4 problems');
  assert.match(lines[1] ?? '', /^ {2}bad\.yaml:2:3: sink\.tpye: unknown key in section sink; did you mean sink\.type\?/);
  assert.match(lines[2] ?? '', /^ {2}bad\.yaml:4:11: aggregate\.window: expected a duration.*got "60 seconds"; e\.g\. window: 60s$/);
  assert.match(lines[3] ?? '', /^ {2}bad\.yaml:6:12: engine\.workers: expected a whole number from 1 to 256, got "many"; e\.g\. workers: 4$/);
  assert.match(lines[4] ?? '', /^ {2}DREDGE_SINK_DBB \(environment\): unknown DREDGE_ variable; did you mean DREDGE_SINK_DB \(sink\.db\)\?/);
});

test('config check: a YAML syntax error names the line; a missing file is an error', async () => {
  writeFileSync(join(dir, 'syntax.yaml'), 'sink:\n  type: duckdb\n\tdb: x\n');
  let r = await dredge(['config', 'check', '--config', 'syntax.yaml']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^ {2}syntax\.yaml:3:1: YAML syntax error: Tabs are not allowed as indentation; fix: indent with spaces, not tabs$/m);
  r = await dredge(['config', 'check', '--config', 'nope.yaml']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nope\.yaml: cannot read the config file: no such file/);
});

test('config check: ./dredge.yaml by default, DREDGE_CONFIG, or no file at all', async () => {
  const sub = mkdtempSync(join(dir, 'cwd-'));
  let r = await dredge(['config', 'check'], {}, sub);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^no config file .*0 settings from DREDGE_\* variables$/m);
  writeFileSync(join(sub, 'dredge.yaml'), 'sink: { db: here.duckdb }\n');
  r = await dredge(['config', 'check'], {}, sub);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^dredge\.yaml: valid; 1 setting from the file/m);
  assert.match(r.stdout, /^dredge run --db=here\.duckdb$/m);
  writeFileSync(join(sub, 'other.yaml'), 'sink: { db: other.duckdb }\n');
  r = await dredge(['config', 'check'], { DREDGE_CONFIG: 'other.yaml' }, sub);
  assert.match(r.stdout, /^dredge run --db=other\.duckdb$/m);
});

test('config: usage errors exit 2', async () => {
  let r = await dredge(['config']);
  assert.equal(r.code, 2);
  assert.match(r.stdout, /usage: dredge config check/);
  r = await dredge(['config', 'chek']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown subcommand "chek"/);
  r = await dredge(['config', 'check', '--bogus']);
  assert.equal(r.code, 2);
  r = await dredge(['config', 'check', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /DREDGE_<SECTION>_<KEY>/);
});
