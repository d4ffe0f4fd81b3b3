// Druid sink over SQL-based ingestion (`--sink druid-sql`, issue #6): each flush becomes one
// `POST <router>/druid/v2/sql/task` whose INSERT carries the rows inline, into the same datasource shape
// as the Kinesis route (druid-spec.ts):
//
//   INSERT INTO "dredge_flows"
//   SELECT
//     TIME_PARSE("window_start") AS "__time",
//     "src.app", …, "src.reason", "dst.reason",
//     COUNT(*) AS "count", SUM("flows") AS "flows", SUM("packets") AS "packets", SUM("bytes") AS "bytes",
//     APPROX_COUNT_DISTINCT_BUILTIN("row_id") AS "row_ids"
//   FROM TABLE(
//     EXTERN(
//       '{"type":"inline","data":"<the rows as NDJSON>"}',
//       '{"type":"json"}',
//       '[{"name":"window_start","type":"string"},…,{"name":"row_id","type":"string"}]'
//     )
//   )
//   GROUP BY 1, 2, …
//   PARTITIONED BY HOUR
//
// with context {"finalizeAggregations": false, "groupByEnableMultiValueUnnesting": false}: the MSQ docs'
// recipe for rollup at ingestion (GROUP BY columns become dimensions, aggregates become metrics that
// keep their intermediate state, so COUNT is summed and row_ids stays a HyperLogLog at query time).
// The EXTERN form with three JSON strings (input source, input format, row signature) is the one every
// MSQ version (Druid 24+) takes; the newer EXTEND form only renames the same thing. Each row is the
// Kinesis route's JSON line (druid.ts, row_id included), made 7-bit by \uXXXX escapes; quotes in the SQL
// literal are doubled. The row signature types dimensions the way the supervisor spec does.
//
// Acknowledgement. Druid answers the POST once the Broker has planned the query and the Overlord has
// queued the controller task: that is ACCEPTED, not published; the task may still fail and publishes
// its segments only at its end. So by default `write` then polls
// `GET /druid/indexer/v1/task/<taskId>/status` until SUCCESS (segments published; Historicals load them
// shortly after) and rejects on FAILED or after `taskTimeoutMs`. With `waitForSuccess: false` write
// resolves on acceptance: faster flushes, but a task that fails later loses its rows after the
// checkpoint moved past them.
//
// Errors: a 4xx answer (bad SQL, unknown datasource permissions, …) is not retriable and carries
// Druid's own message; 5xx, 429 and network failures are (the pipeline sends the flush again: if the
// lost answer had in fact been an acceptance, both tasks publish and the rows arrive twice with the
// same row_id). A FAILED task is retriable too: an MSQ INSERT publishes all or nothing, so the rows
// of a failed task are not in Druid. A task still unfinished at the timeout is not: it may yet publish,
// so sending it again would double the rows silently; the error names the task to look at.
//
// Give the Router's URL (port 8888 in the quickstart): it serves both the SQL task endpoint (a Broker
// API) and the task status (an Overlord API). A flush is one task, and Druid's docs warn that INSERT is
// made for larger batches than streaming: use a long --flush-interval (minutes) with this sink.

import { planKey } from '../aggregate/dimensions.js';
import type { RollupBatch } from '../aggregate/rollups.js';
import { DredgeError } from '../errors.js';
import { sleep } from '../sources/kinesis/retry.js';
import { asciiJson, forEachDruidRow } from './druid.js';
import { COUNT_METRIC, DEFAULT_DATASOURCE, ROW_IDS_METRIC, checkDatasource, druidDimensions, druidErrorMessage, druidGranularities, type DruidColumn } from './druid-spec.js';
import { SINK_WRITE } from './ndjson.js';
import type { Sink, SinkHealth } from './sink.js';

export interface DruidSqlSinkOptions {
  /** Druid Router (or Broker + Overlord behind one address) base URL, e.g. http://localhost:8888. */
  url: string;
  /** Datasource to INSERT into (default dredge_flows). */
  datasource?: string;
  windowSeconds: number;
  /** `--dimensions` as given or as a list (output names, as configured). */
  dimensions: string | readonly string[];
  /** row_id as a dimension instead of the row_ids metric (see druid-spec.ts). */
  rowIdDimension?: boolean;
  /** Poll the task until SUCCESS before acknowledging (default true). */
  waitForSuccess?: boolean;
  /** Between status polls (default 1000 ms). */
  pollIntervalMs?: number;
  /** Longest wait for SUCCESS after acceptance (default 10 min). */
  taskTimeoutMs?: number;
  /** One HTTP request's limit (default 60 s). */
  requestTimeoutMs?: number;
  /** Extra request headers (e.g. Authorization for a secured cluster). */
  headers?: Record<string, string>;
  /** Checks the URL answers GET /status when opening (default true). */
  probe?: boolean;
  log?: (msg: string) => void;
}

export interface DruidSqlSinkStats {
  writes: number;
  rows: number;
  errors: number;
  /** Task ids of the acknowledged writes, oldest first (the last 100). */
  tasks: string[];
  /** Status polls made. */
  polls: number;
}

/** Context of every INSERT: rollup at ingestion (MSQ docs, "Rollup"). */
export const SQL_CONTEXT: Readonly<Record<string, unknown>> = Object.freeze({ finalizeAggregations: false, groupByEnableMultiValueUnnesting: false });

const quoteIdent = (s: string): string => `"${s.replace(/"/g, '""')}"`;
const quoteLiteral = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** The INSERT statement for `ndjson` (newline-separated JSON rows, 7-bit) into `datasource`. */
export function druidInsertSql(datasource: string, dims: readonly DruidColumn[], windowSeconds: number, ndjson: string): string {
  const rowIdDim = dims.some((d) => d.name === 'row_id');
  const signature = [{ name: 'window_start', type: 'string' }, ...dims.map((d) => ({ name: d.name, type: d.type }))];
  if (!rowIdDim) signature.push({ name: 'row_id', type: 'string' });
  signature.push({ name: 'flows', type: 'long' }, { name: 'packets', type: 'long' }, { name: 'bytes', type: 'long' });
  const select = ['TIME_PARSE("window_start") AS "__time"', ...dims.map((d) => quoteIdent(d.name))];
  const groups = select.length;
  select.push(`COUNT(*) AS ${quoteIdent(COUNT_METRIC)}`, 'SUM("flows") AS "flows"', 'SUM("packets") AS "packets"', 'SUM("bytes") AS "bytes"');
  if (!rowIdDim) select.push(`APPROX_COUNT_DISTINCT_BUILTIN("row_id") AS ${quoteIdent(ROW_IDS_METRIC)}`);
  const partition = druidGranularities(windowSeconds).segment.toUpperCase();
  return [
    `INSERT INTO ${quoteIdent(datasource)}`,
    'SELECT',
    select.map((s) => `  ${s}`).join(',\n'),
    'FROM TABLE(',
    '  EXTERN(',
    `    ${quoteLiteral(JSON.stringify({ type: 'inline', data: ndjson }))},`,
    `    ${quoteLiteral(JSON.stringify({ type: 'json' }))},`,
    `    ${quoteLiteral(JSON.stringify(signature))}`,
    '  )',
    ')',
    `GROUP BY ${Array.from({ length: groups }, (_, k) => k + 1).join(', ')}`,
    `PARTITIONED BY ${partition}`,
  ].join('\n');
}

function networkWhy(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'no answer in time';
  return err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
}

export class DruidSqlSink implements Sink {
  readonly name = 'druid-sql';
  readonly url: string;
  readonly datasource: string;
  readonly stats: DruidSqlSinkStats = { writes: 0, rows: 0, errors: 0, tasks: [], polls: 0 };
  private readonly dims: DruidColumn[];
  private readonly configured: readonly string[];
  private readonly o: DruidSqlSinkOptions;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  /** Prefer openDruidSqlSink, which checks the URL answers first. */
  constructor(o: DruidSqlSinkOptions) {
    this.o = o;
    this.url = baseUrl(o.url);
    this.datasource = o.datasource ?? DEFAULT_DATASOURCE;
    checkDatasource(this.datasource);
    druidGranularities(o.windowSeconds);
    const names = typeof o.dimensions === 'string' ? planKey(o.dimensions).dims.map((d) => d.name) : [...o.dimensions];
    this.configured = names;
    this.dims = druidDimensions(names, o.rowIdDimension === true);
  }

  write(batch: RollupBatch): Promise<void> {
    if (this.closed) return Promise.reject(new DredgeError(SINK_WRITE, `druid-sql sink for ${this.url} is closed: write called after close (a pipeline bug; please report it)`));
    // Rendered at once, so nothing of the batch is read later.
    const sql = this.render(batch);
    sql.catch(() => undefined); // reported through p below
    const p = this.tail.then(async () => {
      const text = await sql;
      if (text !== null) await this.submit(batch.seq, text);
    });
    this.tail = p.catch(() => undefined);
    return p.then(
      () => {
        this.stats.writes++;
        this.stats.rows += batch.rows;
      },
      (e: unknown) => {
        this.stats.errors++;
        throw e;
      },
    );
  }

  /** The INSERT for a batch (null for 0 rows). */
  private async render(batch: RollupBatch): Promise<string | null> {
    if (batch.dimensions.length !== this.configured.length || batch.dimensions.some((d, k) => d !== this.configured[k])) {
      throw new DredgeError('DREDGE_ERR_INTERNAL', `druid-sql sink: flush ${batch.seq} has dimensions ${batch.dimensions.join(',')} but the sink was opened for ${this.configured.join(',')}`);
    }
    if (batch.windowSeconds !== this.o.windowSeconds) throw new DredgeError('DREDGE_ERR_INTERNAL', `druid-sql sink: flush ${batch.seq} has ${batch.windowSeconds} s windows but the sink was opened for ${this.o.windowSeconds} s`);
    if (batch.rows === 0) return null;
    const lines: string[] = [];
    await forEachDruidRow(batch, (line) => lines.push(line.toString('utf8')));
    return druidInsertSql(this.datasource, this.dims, this.o.windowSeconds, asciiJson(lines.join('\n')));
  }

  private async request(method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; text: string }> {
    const res = await fetch(this.url + path, {
      method,
      headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...this.o.headers },
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(this.o.requestTimeoutMs ?? 60_000),
    });
    return { status: res.status, text: await res.text() };
  }

  private async submit(seq: number, sql: string): Promise<void> {
    const what = `druid-sql sink: flush ${seq} (INSERT INTO ${this.datasource} via ${this.url}/druid/v2/sql/task)`;
    let res: { status: number; text: string };
    try {
      res = await this.request('POST', '/druid/v2/sql/task', JSON.stringify({ query: sql, context: SQL_CONTEXT }));
    } catch (e) {
      throw new DredgeError(SINK_WRITE, `${what} got no answer (${networkWhy(e)}); the flush will be sent again — if Druid did accept it, its rows arrive twice with the same row_id`, { retriable: true, cause: e });
    }
    if (res.status < 200 || res.status >= 300) {
      const msg = druidErrorMessage(res.text);
      const retriable = res.status >= 500 || res.status === 429 || res.status === 408;
      throw new DredgeError(SINK_WRITE, `${what} was refused with HTTP ${res.status}: ${msg}${retriable ? '; the flush will be sent again' : '; fix the cause named by Druid (is this a Router or Broker URL with the multi-stage-query extension loaded?) and run again'}`, { retriable });
    }
    let taskId: unknown;
    try {
      taskId = (JSON.parse(res.text) as { taskId?: unknown }).taskId;
    } catch {
      taskId = undefined;
    }
    if (typeof taskId !== 'string' || taskId === '') {
      throw new DredgeError(SINK_WRITE, `${what}: HTTP ${res.status} without a taskId (${druidErrorMessage(res.text)}); is ${this.url} a Druid Router or Broker?`);
    }
    this.o.log?.(`druid-sql: flush ${seq} accepted as task ${taskId}`);
    if (this.o.waitForSuccess !== false) await this.waitFor(taskId, what);
    this.stats.tasks.push(taskId);
    if (this.stats.tasks.length > 100) this.stats.tasks.shift();
  }

  /** Polls the task's status until SUCCESS; FAILED and the timeout reject. */
  private async waitFor(taskId: string, what: string): Promise<void> {
    const deadline = performance.now() + (this.o.taskTimeoutMs ?? 600_000);
    const interval = this.o.pollIntervalMs ?? 1000;
    let last: string;
    while (true) {
      await sleep(interval);
      this.stats.polls++;
      try {
        const res = await this.request('GET', `/druid/indexer/v1/task/${encodeURIComponent(taskId)}/status`);
        if (res.status === 200) {
          const s = (JSON.parse(res.text) as { status?: { statusCode?: unknown; status?: unknown; errorMsg?: unknown } }).status;
          const code = String(s?.statusCode ?? s?.status ?? 'UNKNOWN');
          last = code;
          if (code === 'SUCCESS') return;
          if (code === 'FAILED') {
            const why = typeof s?.errorMsg === 'string' && s.errorMsg !== '' ? s.errorMsg : 'no error message; see the task report';
            throw new DredgeError(SINK_WRITE, `${what}: task ${taskId} FAILED: ${why}. An INSERT publishes all or nothing, so the flush will be sent again`, { retriable: true });
          }
        } else {
          // 404 right after submission (not registered yet), or a passing 5xx: keep polling until the deadline.
          last = `HTTP ${res.status}: ${druidErrorMessage(res.text)}`;
        }
      } catch (e) {
        if (e instanceof DredgeError) throw e;
        last = `no answer (${networkWhy(e)})`;
      }
      if (performance.now() >= deadline) {
        throw new DredgeError(SINK_WRITE, `${what}: task ${taskId} did not reach SUCCESS in ${Math.round((this.o.taskTimeoutMs ?? 600_000) / 1000)} s (last: ${last}). It may still publish, so the flush is not sent again: check ${this.url}/druid/indexer/v1/task/${taskId}/status, then run again (if it did publish, the re-read rows arrive twice with the same row_id)`);
      }
    }
  }

  /** Druid's `/status/health` on the router answers `true`. */
  async health(): Promise<SinkHealth> {
    if (this.closed) return { ok: false, detail: `druid-sql sink (${this.url}) closed` };
    try {
      const res = await fetch(this.url + '/status/health', { headers: { accept: 'application/json', ...this.o.headers }, signal: AbortSignal.timeout(10_000) });
      const body = (await res.text()).trim();
      return res.ok && body === 'true' ? { ok: true, detail: `Druid at ${this.url} healthy` } : { ok: false, detail: `${this.url}/status/health answered HTTP ${res.status} ${body.slice(0, 100)}` };
    } catch (e) {
      return { ok: false, detail: `cannot reach Druid at ${this.url}: ${networkWhy(e)}` };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
  }
}

function baseUrl(u: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new DredgeError('DREDGE_ERR_CONFIG', `--druid-url "${u}" is not a URL; give the Router's, e.g. http://localhost:8888`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DredgeError('DREDGE_ERR_CONFIG', `--druid-url must start with http:// or https://, got "${u}"`);
  return url.href.replace(/\/+$/, '');
}

/** Builds the sink after checking that the URL answers as a Druid service (GET /status). */
export async function openDruidSqlSink(o: DruidSqlSinkOptions): Promise<DruidSqlSink> {
  const sink = new DruidSqlSink(o);
  if (o.probe === false) return sink;
  let res: Response;
  try {
    res = await fetch(sink.url + '/status', { headers: { accept: 'application/json', ...o.headers }, signal: AbortSignal.timeout(o.requestTimeoutMs ?? 10_000) });
    await res.text();
  } catch (e) {
    throw new DredgeError('DREDGE_ERR_CONFIG', `cannot reach Druid at ${sink.url} (${networkWhy(e)}); give the Router's URL (http://HOST:8888 in the quickstart) with --druid-url`, { retriable: true, cause: e });
  }
  if (!res.ok) throw new DredgeError('DREDGE_ERR_CONFIG', `${sink.url}/status answered HTTP ${res.status}; is --druid-url a Druid Router (or Broker)?`);
  return sink;
}

