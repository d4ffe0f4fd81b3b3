// putRecords against a real kinesalite: calls hold at most 500 entries and 5 MiB; entries that a
// response marks failed (injected by a proxy that withholds them from Kinesis) are the only ones sent
// again; a throttled call is sent again whole; the stream ends up holding each record exactly once.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { DredgeError } from '../../src/errors.js';
import { putRecords } from '../../src/sources/kinesis/producer.js';
import { KinesisSource } from '../../src/sources/kinesis/stream-source.js';
import { FAST, FaultProxy, Owner, createStream, kinesisError, sorted, startProxiedKinesalite, stopProxiedKinesalite, type ProxiedKinesalite, streamName } from './harness.js';

let env: ProxiedKinesalite;
let client: KinesisClient;
let proxy: FaultProxy;
let viaProxy: KinesisClient;
before(async () => {
  env = await startProxiedKinesalite();
  ({ client, proxy, viaProxy } = env);
});
after(() => stopProxiedKinesalite(env));

/** Everything in the stream, read with the source. */
async function readAll(stream: string): Promise<string[]> {
  const owner = new Owner();
  const source = new KinesisSource({ client, stream, from: 'trim-horizon', positions: new Map(), stopWhenCaughtUp: true, pacing: FAST, discoverIntervalMs: 50 });
  owner.source = source;
  await source.run(owner.submit);
  return owner.records.map((r) => r.data);
}

const BACKOFF = { baseMs: 2, capMs: 20 };

describe('putRecords', () => {
  it('splits into calls of at most 500 records and spreads them over the shards', async () => {
    const stream = streamName('put-500');
    await createStream(client, stream, 4);
    const datas = Array.from({ length: 1200 }, (_, i) => `r-${i}`);
    proxy.reset();
    const r = await putRecords(viaProxy, stream, datas.map((d) => Buffer.from(d)), { backoff: BACKOFF });
    assert.deepEqual({ records: r.records, calls: r.calls, retried: r.retriedEntries }, { records: 1200, calls: 3, retried: 0 });
    assert.equal(r.bytes, datas.reduce((n, d) => n + d.length, 0));
    assert.deepEqual(proxy.calls.filter((c) => c.op === 'PutRecords').map((c) => (c.body.Records as unknown[]).length), [500, 500, 200]);
    assert.equal(Object.keys(r.shards).length, 4, 'random partition keys reach every shard');
    for (const n of Object.values(r.shards)) assert.ok(n > 200, `roughly even spread: ${JSON.stringify(r.shards)}`);
    assert.deepEqual(sorted(await readAll(stream)), sorted(datas));
  });

  it('keeps each call within 5 MiB', async () => {
    const stream = streamName('put-5mib');
    await createStream(client, stream, 1);
    const big = Array.from({ length: 12 }, (_, i) => Buffer.alloc(900 * 1024, 97 + i));
    proxy.reset();
    const r = await putRecords(viaProxy, stream, big, { backoff: BACKOFF });
    assert.equal(r.records, 12);
    assert.deepEqual(proxy.calls.filter((c) => c.op === 'PutRecords').map((c) => (c.body.Records as unknown[]).length), [5, 5, 2]);
  });

  it('re-sends only the entries a response marked failed, never one that was written', async () => {
    const stream = streamName('put-partial');
    await createStream(client, stream, 2);
    const datas = Array.from({ length: 700 }, (_, i) => `p-${i}`);
    let withheld = 0;
    proxy.reset();
    // The first attempts of both batches (calls 1 and 3): entries at every 7th index are kept from Kinesis and reported
    // failed (as a shard over its write limit would), the rest go through.
    proxy.rule = (op, _b, n) => {
      if (op !== 'PutRecords' || (n !== 1 && n !== 3)) return undefined;
      return {
        request: (body) => {
          const recs = body.Records as unknown[];
          withheld += recs.filter((_, i) => i % 7 === 0).length;
          return { ...body, Records: recs.filter((_, i) => i % 7 !== 0) };
        },
        response: (res, req) => {
          const sent = (req.Records as unknown[]).length;
          const ok = [...(res.Records as unknown[])];
          const out: unknown[] = [];
          for (let i = 0; i < sent; i++) {
            out.push(i % 7 === 0 ? { ErrorCode: i % 14 === 0 ? 'InternalFailure' : 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard' } : ok.shift());
          }
          return { FailedRecordCount: out.filter((x) => (x as { ErrorCode?: string }).ErrorCode !== undefined).length, Records: out };
        },
      };
    };
    proxy.reset();
    try {
      const r = await putRecords(viaProxy, stream, datas.map((d) => Buffer.from(d)), { backoff: BACKOFF });
      assert.ok(withheld > 50);
      assert.equal(r.records, 700);
      assert.equal(r.retriedEntries, withheld, 'exactly the failed entries were retried');
      const sizes = proxy.calls.filter((c) => c.op === 'PutRecords').map((c) => (c.body.Records as unknown[]).length);
      assert.deepEqual(sizes, [500, Math.ceil(500 / 7), 200, Math.ceil(200 / 7)], 'each retry carries only the failed entries');
      // The retry of call 1 carries exactly the withheld records, with their partition keys.
      const first = proxy.calls.filter((c) => c.op === 'PutRecords');
      const withheldKeys = (first[0]?.body.Records as { PartitionKey: string }[]).filter((_, i) => i % 7 === 0).map((x) => x.PartitionKey);
      assert.deepEqual((first[1]?.body.Records as { PartitionKey: string }[]).map((x) => x.PartitionKey), withheldKeys);
    } finally {
      proxy.rule = () => undefined;
    }
    assert.deepEqual(sorted(await readAll(stream)), sorted(datas), 'the stream holds each record once');
  });

  it('sends a throttled call again whole', async () => {
    const stream = streamName('put-throttle');
    await createStream(client, stream, 1);
    proxy.reset();
    proxy.rule = (op, _b, n) => (op === 'PutRecords' && n <= 2 ? kinesisError('ProvisionedThroughputExceededException', 'Rate exceeded for shard') : undefined);
    try {
      const r = await putRecords(viaProxy, stream, [Buffer.from('t-1'), Buffer.from('t-2')], { backoff: BACKOFF });
      assert.deepEqual({ records: r.records, throttledCalls: r.throttledCalls, calls: r.calls }, { records: 2, throttledCalls: 2, calls: 3 });
    } finally {
      proxy.rule = () => undefined;
    }
    assert.deepEqual(sorted(await readAll(stream)), ['t-1', 't-2']);
  });

  it('refuses a record over 1 MiB before sending anything', async () => {
    await assert.rejects(putRecords(client, 'whatever', [Buffer.alloc(1024 * 1024 + 1)]), (e: unknown) => e instanceof DredgeError && /fewer lines per record/.test(e.message));
  });
});
