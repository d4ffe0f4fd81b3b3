// `dredge run --generate` as a user runs it (issue #7): the real binary, the default DuckDB store.
// The store holds exactly what `dredge generate` writes for the same seed and count run through
// `dredge run --input` (same rows, totals and NODATA count); SIGKILLs inside and outside flushes with
// restarts end with the same store as an uninterrupted run (the position is the records emitted, and
// a restart goes on with the next one); --rate paces in real time; the flags that do not go together
// are usage errors (exit 2) naming both, also when one of them comes from the config.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';

// The daemon logs plain lines here (on a pipe its default is JSON; test/cli/run.test.ts checks that form).
process.env.DREDGE_OPS_LOG_FORMAT = 'pretty';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
const SEED = '1234';
const RECORDS = 200_000;
let dir = '';
let truth: { flows: number; packets: number; bytes: number; nodata: number };
/** The store `dredge run --input` made of the generated file: what every generated run must equal. */
let reference: Store;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  ms: number;
}

function dredge(args: string[], o: { env?: Record<string, string>; killAfterMs?: number; cwd?: string } = {}): Promise<Exit> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...o.env }, stdio: ['ignore', 'ignore', 'pipe'], ...(o.cwd !== undefined ? { cwd: o.cwd } : {}) });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = o.killAfterMs !== undefined ? setTimeout(() => p.kill('SIGKILL'), o.killAfterMs) : null;
    p.on('exit', (code, signal) => {
      if (t !== null) clearTimeout(t);
      resolve({ code, signal, stderr, ms: performance.now() - t0 });
    });
  });
}

interface Store {
  flows: number;
  packets: number;
  bytes: number;
  late: number;
  /** Distinct keys after summing the delta rows, and a fingerprint of those summed rows. */
  groups: number;
  fingerprint: string;
  checkpoints: { source: string; position: string }[];
}

const DIMS = 'window_start, src_app, dst_app, src_region, dst_region, src_az, dst_az, protocol, dstport, action, src_reason, dst_reason';

/** Runs dredge and sends SIGTERM `delayMs` after its stderr first matches `line`; the exit code and stderr. */
function termWhen(args: string[], line: RegExp, delayMs: number): Promise<{ code: number | null; stderr: string }> {
  const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let sent = false;
  p.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (!sent && line.test(stderr)) {
      sent = true;
      setTimeout(() => p.kill('SIGTERM'), delayMs);
    }
  });
  return new Promise((resolve) => p.on('exit', (code) => resolve({ code, stderr })));
}

async function store(db: string): Promise<Store> {
  const inst = await DuckDBInstance.create(db, { access_mode: 'READ_ONLY' });
  const con = await inst.connect();
  try {
    const one = async (sql: string): Promise<unknown[]> => (await con.runAndReadAll(sql)).getRows()[0] as unknown[];
    const [f, p, b] = await one('SELECT coalesce(sum(flows),0)::BIGINT, coalesce(sum(packets),0)::BIGINT, coalesce(sum(bytes),0)::BIGINT FROM rollups');
    const [late] = await one('SELECT coalesce(sum(late_flows),0)::BIGINT FROM flushes');
    // Flushes split a key's counts over several delta rows: compare the sums per key.
    const [groups, fp] = await one(`SELECT count(*)::BIGINT, coalesce(sum(hash(${DIMS}, f, p, b)),0)::VARCHAR FROM (SELECT ${DIMS}, sum(flows) f, sum(packets) p, sum(bytes) b FROM rollups GROUP BY ALL)`);
    const cps = (await con.runAndReadAll('SELECT source, position FROM checkpoints ORDER BY source')).getRowObjects() as { source: string; position: string }[];
    return { flows: Number(f), packets: Number(p), bytes: Number(b), late: Number(late), groups: Number(groups), fingerprint: String(fp), checkpoints: cps.map((c) => ({ source: c.source, position: c.position })) };
  } finally {
    con.closeSync();
    inst.closeSync();
  }
}

/** `(N records, K without data)` of the run summary. */
function summary(stderr: string): { flows: number; records: number; withoutData: number; seconds: number } {
  const m = /dredge run: (\d+) flows \((\d+) records, (\d+) without data\).*; ([\d.]+) s, /.exec(stderr);
  assert.ok(m !== null, `no summary line in: ${stderr}`);
  return { flows: Number(m[1]), records: Number(m[2]), withoutData: Number(m[3]), seconds: Number(m[4]) };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dredge-run-generator-'));
  const gen = join(dir, 'gen');
  const g = await dredge(['generate', '--out', gen, '--flows', String(RECORDS), '--seed', SEED]);
  assert.equal(g.code, 0, g.stderr);
  truth = JSON.parse(readFileSync(join(gen, 'truth.json'), 'utf8')) as typeof truth;
  const db = join(dir, 'files.duckdb');
  const r = await dredge(['run', '--input', join(gen, 'flows-0001.log'), '--snapshot', join(gen, 'snapshot.csv'), '--events', join(gen, 'events.ndjson'), '--db', db, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(summary(r.stderr).withoutData, truth.nodata);
  reference = await store(db);
  assert.deepStrictEqual({ flows: reference.flows, packets: reference.packets, bytes: reference.bytes, late: reference.late }, { flows: truth.flows, packets: truth.packets, bytes: truth.bytes, late: 0 });
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** What a generated run's store must equal: the reference's rows (sums per key) and totals. */
function assertSameAsReference(s: Store, what: string): void {
  const { checkpoints: _c, ...got } = s;
  const { checkpoints: _r, ...want } = reference;
  assert.deepStrictEqual(got, want, what);
}

test('--generate --records N stores exactly what `dredge generate --flows N` gives through --input, enriched with the generated inventory', async () => {
  const db = join(dir, 'generated.duckdb');
  const r = await dredge(['run', '--generate', '--records', String(RECORDS), '--seed', SEED, '--db', db, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const s = summary(r.stderr);
  assert.deepStrictEqual({ flows: s.flows, records: s.records, withoutData: s.withoutData }, { flows: truth.flows, records: RECORDS, withoutData: truth.nodata });
  assert.match(r.stderr, new RegExp(`generator:${SEED}: ${RECORDS} records this run \\(records 1 to ${RECORDS} of the stream\\); enriched with the generated inventory of seed ${SEED}`));
  const st = await store(db);
  assertSameAsReference(st, 'the generated run against the file run');
  assert.ok(st.groups > 1000);
  assert.deepStrictEqual(st.checkpoints, [{ source: `generator:${SEED}`, position: String(RECORDS) }]);
});

test('SIGKILL inside and outside flushes, then restarts with the same flags: the store equals the uninterrupted run exactly', async () => {
  const db = join(dir, 'crash.duckdb');
  // Paced, so each run spans many 0.1 s flushes and a kill lands mid-stream.
  const args = ['run', '--generate', '--records', String(RECORDS), '--seed', SEED, '--rate', '50000', '--db', db, '--flush-interval', '0.1s', '--workers', '1', '--quiet'];
  const kills: { env?: Record<string, string>; killAfterMs?: number }[] = [
    { env: { DREDGE_CRASH_POINT: 'after-commit:1' } },
    { env: { DREDGE_CRASH_POINT: 'before-commit:2' } },
    { env: { DREDGE_CRASH_POINT: 'mid-append:2' } },
    { killAfterMs: 2500 },
  ];
  let killed = 0;
  let last = 0;
  for (const k of kills) {
    const r = await dredge(args, k);
    if (r.signal === 'SIGKILL') killed++;
    else assert.equal(r.code, 0, r.stderr);
    const s = await store(db);
    const at = Number(s.checkpoints.find((c) => c.source === `generator:${SEED}`)?.position ?? 0);
    // Each crash-point run committed one flush before its kill (the first on a fresh store, the others
    // after resuming): the checkpoint moves on mid-stream. The outside kill may land before any.
    if (k.env !== undefined) assert.ok(at > last && at < RECORDS, `${k.env.DREDGE_CRASH_POINT}: the checkpoint went from ${last} to ${at}`);
    else assert.ok(at >= last, `the checkpoint went back from ${last} to ${at}`);
    last = at;
    assert.ok(s.flows <= truth.flows, `${s.flows} flows stored > ${truth.flows} generated: counted twice`);
  }
  assert.ok(killed >= 3, `only ${killed} of ${kills.length} runs were killed`);
  const final = await dredge(args);
  assert.equal(final.code, 0, final.stderr);
  // It goes on with the record after the durable checkpoint.
  if (last < RECORDS) assert.match(final.stderr, new RegExp(`generator:${SEED}: ${RECORDS - last} records this run \\(records ${last + 1} to ${RECORDS} of the stream; resumed from the checkpoint after record ${last}\\)`));
  assertSameAsReference(await store(db), 'after kills and restarts');
  // A run after completion emits nothing and adds nothing.
  const again = await dredge(args);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /dredge run: 0 flows/);
  assert.match(again.stderr, new RegExp(`all ${RECORDS} records of the stream were checkpointed before`));
  assertSameAsReference(await store(db), 'after a rerun');
  // The same seed with another --records is another stream: refused, not resumed into the wrong records.
  const other = await dredge(['run', '--generate', '--records', '1000', '--seed', SEED, '--db', db, '--quiet']);
  assert.equal(other.code, 1, other.stderr);
  assert.match(other.stderr, new RegExp(`the checkpoint of generator:${SEED} belongs to another generated stream .*give the same --records`));
});

test('--rate paces in real time: 40000 records at 20000/s take at least ~2 s', async () => {
  const r = await dredge(['run', '--generate', '--records', '40000', '--rate', '20000', '--seed', '5', '--db', join(dir, 'rate.duckdb'), '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(summary(r.stderr).records, 40_000);
  // A lower bound only (startup adds to it; a loaded machine more): 40000 / 20000 = 2 s of pacing.
  assert.ok(summary(r.stderr).seconds >= 1.8, `run took ${summary(r.stderr).seconds} s`);
});

test('SIGTERM stops an unbounded generated run: what was emitted is flushed and checkpointed, exit 0', async () => {
  const db = join(dir, 'unbounded.duckdb');
  // Unbounded is a long run: the operations listener is on (a free port here), and its line on stderr
  // says the run is reading (signal handlers in place).
  const { code, stderr } = await termWhen(['run', '--generate', '--rate', '20000', '--seed', '6', '--db', db, '--ops-listen', '127.0.0.1:0'], /metrics and health at/, 1000);
  assert.equal(code, 0, stderr);
  const s = summary(stderr);
  assert.ok(s.records > 0, stderr);
  const st = await store(db);
  assert.deepStrictEqual(st.checkpoints, [{ source: 'generator:6', position: String(s.records) }]);
  assert.equal(st.flows + st.late, s.flows);
});

test('SIGTERM while the run starts (before it reads) is kept and acted on: a clean stop, exit 0, not 143', async () => {
  const db = join(dir, 'early.duckdb');
  // The start line comes before the inventory is built and the store opened: the signal lands in that.
  const { code, stderr } = await termWhen(['run', '--generate', '--rate', '20000', '--seed', '7', '--db', db, '--ops-listen', 'off'], /starting:/, 0);
  assert.equal(code, 0, stderr);
  assert.match(stderr, /SIGTERM: finishing the batches in flight/);
  assert.ok(summary(stderr).records < 20_000, stderr);
});

test('flags that do not go together: exit code 2 and a message naming both', async () => {
  const cases: [string[], RegExp][] = [
    [['run', '--generate', '--input', 'x'], /--generate and --input are two sources: give one of them/],
    [['run', '--generate', 'some/file.log'], /--generate and --input are two sources/],
    [['run', '--generate', '--kinesis', 's'], /--generate and --kinesis are two sources: give one of them/],
    [['run', '--input', 'x', '--snapshot', 'x', '--rate', '5'], /--rate is a generator option; add --generate/],
    [['run', '--input', 'x', '--snapshot', 'x', '--records', '5'], /--records is a generator option; add --generate/],
    [['run', '--kinesis', 's', '--snapshot', 'x', '--seed', '5'], /--seed is a generator option; add --generate/],
    [['run', '--generate', '--follow'], /--follow is for files and folders; --generate runs until --records N or a signal/],
    [['run', '--generate', '--from', 'latest'], /--from is a Kinesis option/],
    [['run', '--generate', '--records', '0'], /--records takes a whole number from 1/],
    [['run', '--generate', '--seed=-1'], /--seed takes a whole number from 0 to 4294967295, got "-1"/],
    [['run', '--generate', '--seed', '4294967296'], /--seed takes a whole number from 0 to 4294967295/],
    [['run', '--generate', '--rate', 'fast'], /--rate takes flows per second, a number > 0, got "fast"/],
    [['run', '--snapshot', 'x.csv'], /or --kinesis STREAM is required \(or --generate: built-in traffic\)/],
  ];
  for (const [args, re] of cases) {
    const r = await dredge(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  // One of the two from the environment: the message says which variable set it.
  const env = await dredge(['run', '--input', 'x'], { env: { DREDGE_SOURCE_GENERATOR_ENABLED: 'true' } });
  assert.equal(env.code, 2, env.stderr);
  assert.match(env.stderr, /--generate and --input are two sources.*--generate \(set by DREDGE_SOURCE_GENERATOR_ENABLED, i\.e\. source\.generator\.enabled\)/);
});

test('from dredge.yaml: source.generator keys run the generator; --generate on the command line replaces the file\'s inputs', async () => {
  const cwd = join(dir, 'config');
  mkdirSync(cwd);
  writeFileSync(join(cwd, 'dredge.yaml'), ['source:', '  input: [not-there/]', 'sink:', '  db: cfg.duckdb', 'ops:', '  quiet: true', ''].join('\n'));
  const r = await dredge(['run', '--generate', '--records', '3000', '--seed', '3'], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /generator:3: 3000 records this run/);
  writeFileSync(join(cwd, 'dredge.yaml'), ['source:', '  generator:', '    enabled: true', '    records: 2000', '    seed: 9', 'sink:', '  db: cfg2.duckdb', 'ops:', '  quiet: true', ''].join('\n'));
  const f = await dredge(['run'], { cwd, env: { DREDGE_SOURCE_GENERATOR_RATE: '100000' } });
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stderr, /generator:9: 2000 records this run/);
  assert.deepStrictEqual((await store(join(cwd, 'cfg2.duckdb'))).checkpoints, [{ source: 'generator:9', position: '2000' }]);
});
