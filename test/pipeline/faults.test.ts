// Faults on the real path: index generations swapped while batches are in flight, a worker thread
// killed mid-batch, a slow sink (intake waits instead of the heap growing), late records counted.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pipeline } from '../../src/daemon/pipeline.js';
import { DredgeError } from '../../src/errors.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { TrafficGenerator } from '../../src/sources/generator/traffic.js';
import { CollectSink, referenceTotals, smallIndex, sumBy, type Totals } from './helpers.js';

const START = 1763900000;

function lines(seed: number, n: number): Buffer {
  return new TrafficGenerator(undefined, { seed, hosts: 2000, subnets: 160, startTime: START, spanSeconds: 1800 }).lines(n);
}

function split(text: Buffer, parts: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (let i = 1; i <= parts; i++) {
    let end = i === parts ? text.length : Math.floor((text.length * i) / parts);
    if (end < text.length) end = text.indexOf(10, end) + 1;
    if (end > at) out.push(Buffer.from(text.subarray(at, end)));
    at = end;
  }
  return out;
}

function addInto(acc: Map<string, Totals>, m: Map<string, Totals>): void {
  for (const [k, v] of m) {
    const t = acc.get(k) ?? { flows: 0, packets: 0, bytes: 0 };
    t.flows += v.flows;
    t.packets += v.packets;
    t.bytes += v.bytes;
    acc.set(k, t);
  }
}

test('index generations swapped while batches are in flight: each batch is enriched with the generation it was dispatched with', async () => {
  const genA = smallIndex(160, 'a');
  const genB = smallIndex(160, 'b');
  const sink = new CollectSink();
  const p = new Pipeline({ sink, index: genA, workers: 2, dimensions: 'src.app,dst.app', latenessSeconds: 7200, maxInFlight: 6 });
  const batches = split(lines(7, 40_000), 40);
  const want = new Map<string, Totals>();
  for (let i = 0; i < batches.length; i++) {
    const view = i % 3 === 0 ? genB : genA;
    p.setIndex(view);
    addInto(want, referenceTotals((batches[i] as Buffer).toString('latin1'), view));
    await p.submit({ bytes: batches[i] as Buffer });
  }
  await p.close();
  const got = sumBy(sink.rows, ['window_start', 'src.app', 'dst.app']);
  assert.equal(got.size, want.size);
  for (const [k, v] of want) assert.deepEqual(got.get(k), v, k);
  // Both generations' names really occur (the swap is visible in the output).
  const apps = new Set(sink.rows.map((r) => String(r['src.app'])));
  assert.ok([...apps].some((a) => a.startsWith('a-')) && [...apps].some((a) => a.startsWith('b-')));
});

test('a worker thread killed mid-batch: the batch runs once more on another worker and totals stay exact', async () => {
  const view = smallIndex(160);
  const sink = new CollectSink();
  const p = new Pipeline({ sink, index: view, workers: 2, dimensions: 'src.app,dst.app', latenessSeconds: 7200 });
  const text = lines(11, 400_000);
  const batches = split(text, 4); // big batches: each keeps a worker busy long enough to be killed
  // Shared memory batches survive the worker (the file source reads into SharedArrayBuffers too).
  const shared = batches.map((b) => {
    const s = new Uint8Array(new SharedArrayBuffer(b.length));
    s.set(b);
    return s;
  });
  for (const b of shared) await p.submit({ bytes: b });
  // Both workers hold a batch now; kill one while it works.
  await new Promise((r) => setTimeout(r, 50));
  const victim = p.threads[0];
  assert.ok(victim !== undefined);
  await victim.terminate();
  const stats = await p.close();
  assert.ok(stats.retried >= 1, `retried ${stats.retried}`);
  const want = referenceTotals(text.toString('latin1'), view);
  const got = sumBy(sink.rows, ['window_start', 'src.app', 'dst.app']);
  assert.equal(got.size, want.size);
  for (const [k, v] of want) assert.deepEqual(got.get(k), v, k);
});

test('a slow sink slows intake: submit waits while a flush is delivered and the tables are full', async () => {
  const view = smallIndex(160);
  const sink = new CollectSink(300);
  const p = new Pipeline({ sink, index: view, workers: 1, dimensions: 'src.app,dst.app,dstport', latenessSeconds: 7200, flushIntervalMs: 20, maxGroups: 100, mergeRows: 100 });
  const batches = split(lines(13, 20_000), 20);
  let maxWait = 0;
  for (const b of batches) {
    const t = performance.now();
    await p.submit({ bytes: b });
    maxWait = Math.max(maxWait, performance.now() - t);
  }
  const stats = await p.close();
  assert.ok(maxWait >= 100, `intake never waited for the slow sink (longest submit ${maxWait.toFixed(0)} ms)`);
  assert.ok(stats.flushes >= 2);
  let flows = 0;
  for (const r of sink.rows) flows += r.flows as number;
  assert.equal(flows, stats.flows);
});

test('records for windows closed before their batch was dispatched are counted as late, not aggregated', async () => {
  const view = smallIndex(160);
  const sink = new CollectSink();
  const p = new Pipeline({ sink, index: view, workers: 1, dimensions: 'src.app', windowSeconds: 60, latenessSeconds: 300 });
  const mk = (start: number, n: number, bytes: number): Buffer =>
    Buffer.from(Array.from({ length: n }, () => `2 123456789012 eni-1 10.0.0.5 10.0.16.9 40000 443 6 2 ${bytes} ${start} ${start + 10} ACCEPT OK`).join('\n') + '\n');
  await p.submit({ bytes: mk(START + 3600, 10, 100) });
  await p.drain(); // its partial is in: the watermark is START + 3600 - 300
  await p.submit({ bytes: mk(START, 7, 50) }); // an hour old: its window closed long ago
  await p.submit({ bytes: mk(START + 3400, 5, 10) }); // within lateness: kept
  const stats = await p.close();
  assert.deepEqual(stats.late, { flows: 7, packets: 14, bytes: 350 });
  assert.equal(stats.flows, 15);
  let flows = 0;
  let late = 0;
  for (const b of sink.batches) {
    for (let i = 0; i < b.rows; i++) flows += b.flows[i] as number;
    late += b.late.flows;
  }
  assert.equal(flows, 15);
  assert.equal(late, 7, 'the flush reports the late flows it saw');
});

test('a sink that fails: retriable errors are tried again (rows delivered once); a permanent one stops the run before any checkpoint moves past it', async () => {
  const view = smallIndex(160);
  const saved: string[] = [];
  const checkpoints = { load: async () => new Map(), save: async (ps: readonly { key: string; value: string }[]) => void saved.push(...ps.map((x) => `${x.key}@${x.value}`)) };
  const text = lines(17, 5000);
  // Retriable: the first write fails, the retry succeeds.
  const sink = new MemorySink();
  sink.failNext();
  const p = new Pipeline({ sink, index: view, workers: 1, dimensions: 'src.app', latenessSeconds: 7200, checkpoints });
  await p.submit({ bytes: text, position: { key: 'f', value: '1' } });
  const stats = await p.close();
  assert.equal(stats.sinkRetries, 1);
  assert.equal(sink.totals().flows, stats.flows);
  assert.deepEqual(saved, ['f@1']);
  // Permanent: close rejects, nothing is checkpointed.
  saved.length = 0;
  const bad = new MemorySink();
  bad.failNext(new DredgeError('DREDGE_ERR_SINK_WRITE', 'disk gone', { retriable: false }));
  const q = new Pipeline({ sink: bad, index: view, workers: 1, dimensions: 'src.app', latenessSeconds: 7200, checkpoints });
  await q.submit({ bytes: lines(17, 5000), position: { key: 'f', value: '2' } });
  await assert.rejects(q.close(), /did not take flush 1: disk gone/);
  assert.deepEqual(saved, []);
});
