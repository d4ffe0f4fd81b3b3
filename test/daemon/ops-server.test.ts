// The operations listener: /metrics serves the providers' exact numbers under dredge_… names (per-shard
// labels, latency histograms that grow only by samples added since the previous scrape), /healthz is
// liveness, /readyz is 200 only when the sink is healthy, the pipeline has not failed and every reading
// Kinesis shard is caught up (503 with the reasons otherwise), other paths are 404, and a port already
// taken is a DREDGE_ERR_CONFIG naming --ops-listen.

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import type { AddressInfo } from 'node:net';
import { Pipeline, emptyPipelineStats, type PipelineStats } from '../../src/daemon/pipeline.js';
import { DredgeMetrics, PIPELINE_SAMPLE_CAP, timedCheckpoints } from '../../src/daemon/metrics.js';
import { kinesisCheck, readiness, startOpsServer, type Readiness } from '../../src/daemon/ops-server.js';
import { DredgeError } from '../../src/errors.js';
import type { SinkHealth, SourcePosition } from '../../src/sinks/sink.js';
import type { ShardStatus } from '../../src/sources/kinesis/stream-source.js';
import { TrafficGenerator } from '../../src/sources/generator/traffic.js';
import { CollectSink, smallIndex } from '../pipeline/helpers.js';

const enc = new TextEncoder();

function stats(over: Partial<PipelineStats> = {}): PipelineStats {
  return { ...emptyPipelineStats(), ...over };
}

function shard(id: string, over: Partial<ShardStatus> = {}): ShardStatus {
  return { id, parents: [], closed: false, state: 'PROCESSING', millisBehindLatest: 0, records: 0, bytes: 0, batches: 0, lastSequence: null, checkpoint: null, getRecordsCalls: 0, throttles: 0, transientErrors: 0, expiredIterators: 0, ...over };
}

/** Sample lines of an exposition → value by `name{labels}` (labels as printed). */
function parse(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return m;
}

function val(m: Map<string, number>, key: string): number {
  const v = m.get(key);
  assert.notEqual(v, undefined, `metric ${key} missing; have ${[...m.keys()].filter((k) => k.startsWith('dredge_')).join(', ')}`);
  return v as number;
}

async function get(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(url, { method });
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
}

const alwaysReady = async (): Promise<Readiness> => ({ ok: true, checks: [] });

test('/metrics serves every provider number exactly, under dredge_ names, with per-shard labels and process metrics', async () => {
  const s = stats({ batches: 7, bytesIn: 123456, records: 1000, flows: 990, packets: 5000, bytes: 777777, malformed: 3, late: { flows: 11, packets: 22, bytes: 33 }, unattributedSrc: 17, unattributedDst: 19, lookupsJs: 6, damagedBatches: 2, retried: 1, sinkRetries: 4, flushes: 5, rowsFlushed: 321, generation: 3 });
  const shards = [shard('shardId-000000000000', { millisBehindLatest: 1500, records: 400, bytes: 9000, getRecordsCalls: 12, throttles: 2, transientErrors: 1, expiredIterators: 1 }), shard('shardId-000000000001', { millisBehindLatest: null, records: 9, getRecordsCalls: 1 })];
  const m = new DredgeMetrics({
    pipeline: () => s,
    shards: () => shards,
    index: () => ({ generation: 4, bytes: 65536 }),
    sink: () => ({ writes: 5, errors: 2, writeMs: 1500 }),
    lastFlushMs: () => 1_763_900_000_500,
    lastCheckpointMs: () => 1_763_900_001_000,
  });
  const srv = await startOpsServer({ metrics: m, ready: alwaysReady });
  try {
    const r = await get(`${srv.url}/metrics`);
    assert.equal(r.status, 200);
    assert.equal(r.type, m.registry.contentType);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    const v = parse(r.body);
    const want: Record<string, number> = {
      dredge_batches_total: 7,
      dredge_input_bytes_total: 123456,
      dredge_records_total: 1000,
      dredge_flows_total: 990,
      dredge_flow_packets_total: 5000,
      dredge_flow_bytes_total: 777777,
      dredge_malformed_records_total: 3,
      dredge_late_flows_total: 11,
      'dredge_unattributed_total{side="src"}': 17,
      'dredge_unattributed_total{side="dst"}': 19,
      dredge_damaged_batches_total: 2,
      dredge_batch_retries_total: 1,
      dredge_flushes_total: 5,
      dredge_rows_flushed_total: 321,
      dredge_sink_write_retries_total: 4,
      dredge_index_js_lookups_total: 6,
      dredge_sink_writes_total: 5,
      dredge_sink_write_errors_total: 2,
      dredge_sink_write_seconds_total: 1.5,
      dredge_index_generation: 4,
      dredge_index_size_bytes: 65536,
      dredge_last_flush_timestamp_seconds: 1_763_900_000.5,
      dredge_last_checkpoint_timestamp_seconds: 1_763_900_001,
      'dredge_kinesis_millis_behind_latest{shard="shardId-000000000000"}': 1500,
      'dredge_kinesis_records_total{shard="shardId-000000000000"}': 400,
      'dredge_kinesis_records_total{shard="shardId-000000000001"}': 9,
      'dredge_kinesis_bytes_total{shard="shardId-000000000000"}': 9000,
      'dredge_kinesis_get_records_total{shard="shardId-000000000000"}': 12,
      'dredge_kinesis_get_records_total{shard="shardId-000000000001"}': 1,
      'dredge_kinesis_throttles_total{shard="shardId-000000000000"}': 2,
      'dredge_kinesis_transient_errors_total{shard="shardId-000000000000"}': 1,
      'dredge_kinesis_expired_iterators_total{shard="shardId-000000000000"}': 1,
    };
    for (const [k, x] of Object.entries(want)) assert.equal(val(v, k), x, k);
    // A shard without a page yet has no lag sample (not a misleading 0).
    assert.equal(v.has('dredge_kinesis_millis_behind_latest{shard="shardId-000000000001"}'), false);
    assert.ok(val(v, 'process_resident_memory_bytes') > 0);
    // Types as Prometheus expects them.
    assert.match(r.body, /# TYPE dredge_flows_total counter/);
    assert.match(r.body, /# TYPE dredge_kinesis_millis_behind_latest gauge/);
    assert.match(r.body, /# TYPE dredge_batch_latency_seconds histogram/);
    // Values move with the providers: nothing is cached between scrapes.
    s.flows = 2000;
    shards[0] = shard('shardId-000000000000', { millisBehindLatest: 20, records: 500 });
    const v2 = parse((await get(`${srv.url}/metrics`)).body);
    assert.equal(val(v2, 'dredge_flows_total'), 2000);
    assert.equal(val(v2, 'dredge_kinesis_millis_behind_latest{shard="shardId-000000000000"}'), 20);
    assert.equal(val(v2, 'dredge_kinesis_records_total{shard="shardId-000000000000"}'), 500);
  } finally {
    await srv.close();
  }
});

test('latency histograms observe only the samples added since the previous scrape', async () => {
  const s = stats({ batchLatencyMs: [4, 30, 700], flushDelayMs: [1200] });
  const m = new DredgeMetrics({ pipeline: () => s }, { defaultMetrics: false });
  const v1 = parse(await m.metrics());
  assert.equal(val(v1, 'dredge_batch_latency_seconds_count'), 3);
  assert.ok(Math.abs(val(v1, 'dredge_batch_latency_seconds_sum') - 0.734) < 1e-9);
  assert.equal(val(v1, 'dredge_batch_latency_seconds_bucket{le="0.005"}'), 1);
  assert.equal(val(v1, 'dredge_batch_latency_seconds_bucket{le="0.05"}'), 2);
  assert.equal(val(v1, 'dredge_batch_latency_seconds_bucket{le="1"}'), 3);
  assert.equal(val(v1, 'dredge_flush_delay_seconds_count'), 1);
  // Same arrays, nothing new: the counts stay.
  const v2 = parse(await m.metrics());
  assert.equal(val(v2, 'dredge_batch_latency_seconds_count'), 3);
  assert.equal(val(v2, 'dredge_flush_delay_seconds_count'), 1);
  s.batchLatencyMs.push(2000, 3);
  s.flushDelayMs.push(50_000);
  const v3 = parse(await m.metrics());
  assert.equal(val(v3, 'dredge_batch_latency_seconds_count'), 5);
  assert.ok(Math.abs(val(v3, 'dredge_batch_latency_seconds_sum') - 2.737) < 1e-9);
  assert.equal(val(v3, 'dredge_batch_latency_seconds_bucket{le="0.005"}'), 2);
  assert.equal(val(v3, 'dredge_flush_delay_seconds_count'), 2);
  assert.equal(val(v3, 'dredge_flush_delay_seconds_bucket{le="30"}'), 1);
  // Without trimming, the small arrays are left as they were.
  assert.equal(s.batchLatencyMs.length, 5);
});

test("the pipeline's 100k sample cap: observed samples are trimmed away so later ones still arrive", async () => {
  const half = PIPELINE_SAMPLE_CAP / 2;
  const s = stats({ batchLatencyMs: Array.from({ length: half + 10 }, () => 1) });
  const m = new DredgeMetrics({ pipeline: () => s }, { defaultMetrics: false });
  assert.equal(val(parse(await m.metrics()), 'dredge_batch_latency_seconds_count'), half + 10);
  assert.equal(s.batchLatencyMs.length, 0, 'observed samples leave the array once it is half full');
  s.batchLatencyMs.push(5, 5, 5);
  assert.equal(val(parse(await m.metrics()), 'dredge_batch_latency_seconds_count'), half + 13);
  // With trimSamples off the array is never touched.
  const keep = stats({ batchLatencyMs: Array.from({ length: half + 10 }, () => 1) });
  const m2 = new DredgeMetrics({ pipeline: () => keep }, { defaultMetrics: false, trimSamples: false });
  await m2.metrics();
  assert.equal(keep.batchLatencyMs.length, half + 10);
  keep.batchLatencyMs.push(5);
  assert.equal(val(parse(await m2.metrics()), 'dredge_batch_latency_seconds_count'), half + 11);
});

test('a new pipeline (new stats object) reads as a counter reset and its samples are all observed', async () => {
  let s: PipelineStats | null = null;
  const m = new DredgeMetrics({ pipeline: () => s }, { defaultMetrics: false });
  const v0 = parse(await m.metrics());
  assert.equal(val(v0, 'dredge_flows_total'), 0);
  assert.equal(val(v0, 'dredge_batch_latency_seconds_count'), 0);
  s = stats({ flows: 100, batchLatencyMs: [1, 2, 3, 4] });
  assert.equal(val(parse(await m.metrics()), 'dredge_batch_latency_seconds_count'), 4);
  s = stats({ flows: 5, batchLatencyMs: [1, 2] });
  const v2 = parse(await m.metrics());
  assert.equal(val(v2, 'dredge_flows_total'), 5);
  assert.equal(val(v2, 'dredge_batch_latency_seconds_count'), 6);
});

test('flows per second over the scrape interval, and the last flush time seen when no clock is given', async () => {
  let now = 1_000_000;
  const s = stats();
  const m = new DredgeMetrics({ pipeline: () => s }, { defaultMetrics: false, now: () => now });
  now += 2000;
  s.flows = 500;
  let v = parse(await m.metrics());
  assert.equal(val(v, 'dredge_flows_per_second'), 250);
  assert.equal(val(v, 'dredge_last_flush_timestamp_seconds'), 0);
  now += 4000;
  s.flows = 4500;
  s.flushes = 1;
  v = parse(await m.metrics());
  assert.equal(val(v, 'dredge_flows_per_second'), 1000);
  assert.equal(val(v, 'dredge_last_flush_timestamp_seconds'), 1006);
  now += 1000;
  v = parse(await m.metrics());
  assert.equal(val(v, 'dredge_flows_per_second'), 0);
  assert.equal(val(v, 'dredge_last_flush_timestamp_seconds'), 1006, 'no new flush: the time stays');
  // Index generation falls back to the pipeline's when no index provider is given; no size then.
  s.generation = 9;
  v = parse(await m.metrics());
  assert.equal(val(v, 'dredge_index_generation'), 9);
  assert.equal(v.has('dredge_index_size_bytes'), false);
});

test('timedCheckpoints stamps each save after the store resolved', async () => {
  const saved: SourcePosition[][] = [];
  let now = 42_000;
  const t = timedCheckpoints({ load: async () => new Map(), save: async (p) => void saved.push([...p]) }, () => now);
  assert.equal(t.lastSaveMs, null);
  await t.save([{ key: 'a', value: '1' }]);
  assert.equal(t.lastSaveMs, 42_000);
  now = 43_000;
  await t.save([{ key: 'a', value: '2' }]);
  assert.equal(t.lastSaveMs, 43_000);
  assert.equal(saved.length, 2);
  const failing = timedCheckpoints({ load: async () => new Map(), save: async () => Promise.reject(new Error('disk full')) }, () => now);
  await assert.rejects(failing.save([]), /disk full/);
  assert.equal(failing.lastSaveMs, null, 'a failed save is not a checkpoint');
});

test('a real pipeline: /metrics matches its stats after batches and a flush', async () => {
  const gen = new TrafficGenerator(undefined, { seed: 3, hosts: 2000, subnets: 64, startTime: 1763900000, spanSeconds: 600 });
  const sink = new CollectSink();
  const p = new Pipeline({ sink, index: smallIndex(64), workers: 1, dimensions: 'src.app,dst.app', flushIntervalMs: 60_000 });
  const m = new DredgeMetrics({ pipeline: () => p.stats }, { defaultMetrics: false });
  const srv = await startOpsServer({ metrics: m, ready: alwaysReady });
  let ok = 0;
  try {
    for (let b = 0; b < 3; b++) {
      const lines = Array.from({ length: 300 }, () => gen.line());
      ok += lines.filter((l) => l.split(' ')[13] === 'OK').length;
      lines.push('this is not a flow log line');
      await p.submit({ bytes: enc.encode(lines.join('\n') + '\n'), source: 'f', position: { key: 'f', value: String(b) } });
    }
    await p.drain();
    await p.flush();
    const v = parse((await get(`${srv.url}/metrics`)).body);
    assert.equal(val(v, 'dredge_batches_total'), 3);
    assert.equal(val(v, 'dredge_flows_total'), ok);
    assert.equal(val(v, 'dredge_flows_total'), p.stats.flows);
    assert.equal(val(v, 'dredge_malformed_records_total'), 3);
    assert.equal(val(v, 'dredge_flushes_total'), 1);
    assert.equal(val(v, 'dredge_rows_flushed_total'), sink.rows.length);
    assert.ok(sink.rows.length > 0);
    assert.equal(val(v, 'dredge_unattributed_total{side="src"}'), p.stats.unattributedSrc);
    assert.equal(val(v, 'dredge_batch_latency_seconds_count'), 3);
    assert.equal(val(v, 'dredge_flush_delay_seconds_count'), 3);
    assert.ok(val(v, 'dredge_last_flush_timestamp_seconds') > Date.now() / 1000 - 60);
  } finally {
    await srv.close();
    await p.close();
  }
});

test('/healthz is 200 ok; unknown paths 404; other methods 405', async () => {
  const m = new DredgeMetrics({ pipeline: () => null }, { defaultMetrics: false });
  const srv = await startOpsServer({ metrics: m, ready: alwaysReady });
  try {
    const h = await get(`${srv.url}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(h.body, 'ok\n');
    assert.equal((await get(`${srv.url}/`)).status, 404);
    assert.equal((await get(`${srv.url}/metricsx`)).status, 404);
    assert.equal((await get(`${srv.url}/metrics`, 'POST')).status, 405);
    assert.equal((await get(`${srv.url}/metrics?x=1`)).status, 200);
  } finally {
    await srv.close();
  }
});

test('/readyz: 200 when the sink is healthy, the pipeline running and every shard caught up; 503 with the reason otherwise', async () => {
  let health: SinkHealth = { ok: true, detail: 'store writable' };
  const sink = { name: 'duckdb', health: async () => health };
  let fatal: Error | null = null;
  let shards = [shard('shardId-000000000000', { millisBehindLatest: 200 }), shard('shardId-000000000001', { millisBehindLatest: 59_000 }), shard('shardId-000000000002', { state: 'SHARD_ENDED', millisBehindLatest: 900_000 })];
  const ready = readiness({ sink, pipeline: () => fatal, kinesis: { shards: () => shards } });
  const m = new DredgeMetrics({ pipeline: () => null }, { defaultMetrics: false });
  const srv = await startOpsServer({ metrics: m, ready });
  const check = async (): Promise<{ status: number; body: Readiness }> => {
    const r = await get(`${srv.url}/readyz`);
    assert.equal(r.type, 'application/json');
    return { status: r.status, body: JSON.parse(r.body) as Readiness };
  };
  try {
    let r = await check();
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.ok, true);
    assert.deepEqual(
      r.body.checks.map((c) => [c.name, c.ok]),
      [
        ['sink', true],
        ['pipeline', true],
        ['kinesis', true],
      ],
    );
    assert.match(r.body.checks[0]?.detail ?? '', /store writable/);

    health = { ok: false, detail: 'cannot open /data/dredge.duckdb: permission denied' };
    r = await check();
    assert.equal(r.status, 503);
    assert.equal(r.body.ok, false);
    assert.equal(r.body.checks.find((c) => c.name === 'sink')?.ok, false);
    assert.match(r.body.checks.find((c) => c.name === 'sink')?.detail ?? '', /permission denied/);
    health = { ok: true, detail: 'store writable' };
    assert.equal((await check()).status, 200);

    shards = [shard('shardId-000000000000', { millisBehindLatest: 200 }), shard('shardId-000000000001', { millisBehindLatest: 61_000 })];
    r = await check();
    assert.equal(r.status, 503);
    const k = r.body.checks.find((c) => c.name === 'kinesis');
    assert.equal(k?.ok, false);
    assert.match(k?.detail ?? '', /shardId-000000000001 61000 ms/);
    assert.doesNotMatch(k?.detail ?? '', /shardId-000000000000/);
    shards = [shard('shardId-000000000000', { millisBehindLatest: 200 })];
    assert.equal((await check()).status, 200);

    fatal = new DredgeError('DREDGE_ERR_SINK_WRITE', 'the duckdb sink did not take flush 7');
    r = await check();
    assert.equal(r.status, 503);
    assert.match(r.body.checks.find((c) => c.name === 'pipeline')?.detail ?? '', /did not take flush 7/);
  } finally {
    await srv.close();
  }
});

test('readiness: a sink without health() is ok; one that hangs or throws is not', async () => {
  const none = await readiness({ sink: { name: 'memory' }, pipeline: () => null })();
  assert.equal(none.ok, true);
  assert.deepEqual(
    none.checks.map((c) => c.name),
    ['sink', 'pipeline'],
  );
  // The check's timer is unref'd (it must not hold a stopping daemon); keep the loop alive meanwhile.
  const keepAlive = setInterval(() => undefined, 1000);
  const hangs = await readiness({ sink: { name: 'druid', health: () => new Promise<SinkHealth>(() => undefined) }, pipeline: () => null, healthTimeoutMs: 50 })().finally(() => clearInterval(keepAlive));
  assert.equal(hangs.ok, false);
  assert.match(hangs.checks[0]?.detail ?? '', /did not answer within 50 ms/);
  const throws = await readiness({ sink: { name: 'druid', health: () => Promise.reject(new Error('boom')) }, pipeline: () => null })();
  assert.equal(throws.ok, false);
  assert.match(throws.checks[0]?.detail ?? '', /boom/);
});

test('kinesis caught-up: no shards, a shard without a page, initializing only → not ready; ended shards ignored', () => {
  assert.equal(kinesisCheck([], 60_000).ok, false);
  const noPage = kinesisCheck([shard('s0', { millisBehindLatest: null })], 60_000);
  assert.equal(noPage.ok, false);
  assert.match(noPage.detail, /without a GetRecords page yet: s0/);
  assert.equal(kinesisCheck([shard('s0', { state: 'INITIALIZING', millisBehindLatest: null })], 60_000).ok, false);
  const ended = kinesisCheck([shard('s0', { state: 'DONE', millisBehindLatest: 999_999 }), shard('s1', { millisBehindLatest: 10 })], 60_000);
  assert.equal(ended.ok, true, ended.detail);
  assert.equal(kinesisCheck([shard('s1', { millisBehindLatest: 10 })], 5).ok, false, 'the threshold is honoured');
  assert.equal(kinesisCheck([shard('s1', { millisBehindLatest: 5 })], 5).ok, true, '≤ the threshold is caught up');
});

test('a port already taken: DREDGE_ERR_CONFIG naming --ops-listen', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as AddressInfo).port;
  try {
    const m = new DredgeMetrics({ pipeline: () => null }, { defaultMetrics: false });
    await assert.rejects(startOpsServer({ port, metrics: m, ready: alwaysReady }), (e: unknown) => {
      assert.ok(e instanceof DredgeError);
      assert.equal(e.code, 'DREDGE_ERR_CONFIG');
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.match(e.message, /--ops-listen HOST:PORT, or --ops-listen off/);
      return true;
    });
  } finally {
    await new Promise<void>((r) => blocker.close(() => r()));
  }
});
