// The named reports of `dredge query` as SQL over `rollups` (DESIGN.md §9): dimension names as users
// write them (`dst.app`, `dst_port`) are mapped to columns and checked against the store's actual
// columns before any identifier reaches SQL; every user value is a `$n` parameter. Rows in the store
// are additive deltas, so every report SUMs. Nothing here fetches: buildQuery → Query, and any
// RowSource (the file, later a daemon over HTTP) runs it.

import { DEFAULT_DIMENSIONS } from '../aggregate/dimensions.js';
import { DredgeError } from '../errors.js';
import { parseDuration, parseTime } from '../index/load/time.js';
import { FIELDS, KIND_ADDR, fieldId, normalizeFieldName } from '../parse/fields.js';
import type { Query, QueryParam, RowSource, Rows, StoreSchema } from './rows.js';

export const REPORTS = {
  'top-talkers': 'the biggest flows of traffic, grouped by --by (default src.app,dst.app)',
  'cross-region': 'traffic between regions (src.region ≠ dst.region), by region pair and app pair',
  'cross-az': 'traffic between availability zones (src.az ≠ dst.az): the bytes that cost money',
  rejected: 'flows rejected by security groups / NACLs (action = REJECT), by app pair, port and protocol',
  internet: 'exposure to public addresses: traffic to or from `internet`, by direction, app, port and protocol',
  unattributed: 'traffic with no owner on a side, by side and reason, with its share of all flows and bytes',
} as const;

export type ReportName = keyof typeof REPORTS;

export function isReport(name: string): name is ReportName {
  return Object.hasOwn(REPORTS, name);
}

export const DEFAULT_LIMIT = 20;

export interface Filter {
  /** A dimension name as the user wrote it. */
  dim: string;
  op: '=' | '!=';
  /** null: the dimension is NULL (no owner). */
  value: string | null;
}

export interface ReportOptions {
  /** Grouping dimensions; replaces the report's default grouping. */
  by?: string[];
  /** A duration counted back from the newest window (`1h`), or a time (ISO-8601, epoch seconds). */
  since?: string;
  until?: string;
  where?: Filter[];
  /** Rows to return; 0 means all. */
  limit?: number;
}

/** A dimension resolved against a store: the name users see, the column that holds it. */
export interface ResolvedDimension {
  name: string;
  column: string;
}

/** The summed columns of every report (and of `query sql` results that keep these names). */
export const METRICS = ['flows', 'packets', 'bytes'];
const NOT_DIMENSIONS: Record<string, string> = {
  flows: 'flows is a metric (summed in every report), not a dimension',
  packets: 'packets is a metric (summed in every report), not a dimension',
  bytes: 'bytes is a metric (summed in every report), not a dimension',
  'log-status': 'log_status is not a dimension: NODATA/SKIPDATA records carry no flow',
};

/** `src_app` → `src.app`: how a column reads as a dimension name in messages. */
function dimensionNameOf(column: string): string {
  const m = /^(src|dst)_(.+)$/.exec(column);
  return m === null ? column : `${m[1]}.${m[2]}`;
}

/** The dimensions a store can answer for, as names (for messages). */
export function storeDimensions(schema: StoreSchema): string[] {
  if (schema.dimensions !== null) return schema.dimensions;
  const skip = new Set(['window_start', 'src_reason', 'dst_reason', ...METRICS]);
  return [...schema.columns.keys()].filter((c) => !skip.has(c)).map(dimensionNameOf);
}

/** The store lacks these dimensions: say which run collects them. */
function missing(names: string[], schema: StoreSchema, why: string, columns?: string[]): DredgeError {
  const configured = storeDimensions(schema);
  const spec = (schema.dimensions ?? (configured.length > 0 ? configured : DEFAULT_DIMENSIONS.split(','))).join(',');
  const cols = columns ?? names.map((n) => n.replace(/[.-]/g, '_').toLowerCase());
  return new DredgeError(
    'DREDGE_ERR_CONFIG',
    `${why}this store has no ${names.join(', ')} (column${cols.length > 1 ? 's' : ''} ${cols.join(', ')}): it was written with ` +
      `--dimensions "${spec}". Run \`dredge run --dimensions "${spec},${names.join(',')}" …\` to collect ${names.length > 1 ? 'them' : 'it'}`,
  );
}

/**
 * Maps a dimension name to its column in this store. Errors: an unknown name lists what the store has;
 * a valid name the run did not collect names the `--dimensions` to run with.
 */
export function resolveDimension(raw: string, schema: StoreSchema, why = ''): ResolvedDimension {
  const name = raw.trim();
  let column: string;
  const side = /^(src|dst)\.([A-Za-z0-9_-]+)$/.exec(name);
  if (side !== null) {
    column = `${side[1]}_${(side[2] as string).replace(/-/g, '_')}`;
  } else if (name === 'window_start' || name === 'window') {
    column = 'window_start';
  } else {
    let field = normalizeFieldName(name).toLowerCase();
    if (field === 'src-port') field = 'srcport';
    if (field === 'dst-port') field = 'dstport';
    const not = NOT_DIMENSIONS[field];
    if (not !== undefined) throw new DredgeError('DREDGE_ERR_CONFIG', `${why}${not}`);
    const id = fieldId(field);
    if (id < 0 || !/^[a-z0-9-]+$/.test(field)) {
      throw new DredgeError(
        'DREDGE_ERR_CONFIG',
        `${why}unknown dimension "${name}". This store has: ${storeDimensions(schema).join(', ')} ` +
          `(src.<key>/dst.<key> for owner metadata, or a flow-log field such as protocol, dstport, action)`,
      );
    }
    if ((FIELDS[id] as { kind: number }).kind === KIND_ADDR) {
      throw new DredgeError('DREDGE_ERR_CONFIG', `${why}${name} is an address, not a dimension; group by its owner instead (src.app, dst.app, src.subnet …)`);
    }
    column = field.replace(/-/g, '_');
  }
  column = column.toLowerCase();
  // Only names of this shape ever reach SQL (quoted), whatever the store claims to hold.
  if (!/^[a-z0-9_]+$/.test(column)) throw new DredgeError('DREDGE_ERR_CONFIG', `${why}"${name}" is not a dimension name`);
  if (!schema.columns.has(column)) throw missing([name], schema, why, [column]);
  return { name, column };
}

/** `"src.app,dst.app"` or `"src.app dst.app"` → names. */
export function splitList(s: string): string[] {
  return s.split(/[\s,]+/).filter((x) => x.length > 0);
}

/** `dst.app=web`, `action!=ACCEPT`, `src.app=` (no owner). */
export function parseFilter(s: string): Filter {
  const m = /^\s*([^=!\s]+)\s*(!=|=)(.*)$/.exec(s);
  if (m === null) throw new DredgeError('DREDGE_ERR_CONFIG', `--where takes <dimension>=<value> or <dimension>!=<value> (empty value: no owner), got "${s}"`);
  const value = (m[3] as string).trim();
  return { dim: m[1] as string, op: m[2] as '=' | '!=', value: value === '' ? null : value };
}

const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 };

function q(column: string): string {
  return `"${column}"`;
}

/** Alias text: names were validated to [A-Za-z0-9_.-] above, so quoting is enough. */
function alias(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

class Builder {
  readonly params: QueryParam[] = [];
  readonly where: string[] = [];

  constructor(readonly schema: StoreSchema) {}

  param(v: QueryParam): string {
    this.params.push(v);
    return `$${this.params.length}`;
  }

  /** The dimensions a report cannot do without; one error names all that are missing. */
  need(report: string, names: string[]): ResolvedDimension[] {
    const absent = names.filter((n) => !this.schema.columns.has(n.replace(/[.-]/g, '_')));
    if (absent.length > 0) throw missing(absent, this.schema, `${report} needs ${names.join(' and ')}; `);
    return names.map((n) => resolveDimension(n, this.schema));
  }

  /** The names from `candidates` this store has (a report's optional grouping). */
  present(candidates: string[]): string[] {
    return candidates.filter((n) => {
      try {
        resolveDimension(n, this.schema);
        return true;
      } catch {
        return false;
      }
    });
  }

  time(since: string | undefined, until: string | undefined): void {
    const bound = (v: string, flag: string, rel: string, abs: string): void => {
      const d = parseDuration(v);
      if (d !== null && !/^\d{9,}(\.\d+)?$/.test(v.trim())) {
        // Relative to the newest window in the store (DESIGN.md §9), so sample data from another day
        // still answers; the newest window itself is the last one of the span.
        this.where.push(`window_start ${rel} (SELECT max(window_start) FROM rollups) - to_seconds(CAST(${this.param(d)} AS DOUBLE))`);
        return;
      }
      const t = parseTime(v);
      if (typeof t !== 'number') throw new DredgeError('DREDGE_ERR_CONFIG', `${flag} takes a duration (30m, 1h, 2d) or a time (2026-11-20T12:00:00Z): ${t.error}`);
      // TIMESTAMP columns hold UTC without a zone: bind the UTC wall time as text.
      const text = new Date(t * 1000).toISOString().replace('T', ' ').replace('Z', '');
      this.where.push(`window_start ${abs} CAST(${this.param(text)} AS TIMESTAMP)`);
    };
    if (since !== undefined) bound(since, '--since', '>', '>=');
    if (until !== undefined) bound(until, '--until', '<=', '<');
  }

  filters(filters: Filter[]): void {
    for (const f of filters) {
      const d = resolveDimension(f.dim, this.schema, '--where: ');
      const col = q(d.column);
      if (f.value === null) {
        this.where.push(`${col} IS ${f.op === '=' ? '' : 'NOT '}NULL`);
        continue;
      }
      const kind = this.schema.columns.get(d.column);
      let v: QueryParam = f.value;
      if (kind === 'integer') {
        const n = d.column === 'protocol' ? (PROTOCOLS[f.value.toLowerCase()] ?? f.value) : f.value;
        if (!/^-?\d+$/.test(String(n))) throw new DredgeError('DREDGE_ERR_CONFIG', `--where: ${f.dim} is a number, got "${f.value}"`);
        this.where.push(`${col} ${f.op === '=' ? '=' : 'IS DISTINCT FROM'} CAST(${this.param(String(n))} AS BIGINT)`);
        continue;
      }
      if (d.column === 'action') v = f.value.toUpperCase();
      if (kind === 'timestamp') {
        const t = parseTime(f.value);
        if (typeof t !== 'number') throw new DredgeError('DREDGE_ERR_CONFIG', `--where: ${t.error}`);
        v = new Date(t * 1000).toISOString().replace('T', ' ').replace('Z', '');
        this.where.push(`${col} ${f.op === '=' ? '=' : 'IS DISTINCT FROM'} CAST(${this.param(v)} AS TIMESTAMP)`);
        continue;
      }
      // `!=` keeps rows where the dimension is NULL: "not web" includes "no owner".
      this.where.push(`${col} ${f.op === '=' ? '=' : 'IS DISTINCT FROM'} ${this.param(v)}`);
    }
  }

  whereSql(extra: string[] = []): string {
    const all = [...extra, ...this.where];
    return all.length === 0 ? '' : `WHERE ${all.join(' AND ')}`;
  }

  limitSql(limit: number | undefined): string {
    const n = limit ?? DEFAULT_LIMIT;
    if (!Number.isSafeInteger(n) || n < 0) throw new DredgeError('DREDGE_ERR_CONFIG', `--limit takes a whole number ≥ 0 (0: all rows), got ${n}`);
    return n === 0 ? '' : `LIMIT ${this.param(n)}`;
  }
}

const SUMS = `SUM(flows) AS flows, SUM(packets) AS packets, SUM(bytes) AS bytes`;

/** Unique by column: `--by dstport,dst_port` groups once. */
function dedupe(dims: ResolvedDimension[]): ResolvedDimension[] {
  const seen = new Set<string>();
  return dims.filter((d) => (seen.has(d.column) ? false : (seen.add(d.column), true)));
}

function groupSelect(dims: ResolvedDimension[]): string {
  return dims.map((d) => `${q(d.column)} AS ${alias(d.name)}`).join(', ');
}

/** Biggest first; ties broken by every output column so the order is the same on every run. */
function orderSql(nKeys: number): string {
  const keys = Array.from({ length: nKeys }, (_, i) => `${i + 1} ASC NULLS LAST`);
  return `ORDER BY bytes DESC, flows DESC${keys.length > 0 ? ', ' + keys.join(', ') : ''}`;
}

/** SQL for one named report over this store's columns. */
export function buildQuery(name: ReportName, opts: ReportOptions, schema: StoreSchema): Query {
  const b = new Builder(schema);
  const by = opts.by;
  if (by !== undefined && by.length === 0) throw new DredgeError('DREDGE_ERR_CONFIG', '--by is empty: name at least one dimension, e.g. --by src.app,dst.app');
  const grouping = (dflt: string[]): ResolvedDimension[] => dedupe((by ?? dflt).map((n) => resolveDimension(n, schema, by === undefined ? `${name} groups by ${n}; ` : '--by: ')));
  const metrics = [...METRICS];

  switch (name) {
    case 'top-talkers':
    case 'cross-region':
    case 'cross-az':
    case 'rejected': {
      let cond: string[] = [];
      let dflt: string[];
      if (name === 'top-talkers') {
        dflt = ['src.app', 'dst.app'];
      } else if (name === 'cross-region' || name === 'cross-az') {
        const key = name === 'cross-region' ? 'region' : 'az';
        const [s, d] = b.need(name, [`src.${key}`, `dst.${key}`]) as [ResolvedDimension, ResolvedDimension];
        cond = [`${q(s.column)} IS NOT NULL`, `${q(d.column)} IS NOT NULL`, `${q(s.column)} <> ${q(d.column)}`];
        dflt = [`src.${key}`, `dst.${key}`, ...b.present(['src.app', 'dst.app'])];
      } else {
        const [a] = b.need(name, ['action']) as [ResolvedDimension];
        cond = [`${q(a.column)} = 'REJECT'`];
        dflt = b.present(['src.app', 'dst.app', 'dstport', 'protocol']);
      }
      const dims = grouping(dflt);
      b.time(opts.since, opts.until);
      b.filters(opts.where ?? []);
      const select = dims.length > 0 ? `${groupSelect(dims)}, ${SUMS}` : SUMS;
      const group = dims.length > 0 ? `GROUP BY ${dims.map((d) => q(d.column)).join(', ')}` : '';
      const sql = `SELECT ${select} FROM rollups ${b.whereSql(cond)} ${group} ${orderSql(dims.length)} ${b.limitSql(opts.limit)}`;
      return { sql: squash(sql), params: b.params, metrics };
    }
    case 'internet': {
      const [s, d] = b.need(name, ['src.app', 'dst.app']) as [ResolvedDimension, ResolvedDimension];
      const dims = grouping(b.present(['dstport', 'protocol']));
      b.time(opts.since, opts.until);
      b.filters(opts.where ?? []);
      const src = q(s.column);
      const dst = q(d.column);
      const direction = `CASE WHEN ${src} = 'internet' AND ${dst} = 'internet' THEN 'transit' WHEN ${src} = 'internet' THEN 'inbound' ELSE 'outbound' END`;
      const app = `CASE WHEN ${src} = 'internet' THEN ${dst} ELSE ${src} END`;
      const extra = dims.length > 0 ? `, ${groupSelect(dims)}` : '';
      const sql =
        `SELECT ${direction} AS direction, ${app} AS app${extra}, ${SUMS} FROM rollups ` +
        `${b.whereSql([`(${src} = 'internet' OR ${dst} = 'internet')`])} GROUP BY ALL ${orderSql(dims.length + 2)} ${b.limitSql(opts.limit)}`;
      return { sql: squash(sql), params: b.params, metrics };
    }
    case 'unattributed': {
      for (const c of ['src_reason', 'dst_reason']) {
        if (!schema.columns.has(c)) throw new DredgeError('DREDGE_ERR_INPUT', `this store has no ${c} column: it was not written by a dredge that records why a side has no owner`);
      }
      const dims = grouping([]);
      b.time(opts.since, opts.until);
      b.filters(opts.where ?? []);
      const extra = dims.length > 0 ? `, ${groupSelect(dims)}` : '';
      const group = dims.length > 0 ? `, ${dims.map((x) => q(x.column)).join(', ')}` : '';
      const part = (side: 'src' | 'dst'): string =>
        `SELECT '${side}' AS side, ${side}_reason AS reason${extra}, ${SUMS} FROM f WHERE ${side}_reason IS NOT NULL GROUP BY ${side}_reason${group}`;
      // Shares are of everything in the same time range and filter; a flow with no owner on either
      // side counts once per side, so src and dst shares are each out of 100%.
      const pct = (m: string): string => `round(100 * CAST(u.${m} AS DOUBLE) / NULLIF(CAST(t.${m} AS DOUBLE), 0), 2) AS ${m}_pct`;
      const cols = ['side', 'reason', ...dims.map((x) => x.name)].map((n) => `u.${alias(n)}`).join(', ');
      const sql =
        `WITH f AS (SELECT * FROM rollups ${b.whereSql()}), t AS (SELECT SUM(flows) AS flows, SUM(bytes) AS bytes FROM f), ` +
        `u AS (${part('src')} UNION ALL ${part('dst')}) ` +
        `SELECT ${cols}, u.flows, u.packets, u.bytes, ${pct('flows')}, ${pct('bytes')} FROM u, t ${orderSql(dims.length + 2)} ${b.limitSql(opts.limit)}`;
      return { sql: squash(sql), params: b.params, metrics, decimals: { flows_pct: 2, bytes_pct: 2 } };
    }
  }
}

function squash(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim();
}

/** Marks the metric and fixed-decimal columns of a result for the table format. */
export function markColumns(rows: Rows, metrics: string[], decimals: Record<string, number> = {}): Rows {
  for (const c of rows.columns) {
    if (metrics.includes(c.name) && (c.kind === 'integer' || c.kind === 'float')) c.metric = true;
    const d = decimals[c.name];
    if (d !== undefined && c.kind === 'float') c.decimals = d;
  }
  return rows;
}

/** Schema → SQL → rows: the whole of a named report over any RowSource. */
export async function runReport(source: RowSource, name: ReportName, opts: ReportOptions): Promise<Rows> {
  const query = buildQuery(name, opts, await source.schema());
  return markColumns(await source.fetch(query), query.metrics, query.decimals);
}
