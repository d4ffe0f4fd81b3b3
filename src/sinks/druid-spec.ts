// The Druid side of the Druid sinks (DESIGN.md §5, issue #6): the datasource schema that both the Kinesis
// supervisor spec (`dredge druid-spec`) and the SQL INSERT of the `druid-sql` sink produce, so a datasource
// looks the same whichever way it was loaded. Pure: no I/O.
//
// The datasource (one row per window × key after Druid's rollup):
//
//   __time        window_start (timestampSpec: column window_start, format iso)
//   <dimensions>  every configured dimension under its configured name (`src.app` stays `src.app`);
//                 text dimensions as string, ports and protocol as long
//   src.reason, dst.reason   string
//   count         longSum-able count of the delta rows rolled into the stored row (query: SUM("count"))
//   flows, packets, bytes    longSum of the deltas
//   row_ids       hyperUnique of row_id (see below)
//
// Rollup is on with queryGranularity = the window, so every delta of one window and key merges into one
// stored row and `SUM` at query time needs no GROUP BY window arithmetic. row_id is therefore NOT a
// dimension: it differs in every delta, and a dimension that differs in every input row means nothing
// ever merges. With dimensions listed explicitly Druid ingests only those ("normal" interpretation of
// dimensionsSpec: other input fields are ignored), so row_id reaches the datasource only as the input
// of the `row_ids` hyperUnique metric: `SUM("count") - APPROX_COUNT_DISTINCT_BUILTIN("row_ids")` over a
// time range estimates how many delta rows arrived twice (a replay after a crash or an ambiguous
// PutRecords retry). HyperLogLog is approximate (a few percent at scale, and a rare one-off at tiny
// counts), so it flags replays, it cannot name them. `rowIdDimension: true` makes row_id a string
// dimension instead: rollup then merges only identical rows (a replayed delta and its original, which
// share every dimension and the row_id), `SUM("count") > 1 GROUP BY row_id` names each duplicate
// exactly, and storage grows by the number of flushes that touch a window.
//
// Names with dots: with no flattenSpec the json inputFormat discovers root-level fields by their key
// (`useFieldDiscovery` defaults to true) and a dot in a key is not a path, so `src.app` is read as is;
// Druid's own Kafka/Kinesis metadata columns (`kinesis.timestamp`) are dotted the same way. In Druid SQL
// such columns are quoted: SELECT "src.app".

import { dimensionValueKind } from '../aggregate/decode-rows.js';
import { planKey } from '../aggregate/dimensions.js';
import { DredgeError } from '../errors.js';

export const DEFAULT_DATASOURCE = 'dredge_flows';
/** Metric columns beside the sums (the sums keep the input names flows/packets/bytes). */
export const COUNT_METRIC = 'count';
export const ROW_IDS_METRIC = 'row_ids';

export interface DruidColumn {
  name: string;
  type: 'string' | 'long';
}

/** The dimension columns of the datasource, in order: the configured dimensions, then the two reasons. */
export function druidDimensions(dimensions: string | readonly string[], rowIdDimension = false): DruidColumn[] {
  const spec = typeof dimensions === 'string' ? dimensions : dimensions.join(',');
  const plan = planKey(spec);
  const cols: DruidColumn[] = plan.dims.map((d) => ({ name: d.name, type: dimensionValueKind(d) === 'number' ? 'long' : 'string' }));
  cols.push({ name: 'src.reason', type: 'string' }, { name: 'dst.reason', type: 'string' });
  if (rowIdDimension) cols.push({ name: 'row_id', type: 'string' });
  return cols;
}

export type DruidGranularity = string | { type: 'duration'; duration: number };

/** Druid's simple granularity names for the windows that have one (any Druid version since 0.x). */
const SIMPLE: ReadonlyMap<number, string> = new Map([
  [1, 'second'],
  [60, 'minute'],
  [900, 'fifteen_minute'],
  [1800, 'thirty_minute'],
  [3600, 'hour'],
  [86400, 'day'],
]);

/**
 * queryGranularity and segmentGranularity for a window. A window without a simple name becomes a
 * duration granularity, whose buckets count from 1970-01-01T00:00Z exactly as dredge's windows do
 * (floor(start / window) · window); a period granularity would truncate within the hour/day instead.
 * Segments: an hour for windows up to an hour, a day up to a day, a month up to 28 days.
 */
export function druidGranularities(windowSeconds: number): { query: DruidGranularity; segment: 'hour' | 'day' | 'month' } {
  const ms = windowSeconds * 1000;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new DredgeError('DREDGE_ERR_CONFIG', `--window must be a positive whole number of milliseconds for Druid, got ${windowSeconds} s`);
  if (windowSeconds > 28 * 86400) throw new DredgeError('DREDGE_ERR_CONFIG', `--window ${windowSeconds} s is longer than 28 days; Druid segments (month) could not hold whole windows: choose a shorter window`);
  const query = SIMPLE.get(windowSeconds) ?? { type: 'duration' as const, duration: ms };
  return { query, segment: windowSeconds <= 3600 ? 'hour' : windowSeconds <= 86400 ? 'day' : 'month' };
}

export interface DruidSpecOptions {
  /** The Kinesis stream the druid sink writes. */
  stream: string;
  /** Druid datasource (default dredge_flows). */
  datasource?: string;
  /** `--dimensions` as given (names separated by commas and/or spaces) or as a list. */
  dimensions: string | readonly string[];
  windowSeconds: number;
  /** Kinesis endpoint Druid should read from; default `kinesis.<region>.amazonaws.com`. */
  endpoint?: string;
  /** AWS region of the stream (default us-east-1, Druid's own default). */
  region?: string;
  /** row_id as a dimension (exact replay detection, less rollup); default: only the row_ids metric. */
  rowIdDimension?: boolean;
}

/** Druid's Kinesis endpoint host for a region (China regions live under amazonaws.com.cn). */
export function kinesisEndpointFor(region: string): string {
  return `kinesis.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/**
 * The Kinesis supervisor spec (POST /druid/indexer/v1/supervisor) that loads the druid sink's stream
 * into the datasource described at the top of this file. Key order is fixed (golden-file tested).
 */
export function druidSpec(o: DruidSpecOptions): Record<string, unknown> {
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(o.stream)) throw new DredgeError('DREDGE_ERR_CONFIG', `"${o.stream}" is not a Kinesis stream name (1–128 of A–Z a–z 0–9 _ . -)`);
  const datasource = o.datasource ?? DEFAULT_DATASOURCE;
  checkDatasource(datasource);
  const region = o.region ?? 'us-east-1';
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) throw new DredgeError('DREDGE_ERR_CONFIG', `"${region}" is not an AWS region name such as us-east-1`);
  const g = druidGranularities(o.windowSeconds);
  const rowIdDim = o.rowIdDimension === true;
  const metrics: Record<string, unknown>[] = [
    { type: 'count', name: COUNT_METRIC },
    { type: 'longSum', name: 'flows', fieldName: 'flows' },
    { type: 'longSum', name: 'packets', fieldName: 'packets' },
    { type: 'longSum', name: 'bytes', fieldName: 'bytes' },
  ];
  if (!rowIdDim) metrics.push({ type: 'hyperUnique', name: ROW_IDS_METRIC, fieldName: 'row_id' });
  return {
    type: 'kinesis',
    spec: {
      dataSchema: {
        dataSource: datasource,
        timestampSpec: { column: 'window_start', format: 'iso' },
        dimensionsSpec: {
          dimensions: druidDimensions(o.dimensions, rowIdDim).map((c) => (c.type === 'string' ? c.name : { type: c.type, name: c.name })),
        },
        metricsSpec: metrics,
        granularitySpec: { type: 'uniform', segmentGranularity: g.segment, queryGranularity: g.query, rollup: true },
      },
      ioConfig: {
        type: 'kinesis',
        stream: o.stream,
        endpoint: o.endpoint !== undefined && o.endpoint !== '' ? o.endpoint : kinesisEndpointFor(region),
        // Many rows per record, one JSON object per line: the json inputFormat reads every object of a
        // streaming record; assumeNewlineDelimited confines a parse error to its own line.
        inputFormat: { type: 'json', assumeNewlineDelimited: true },
        useEarliestSequenceNumber: true,
        taskCount: 1,
        replicas: 1,
        taskDuration: 'PT1H',
      },
      tuningConfig: { type: 'kinesis' },
    },
  };
}

/** Druid refuses empty datasource names, names starting with `.`, and names with `/` or whitespace other than space. */
export function checkDatasource(name: string): void {
  if (name === '' || name.startsWith('.') || /[/\t\n\r]/.test(name)) {
    throw new DredgeError('DREDGE_ERR_CONFIG', `"${name}" is not a Druid datasource name: give a non-empty name without "/", tabs or newlines that does not start with "."`);
  }
}

/** Druid's error text from an error answer: `errorMessage` (both the new and the legacy shape), else `error`, else the body. */
export function druidErrorMessage(body: string): string {
  try {
    const j = JSON.parse(body) as { errorMessage?: unknown; error?: unknown; message?: unknown };
    for (const v of [j.errorMessage, j.message, j.error]) if (typeof v === 'string' && v !== '') return v;
  } catch {
    // not JSON: an HTML page from a proxy, or plain text
  }
  const t = body.replace(/\s+/g, ' ').trim();
  return t.length > 500 ? t.slice(0, 500) + '…' : t === '' ? '(empty answer)' : t;
}
