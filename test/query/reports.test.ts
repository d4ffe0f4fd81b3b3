// The named reports through the query layer (DuckDBStore + runReport) over a real fixture store:
// exact sums of additive deltas, the filters each report applies, --since/--until relative to the
// newest window and as times, --where, --limit, and the errors for unknown or missing dimensions.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DredgeError } from '../../src/errors.js';
import { jsonValue } from '../../src/query/format.js';
import { buildQuery, parseFilter, runReport, type ReportName, type ReportOptions } from '../../src/query/reports.js';
import type { Rows } from '../../src/query/rows.js';
import { DuckDBStore } from '../../src/query/store.js';
import { ROWS, TOTAL, defaultSpec, writeStore } from './fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'dredge-query-reports-'));
let store: DuckDBStore;
let narrow: DuckDBStore;

before(async () => {
  await writeStore(join(dir, 'main.duckdb'));
  store = await DuckDBStore.open(join(dir, 'main.duckdb'));
  // A run with fewer dimensions: no AZ, region, port or protocol columns.
  const spec = defaultSpec();
  const keep = ['src_app', 'dst_app', 'action'];
  const idx = keep.map((c) => spec.columns.findIndex(([n]) => n === c) + 1);
  await writeStore(join(dir, 'narrow.duckdb'), {
    columns: spec.columns.filter(([n]) => keep.includes(n)),
    dimensions: 'src.app,dst.app,action',
    rows: ROWS.map((r) => [r[0] ?? null, ...idx.map((i) => r[i] ?? null), ...r.slice(10)]),
  });
  narrow = await DuckDBStore.open(join(dir, 'narrow.duckdb'));
});

after(() => {
  store.close();
  narrow.close();
  rmSync(dir, { recursive: true, force: true });
});

function objects(rows: Rows): Record<string, unknown>[] {
  return rows.rows.map((r) => Object.fromEntries(rows.columns.map((c, i) => [c.name, jsonValue(r[i] ?? null)])));
}

async function report(name: ReportName, opts: ReportOptions = {}, s: DuckDBStore = store): Promise<Record<string, unknown>[]> {
  return objects(await runReport(s, name, opts));
}

function pair(src: string | null, dst: string | null, flows: number, packets: number, bytes: number): Record<string, unknown> {
  return { 'src.app': src, 'dst.app': dst, flows, packets, bytes };
}

describe('top-talkers', () => {
  it('sums every delta of a key, biggest bytes first, by src.app,dst.app by default', async () => {
    assert.deepEqual(await report('top-talkers'), [
      pair('api', 'cache', 5, 50, 500000),
      pair('internet', 'web', 27, 90, 71200),
      pair('web', 'aws:s3:us-east-1', 2, 20, 50000),
      pair('web', 'db', 4, 40, 40000),
      pair('web', 'api', 16, 160, 16000),
      pair('web', 'internet', 3, 30, 9000),
      pair('api', 'aws:s3:us-west-2', 1, 10, 3000),
      pair('api', 'db', 10, 10, 1000),
      pair(null, 'db', 8, 8, 800),
      pair(null, 'web', 2, 2, 200),
      pair('web', null, 1, 1, 100),
      pair('web', 'legacy, "v1"', 1, 1, 10),
    ]);
  });

  it('adds up to the store total and marks the metrics', async () => {
    const rows = await runReport(store, 'top-talkers', { by: ['action'] });
    const o = objects(rows);
    assert.equal(o.reduce((s, r) => s + (r.flows as number), 0), TOTAL.flows);
    assert.equal(o.reduce((s, r) => s + (r.packets as number), 0), TOTAL.packets);
    assert.equal(o.reduce((s, r) => s + (r.bytes as number), 0), TOTAL.bytes);
    assert.deepEqual(rows.columns.map((c) => [c.name, c.kind, c.metric === true]), [
      ['action', 'text', false],
      ['flows', 'integer', true],
      ['packets', 'integer', true],
      ['bytes', 'integer', true],
    ]);
  });

  it('--since 1h counts back from the newest window, not from now', async () => {
    assert.deepEqual(await report('top-talkers', { by: ['dst.app'], since: '1h' }), [
      { 'dst.app': 'cache', flows: 2, packets: 20, bytes: 200000 },
      { 'dst.app': 'web', flows: 29, packets: 92, bytes: 71400 },
      { 'dst.app': 'aws:s3:us-east-1', flows: 2, packets: 20, bytes: 50000 },
      { 'dst.app': 'db', flows: 18, packets: 54, bytes: 41400 },
      { 'dst.app': 'internet', flows: 3, packets: 30, bytes: 9000 },
      { 'dst.app': 'api', flows: 6, packets: 60, bytes: 6000 },
      { 'dst.app': 'aws:s3:us-west-2', flows: 1, packets: 10, bytes: 3000 },
      { 'dst.app': null, flows: 1, packets: 1, bytes: 100 },
    ]);
  });

  it('--until 1h is the complement of --since 1h; ISO times bound windows [since, until)', async () => {
    const until = await report('top-talkers', { until: '1h' });
    assert.deepEqual(until, [pair('api', 'cache', 3, 30, 300000), pair('web', 'api', 10, 100, 10000), pair('api', 'db', 4, 4, 400), pair('web', 'legacy, "v1"', 1, 1, 10)]);
    const iso = await report('top-talkers', { by: ['dst.app'], since: '2026-11-20T11:15:00Z' });
    assert.deepEqual(iso, await report('top-talkers', { by: ['dst.app'], since: '1h' }));
    const one = await report('top-talkers', { by: ['window_start'], since: '2026-11-20T11:15:01Z', until: '2026-11-20T12:00:00Z' });
    assert.deepEqual(one.map((r) => r.window_start), ['2026-11-20T11:59:00Z']);
    const mid = await report('top-talkers', { by: ['window'], since: '2h', until: '1h', limit: 0 });
    assert.deepEqual(mid.map((r) => r.window), ['2026-11-20T10:30:00Z']);
    // The newest window is the last of the span: 11:59 − 44m is 11:15 exactly, which --since 44m
    // leaves out and --until 44m keeps, so the two partition the windows.
    const windows = async (o: ReportOptions): Promise<unknown[]> => (await report('top-talkers', { ...o, by: ['window'], limit: 0 })).map((r) => r.window).sort();
    assert.deepEqual(await windows({ since: '44m' }), ['2026-11-20T11:59:00Z']);
    assert.deepEqual(await windows({ since: '45m' }), ['2026-11-20T11:15:00Z', '2026-11-20T11:59:00Z']);
    assert.deepEqual(await windows({ until: '44m' }), ['2026-11-20T09:00:00Z', '2026-11-20T10:30:00Z', '2026-11-20T11:15:00Z']);
    assert.deepEqual(await windows({ since: '2700' }), ['2026-11-20T11:15:00Z', '2026-11-20T11:59:00Z']);
    assert.deepEqual(await windows({ since: String(Date.UTC(2026, 10, 20, 10, 30) / 1000) }), ['2026-11-20T10:30:00Z', '2026-11-20T11:15:00Z', '2026-11-20T11:59:00Z']);
    await assert.rejects(report('top-talkers', { since: 'yesterday' }), /--since takes a duration/);
  });

  it('--by takes several dimensions and aliases; dst_port is dstport, output keys as written', async () => {
    const r = await report('top-talkers', { by: ['dst_port', 'protocol'], limit: 2 });
    assert.deepEqual(r, [
      { dst_port: 6379, protocol: 6, flows: 5, packets: 50, bytes: 500000 },
      { dst_port: 443, protocol: 6, flows: 29, packets: 290, bytes: 148000 },
    ]);
  });

  it('--where filters by value, by "no owner" and by its negation', async () => {
    assert.deepEqual(await report('top-talkers', { where: [parseFilter('dst.app=')] }), [pair('web', null, 1, 1, 100)]);
    assert.deepEqual(await report('top-talkers', { where: [parseFilter('src.app=api'), parseFilter('dstport!=6379')] }), [pair('api', 'aws:s3:us-west-2', 1, 10, 3000), pair('api', 'db', 10, 10, 1000)]);
    assert.deepEqual(await report('top-talkers', { by: ['protocol'], where: [parseFilter('protocol=udp')] }), [{ protocol: 17, flows: 8, packets: 8, bytes: 800 }]);
    await assert.rejects(report('top-talkers', { where: [parseFilter('dstport=https')] }), /dstport is a number/);
  });

  it('--limit keeps the biggest rows; values never become SQL text', async () => {
    assert.equal((await report('top-talkers', { limit: 3 })).length, 3);
    const q = buildQuery('top-talkers', { where: [parseFilter(`dst.app=x' OR 1=1 --`)] }, await store.schema());
    assert.ok(!q.sql.includes('OR 1=1'), q.sql);
    assert.deepEqual(await report('top-talkers', { where: [parseFilter(`dst.app=x' OR 1=1 --`)] }), []);
  });
});

describe('cross-region and cross-az', () => {
  it('cross-region: both regions known and different, by region pair and app pair', async () => {
    assert.deepEqual(await report('cross-region'), [
      { 'src.region': 'us-east-1', 'dst.region': 'us-west-2', 'src.app': 'api', 'dst.app': 'cache', flows: 5, packets: 50, bytes: 500000 },
      { 'src.region': 'us-east-1', 'dst.region': 'us-west-2', 'src.app': 'api', 'dst.app': 'aws:s3:us-west-2', flows: 1, packets: 10, bytes: 3000 },
    ]);
    assert.deepEqual(await report('cross-region', { by: ['src.region', 'dst.region'] }), [{ 'src.region': 'us-east-1', 'dst.region': 'us-west-2', flows: 6, packets: 60, bytes: 503000 }]);
  });

  it('cross-az: both zones known and different', async () => {
    assert.deepEqual(await report('cross-az'), [
      { 'src.az': 'us-east-1b', 'dst.az': 'us-west-2a', 'src.app': 'api', 'dst.app': 'cache', flows: 5, packets: 50, bytes: 500000 },
      { 'src.az': 'us-east-1a', 'dst.az': 'us-east-1b', 'src.app': 'web', 'dst.app': 'api', flows: 16, packets: 160, bytes: 16000 },
      { 'src.az': 'us-east-1b', 'dst.az': 'us-east-1a', 'src.app': 'api', 'dst.app': 'db', flows: 10, packets: 10, bytes: 1000 },
    ]);
  });

  it('a store without the zones names both missing dimensions and the --dimensions to run with', async () => {
    await assert.rejects(report('cross-az', {}, narrow), (e: unknown) => {
      assert.ok(e instanceof DredgeError && e.code === 'DREDGE_ERR_CONFIG');
      assert.match(e.message, /cross-az needs src\.az and dst\.az/);
      assert.match(e.message, /written with --dimensions "src\.app,dst\.app,action"/);
      assert.match(e.message, /dredge run --dimensions "src\.app,dst\.app,action,src\.az,dst\.az"/);
      return true;
    });
  });
});

describe('rejected, internet, unattributed', () => {
  it('rejected: action REJECT by app pair, port and protocol', async () => {
    assert.deepEqual(await report('rejected'), [
      { 'src.app': 'internet', 'dst.app': 'web', dstport: 22, protocol: 6, flows: 20, packets: 20, bytes: 1200 },
      { 'src.app': 'api', 'dst.app': 'db', dstport: 5432, protocol: 6, flows: 10, packets: 10, bytes: 1000 },
    ]);
    // Without port/protocol columns the report still answers, by app pair.
    assert.deepEqual(await report('rejected', {}, narrow), [pair('internet', 'web', 20, 20, 1200), pair('api', 'db', 10, 10, 1000)]);
  });

  it('internet: by direction and the app on our side', async () => {
    assert.deepEqual(await report('internet'), [
      { direction: 'inbound', app: 'web', dstport: 443, protocol: 6, flows: 7, packets: 70, bytes: 70000 },
      { direction: 'outbound', app: 'web', dstport: 443, protocol: 6, flows: 3, packets: 30, bytes: 9000 },
      { direction: 'inbound', app: 'web', dstport: 22, protocol: 6, flows: 20, packets: 20, bytes: 1200 },
    ]);
    assert.deepEqual(await report('internet', {}, narrow), [
      { direction: 'inbound', app: 'web', flows: 27, packets: 90, bytes: 71200 },
      { direction: 'outbound', app: 'web', flows: 3, packets: 30, bytes: 9000 },
    ]);
  });

  it('unattributed: by side and reason with shares of all flows and bytes', async () => {
    assert.deepEqual(await report('unattributed'), [
      { side: 'src', reason: 'unknown', flows: 8, packets: 8, bytes: 800, flows_pct: 10, bytes_pct: 0.12 },
      { side: 'src', reason: 'gap', flows: 2, packets: 2, bytes: 200, flows_pct: 2.5, bytes_pct: 0.03 },
      { side: 'dst', reason: 'conflict', flows: 1, packets: 1, bytes: 100, flows_pct: 1.25, bytes_pct: 0.01 },
    ]);
    // Shares are of the same time range.
    assert.deepEqual(await report('unattributed', { since: '1h', by: ['protocol'] }), [
      { side: 'src', reason: 'unknown', protocol: 17, flows: 8, packets: 8, bytes: 800, flows_pct: 12.9, bytes_pct: 0.21 },
      { side: 'src', reason: 'gap', protocol: 6, flows: 2, packets: 2, bytes: 200, flows_pct: 3.23, bytes_pct: 0.05 },
      { side: 'dst', reason: 'conflict', protocol: 6, flows: 1, packets: 1, bytes: 100, flows_pct: 1.61, bytes_pct: 0.03 },
    ]);
  });
});

describe('dimension errors', () => {
  it('an unknown dimension lists what the store has', async () => {
    await assert.rejects(report('top-talkers', { by: ['dst.app', 'colour'] }), (e: unknown) => {
      assert.ok(e instanceof DredgeError && e.code === 'DREDGE_ERR_CONFIG');
      assert.match(e.message, /unknown dimension "colour"/);
      assert.match(e.message, /This store has: src\.app, dst\.app, src\.region/);
      return true;
    });
    await assert.rejects(report('top-talkers', { by: ['bytes'] }), /bytes is a metric/);
    await assert.rejects(report('top-talkers', { by: ['srcaddr'] }), /srcaddr is an address/);
    await assert.rejects(report('top-talkers', { by: [] }), /--by is empty/);
  });

  it('a valid dimension the run did not collect names the --dimensions to run with', async () => {
    await assert.rejects(report('top-talkers', { by: ['src.vpc'] }), (e: unknown) => {
      assert.ok(e instanceof DredgeError);
      assert.match(e.message, /this store has no src\.vpc \(column src_vpc\)/);
      assert.match(e.message, /--dimensions "src\.app,dst\.app,src\.region,dst\.region,src\.az,dst\.az,protocol,dstport,action,src\.vpc"/);
      return true;
    });
    await assert.rejects(report('top-talkers', { by: ['dst_port'] }, narrow), /no dst_port \(column dstport\)/);
  });
});
