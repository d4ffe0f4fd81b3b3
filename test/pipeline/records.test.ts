// Batches made of Kinesis records (RawBatch.recordEnds): each record is decoded on its own, so plain,
// gzip and CloudWatch-envelope records mix in one batch, a damaged record is counted and named by its
// sequence number while its neighbours are kept, CONTROL_MESSAGE envelopes add nothing, and a batch
// with no bytes only moves its shard's position (SHARD_END). Also: a flush holds exactly a prefix of
// each source's batches, so the positions it names cover every row in it and nothing more.

import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { Pipeline } from '../../src/daemon/pipeline.js';
import type { CheckpointStore, SourcePosition } from '../../src/sinks/sink.js';
import { TrafficGenerator } from '../../src/sources/generator/traffic.js';
import { CollectSink, smallIndex } from './helpers.js';

const enc = new TextEncoder();

class MemoryCheckpoints implements CheckpointStore {
  readonly saved = new Map<string, SourcePosition>();
  readonly history: SourcePosition[][] = [];
  async load(): Promise<Map<string, SourcePosition>> {
    return new Map(this.saved);
  }
  async save(p: readonly SourcePosition[]): Promise<void> {
    this.history.push([...p]);
    for (const x of p) this.saved.set(x.key, x);
  }
}

function envelope(lines: string[], type = 'DATA_MESSAGE'): Uint8Array {
  return gzipSync(JSON.stringify({ messageType: type, owner: '123456789012', logGroup: 'g', logStream: 's', subscriptionFilters: ['f'], logEvents: lines.map((m, i) => ({ id: String(i), timestamp: 1763900000000, message: m })) }));
}

function records(parts: Uint8Array[]): { bytes: Uint8Array; recordEnds: Uint32Array } {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const bytes = new Uint8Array(new SharedArrayBuffer(total));
  const recordEnds = new Uint32Array(parts.length);
  let o = 0;
  parts.forEach((p, i) => {
    bytes.set(p, o);
    o += p.length;
    recordEnds[i] = o;
  });
  return { bytes, recordEnds };
}

function sum(lines: string[]): { flows: number; bytes: number } {
  let flows = 0;
  let bytes = 0;
  for (const l of lines) {
    const f = l.split(' ');
    if (f[13] !== 'OK') continue;
    flows++;
    bytes += Number(f[9]);
  }
  return { flows, bytes };
}

test('a batch of mixed records: each decoded alone, a damaged one counted and named, the rest kept; SHARD_END moves the position', async () => {
  const gen = new TrafficGenerator(undefined, { seed: 7, hosts: 2000, subnets: 64, startTime: 1763900000, spanSeconds: 600 });
  const lines = Array.from({ length: 400 }, () => gen.line());
  const a = lines.slice(0, 100);
  const b = lines.slice(100, 200);
  const c = lines.slice(200, 300);
  const d = lines.slice(300, 400);
  const broken = gzipSync(enc.encode(d.join('\n'))).subarray(0, 60); // truncated gzip member
  const { bytes, recordEnds } = records([
    enc.encode(a.join('\n')), // raw lines, no trailing newline
    gzipSync(enc.encode(b.join('\n') + '\n')), // gzip lines
    envelope(c), // CloudWatch envelope
    broken,
    envelope([], 'CONTROL_MESSAGE'),
  ]);
  const sink = new CollectSink();
  const checkpoints = new MemoryCheckpoints();
  const p = new Pipeline({ sink, index: smallIndex(64), checkpoints, workers: 2, dimensions: 'src.app,dst.app', flushIntervalMs: 60_000 });
  await p.submit({ bytes, recordEnds, recordIds: ['seq-1', 'seq-2', 'seq-3', 'seq-4', 'seq-5'], source: 'shardId-000000000000', position: { key: 'shardId-000000000000', value: 'seq-5' } });
  await p.submit({ bytes: new Uint8Array(0), source: 'shardId-000000000000', position: { key: 'shardId-000000000000', value: 'SHARD_END' } });
  const stats = await p.close();
  const want = sum([...a, ...b, ...c]);
  assert.equal(stats.flows, want.flows);
  assert.equal(sink.rows.reduce((n, r) => n + (r.flows as number), 0), want.flows);
  assert.equal(sink.rows.reduce((n, r) => n + (r.bytes as number), 0), want.bytes);
  assert.equal(stats.malformed, 1);
  assert.equal(stats.controlMessages, 1);
  assert.equal(stats.envelopes, 2);
  assert.equal(stats.damagedBatches, 0);
  assert.equal(p.errors.length, 1);
  assert.equal(p.errors[0]?.source, 'shardId-000000000000');
  assert.match(p.errors[0]?.reason ?? '', /^record seq-4: gzip stream is truncated/);
  assert.deepStrictEqual(checkpoints.saved.get('shardId-000000000000'), { key: 'shardId-000000000000', value: 'SHARD_END' });
});

test('a flush holds exactly a prefix of each source: a batch that overtook a slow one waits for it', async () => {
  // Batch 1 is large (slow to aggregate), batch 2 tiny; with two workers batch 2's partial arrives
  // first. A flush taken right then must carry neither (batch 1 is not in, so batch 2 is not a prefix).
  const gen = new TrafficGenerator(undefined, { seed: 9, hosts: 2000, subnets: 64, startTime: 1763900000, spanSeconds: 600 });
  const big = Array.from({ length: 200_000 }, () => gen.line());
  const small = Array.from({ length: 50 }, () => gen.line());
  const sink = new CollectSink();
  const checkpoints = new MemoryCheckpoints();
  const p = new Pipeline({ sink, index: smallIndex(64), checkpoints, workers: 2, dimensions: 'src.app,dst.app', flushIntervalMs: 60_000 });
  const shared = (s: string): Uint8Array => {
    const e = enc.encode(s);
    const u = new Uint8Array(new SharedArrayBuffer(e.length));
    u.set(e);
    return u;
  };
  await p.submit({ bytes: shared(big.join('\n') + '\n'), source: 'f', position: { key: 'f', value: '1' } });
  await p.submit({ bytes: shared(small.join('\n') + '\n'), source: 'f', position: { key: 'f', value: '2' } });
  // Wait for batch 2's partial (it is ~4000× smaller), then flush while batch 1 is still being aggregated.
  while (p.stats.records === 0) await new Promise((r) => setTimeout(r, 1));
  assert.equal(p.stats.records, small.length, 'the small batch must overtake the big one for this test to mean anything');
  await p.flush();
  const first = sink.rows.reduce((n, r) => n + (r.flows as number), 0);
  const firstSaved = checkpoints.saved.get('f')?.value;
  const stats = await p.close();
  const all = sink.rows.reduce((n, r) => n + (r.flows as number), 0);
  assert.equal(all, stats.flows);
  assert.equal(all, sum([...big, ...small]).flows);
  // The first flush is a prefix: nothing yet, or batch 1 if it finished during the flush, with the position to match.
  const want = firstSaved === undefined ? 0 : firstSaved === '1' ? sum(big).flows : sum([...big, ...small]).flows;
  assert.equal(first, want, `first flush had ${first} flows with position ${firstSaved}`);
});

test('a flush completes while intake goes on (back-to-back merge rounds do not starve it)', { timeout: 120_000 }, async () => {
  const gen = new TrafficGenerator(undefined, { seed: 11, hosts: 2000, subnets: 64, startTime: 1763900000, spanSeconds: 600 });
  const text: Uint8Array = gen.lines(100_000);
  const sink = new CollectSink();
  // Every partial is far above the merge threshold and 4 batches are in flight, so a round nearly always
  // ends with the next one's partials waiting, as at full speed on big inputs.
  const p = new Pipeline({ sink, index: smallIndex(64), workers: 2, dimensions: 'src.app,dst.app,dstport', flushIntervalMs: 3_600_000, mergeRows: 100, maxInFlight: 4 });
  // Intake goes on until the flush has resolved, up to a cap far beyond any machine's flush (so a
  // starved flush fails the test instead of hanging the suite): the flush must resolve while intake
  // still runs.
  const CAP_MS = 90_000;
  let stop = false;
  let intakeEnded = false;
  let batches = 0;
  const intake = (async () => {
    const t0 = performance.now();
    while (!stop && performance.now() - t0 < CAP_MS) {
      const u = new Uint8Array(new SharedArrayBuffer(text.length));
      u.set(text);
      await p.submit({ bytes: u });
      batches++;
    }
    intakeEnded = true;
  })();
  while (batches < 20 && p.stats.merges < 3) await new Promise((r) => setTimeout(r, 5));
  await p.flush();
  const resolvedDuringIntake = !intakeEnded;
  stop = true;
  await intake;
  await p.close();
  assert.ok(resolvedDuringIntake, `the flush resolved only after intake stopped at the ${CAP_MS} ms cap: starved by back-to-back merge rounds`);
  assert.ok(p.stats.flushes >= 2);
});
