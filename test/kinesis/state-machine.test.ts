// One test per transition of the shard consumer's state machine (shard-consumer.ts's diagram), each
// observed through the source's `trace` hook on a real kinesalite, with a fault proxy where a state
// has to be held open.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type KinesisClient, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { DredgeError } from '../../src/errors.js';
import { KinesisSource, type ShardState } from '../../src/sources/kinesis/stream-source.js';
import { FAST, FaultProxy, Owner, createStream, hashKeyOf, kinesisError, putTo, startProxiedKinesalite, stopProxiedKinesalite, type ProxiedKinesalite, streamName, until, waitActive } from './harness.js';

let env: ProxiedKinesalite;
let client: KinesisClient;
let proxy: FaultProxy;
let viaProxy: KinesisClient;
before(async () => {
  env = await startProxiedKinesalite();
  ({ client, proxy, viaProxy } = env);
});
after(() => stopProxiedKinesalite(env));

class Trace {
  readonly steps = new Map<string, string[]>();
  readonly fn = (shard: string, from: ShardState, to: ShardState): void => {
    this.steps.set(shard, [...(this.steps.get(shard) ?? []), `${from}>${to}`]);
  };
  of(shard: string): string[] {
    return this.steps.get(shard) ?? [];
  }
}

const S0 = 'shardId-000000000000';
const S1 = 'shardId-000000000001';
const S2 = 'shardId-000000000002';

/** A one-shard stream split in two: S0 closed (parent), S1 and S2 its open children. */
async function splitStream(what: string): Promise<string> {
  const stream = streamName(what);
  await createStream(client, stream, 1);
  await putTo(client, stream, ['p-1', 'p-2'], () => hashKeyOf(0, 1));
  await client.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: S0, NewStartingHashKey: (1n << 127n).toString() }));
  await waitActive(client, stream);
  await putTo(client, stream, ['c-low', 'c-high'], (i) => (i === 0 ? '1' : ((1n << 127n) + 1n).toString()));
  return stream;
}

describe('shard consumer states', () => {
  it('INITIALIZING → PROCESSING: an open shard gets its iterator and reads', async () => {
    const stream = streamName('init');
    await createStream(client, stream, 1);
    await putTo(client, stream, ['x'], () => hashKeyOf(0, 1));
    const trace = new Trace();
    const owner = new Owner();
    const source = new KinesisSource({ client, stream, from: 'trim-horizon', positions: new Map(), pacing: FAST, trace: trace.fn });
    const run = source.run(owner.submit);
    await until(() => owner.records.length === 1, 5000, 'the record');
    assert.deepEqual(trace.of(S0), ['WAITING_ON_PARENTS>INITIALIZING', 'INITIALIZING>PROCESSING']);
    await source.stop();
    await run;
  });

  it('PROCESSING → SHUTTING_DOWN → DONE on stop()', async () => {
    const stream = streamName('stop');
    await createStream(client, stream, 1);
    const trace = new Trace();
    const source = new KinesisSource({ client, stream, from: 'trim-horizon', positions: new Map(), pacing: FAST, trace: trace.fn });
    const run = source.run(new Owner().submit);
    await until(() => trace.of(S0).includes('INITIALIZING>PROCESSING'), 5000, 'PROCESSING');
    await source.stop();
    await run;
    assert.deepEqual(trace.of(S0).slice(-2), ['PROCESSING>SHUTTING_DOWN', 'SHUTTING_DOWN>DONE']);
  });

  it('PROCESSING → SHARD_ENDED → SHUTTING_DOWN → DONE: a closed shard read to its end submits one SHARD_END batch', async () => {
    const stream = await splitStream('end');
    const trace = new Trace();
    const owner = new Owner('manual');
    const source = new KinesisSource({ client, stream, from: 'trim-horizon', positions: new Map(), pacing: FAST, trace: trace.fn, discoverIntervalMs: 50 });
    const run = source.run(owner.submit);
    await until(() => trace.of(S0).includes('SHUTTING_DOWN>DONE'), 5000, 'the parent DONE');
    assert.deepEqual(trace.of(S0), ['WAITING_ON_PARENTS>INITIALIZING', 'INITIALIZING>PROCESSING', 'PROCESSING>SHARD_ENDED', 'SHARD_ENDED>SHUTTING_DOWN', 'SHUTTING_DOWN>DONE']);
    const end = owner.batches.filter((b) => b.source === S0).at(-1);
    assert.equal(end?.position?.value, 'SHARD_END');
    assert.equal(end?.bytes.byteLength, 0);
    assert.equal(end?.recordEnds.length, 0);
    assert.deepEqual(owner.records.filter((r) => r.shard === S0).map((r) => r.data), ['p-1', 'p-2']);
    await source.stop();
    await run;
  });

  it('WAITING_ON_PARENTS → INITIALIZING only once the parent\'s SHARD_END is checkpointed', async () => {
    const stream = await splitStream('wait');
    const trace = new Trace();
    const owner = new Owner('manual');
    const source = new KinesisSource({ client, stream, from: 'trim-horizon', positions: new Map(), pacing: FAST, trace: trace.fn, discoverIntervalMs: 50 });
    owner.source = source;
    const run = source.run(owner.submit);
    await until(() => trace.of(S0).includes('SHUTTING_DOWN>DONE'), 5000, 'the parent DONE');
    await new Promise((r) => setTimeout(r, 150)); // several discovery rounds: the children must keep waiting
    assert.deepEqual(trace.of(S1), [], 'child 1 still WAITING_ON_PARENTS');
    assert.deepEqual(trace.of(S2), []);
    assert.equal(source.shards().find((s) => s.id === S1)?.state, 'WAITING_ON_PARENTS');
    owner.flush(); // the parent's positions, SHARD_END included, become durable
    await until(() => owner.records.length === 4, 5000, 'the children\'s records');
    assert.deepEqual(trace.of(S1).slice(0, 2), ['WAITING_ON_PARENTS>INITIALIZING', 'INITIALIZING>PROCESSING']);
    assert.deepEqual(trace.of(S2).slice(0, 2), ['WAITING_ON_PARENTS>INITIALIZING', 'INITIALIZING>PROCESSING']);
    await source.stop();
    await run;
  });

  it('WAITING_ON_PARENTS → DONE: a shard checkpointed at SHARD_END is skipped without a call', async () => {
    const stream = await splitStream('skip');
    const trace = new Trace();
    const owner = new Owner();
    proxy.calls.length = 0;
    const source = new KinesisSource({ client: viaProxy, stream, from: 'trim-horizon', positions: new Map([[S0, { key: S0, value: 'SHARD_END' }]]), pacing: FAST, trace: trace.fn, stopWhenCaughtUp: true, discoverIntervalMs: 50 });
    await source.run(owner.submit);
    assert.deepEqual(trace.of(S0), ['WAITING_ON_PARENTS>DONE']);
    assert.equal(proxy.calls.filter((c) => c.op === 'GetShardIterator' && c.body.ShardId === S0).length, 0, 'no iterator asked for the finished shard');
    assert.deepEqual(owner.records.map((r) => r.data).sort(), ['c-high', 'c-low'], 'children read at once (parent finished before)');
  });

  it('WAITING_ON_PARENTS → SHUTTING_DOWN → DONE on stop() while waiting', async () => {
    const stream = await splitStream('wait-stop');
    const trace = new Trace();
    const source = new KinesisSource({ client, stream, from: 'trim-horizon', positions: new Map(), pacing: FAST, trace: trace.fn, discoverIntervalMs: 50 });
    const run = source.run(new Owner('manual').submit);
    await until(() => trace.of(S0).includes('SHUTTING_DOWN>DONE'), 5000, 'the parent DONE');
    await source.stop();
    await run;
    assert.deepEqual(trace.of(S1), ['WAITING_ON_PARENTS>SHUTTING_DOWN', 'SHUTTING_DOWN>DONE']);
  });

  it('INITIALIZING → SHUTTING_DOWN → DONE on stop() while GetShardIterator is throttled', async () => {
    const stream = streamName('init-stop');
    await createStream(client, stream, 1);
    proxy.rule = (op) => (op === 'GetShardIterator' ? kinesisError('LimitExceededException', 'Rate exceeded for shard') : undefined);
    try {
      const trace = new Trace();
      const source = new KinesisSource({ client: viaProxy, stream, from: 'trim-horizon', positions: new Map(), pacing: FAST, trace: trace.fn });
      const run = source.run(new Owner().submit);
      await until(() => (source.shards()[0]?.throttles ?? 0) >= 3, 5000, 'three throttles');
      assert.equal(source.shards()[0]?.state, 'INITIALIZING');
      await source.stop();
      await run;
      assert.deepEqual(trace.of(S0), ['WAITING_ON_PARENTS>INITIALIZING', 'INITIALIZING>SHUTTING_DOWN', 'SHUTTING_DOWN>DONE']);
    } finally {
      proxy.rule = () => undefined;
    }
  });

  it('PROCESSING → SHUTTING_DOWN → DONE on a non-retriable error, and run() rejects with a DredgeError saying what to fix', async () => {
    const stream = streamName('fatal');
    await createStream(client, stream, 1);
    proxy.rule = (op) => (op === 'GetRecords' ? kinesisError('AccessDeniedException', 'User is not authorized to perform: kinesis:GetRecords') : undefined);
    try {
      const trace = new Trace();
      const source = new KinesisSource({ client: viaProxy, stream, from: 'trim-horizon', positions: new Map(), pacing: FAST, trace: trace.fn });
      await assert.rejects(source.run(new Owner().submit), (e: unknown) => {
        assert.ok(e instanceof DredgeError);
        assert.equal(e.code, 'DREDGE_ERR_CONFIG');
        assert.match(e.message, /kinesis:ListShards, GetShardIterator and GetRecords/);
        return true;
      });
      assert.deepEqual(trace.of(S0), ['WAITING_ON_PARENTS>INITIALIZING', 'INITIALIZING>PROCESSING', 'PROCESSING>SHUTTING_DOWN', 'SHUTTING_DOWN>DONE']);
    } finally {
      proxy.rule = () => undefined;
    }
  });
});
