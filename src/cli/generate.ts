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
import { DEFAULT_TRAFFIC, type FlowValues, TrafficGenerator, cloudWatchEnvelopes } from '../sources/generator/traffic.js';
import { MAX_SUBNETS, buildWorld } from '../sources/generator/world.js';
import { CliUsageError, parseCli } from './args.js';

const HELP = `usage: dredge generate --out DIR [--flows N] [--seed S] [--fields "<names>"] [--files K] [--gzip]
                      [--envelope cloudwatch] [--span DURATION] [--start TIME] [--subnets N] [--json]

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
  --json                 print the summary as JSON on stdout (progress stays on stderr)`;

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
  }, HELP);
  if (values.help === true) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"; flags only (the output folder is --out DIR)\n\n${HELP}`);
  if (values.out === undefined || values.out === '') throw new CliUsageError(`--out DIR is required: the folder to write the flow files, snapshot.csv, events.ndjson and truth.json into\n\n${HELP}`);
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
  const summary = await generate(opts, (line) => process.stderr.write(line + '\n'));
  if (json) process.stdout.write(JSON.stringify(summary) + '\n');
  else process.stderr.write(renderSummary(summary));
  return 0;
}

/** `--flows 1e6`, `1_000_000` and `1000000` alike; `fallback` when the flag is absent. */
function wholeNumber(flag: string, v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const s = v.trim().replace(/_/g, '');
  const n = /^\d+(\.\d+)?(e\d+)?$/i.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new CliUsageError(`${flag} takes a whole number from ${min} to ${max}, got "${v}"`);
  return n;
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
  const traffic = { seed: o.seed, startTime: o.startTime, spanSeconds: o.spanSeconds, subnets: o.subnets };

  const world = buildWorld(traffic);
  await writeWhole(o.out, 'snapshot.csv', world.snapshotCsv);
  const lengths = Object.entries(world.byLength).map(([len, n]) => `${n} /${len}`).join(', ');
  log(`wrote ${join(o.out, 'snapshot.csv')}: ${world.prefixes} prefixes (${lengths}) over ${world.apps} apps`);
  await writeWhole(o.out, 'events.ndjson', world.eventsNdjson);
  log(`wrote ${join(o.out, 'events.ndjson')}: ${world.events} change events (${world.assigns} assign, ${world.releases} release) on ${world.churnAddresses} addresses`);

  // Records come in event-time order across the span with up to 5 minutes of delay (within the
  // default 10-minute lateness), as a stream delivers them; uniform random times would make most of a
  // run late for any watermark.
  const gen = new TrafficGenerator(o.format, { ...traffic, flowsPerSecond: o.flows / o.spanSeconds, maxDelaySeconds: Math.min(300, o.spanSeconds) });
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

  const has = (f: string): boolean => o.format.indexOf(f) >= 0;
  const truth: Truth = {
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
  await writeWhole(o.out, 'truth.json', JSON.stringify(truth, null, 2) + '\n');
  log(`wrote ${join(o.out, 'truth.json')}`);
  return { out: o.out, ...truth, seconds: (performance.now() - t0) / 1000 };
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
