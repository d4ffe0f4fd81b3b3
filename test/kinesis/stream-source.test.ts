// The Kinesis source end to end against a real kinesalite: every record of a multi-shard stream is
// submitted exactly once, in sequence order per shard, with positions that name the last record of
// each batch; a restart from the durable positions loses and doubles nothing; stop() ends reading
// without a half-submitted batch.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KinesisSource } from '../../src/sources/kinesis/stream-source.js';
import { FAST, Owner, createStream, hashKeyOf, putTo, sleepMs, sorted, streamName, until, useKinesalite } from './harness.js';

const kin = useKinesalite();

describe('KinesisSource on a multi-shard stream', () => {
  it('submits every record once, in order per shard, with the last sequence number as position', async () => {
    const stream = streamName('e2e');
    await createStream(kin.client, stream, 4);
    const datas = Array.from({ length: 3000 }, (_, i) => `rec-${i}`);
    const written = await putTo(kin.client, stream, datas, (i) => hashKeyOf(i % 4, 4));
    const owner = new Owner();
    const source = new KinesisSource({ client: kin.client, stream, from: 'trim-horizon', positions: new Map(), stopWhenCaughtUp: true, maxRecordsPerCall: 170, pacing: FAST, discoverIntervalMs: 50 });
    owner.source = source;
    await source.run(owner.submit);

    assert.deepEqual(sorted(owner.records.map((r) => r.data)), sorted(datas), 'exactly the written records');
    assert.equal(owner.overlap, 0, 'never two submits at once for one shard');
    const shardsOf = new Map<string, string[]>();
    for (const w of written) shardsOf.set(w.shard, [...(shardsOf.get(w.shard) ?? []), w.seq]);
    assert.equal(shardsOf.size, 4, 'the explicit hash keys reached all 4 shards');
    for (const [shard, got] of owner.byShard()) {
      const seqs = got.map((g) => g.seq);
      assert.deepEqual(seqs, shardsOf.get(shard), `${shard}: the written sequence, in order`);
      for (let i = 1; i < seqs.length; i++) assert.ok(BigInt(seqs[i] as string) > BigInt(seqs[i - 1] as string));
    }
    for (const b of owner.batches) {
      assert.ok(b.recordIds.length > 0 && b.recordIds.length <= 170, 'batches respect maxRecordsPerCall');
      assert.equal(b.position?.key, b.source);
      assert.equal(b.position?.value, b.recordIds[b.recordIds.length - 1], 'position = last record of the batch');
      assert.equal(b.recordEnds[b.recordEnds.length - 1], b.bytes.byteLength);
      assert.ok(b.bytes.buffer instanceof ArrayBuffer && b.bytes.byteOffset === 0 && b.bytes.buffer.byteLength === b.bytes.byteLength, 'one own ArrayBuffer per batch (transferable)');
    }
    const status = source.shards();
    assert.equal(status.length, 4);
    assert.equal(status.reduce((n, s) => n + s.records, 0), 3000);
    for (const s of status) {
      assert.equal(s.state, 'DONE', 'run() resolves after every shard shut down');
      assert.equal(s.millisBehindLatest, 0);
      assert.equal(s.lastSequence, shardsOf.get(s.id)?.at(-1));
      assert.ok(s.getRecordsCalls >= Math.ceil((shardsOf.get(s.id)?.length ?? 0) / 170));
    }
  });

  it('restarts from durable positions without losing or doubling a record', async () => {
    const stream = streamName('restart');
    await createStream(kin.client, stream, 3);
    const first = Array.from({ length: 900 }, (_, i) => `a-${i}`);
    await putTo(kin.client, stream, first, (i) => hashKeyOf(i % 3, 3));
    // Run 1 stops part-way: the owner checkpoints only what it has "flushed".
    const owner1 = new Owner('manual');
    const s1 = new KinesisSource({ client: kin.client, stream, from: 'trim-horizon', positions: new Map(), maxRecordsPerCall: 50, pacing: { ...FAST, minIntervalMs: 20 } });
    owner1.source = s1;
    const run1 = s1.run(owner1.submit);
    await until(() => owner1.records.length >= 300, 10_000, 'run 1 to read 300 records');
    owner1.flush();
    const durable = owner1.records.length;
    await s1.stop();
    await run1;
    assert.ok(durable < 900, 'run 1 stopped before the end');
    // Records submitted after the flush are not durable: a crash loses them from the pipeline, so the
    // restart must read them again. Keep only what the durable positions cover.
    const positions = owner1.positions();
    assert.equal(positions.size, 3, 'every shard had a durable position');
    const covered = owner1.records.filter((r) => {
      const p = positions.get(r.shard);
      return p !== undefined && BigInt(r.seq) <= BigInt(p.value);
    });

    const second = Array.from({ length: 300 }, (_, i) => `b-${i}`);
    await putTo(kin.client, stream, second, (i) => hashKeyOf(i % 3, 3));
    const owner2 = new Owner();
    const s2 = new KinesisSource({ client: kin.client, stream, from: 'latest', positions, stopWhenCaughtUp: true, maxRecordsPerCall: 50, pacing: FAST, discoverIntervalMs: 50 });
    owner2.source = s2;
    await s2.run(owner2.submit);
    const all = [...covered, ...owner2.records].map((r) => r.data);
    assert.deepEqual(sorted(all), sorted([...first, ...second]), 'durable part of run 1 + run 2 = every record once');
    for (const s of s2.shards()) {
      const p = positions.get(s.id);
      const got = owner2.byShard().get(s.id) ?? [];
      if (p !== undefined && got.length > 0) assert.ok(BigInt((got[0] as { seq: string }).seq) > BigInt(p.value), `${s.id} resumed after its checkpoint`);
    }
  });

  it('stop() lets the call in flight finish and submits nothing after it resolves', async () => {
    const stream = streamName('stop');
    await createStream(kin.client, stream, 2);
    await putTo(kin.client, stream, Array.from({ length: 400 }, (_, i) => `s-${i}`), (i) => hashKeyOf(i % 2, 2));
    const owner = new Owner();
    const source = new KinesisSource({ client: kin.client, stream, from: 'trim-horizon', positions: new Map(), maxRecordsPerCall: 10, pacing: { ...FAST, minIntervalMs: 10 } });
    owner.source = source;
    // A slow consumer: stop() arrives while submits and reads are in flight.
    owner.onSubmit = () => sleepMs(15);
    const run = source.run(owner.submit);
    await until(() => owner.batches.length >= 3, 10_000, 'three batches');
    await source.stop();
    await run;
    const n = owner.batches.length;
    assert.ok(n < 40, 'stopped before the end');
    await sleepMs(100);
    assert.equal(owner.batches.length, n, 'no submit after stop() resolved');
    for (const s of source.shards()) assert.equal(s.state, 'DONE');
    // What was submitted is a gap-free prefix of each shard.
    for (const [, got] of owner.byShard()) {
      const idx = got.map((g) => Number(g.data.slice(2)));
      for (let i = 1; i < idx.length; i++) assert.equal(idx[i], (idx[i - 1] as number) + 2);
    }
  });

  it('from: latest skips what was written before the start and reads what comes after', async () => {
    const stream = streamName('latest');
    await createStream(kin.client, stream, 2);
    await putTo(kin.client, stream, ['old-1', 'old-2', 'old-3'], (i) => hashKeyOf(i % 2, 2));
    const owner = new Owner();
    const source = new KinesisSource({ client: kin.client, stream, from: 'latest', positions: new Map(), pacing: FAST, discoverIntervalMs: 50 });
    owner.source = source;
    const run = source.run(owner.submit);
    await until(() => source.shards().length === 2 && source.shards().every((s) => s.state === 'PROCESSING' && s.getRecordsCalls > 0), 5000, 'both shards processing');
    await putTo(kin.client, stream, ['new-1', 'new-2'], (i) => hashKeyOf(i % 2, 2));
    await until(() => owner.records.length >= 2, 5000, 'the new records');
    await source.stop();
    await run;
    assert.deepEqual(sorted(owner.records.map((r) => r.data)), ['new-1', 'new-2']);
  });

  it('from: a Date starts AT_TIMESTAMP', async () => {
    const stream = streamName('at-ts');
    await createStream(kin.client, stream, 1);
    await putTo(kin.client, stream, ['before'], () => hashKeyOf(0, 1));
    await sleepMs(30);
    const t = new Date();
    await sleepMs(30);
    await putTo(kin.client, stream, ['after'], () => hashKeyOf(0, 1));
    const owner = new Owner();
    const source = new KinesisSource({ client: kin.client, stream, from: t, positions: new Map(), stopWhenCaughtUp: true, pacing: FAST, discoverIntervalMs: 50 });
    owner.source = source;
    await source.run(owner.submit);
    assert.deepEqual(owner.records.map((r) => r.data), ['after']);
  });
});
