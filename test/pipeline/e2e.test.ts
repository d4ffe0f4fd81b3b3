// End to end through the worker pool: totals per (window, src.app, dst.app) equal the single-threaded
// reference, for 1, 2 and 4 workers, batches of random sizes submitted in random order.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pipeline } from '../../src/daemon/pipeline.js';
import { Rng, TrafficGenerator } from '../../src/sources/generator/traffic.js';
import { CollectSink, referenceTotals, smallIndex, sumBy } from './helpers.js';

const START = 1763900000;

/** Cuts text into batches of random line counts, then shuffles them. */
function randomBatches(text: Buffer, seed: number): Buffer[] {
  const rng = new Rng(seed);
  const out: Buffer[] = [];
  let at = 0;
  while (at < text.length) {
    let end = at;
    const lines = 1 + rng.int(3000);
    for (let i = 0; i < lines && end < text.length; i++) {
      const nl = text.indexOf(10, end);
      end = nl < 0 ? text.length : nl + 1;
    }
    out.push(Buffer.from(text.subarray(at, end)));
    at = end;
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j] as Buffer, out[i] as Buffer];
  }
  return out;
}

for (const workers of [1, 2, 4]) {
  test(`${workers} worker(s): totals per (window, src.app, dst.app) equal the reference`, async () => {
    const gen = new TrafficGenerator(undefined, { seed: 100 + workers, hosts: 3000, subnets: 300, startTime: START, spanSeconds: 3600 });
    const text = gen.lines(60_000);
    const view = smallIndex(300, 'app', { startTime: START, churn: true });
    const sink = new CollectSink();
    const p = new Pipeline({ sink, index: view, workers, dimensions: 'src.app,dst.app', latenessSeconds: 7200, mergeRows: 5000 });
    for (const b of randomBatches(text, workers)) await p.submit({ bytes: b });
    const stats = await p.close();
    const want = referenceTotals(text.toString('latin1'), view);
    const got = sumBy(sink.rows, ['window_start', 'src.app', 'dst.app']);
    assert.equal(stats.late.flows, 0);
    assert.equal(got.size, want.size, 'same number of (window, src.app, dst.app) groups');
    for (const [k, v] of want) assert.deepEqual(got.get(k), v, k);
    let flows = 0;
    for (const v of want.values()) flows += v.flows;
    assert.equal(stats.flows, flows);
    assert.equal(stats.records, 60_000);
    assert.equal(stats.flows + stats.nodata + stats.skipdata, 60_000);
    assert.ok(sink.closed);
  });
}
