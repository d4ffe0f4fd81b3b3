// `--stop-when-caught-up` (DESIGN.md §9 "Caught up"): the source ends only when every closed shard was
// read to SHARD_END (children included, which wait for their parents' checkpoints) and every open
// shard answered an empty page with MillisBehindLatest 0; an empty page that is still behind does not
// count. Without the option the source keeps polling at the tip.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type KinesisClient, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { KinesisSource } from '../../src/sources/kinesis/stream-source.js';
import { FAST, FaultProxy, Owner, createStream, hashKeyOf, putTo, sleepMs, startProxiedKinesalite, stopProxiedKinesalite, type ProxiedKinesalite, streamName, until, waitActive } from './harness.js';

let env: ProxiedKinesalite;
let client: KinesisClient;
let proxy: FaultProxy;
let viaProxy: KinesisClient;
before(async () => {
  env = await startProxiedKinesalite();
  ({ client, proxy, viaProxy } = env);
});
after(() => stopProxiedKinesalite(env));

describe('stop when caught up', () => {
  it('ends once every open shard is at its tip, with every record read', async () => {
    const stream = streamName('cu');
    await createStream(client, stream, 3);
    await putTo(client, stream, Array.from({ length: 600 }, (_, i) => `c-${i}`), (i) => hashKeyOf(i % 3, 3));
    const owner = new Owner();
    const source = new KinesisSource({ client, stream, from: 'trim-horizon', positions: new Map(), stopWhenCaughtUp: true, maxRecordsPerCall: 100, pacing: FAST, discoverIntervalMs: 50 });
    owner.source = source;
    await source.run(owner.submit);
    assert.equal(source.isCaughtUp, true);
    assert.equal(owner.records.length, 600);
    for (const s of source.shards()) {
      assert.equal(s.state, 'DONE');
      assert.equal(s.millisBehindLatest, 0);
    }
  });

  it('without it, keeps polling at the tip until stop()', async () => {
    const stream = streamName('cu-no');
    await createStream(client, stream, 1);
    const source = new KinesisSource({ client, stream, from: 'trim-horizon', positions: new Map(), pacing: FAST });
    let ended = false;
    const run = source.run(new Owner().submit).then(() => (ended = true));
    // Polling at the tip, however fast this machine makes the calls: three calls and still running.
    await until(() => (source.shards()[0]?.getRecordsCalls ?? 0) >= 3, 10_000, 'three GetRecords calls at the tip');
    assert.equal(ended, false);
    await source.stop();
    await run;
    assert.equal(source.isCaughtUp, false);
  });

  it('does not end while a child waits for its parent\'s SHARD_END checkpoint', async () => {
    const stream = streamName('cu-child');
    await createStream(client, stream, 1);
    await putTo(client, stream, ['p-0'], () => hashKeyOf(0, 1));
    await client.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: 'shardId-000000000000', NewStartingHashKey: (1n << 127n).toString() }));
    await waitActive(client, stream);
    await putTo(client, stream, ['child-0'], () => '7');
    const owner = new Owner('manual');
    let ends = 0;
    const source = new KinesisSource({ client, stream, from: 'trim-horizon', positions: new Map(), stopWhenCaughtUp: true, pacing: FAST, discoverIntervalMs: 30, onShardEnd: () => ends++ });
    owner.source = source;
    let ended = false;
    const run = source.run(owner.submit).then(() => (ended = true));
    await until(() => ends === 1, 5000, 'the parent to end');
    await sleepMs(200);
    assert.equal(ended, false, 'the children are unread: not caught up');
    owner.flush();
    await run;
    assert.deepEqual(owner.records.map((r) => r.data), ['p-0', 'child-0']);
  });

  it('an empty page still behind (MillisBehindLatest > 0) is not the tip', async () => {
    const stream = streamName('cu-behind');
    await createStream(client, stream, 1);
    await putTo(client, stream, ['b-0'], () => hashKeyOf(0, 1));
    let behind = 0;
    proxy.reset();
    proxy.rule = (op) =>
      op === 'GetRecords'
        ? {
            response: (res) => {
              // The first four empty pages claim to be 4 s behind, as AWS's can before the tip.
              if ((res.Records as unknown[]).length === 0 && behind < 4) {
                behind++;
                return { ...res, MillisBehindLatest: 4000 };
              }
              return res;
            },
          }
        : undefined;
    try {
      const owner = new Owner();
      const source = new KinesisSource({ client: viaProxy, stream, from: 'trim-horizon', positions: new Map(), stopWhenCaughtUp: true, pacing: FAST, discoverIntervalMs: 50 });
      owner.source = source;
      await source.run(owner.submit);
      assert.equal(behind, 4, 'all four behind pages were served before it ended');
      assert.ok(proxy.count('GetRecords') >= 6, 'one page with the record, four behind, one at the tip');
      assert.deepEqual(owner.records.map((r) => r.data), ['b-0']);
    } finally {
      proxy.rule = () => undefined;
    }
  });
});
