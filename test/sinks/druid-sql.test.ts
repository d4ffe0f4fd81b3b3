// DruidSqlSink against a local HTTP server on 127.0.0.1:0 that plays Druid's Router: it checks each
// request (method, path, content type, the INSERT's shape, its EXTERN arguments and context), parses
// the inline rows, answers a taskId, then RUNNING, then SUCCESS for the status. The common sink checks
// read back the rows of tasks that reached SUCCESS. Then: write waits for SUCCESS (or only for
// acceptance when told), 4xx is not retriable and carries Druid's message, 5xx/network/FAILED are, a
// task that never finishes times out without a retry.

import assert from 'node:assert/strict';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DredgeError } from '../../src/errors.js';
import { rowIdsOf } from '../../src/sinks/druid.js';
import { DruidSqlSink, SQL_CONTEXT, openDruidSqlSink } from '../../src/sinks/druid-sql.js';
import { DIMS, TRICKY_ROWS, batchFromRows, sinkCompliance, type Row } from './compliance.js';

interface Task {
  id: string;
  datasource: string;
  sql: string;
  context: Record<string, unknown>;
  rows: Row[];
  polls: number;
}

/** The three string literals of EXTERN(…), SQL quotes undone. */
function externArgs(sql: string): [string, string, string] {
  const m = /FROM TABLE\(\n {2}EXTERN\(\n {4}'((?:[^']|'')*)',\n {4}'((?:[^']|'')*)',\n {4}'((?:[^']|'')*)'\n {2}\)\n\)/.exec(sql);
  assert.ok(m !== null, `EXTERN with three literals in:\n${sql.slice(0, 2000)}`);
  const un = (s: string): string => s.replace(/''/g, "'");
  return [un(m[1] as string), un(m[2] as string), un(m[3] as string)];
}

/** A fake Router. `plan` decides each answer; by default accept, then RUNNING once, then SUCCESS. */
class FakeDruid {
  readonly tasks = new Map<string, Task>();
  readonly log: string[] = [];
  failures: string[] = [];
  submit: (t: Task) => { status: number; body: string } | null = () => null;
  status: (t: Task) => { status: number; body: string } | null = () => null;
  private server: Server | null = null;
  private n = 0;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res).catch((e: unknown) => this.fail(res, (e as Error).message)));
    await new Promise<void>((r) => (this.server as Server).listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${((this.server as Server).address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server?.closeAllConnections();
      this.server?.close(() => r());
    });
  }

  /** Rows of the tasks that reached SUCCESS for `datasource`. */
  published(datasource: string): Row[] {
    return [...this.tasks.values()].filter((t) => t.datasource === datasource && t.polls >= 2).flatMap((t) => t.rows);
  }

  private fail(res: ServerResponse, why: string): void {
    this.failures.push(why);
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'fake druid', errorMessage: why }));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    this.log.push(`${req.method} ${req.url}`);
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/status') return json(200, { version: 'fake' });
    // Druid answers its health check with the JSON literal `true`.
    if (req.method === 'GET' && req.url === '/status/health') return json(200, true);
    if (req.url === '/druid/v2/sql/task' || req.url === '/druid/v2/sql/task/') {
      if (req.method !== 'POST') return this.fail(res, `method ${req.method}`);
      if (!/^application\/json\b/.test(String(req.headers['content-type']))) return this.fail(res, `content-type ${req.headers['content-type']}`);
      const body = JSON.parse(raw) as { query: string; context: Record<string, unknown> };
      const sql = body.query;
      const ds = /^INSERT INTO "((?:[^"]|"")+)"\nSELECT\n/.exec(sql);
      if (ds === null) return this.fail(res, `not an INSERT: ${sql.slice(0, 80)}`);
      const [source, format, signature] = externArgs(sql);
      const src = JSON.parse(source) as { type: string; data: string };
      if (src.type !== 'inline') return this.fail(res, `input source ${src.type}`);
      if (!/^[\x20-\x7e\n]*$/.test(source)) return this.fail(res, 'inline data is not 7-bit');
      if (format !== '{"type":"json"}') return this.fail(res, `input format ${format}`);
      JSON.parse(signature);
      const task: Task = { id: `query-${++this.n}`, datasource: ds[1]!.replace(/""/g, '"'), sql, context: body.context, rows: src.data.split('\n').map((l) => JSON.parse(l) as Row), polls: 0 };
      const custom = this.submit(task);
      if (custom !== null) return json(custom.status, custom.body);
      this.tasks.set(task.id, task);
      return json(200, { taskId: task.id, state: 'RUNNING' });
    }
    const st = /^\/druid\/indexer\/v1\/task\/([^/]+)\/status$/.exec(req.url ?? '');
    if (st !== null && req.method === 'GET') {
      const task = this.tasks.get(decodeURIComponent(st[1] as string));
      if (task === undefined) return json(404, { error: 'no such task' });
      task.polls++;
      const custom = this.status(task);
      if (custom !== null) return json(custom.status, custom.body);
      const code = task.polls >= 2 ? 'SUCCESS' : 'RUNNING';
      return json(200, { task: task.id, status: { id: task.id, type: 'query_controller', statusCode: code, status: code, runnerStatusCode: code, duration: -1, dataSource: task.datasource, errorMsg: null } });
    }
    return json(404, { error: `no route ${req.method} ${req.url}` });
  }
}

let druid: FakeDruid;
before(async () => {
  druid = new FakeDruid();
  await druid.start();
});
after(() => druid.close());

let dsN = 0;
const open = (extra: Partial<Parameters<typeof openDruidSqlSink>[0]> = {}): Promise<DruidSqlSink> =>
  openDruidSqlSink({ url: druid.url, datasource: `flows_${++dsN}`, windowSeconds: 60, dimensions: DIMS, pollIntervalMs: 5, taskTimeoutMs: 5000, ...extra });

const dropId = (r: Row): Row => {
  const { row_id: _drop, ...rest } = r;
  return rest;
};

sinkCompliance('DruidSqlSink', {
  create: () => open(),
  read: (s) => druid.published(s.datasource).map(dropId),
});

describe('DruidSqlSink requests', () => {
  it('one INSERT per flush with the rows inline, exactly; the documented SQL shape and context', async () => {
    druid.failures = [];
    const s = await open({ datasource: 'dredge flows' });
    const b = batchFromRows(4, DIMS, TRICKY_ROWS, { positions: [{ key: 'a.log', value: '100' }] });
    await s.write(b);
    await s.close();
    assert.deepEqual(druid.failures, []);
    const tasks = [...druid.tasks.values()].filter((t) => t.datasource === 'dredge flows');
    assert.equal(tasks.length, 1);
    const t = tasks[0] as Task;
    const ids = await rowIdsOf(b);
    assert.deepEqual(t.rows, TRICKY_ROWS.map((r, i) => ({ ...r, row_id: ids[i] })), 'every row, in order, awkward strings intact, with its row_id');
    assert.deepEqual(t.context, { ...SQL_CONTEXT });
    const [, , signature] = externArgs(t.sql);
    assert.deepEqual(JSON.parse(signature), [
      { name: 'window_start', type: 'string' },
      { name: 'src.app', type: 'string' },
      { name: 'dst.app', type: 'string' },
      { name: 'protocol', type: 'long' },
      { name: 'dstport', type: 'long' },
      { name: 'src.reason', type: 'string' },
      { name: 'dst.reason', type: 'string' },
      { name: 'row_id', type: 'string' },
      { name: 'flows', type: 'long' },
      { name: 'packets', type: 'long' },
      { name: 'bytes', type: 'long' },
    ]);
    const head = t.sql.slice(0, t.sql.indexOf('FROM TABLE('));
    assert.equal(
      head,
      'INSERT INTO "dredge flows"\nSELECT\n  TIME_PARSE("window_start") AS "__time",\n  "src.app",\n  "dst.app",\n  "protocol",\n  "dstport",\n  "src.reason",\n  "dst.reason",\n' +
        '  COUNT(*) AS "count",\n  SUM("flows") AS "flows",\n  SUM("packets") AS "packets",\n  SUM("bytes") AS "bytes",\n  APPROX_COUNT_DISTINCT_BUILTIN("row_id") AS "row_ids"\n',
    );
    assert.match(t.sql, /\)\nGROUP BY 1, 2, 3, 4, 5, 6, 7\nPARTITIONED BY HOUR$/);
    assert.deepEqual(druid.log.filter((l) => l.includes(t.id)), [`GET /druid/indexer/v1/task/${t.id}/status`, `GET /druid/indexer/v1/task/${t.id}/status`], 'polled until SUCCESS');
  });

  it('a quote in the data is doubled inside the SQL literal; non-ASCII travels as \\u escapes', async () => {
    const s = await open();
    const r = { ...(TRICKY_ROWS[0] as Row), 'src.app': "o'brien ☕" };
    await s.write(batchFromRows(1, DIMS, [r]));
    await s.close();
    const t = [...druid.tasks.values()].find((x) => x.datasource === s.datasource) as Task;
    assert.match(t.sql, /o''brien \\\\u2615/);
    assert.equal(t.rows[0]?.['src.app'], "o'brien ☕");
  });

  it('row_id as a dimension: grouped by, no row_ids metric; a day window partitions by DAY', async () => {
    const s = await open({ rowIdDimension: true, windowSeconds: 86400 });
    await s.write(batchFromRows(1, DIMS, [{ ...(TRICKY_ROWS[0] as Row), window_start: '2025-11-23T00:00:00Z' }], { windowSeconds: 86400 }));
    await s.close();
    const t = [...druid.tasks.values()].find((x) => x.datasource === s.datasource) as Task;
    assert.match(t.sql, / {2}"dst\.reason",\n {2}"row_id",\n {2}COUNT\(\*\)/);
    assert.doesNotMatch(t.sql, /APPROX_COUNT_DISTINCT/);
    assert.match(t.sql, /GROUP BY 1, 2, 3, 4, 5, 6, 7, 8\nPARTITIONED BY DAY$/);
  });

  it('write resolves only after SUCCESS by default; on acceptance with waitForSuccess false', async () => {
    const s = await open();
    let done = false;
    let sawRunning = false;
    druid.status = (t) => {
      if (t.datasource === s.datasource && t.polls === 1) sawRunning = !done;
      return null;
    };
    try {
      await s.write(batchFromRows(1, DIMS, TRICKY_ROWS)).then(() => (done = true));
      assert.ok(sawRunning, 'the write was still pending while the task was RUNNING');
      assert.equal(s.stats.polls, 2);
    } finally {
      druid.status = () => null;
      await s.close();
    }
    const quick = await open({ waitForSuccess: false });
    await quick.write(batchFromRows(1, DIMS, TRICKY_ROWS));
    await quick.close();
    assert.equal(quick.stats.polls, 0);
    assert.equal(quick.stats.tasks.length, 1);
  });

  it('a 0-row flush sends nothing', async () => {
    const before = druid.log.length;
    const s = await open();
    await s.write(batchFromRows(1, DIMS, []));
    await s.close();
    assert.deepEqual(druid.log.slice(before), ['GET /status'], 'only the probe when opening');
  });
});

describe('DruidSqlSink failures', () => {
  const rejects = async (s: DruidSqlSink, check: (e: DredgeError) => void): Promise<void> => {
    try {
      await assert.rejects(s.write(batchFromRows(1, DIMS, TRICKY_ROWS)), (e: unknown) => {
        assert.ok(e instanceof DredgeError, String(e));
        assert.equal(e.code, 'DREDGE_ERR_SINK_WRITE');
        check(e);
        return true;
      });
    } finally {
      await s.close();
    }
  };

  it("a 400 with Druid's error JSON: not retriable, Druid's message in ours", async () => {
    druid.submit = () => ({ status: 400, body: JSON.stringify({ error: 'druidException', errorCode: 'invalidInput', persona: 'USER', category: 'INVALID_INPUT', errorMessage: 'Column "src.app" of type VARCHAR cannot be stored in LONG column', context: {} }) });
    try {
      await rejects(await open(), (e) => {
        assert.equal(e.retriable, false);
        assert.match(e.message, /HTTP 400: Column "src\.app" of type VARCHAR cannot be stored in LONG column/);
      });
    } finally {
      druid.submit = () => null;
    }
  });

  it('a 503: retriable', async () => {
    druid.submit = () => ({ status: 503, body: '<html>Service Unavailable</html>' });
    try {
      await rejects(await open(), (e) => {
        assert.equal(e.retriable, true);
        assert.match(e.message, /HTTP 503: <html>Service Unavailable<\/html>/);
      });
    } finally {
      druid.submit = () => null;
    }
  });

  it('a task that FAILED: retriable (an INSERT publishes all or nothing), with its error', async () => {
    druid.status = (t) => ({ status: 200, body: JSON.stringify({ task: t.id, status: { id: t.id, statusCode: 'FAILED', status: 'FAILED', errorMsg: 'TooManyWarnings: Too many warnings of type CannotParseExternalData' } }) });
    try {
      await rejects(await open(), (e) => {
        assert.equal(e.retriable, true);
        assert.match(e.message, /FAILED: TooManyWarnings/);
      });
    } finally {
      druid.status = () => null;
    }
  });

  it('a task still RUNNING at the timeout: not retriable (it may still publish), naming the task', async () => {
    druid.status = (t) => ({ status: 200, body: JSON.stringify({ task: t.id, status: { id: t.id, statusCode: 'RUNNING', status: 'RUNNING' } }) });
    try {
      await rejects(await open({ taskTimeoutMs: 60 }), (e) => {
        assert.equal(e.retriable, false);
        assert.match(e.message, /did not reach SUCCESS .*last: RUNNING.*\/druid\/indexer\/v1\/task\/query-\d+\/status/);
      });
    } finally {
      druid.status = () => null;
    }
  });

  it('a 200 without a taskId is refused', async () => {
    druid.submit = () => ({ status: 200, body: '{"ok":true}' });
    try {
      await rejects(await open(), (e) => assert.match(e.message, /without a taskId/));
    } finally {
      druid.submit = () => null;
    }
  });

  it('nobody listening: opening fails with the URL to fix; a write to a vanished server is retriable', async () => {
    const gone = new FakeDruid();
    await gone.start();
    const s = await openDruidSqlSink({ url: gone.url, windowSeconds: 60, dimensions: DIMS });
    await gone.close();
    await assert.rejects(openDruidSqlSink({ url: gone.url, windowSeconds: 60, dimensions: DIMS }), (e: unknown) => e instanceof DredgeError && e.code === 'DREDGE_ERR_CONFIG' && /cannot reach Druid at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/.test(e.message));
    await rejects(s, (e) => {
      assert.equal(e.retriable, true);
      assert.match(e.message, /got no answer \(ECONNREFUSED\)/);
    });
  });

  it('bad options are refused when opening', async () => {
    await assert.rejects(openDruidSqlSink({ url: 'localhost:8888', windowSeconds: 60, dimensions: DIMS }), /not a URL|http:\/\/ or https:\/\//);
    await assert.rejects(openDruidSqlSink({ url: druid.url, windowSeconds: 60, dimensions: ['src.app', 'bogus'] }), /unknown dimension "bogus"/);
    await assert.rejects(openDruidSqlSink({ url: druid.url, datasource: 'a/b', windowSeconds: 60, dimensions: DIMS }), /not a Druid datasource name/);
  });
});
