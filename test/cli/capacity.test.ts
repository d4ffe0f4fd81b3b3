// `dredge capacity` as a user runs it (the built binary): the arithmetic on fixed inputs (a saved
// measurement re-planned with --measured gives exact cores, instances, shards and memory), a real
// measurement whose numbers agree with each other, --input on generated files (text and gzip
// CloudWatch) measuring exactly those records, and bad flags as usage errors (exit 2) naming the fix.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
let dir = '';

async function dredge(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [BIN, ...args], { maxBuffer: 16 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

interface Rates {
  decode: number;
  decode_lookups: number;
  engine: number;
  engine_per_core: number;
}
interface Ns {
  decode: number;
  decode_lookups: number;
  engine_per_core: number;
  engine_wall: number;
}
interface Out {
  measured: {
    machine: { cores: number; cpu_model: string; node: string; memory_bytes: number };
    input: { source: string; records: number; encoding: string; bytes: number; malformed: number; groups_per_flow: Record<string, number> };
    workers: number;
    ns_per_flow: Record<string, Ns>;
    flows_per_s: Record<string, Rates>;
    bytes_per_flow: { text: number; text_gzip: number; cloudwatch_json: number; cloudwatch_gzip: number };
    events_per_envelope: number;
    rss_bytes: number;
    index_bytes: number;
    input_bytes_held: number;
    seconds: number;
  };
  target: { flows_per_s: number; encoding: string; per_core_flows_per_s: number; kinesis_bytes_per_s: number; kinesis_records_per_s: number };
  cores: number;
  instances: number;
  shards: number;
  memory_bytes: number;
  memory_bytes_all_instances: number;
  assumptions: string[];
}

/** A measurement with round numbers, as `--json` writes it. */
function fixed(): Out['measured'] {
  return {
    machine: { cores: 8, cpu_model: 'Test CPU', node: 'v20.0.0', memory_bytes: 16e9 },
    input: { source: 'fixed', records: 100_000, encoding: 'generated', bytes: 11_500_000, malformed: 0, groups_per_flow: { text: 0.1, cloudwatch: 0.1 } },
    workers: 4,
    ns_per_flow: {
      text: { decode: 250, decode_lookups: 400, engine_per_core: 1000, engine_wall: 250 },
      cloudwatch: { decode: 1000, decode_lookups: 1200, engine_per_core: 2000, engine_wall: 500 },
    },
    flows_per_s: {
      text: { decode: 4e6, decode_lookups: 2.5e6, engine: 4e6, engine_per_core: 1e6 },
      cloudwatch: { decode: 1e6, decode_lookups: 833_333, engine: 2e6, engine_per_core: 5e5 },
    },
    bytes_per_flow: { text: 115, text_gzip: 26, cloudwatch_json: 220, cloudwatch_gzip: 40 },
    events_per_envelope: 500,
    rss_bytes: 400e6,
    index_bytes: 5e6,
    input_bytes_held: 20e6,
    seconds: 10,
  };
}

/** The plan recomputed from the measured fields (the arithmetic the command documents). */
function recompute(o: Out): { cores: number; instances: number; shards: number; memory: number } {
  const m = o.measured;
  const perCore = (m.flows_per_s[o.target.encoding] as Rates).engine / m.workers;
  const cores = Math.ceil(o.target.flows_per_s / perCore - 1e-9);
  const shards = Math.ceil(Math.max((o.target.flows_per_s * m.bytes_per_flow.cloudwatch_gzip) / 1e6, o.target.flows_per_s / m.events_per_envelope / 1000) - 1e-9);
  return { cores, instances: Math.ceil(cores / m.machine.cores), shards, memory: m.rss_bytes + m.index_bytes };
}

function positiveFinite(x: unknown, what: string): void {
  assert.equal(typeof x, 'number', `${what} is a number`);
  assert.ok(Number.isFinite(x) && (x as number) > 0, `${what} = ${String(x)} is positive and finite`);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'dredge-capacity-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('the arithmetic on fixed inputs: cores, instances, shards, memory', async () => {
  const f = join(dir, 'fixed.json');
  writeFileSync(f, JSON.stringify({ measured: fixed() }));
  // cloudwatch (the default plan): 2M flows/s ÷ 4 workers = 500k per core (÷ workers, not the machine's 8
  // cores); 7M → 14 cores → 2 instances of 8 cores; 7M × 40 B = 280 MB/s → 280 shards (records: 7M ÷ 500 = 14k/s → 14 shards).
  const r = await dredge(['capacity', '--measured', f, '--rate', '7M', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as Out;
  assert.equal(o.target.encoding, 'cloudwatch');
  assert.equal(o.target.flows_per_s, 7e6);
  assert.equal(o.target.per_core_flows_per_s, 500_000);
  assert.equal(o.cores, 14);
  assert.equal(o.instances, 2);
  assert.equal(o.shards, 280);
  assert.equal(o.target.kinesis_bytes_per_s, 280e6);
  assert.equal(o.target.kinesis_records_per_s, 14_000);
  assert.equal(o.memory_bytes, 405e6);
  assert.equal(o.memory_bytes_all_instances, 2 * 405e6);
  assert.deepEqual(o.measured, fixed(), 'the measurement is passed through unchanged');
  assert.ok(o.assumptions.some((a) => a.includes('ceil(7,000,000 ÷ 500,000) = ceil(14) = 14')), o.assumptions.join('\n'));
  assert.ok(o.assumptions.some((a) => a.includes('÷ 4 = 500.0k flows/s per core')), 'per-core = engine ÷ workers is said');

  // text: 4M ÷ 4 = 1M per core → 7 cores, 1 instance; shards do not depend on the engine's encoding.
  const t = JSON.parse((await dredge(['capacity', '--measured', f, '--rate', '7_000_000', '--encoding', 'text', '--json'])).stdout) as Out;
  assert.deepEqual([t.cores, t.instances, t.shards], [7, 1, 280]);

  // Just over a whole number of cores rounds up; the records limit wins when envelopes are small.
  const m = fixed();
  m.events_per_envelope = 10; // 1,000,001 ÷ 10 = 100,000.1 records/s → 101 shards (bytes: 40.0 → 41)
  writeFileSync(f, JSON.stringify({ measured: m }));
  const u = JSON.parse((await dredge(['capacity', '--measured', f, '--rate', '1000001', '--json'])).stdout) as Out;
  assert.deepEqual([u.cores, u.instances, u.shards], [3, 1, 101]);

  // The human summary shows the same plan with its arithmetic.
  const h = await dredge(['capacity', '--measured', f, '--rate', '7e6']);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /measured now on this machine \(Test CPU, 8 cores/);
  assert.match(h.stdout, /noisy: a shared box varies up to 2×/);
  assert.match(h.stdout, /cores\s+14\s+= ceil\(7,000,000 ÷ 500,000 flows\/s per core\)/);
  assert.match(h.stdout, /instances\s+2\s+= ceil\(14 ÷ 8 cores/);
  assert.match(h.stdout, /shards\s+700\s+= ceil\(max\(280,000,000 B\/s ÷ 1,000,000, 700,000 records\/s ÷ 1,000\)\)/);
  assert.match(h.stdout, /assumptions:\n {2}- /);
});

test('a real measurement: every number positive and finite, and consistent with the others', async () => {
  const r = await dredge(['capacity', '--seconds', '2', '--rate', '1000000', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as Out;
  const m = o.measured;
  assert.equal(m.machine.cores, availableParallelism());
  assert.equal(m.machine.node, process.version);
  assert.ok(m.machine.cpu_model.length > 0);
  assert.equal(m.workers, availableParallelism(), '--workers defaults to the cores');
  assert.match(m.input.source, /^generator/);
  assert.ok(m.input.records >= 10_000, `${m.input.records} records`);
  assert.equal(m.input.malformed, 0);
  for (const enc of ['text', 'cloudwatch']) {
    const ns = m.ns_per_flow[enc] as Ns;
    const fs = m.flows_per_s[enc] as Rates;
    for (const [k, v] of Object.entries(ns)) positiveFinite(v, `ns_per_flow.${enc}.${k}`);
    for (const [k, v] of Object.entries(fs)) positiveFinite(v, `flows_per_s.${enc}.${k}`);
    // Each stage's ns/flow and flows/s describe the same timing.
    assert.ok(Math.abs(ns.decode * fs.decode - 1e9) < 1e3, `${enc} decode: ${ns.decode} ns × ${fs.decode}/s`);
    assert.ok(Math.abs(ns.decode_lookups * fs.decode_lookups - 1e9) < 1e3);
    assert.ok(Math.abs(ns.engine_wall * fs.engine - 1e9) < 1e3);
    assert.ok(Math.abs(ns.engine_per_core - ns.engine_wall * m.workers) < 1e-6);
    assert.ok(Math.abs(fs.engine_per_core * m.workers - fs.engine) < 1e-3);
    positiveFinite(m.input.groups_per_flow[enc], `groups_per_flow.${enc}`);
  }
  // The same records: one pass gives the same rollup groups whichever encoding carried them.
  assert.ok(Math.abs((m.input.groups_per_flow.text as number) - (m.input.groups_per_flow.cloudwatch as number)) < 1e-9);
  const b = m.bytes_per_flow;
  for (const [k, v] of Object.entries(b)) positiveFinite(v, `bytes_per_flow.${k}`);
  assert.ok(b.text_gzip < b.text && b.text < b.cloudwatch_json && b.cloudwatch_gzip < b.cloudwatch_json, JSON.stringify(b));
  assert.ok(b.text > 80 && b.text < 160, `v2 lines are ~115 B, got ${b.text}`);
  assert.equal(m.events_per_envelope, 500);
  positiveFinite(m.rss_bytes, 'rss_bytes');
  positiveFinite(m.index_bytes, 'index_bytes');
  assert.ok(m.rss_bytes > m.index_bytes + m.input_bytes_held, 'the peak RSS holds the index and the sample');
  assert.ok(m.input_bytes_held >= m.input.records * (b.text + b.cloudwatch_gzip) * 0.99);

  assert.equal(o.target.flows_per_s, 1e6);
  assert.equal(o.target.encoding, 'cloudwatch');
  const want = recompute(o);
  assert.equal(o.cores, want.cores);
  assert.equal(o.instances, want.instances);
  assert.equal(o.shards, want.shards);
  assert.equal(o.memory_bytes, want.memory);
  assert.ok(o.assumptions.length >= 6 && o.assumptions.every((a) => typeof a === 'string' && a.length > 20));

  // Re-planned at twice the rate (same measurement): cores and shards double, within rounding.
  const saved = join(dir, 'measured.json');
  writeFileSync(saved, r.stdout);
  const d = await dredge(['capacity', '--measured', saved, '--rate', '2000000', '--json']);
  assert.equal(d.code, 0, d.stderr);
  const o2 = JSON.parse(d.stdout) as Out;
  assert.ok(Math.abs(o2.cores - 2 * o.cores) <= 1, `${o.cores} → ${o2.cores} cores`);
  assert.ok(Math.abs(o2.shards - 2 * o.shards) <= 1, `${o.shards} → ${o2.shards} shards`);
  assert.deepEqual(o2.measured, o.measured);
});

test('--input measures that file: text and gzip CloudWatch envelopes, records as generated', async () => {
  const g = await dredge(['generate', '--out', join(dir, 'text'), '--flows', '20000', '--span', '10m']);
  assert.equal(g.code, 0, g.stderr);
  const truth = JSON.parse(readFileSync(join(dir, 'text', 'truth.json'), 'utf8')) as { records: number; files: { name: string; bytes: number }[] };
  const file = join(dir, 'text', 'flows-0001.log');
  const r = await dredge(['capacity', '--input', file, '--seconds', '1', '--encoding', 'text', '--workers', '1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as Out;
  assert.equal(o.measured.input.records, truth.records);
  assert.equal(o.measured.input.source, `file ${file}`);
  assert.equal(o.measured.input.encoding, 'text');
  assert.equal(o.measured.input.bytes, (truth.files[0] as { bytes: number }).bytes);
  assert.equal(o.measured.bytes_per_flow.text, (truth.files[0] as { bytes: number }).bytes / truth.records);
  assert.equal(o.measured.workers, 1);
  assert.equal(o.target.encoding, 'text', '--encoding text measures and plans on text only');
  assert.equal(o.measured.flows_per_s.cloudwatch, undefined);
  assert.equal(o.cores, recompute(o).cores);

  const c = await dredge(['generate', '--out', join(dir, 'cw'), '--flows', '20000', '--span', '10m', '--envelope', 'cloudwatch']);
  assert.equal(c.code, 0, c.stderr);
  const cwFile = join(dir, 'cw', 'flows-0001.json.gz');
  const rc = await dredge(['capacity', '--input', cwFile, '--seconds', '1', '--encoding', 'cloudwatch', '--json']);
  assert.equal(rc.code, 0, rc.stderr);
  const oc = JSON.parse(rc.stdout) as Out;
  assert.equal(oc.measured.input.records, 20_000);
  assert.equal(oc.measured.input.encoding, 'gzip cloudwatch');
  assert.equal(oc.measured.events_per_envelope, 500, 'the file\'s own envelope packing');
  // The rebuilt envelopes carry the same events: their size is within a few % of the file's.
  const fileBpf = (readFileSync(cwFile).length) / 20_000;
  assert.ok(Math.abs(oc.measured.bytes_per_flow.cloudwatch_gzip - fileBpf) / fileBpf < 0.05, `${oc.measured.bytes_per_flow.cloudwatch_gzip} vs ${fileBpf} B/flow`);
});

test('bad flags exit 2 naming the fix; an unreadable input exits 1', async () => {
  const cases: [string[], RegExp][] = [
    [['--rate', 'fast'], /--rate takes flows per second/],
    [['--rate', '0'], /--rate takes flows per second/],
    [['--encoding', 'xml'], /--encoding takes text .* or cloudwatch/],
    [['--workers', '0'], /--workers takes a whole number from 1 to 256/],
    [['--seconds', '0'], /--seconds takes the measurement budget/],
    [['--dimensions', 'src.app,nonsense'], /nonsense/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['extra'], /unexpected argument "extra"/],
    [['--fields', 'version srcaddr'], /--fields describes the format of --input/],
    [['--measured', 'x.json', '--input', 'y.log'], /--input describes a measurement; --measured FILE plans/],
  ];
  for (const [args, re] of cases) {
    const r = await dredge(['capacity', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stdout, '');
  }
  const missing = await dredge(['capacity', '--input', join(dir, 'nope.log'), '--seconds', '1']);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /cannot read --input .*nope\.log/);
  writeFileSync(join(dir, 'bad.json'), '{"not": "a measurement"}');
  const bad = await dredge(['capacity', '--measured', join(dir, 'bad.json')]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /has no "measured" object/);
});
