// dredge.yaml + DREDGE_* → `dredge run` argv: the example round-trips, every error names the key, the
// bad value and the fix, the environment wins over the file, and the argv parses (with the options
// `dredge run` declares) to the right values with the command line winning.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseArgs } from 'node:util';
import { parseDocument } from 'yaml';
import {
  annotateFlags,
  BY_ENV,
  ConfigError,
  envName,
  exampleConfig,
  KEYS,
  loadConfig,
  loadConfigText,
  loadRunConfig,
  maskValue,
  mergeRunLists,
  resolveConfigPath,
  splitConfigFlag,
  type ConfigProblem,
  type LoadedConfig,
} from '../../src/config/index.js';
import { RUN_OPTIONS } from '../../src/cli/run.js';

// `dredge run`'s own option table: the argv a config makes is parsed exactly as the command parses it.

function parseRun(args: string[]): { values: Record<string, unknown>; positionals: string[] } {
  const r = parseArgs({ args, options: RUN_OPTIONS, allowPositionals: true, strict: true });
  return { values: r.values as Record<string, unknown>, positionals: r.positionals };
}

/** The ConfigError's problems (fails when nothing was thrown). */
function problems(fn: () => unknown): ConfigProblem[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'DREDGE_ERR_CONFIG');
    return [...e.problems];
  }
  assert.fail('expected a ConfigError');
}

function one(text: string, env: NodeJS.ProcessEnv = {}): ConfigProblem {
  const ps = problems(() => loadConfigText(text, 'f.yaml', env));
  assert.equal(ps.length, 1, ps.map((p) => `${p.where}: ${p.message}`).join('\n'));
  return ps[0] as ConfigProblem;
}

function load(text: string, env: NodeJS.ProcessEnv = {}): LoadedConfig {
  return loadConfigText(text, 'f.yaml', env);
}

test('the example has every key, loads as is, and turns into the default flags', () => {
  const text = exampleConfig();
  const doc = parseDocument(text);
  assert.equal(doc.errors.length, 0);
  for (const k of KEYS) assert.ok(doc.hasIn(k.key.split('.')), `the example lacks ${k.key}`);
  // One comment per key line.
  for (const k of KEYS) {
    const leaf = k.key.split('.').pop() as string;
    const i = text.split('\n').findIndex((l) => l.trimStart().startsWith(`${leaf}: ${k.example}`));
    assert.ok(i >= 0, `no line for ${k.key}`);
    const lines = text.split('\n');
    assert.ok((lines[i] as string).includes('# ') || (lines[i - 1] as string).trimStart().startsWith('# '), `${k.key} has no comment`);
  }
  const cfg = load(text);
  assert.deepEqual(cfg.argv, [
    '--dimensions=src.app,dst.app,src.region,dst.region,src.az,dst.az,protocol,dstport,action',
    '--window=60s',
    '--lateness=10m',
    '--flush-interval=10s',
    '--rollup=window',
    '--sink=duckdb',
    '--query-listen=127.0.0.1:0',
    '--ops-listen=127.0.0.1:9464',
  ]);
  assert.deepEqual(cfg.lists, { input: ['flow-logs/'], snapshot: ['inventory.csv'] });
  const { values } = parseRun(cfg.argv);
  assert.equal(values.window, '60s');
  assert.equal(values.sink, 'duckdb');
  assert.equal(values['no-resume'], undefined);
  assert.equal(cfg.sources.get('window'), 'file');
  assert.equal(cfg.origins.get('window')?.key, 'aggregate.window');
  assert.match(cfg.origins.get('window')?.where ?? '', /^f\.yaml:\d+:3$/);
});

test('every key maps onto a distinct flag and environment variable that dredge run declares', () => {
  assert.equal(new Set(KEYS.map((k) => k.flag)).size, KEYS.length);
  assert.equal(BY_ENV.size, KEYS.length);
  for (const k of KEYS) assert.ok(k.flag in RUN_OPTIONS, `${k.key} → --${k.flag} is not a dredge run option`);
  assert.equal(envName('sink.druid.url'), 'DREDGE_SINK_DRUID_URL');
  assert.equal(envName('source.kinesis.stop_when_caught_up'), 'DREDGE_SOURCE_KINESIS_STOP_WHEN_CAUGHT_UP');
});

test('a full config becomes the right flags; the command line after it wins', () => {
  const cfg = load(`
source:
  kinesis: { stream: flows, endpoint: "http://localhost:4567", region: eu-west-1, from: latest, stop_when_caught_up: true }
index: { snapshot: [a.csv, b.csv], events: e.ndjson, ip_ranges: ip.json }
format: { fields: "version srcaddr dstaddr" }
aggregate: { dimensions: "src.app dst.app", keep_ports: [8080, "9000"], window: 300, lateness: 0, flush_interval: 1m }
engine: { workers: 4, rollup: window, heartbeats: false, resume: false }
sink:
  type: druid
  checkpoint_dir: -state
  druid: { stream: out, endpoint: "http://localhost:4568", region: us-east-1 }
ops: { listen: off, quiet: true }
`);
  assert.deepEqual(cfg.lists, { snapshot: ['a.csv', 'b.csv'], events: ['e.ndjson'] });
  const { values, positionals } = parseRun([...cfg.argv, '--window', '5m', '--workers=8']);
  assert.deepEqual(positionals, []);
  assert.equal(values.kinesis, 'flows');
  assert.equal(values.endpoint, 'http://localhost:4567');
  assert.equal(values.region, 'eu-west-1');
  assert.equal(values.from, 'latest');
  assert.equal(values['stop-when-caught-up'], true);
  assert.equal(values['ip-ranges'], 'ip.json');
  assert.equal(values.fields, 'version,srcaddr,dstaddr');
  assert.equal(values.dimensions, 'src.app,dst.app');
  assert.equal(values['keep-ports'], '8080,9000');
  assert.equal(values.window, '5m', 'the command line wins over the file');
  assert.equal(values.workers, '8');
  assert.equal(values.lateness, '0');
  assert.equal(values['flush-interval'], '1m');
  assert.equal(values['no-heartbeats'], true);
  assert.equal(values['no-resume'], true);
  assert.equal(values.sink, 'druid');
  assert.equal(values['checkpoint-dir'], '-state', 'a value starting with - stays a value');
  assert.equal(values['druid-stream'], 'out');
  assert.equal(values['ops-listen'], 'off');
  assert.equal(values.quiet, true);
  assert.equal(values.input, undefined, 'lists never go into argv');
  assert.equal(values.snapshot, undefined);
});

test('an empty file and null keys mean defaults; false-valued switches give no flag', () => {
  assert.deepEqual(load('').argv, []);
  assert.deepEqual(load('# nothing\n').argv, []);
  assert.deepEqual(load('sink:\nengine: { workers: ~, heartbeats: true, resume: true }\nops: { quiet: false }\nsource: { input: [] }\n').argv, []);
  assert.deepEqual(load('ops: { listen: false }').argv, ['--ops-listen=off']);
});

test('unknown keys: named with their path and position, with the closest known key', () => {
  let p = one('sink:\n  type: duckdb\n  tpye: ndjson\n');
  assert.equal(p.where, 'f.yaml:3:3');
  assert.match(p.message, /sink\.tpye: unknown key in section sink; did you mean sink\.type\?/);
  p = one('sinks: { db: x }\n');
  assert.match(p.message, /^sinks: unknown section at the top level; did you mean sink\?/);
  p = one('engine: { window: 60s }\n');
  assert.match(p.message, /engine\.window: unknown key .*belongs elsewhere: aggregate\.window/);
  p = one('aggregate: { keep-ports: [8080] }\n');
  assert.match(p.message, /did you mean aggregate\.keep_ports\?/);
  p = one('source:\n  kinesis:\n    stream: s\n    form: latest\n');
  assert.equal(p.where, 'f.yaml:4:5');
  assert.match(p.message, /source\.kinesis\.form: .*did you mean source\.kinesis\.from\?/);
  p = one('ops: { zzzzzz: 1 }\n');
  assert.match(p.message, /known keys: listen, quiet/);
});

test('wrong types: the key, the bad value, the expected type and an example', () => {
  let p = one('engine:\n  workers: many\n');
  assert.equal(p.where, 'f.yaml:2:12');
  assert.equal(p.message, 'engine.workers: expected a whole number from 1 to 256, got "many"; e.g. workers: 4');
  p = one('engine: { workers: 0 }');
  assert.match(p.message, /engine\.workers: expected a whole number from 1 to 256, got 0/);
  p = one('engine: { heartbeats: "no" }');
  assert.match(p.message, /engine\.heartbeats: expected true or false .*got "no"; e.g\. heartbeats: false/);
  p = one('sink: { db: [a, b] }');
  assert.match(p.message, /sink\.db: expected a path \(text\), got \["a","b"\]; e.g\. db: dredge\.duckdb/);
  p = one('sink: duckdb\n');
  assert.match(p.message, /^sink: expected a section .*got "duckdb"; .*e\.g\. "sink: \{ type: duckdb \}"/);
  p = one('aggregate: { keep_ports: [8080, 70000] }');
  assert.match(p.message, /aggregate\.keep_ports: .*70000 is not one/);
  p = one('sink: { query_listen: localhost }');
  assert.match(p.message, /sink\.query_listen: expected HOST:PORT .* or off, got "localhost"; e\.g\. query_listen: 127\.0\.0\.1:0/);
  p = one('source: { kinesis: { from: yesterday } }');
  assert.match(p.message, /source\.kinesis\.from: expected trim-horizon, latest or an ISO time .*got "yesterday"; e\.g\. from: 2025-11-23T12:00:00Z/);
  p = one('sink: { druid: { url: "localhost:8888" } }');
  assert.match(p.message, /sink\.druid\.url: expected an http:\/\/ or https:\/\/ URL, got "localhost:8888"/);
  p = one('aggregate: { dimensions: [src.app, srcaddr] }');
  assert.match(p.message, /aggregate\.dimensions: srcaddr is an address; group by its owner/);
  p = one('format: { fields: [srcaddr, dstadr] }');
  assert.match(p.message, /format\.fields: unknown flow-log field "dstadr"\. Did you mean "dstaddr"\?/);
  p = one('- a\n- b\n');
  assert.match(p.message, /the file must be a mapping of sections/);
});

test('bad durations name the key, the value and the form', () => {
  let p = one('aggregate:\n  window: 60 seconds\n');
  assert.equal(p.where, 'f.yaml:2:11');
  assert.match(p.message, /^aggregate\.window: expected a duration: .*got "60 seconds"; e\.g\. window: 60s$/);
  p = one('aggregate: { window: 0 }');
  assert.match(p.message, /aggregate\.window: expected a duration of at least 1 s, got 0/);
  p = one('aggregate: { flush_interval: -5s }');
  assert.match(p.message, /aggregate\.flush_interval: expected a duration.*got "-5s"/);
  assert.deepEqual(load('aggregate: { lateness: 0, window: 1h }').argv, ['--window=1h', '--lateness=0']);
});

test('bad enum values: the allowed values and the closest one', () => {
  let p = one('sink: { type: duck }');
  assert.equal(p.message, 'sink.type: expected one of duckdb, ndjson, druid, druid-sql, got "duck" (did you mean duckdb?); e.g. type: duckdb');
  p = one('engine: { rollup: 5 }');
  assert.match(p.message, /engine\.rollup: expected one of window, none, got 5; e\.g\. rollup: window/);
});

test('YAML syntax errors carry file:line:col and what to fix', () => {
  let p = one('sink:\n  type: duckdb\n\tdb: x\n');
  assert.equal(p.where, 'f.yaml:3:1');
  assert.match(p.message, /^YAML syntax error: Tabs are not allowed as indentation; fix: indent with spaces, not tabs/);
  p = one('sink:\n  db: a\n  db: b\n');
  assert.equal(p.where, 'f.yaml:3:3');
  assert.match(p.message, /unique.*fix: a key appears twice/);
  const ps = problems(() => load('sink: { type: [duckdb }\n'));
  assert.ok(ps.length >= 1);
  assert.match(ps[0]?.where ?? '', /^f\.yaml:1:\d+$/);
  assert.match(ps[0]?.message ?? '', /^YAML syntax error: .*fix: .*close \[ \] and \{ \}/);
});

test('every problem is reported at once, file and environment together', () => {
  const ps = problems(() => load('sink: { tpye: x, db: [1] }\naggregate: { window: x }\n', { DREDGE_SINK_DBB: 'a', DREDGE_ENGINE_WORKERS: 'lots' }));
  assert.deepEqual(
    ps.map((p) => p.key),
    ['sink.tpye', 'sink.db', 'aggregate.window', 'DREDGE_ENGINE_WORKERS', 'DREDGE_SINK_DBB'],
  );
  const e = (() => {
    try {
      load('sink: { tpye: x }\naggregate: { window: x }\n');
    } catch (x) {
      return x as Error;
    }
    return null;
  })();
  assert.match(e?.message ?? '', /^2 configuration problems:\n {2}f\.yaml:1:9: sink\.tpye: .*\n {2}f\.yaml:2:22: aggregate\.window: /);
});

test('environment: overrides win over the file; lists, booleans, unset; bad variables are named', () => {
  const file = 'source: { input: [x.log] }\naggregate: { window: 60s }\nengine: { resume: false, heartbeats: false }\nsink: { db: a.duckdb }\n';
  const cfg = load(file, {
    DREDGE_AGGREGATE_WINDOW: '5m',
    DREDGE_SOURCE_INPUT: 'a.log, b/ ,',
    DREDGE_ENGINE_RESUME: 'TRUE',
    DREDGE_ENGINE_HEARTBEATS: '0',
    DREDGE_SINK_DB: '',
    DREDGE_AGGREGATE_KEEP_PORTS: '8080,9000',
    DREDGE_SOURCE_KINESIS_STOP_WHEN_CAUGHT_UP: '1',
    DREDGE_WASM: '0',
    DREDGE_CONFIG: 'elsewhere.yaml',
    HOME: '/root',
  });
  assert.deepEqual(cfg.lists, { input: ['a.log', 'b/'] });
  assert.deepEqual(cfg.argv, ['--stop-when-caught-up', '--keep-ports=8080,9000', '--window=5m', '--no-heartbeats']);
  assert.equal(cfg.sources.get('window'), 'env');
  assert.equal(cfg.sources.get('input'), 'env');
  assert.equal(cfg.sources.get('no-heartbeats'), 'env');
  assert.equal(cfg.origins.get('window')?.where, 'DREDGE_AGGREGATE_WINDOW');
  assert.equal(cfg.sources.has('db'), false, 'an empty variable unsets the key');
  assert.equal(cfg.sources.has('no-resume'), false, 'DREDGE_ENGINE_RESUME=TRUE undoes resume: false');

  let p = one('', { DREDGE_SINK_DBB: 'x' });
  assert.equal(p.key, 'DREDGE_SINK_DBB');
  assert.match(p.message, /unknown DREDGE_ variable; did you mean DREDGE_SINK_DB \(sink\.db\)\?/);
  p = one('', { DREDGE_AGGREGATE_WINDOW: 'soon' });
  assert.equal(p.where, 'DREDGE_AGGREGATE_WINDOW=soon (environment)');
  assert.match(p.message, /^aggregate\.window: expected a duration.*got "soon"; e\.g\. DREDGE_AGGREGATE_WINDOW=60s$/);
  p = one('', { DREDGE_ENGINE_RESUME: 'yes' });
  assert.match(p.message, /engine\.resume: expected true, false, 1 or 0, got "yes"; e\.g\. DREDGE_ENGINE_RESUME=false/);
  p = one('', { DREDGE_AGGREGATE_DIMENSIONS: 'src.app,bytes' });
  assert.match(p.message, /aggregate\.dimensions: bytes is a metric .*e\.g\. DREDGE_AGGREGATE_DIMENSIONS=src\.app,dst\.app,protocol,dstport/);
  p = one('', { DREDGE_TOTALLY_UNRELATED_NAME: 'x' });
  assert.match(p.message, /config keys are DREDGE_<SECTION>_<KEY>/);
});

test('loadConfig reads a file, or the environment alone; a missing file is named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dredge-config-'));
  try {
    const f = join(dir, 'd.yaml');
    writeFileSync(f, 'sink: { type: ndjson, out: rollups }\n');
    const cfg = loadConfig(f, { DREDGE_SINK_OUT: 'other' });
    assert.equal(cfg.path, f);
    assert.deepEqual(cfg.argv, ['--sink=ndjson', '--out=other']);
    assert.deepEqual(loadConfig(null, { DREDGE_SINK_DB: 'x.duckdb' }).argv, ['--db=x.duckdb']);
    const p = problems(() => loadConfig(join(dir, 'missing.yaml'), {}));
    assert.equal(p.length, 1);
    assert.match(`${p[0]?.where}: ${p[0]?.message}`, /missing\.yaml: cannot read the config file: no such file; fix: /);
    // Problems name the file as given.
    writeFileSync(f, 'sink: { tpye: x }\n');
    assert.equal(problems(() => loadConfig(f, {}))[0]?.where, `${f}:1:9`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--config is taken out of argv; the file is --config, else DREDGE_CONFIG, else ./dredge.yaml', () => {
  assert.deepEqual(splitConfigFlag(['--config', 'a.yaml', '--db', 'x']), { path: 'a.yaml', rest: ['--db', 'x'] });
  assert.deepEqual(splitConfigFlag(['x', '--config=b.yaml', '--config=c.yaml']), { path: 'c.yaml', rest: ['x'] });
  assert.deepEqual(splitConfigFlag(['--', '--config', 'x']), { path: null, rest: ['--', '--config', 'x'] });
  assert.throws(() => splitConfigFlag(['--config']), /--config needs a file/);
  const dir = mkdtempSync(join(tmpdir(), 'dredge-config-'));
  try {
    assert.equal(resolveConfigPath(null, {}, dir), null);
    assert.equal(resolveConfigPath(null, { DREDGE_CONFIG: '/etc/d.yaml' }, dir), '/etc/d.yaml');
    writeFileSync(join(dir, 'dredge.yaml'), 'aggregate: { window: 2m }\n');
    assert.equal(resolveConfigPath(null, {}, dir), 'dredge.yaml');
    assert.equal(resolveConfigPath('x.yaml', { DREDGE_CONFIG: '/etc/d.yaml' }, dir), 'x.yaml');
    const r = loadRunConfig(['--window', '3m', 'in.log'], {}, dir);
    assert.deepEqual(r.argv, ['--window=2m', '--window', '3m', 'in.log']);
    assert.equal(parseRun(r.argv).values.window, '3m');
    assert.equal(r.config.origins.get('window')?.where, `${join(dir, 'dredge.yaml')}:1:14`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lists: the command line replaces the config list; --kinesis and --index drop the other kind', () => {
  const cfg = load('source: { input: [a, b] }\nindex: { snapshot: [s.csv], events: [e.ndjson] }\n');
  const merge = (cli: string[]): Record<string, string[]> => {
    const { values, positionals } = parseRun([...cfg.argv, ...cli]);
    return mergeRunLists(cfg, cli, values as { input?: string[]; snapshot?: string[]; events?: string[] }, positionals);
  };
  assert.deepEqual(merge([]), { input: ['a', 'b'], snapshot: ['s.csv'], events: ['e.ndjson'] });
  assert.deepEqual(merge(['--input', 'c', 'd']), { input: ['c', 'd'], snapshot: ['s.csv'], events: ['e.ndjson'] });
  assert.deepEqual(merge(['--snapshot=t.csv']), { input: ['a', 'b'], snapshot: ['t.csv'], events: ['e.ndjson'] });
  assert.deepEqual(merge(['--kinesis', 'flows']), { input: [], snapshot: ['s.csv'], events: ['e.ndjson'] });
  assert.deepEqual(merge(['--index=x.idx']), { input: ['a', 'b'], snapshot: [], events: [] });
});

test('usage errors about flags the config set name the key that set them', () => {
  const cfg = load('sink: { db: x.duckdb, type: ndjson }\n', { DREDGE_SINK_OUT: 'o' });
  const m = annotateFlags(cfg, '--db is for --sink duckdb; the ndjson sink writes under --out DIR\n\nusage: …');
  assert.equal(
    m,
    '--db is for --sink duckdb; the ndjson sink writes under --out DIR; --db (set by sink.db at f.yaml:1:9); --sink (set by sink.type at f.yaml:1:23); --out (set by DREDGE_SINK_OUT, i.e. sink.out)\n\nusage: …',
  );
  assert.equal(annotateFlags(cfg, '--workers takes a number'), '--workers takes a number');
});

test('secrets are masked when printed', () => {
  assert.equal(maskValue('DRUID_TOKEN', 'abc'), '***');
  assert.equal(maskValue('MY_PASSWORD', 'abc'), '***');
  assert.equal(maskValue('X_SECRET_KEY', 'abc'), '***');
  assert.equal(maskValue('DREDGE_SINK_DRUID_URL', 'https://admin:hunter2@druid:8888/x'), 'https://admin:***@druid:8888/x');
  assert.equal(maskValue('DREDGE_SINK_DB', 'x.duckdb'), 'x.duckdb');
});
