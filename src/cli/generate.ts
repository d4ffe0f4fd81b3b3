// `dredge generate --out DIR …`: a seeded, realistic run to files. Writes, in this order,
//
//   snapshot.csv        the inventory that covers the generated addresses (world.ts)
//   events.ndjson       the /32 change events of the span (world.ts)
//   flows-0001.log …    the flow records (traffic.ts), split over --files files; `.log.gz` with --gzip;
//                       `.json.gz` with --envelope cloudwatch (gzip members, one CloudWatch Logs
//                       subscription envelope each, 500 events per envelope)
//   truth.json          exact totals counted while the records were generated, so a consumer can
//                       check what it decoded: records, flows (log-status OK), nodata, skipdata,
//                       packets and bytes (of the OK records), and the range of `start`
//
// `dredge generate --kinesis STREAM --out DIR …` sends the same records to a Kinesis stream instead of
// flow files (PutRecords through src/sources/kinesis/producer.ts), paced to --rate flows/s in real
// time, and still writes snapshot.csv, events.ndjson and truth.json to DIR (truth.json's `kinesis`
// says what was sent: records, bytes, calls, retried entries). Same options, same flow lines as the
// file target: only the framing differs (N lines per Kinesis record, or one gzipped CloudWatch
// envelope of N events per record).
//
// truth.json comes last: its presence says the run is complete. Every file is written under a
// temporary name and renamed, so a watcher never sees half a file. Records are produced chunk by chunk
// and pulled by the file stream (and gzip), so memory stays bounded for any --flows. Same options, same
// bytes: the seed decides everything.

import { mkdirSync, renameSync, rmSync, statSync, createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { DredgeError } from '../errors.js';
import { formatTime, parseDuration, parseTime } from '../index/load/time.js';
import { FlowFormat } from '../parse/fields.js';
import { DEFAULT_TRAFFIC, type FlowValues, TrafficGenerator, cloudWatchEnvelopes, streamTraffic } from '../sources/generator/traffic.js';
import { MAX_SUBNETS, buildWorld } from '../sources/generator/world.js';
import { CreateStreamCommand, DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { makeKinesisClient } from '../sources/kinesis/client.js';
import { type PutRecordsResult, addResult, emptyResult, putRecords } from '../sources/kinesis/producer.js';
import { CliUsageError, parseCli } from './args.js';

const HELP = `usage: dredge generate --out DIR [--flows N] [--seed S] [--fields "<names>"] [--files K] [--gzip]
                      [--envelope cloudwatch] [--span DURATION] [--start TIME] [--subnets N] [--json]
       dredge generate --kinesis STREAM --out DIR [--endpoint URL] [--region R] [--rate FLOWS/S]
                      [--duration DURATION] [--flows N] [--lines-per-record N] [--envelope cloudwatch|none] …

Writes seeded, realistic VPC flow-log traffic with its matching inventory and ground truth to DIR:
flows-0001.log … (the records), snapshot.csv and events.ndjson (who owns the addresses, for
\`dredge index build\`), and truth.json (exact totals: records, flows, nodata, skipdata, packets, bytes,
range of start; packets/bytes/start are null when --fields leaves that field out). The same options
always give the same bytes.

  -o, --out DIR          where to write (created if missing; files there with the same names are replaced)
  --flows N              records to generate (default 100000)
  --seed S               random seed, 0 to 4294967295 (default 42)
  --fields "<names>"     record format, names separated by spaces or commas (default: the v2 default
                         format); a custom format also writes an S3-style header line at the top of each file
  --files K              split the records over K files (default 1)
  --gzip                 gzip each flow file (flows-0001.log.gz)
  --envelope cloudwatch  write gzipped CloudWatch Logs subscription envelopes (flows-0001.json.gz, 500
                         events each) instead of lines; decode them with --fields when the format is custom
  --span DURATION        spread the records' start times over this (e.g. 1h, 90m, 3600; default 1h)
  --start TIME           first start time, ISO-8601 with a zone or epoch seconds (default ${formatTime(DEFAULT_TRAFFIC.startTime)})
  --subnets N            /20 subnets of the address layout, 1 to ${MAX_SUBNETS} (default ${DEFAULT_TRAFFIC.subnets})
  --json                 print the summary as JSON on stdout (progress stays on stderr)

To a Kinesis stream (it must exist unless --create-shards; snapshot.csv, events.ndjson and truth.json still go to
--out; a JSON summary with the totals sent is always printed on stdout):
  --kinesis STREAM       send the records to this stream with PutRecords instead of writing flow files
  --endpoint URL         a Kinesis-compatible endpoint (kinesalite: http://127.0.0.1:4567)
  --region R             AWS region (default: AWS_REGION, else the shared config; us-east-1 for a local endpoint)
  --rate FLOWS/S         send this many flows per second, in real time (default 1000; with --flows and
                         neither --rate nor --duration: as fast as the stream takes them)
  --duration DURATION    how long to send at --rate (default 60s); --flows N is the total instead, and
                         --flows with --duration sends N flows spread evenly over DURATION
  --create-shards N      create the stream with N shards if it does not exist (e.g. on a fresh kinesalite)
  --lines-per-record N   flow lines per Kinesis record, or CloudWatch events per envelope (default 100;
                         500 with --envelope cloudwatch)
  --envelope cloudwatch  each record is one gzipped CloudWatch Logs subscription envelope (what a
                         subscription filter writes); none (default): newline-separated lines, no header
                         (a custom format is then read with \`dredge run --fields\`)`;

/** Lines per chunk handed to the file stream (~400 KB of v2 text). */
const CHUNK_LINES = 4096;
/** CloudWatch events per envelope (a subscription filter batches up to 10,000 / 1 MB). */
const EVENTS_PER_ENVELOPE = 500;

export interface GenerateOptions {
  out: string;
  flows: number;
  seed: number;
  format: FlowFormat;
  files: number;
  gzip: boolean;
  envelope: 'cloudwatch' | null;
  startTime: number;
  spanSeconds: number;
  subnets: number;
}

export interface FileTruth {
  /** File name inside the output folder. */
  name: string;
  records: number;
  /** Size on disk. */
  bytes: number;
}

/** truth.json. */
export interface Truth {
  seed: number;
  fields: string;
  customFormat: boolean;
  encoding: 'text' | 'gzip' | 'cloudwatch';
  startTime: number;
  spanSeconds: number;
  subnets: number;
  records: number;
  /** Records with log-status OK. */
  flows: number;
  nodata: number;
  skipdata: number;
  /** Sums over the OK records; null when the format has no such field. */
  packets: number | null;
  bytes: number | null;
  /** Range of the records' `start` (epoch seconds); null when the format has no `start`. */
  start: { min: number; max: number; minIso: string; maxIso: string } | null;
  files: FileTruth[];
  /** `--kinesis` runs: what was sent to the stream (files is then empty). */
  kinesis?: KinesisTruth;
  world: { snapshot: string; events: string; prefixes: number; byLength: Record<number, number>; apps: number; churnAddresses: number; changeEvents: number };
}

export interface GenerateSummary extends Truth {
  out: string;
  seconds: number;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, {
    out: { type: 'string', short: 'o' },
    flows: { type: 'string' },
    seed: { type: 'string' },
    fields: { type: 'string' },
    files: { type: 'string' },
    gzip: { type: 'boolean' },
    envelope: { type: 'string' },
    span: { type: 'string' },
    start: { type: 'string' },
    subnets: { type: 'string' },
    json: { type: 'boolean' },
    kinesis: { type: 'string' },
    'create-shards': { type: 'string' },
    endpoint: { type: 'string' },
    region: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    'lines-per-record': { type: 'string' },
  }, HELP);
  if (values.help === true) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"; flags only (the output folder is --out DIR)\n\n${HELP}`);
  const toKinesis = values.kinesis !== undefined;
  if (values.out === undefined || values.out === '') {
    throw new CliUsageError(toKinesis
      ? `--out DIR is required with --kinesis too: the folder for snapshot.csv, events.ndjson and truth.json (the inventory \`dredge run\` needs)\n\n${HELP}`
      : `--out DIR is required: the folder to write the flow files, snapshot.csv, events.ndjson and truth.json into\n\n${HELP}`);
  }
  if (!toKinesis) {
    for (const f of ['endpoint', 'region', 'rate', 'duration', 'lines-per-record', 'create-shards'] as const) {
      if (values[f] !== undefined) throw new CliUsageError(`--${f} applies only with --kinesis STREAM`);
    }
  } else {
    if (values.kinesis === '') throw new CliUsageError('--kinesis takes the name of an existing stream');
    if (values.files !== undefined || values.gzip === true) throw new CliUsageError('--files and --gzip describe flow files; with --kinesis records go to the stream (use --envelope cloudwatch for gzipped records)');
    if (values.envelope === 'none') values.envelope = undefined;
  }
  const flows = wholeNumber('--flows', values.flows, 100_000, 1, Number.MAX_SAFE_INTEGER);
  const files = wholeNumber('--files', values.files, 1, 1, 99_999);
  if (files > flows) throw new CliUsageError(`--files ${files} is more than --flows ${flows}; every file gets at least one record`);
  let format = FlowFormat.V2_DEFAULT;
  if (values.fields !== undefined) {
    try {
      format = FlowFormat.parse(values.fields);
    } catch (e) {
      if (e instanceof DredgeError) throw new CliUsageError(e.message);
      throw e;
    }
  }
  let envelope: 'cloudwatch' | null = null;
  if (values.envelope !== undefined) {
    if (values.envelope !== 'cloudwatch') throw new CliUsageError(`--envelope takes "cloudwatch" (CloudWatch Logs subscription envelopes), got "${values.envelope}"`);
    envelope = 'cloudwatch';
  }
  let spanSeconds = DEFAULT_TRAFFIC.spanSeconds;
  if (values.span !== undefined) {
    const d = parseDuration(values.span);
    if (d === null || Math.round(d) < 1) throw new CliUsageError(`--span takes a duration of at least 1 s, such as 1h, 90m or 3600, got "${values.span}"`);
    spanSeconds = Math.round(d);
  }
  let startTime = DEFAULT_TRAFFIC.startTime;
  if (values.start !== undefined) {
    const t = parseTime(values.start);
    if (typeof t !== 'number') throw new CliUsageError(`--start: ${t.error}`);
    if (!Number.isInteger(t)) throw new CliUsageError(`--start: flow-log times are whole seconds; drop the fraction from "${values.start}"`);
    startTime = t;
  }
  const opts: GenerateOptions = {
    out: values.out,
    flows,
    seed: wholeNumber('--seed', values.seed, DEFAULT_TRAFFIC.seed, 0, 0xffffffff),
    format,
    files,
    gzip: values.gzip === true,
    envelope,
    startTime,
    spanSeconds,
    subnets: wholeNumber('--subnets', values.subnets, DEFAULT_TRAFFIC.subnets, 1, MAX_SUBNETS),
  };
  const json = values.json === true;
  if (toKinesis) {
    const pace = kinesisPace(values.flows === undefined ? undefined : flows, values.rate, values.duration);
    const k: KinesisTarget = {
      stream: values.kinesis as string,
      endpoint: values.endpoint,
      region: values.region,
      ...pace,
      linesPerRecord: wholeNumber('--lines-per-record', values['lines-per-record'], envelope !== null ? EVENTS_PER_ENVELOPE : 100, 1, 10_000),
      ...(values['create-shards'] !== undefined ? { createShards: wholeNumber('--create-shards', values['create-shards'], 1, 1, 10_000) } : {}),
    };
    const summary = await generateKinesis({ ...opts, flows: pace.total }, k, (line) => process.stderr.write(line + '\n'));
    process.stdout.write(JSON.stringify(summary) + '\n');
    return 0;
  }
  const summary = await generate(opts, (line) => process.stderr.write(line + '\n'));
  if (json) process.stdout.write(JSON.stringify(summary) + '\n');
  else process.stderr.write(renderSummary(summary));
  return 0;
}

/** `--flows 1e6`, `1_000_000` and `1000000` alike; `fallback` when the flag is absent. (`dredge run --generate` reads its numbers with it too.) */
export function wholeNumber(flag: string, v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const s = v.trim().replace(/_/g, '');
  const n = /^\d+(\.\d+)?(e\d+)?$/i.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new CliUsageError(`${flag} takes a whole number from ${min} to ${max}, got "${v}"`);
  return n;
}

/** `--rate`: flows per second, a number > 0 (`50_000` and `5e4` alike). */
export function flowRate(v: string): number {
  const r = Number(v.trim().replace(/_/g, ''));
  if (!(r > 0) || !Number.isFinite(r)) throw new CliUsageError(`--rate takes flows per second, a number > 0, got "${v}"`);
  return r;
}

/** --flows / --rate / --duration → how many flows to send and how fast (null: as fast as possible). */
function kinesisPace(flows: number | undefined, rateFlag: string | undefined, durationFlag: string | undefined): { total: number; rate: number | null } {
  let seconds: number | null = null;
  if (durationFlag !== undefined) {
    const d = parseDuration(durationFlag);
    if (d === null || !(d > 0)) throw new CliUsageError(`--duration takes a duration such as 60s, 5m or 1h, got "${durationFlag}"`);
    seconds = d;
  }
  let rate: number | null = null;
  if (rateFlag !== undefined) rate = flowRate(rateFlag);
  if (flows !== undefined) {
    if (rate !== null && seconds !== null) throw new CliUsageError('give at most two of --flows, --rate and --duration: the third follows from them');
    if (seconds !== null) return { total: flows, rate: flows / seconds };
    return { total: flows, rate };
  }
  rate ??= 1000;
  seconds ??= 60;
  const total = Math.round(rate * seconds);
  if (total < 1) throw new CliUsageError(`--rate ${rate} for --duration ${seconds}s sends no flow; raise either`);
  return { total, rate };
}

/** Running totals, fed the values of every generated record. */
class Tally {
  records = 0;
  nodata = 0;
  packets = 0;
  bytes = 0;
  startMin = Infinity;
  startMax = -Infinity;

  add(v: Readonly<FlowValues>): void {
    this.records++;
    if (v.start < this.startMin) this.startMin = v.start;
    if (v.start > this.startMax) this.startMax = v.start;
    if (v.noData) this.nodata++;
    else {
      this.packets += v.packets;
      this.bytes += v.bytes;
    }
  }
}

/** Writes one run; `log` gets one line per file written. Usable without the CLI (tests, demo). */
export async function generate(o: GenerateOptions, log: (line: string) => void): Promise<GenerateSummary> {
  const t0 = performance.now();
  try {
    mkdirSync(o.out, { recursive: true });
  } catch (e) {
    throw new DredgeError('DREDGE_ERR_CONFIG', `cannot create the output folder ${o.out}: ${(e as Error).message}; check --out`);
  }
  const world = await writeWorld(o, log);
  const gen = new TrafficGenerator(o.format, streamTraffic(o, o.flows / o.spanSeconds));
  const tally = new Tally();
  const custom = !o.format.equals(FlowFormat.V2_DEFAULT);
  const header = custom && o.envelope === null ? o.format.names.join(' ') + '\n' : null;
  const ext = o.envelope !== null ? '.json.gz' : o.gzip ? '.log.gz' : '.log';
  const width = Math.max(4, String(o.files).length);
  const files: FileTruth[] = [];
  const base = Math.floor(o.flows / o.files);
  for (let i = 0; i < o.files; i++) {
    const count = base + (i < o.flows % o.files ? 1 : 0);
    const name = `flows-${String(i + 1).padStart(width, '0')}${ext}`;
    const before = tally.records;
    const chunks = o.envelope !== null ? envelopeChunks(gen, tally, count, o.startTime * 1000) : lineChunks(gen, tally, count, header);
    const bytes = await writeStreamed(o.out, name, chunks, o.gzip && o.envelope === null);
    files.push({ name, records: tally.records - before, bytes });
    log(`wrote ${join(o.out, name)}: ${tally.records - before} records, ${bytes} bytes`);
  }

  const truth = makeTruth(o, tally, world, files);
  await writeWhole(o.out, 'truth.json', JSON.stringify(truth, null, 2) + '\n');
  log(`wrote ${join(o.out, 'truth.json')}`);
  return { out: o.out, ...truth, seconds: (performance.now() - t0) / 1000 };
}

type World = ReturnType<typeof buildWorld>;

/** snapshot.csv and events.ndjson: the inventory the generated addresses resolve against. */
async function writeWorld(o: GenerateOptions, log: (line: string) => void): Promise<World> {
  const world = buildWorld({ seed: o.seed, startTime: o.startTime, spanSeconds: o.spanSeconds, subnets: o.subnets });
  await writeWhole(o.out, 'snapshot.csv', world.snapshotCsv);
  const lengths = Object.entries(world.byLength).map(([len, n]) => `${n} /${len}`).join(', ');
  log(`wrote ${join(o.out, 'snapshot.csv')}: ${world.prefixes} prefixes (${lengths}) over ${world.apps} apps`);
  await writeWhole(o.out, 'events.ndjson', world.eventsNdjson);
  log(`wrote ${join(o.out, 'events.ndjson')}: ${world.events} change events (${world.assigns} assign, ${world.releases} release) on ${world.churnAddresses} addresses`);
  return world;
}

function makeTruth(o: GenerateOptions, tally: Tally, world: World, files: FileTruth[]): Truth {
  const has = (f: string): boolean => o.format.indexOf(f) >= 0;
  const custom = !o.format.equals(FlowFormat.V2_DEFAULT);
  return {
    seed: o.seed,
    fields: o.format.names.join(' '),
    customFormat: custom,
    encoding: o.envelope !== null ? 'cloudwatch' : o.gzip ? 'gzip' : 'text',
    startTime: o.startTime,
    spanSeconds: o.spanSeconds,
    subnets: o.subnets,
    records: tally.records,
    flows: tally.records - tally.nodata,
    nodata: tally.nodata,
    skipdata: 0, // the generator writes no SKIPDATA records
    packets: has('packets') ? tally.packets : null,
    bytes: has('bytes') ? tally.bytes : null,
    start: has('start') && tally.records > 0 ? { min: tally.startMin, max: tally.startMax, minIso: formatTime(tally.startMin), maxIso: formatTime(tally.startMax) } : null,
    files,
    world: { snapshot: 'snapshot.csv', events: 'events.ndjson', prefixes: world.prefixes, byLength: world.byLength, apps: world.apps, churnAddresses: world.churnAddresses, changeEvents: world.events },
  };
}

export interface KinesisTarget {
  stream: string;
  endpoint?: string | undefined;
  region?: string | undefined;
  /** Flows per second in real time; null: as fast as the stream takes them. */
  rate: number | null;
  /** Flow lines per record (or CloudWatch events per envelope). */
  linesPerRecord: number;
  /** Create the stream with this many shards when it does not exist (local endpoints, first runs). */
  createShards?: number | undefined;
}

/** `--create-shards N`: makes the stream when it is missing and waits until it is ACTIVE. */
async function ensureStream(client: KinesisClient, stream: string, shards: number, log: (line: string) => void): Promise<void> {
  try {
    await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    return;
  } catch (e) {
    if ((e as { name?: string }).name !== 'ResourceNotFoundException') throw e;
  }
  await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: shards }));
  log(`created Kinesis stream ${stream} with ${shards} shards`);
  for (let i = 0; i < 600; i++) {
    const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (d.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new DredgeError('DREDGE_ERR_INPUT', `stream ${stream} did not become ACTIVE within 5 minutes; check it in the Kinesis console and run again`);
}

/** truth.json's account of a --kinesis run. */
export interface KinesisTruth {
  stream: string;
  linesPerRecord: number;
  /** Kinesis records written, their data bytes, PutRecords calls (retries included), entries re-sent. */
  records: number;
  bytes: number;
  calls: number;
  retried: number;
  throttledCalls: number;
  /** Calls that failed with 5xx/network errors and were re-sent: their records may be in the stream twice. */
  ambiguousCalls: number;
  /** Records per shard id. */
  shards: Record<string, number>;
  rate: number | null;
  /** Flows per second actually sent. */
  achievedRate: number;
  /** Stopped early by SIGINT/SIGTERM (the totals cover what was sent). */
  interrupted: boolean;
}

/** Flows generated per PutRecords round at most: bounds memory when the stream falls behind --rate. */
const MAX_FLOWS_PER_ROUND = 50_000;

/**
 * Sends `o.flows` generated flows to a Kinesis stream, paced to `k.rate`; writes the inventory and
 * truth.json (with `kinesis`) to `o.out`. SIGINT/SIGTERM stop after the call in flight.
 */
export async function generateKinesis(o: GenerateOptions, k: KinesisTarget, log: (line: string) => void): Promise<GenerateSummary & { kinesis: KinesisTruth }> {
  const t0 = performance.now();
  try {
    mkdirSync(o.out, { recursive: true });
  } catch (e) {
    throw new DredgeError('DREDGE_ERR_CONFIG', `cannot create the output folder ${o.out}: ${(e as Error).message}; check --out`);
  }
  const world = await writeWorld(o, log);
  const gen = new TrafficGenerator(o.format, streamTraffic(o, o.flows / o.spanSeconds));
  const tally = new Tally();
  const client = makeKinesisClient({ endpoint: k.endpoint, region: k.region });
  if (k.createShards !== undefined) await ensureStream(client, k.stream, k.createShards, log);
  const sent: PutRecordsResult = emptyResult();
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  log(`sending ${o.flows} flows to Kinesis stream ${k.stream}${k.endpoint !== undefined ? ` at ${k.endpoint}` : ''}${k.rate !== null ? ` at ${k.rate} flows/s` : ' as fast as it takes them'}, ${k.linesPerRecord} ${o.envelope !== null ? 'events per envelope' : 'lines per record'}`);
  const start = performance.now();
  let lastLog = start;
  try {
    while (tally.records < o.flows && !interrupted) {
      const elapsed = (performance.now() - start) / 1000;
      const due = k.rate === null ? o.flows : Math.min(o.flows, Math.floor(k.rate * elapsed) + 1);
      if (due <= tally.records) {
        // Wait for the next flow to fall due (at most 100 ms, so a stop signal is noticed soon).
        const next = ((tally.records + 1) / (k.rate as number)) * 1000 - (performance.now() - start);
        await new Promise((r) => setTimeout(r, Math.max(1, Math.min(100, next))));
        continue;
      }
      const n = Math.min(due - tally.records, MAX_FLOWS_PER_ROUND);
      const records = kinesisRecords(gen, tally, n, k.linesPerRecord, o.envelope !== null, o.startTime * 1000);
      addResult(sent, await putRecords(client, k.stream, records, { log }));
      const now = performance.now();
      if (now - lastLog >= 5000) {
        log(`sent ${tally.records} of ${o.flows} flows in ${sent.records} records (${Math.round(tally.records / ((now - start) / 1000))} flows/s)`);
        lastLog = now;
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    client.destroy();
  }
  const seconds = (performance.now() - start) / 1000;
  const kinesis: KinesisTruth = {
    stream: k.stream,
    linesPerRecord: k.linesPerRecord,
    records: sent.records,
    bytes: sent.bytes,
    calls: sent.calls,
    retried: sent.retriedEntries,
    throttledCalls: sent.throttledCalls,
    ambiguousCalls: sent.ambiguousCalls,
    shards: sent.shards,
    rate: k.rate,
    achievedRate: seconds > 0 ? tally.records / seconds : 0,
    interrupted,
  };
  const truth = { ...makeTruth(o, tally, world, []), kinesis };
  await writeWhole(o.out, 'truth.json', JSON.stringify(truth, null, 2) + '\n');
  log(`sent ${tally.records} flows in ${sent.records} Kinesis records (${sent.bytes} bytes, ${sent.calls} calls, ${sent.retriedEntries} entries re-sent) in ${seconds.toFixed(2)} s; wrote ${join(o.out, 'truth.json')}`);
  return { out: o.out, ...truth, seconds: (performance.now() - t0) / 1000 };
}

/** `n` more flows as Kinesis records: `per` lines each, or one gzipped envelope of `per` events each. */
function kinesisRecords(gen: TrafficGenerator, tally: Tally, n: number, per: number, envelope: boolean, firstTimestampMs: number): Buffer[] {
  const lines: string[] = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    lines[i] = gen.line();
    tally.add(gen.last as FlowValues);
  }
  // Event ids and timestamps number the flows of the whole run, as the file target's envelopes do.
  if (envelope) return cloudWatchEnvelopes(lines, per, firstTimestampMs, tally.records - n);
  const out: Buffer[] = [];
  for (let i = 0; i < n; i += per) out.push(Buffer.from(lines.slice(i, i + per).join('\n') + '\n', 'latin1'));
  return out;
}

function* lineChunks(gen: TrafficGenerator, tally: Tally, count: number, header: string | null): Generator<Buffer> {
  if (header !== null) yield Buffer.from(header, 'latin1');
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(gen.line());
    tally.add(gen.last as FlowValues);
    if (parts.length === CHUNK_LINES) {
      yield Buffer.from(parts.join('\n') + '\n', 'latin1');
      parts.length = 0;
    }
  }
  if (parts.length > 0) yield Buffer.from(parts.join('\n') + '\n', 'latin1');
}

function* envelopeChunks(gen: TrafficGenerator, tally: Tally, count: number, firstTimestampMs: number): Generator<Buffer> {
  const per = EVENTS_PER_ENVELOPE * 8;
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(gen.line());
    tally.add(gen.last as FlowValues);
    if (parts.length === per || i === count - 1) {
      // Event ids and timestamps number the records of the whole run, so they stay unique across files.
      yield Buffer.concat(cloudWatchEnvelopes(parts, EVENTS_PER_ENVELOPE, firstTimestampMs, tally.records - parts.length));
      parts.length = 0;
    }
  }
}

/** Streams `chunks` (pulled on demand: bounded memory) into DIR/name via a temporary name; returns the size. */
async function writeStreamed(dir: string, name: string, chunks: Iterable<Buffer>, gzip: boolean): Promise<number> {
  const path = join(dir, name);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const source = Readable.from(chunks);
    if (gzip) await pipeline(source, createGzip(), createWriteStream(tmp));
    else await pipeline(source, createWriteStream(tmp));
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new DredgeError('DREDGE_ERR_CONFIG', `cannot write ${path}: ${(e as Error).message}; check --out and the free space there`, { cause: e });
  }
  return statSync(path).size;
}

async function writeWhole(dir: string, name: string, text: string): Promise<void> {
  const path = join(dir, name);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new DredgeError('DREDGE_ERR_CONFIG', `cannot write ${path}: ${(e as Error).message}; check --out and the free space there`, { cause: e });
  }
}

function renderSummary(s: GenerateSummary): string {
  const lines = [
    `generated ${s.records} records in ${s.files.length} file${s.files.length === 1 ? '' : 's'} (${s.encoding}${s.customFormat ? ', custom format' : ''}) in ${s.seconds.toFixed(2)} s: ` +
      `${s.flows} flows, ${s.nodata} NODATA, ${s.skipdata} SKIPDATA`,
  ];
  if (s.packets !== null || s.bytes !== null) lines.push(`  packets ${s.packets ?? '-'}, bytes ${s.bytes ?? '-'} (OK records)`);
  if (s.start !== null) lines.push(`  start from ${s.start.minIso} to ${s.start.maxIso}`);
  lines.push(`  inventory: ${s.world.prefixes} prefixes, ${s.world.apps} apps, ${s.world.changeEvents} change events`);
  lines.push(`next: dredge index build --snapshot ${join(s.out, 'snapshot.csv')} --events ${join(s.out, 'events.ndjson')} -o ${join(s.out, 'index.bin')}`);
  return lines.join('\n') + '\n';
}
