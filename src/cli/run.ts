// `dredge run`: the main job over files, a Kinesis stream or the built-in generator (issue #4's
// interface; later sources and sinks join it): read inputs → worker pool (decode, enrich at flow time,
// pre-aggregate) → merged deltas → sink every flush interval → checkpoints after the sink's ack.
// Progress and the run summary go to stderr.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DIMENSIONS, parsePortList, planKey, type KeyPlan } from '../aggregate/dimensions.js';
import { Pipeline, type PipelineStats } from '../daemon/pipeline.js';
import { DredgeError } from '../errors.js';
import { IndexBuilder } from '../index/builder.js';
import { IndexRefresh } from '../daemon/index-refresh.js';
import type { HeartbeatCandidates } from '../worker/heartbeats.js';
import { openIndexBytes } from '../index/explain.js';
import { parseEvents } from '../index/load/events.js';
import { parseIpRanges } from '../index/load/ip-ranges.js';
import { parseSnapshot } from '../index/load/snapshot.js';
import { parseDuration } from '../index/load/time.js';
import type { IndexView } from '../index/lookup.js';
import { lookupWasm, lookupWasmFailure } from '../index/wasm/load.js';
import { FlowFormat } from '../parse/fields.js';
import { FileCheckpointStore } from '../sinks/checkpoint-file.js';
import { DEFAULT_DB, DuckDbSink } from '../sinks/duckdb.js';
import { NdjsonSink } from '../sinks/ndjson.js';
import { openDruidKinesisSink } from '../sinks/druid.js';
import { openDruidSqlSink } from '../sinks/druid-sql.js';
import type { CheckpointStore, Sink, SourcePosition } from '../sinks/sink.js';
import { listInputs, readFiles, type FileProgress } from '../sources/files/file-source.js';
import { GeneratorSource, generatedShape } from '../sources/generator/generator-source.js';
import { DEFAULT_TRAFFIC } from '../sources/generator/traffic.js';
import { buildWorld, type World } from '../sources/generator/world.js';
import { makeKinesisClient } from '../sources/kinesis/client.js';
import { KinesisSource } from '../sources/kinesis/stream-source.js';
import { startQueryServer, type QueryServer } from '../daemon/query-server.js';
import { DredgeMetrics, timedCheckpoints } from '../daemon/metrics.js';
import { readiness, startOpsServer, type OpsServer } from '../daemon/ops-server.js';
import { checkLogLevel, createLog, resolveLogFormat } from '../daemon/log.js';
import type { Logger } from 'pino';
import { DuckDBStore } from '../query/store.js';
import { CliUsageError, parseCli } from './args.js';
import { flowRate, wholeNumber } from './generate.js';
import { annotateFlags, loadRunConfig, mergeRunLists, type LoadedConfig } from '../config/index.js';

const HELP = `usage: dredge run [--config FILE] (--input PATH… | --kinesis STREAM) (--snapshot FILE | --index FILE)
                  [options] [--db FILE | --sink ndjson --out DIR] [PATH…]
       dredge run --generate [--records N] [--rate N] [--seed S] [options]

Reads flow logs, enriches both ends of every flow with the owner of that address at the flow's start,
rolls flows up into time windows by the dimensions, and writes the rollups to the sink.

inputs
  --input PATH        a file (plain, gzip, CloudWatch envelopes), a directory (all files, recursively)
                      or - for stdin; repeatable
  --follow            keep running after the inputs: read new files that appear under the input folders
                      (write them elsewhere and rename them in, as S3 sync does), until SIGINT/SIGTERM
  --fields "NAMES"    fixed flow-log format (default: each file's header line, else the v2 default)
  --kinesis STREAM    read every shard of this Kinesis stream instead of files (records: raw lines,
                      gzip, or CloudWatch Logs subscription envelopes; each record decoded on its own)
  --endpoint URL      a Kinesis-compatible endpoint (kinesalite, LocalStack); default: AWS
  --region R          AWS region (default: the SDK chain, AWS_REGION; us-east-1 for a local endpoint)
  --from WHERE        trim-horizon (default), latest, or an ISO time: where a shard with no checkpoint starts
  --stop-when-caught-up  end once every shard is read to its tip (children included) and flushed
  --generate          built-in traffic instead: the records \`dredge generate --flows N --seed S\` writes
                      (with --records N), enriched with that generator's inventory unless --snapshot or
                      --index is given; checkpointed as generator:S, so a restart goes on where it stopped
  --records N         --generate: stop after record N of the stream (default: run until SIGINT/SIGTERM)
  --rate N            --generate: N records per second in real time (default: as fast as they are taken)
  --seed S            --generate: the stream's seed, 0 to 4294967295 (default ${DEFAULT_TRAFFIC.seed})
enrichment (the time-aware IP index)
  --snapshot FILE     inventory CSV or NDJSON (repeatable)     --events FILE   change events NDJSON (repeatable)
  --ip-ranges FILE    AWS ip-ranges.json                       --index FILE    a prebuilt index (dredge index build)
aggregation
  --dimensions "…"    group-by dimensions, comma/space separated
                      (default ${DEFAULT_DIMENSIONS})
  --keep-ports "…"    ports ≥ 32768 kept as they are (others become 0 in keys)
  --window 60s        window length          --lateness 10m   allowed lateness (watermark)
  --flush-interval 10s   rows accumulated since the last flush go to the sink this often
  --workers N         worker threads (default: the number of cores)
output
  --sink duckdb       rollups in an embedded DuckDB file that \`dredge query\` slices (default); rows,
                      the flush record and the checkpoints commit in one transaction
  --db FILE           the DuckDB store (default ./${DEFAULT_DB}); one running dredge per file
  --query-listen A    where this run answers \`dredge query\` while it holds the store (default
                      127.0.0.1:0, a free port, written to FILE.query.json); off: no listener
  --sink druid        rollup rows as JSON (with a deterministic row_id) to the Kinesis stream
                      --druid-stream S that Druid ingests ([--druid-endpoint URL] [--druid-region R]);
                      \`dredge druid-spec --stream S\` prints the supervisor spec
  --sink druid-sql    each flush as one Druid SQL INSERT task (--druid-url ROUTER_URL
                      [--druid-datasource D]), acknowledged when the task succeeded
  --checkpoint-dir D  where the druid sinks' runs keep checkpoints.json (default: .)
  --sink ndjson       rollup rows as NDJSON files rollups-NNNNNN.ndjson under --out
  --out DIR           ndjson output directory (implies --sink ndjson); checkpoints.json lives there too
  --rollup none       write every flow enriched (its fields + src.*/dst.* of the dimensions + reasons) to
                      flows-NNNNNN.ndjson instead of rollups (needs --sink ndjson): debugging, audits
  --no-heartbeats     do not learn owners from the flows' interface/instance ids (default: learned when
                      the snapshot has interface_id/instance_id columns; new generations every flush interval)
  --no-resume         ignore saved checkpoints (default: resume files where the last run stopped)
  --quiet             no progress bar (and no per-shard Kinesis lines)
  --log-format F      json: one JSON object per line on stderr (pino: level, time, event, msg, fields);
                      pretty: plain lines; default: pretty on a terminal, json otherwise
  --log-level L       fatal, error, warn, info (default), debug, trace or silent

config
  --ops-listen A      Prometheus /metrics, /healthz, /readyz on HOST:PORT (default for long runs — --follow,
                      --kinesis without --stop-when-caught-up — 127.0.0.1:9464, or a free port if taken); off
  --config FILE       a dredge.yaml (default: $DREDGE_CONFIG, else ./dredge.yaml when present): every flag
                      has a key (\`dredge config example\`), DREDGE_<KEY> variables override the file, and
                      flags given here override both; \`dredge config check\` validates without running

SIGINT/SIGTERM stop reading, flush what was read, checkpoint, and exit 0 (a second signal exits at once;
what was checkpointed is kept).`;

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new DredgeError('DREDGE_ERR_INPUT', `cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

function duration(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const d = parseDuration(v);
  if (d === null) throw new CliUsageError(`${flag} takes a duration such as 60s, 10m or 1h, got "${v}"`);
  return d;
}

/**
 * Builds (or opens) the index generation the run enriches with; the builder is kept for heartbeats.
 * `world`: a generated inventory (--generate without --snapshot/--index) added before the files.
 */
export function loadIndex(values: { snapshot?: string[]; events?: string[]; 'ip-ranges'?: string; index?: string }, world: Pick<World, 'snapshotCsv' | 'eventsNdjson'> | null = null): { view: IndexView; builder: IndexBuilder | null } {
  if (values.index !== undefined) {
    if ((values.snapshot ?? []).length > 0 || (values.events ?? []).length > 0) throw new CliUsageError('give either --index or --snapshot/--events, not both');
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(values.index);
    } catch (e) {
      throw new DredgeError('DREDGE_ERR_INPUT', `cannot read index ${values.index}: ${(e as Error).message}`);
    }
    return { view: openIndexBytes(bytes), builder: null };
  }
  // Retention counts back from the flow watermark at each refresh (DESIGN.md §9); the first freeze,
  // before any flow, keeps everything.
  const b = new IndexBuilder();
  if (world !== null) {
    for (const r of parseSnapshot(world.snapshotCsv, 'the generated snapshot')) b.addSnapshotRow(r);
    for (const e of parseEvents(world.eventsNdjson, 'the generated events')) b.addEvent(e);
  }
  for (const f of values.snapshot ?? []) for (const r of parseSnapshot(readText(f, 'snapshot'), f)) b.addSnapshotRow(r);
  for (const f of values.events ?? []) for (const e of parseEvents(readText(f, 'events'), f)) b.addEvent(e);
  if (values['ip-ranges'] !== undefined) {
    const f = values['ip-ranges'];
    for (const r of parseIpRanges(readText(f, 'ip-ranges'), f).prefixes) b.addAwsPrefix(r);
  }
  return { view: b.freeze({ watermark: -Infinity }).view, builder: b };
}

function mb(n: number): string {
  return (n / 1e6).toFixed(n < 1e8 ? 1 : 0);
}

function rate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : n.toFixed(0);
}

/** The run's last line, without the `dredge run:` prefix the log adds. */
export function summaryLine(s: PipelineStats, wallMs: number): string {
  const unattributed = s.unattributedSrc + s.unattributedDst;
  return (
    `${s.flows} flows (${s.records} records, ${s.nodata + s.skipdata} without data), ${s.malformed} malformed, ` +
    `${s.late.flows} late, ${unattributed} unattributed sides; ${s.rowsFlushed} rows in ${s.flushes} flushes; ` +
    `${(wallMs / 1000).toFixed(2)} s, ${rate((s.flows * 1000) / Math.max(1, wallMs))} flows/s`
  );
}

/** Why the index's lookups ran in JS, and what to do: the kill switch, an engine that cannot run the module, or busy scratch slots. */
function jsLookupReason(): string {
  if (process.env.DREDGE_WASM === '0') return 'DREDGE_WASM=0 is set; unset it to look up in WebAssembly';
  if (lookupWasm(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true })) === null) return `this Node cannot run the lookup module (${lookupWasmFailure() ?? 'unknown'}); run dredge on Node 20 or later`;
  return 'every scratch slot of a generation was held (more lookup threads than its 64 slots, or workers killed mid-batch); use fewer --workers';
}

/** A sink's write counters for /metrics (every shipped sink keeps `stats` with writes and errors). */
function sinkStats(sink: Sink): { writes: number; errors: number; writeMs?: number } {
  const st = (sink as { stats?: { writes?: number; errors?: number; writeMs?: number } }).stats;
  return { writes: st?.writes ?? 0, errors: st?.errors ?? 0, ...(st?.writeMs !== undefined ? { writeMs: st.writeMs } : {}) };
}

const DEFAULT_OPS = { host: '127.0.0.1', port: 9464 };

/** The operations listener: as given; by default for long runs 127.0.0.1:9464, else a free port. */
async function startOps(flag: string | undefined, longRunning: boolean, o: { metrics: DredgeMetrics; ready: ReturnType<typeof readiness> }): Promise<OpsServer | null> {
  if (flag === undefined && !longRunning) return null;
  const where = flag === undefined ? DEFAULT_OPS : parseListen(flag, '--ops-listen');
  if (where === null) return null;
  try {
    return await startOpsServer({ ...where, ...o });
  } catch (e) {
    if (flag !== undefined) throw e;
    // The default port is taken (another dredge on this host): any free port, said on stderr.
    return startOpsServer({ host: DEFAULT_OPS.host, port: 0, ...o });
  }
}

/** A file's modification time as text ('missing' when it cannot be read): what an index reload watches. */
function mtimeOf(path: string): string {
  try {
    return String(statSync(path).mtimeMs);
  } catch {
    return 'missing';
  }
}

/** How often --follow lists the input folders for new files. */
const FOLLOW_POLL_MS = 1000;
/** How often a long-running run checks its index inputs for changes. */
const INDEX_POLL_MS = 2000;

function parseFrom(v: string | undefined): 'trim-horizon' | 'latest' | Date {
  if (v === undefined || v === 'trim-horizon') return 'trim-horizon';
  if (v === 'latest') return 'latest';
  const t = Date.parse(v);
  if (!/^\d{4}-\d\d-\d\d/.test(v) || Number.isNaN(t)) throw new CliUsageError(`--from takes trim-horizon, latest or an ISO time such as 2025-11-23T12:00:00Z, got "${v}"`);
  return new Date(t);
}

/** The positions under `prefix`, keyed without it. */
function unprefixed(m: Map<string, SourcePosition>, prefix: string): Map<string, SourcePosition> {
  const out = new Map<string, SourcePosition>();
  for (const [k, v] of m) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), { ...v, key: k.slice(prefix.length) });
  return out;
}

function parseListen(v: string | undefined, flag = '--query-listen'): { host: string; port: number } | null {
  if (v === 'off') return null;
  const m = /^(.*):(\d{1,5})$/.exec(v ?? '127.0.0.1:0');
  if (m === null || Number(m[2]) > 65535) throw new CliUsageError(`${flag} takes HOST:PORT (e.g. 127.0.0.1:0 for a free port) or off, got "${v}"`);
  return { host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
}

/** The configured sink and the checkpoint store that goes with it (DESIGN.md §9: DuckDB keeps both). */
interface SinkFlags {
  db?: string;
  out?: string;
  'druid-stream'?: string;
  'druid-endpoint'?: string;
  'druid-region'?: string;
  'druid-url'?: string;
  'druid-datasource'?: string;
  'checkpoint-dir'?: string;
}

async function openSink(name: string, values: SinkFlags, plan: KeyPlan, windowSeconds: number, rollup: string): Promise<{ sink: Sink; checkpoints: CheckpointStore; where: string }> {
  // Druid keeps no positions of ours: checkpoints.json goes to --checkpoint-dir (default: here).
  const stateDir = values['checkpoint-dir'] ?? '.';
  if (name === 'druid') {
    const stream = values['druid-stream'] as string;
    const sink = await openDruidKinesisSink({ stream, ...(values['druid-endpoint'] !== undefined ? { endpoint: values['druid-endpoint'] } : {}), ...(values['druid-region'] !== undefined ? { region: values['druid-region'] } : {}) });
    return { sink, checkpoints: new FileCheckpointStore({ dir: stateDir }), where: `Kinesis stream ${stream} (for Druid: dredge druid-spec --stream ${stream})` };
  }
  if (name === 'druid-sql') {
    const url = values['druid-url'] as string;
    const sink = await openDruidSqlSink({ url, windowSeconds, dimensions: plan.dims.map((d) => d.name), ...(values['druid-datasource'] !== undefined ? { datasource: values['druid-datasource'] } : {}) });
    return { sink, checkpoints: new FileCheckpointStore({ dir: stateDir }), where: `Druid at ${url}, datasource ${sink.datasource}` };
  }
  if (name === 'duckdb') {
    const path = values.db ?? DEFAULT_DB;
    const sink = await DuckDbSink.open({ path, plan, windowSeconds });
    return { sink, checkpoints: sink.checkpoints, where: `${path} (try: dredge query top-talkers${values.db !== undefined ? ` --db ${path}` : ''})` };
  }
  const dir = values.out as string;
  return { sink: new NdjsonSink({ dir }), checkpoints: new FileCheckpointStore({ dir }), where: join(dir, rollup === 'none' ? 'flows-*.ndjson' : 'rollups-*.ndjson') };
}

/** `dredge run`'s flags (src/config/ maps every config key onto one of them). */
export const RUN_OPTIONS = {
  input: { type: 'string', multiple: true },
  fields: { type: 'string' },
  snapshot: { type: 'string', multiple: true },
  events: { type: 'string', multiple: true },
  'ip-ranges': { type: 'string' },
  index: { type: 'string' },
  dimensions: { type: 'string' },
  'keep-ports': { type: 'string' },
  window: { type: 'string' },
  lateness: { type: 'string' },
  'flush-interval': { type: 'string' },
  workers: { type: 'string' },
  sink: { type: 'string' },
  out: { type: 'string' },
  db: { type: 'string' },
  'query-listen': { type: 'string' },
  'druid-stream': { type: 'string' },
  'druid-endpoint': { type: 'string' },
  'druid-region': { type: 'string' },
  'druid-url': { type: 'string' },
  'druid-datasource': { type: 'string' },
  'checkpoint-dir': { type: 'string' },
  'no-resume': { type: 'boolean' },
  'no-heartbeats': { type: 'boolean' },
  rollup: { type: 'string' },
  quiet: { type: 'boolean' },
  kinesis: { type: 'string' },
  endpoint: { type: 'string' },
  region: { type: 'string' },
  from: { type: 'string' },
  'stop-when-caught-up': { type: 'boolean' },
  follow: { type: 'boolean' },
  generate: { type: 'boolean' },
  records: { type: 'string' },
  rate: { type: 'string' },
  seed: { type: 'string' },
  'ops-listen': { type: 'string' },
  'log-format': { type: 'string' },
  'log-level': { type: 'string' },

} as const;

/**
 * `dredge run [--config FILE] …`: the config file and DREDGE_* variables become flags placed before the
 * command line's, so explicit flags win (src/config/). Usage errors name the config key a flag came from.
 */
export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const { config, rest, argv: full } = loadRunConfig(argv);
  // A signal while the run starts (index, store, workers: seconds on a big inventory) is kept and acted
  // on once the run can drain: without this handler Node's default would end the process with 143.
  const early: EarlySignal = { sig: null, log: null };
  const latch = (sig: NodeJS.Signals): void => {
    early.sig ??= sig;
  };
  process.on('SIGINT', latch);
  process.on('SIGTERM', latch);
  try {
    return await runFlags(config, rest, full, early);
  } catch (e) {
    if (e instanceof CliUsageError) throw new CliUsageError(annotateFlags(config, e.message));
    // With JSON logs the error that ends the run is a log line too (a collector sees why it stopped).
    if (e instanceof DredgeError && early.log !== null && early.log.json && early.log.logger.isLevelEnabled('fatal')) {
      early.log.logger.fatal({ event: 'fatal', code: e.code, retriable: e.retriable }, e.message);
      e.logged = true;
    }
    throw e;
  } finally {
    process.off('SIGINT', latch);
    process.off('SIGTERM', latch);
  }
}

/** What run() shares with runFlags: a signal caught while the run starts, and the logger once it has started. */
interface EarlySignal {
  sig: NodeJS.Signals | null;
  /** The run's logger once made (run() logs a fatal error through it). */
  log: { logger: Logger; json: boolean } | null;
}

/** Test hook: DREDGE_TEST_STALL_DRAIN_MS holds the drain after a first signal that long (a stuck sink), so a test can send the second one inside it. */
const STALL_DRAIN_MS = Number(process.env.DREDGE_TEST_STALL_DRAIN_MS ?? 0);

async function runFlags(config: LoadedConfig, cliArgv: string[], argv: string[], early: EarlySignal): Promise<number> {
  const parsed = parseCli(argv, RUN_OPTIONS, HELP);
  // Lists (inputs, snapshots, events) from the command line replace the config file's; inputs may also
  // follow the options (`dredge run … samples/*.log`), so a shell glob works.
  const lists = mergeRunLists(config, cliArgv, parsed.values, parsed.positionals);
  const values = { ...parsed.values, snapshot: lists.snapshot, events: lists.events };
  const inputs = lists.input;
  const stream = values.kinesis;
  const generate = values.generate === true;
  if (generate && inputs.length > 0) throw new CliUsageError('--generate and --input are two sources: give one of them (run one dredge per source)');
  if (generate && stream !== undefined) throw new CliUsageError('--generate and --kinesis are two sources: give one of them (run one dredge per source)');
  if (stream !== undefined && inputs.length > 0) throw new CliUsageError('give either --kinesis STREAM or --input PATH…, not both (run one dredge per source)');
  if (stream === undefined && inputs.length === 0 && !generate) throw new CliUsageError(`--input PATH (a file, a directory, or - for stdin) or --kinesis STREAM is required (or --generate: built-in traffic)\n\n${HELP}`);
  if (!generate) {
    for (const f of ['records', 'rate', 'seed'] as const) if (values[f] !== undefined) throw new CliUsageError(`--${f} is a generator option; add --generate`);
  }
  const records = values.records !== undefined ? wholeNumber('--records', values.records, 0, 1, Number.MAX_SAFE_INTEGER) : undefined;
  const rateLimit = values.rate !== undefined ? flowRate(values.rate) : undefined;
  const seed = wholeNumber('--seed', values.seed, DEFAULT_TRAFFIC.seed, 0, 0xffffffff);
  if (stream === undefined) {
    for (const f of ['endpoint', 'region', 'from', 'stop-when-caught-up'] as const) if (values[f] !== undefined) throw new CliUsageError(`--${f} is a Kinesis option; add --kinesis STREAM`);
  }
  const from = parseFrom(values.from);
  const follow = values.follow === true;
  if (follow && stream !== undefined) throw new CliUsageError('--follow is for files and folders; a Kinesis stream is always followed');
  if (follow && generate) throw new CliUsageError('--follow is for files and folders; --generate runs until --records N or a signal');
  if (follow && inputs.includes('-')) throw new CliUsageError('--follow watches files and folders for new files; stdin is read to its end anyway');
  const listen = parseListen(values['query-listen']);
  const logFormat = resolveLogFormat(values['log-format'], process.stderr.isTTY === true);
  const log = createLog({ format: logFormat, level: checkLogLevel(values['log-level']) });
  if (values['ops-listen'] !== undefined) parseListen(values['ops-listen'], '--ops-listen');
  if (!generate && (values.snapshot ?? []).length === 0 && values.index === undefined && values['ip-ranges'] === undefined) {
    throw new CliUsageError('an inventory is required to enrich flows: --snapshot FILE (or --index FILE from `dredge index build`)');
  }
  // `--out DIR` alone means the ndjson sink (the only one that writes a directory).
  const sinkName = values.sink ?? (values.out !== undefined ? 'ndjson' : 'duckdb');
  if (!['ndjson', 'duckdb', 'druid', 'druid-sql'].includes(sinkName)) throw new CliUsageError(`--sink takes duckdb (the default, --db FILE), ndjson (--out DIR), druid (--druid-stream S) or druid-sql (--druid-url URL), got "${sinkName}"`);
  if (sinkName === 'druid' && values['druid-stream'] === undefined) throw new CliUsageError('--sink druid needs --druid-stream STREAM: the Kinesis stream Druid ingests (dredge druid-spec prints its supervisor spec)');
  if (sinkName === 'druid-sql' && values['druid-url'] === undefined) throw new CliUsageError('--sink druid-sql needs --druid-url URL: the Druid router, e.g. http://localhost:8888');
  for (const f of ['druid-stream', 'druid-endpoint', 'druid-region'] as const) if (values[f] !== undefined && sinkName !== 'druid') throw new CliUsageError(`--${f} is for --sink druid`);
  for (const f of ['druid-url', 'druid-datasource'] as const) if (values[f] !== undefined && sinkName !== 'druid-sql') throw new CliUsageError(`--${f} is for --sink druid-sql`);
  if (values['checkpoint-dir'] !== undefined && !sinkName.startsWith('druid')) throw new CliUsageError(`--checkpoint-dir is for the druid sinks; ${sinkName === 'duckdb' ? 'the duckdb sink keeps checkpoints in its store' : 'the ndjson sink keeps checkpoints.json in --out'}`);
  if (sinkName.startsWith('druid') && (values.out !== undefined || values.db !== undefined)) throw new CliUsageError(`--out and --db are for the ndjson and duckdb sinks, not --sink ${sinkName}`);
  if (sinkName === 'ndjson' && values.out === undefined) throw new CliUsageError('--out DIR is required with --sink ndjson');
  if (sinkName === 'duckdb' && values.out !== undefined) throw new CliUsageError(`--out is for --sink ndjson; the duckdb sink writes to --db FILE (default ./${DEFAULT_DB})`);
  if (sinkName === 'ndjson' && values.db !== undefined) throw new CliUsageError('--db is for --sink duckdb; the ndjson sink writes under --out DIR');
  if (values.fields !== undefined) FlowFormat.parse(values.fields);
  let workers: number | undefined;
  if (values.workers !== undefined) {
    workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new CliUsageError(`--workers takes a whole number from 1 to 256, got "${values.workers}"`);
  }
  const rollup = values.rollup ?? 'window';
  if (rollup !== 'window' && rollup !== 'none') throw new CliUsageError(`--rollup takes none (every flow enriched, flows-NNNNNN.ndjson) or window (the default: rollups), got "${rollup}"`);
  if (rollup === 'none' && sinkName !== 'ndjson') throw new CliUsageError('--rollup none writes enriched flows as NDJSON: add --sink ndjson --out DIR');
  const keepPorts = values['keep-ports'] !== undefined ? parsePortList(values['keep-ports']) : [];
  const windowSeconds = duration(values.window, '--window', 60);
  const latenessSeconds = duration(values.lateness, '--lateness', 600);
  const flushMs = duration(values['flush-interval'], '--flush-interval', 10) * 1000;

  const t0 = performance.now();
  const sourceName = stream !== undefined ? `kinesis:${stream}` : generate ? `generator:${seed}` : inputs.join(', ');
  log.info(
    { event: 'start', source: sourceName, sink: sinkName, dimensions: values.dimensions ?? DEFAULT_DIMENSIONS, window_s: windowSeconds, flush_interval_ms: flushMs, workers: workers ?? null },
    `starting: ${sourceName} → ${sinkName} sink, windows of ${windowSeconds} s, a flush every ${flushMs / 1000} s`,
  );
  // From here on the run has started: an error that ends it is its last log line (run() logs it).
  early.log = { logger: log, json: logFormat === 'json' };
  // Generated traffic is enriched with its own inventory (built here, as `dredge generate` writes it)
  // unless the user names one.
  const world = generate && (values.snapshot ?? []).length === 0 && values.index === undefined ? buildWorld(generatedShape(seed)) : null;
  const { view: index, builder } = loadIndex(values, world);
  // Heartbeats need an inventory that maps interfaces/instances to owners (interface_id/instance_id
  // columns); without one a heartbeat could not name an owner, so none are collected.
  const heartbeats = builder !== null && builder.mapsInterfaces && values['no-heartbeats'] !== true;
  let refresh = heartbeats ? new IndexRefresh(builder) : null;
  const dimensions = values.dimensions ?? DEFAULT_DIMENSIONS;
  const opened = await openSink(sinkName, values, planKey(dimensions, keepPorts), windowSeconds, rollup);
  const { sink, where } = opened;
  // While this run holds the store, it answers `dredge query` (DESIGN.md §9). Stopped before the sink closes.
  let queries: { server: QueryServer; store: DuckDBStore } | null = null;
  const stopQueries = async (): Promise<void> => {
    const q = queries;
    queries = null;
    if (q === null) return;
    await q.server.close();
    q.store.close();
  };
  if (sink instanceof DuckDbSink && listen !== null) {
    try {
      const store = DuckDBStore.overConnection(sink.path, await sink.connectReader());
      queries = { server: await startQueryServer({ db: sink.path, source: store, ...listen }), store };
    } catch (e) {
      await sink.close();
      throw e;
    }
  }
  // The pipeline saves through this wrapper, so a source can learn when its positions are durable.
  const checkpointTimes = timedCheckpoints(opened.checkpoints);
  let onDurable: (p: readonly SourcePosition[]) => void = () => undefined;
  const checkpoints: CheckpointStore = {
    load: () => checkpointTimes.load(),
    save: async (p) => {
      await checkpointTimes.save(p);
      onDurable(p);
    },
  };
  let pipeline: Pipeline;
  let resume: Map<string, SourcePosition>;
  // SIGINT/SIGTERM wake the generator when it waits for records to fall due.
  const stopSource = new AbortController();
  let generator: GeneratorSource | null = null;
  try {
    resume = values['no-resume'] === true ? new Map() : await checkpoints.load();
    if (generate) {
      generator = new GeneratorSource({
        seed,
        resume,
        signal: stopSource.signal,
        ...(records !== undefined ? { records } : {}),
        ...(rateLimit !== undefined ? { rate: rateLimit } : {}),
        ...(values.fields !== undefined ? { format: FlowFormat.parse(values.fields) } : {}),
      });
    }
    pipeline = new Pipeline({
      sink,
      index,
      checkpoints,
      dimensions,
      keepPorts,
      windowSeconds,
      latenessSeconds,
      flushIntervalMs: flushMs,
      rollup,
      ...(heartbeats ? { onHeartbeats: (c: HeartbeatCandidates) => refresh?.apply(c) } : {}),
      ...(workers !== undefined ? { workers } : {}),
      ...(values.fields !== undefined ? { fields: values.fields } : {}),
    });
  } catch (e) {
    await stopQueries();
    await sink.close().catch(() => undefined);
    throw e;
  }
  const paths = stream === undefined ? await listInputs(inputs) : [];
  const progress: FileProgress = { bytesRead: 0, bytesTotal: 0, files: 0 };
  // A shard's checkpoint is stored as `kinesis:<stream>/<shard id>`: one store can hold several streams
  // (and files) without their shard ids colliding.
  const shardKey = `kinesis:${stream ?? ''}/`;
  const kinesis =
    stream !== undefined
      ? new KinesisSource({
          client: makeKinesisClient({ ...(values.endpoint !== undefined ? { endpoint: values.endpoint } : {}), ...(values.region !== undefined ? { region: values.region } : {}) }),
          stream,
          from,
          positions: unprefixed(resume, shardKey),
          stopWhenCaughtUp: values['stop-when-caught-up'] === true,
          // A parent's SHARD_END must be checkpointed before its children start: flush now, not at the next interval.
          onShardEnd: () => void pipeline.flush().catch(() => undefined),
          ...(values.quiet === true ? {} : { log: (m: string) => log.info({ event: 'kinesis' }, m) }),
        })
      : null;
  // Children wait for their parents' SHARD_END checkpoints: tell the source each time positions are durable.
  if (kinesis !== null) onDurable = (p) => kinesis.checkpointed([...unprefixed(new Map(p.map((x) => [x.key, x])), shardKey).values()]);
  // SIGINT/SIGTERM: stop reading, then the normal close (drain, flush, checkpoint). A second one exits now.
  let stopping = false;
  let wakeFollow: () => void = () => undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ event: 'signal', signal: sig, again: true }, `${sig} again, exiting without a final flush (the last checkpoint stands)`);
      process.exit(130);
    }
    stopping = true;
    wakeFollow();
    stopSource.abort();
    log.info({ event: 'signal', signal: sig }, `${sig}: finishing the batches in flight, flushing and checkpointing (again to exit at once)`);
    void kinesis?.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (early.sig !== null) onSignal(early.sig);
  const tty = process.stderr.isTTY === true && values.quiet !== true;
  const started = performance.now();
  const bar = tty
    ? setInterval(() => {
        const s = pipeline.stats;
        const el = (performance.now() - started) / 1000;
        const gen = generator;
        if (gen !== null && gen.records === undefined) {
          process.stderr.write(`\r${gen.emitted} records generated, ${s.records} read, ${rate(s.flows / Math.max(el, 0.001))} flows/s   `);
          return;
        }
        // Files: bytes read of the total; generated: records of --records (from where this run resumed).
        const total = gen?.records;
        const frac = gen !== null && total !== undefined ? (gen.emitted - gen.resumedAt) / Math.max(1, total - gen.resumedAt) : progress.bytesTotal > 0 ? progress.bytesRead / progress.bytesTotal : 0;
        const eta = frac > 0.01 ? el / frac - el : NaN;
        const width = 24;
        const filled = Math.round(frac * width);
        if (kinesis !== null) {
          const sh = kinesis.shards();
          const behind = Math.max(0, ...sh.map((x) => x.millisBehindLatest ?? 0));
          process.stderr.write(`\r${sh.filter((x) => x.state === 'PROCESSING').length}/${sh.length} shards reading, ${s.records} records, ${rate(s.flows / Math.max(el, 0.001))} flows/s, max ${behind} ms behind   `);
          return;
        }
        const done = gen !== null ? `${gen.emitted}/${total} generated` : `${mb(progress.bytesRead)}/${mb(progress.bytesTotal)} MB`;
        process.stderr.write(
          `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${s.records} records, ${done}, ${rate(s.flows / Math.max(el, 0.001))} flows/s, ETA ${Number.isFinite(eta) ? `${eta.toFixed(0)} s` : '?'}   `,
        );
      }, 250)
    : null;
  const refresher = refresh !== null ? setInterval(() => refresh?.refresh(pipeline), flushMs) : null;
  // Index inputs reloaded without a restart (issue #7): on SIGHUP, and when a long-running run sees one
  // of them change. A file that no longer loads is reported and the index in use is kept.
  const indexFiles = [...(values.snapshot ?? []), ...(values.events ?? []), ...(values['ip-ranges'] !== undefined ? [values['ip-ranges']] : []), ...(values.index !== undefined ? [values.index] : [])];
  const mtimes = (): string => indexFiles.map(mtimeOf).join(',');
  let lastMtimes = mtimes();
  const reloadIndex = (why: string): void => {
    lastMtimes = mtimes();
    try {
      const next = loadIndex(values, world);
      pipeline.setIndex(next.view);
      if (heartbeats && next.builder !== null && next.builder.mapsInterfaces) refresh = new IndexRefresh(next.builder);
      log.info({ event: 'index.reload', why, files: indexFiles, generation: next.view.generation }, `${why}: index reloaded from ${indexFiles.join(', ')} (generation ${next.view.generation}); batches from now on use it`);
    } catch (e) {
      log.error({ event: 'index.reload_failed', why, files: indexFiles, error: (e as Error).message }, `${why}: the index inputs did not load, keeping the index in use: ${(e as Error).message}`);
    }
  };
  const onHup = (): void => reloadIndex('SIGHUP');
  process.on('SIGHUP', onHup);
  const longRunning = follow || (kinesis !== null && values['stop-when-caught-up'] !== true) || (generator !== null && generator.records === undefined);
  const watcher = longRunning
    ? setInterval(() => {
        if (mtimes() !== lastMtimes) reloadIndex('index inputs changed');
      }, INDEX_POLL_MS)
    : null;
  watcher?.unref();
  // Operations: Prometheus /metrics, /healthz, /readyz. On by default for long runs (127.0.0.1:9464, or a
  // free port when that one is taken); one-shot runs only when --ops-listen is given.
  const ops = await startOps(values['ops-listen'], longRunning, {
    metrics: new DredgeMetrics({
      pipeline: () => pipeline.stats,
      ...(kinesis !== null ? { shards: () => kinesis.shards() } : {}),
      index: () => pipeline.index,
      sink: () => sinkStats(sink),
      lastCheckpointMs: () => checkpointTimes.lastSaveMs,
    }),
    ready: readiness({ sink, pipeline: () => pipeline.failure, ...(kinesis !== null ? { kinesis } : {}) }),
  });
  if (ops !== null && values.quiet !== true) log.info({ event: 'ops', url: ops.url }, `metrics and health at ${ops.url} (/metrics, /healthz, /readyz)`);
  let stats: PipelineStats;
  try {
    if (kinesis !== null) await kinesis.run((b) => pipeline.submit(b.position === undefined ? b : { ...b, position: { ...b.position, key: shardKey + b.position.key } }));
    else if (generator !== null) {
      for await (const batch of generator.batches()) {
        await pipeline.submit(batch);
        if (stopping) break;
      }
    } else {
      // --follow: after the inputs, new files under the input folders are read as they appear, until a signal.
      const seen = new Set<string>();
      const newFiles = async (): Promise<string[]> => {
        while (!stopping) {
          await new Promise<void>((r) => {
            wakeFollow = r;
            setTimeout(r, FOLLOW_POLL_MS);
          });
          const todo = stopping ? [] : (await listInputs(inputs)).filter((p) => !seen.has(p));
          if (todo.length > 0) return todo;
        }
        return [];
      };
      for (let todo = paths; ; todo = await newFiles()) {
        for (const p of todo) seen.add(p);
        for await (const batch of readFiles(todo, { resume, fixedFields: values.fields !== undefined }, progress)) {
          await pipeline.submit(batch);
          if (stopping) break;
        }
        if (!follow || stopping) break;
      }
    }
    if (stopping && STALL_DRAIN_MS > 0) await new Promise((r) => setTimeout(r, STALL_DRAIN_MS));
    await stopQueries();
    stats = await pipeline.close();
  } catch (e) {
    await stopQueries();
    await pipeline.abort().catch(() => undefined);
    throw e;
  } finally {
    await ops?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (refresher !== null) clearInterval(refresher);
    if (watcher !== null) clearInterval(watcher);
    process.off('SIGHUP', onHup);
    if (bar !== null) {
      clearInterval(bar);
      process.stderr.write('\r\x1b[K');
    }
  }
  for (const e of pipeline.errors.slice(0, 20)) {
    log.warn({ event: 'malformed', source: e.source, line: e.line === 0 ? null : e.line, reason: e.reason }, `${e.source}:${e.line === 0 ? '' : `${e.line}: `}${e.reason}`);
  }
  if (stats.malformed > 20) log.warn({ event: 'malformed.more', count: stats.malformed - 20 }, `… ${stats.malformed - 20} more malformed lines`);
  if (kinesis !== null) {
    for (const sh of kinesis.shards()) {
      log.info(
        { event: 'shard', shard: sh.id, state: sh.state, records: sh.records, millis_behind: sh.millisBehindLatest ?? null, checkpoint: sh.checkpoint ?? null, get_records: sh.getRecordsCalls, throttles: sh.throttles, retried: sh.transientErrors, expired_iterators: sh.expiredIterators },
        `${sh.id}: ${sh.state}, ${sh.records} records, ${sh.millisBehindLatest ?? '?'} ms behind, checkpoint ${sh.checkpoint ?? 'none'}, ${sh.getRecordsCalls} GetRecords, ${sh.throttles} throttled, ${sh.transientErrors} retried, ${sh.expiredIterators} expired iterators`,
      );
    }
  }
  if (generator !== null) {
    const g = generator;
    const span = g.emitted > g.resumedAt ? `records ${g.resumedAt + 1} to ${g.emitted} of the stream` : g.records !== undefined && g.emitted >= g.records ? `all ${g.records} records of the stream were checkpointed before` : 'none';
    const from = g.resumedAt > 0 ? `; resumed from the checkpoint after record ${g.resumedAt}` : '';
    log.info(
      { event: 'generator', source: g.key, records: g.emitted - g.resumedAt, resumed_at: g.resumedAt, emitted: g.emitted },
      `${g.key}: ${g.emitted - g.resumedAt} records this run (${span}${from})${world !== null ? `; enriched with the generated inventory of seed ${seed}` : ''}`,
    );
  }
  if (refresh !== null) {
    log.info({ event: 'heartbeats', ...refresh.stats }, `heartbeats: ${refresh.stats.recorded} of ${refresh.stats.candidates} candidates recorded, ${refresh.stats.generations} new index generations`);
  }
  const wallMs = performance.now() - t0;
  if (stats.lookupsJs > 0) {
    // 3-7×: `npm run bench -- index`, "WebAssembly ≥ 1.5× the JS path", measured 3.5-6.8
    const why = jsLookupReason();
    log.warn({ event: 'index.js_lookups', lookups: stats.lookupsJs, why }, `${stats.lookupsJs} address lookups ran in the index's JS path, 3-7× slower than its WebAssembly: ${why}`);
  }
  log.info(
    {
      event: 'summary',
      flows: stats.flows,
      records: stats.records,
      without_data: stats.nodata + stats.skipdata,
      malformed: stats.malformed,
      late_flows: stats.late.flows,
      unattributed_sides: stats.unattributedSrc + stats.unattributedDst,
      rows: stats.rowsFlushed,
      flushes: stats.flushes,
      wall_ms: Math.round(wallMs),
      output: where,
    },
    `${summaryLine(stats, wallMs)}; output in ${where}`,
  );
  return 0;
}
