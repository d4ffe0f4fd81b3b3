// End to end through the worker pool: totals per (window, src.app, dst.app) equal the single-threaded
// reference, for 1, 2 and 4 workers, batches of random sizes submitted in random order.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pipeline } from '../../src/daemon/pipeline.js';
import { FlowFormat } from '../../src/parse/fields.js';
import { Rng, TrafficGenerator, V5_CUSTOM_20 } from '../../src/sources/generator/traffic.js';
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

test('text, integer and port dimensions on a custom format with a header line: values and ephemeral-port rule match a reference', async () => {
  const fmt = FlowFormat.parse(V5_CUSTOM_20);
  const gen = new TrafficGenerator(fmt, { seed: 5, hosts: 2000, subnets: 160, startTime: START, spanSeconds: 600 });
  const body = gen.lines(20_000);
  const text = Buffer.concat([Buffer.from(fmt.names.join(' ') + '\n'), body]);
  const view = smallIndex(160, 'app');
  const sink = new CollectSink();
  const dims = 'src.app,flow_direction,srcport,dstport,traffic_path';
  const lines = body.toString('latin1').split('\n').filter((l) => l !== '');
  // Keep three ephemeral source ports that really occur, so the --keep-ports rule is exercised.
  const srcportAt = fmt.names.indexOf('srcport');
  const keep = [...new Set(lines.map((l) => Number(l.split(' ')[srcportAt])).filter((x) => x >= 32768))].slice(0, 3);
  assert.equal(keep.length, 3);
  const p = new Pipeline({ sink, index: view, workers: 2, dimensions: dims, keepPorts: keep, latenessSeconds: 7200 });
  // Cut into batches; every batch after the first carries the header again, as the file source does.
  for (let i = 0; i < lines.length; i += 2500) await p.submit({ bytes: Buffer.from(fmt.names.join(' ') + '\n' + lines.slice(i, i + 2500).join('\n') + '\n'), prefixLines: 1 });
  const stats = await p.close();
  assert.equal(stats.malformed, 0);
  const idx = (n: string): number => fmt.names.indexOf(n);
  const port = (s: string): number => (Number(s) >= 32768 && !keep.includes(Number(s)) ? 0 : Number(s));
  const want = new Map<string, number>();
  for (const l of text.toString('latin1').split('\n').slice(1)) {
    if (l === '') continue;
    const f = l.split(' ');
    if (f[idx('log-status')] !== 'OK') continue;
    const start = Number(f[idx('start')]);
    const ip = (f[idx('srcaddr')] as string).split('.').reduce((a, o) => a * 256 + Number(o), 0);
    const r = view.lookupV4(ip, start);
    const tp = f[idx('traffic-path')] as string;
    const k = JSON.stringify([r >= 0 ? view.meta.field(r, 'app') : null, f[idx('flow-direction')], port(f[idx('srcport')] as string), port(f[idx('dstport')] as string), tp === '-' ? null : Number(tp)]);
    want.set(k, (want.get(k) ?? 0) + 1);
  }
  const got = new Map<string, number>();
  for (const [k, v] of sumBy(sink.rows, dims.split(','))) got.set(k, v.flows);
  assert.deepEqual(new Map([...got].sort()), new Map([...want].sort()));
  assert.ok([...got.keys()].some((k) => k.includes('"ingress"')) && [...got.keys()].some((k) => k.includes('"egress"')));
});
