// Resharding while the source reads: a split and then a merge on a real kinesalite, with a writer
// putting records throughout. Every record is submitted exactly once, records of one hash key arrive
// in the order they were written across parent and child shards, and no child shard is even asked
// for an iterator before the SHARD_END of each of its parents was checkpointed.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type KinesisClient, MergeShardsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { KinesisSource } from '../../src/sources/kinesis/stream-source.js';
import { FAST, FaultProxy, Owner, createStream, putTo, sleepMs, sorted, startProxiedKinesalite, stopProxiedKinesalite, type ProxiedKinesalite, streamName, until, waitActive } from './harness.js';

let env: ProxiedKinesalite;
let client: KinesisClient;
let proxy: FaultProxy;
let viaProxy: KinesisClient;
before(async () => {
  env = await startProxiedKinesalite();
  ({ client, proxy, viaProxy } = env);
});
after(() => stopProxiedKinesalite(env));

const KEYS = 8;
/** Hash key of partition `k` of KEYS, spread evenly over the whole hash range. */
const hashOf = (k: number): string => (((1n << 128n) / BigInt(KEYS)) * BigInt(k) + 12345n).toString();

describe('resharding during consumption', () => {
  it('split then merge: exact totals, per-key order, children only after their parents\' SHARD_END checkpoints', async () => {
    const stream = streamName('reshard');
    await createStream(client, stream, 2); // S0 [0, 2^127), S1 [2^127, 2^128)
    const owner = new Owner('auto', 20);
    const ends: string[] = [];
    const source = new KinesisSource({
      client: viaProxy,
      stream,
      from: 'trim-horizon',
      positions: new Map(),
      maxRecordsPerCall: 60,
      pacing: FAST,
      discoverIntervalMs: 40,
      onShardEnd: (id) => ends.push(id),
    });
    owner.source = source;
    proxy.calls.length = 0;
    const run = source.run(owner.submit);

    const written: string[] = [];
    const counter = new Array<number>(KEYS).fill(0);
    const write = async (rounds: number): Promise<void> => {
      for (let r = 0; r < rounds; r++) {
        const datas: string[] = [];
        const keys: number[] = [];
        for (let i = 0; i < 40; i++) {
          const k = (r * 40 + i) % KEYS;
          datas.push(`k${k}-${counter[k]}`);
          counter[k] = (counter[k] as number) + 1;
          keys.push(k);
        }
        await putTo(client, stream, datas, (i) => hashOf(keys[i] as number));
        written.push(...datas);
        await sleepMs(5);
      }
    };
    await write(10);
    // Split S0 at 2^126: S2 [0, 2^126), S3 [2^126, 2^127).
    await client.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: 'shardId-000000000000', NewStartingHashKey: (1n << 126n).toString() }));
    await waitActive(client, stream);
    await write(10);
    // Merge S3 with its neighbour S1: S4 [2^126, 2^128) with parents S3 and S1.
    await client.send(new MergeShardsCommand({ StreamName: stream, ShardToMerge: 'shardId-000000000003', AdjacentShardToMerge: 'shardId-000000000001' }));
    await waitActive(client, stream);
    await write(10);

    await until(() => owner.records.length >= written.length, 20_000, `all ${written.length} records (have ${owner.records.length})`);
    await sleepMs(150); // time for a wrongly repeated read to show up
    await source.stop();
    await run;

    assert.deepEqual(sorted(owner.records.map((r) => r.data)), sorted(written), 'every written record exactly once');
    const ids = source.shards().map((s) => s.id).sort();
    assert.deepEqual(ids, [0, 1, 2, 3, 4].map((i) => `shardId-00000000000${i}`));
    assert.deepEqual(sorted(ends), ['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000003'], 'onShardEnd for each closed shard');
    const s4 = source.shards().find((s) => s.id === 'shardId-000000000004');
    assert.deepEqual(sorted(s4?.parents ?? []), ['shardId-000000000001', 'shardId-000000000003']);

    // Per partition key, the values arrive in the order written, across parents and children.
    const seen = new Array<number>(KEYS).fill(-1);
    for (const r of owner.records) {
      const m = /^k(\d+)-(\d+)$/.exec(r.data);
      assert.ok(m !== null);
      const k = Number(m[1]);
      assert.equal(Number(m[2]), (seen[k] as number) + 1, `key ${k} in order`);
      seen[k] = Number(m[2]);
    }

    // No child is initialized before every parent's SHARD_END is durable.
    const lineage: Record<string, string[]> = {
      'shardId-000000000002': ['shardId-000000000000'],
      'shardId-000000000003': ['shardId-000000000000'],
      'shardId-000000000004': ['shardId-000000000003', 'shardId-000000000001'],
    };
    for (const [child, parents] of Object.entries(lineage)) {
      const first = proxy.calls.find((c) => c.op === 'GetShardIterator' && c.body.ShardId === child && c.body.StreamName === stream);
      assert.ok(first !== undefined, `${child} was read`);
      for (const p of parents) {
        const at = owner.endDurableAt(p);
        assert.ok(at !== undefined && at <= first.at, `${child} initialized after ${p}'s SHARD_END checkpoint`);
      }
    }
  });

  it('with stopWhenCaughtUp, a merged stream ends only after the merged child is read', async () => {
    const stream = streamName('merge-caught-up');
    await createStream(client, stream, 2);
    const before = await putTo(client, stream, ['m-0', 'm-1', 'm-2', 'm-3'], (i) => hashOf(i % 2 === 0 ? 0 : KEYS - 1));
    await client.send(new MergeShardsCommand({ StreamName: stream, ShardToMerge: 'shardId-000000000000', AdjacentShardToMerge: 'shardId-000000000001' }));
    await waitActive(client, stream);
    await putTo(client, stream, ['after-0', 'after-1'], (i) => hashOf(i));
    const owner = new Owner('auto', 10);
    const source = new KinesisSource({ client, stream, from: 'trim-horizon', positions: new Map(), stopWhenCaughtUp: true, pacing: FAST, discoverIntervalMs: 40 });
    owner.source = source;
    await source.run(owner.submit);
    assert.equal(before.length, 4);
    assert.deepEqual(sorted(owner.records.map((r) => r.data)), sorted(['m-0', 'm-1', 'm-2', 'm-3', 'after-0', 'after-1']));
    assert.deepEqual(owner.records.filter((r) => r.shard === 'shardId-000000000002').map((r) => r.data), ['after-0', 'after-1']);
  });
});
