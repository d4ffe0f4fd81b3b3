// The keys of `dredge.yaml`: one row per key, each mapped 1:1 onto a `dredge run` flag. This table is
// the single source of truth for validation, the environment names (DREDGE_<SECTION>_<KEY>), the argv
// the config turns into, and `dredge config example`. Adding a run flag to the config = adding a row.

import { DEFAULT_DIMENSIONS } from '../aggregate/dimensions.js';
import { LOG_FORMATS, LOG_LEVELS } from '../daemon/log.js';

/**
 * How a key's value is read and checked:
 * - text: a non-empty string (numbers are taken as their text)   - path: a file or directory path
 * - paths: a list of paths (a single string is a list of one)    - url: http(s)://…
 * - names: field/dimension names, a list or one string separated by commas and/or spaces
 * - duration: 60s, 10m, 1h, 1d or bare seconds                  - int: a whole number in [min, max]
 * - bool: true/false                                             - enum: one of `values`
 * - listen: HOST:PORT or off                                     - from: trim-horizon, latest or an ISO time
 * - ports: a list of port numbers (or one string "443, 8443")
 */
export type KeyKind = 'text' | 'path' | 'paths' | 'url' | 'names' | 'duration' | 'int' | 'bool' | 'enum' | 'listen' | 'from' | 'ports';

/** The `dredge run` flags that take several values: the config returns them apart from argv (see mergeRunLists). */
export type ListFlag = 'input' | 'snapshot' | 'events';

export interface ConfigKey {
  /** Dotted path in the YAML document: `sink.druid.url`. */
  readonly key: string;
  /** The `dredge run` flag without dashes (`druid-url`); for a bool, the flag given when the value is `when`. */
  readonly flag: string;
  readonly kind: KeyKind;
  /** bool: the value that turns the flag on (`resume: false` → --no-resume). */
  readonly when?: boolean;
  /** enum: the allowed values. */
  readonly values?: readonly string[];
  /** int: bounds. */
  readonly min?: number;
  readonly max?: number;
  /** duration: the smallest allowed number of seconds (0 or a positive minimum). */
  readonly minSeconds?: number;
  /** The value as it stands in `dredge config example` (YAML text; `~` = not set, the default applies). */
  readonly example: string;
  /** A valid value for messages ("e.g. window: 60s"), in the form a user would write it. */
  readonly sample: string;
  /** One line for the example file: what it does and its default. */
  readonly doc: string;
}

export interface ConfigSection {
  /** Dotted path: `source`, `source.kinesis`. */
  readonly name: string;
  readonly doc: string;
}

export const SECTIONS: readonly ConfigSection[] = [
  { name: 'source', doc: 'where flow logs come from: files (input), one Kinesis stream (kinesis.stream) or the generator (generator.enabled): one of them' },
  { name: 'source.kinesis', doc: 'a Kinesis stream of flow-log records (raw lines, gzip or CloudWatch Logs envelopes)' },
  { name: 'source.generator', doc: 'built-in seeded traffic (what `dredge generate` writes), enriched with its own inventory unless index.* names one' },
  { name: 'index', doc: 'enrichment: the time-aware IP index (snapshot [+ events] [+ ip_ranges], or a prebuilt index)' },
  { name: 'format', doc: 'the flow-log format' },
  { name: 'aggregate', doc: 'rollups: group-by dimensions and time windows' },
  { name: 'engine', doc: 'the worker pool and run behaviour' },
  { name: 'sink', doc: 'where rollups go' },
  { name: 'sink.druid', doc: 'the druid (Kinesis stream Druid ingests) and druid-sql (SQL INSERT tasks) sinks' },
  { name: 'ops', doc: 'operations: metrics and health endpoints, terminal output' },
];

export const KEYS: readonly ConfigKey[] = [
  { key: 'source.input', flag: 'input', kind: 'paths', example: '[flow-logs/]', sample: '[flow-logs/, more/file.log.gz]', doc: 'files (plain, gzip, CloudWatch envelopes), directories (recursively) or - for stdin (--input)' },
  { key: 'source.follow', flag: 'follow', kind: 'bool', when: true, example: 'false', sample: 'true', doc: 'keep running: read new files renamed into the input folders until stopped (--follow)' },
  { key: 'source.kinesis.stream', flag: 'kinesis', kind: 'text', example: '~', sample: 'vpc-flow-logs', doc: 'read every shard of this stream instead of files (--kinesis)' },
  { key: 'source.kinesis.endpoint', flag: 'endpoint', kind: 'url', example: '~', sample: 'http://localhost:4567', doc: 'a Kinesis-compatible endpoint (kinesalite, LocalStack); default: AWS (--endpoint)' },
  { key: 'source.kinesis.region', flag: 'region', kind: 'text', example: '~', sample: 'eu-west-1', doc: 'AWS region; default: the SDK chain, AWS_REGION (--region)' },
  { key: 'source.kinesis.from', flag: 'from', kind: 'from', example: '~', sample: 'latest', doc: 'trim-horizon (default), latest or an ISO time: where a shard without a checkpoint starts (--from)' },
  { key: 'source.kinesis.stop_when_caught_up', flag: 'stop-when-caught-up', kind: 'bool', when: true, example: 'false', sample: 'true', doc: 'end once every shard is read to its tip and flushed (--stop-when-caught-up)' },
  { key: 'source.generator.enabled', flag: 'generate', kind: 'bool', when: true, example: 'false', sample: 'true', doc: 'read generated traffic instead of files or a stream (--generate)' },
  { key: 'source.generator.records', flag: 'records', kind: 'int', min: 1, max: Number.MAX_SAFE_INTEGER, example: '~', sample: '1000000', doc: 'stop after this many records of the stream; default: run until stopped (--records)' },
  { key: 'source.generator.rate', flag: 'rate', kind: 'int', min: 1, max: 1_000_000_000, example: '~', sample: '50000', doc: 'records per second in real time; default: as fast as they are taken (--rate)' },
  { key: 'source.generator.seed', flag: 'seed', kind: 'int', min: 0, max: 0xffffffff, example: '~', sample: '42', doc: "the stream's seed, 0 to 4294967295; default 42; checkpointed as generator:<seed> (--seed)" },
  { key: 'index.snapshot', flag: 'snapshot', kind: 'paths', example: '[inventory.csv]', sample: '[inventory.csv]', doc: 'inventory CSV or NDJSON files (--snapshot)' },
  { key: 'index.events', flag: 'events', kind: 'paths', example: '[]', sample: '[events.ndjson]', doc: 'change-event NDJSON files (--events)' },
  { key: 'index.ip_ranges', flag: 'ip-ranges', kind: 'path', example: '~', sample: 'ip-ranges.json', doc: "AWS ip-ranges.json: names AWS services' addresses (--ip-ranges)" },
  { key: 'index.prebuilt', flag: 'index', kind: 'path', example: '~', sample: 'flows.idx', doc: 'a prebuilt index from `dredge index build`, instead of snapshot/events (--index)' },
  { key: 'format.fields', flag: 'fields', kind: 'names', example: '~', sample: '[version, account-id, interface-id, srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, start, end, action, log-status]', doc: "fixed field list; default: each file's header line, else the v2 default format (--fields)" },
  { key: 'aggregate.dimensions', flag: 'dimensions', kind: 'names', example: `[${DEFAULT_DIMENSIONS.split(',').join(', ')}]`, sample: '[src.app, dst.app, protocol, dstport]', doc: 'group-by dimensions: src.<key>/dst.<key> owner metadata or flow-log fields (--dimensions)' },
  { key: 'aggregate.keep_ports', flag: 'keep-ports', kind: 'ports', example: '[]', sample: '[8080, 9000]', doc: 'ports >= 32768 kept as they are in keys (others become 0) (--keep-ports)' },
  { key: 'aggregate.window', flag: 'window', kind: 'duration', minSeconds: 1, example: '60s', sample: '60s', doc: 'window length (--window)' },
  { key: 'aggregate.lateness', flag: 'lateness', kind: 'duration', minSeconds: 0, example: '10m', sample: '10m', doc: 'allowed lateness behind the newest flow: the watermark (--lateness)' },
  { key: 'aggregate.flush_interval', flag: 'flush-interval', kind: 'duration', minSeconds: 1, example: '10s', sample: '10s', doc: 'rows accumulated since the last flush go to the sink this often (--flush-interval)' },
  { key: 'engine.workers', flag: 'workers', kind: 'int', min: 1, max: 256, example: '~', sample: '4', doc: 'worker threads, 1 to 256; default: one per core (--workers)' },
  { key: 'engine.rollup', flag: 'rollup', kind: 'enum', values: ['window', 'none'], example: 'window', sample: 'window', doc: 'window: rollups; none: every flow enriched to flows-NNNNNN.ndjson, needs sink.type ndjson (--rollup)' },
  { key: 'engine.heartbeats', flag: 'no-heartbeats', kind: 'bool', when: false, example: 'true', sample: 'false', doc: "learn owners from the flows' interface/instance ids; false: --no-heartbeats" },
  { key: 'engine.resume', flag: 'no-resume', kind: 'bool', when: false, example: 'true', sample: 'false', doc: 'resume where the last run stopped (saved checkpoints); false: --no-resume' },
  { key: 'sink.type', flag: 'sink', kind: 'enum', values: ['duckdb', 'ndjson', 'druid', 'druid-sql'], example: 'duckdb', sample: 'duckdb', doc: 'duckdb (db), ndjson (out), druid (druid.stream) or druid-sql (druid.url) (--sink)' },
  { key: 'sink.db', flag: 'db', kind: 'path', example: '~', sample: 'dredge.duckdb', doc: 'duckdb: the store file; default ./dredge.duckdb; one running dredge per file (--db)' },
  { key: 'sink.query_listen', flag: 'query-listen', kind: 'listen', example: '127.0.0.1:0', sample: '127.0.0.1:0', doc: 'duckdb: where the run answers `dredge query` (port 0: a free one); off: none (--query-listen)' },
  { key: 'sink.out', flag: 'out', kind: 'path', example: '~', sample: 'rollups/', doc: 'ndjson: output directory, checkpoints.json lives there too (--out)' },
  { key: 'sink.checkpoint_dir', flag: 'checkpoint-dir', kind: 'path', example: '~', sample: 'state/', doc: "druid sinks: where checkpoints.json lives; default . (--checkpoint-dir)" },
  { key: 'sink.druid.stream', flag: 'druid-stream', kind: 'text', example: '~', sample: 'dredge-rollups', doc: 'druid: the Kinesis stream Druid ingests (--druid-stream)' },
  { key: 'sink.druid.endpoint', flag: 'druid-endpoint', kind: 'url', example: '~', sample: 'http://localhost:4567', doc: "druid: that stream's Kinesis-compatible endpoint; default: AWS (--druid-endpoint)" },
  { key: 'sink.druid.region', flag: 'druid-region', kind: 'text', example: '~', sample: 'eu-west-1', doc: "druid: that stream's AWS region (--druid-region)" },
  { key: 'sink.druid.url', flag: 'druid-url', kind: 'url', example: '~', sample: 'http://localhost:8888', doc: 'druid-sql: the Druid router URL (--druid-url)' },
  { key: 'sink.druid.datasource', flag: 'druid-datasource', kind: 'text', example: '~', sample: 'dredge_flows', doc: 'druid-sql: the datasource to INSERT into; default dredge_flows (--druid-datasource)' },
  { key: 'ops.listen', flag: 'ops-listen', kind: 'listen', example: '127.0.0.1:9464', sample: '127.0.0.1:9464', doc: 'Prometheus /metrics, /healthz and /readyz; off: none (--ops-listen)' },
  { key: 'ops.quiet', flag: 'quiet', kind: 'bool', when: true, example: 'false', sample: 'true', doc: 'no progress bar on the terminal (--quiet)' },
  { key: 'ops.log_format', flag: 'log-format', kind: 'enum', values: LOG_FORMATS, example: '~', sample: 'json', doc: 'json: one JSON object per line on stderr; pretty: plain lines; default: pretty on a terminal, else json (--log-format)' },
  { key: 'ops.log_level', flag: 'log-level', kind: 'enum', values: LOG_LEVELS, example: '~', sample: 'warn', doc: 'the least severe level logged; default info (--log-level)' },
];

/** `sink.druid.url` → `DREDGE_SINK_DRUID_URL`. */
export function envName(key: string): string {
  return 'DREDGE_' + key.toUpperCase().replace(/\./g, '_');
}

/**
 * DREDGE_* variables that are not config keys: the config path, and switches read elsewhere in dredge
 * (internal and test hooks). Anything else starting with DREDGE_ that is not a key is an error.
 */
export const OTHER_ENV: ReadonlySet<string> = new Set(['DREDGE_CONFIG', 'DREDGE_WASM', 'DREDGE_SCAN', 'DREDGE_CRASH_POINT', 'DREDGE_TEST_STALL_DRAIN_MS', 'DREDGE_BENCH_QUICK']);

export const LIST_FLAGS: readonly ListFlag[] = ['input', 'snapshot', 'events'];

export const BY_KEY: ReadonlyMap<string, ConfigKey> = new Map(KEYS.map((k) => [k.key, k]));
export const BY_ENV: ReadonlyMap<string, ConfigKey> = new Map(KEYS.map((k) => [envName(k.key), k]));
export const BY_FLAG: ReadonlyMap<string, ConfigKey> = new Map(KEYS.map((k) => [k.flag, k]));

/** The key's name inside its section (`sink.druid.url` → `url`) and its section (`sink.druid`). */
export function splitKey(key: string): { section: string; leaf: string } {
  const i = key.lastIndexOf('.');
  return { section: key.slice(0, i), leaf: key.slice(i + 1) };
}

/** The names allowed directly inside a section (its keys and subsections), in schema order. */
export function childrenOf(section: string): string[] {
  const out: string[] = [];
  const add = (n: string): void => {
    if (!out.includes(n)) out.push(n);
  };
  for (const s of SECTIONS) if (s.name.startsWith(section + '.') && !s.name.slice(section.length + 1).includes('.')) add(s.name.slice(section.length + 1));
  for (const k of KEYS) {
    const { section: sec, leaf } = splitKey(k.key);
    if (sec === section) add(leaf);
  }
  // Keep schema order: keys first as they come in KEYS, subsections where their first key is.
  const order = new Map<string, number>();
  KEYS.forEach((k, i) => {
    if (k.key.startsWith(section + '.')) {
      const child = k.key.slice(section.length + 1).split('.')[0] as string;
      if (!order.has(child)) order.set(child, i);
    }
  });
  return out.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
}

export const TOP_SECTIONS: readonly string[] = SECTIONS.filter((s) => !s.name.includes('.')).map((s) => s.name);
