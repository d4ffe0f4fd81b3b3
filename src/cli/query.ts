// `dredge query <report>|sql …`: slices the rollup store the way a network engineer asks (issue #6,
// DESIGN.md §9). The store is opened read-only; the report SQL and the output formats live in
// src/query/, apart from where the rows come from. Exit 0 with rows (or none), 1 when the store or
// the query is wrong, 2 on bad usage.

import { REPORTS, DEFAULT_LIMIT, METRICS, isReport, markColumns, parseFilter, runReport, splitList, type ReportName, type ReportOptions } from '../query/reports.js';
import { formatRows, type OutputFormat } from '../query/format.js';
import { DEFAULT_DB, DuckDBStore } from '../query/store.js';
import { HttpRowSource } from '../query/http-source.js';
import type { RowSource, Rows } from '../query/rows.js';
import { DredgeError } from '../errors.js';
import { CliUsageError, parseCli } from './args.js';
import { BufferedWriter } from './output.js';

const HELP = `usage: dredge query <report> [options]
       dredge query sql "<SELECT …>" [--db FILE] [--json|--csv]

Answers questions from the rollup store that \`dredge run --sink duckdb\` writes. Every number is a sum
over the store's rows. The store is opened read-only: a query can never change it.

reports
${Object.entries(REPORTS).map(([n, s]) => `  ${n.padEnd(14)} ${s}`).join('\n')}
  sql "<SQL>"    one read-only statement over the tables rollups, checkpoints and dredge_meta

options
  --by "DIMS"        group by these dimensions instead of the report's default, comma/space separated
                     (dst.app, src.app,dst.app, src.region, dstport, window …; names as given to
                     --dimensions); internet and unattributed keep direction,app / side,reason first
  --since T          only windows from T: a duration counted back from the newest window in the store
                     (30m, 1h, 2d) or a time (2026-11-20T12:00:00Z, epoch seconds)
  --until T          only windows before T (a duration: up to that long before the newest window)
  --where "D=V"      keep rows where dimension D is V (D!=V: is not V; D= : D has no owner); repeatable
  --limit N          at most N rows, biggest bytes first (default ${DEFAULT_LIMIT}; 0: all)
  --db FILE          the store (default ${DEFAULT_DB})
  --json             one JSON array of row objects    --csv   a header row, then RFC 4180 rows
                     (default: an aligned table)

examples
  dredge query top-talkers --by dst.app --since 1h
  dredge query cross-az --since 1d --limit 10
  dredge query rejected --where dstport=22
  dredge query sql "SELECT dst_app, SUM(bytes) AS bytes FROM rollups GROUP BY ALL ORDER BY bytes DESC"`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(
    argv,
    {
      by: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      where: { type: 'string', multiple: true },
      limit: { type: 'string' },
      db: { type: 'string' },
      json: { type: 'boolean' },
      csv: { type: 'boolean' },
    },
    HELP,
  );
  if (values.help === true) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const [name, ...rest] = positionals;
  if (name === undefined) throw new CliUsageError(`name a report or sql\n\n${HELP}`);
  if (values.json === true && values.csv === true) throw new CliUsageError('give --json or --csv, not both');
  const format: OutputFormat = values.json === true ? 'json' : values.csv === true ? 'csv' : 'table';

  let sql: string | null = null;
  let report: ReportName | null = null;
  const opts: ReportOptions = {};
  if (name === 'sql') {
    sql = rest.join(' ').trim();
    if (sql === '') throw new CliUsageError('query sql takes the statement as an argument: dredge query sql "SELECT …"');
    for (const flag of ['by', 'since', 'until', 'where', 'limit'] as const) {
      if (values[flag] !== undefined) throw new CliUsageError(`--${flag} is for the reports; write it into the SQL of query sql`);
    }
  } else {
    if (!isReport(name)) throw new CliUsageError(`unknown report "${name}"; reports: ${Object.keys(REPORTS).join(', ')}, sql`);
    report = name;
    if (rest.length > 0) throw new CliUsageError(`unexpected argument "${rest[0]}"; options go as --by, --since …`);
    if (values.by !== undefined) opts.by = splitList(values.by);
    if (values.since !== undefined) opts.since = values.since;
    if (values.until !== undefined) opts.until = values.until;
    if (values.where !== undefined) opts.where = values.where.map(parseFilter);
    if (values.limit !== undefined) {
      const n = Number(values.limit);
      if (!/^\d+$/.test(values.limit.trim()) || !Number.isSafeInteger(n)) throw new CliUsageError(`--limit takes a whole number ≥ 0 (0: all rows), got "${values.limit}"`);
      opts.limit = n;
    }
  }

  const store = await openStore(values.db ?? DEFAULT_DB);
  let rows: Rows;
  try {
    rows = report !== null ? await runReport(store, report, opts) : markColumns(await store.userSql(sql as string), METRICS);
  } finally {
    store.close();
  }
  const out = new BufferedWriter(process.stdout);
  out.write(formatRows(rows, format));
  await out.flush();
  return 0;
}

/**
 * The file read-only; while a running dredge holds it (DuckDB then refuses every other open), that
 * dredge's query listener, found through `<db>.query.json` (DESIGN.md §9). Same rows either way.
 */
async function openStore(db: string): Promise<RowSource> {
  try {
    return await DuckDBStore.open(db);
  } catch (e) {
    if (!(e instanceof DredgeError) || !e.retriable) throw e;
    const live = HttpRowSource.find(db);
    if (live === null) throw e;
    return live;
  }
}
