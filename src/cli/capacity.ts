// `dredge capacity`: capacity planning from measurement (issue #7; DESIGN.md §7, §9). Measures on
// this machine, now, what each stage costs per flow on a sample (the generator's traffic or the
// user's file), then answers: to enrich --rate flows/s you need X cores, Y instances of this size,
// Z Kinesis shards and this much memory, with the measured inputs beside the projection and the
// arithmetic spelled out. `--json` prints one object (DESIGN.md §9's shape); `--measured FILE`
// re-plans a saved `--json` output for another rate without measuring again.

import { availableParallelism, cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { DEFAULT_DIMENSIONS, planKey } from '../aggregate/dimensions.js';
import { type Sample, type SampleIndex, fileSample, generatedSample, generatorIndex, generatorSpan, userIndex } from '../capacity/input.js';
import { RssSampler, bytesPerFlow, measureEncoding } from '../capacity/measure.js';
import { type CapacityEncoding, type CapacityPlan, ENCODINGS, type Measured, defaultPlanEncoding, mb, num, plan, si } from '../capacity/plan.js';
import { DredgeError } from '../errors.js';
import { FlowFormat } from '../parse/fields.js';
import { CliUsageError, parseCli } from './args.js';

const HELP = `usage: dredge capacity [--rate FLOWS/S] [--input FILE] [--encoding text|cloudwatch] [--workers N]
                       [--seconds S] [--dimensions "…"] [--fields "…"] [--snapshot FILE --events FILE | --index FILE]
                       [--json]
       dredge capacity --measured FILE [--rate FLOWS/S] [--encoding text|cloudwatch] [--json]

Measures this machine now: the cost per flow of decoding, of decoding plus the two index lookups (one
thread), and of the whole engine through the worker pool, for v2 text and for gzip CloudWatch
envelopes (inflate included), and the bytes per flow of each encoding. Then plans --rate: cores,
instances of this machine's size, Kinesis shards (1 MB/s and 1,000 records/s write limits, measured
record sizes) and memory, showing the arithmetic. A shared machine varies up to 2×: run it twice.

  --rate FLOWS/S        target flow-log records per second (default 1,000,000; 7e6, 7M, 7_000_000 alike)
  --input FILE          measure on this flow-log file (plain, gzip, CloudWatch envelopes; its encoding is
                        sniffed) instead of generated traffic; the other encoding is built from its records
  --encoding E          measure only text or only cloudwatch and plan on it (default: both measured,
                        the plan on cloudwatch: what a subscription writes to Kinesis)
  --workers N           worker threads of the engine run (default: the number of cores, ${availableParallelism()} here)
  --seconds S           measurement budget, roughly (default 10); generated samples are sized to fit it
  --dimensions "…"      group-by dimensions of the engine run (default ${DEFAULT_DIMENSIONS})
  --fields "NAMES"      fixed flow-log format of --input (default: its header line, else v2)
  --snapshot FILE, --events FILE, --index FILE
                        the inventory the lookups run against (default: the generator's)
  --measured FILE       plan from a saved --json output instead of measuring (another --rate, another encoding)
  --json                one JSON object on stdout: measured, target, cores, instances, shards, memory_bytes,
                        assumptions`;

const DEFAULT_RATE = 1_000_000;
const DEFAULT_SECONDS = 10;

/** `7000000`, `7_000_000`, `7,000,000`, `7e6`, `7M`, `250k`. */
export function parseRate(v: string): number {
  const s = v.trim().replace(/[_,]/g, '');
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)([kKmMgG]?)$/.exec(s);
  const mult = m === null ? NaN : ({ '': 1, k: 1e3, m: 1e6, g: 1e9 } as Record<string, number>)[(m[2] as string).toLowerCase()] as number;
  const r = m === null ? NaN : Number(m[1]) * mult;
  if (!Number.isFinite(r) || r <= 0 || r > 1e12) throw new CliUsageError(`--rate takes flows per second, a number > 0 such as 7000000, 7e6 or 7M, got "${v}"`);
  return r;
}

function machine(): Measured['machine'] {
  return { cores: availableParallelism(), cpu_model: (cpus()[0]?.model ?? 'unknown').trim(), node: process.version, memory_bytes: totalmem() };
}

interface MeasureOptions {
  input: string | undefined;
  fields: string | undefined;
  encodings: readonly CapacityEncoding[];
  workers: number;
  seconds: number;
  dimensions: string;
  index: { index?: string | undefined; snapshot: string[]; events: string[] } | null;
  log: (line: string) => void;
}

/** Everything `measured` holds, measured now. */
export async function measure(o: MeasureOptions): Promise<Measured> {
  const t0 = performance.now();
  const budgetMs = o.seconds * 1000;
  let sample: Sample;
  let index: SampleIndex;
  if (o.input !== undefined) {
    sample = fileSample(o.input, o.fields);
    index = o.index !== null ? userIndex(o.index) : generatorIndex(60);
  } else {
    // About a third of the budget prepares the sample (generation and gzip cost more than measuring it).
    sample = generatedSample(Math.max(0.3, (budgetMs * 0.3) / 1000));
    index = o.index !== null ? userIndex(o.index) : generatorIndex(generatorSpan(sample.records));
  }
  o.log(`sample: ${sample.source}, ${num(sample.records)} records; measuring ${o.encodings.join(' and ')} with ${o.workers} worker${o.workers === 1 ? '' : 's'}…`);
  const bytes = bytesPerFlow(sample);
  const left = Math.max(500, budgetMs - (performance.now() - t0));
  // Per encoding: two single-thread stages of 8% each and the engine's 30% of what is left.
  const share = left / o.encodings.length;
  const rss = new RssSampler();
  const m: Measured = {
    machine: machine(),
    input: {
      source: sample.source,
      records: sample.records,
      encoding: sample.encoding,
      bytes: sample.bytes,
      malformed: 0,
      fields: sample.fields ?? FlowFormat.V2_DEFAULT.names.join(' '),
      dimensions: o.dimensions,
      index: index.what,
      groups_per_flow: {},
    },
    workers: o.workers,
    ns_per_flow: {},
    flows_per_s: {},
    bytes_per_flow: bytes,
    events_per_envelope: sample.eventsPerEnvelope,
    rss_bytes: 0,
    index_bytes: index.view.byteLength,
    input_bytes_held: 0,
    seconds: 0,
  };
  for (const enc of o.encodings) {
    const r = await measureEncoding(sample, enc, { view: index.view, workers: o.workers, dimensions: o.dimensions, stageMs: share * 0.12, engineMs: share * 0.5, rss });
    if (r.records === 0) throw new DredgeError('DREDGE_ERR_INPUT', `${o.input ?? 'the sample'}: no flow-log record decoded as ${enc} (${r.malformed} malformed lines); give --fields when the format has no header line`);
    m.ns_per_flow[enc] = r.ns;
    m.flows_per_s[enc] = r.rates;
    m.input.groups_per_flow[enc] = r.groupsPerFlow;
    m.input.malformed = Math.max(m.input.malformed, r.malformed);
    if (enc === 'text') m.input.records = r.records;
    o.log(`  ${enc}: decode ${r.ns.decode.toFixed(0)} ns/flow, + lookups ${r.ns.decode_lookups.toFixed(0)}, engine ${si(r.rates.engine)} flows/s`);
  }
  m.rss_bytes = rss.peak;
  m.input_bytes_held = sample.text.length + sample.envelopes.reduce((a, e) => a + e.length, 0);
  m.seconds = (performance.now() - t0) / 1000;
  return m;
}

/** The human summary: measured inputs, then the plan with its arithmetic. */
export function render(p: CapacityPlan): string {
  const m = p.measured;
  const encs = ENCODINGS.filter((e) => m.flows_per_s[e] !== undefined);
  const label: Record<CapacityEncoding, string> = { text: 'v2 text', cloudwatch: 'gzip CloudWatch' };
  const out: string[] = [];
  out.push(`dredge capacity: measured now on this machine (${m.machine.cpu_model}, ${m.machine.cores} cores, ${mb(m.machine.memory_bytes)}, node ${m.machine.node}); noisy: a shared box varies up to 2×`);
  out.push(`sample: ${m.input.source}, ${num(m.input.records)} records (${m.input.encoding}${m.input.malformed > 0 ? `, ${num(m.input.malformed)} malformed` : ''}); dimensions ${m.input.dimensions}`);
  out.push(`index: ${m.input.index}, ${mb(m.index_bytes)}`);
  out.push('');
  const w = 46;
  const col = 18;
  const row = (name: string, cells: string[]): string => name.padEnd(w) + cells.map((c) => c.padStart(col)).join('');
  out.push(row('measured', encs.map((e) => label[e])));
  out.push(row('  decode only, 1 thread            ns/flow', encs.map((e) => num(m.ns_per_flow[e]?.decode ?? NaN))));
  out.push(row('  decode + 2 lookups, 1 thread     ns/flow', encs.map((e) => num(m.ns_per_flow[e]?.decode_lookups ?? NaN))));
  out.push(row(`  whole engine, per core           ns/flow`, encs.map((e) => num(m.ns_per_flow[e]?.engine_per_core ?? NaN))));
  out.push(row('  decode only, 1 thread            flows/s', encs.map((e) => si(m.flows_per_s[e]?.decode ?? NaN))));
  out.push(row('  decode + 2 lookups, 1 thread     flows/s', encs.map((e) => si(m.flows_per_s[e]?.decode_lookups ?? NaN))));
  out.push(row(`  whole engine, ${m.workers} worker${m.workers === 1 ? ' ' : 's'}          flows/s`, encs.map((e) => si(m.flows_per_s[e]?.engine ?? NaN))));
  out.push(row(`  per core (÷ ${m.workers})                    flows/s`, encs.map((e) => si(m.flows_per_s[e]?.engine_per_core ?? NaN))));
  const b = m.bytes_per_flow;
  out.push(`bytes per flow: text ${b.text.toFixed(1)}, gzip text ${b.text_gzip.toFixed(1)}, CloudWatch JSON ${b.cloudwatch_json.toFixed(1)}, CloudWatch gzipped ${b.cloudwatch_gzip.toFixed(1)} (${num(m.events_per_envelope)} events per envelope)`);
  out.push(`memory: peak RSS while the engine ran ${mb(m.rss_bytes)} (of which this sample ${mb(m.input_bytes_held)}); index generation ${mb(m.index_bytes)}`);
  out.push('');
  const t = p.target;
  out.push(`plan for ${num(t.flows_per_s)} flows/s (${label[t.encoding]}):`);
  const k = 12;
  out.push(`  ${'cores'.padEnd(k)}${String(p.cores).padStart(6)}   = ceil(${num(t.flows_per_s)} ÷ ${num(t.per_core_flows_per_s)} flows/s per core)`);
  out.push(`  ${'instances'.padEnd(k)}${String(p.instances).padStart(6)}   = ceil(${p.cores} ÷ ${m.machine.cores} cores of this machine)`);
  out.push(`  ${'shards'.padEnd(k)}${String(p.shards).padStart(6)}   = ceil(max(${num(t.kinesis_bytes_per_s)} B/s ÷ 1,000,000, ${num(t.kinesis_records_per_s, 1)} records/s ÷ 1,000))`);
  out.push(`  ${'memory'.padEnd(k)}${mb(p.memory_bytes).padStart(9)} per instance = ${mb(m.rss_bytes)} peak RSS + ${mb(m.index_bytes)} index generation (${mb(p.memory_bytes_all_instances)} in all)`);
  out.push('assumptions:');
  for (const a of p.assumptions) out.push(`  - ${a}`);
  return out.join('\n') + '\n';
}

function wholeNumber(flag: string, v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v.trim());
  if (!Number.isInteger(n) || n < min || n > max) throw new CliUsageError(`${flag} takes a whole number from ${min} to ${max}, got "${v}"`);
  return n;
}

/** A saved `--json` output, checked enough that the arithmetic can run on it. */
function readMeasured(path: string): Measured {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DredgeError('DREDGE_ERR_INPUT', `cannot read --measured ${path}: ${(e as Error).message}`);
  }
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new DredgeError('DREDGE_ERR_INPUT', `--measured ${path} is not JSON (${(e as Error).message}); give a file written by \`dredge capacity --json\``);
  }
  const m = (o as { measured?: Measured } | null)?.measured;
  const ok = m !== undefined && typeof m === 'object' && m !== null && typeof m.workers === 'number' && typeof m.machine?.cores === 'number' && typeof m.bytes_per_flow?.cloudwatch_gzip === 'number' && typeof m.events_per_envelope === 'number' && typeof m.flows_per_s === 'object' && ENCODINGS.some((e) => typeof m.flows_per_s[e]?.engine === 'number');
  if (!ok) throw new DredgeError('DREDGE_ERR_INPUT', `--measured ${path} has no "measured" object of \`dredge capacity --json\` (workers, machine.cores, flows_per_s, bytes_per_flow, events_per_envelope)`);
  return m;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, {
    rate: { type: 'string' },
    input: { type: 'string' },
    encoding: { type: 'string' },
    workers: { type: 'string' },
    seconds: { type: 'string' },
    dimensions: { type: 'string' },
    fields: { type: 'string' },
    snapshot: { type: 'string', multiple: true },
    events: { type: 'string', multiple: true },
    index: { type: 'string' },
    measured: { type: 'string' },
    json: { type: 'boolean' },
  }, HELP);
  if (values.help === true) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"; flags only (a sample file is --input FILE)\n\n${HELP}`);
  const rate = values.rate === undefined ? DEFAULT_RATE : parseRate(values.rate);
  let encoding: CapacityEncoding | undefined;
  if (values.encoding !== undefined) {
    if (values.encoding !== 'text' && values.encoding !== 'cloudwatch') throw new CliUsageError(`--encoding takes text (v2 lines) or cloudwatch (gzip CloudWatch Logs envelopes), got "${values.encoding}"; leave it out to measure both`);
    encoding = values.encoding;
  }
  let measured: Measured;
  if (values.measured !== undefined) {
    for (const f of ['input', 'workers', 'seconds', 'dimensions', 'fields', 'snapshot', 'events', 'index'] as const) {
      if (values[f] !== undefined) throw new CliUsageError(`--${f} describes a measurement; --measured FILE plans from one already made (leave out --measured to measure again)`);
    }
    measured = readMeasured(values.measured);
    if (encoding !== undefined && measured.flows_per_s[encoding] === undefined) throw new CliUsageError(`--measured ${values.measured} has no ${encoding} measurement; measure it with \`dredge capacity --encoding ${encoding}\``);
  } else {
    const workers = wholeNumber('--workers', values.workers, availableParallelism(), 1, 256);
    let seconds = DEFAULT_SECONDS;
    if (values.seconds !== undefined) {
      seconds = Number(values.seconds.trim().replace(/s$/, ''));
      if (!Number.isFinite(seconds) || seconds < 1 || seconds > 3600) throw new CliUsageError(`--seconds takes the measurement budget in seconds, 1 to 3600, got "${values.seconds}"`);
    }
    const dimensions = values.dimensions ?? DEFAULT_DIMENSIONS;
    try {
      planKey(dimensions);
      if (values.fields !== undefined) FlowFormat.parse(values.fields);
    } catch (e) {
      if (e instanceof DredgeError) throw new CliUsageError(e.message);
      throw e;
    }
    if (values.fields !== undefined && values.input === undefined) throw new CliUsageError('--fields describes the format of --input FILE; the generated sample is v2');
    if (values.index !== undefined && (values.snapshot !== undefined || values.events !== undefined)) throw new CliUsageError('give either --index or --snapshot/--events, not both');
    if (values.events !== undefined && values.snapshot === undefined) throw new CliUsageError('--events needs the inventory it changes: add --snapshot FILE');
    if (values.input === '') throw new CliUsageError('--input takes a flow-log file');
    const custom = values.index !== undefined || values.snapshot !== undefined;
    measured = await measure({
      input: values.input,
      fields: values.fields,
      encodings: encoding !== undefined ? [encoding] : ENCODINGS,
      workers,
      seconds,
      dimensions,
      index: custom ? { index: values.index, snapshot: values.snapshot ?? [], events: values.events ?? [] } : null,
      log: (line) => process.stderr.write(line + '\n'),
    });
  }
  const p = plan(measured, rate, encoding ?? defaultPlanEncoding(measured));
  if (values.json === true) process.stdout.write(JSON.stringify(p, null, 2) + '\n');
  else process.stdout.write(render(p));
  return 0;
}
