// `dredge run` as a user runs it: a generated world and traffic on disk, the real binary, NDJSON out.
// Totals in the rollup files equal the generator's truth.json; checkpoints make a second run read
// nothing twice; `--rollup none` writes every flow enriched; bad flags get exit code 2 and the fix.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';

// The daemon logs plain lines in these tests, except where a test asks for its default on a pipe (JSON).
process.env.DREDGE_OPS_LOG_FORMAT = 'pretty';

const run = promisify(execFile);
const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
let dir = '';
let truth: { flows: number; packets: number; bytes: number; records: number };

async function dredge(args: string[], cwd?: string, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { maxBuffer: 64 << 20, env, ...(cwd !== undefined ? { cwd } : {}) });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

function ndjsonRows(out: string, prefix: string): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const f of readdirSync(out).filter((n) => n.startsWith(prefix) && n.endsWith('.ndjson')).sort()) {
    for (const line of readFileSync(join(out, f), 'utf8').split('\n')) if (line !== '') rows.push(JSON.parse(line) as Record<string, unknown>);
  }
  return rows;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dredge-run-'));
  const g = await dredge(['generate', '--out', join(dir, 'in'), '--flows', '30000', '--files', '3', '--span', '10m', '--subnets', '300']);
  assert.equal(g.code, 0, g.stderr);
  truth = JSON.parse(readFileSync(join(dir, 'in', 'truth.json'), 'utf8')) as typeof truth;
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('rollup totals equal the generator truth; rows have the documented shape', async () => {
  const out = join(dir, 'out1');
  const r = await dredge(['run', '--input', join(dir, 'in'), '--snapshot', join(dir, 'in', 'snapshot.csv'), '--events', join(dir, 'in', 'events.ndjson'), '--out', out, '--workers', '2']);
  assert.equal(r.code, 0, r.stderr);
  // The input dir also holds snapshot.csv, events.ndjson and truth.json: they are not flow logs and are
  // reported as malformed lines, never fatal; the flow files are read completely.
  const rows = ndjsonRows(out, 'rollups-');
  const sum = { flows: 0, packets: 0, bytes: 0 };
  for (const row of rows) {
    sum.flows += row.flows as number;
    sum.packets += row.packets as number;
    sum.bytes += row.bytes as number;
  }
  assert.deepEqual(sum, { flows: truth.flows, packets: truth.packets, bytes: truth.bytes });
  const first = rows[0] as Record<string, unknown>;
  assert.deepEqual(Object.keys(first), ['window_start', 'src.app', 'dst.app', 'src.region', 'dst.region', 'src.az', 'dst.az', 'protocol', 'dstport', 'action', 'src.reason', 'dst.reason', 'flows', 'packets', 'bytes']);
  assert.match(first.window_start as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:00Z$/);
  assert.ok(rows.some((x) => x['dst.app'] === 'internet'), 'public peers resolve to internet');
  assert.ok(rows.every((x) => typeof x.dstport === 'number' && (x.dstport as number) < 32768), 'ephemeral ports collapse to 0');
  assert.match(r.stderr, new RegExp(`dredge run: ${truth.flows} flows`));
});

test('a second run over the same inputs resumes from checkpoints.json and adds nothing', async () => {
  const flowDir = join(dir, 'in');
  const files = readdirSync(flowDir).filter((n) => n.startsWith('flows-')).map((n) => join(flowDir, n));
  const out = join(dir, 'out2');
  const args = ['run', ...files.flatMap((f) => ['--input', f]), '--snapshot', join(flowDir, 'snapshot.csv'), '--out', out, '--workers', '1'];
  const a = await dredge(args);
  assert.equal(a.code, 0, a.stderr);
  const cp = JSON.parse(readFileSync(join(out, 'checkpoints.json'), 'utf8')) as { positions: { key: string; value: string }[] };
  assert.equal(cp.positions.length, 3);
  const b = await dredge(args);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /dredge run: 0 flows/);
  let flows = 0;
  for (const row of ndjsonRows(out, 'rollups-')) flows += row.flows as number;
  assert.equal(flows, truth.flows);
});

test('--rollup none writes every flow enriched with its sides and reasons', async () => {
  const flowDir = join(dir, 'in');
  const out = join(dir, 'out3');
  const r = await dredge(['run', '--input', join(flowDir, 'flows-0001.log'), '--snapshot', join(flowDir, 'snapshot.csv'), '--out', out, '--rollup', 'none', '--dimensions', 'src.app,dst.app,protocol']);
  assert.equal(r.code, 0, r.stderr);
  const rows = ndjsonRows(out, 'flows-');
  const file = truth as unknown as { files: { name: string; records: number }[] };
  const records = (file.files[0] as { records: number }).records;
  assert.ok(rows.length > 0.98 * records && rows.length <= records);
  const row = rows[0] as Record<string, unknown>;
  for (const k of ['srcaddr', 'dstaddr', 'start', 'src.app', 'src.reason', 'dst.app', 'dst.reason']) assert.ok(k in row, k);
  assert.ok(rows.every((x) => (x['src.app'] === null) === (x['src.reason'] !== null)), 'a side has an owner or a reason, never both');
});

test('lookups that ran in the index JS path are counted and named at the end: none by default, every flow side with DREDGE_WASM=0', async () => {
  const flowDir = join(dir, 'in');
  const base = ['run', '--input', join(flowDir, 'flows-0001.log'), '--snapshot', join(flowDir, 'snapshot.csv')];
  const said = /(\d+) address lookups ran in the index's JS path, 3-7× slower than its WebAssembly: (.*)/;
  const def = await dredge([...base, '--out', join(dir, 'js-default')]);
  assert.equal(def.code, 0, def.stderr);
  assert.doesNotMatch(def.stderr, said);
  for (const mode of [[], ['--rollup', 'none']]) {
    const off = await dredge([...base, '--out', join(dir, `js-off${mode.length}`), ...mode], undefined, { ...process.env, DREDGE_WASM: '0' });
    assert.equal(off.code, 0, off.stderr);
    const m = said.exec(off.stderr);
    assert.ok(m !== null, off.stderr);
    // every record's two address columns, looked up in JS
    const records = Number(/\((\d+) records/.exec(off.stderr)?.[1]);
    assert.ok(records > 0, off.stderr);
    assert.equal(Number(m[1]), 2 * records, off.stderr);
    assert.match(m[2] as string, /DREDGE_WASM=0 is set; unset it/);
  }
});

test('with no sink flags the rollups land in ./dredge.duckdb: exact totals, checkpoints in the same file, a rerun adds nothing', async () => {
  const cwd = join(dir, 'default-sink');
  mkdirSync(cwd);
  const args = ['run', join(dir, 'in', 'flows-0001.log'), join(dir, 'in', 'flows-0002.log'), join(dir, 'in', 'flows-0003.log'), '--snapshot', join(dir, 'in', 'snapshot.csv'), '--events', join(dir, 'in', 'events.ndjson')];
  const r = await dredge(args, cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /output in dredge\.duckdb \(try: dredge query top-talkers\)/);
  const sums = async () => {
    const inst = await DuckDBInstance.create(join(cwd, 'dredge.duckdb'), { access_mode: 'READ_ONLY' });
    const con = await inst.connect();
    try {
      const [f, p, b] = (await con.runAndReadAll('SELECT sum(flows)::DOUBLE, sum(packets)::DOUBLE, sum(bytes)::DOUBLE FROM rollups')).getRows()[0] as number[];
      const cps = (await con.runAndReadAll('SELECT count(*)::INT FROM checkpoints')).getRows()[0]![0];
      return { flows: f, packets: p, bytes: b, checkpoints: cps };
    } finally {
      con.closeSync();
      inst.closeSync();
    }
  };
  const want = { flows: truth.flows, packets: truth.packets, bytes: truth.bytes, checkpoints: 3 };
  assert.deepStrictEqual(await sums(), want);
  const again = await dredge(args, cwd);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /dredge run: 0 flows/);
  assert.deepStrictEqual(await sums(), want);
});

test('bad flags: exit code 2 and a message that names the fix', async () => {
  const cases: [string[], RegExp][] = [
    [['run', '--snapshot', 'x.csv', '--out', 'o'], /--input PATH \(a file, a directory, or - for stdin\) or --kinesis STREAM is required/],
    [['run', '--input', 'x', '--kinesis', 's', '--snapshot', 'x'], /either --kinesis STREAM or --input PATH…, not both/],
    [['run', '--input', 'x', '--snapshot', 'x', '--from', 'latest'], /--from is a Kinesis option; add --kinesis STREAM/],
    [['run', '--kinesis', 's', '--snapshot', 'x', '--from', 'yesterday'], /--from takes trim-horizon, latest or an ISO time/],
    [['run', '--input', 'x', '--out', 'o'], /--snapshot FILE/],
    [['run', '--input', 'x', '--snapshot', 'x', '--out', 'o', '--window', 'soon'], /--window takes a duration/],
    [['run', '--input', 'x', '--snapshot', 'x', '--out', 'o', '--workers', '0'], /--workers takes a whole number/],
    [['run', '--input', 'x', '--snapshot', 'x', '--out', 'o', '--rollup', 'hourly'], /--rollup takes none/],
    [['run', '--input', 'x', '--snapshot', 'x', '--sink', 'kafka', '--out', 'o'], /--sink takes duckdb .*ndjson .*druid .*, got "kafka"/],
    [['run', '--input', 'x', '--snapshot', 'x', '--sink', 'duckdb', '--out', 'o'], /--out is for --sink ndjson; the duckdb sink writes to --db FILE/],
    [['run', '--input', 'x', '--snapshot', 'x', '--sink', 'ndjson'], /--out DIR is required with --sink ndjson/],
    [['run', '--input', 'x', '--snapshot', 'x', '--out', 'o', '--db', 'x.duckdb'], /--db is for --sink duckdb/],
    [['run', '--input', 'x', '--snapshot', 'x', '--rollup', 'none'], /--rollup none writes enriched flows as NDJSON: add --sink ndjson --out DIR/],
  ];
  for (const [args, re] of cases) {
    const r = await dredge(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  const bad = await dredge(['run', '--input', join(dir, 'in', 'flows-0001.log'), '--snapshot', join(dir, 'in', 'snapshot.csv'), '--out', join(dir, 'o4'), '--dimensions', 'src.app,log_status']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /log_status is not a dimension/);
});

test('gzip files, CloudWatch envelope files and gzip on stdin give the same totals as the truth', async () => {
  for (const variant of [['--gzip'], ['--envelope', 'cloudwatch']]) {
    const gen = join(dir, `in-${variant[0]?.slice(2)}`);
    const g = await dredge(['generate', '--out', gen, '--flows', '20000', '--files', '2', '--span', '10m', '--subnets', '300', ...variant]);
    assert.equal(g.code, 0, g.stderr);
    const t = JSON.parse(readFileSync(join(gen, 'truth.json'), 'utf8')) as typeof truth;
    const files = readdirSync(gen).filter((n) => n.startsWith('flows-')).map((n) => join(gen, n));
    const out = join(dir, `out-${variant[0]?.slice(2)}`);
    const r = await dredge(['run', '--snapshot', join(gen, 'snapshot.csv'), '--out', out, ...files]);
    assert.equal(r.code, 0, r.stderr);
    let flows = 0;
    let bytes = 0;
    for (const row of ndjsonRows(out, 'rollups-')) {
      flows += row.flows as number;
      bytes += row.bytes as number;
    }
    assert.deepEqual({ flows, bytes }, { flows: t.flows, bytes: t.bytes }, variant.join(' '));
  }
  // stdin: the first gzip file piped in (`--input -`).
  const gz = join(dir, 'in-gzip');
  const one = readdirSync(gz).filter((n) => n.startsWith('flows-'))[0] as string;
  const out = join(dir, 'out-stdin');
  const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [BIN, 'run', '--input', '-', '--snapshot', join(gz, 'snapshot.csv'), '--out', out], (err, _o, stderr) => resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stderr }));
    (child.stdin as NodeJS.WritableStream).end(readFileSync(join(gz, one)));
  });
  assert.equal(r.code, 0, r.stderr);
  const t = JSON.parse(readFileSync(join(gz, 'truth.json'), 'utf8')) as { files: { name: string; records: number }[] };
  let records = 0;
  for (const row of ndjsonRows(out, 'rollups-')) records += row.flows as number;
  const m = /\((\d+) records/.exec(r.stderr);
  assert.equal(Number(m?.[1]), (t.files[0] as { records: number }).records, 'every record of the piped file was read');
  assert.ok(records > 0.98 * Number(m?.[1]));
});

test('--index: a prebuilt index file (dredge index build) enriches the same as the inventory it was built from', async () => {
  const gen = join(dir, 'in');
  const idx = join(dir, 'index.bin');
  const b = await dredge(['index', 'build', '--snapshot', join(gen, 'snapshot.csv'), '--events', join(gen, 'events.ndjson'), '-o', idx]);
  assert.equal(b.code, 0, b.stderr);
  const file = join(gen, 'flows-0001.log');
  const viaIndex = join(dir, 'out-index');
  const viaInventory = join(dir, 'out-inventory');
  const r1 = await dredge(['run', '--index', idx, '--out', viaIndex, '--dimensions', 'src.app,dst.app', file]);
  const r2 = await dredge(['run', '--snapshot', join(gen, 'snapshot.csv'), '--events', join(gen, 'events.ndjson'), '--out', viaInventory, '--dimensions', 'src.app,dst.app', file]);
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(r2.code, 0, r2.stderr);
  const sums = (out: string): string[] => {
    const m = new Map<string, number>();
    for (const row of ndjsonRows(out, 'rollups-')) {
      const k = JSON.stringify([row.window_start, row['src.app'], row['dst.app'], row['src.reason'], row['dst.reason']]);
      m.set(k, (m.get(k) ?? 0) + (row.bytes as number));
    }
    return [...m].map(([k, v]) => `${k}=${v}`).sort();
  };
  const a = sums(viaIndex);
  assert.ok(a.length > 10);
  assert.deepEqual(a, sums(viaInventory));
  const both = await dredge(['run', '--index', idx, '--snapshot', join(gen, 'snapshot.csv'), '--out', join(dir, 'o5'), file]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /either --index or --snapshot/);
});

test('a custom format whose header line is only at the top of a multi-batch file: every batch decodes with it', async () => {
  const gen = join(dir, 'in-custom');
  const fields = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id tcp-flags region flow-direction traffic-path';
  const g = await dredge(['generate', '--out', gen, '--flows', '50000', '--span', '10m', '--subnets', '300', '--fields', fields]);
  assert.equal(g.code, 0, g.stderr);
  const t = JSON.parse(readFileSync(join(gen, 'truth.json'), 'utf8')) as typeof truth;
  const out = join(dir, 'out-custom');
  const r = await dredge(['run', '--snapshot', join(gen, 'snapshot.csv'), '--out', out, '--dimensions', 'src.app,flow_direction', join(gen, 'flows-0001.log')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`dredge run: ${t.flows} flows \\(50000 records, \\d+ without data\\), 0 malformed`));
  const dirs = new Set(ndjsonRows(out, 'rollups-').map((x) => x.flow_direction));
  assert.deepEqual([...dirs].sort(), ['egress', 'ingress']);
});

test('on a pipe the log is JSON lines: every stderr line parses, with the summary and malformed lines as structured events', async () => {
  const env = { ...process.env };
  delete env.DREDGE_OPS_LOG_FORMAT;
  const out = join(dir, 'out-json');
  const r = await dredge(['run', '--input', join(dir, 'in'), '--snapshot', join(dir, 'in', 'snapshot.csv'), '--out', out], undefined, env);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stderr
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as { level: number; time: string; event: string; msg: string; [k: string]: unknown });
  const summary = events.find((e) => e.event === 'summary');
  assert.ok(summary !== undefined, r.stderr);
  assert.equal(summary.flows, truth.flows);
  assert.equal(summary.records, truth.records);
  assert.equal(summary.level, 30);
  assert.match(summary.time, /^\d{4}-\d\d-\d\dT/);
  assert.match(summary.msg, new RegExp(`^${truth.flows} flows`));
  // snapshot.csv, events.ndjson and truth.json in the input folder are malformed lines: warnings naming file and line.
  const bad = events.filter((e) => e.event === 'malformed');
  assert.ok(bad.length > 0);
  assert.ok(bad.every((e) => e.level === 40 && typeof e.source === 'string' && typeof e.reason === 'string'));
  assert.ok(bad.some((e) => (e.source as string).endsWith('snapshot.csv') && e.line === 1));
  // --log-format pretty and --log-level are flags too; a bad value names the fix.
  const quiet = await dredge(['run', '--input', join(dir, 'in'), '--snapshot', join(dir, 'in', 'snapshot.csv'), '--out', join(dir, 'out-json2'), '--log-level', 'error'], undefined, env);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stderr, '');
  const badFormat = await dredge(['run', '--input', join(dir, 'in'), '--snapshot', join(dir, 'in', 'snapshot.csv'), '--out', join(dir, 'out-json3'), '--log-format', 'xml'], undefined, env);
  assert.notEqual(badFormat.code, 0);
  assert.match(badFormat.stderr, /--log-format: "xml".*json.*pretty/);
  // The error that ends a run is a JSON line too (level fatal, its code), not a plain line among JSON.
  const missing = join(dir, 'no-such-snapshot.csv');
  const failed = await dredge(['run', '--input', join(dir, 'in'), '--snapshot', missing, '--out', join(dir, 'out-json4')], undefined, env);
  assert.equal(failed.code, 1, failed.stderr);
  const lines = failed.stderr.trimEnd().split('\n').map((line) => JSON.parse(line) as { level: number; event: string; code?: string; msg: string });
  const fatal = lines[lines.length - 1] as (typeof lines)[number];
  assert.deepStrictEqual({ level: fatal.level, event: fatal.event, code: fatal.code }, { level: 60, event: 'fatal', code: 'DREDGE_ERR_INPUT' });
  assert.ok(fatal.msg.includes(missing), fatal.msg);
  // With the log silenced the error still reaches the user, as the command's plain line.
  const silent = await dredge(['run', '--input', join(dir, 'in'), '--snapshot', missing, '--out', join(dir, 'out-json5'), '--log-level', 'silent'], undefined, env);
  assert.equal(silent.code, 1, silent.stderr);
  assert.ok(silent.stderr.startsWith('dredge run: ') && silent.stderr.includes(missing), silent.stderr);
  // A bad value found before the run starts is one plain line too (nothing was logged yet).
  const early = await dredge(['run', '--input', join(dir, 'in'), '--snapshot', join(dir, 'in', 'snapshot.csv'), '--out', join(dir, 'out-json6'), '--fields', 'version bogus-field'], undefined, env);
  assert.notEqual(early.code, 0);
  assert.match(early.stderr, /^dredge run: .*bogus-field/);
  assert.doesNotMatch(early.stderr, /"level"/);
});

test('on a terminal-style (pretty) log the error that ends a run is one plain line', async () => {
  const missing = join(dir, 'no-such-snapshot.csv');
  const failed = await dredge(['run', '--input', join(dir, 'in'), '--snapshot', missing, '--out', join(dir, 'out-pretty-fail')]);
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, new RegExp(`^dredge run: .*${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
  assert.doesNotMatch(failed.stderr, /"level"/);
});
