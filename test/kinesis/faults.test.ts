// Faults injected between the source and a real kinesalite by an HTTP proxy: throttles (HTTP 400
// ProvisionedThroughputExceededException), 5xx, dropped connections, responses lost after Kinesis did
// the work, expired iterators. Each must be retried on the same position, counted, and leave the
// submitted records exactly the written ones: nothing lost, nothing twice.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { DredgeError } from '../../src/errors.js';
import { KinesisSource } from '../../src/sources/kinesis/stream-source.js';
import { type Action, FAST, FaultProxy, Owner, createStream, hashKeyOf, kinesisError, putTo, sorted, startProxiedKinesalite, stopProxiedKinesalite, type ProxiedKinesalite, streamName } from './harness.js';

let env: ProxiedKinesalite;
let client: KinesisClient;
let proxy: FaultProxy;
let viaProxy: KinesisClient;
before(async () => {
  env = await startProxiedKinesalite();
  ({ client, proxy, viaProxy } = env);
});
after(() => stopProxiedKinesalite(env));

/** A 2-shard stream with `n` records; reads it through the proxy under `rule`; returns what was read. */
async function readUnder(what: string, n: number, rule: (op: string, body: Record<string, unknown>, k: number) => Action): Promise<{ owner: Owner; source: KinesisSource; datas: string[]; injected: number; stream: string }> {
  const stream = streamName(what);
  await createStream(client, stream, 2);
  const datas = Array.from({ length: n }, (_, i) => `${what}-${i}`);
  await putTo(client, stream, datas, (i) => hashKeyOf(i % 2, 2));
  let injected = 0;
  proxy.rule = (op, body, k) => {
    const a = rule(op, body, k);
    if (a !== undefined) injected++;
    return a;
  };
  try {
    const owner = new Owner();
    const source = new KinesisSource({ client: viaProxy, stream, from: 'trim-horizon', positions: new Map(), stopWhenCaughtUp: true, maxRecordsPerCall: 40, pacing: FAST, discoverIntervalMs: 50 });
    owner.source = source;
    await source.run(owner.submit);
    return { owner, source, datas, injected, stream };
  } finally {
    proxy.rule = () => undefined;
  }
}

const sum = (s: KinesisSource, f: 'throttles' | 'transientErrors' | 'expiredIterators'): number => s.shards().reduce((n, x) => n + x[f], 0);

describe('GetRecords faults', () => {
  it('throttling (HTTP 400 ProvisionedThroughputExceededException) is backed off and retried: nothing lost or doubled', async () => {
    const r = await readUnder('throttle', 800, (op, _b, k) => (op === 'GetRecords' && k % 3 === 0 ? kinesisError('ProvisionedThroughputExceededException', 'Rate exceeded for shard') : undefined));
    assert.ok(r.injected >= 5, `throttles injected: ${r.injected}`);
    assert.equal(sum(r.source, 'throttles'), r.injected, 'every throttle counted');
    assert.deepEqual(sorted(r.owner.records.map((x) => x.data)), sorted(r.datas));
  });

  it('other throttles (LimitExceeded, KMSThrottling) are retried the same way', async () => {
    const r = await readUnder('throttle2', 300, (op, _b, k) => (op === 'GetRecords' && k % 4 === 0 ? kinesisError(k % 8 === 0 ? 'KMSThrottlingException' : 'LimitExceededException', 'slow down') : undefined));
    assert.ok(r.injected >= 2);
    assert.equal(sum(r.source, 'throttles'), r.injected);
    assert.deepEqual(sorted(r.owner.records.map((x) => x.data)), sorted(r.datas));
  });

  it('5xx answers are retried on the same iterator: nothing lost or doubled', async () => {
    const r = await readUnder('5xx', 800, (op, _b, k) =>
      op === 'GetRecords' && k % 4 === 0 ? kinesisError(k % 8 === 0 ? 'ServiceUnavailable' : 'InternalFailure', 'try again', k % 8 === 0 ? 503 : 500) : undefined,
    );
    assert.ok(r.injected >= 5);
    assert.equal(sum(r.source, 'transientErrors'), r.injected);
    assert.deepEqual(sorted(r.owner.records.map((x) => x.data)), sorted(r.datas));
  });

  it('a page Kinesis served but the client never got (500 after forwarding) is read again, not skipped', async () => {
    const r = await readUnder('lost', 600, (op, _b, k) => (op === 'GetRecords' && k % 3 === 1 ? { afterForward: { status: 500, body: '{"__type":"InternalFailure","message":"lost"}' } } : undefined));
    assert.ok(r.injected >= 5);
    assert.deepEqual(sorted(r.owner.records.map((x) => x.data)), sorted(r.datas));
  });

  it('dropped connections are retried: nothing lost or doubled', async () => {
    const r = await readUnder('drop', 400, (op, _b, k) => (op === 'GetRecords' && k % 5 === 0 ? { drop: true } : undefined));
    assert.ok(r.injected >= 2);
    assert.equal(sum(r.source, 'transientErrors'), r.injected);
    assert.deepEqual(sorted(r.owner.records.map((x) => x.data)), sorted(r.datas));
  });

  it('too many 5xx in a row stop the source with a retriable DredgeError', async () => {
    const stream = streamName('dead');
    await createStream(client, stream, 1);
    proxy.rule = (op) => (op === 'GetRecords' ? kinesisError('InternalFailure', 'down', 500) : undefined);
    try {
      const source = new KinesisSource({ client: viaProxy, stream, from: 'trim-horizon', positions: new Map(), pacing: { ...FAST, maxTransientRetries: 3 } });
      await assert.rejects(source.run(new Owner().submit), (e: unknown) => e instanceof DredgeError && e.code === 'DREDGE_ERR_INPUT' && e.retriable && /4 times in a row/.test(e.message));
    } finally {
      proxy.rule = () => undefined;
    }
  });

  it('a stream that does not exist is a config error naming the fix', async () => {
    const source = new KinesisSource({ client, stream: 'no-such-stream', from: 'trim-horizon', positions: new Map(), pacing: FAST });
    await assert.rejects(source.run(new Owner().submit), (e: unknown) => e instanceof DredgeError && e.code === 'DREDGE_ERR_CONFIG' && /check the stream name, --region and --endpoint/.test(e.message));
  });
});

describe('expired iterators', () => {
  it('are renewed AFTER_SEQUENCE_NUMBER of the last submitted record: exact totals', async () => {
    const r = await readUnder('expired', 800, (op, _b, k) => (op === 'GetRecords' && k % 5 === 3 ? kinesisError('ExpiredIteratorException', 'Iterator expired') : undefined));
    assert.ok(r.injected >= 4);
    assert.equal(sum(r.source, 'expiredIterators'), r.injected);
    assert.deepEqual(sorted(r.owner.records.map((x) => x.data)), sorted(r.datas));
    // Each renewal after the first page asks AFTER the last record that was handed over for its shard.
    const renewals = proxy.calls.filter((c) => c.op === 'GetShardIterator' && c.body.StreamName === r.stream && c.body.ShardIteratorType === 'AFTER_SEQUENCE_NUMBER');
    assert.ok(renewals.length >= 1, 'at least one AFTER_SEQUENCE_NUMBER renewal');
    const submitted = new Set(r.owner.records.map((x) => `${x.shard}/${x.seq}`));
    for (const c of renewals) assert.ok(submitted.has(`${String(c.body.ShardId)}/${String(c.body.StartingSequenceNumber)}`), 'renewed after a record the pipeline holds');
  });

  it('before any record was submitted, are renewed at the starting position', async () => {
    const stream = streamName('expired-first');
    await createStream(client, stream, 1);
    const datas = ['e-1', 'e-2', 'e-3'];
    await putTo(client, stream, datas, () => hashKeyOf(0, 1));
    proxy.calls.length = 0;
    let fired = false;
    proxy.rule = (op) => {
      if (op !== 'GetRecords' || fired) return undefined;
      fired = true;
      return kinesisError('ExpiredIteratorException', 'Iterator expired');
    };
    try {
      const owner = new Owner();
      const source = new KinesisSource({ client: viaProxy, stream, from: 'trim-horizon', positions: new Map(), stopWhenCaughtUp: true, pacing: FAST, discoverIntervalMs: 50 });
      owner.source = source;
      await source.run(owner.submit);
      assert.equal(source.shards()[0]?.expiredIterators, 1);
      const its = proxy.calls.filter((c) => c.op === 'GetShardIterator').map((c) => c.body.ShardIteratorType);
      assert.deepEqual(its, ['TRIM_HORIZON', 'TRIM_HORIZON']);
      assert.deepEqual(owner.records.map((x) => x.data), datas);
    } finally {
      proxy.rule = () => undefined;
    }
  });
});
