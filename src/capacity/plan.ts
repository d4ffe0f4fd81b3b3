// `dredge capacity`'s arithmetic (issue #7, DESIGN.md §7 and §9): measured figures in, the plan for a
// target rate out. Pure: no clock, no machine, so the same measured object always gives the same plan
// (`--measured FILE` re-plans a saved measurement, and the tests check the arithmetic on fixed inputs).
//
//   per-core rate  = the engine's flows/s with N workers ÷ N
//   cores          = ceil(rate ÷ per-core rate)
//   instances      = ceil(cores ÷ cores of this machine)
//   shards         = ceil(max(rate × gzipped CloudWatch bytes per flow ÷ 1,000,000 B/s,
//                             rate ÷ events per envelope ÷ 1,000 records/s))
//   memory         = peak RSS while the engine ran + one more index generation (per instance)

/** The two encodings the engine is measured on: v2 text lines, and gzip CloudWatch Logs envelopes. */
export type CapacityEncoding = 'text' | 'cloudwatch';
export const ENCODINGS: readonly CapacityEncoding[] = ['text', 'cloudwatch'];

/** A Kinesis shard's write limits (DESIGN.md §7's units: 1 MB = 10^6 bytes). */
export const SHARD_WRITE_BYTES_PER_S = 1_000_000;
export const SHARD_WRITE_RECORDS_PER_S = 1_000;

/** ns per flow of each stage. `engine_per_core` = engine wall ns/flow × workers (a core's cost). */
export interface StageNs {
  decode: number;
  decode_lookups: number;
  engine_per_core: number;
  engine_wall: number;
}

/** Flows per second of each stage (decode stages on one thread; engine with `workers` workers). */
export interface StageRates {
  decode: number;
  decode_lookups: number;
  engine: number;
  engine_per_core: number;
}

export interface Measured {
  machine: { cores: number; cpu_model: string; node: string; memory_bytes: number };
  input: {
    /** `generator (…)` or `file PATH`. */
    source: string;
    /** Flow-log records measured (each stage runs over all of them). */
    records: number;
    /** What the input was: `text`, `gzip text`, `cloudwatch`, `gzip cloudwatch`, or `generated`. */
    encoding: string;
    /** Bytes of the input as given (a file's size; generated: the v2 text). */
    bytes: number;
    malformed: number;
    fields: string;
    dimensions: string;
    /** The index the lookups ran against. */
    index: string;
    /** Rollup rows written per flow in the timed engine runs, by encoding. */
    groups_per_flow: Partial<Record<CapacityEncoding, number>>;
  };
  workers: number;
  ns_per_flow: Partial<Record<CapacityEncoding, StageNs>>;
  flows_per_s: Partial<Record<CapacityEncoding, StageRates>>;
  bytes_per_flow: { text: number; text_gzip: number; cloudwatch_json: number; cloudwatch_gzip: number };
  /** CloudWatch events per envelope (= flows per Kinesis record for a subscription). */
  events_per_envelope: number;
  /** Peak RSS of this process while the engine ran (main thread, workers, tables, the measurement's input, one index generation). */
  rss_bytes: number;
  /** Bytes of the frozen index generation. */
  index_bytes: number;
  /** The measurement's own input held in memory during the engine runs (part of rss_bytes). */
  input_bytes_held: number;
  /** Wall time of the whole measurement. */
  seconds: number;
}

export interface CapacityPlan {
  measured: Measured;
  target: {
    flows_per_s: number;
    /** Which measurement the cores come from. */
    encoding: CapacityEncoding;
    per_core_flows_per_s: number;
    kinesis_bytes_per_s: number;
    kinesis_records_per_s: number;
    shards_for_bytes: number;
    shards_for_records: number;
  };
  cores: number;
  instances: number;
  shards: number;
  /** Per instance. */
  memory_bytes: number;
  memory_bytes_all_instances: number;
  assumptions: string[];
}

/** Small helper for messages: 1234567 → "1,234,567"; 1.5 → "1.5". */
export function num(x: number, digits = 0): string {
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** 2_400_000 → "2.40M", 25_300 → "25.3k". */
export function si(x: number): string {
  if (x >= 1e9) return `${(x / 1e9).toFixed(2)}G`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(x < 10 ? 2 : 0);
}

export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
}

/** ceil that ignores floating-point dust (7.000000000001 → 7), and is at least 1 for a positive rate. */
function ceilUp(x: number): number {
  const r = Math.round(x);
  const c = Math.abs(x - r) < 1e-9 ? r : Math.ceil(x);
  return Math.max(1, c);
}

/** The encoding a plan uses when the user named none: what was measured, CloudWatch first (what Kinesis carries). */
export function defaultPlanEncoding(m: Measured): CapacityEncoding {
  if (m.flows_per_s.cloudwatch !== undefined) return 'cloudwatch';
  return 'text';
}

export function plan(m: Measured, rate: number, encoding: CapacityEncoding): CapacityPlan {
  const rates = m.flows_per_s[encoding];
  if (rates === undefined) throw new Error(`no ${encoding} measurement to plan with`);
  const n = m.workers;
  const cpu = m.machine.cores;
  const perCore = rates.engine / n;
  const coresExact = rate / perCore;
  const cores = ceilUp(coresExact);
  const instances = ceilUp(cores / cpu);
  const b = m.bytes_per_flow.cloudwatch_gzip;
  const kBytes = rate * b;
  const kRecords = rate / m.events_per_envelope;
  const shardsBytes = kBytes / SHARD_WRITE_BYTES_PER_S;
  const shardsRecords = kRecords / SHARD_WRITE_RECORDS_PER_S;
  const shards = ceilUp(Math.max(shardsBytes, shardsRecords));
  const memory = m.rss_bytes + m.index_bytes;
  const other = ENCODINGS.find((e) => e !== encoding && m.flows_per_s[e] !== undefined);

  const a: string[] = [];
  a.push(`a flow is one flow-log record (NODATA/SKIPDATA included): every rate here is records per second, measured on ${num(m.input.records)} records (${m.input.source})`);
  a.push(
    `per-core rate = the whole engine's ${si(rates.engine)} flows/s with ${n} worker${n === 1 ? '' : 's'} ÷ ${n} = ${si(perCore)} flows/s per core (${encoding}); ` +
      `the workers ran on this machine's ${cpu} core${cpu === 1 ? '' : 's'} with the main thread (intake, dispatch, flushes) sharing them, so the figure already pays the main thread's share` +
      (n > cpu ? `; ${n} workers on ${cpu} cores: dividing by ${n} understates a core (the plan errs high)` : n < cpu ? `; ${cpu - n} core${cpu - n === 1 ? '' : 's'} stayed idle: the plan assumes the engine scales linearly to them` : ''),
  );
  a.push(
    `cores = ceil(${num(rate)} ÷ ${num(perCore)}) = ceil(${num(coresExact, 4)}) = ${cores}, planned on the ${encoding === 'cloudwatch' ? 'gzip CloudWatch envelope measurement (inflate included: what a subscription writes to Kinesis)' : 'v2 text measurement (plain lines)'}` +
      (other !== undefined ? `; with ${other} input it would be ceil(${num(rate)} ÷ ${num((m.flows_per_s[other] as StageRates).engine / n)}) = ${ceilUp(rate / ((m.flows_per_s[other] as StageRates).engine / n))} (--encoding ${other})` : ''),
  );
  a.push(`instances = ceil(${cores} cores ÷ ${cpu} cores per instance of this size) = ${instances}; one dredge process per instance, its main thread sharing its cores as here, shards split evenly among them, scaling assumed linear`);
  a.push(
    `shards: a shard takes ${num(SHARD_WRITE_BYTES_PER_S)} B/s and ${num(SHARD_WRITE_RECORDS_PER_S)} records/s of writes; ` +
      `bytes: ${num(rate)} flows/s × ${b.toFixed(1)} B/flow (gzipped CloudWatch, measured) = ${num(kBytes)} B/s → ${shardsBytes.toFixed(2)} shards; ` +
      `records: ${num(rate)} ÷ ${num(m.events_per_envelope)} events per envelope = ${num(kRecords, 1)} records/s → ${shardsRecords.toFixed(2)} shards; ` +
      `shards = ceil(max) = ${shards} (write limits only: reading at 2 MB/s per shard leaves room for two such consumers; no headroom for bursts added)`,
  );
  a.push(
    `memory per instance = peak RSS while the engine ran (${mb(m.rss_bytes)}: workers, rollup tables, one index generation, and this measurement's own input of ${mb(m.input_bytes_held)}, which a daemon does not hold) ` +
      `+ one more index generation (${mb(m.index_bytes)}: the next one is built while the current one serves) = ${mb(memory)}; ${instances} instance${instances === 1 ? '' : 's'}: ${mb(memory * instances)}; ` +
      `the tables grow with distinct keys per window (${Object.entries(m.input.groups_per_flow).map(([e, g]) => `${e} ${((g as number) * 1000).toFixed(1)}`).join(', ')} rollup rows per 1,000 flows here), not with the rate alone`,
  );
  a.push(`lookups ran against ${m.input.index}; a larger inventory costs more per lookup: give yours with --snapshot/--events or --index`);
  a.push(`measured now on this machine (${m.machine.cpu_model}, ${cpu} cores, node ${m.machine.node}) in ${m.seconds.toFixed(1)} s; a shared box varies up to 2×, so re-run and plan on the slower figure`);
  return {
    measured: m,
    target: {
      flows_per_s: rate,
      encoding,
      per_core_flows_per_s: perCore,
      kinesis_bytes_per_s: kBytes,
      kinesis_records_per_s: kRecords,
      shards_for_bytes: shardsBytes,
      shards_for_records: shardsRecords,
    },
    cores,
    instances,
    shards,
    memory_bytes: memory,
    memory_bytes_all_instances: memory * instances,
    assumptions: a,
  };
}
