// DuckDbSink against real DuckDB files: the common sink checks (compliance.ts), then what it adds: the
// documented table shapes and column types, checkpoints committed with the rows (and read back by a
// new process), one transaction per flush (a failed write leaves nothing), refusals of a store made
// for another configuration or held by another process, and late counts in the flushes table.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { planKey } from '../../src/aggregate/dimensions.js';
import { DredgeError } from '../../src/errors.js';
import { DuckDbSink, columnName } from '../../src/sinks/duckdb.js';
import { DIMS, batchFromRows, row, sinkCompliance, type Row } from './compliance.js';

const root = mkdtempSync(join(tmpdir(), 'dredge-duckdb-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDb = (): string => join(root, `store-${++n}.duckdb`);
const PLAN = planKey(DIMS.join(','));

/** Opens the file read-only in this process (after the sink closed) and runs one query. */
async function query(path: string, sql: string): Promise<Record<string, unknown>[]> {
  const inst = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const con = await inst.connect();
  try {
    return (await con.runAndReadAll(sql)).getRowObjects() as Record<string, unknown>[];
  } finally {
    con.closeSync();
    inst.closeSync();
  }
}

const DIM_OF = new Map<string, string>([...DIMS.map((d) => [columnName(d), d] as [string, string]), ['src_reason', 'src.reason'], ['dst_reason', 'dst.reason']]);

/** rollups as compliance rows: column names back to dimension names, TIMESTAMP → ISO, BIGINT → number. */
function toRows(cols: string[], rows: unknown[][]): Row[] {
  return rows.map((r) => {
    const o: Row = {};
    cols.forEach((c, i) => {
      const v = r[i];
      const key = DIM_OF.get(c) ?? c;
      if (c === 'window_start') o[key] = new Date(Number((v as { micros: bigint }).micros / 1000n)).toISOString().slice(0, 19) + 'Z';
      else o[key] = typeof v === 'bigint' ? Number(v) : (v as string | null);
    });
    return o;
  });
}

async function readStore(s: DuckDbSink): Promise<Row[]> {
  if (!s.isClosed) {
    const r = await s.select('SELECT * FROM rollups');
    return toRows(r.columns, r.rows);
  }
  const inst = await DuckDBInstance.create(s.path, { access_mode: 'READ_ONLY' });
  const con = await inst.connect();
  try {
    const r = await con.runAndReadAll('SELECT * FROM rollups');
    return toRows(r.columnNames(), r.getRows() as unknown[][]);
  } finally {
    con.closeSync();
    inst.closeSync();
  }
}

sinkCompliance('DuckDbSink', {
  create: () => DuckDbSink.open({ path: freshDb(), plan: PLAN, windowSeconds: 60 }),
  read: readStore,
  dispose: (s) => rmSync(s.path, { force: true }),
});

describe('DuckDbSink', () => {
  it('creates the documented tables and typed columns', async () => {
    const path = freshDb();
    const s = await DuckDbSink.open({ path, plan: planKey('src.app,dst.az,protocol,dst_port,action,flow-direction'), windowSeconds: 60 });
    await s.close();
    const cols = await query(path, "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_name IN ('rollups','checkpoints','flushes') ORDER BY table_name, ordinal_position");
    const of = (t: string) => cols.filter((c) => c.table_name === t).map((c) => `${String(c.column_name)} ${String(c.data_type)}`);
    assert.deepStrictEqual(of('rollups'), [
      'window_start TIMESTAMP',
      'src_app VARCHAR',
      'dst_az VARCHAR',
      'protocol BIGINT',
      'dst_port BIGINT',
      'action VARCHAR',
      'flow_direction VARCHAR',
      'src_reason VARCHAR',
      'dst_reason VARCHAR',
      'flows BIGINT',
      'packets BIGINT',
      'bytes BIGINT',
    ]);
    assert.deepStrictEqual(of('checkpoints'), ['source VARCHAR', 'position VARCHAR', 'identity VARCHAR', 'updated_at TIMESTAMP']);
    // rollups is the view readers use; rows are stored as ids and codes, text once in dimension_values.
    const kinds = await query(path, "SELECT table_name, table_type FROM information_schema.tables WHERE table_name IN ('rollups', 'rollup_facts', 'dimension_values') ORDER BY table_name");
    assert.deepStrictEqual(kinds.map((k) => `${String(k.table_name)} ${String(k.table_type)}`), ['dimension_values BASE TABLE', 'rollup_facts BASE TABLE', 'rollups VIEW']);
    const facts = await query(path, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'rollup_facts' ORDER BY ordinal_position");
    assert.deepStrictEqual(facts.map((c) => `${String(c.column_name)} ${String(c.data_type)}`), [
      'window_start TIMESTAMP',
      'src_app INTEGER',
      'dst_az INTEGER',
      'protocol BIGINT',
      'dst_port BIGINT',
      'action INTEGER',
      'flow_direction INTEGER',
      'src_reason UTINYINT',
      'dst_reason UTINYINT',
      'flows BIGINT',
      'packets BIGINT',
      'bytes BIGINT',
    ]);
    const meta = await query(path, 'SELECT key, value FROM dredge_meta ORDER BY key');
    assert.deepStrictEqual(meta.find((m) => m.key === 'dimensions')?.value, 'src.app,dst.az,protocol,dst_port,action,flow-direction');
    assert.deepStrictEqual(meta.find((m) => m.key === 'window_seconds')?.value, '60');
  });

  it('stores each text value once, keeps its id across processes, and reads nulls back as NULL', async () => {
    const path = freshDb();
    const s = await DuckDbSink.open({ path, plan: PLAN, windowSeconds: 60 });
    await s.write(batchFromRows(1, DIMS, [row('2025-11-23T12:13:00Z', 'api', 'db', 6, 5432, [1, 1, 1]), row('2025-11-23T12:13:00Z', null, 'api', null, null, [2, 2, 2], ['gap', null])]));
    await s.close();
    // A new process with a new pipeline dictionary (other order, one new value) maps to the same ids.
    const again = await DuckDbSink.open({ path, plan: PLAN, windowSeconds: 60 });
    await again.write(batchFromRows(2, DIMS, [row('2025-11-23T12:14:00Z', 'web', 'api', 17, 53, [4, 4, 4])]));
    await again.close();
    assert.deepStrictEqual(
      (await query(path, 'SELECT id::INT AS id, value FROM dimension_values ORDER BY id')).map((r) => [r.id, r.value]),
      [[0, null], [1, 'api'], [2, 'db'], [3, 'web']],
    );
    const rows = await query(path, 'SELECT src_app, dst_app, protocol::INT AS protocol, dstport::INT AS dstport, src_reason, flows::INT AS flows FROM rollups ORDER BY flows');
    assert.deepStrictEqual(rows, [
      { src_app: 'api', dst_app: 'db', protocol: 6, dstport: 5432, src_reason: null, flows: 1 },
      { src_app: null, dst_app: 'api', protocol: null, dstport: null, src_reason: 'gap', flows: 2 },
      { src_app: 'web', dst_app: 'api', protocol: 17, dstport: 53, src_reason: null, flows: 4 },
    ]);
  });

  it('a null in one DataChunk does not leak into the next (numbers over several chunks)', async () => {
    const path = freshDb();
    const s = await DuckDbSink.open({ path, plan: PLAN, windowSeconds: 60 });
    // 5,000 rows = three 2,048-row chunks; nulls at rows 5 and 4,100 only.
    const rows = Array.from({ length: 5000 }, (_, i) => row('2025-11-23T12:13:00Z', 'a', 'b', i === 5 || i === 4100 ? null : 6, i, [1, 1, i]));
    await s.write(batchFromRows(1, DIMS, rows));
    await s.close();
    const got = await query(path, 'SELECT count(*)::INT AS n, count(protocol)::INT AS with_proto, sum(dstport)::BIGINT AS ports, sum(bytes)::BIGINT AS bytes FROM rollups');
    assert.deepStrictEqual(got[0], { n: 5000, with_proto: 4998, ports: 12497500n, bytes: 12497500n });
  });

  it('refuses a store written with the older text-table layout, naming the fix', async () => {
    const path = freshDb();
    const inst = await DuckDBInstance.create(path);
    const con = await inst.connect();
    await con.run('CREATE TABLE rollups (window_start TIMESTAMP, src_app VARCHAR, flows BIGINT)');
    con.closeSync();
    inst.closeSync();
    await assert.rejects(DuckDbSink.open({ path, plan: PLAN, windowSeconds: 60 }), (e: unknown) => e instanceof DredgeError && /older dredge/.test(e.message) && /another --db FILE/.test(e.message));
  });

  it('commits the positions a flush covers with its rows; a new process reads them back', async () => {
    const path = freshDb();
    const s = await DuckDbSink.open({ path, plan: PLAN, windowSeconds: 60 });
    const a = row('2025-11-23T12:13:00Z', 'api', 'db', 6, 5432, [3, 12, 5120]);
    await s.write(batchFromRows(1, DIMS, [a], { positions: [{ key: 'shardId-000000000001', value: '49590338271490256608559692538361571095921575989136588898' }], late: { flows: 4, packets: 40, bytes: 400 } }));
    await s.write(batchFromRows(2, DIMS, [], { positions: [{ key: 'in/a.log', value: '1234', identity: '1:2:1234' }] }));
    assert.deepStrictEqual([...(await s.checkpoints.load()).values()].sort((x, y) => x.key.localeCompare(y.key)), [
      { key: 'in/a.log', value: '1234', identity: '1:2:1234' },
      { key: 'shardId-000000000001', value: '49590338271490256608559692538361571095921575989136588898' },
    ]);
    await s.close();
    const again = await DuckDbSink.open({ path, plan: PLAN, windowSeconds: 60 });
    assert.equal((await again.checkpoints.load()).get('in/a.log')?.value, '1234');
    await again.close();
    const flushes = await query(path, 'SELECT seq, "rows", late_flows, late_packets, late_bytes FROM flushes ORDER BY seq');
    assert.deepStrictEqual(flushes.map((f) => Object.values(f).map(Number)), [[1, 1, 4, 40, 400], [2, 0, 0, 0, 0]]);
  });

  it('a write that fails leaves none of its rows, flush row or positions', async () => {
    const path = freshDb();
    const s = await DuckDbSink.open({ path, plan: PLAN, windowSeconds: 60 });
    await s.write(batchFromRows(1, DIMS, [row('2025-11-23T12:13:00Z', 'api', 'db', 6, 5432, [1, 1, 1])], { positions: [{ key: 'f', value: '10' }] }));
    // A metric beyond BIGINT in the last row fails the write after the first DataChunks were appended.
    const many = Array.from({ length: 5000 }, (_, i) => row('2025-11-23T12:14:00Z', `app-${i}`, 'y', 6, 80, [1, 1, 1]));
    const bad = batchFromRows(2, DIMS, many, { positions: [{ key: 'f', value: '20' }] });
    bad.bytes[4999] = 2 ** 64;
    await assert.rejects(s.write(bad), (e: unknown) => e instanceof DredgeError && e.code === 'DREDGE_ERR_SINK_WRITE' && /flush 2/.test(e.message));
    assert.equal((await s.checkpoints.load()).get('f')?.value, '10');
    // The connection is usable again, and the next flush commits only its own rows.
    await s.write(batchFromRows(3, DIMS, [row('2025-11-23T12:15:00Z', 'api', 'db', 6, 5432, [2, 2, 2])], { positions: [{ key: 'f', value: '30' }] }));
    await s.close();
    assert.deepStrictEqual((await query(path, 'SELECT count(*)::INT n, sum(flows)::INT f FROM rollups'))[0], { n: 2, f: 3 });
    assert.deepStrictEqual((await query(path, 'SELECT count(*)::INT n FROM flushes'))[0], { n: 2 });
  });

  it('one growing dictionary shared by batches (as the pipeline does), with a failed write between: every string right', async () => {
    const path = freshDb();
    const s = await DuckDbSink.open({ path, plan: PLAN, windowSeconds: 60 });
    const dict: (string | null)[] = [null, 'api', 'db'];
    const mk = (seq: number, rows: [string | null, string | null][], bytes = 1): ReturnType<typeof batchFromRows> => {
      const b = batchFromRows(seq, DIMS, rows.map(([src, dst]) => row('2025-11-23T12:13:00Z', src, dst, 6, 443, [1, 1, bytes])));
      const idOf = (v: string | null): number => {
        let i = dict.indexOf(v);
        if (i < 0) i = dict.push(v) - 1;
        return i;
      };
      const src = Int32Array.from(rows, (r) => idOf(r[0]));
      const dst = Int32Array.from(rows, (r) => idOf(r[1]));
      return { ...b, columns: [{ kind: 'string', ids: src, dict }, { kind: 'string', ids: dst, dict }, b.columns[2]!, b.columns[3]!] };
    };
    await s.write(mk(1, [['api', 'db']]));
    const bad = mk(2, [['cache', 'api'], ['queue', null]]);
    bad.bytes[1] = 2 ** 64;
    await assert.rejects(s.write(bad));
    await s.write(mk(3, [['cache', 'queue'], [null, 'search']]));
    await s.close();
    const got = (await query(path, 'SELECT src_app, dst_app FROM rollups ORDER BY src_app NULLS LAST')).map((r) => [r.src_app, r.dst_app]);
    assert.deepStrictEqual(got, [['api', 'db'], ['cache', 'queue'], [null, 'search']]);
  });

  it('refuses a store made with other dimensions or another window, naming the fix', async () => {
    const path = freshDb();
    await (await DuckDbSink.open({ path, plan: PLAN, windowSeconds: 60 })).close();
    await assert.rejects(DuckDbSink.open({ path, plan: planKey('src.app,dst.app'), windowSeconds: 60 }), (e: unknown) => e instanceof DredgeError && /--dimensions "src\.app,dst\.app,protocol,dstport"/.test(e.message) && /another --db/.test(e.message));
    await assert.rejects(DuckDbSink.open({ path, plan: PLAN, windowSeconds: 300 }), (e: unknown) => e instanceof DredgeError && /--window 60s/.test(e.message));
  });

  it('refuses dimensions that map to the same column', async () => {
    await assert.rejects(DuckDbSink.open({ path: freshDb(), plan: planKey('src.app,flow-direction,flow_direction'), windowSeconds: 60 }), (e: unknown) => e instanceof DredgeError);
  });

  it('refuses a file held by another process, saying which and what to do', async () => {
    const path = freshDb();
    await (await DuckDbSink.open({ path, plan: PLAN, windowSeconds: 60 })).close();
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `import { DuckDBInstance } from '@duckdb/node-api'; const i = await DuckDBInstance.create(${JSON.stringify(path)}); await i.connect(); console.log('held'); setInterval(() => {}, 1000);`], { cwd: new URL('../../../', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once('data', () => resolve());
        holder.once('exit', (c) => reject(new Error(`holder exited ${c}`)));
      });
      await assert.rejects(DuckDbSink.open({ path, plan: PLAN, windowSeconds: 60 }), (e: unknown) => {
        assert.ok(e instanceof DredgeError);
        assert.match(e.message, new RegExp(`in use by another process \\(PID ${holder.pid}\\)`));
        assert.match(e.message, /another --db/);
        return true;
      });
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
