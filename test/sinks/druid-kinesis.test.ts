// DruidKinesisSink against a real kinesalite and the real SDK: the common sink checks (read back = the
// stream's records split into JSON lines, row_id dropped), then what the Druid route adds: the exact
// line format, row_id determinism (same flush → same ids, same key in a later flush → new ids),
// records packed within 1 MiB, a missing stream refused with the fix, throttling and partial failures
// retried without loss, exhausted retries retriable and refusals not.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { DeleteStreamCommand, GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { rollupRow } from '../../src/aggregate/rollups.js';
import { DredgeError } from '../../src/errors.js';
import { DruidKinesisSink, ROW_ID_HEX, flushIdentity, openDruidKinesisSink, rowIdsOf } from '../../src/sinks/druid.js';
import { MAX_RECORD_BYTES } from '../../src/sources/kinesis/producer.js';
import { FaultProxy, createStream, kinesisError, streamName, useKinesalite } from '../kinesis/harness.js';
import { DIMS, TRICKY_ROWS, batchFromRows, row, sinkCompliance, type Row } from './compliance.js';

let proxy: FaultProxy;
const kin = useKinesalite(undefined, {
  started: async (local) => {
    proxy = new FaultProxy(local.port);
    await proxy.start();
  },
  stopping: () => proxy.close(),
});

const BACKOFF = { baseMs: 2, capMs: 20 };

interface Rec {
  data: string;
  key: string;
}

/** Every record of the stream, all shards, from the start. */
async function records(stream: string): Promise<Rec[]> {
  const shards = (await kin.client.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  const out: Rec[] = [];
  for (const s of shards) {
    let it = (await kin.client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: s.ShardId, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    while (it !== undefined) {
      const r = await kin.client.send(new GetRecordsCommand({ ShardIterator: it }));
      for (const x of r.Records ?? []) out.push({ data: Buffer.from(x.Data as Uint8Array).toString('utf8'), key: x.PartitionKey as string });
      if ((r.Records ?? []).length === 0) break;
      it = r.NextShardIterator;
    }
  }
  return out;
}

/** The JSON rows of the stream (row_id kept). */
async function rowsWithIds(stream: string): Promise<Row[]> {
  return (await records(stream)).flatMap((r) => r.data.split('\n').map((l) => JSON.parse(l) as Row));
}

const dropId = (r: Row): Row => {
  const { row_id: _drop, ...rest } = r;
  return rest;
};

async function freshSink(shards = 2, extra: Partial<Parameters<typeof openDruidKinesisSink>[0]> = {}): Promise<DruidKinesisSink> {
  const stream = streamName('druid');
  await createStream(kin.client, stream, shards);
  return openDruidKinesisSink({ stream, endpoint: kin.local.endpoint, backoff: BACKOFF, ...extra });
}

sinkCompliance('DruidKinesisSink', {
  create: () => freshSink(),
  read: async (s) => (await rowsWithIds(s.stream)).map(dropId),
});

const POS_A = [{ key: 'shardId-000000000000', value: '49650000000000000000000000000000000000000000000000000001' }];
const POS_B = [{ key: 'shardId-000000000000', value: '49650000000000000000000000000000000000000000000000000099' }];

describe('DruidKinesisSink rows', () => {
  it('each line is JSON.stringify(rollupRow) plus row_id as the last key, rows newline-separated without a trailing newline', async () => {
    const s = await freshSink(1);
    try {
      const b = batchFromRows(1, DIMS, TRICKY_ROWS, { positions: POS_A });
      await s.write(b);
      const ids = await rowIdsOf(b);
      const recs = await records(s.stream);
      assert.equal(recs.length, 1, 'six small rows fit one record');
      const expected = TRICKY_ROWS.map((_, i) => JSON.stringify({ ...rollupRow(b, i), row_id: ids[i] })).join('\n');
      assert.equal(recs[0]?.data, expected);
      assert.equal(recs[0]?.key, ids[0], 'partition key = first row_id');
    } finally {
      await s.close();
    }
  });

  it('row_id: 32 hex digits, unique within a flush, the same for a replayed flush, new for the same key in a later flush', async () => {
    const b1 = batchFromRows(7, DIMS, TRICKY_ROWS, { positions: POS_A });
    const ids = await rowIdsOf(b1);
    assert.ok(ids.every((id) => new RegExp(`^[0-9a-f]{${ROW_ID_HEX}}$`).test(id)));
    assert.equal(new Set(ids).size, ids.length);
    // Replay after a restart: seq starts again from 1, positions are the same → same ids.
    assert.deepEqual(await rowIdsOf(batchFromRows(1, DIMS, TRICKY_ROWS, { positions: POS_A })), ids);
    // Metrics are not part of the id.
    const heavier = TRICKY_ROWS.map((r) => ({ ...r, flows: 1, packets: 1, bytes: 1 }));
    assert.deepEqual(await rowIdsOf(batchFromRows(7, DIMS, heavier, { positions: POS_A })), ids);
    // The same keys in a later flush (ending further on) → all new ids.
    const later = await rowIdsOf(batchFromRows(8, DIMS, TRICKY_ROWS, { positions: POS_B }));
    assert.equal(later.filter((id) => ids.includes(id)).length, 0);
    // Position order does not matter; file identity does.
    const two = [{ key: 'b.log', value: '10', identity: '1:2:3' }, { key: 'a.log', value: '5', identity: '1:4:5' }];
    assert.equal(flushIdentity(batchFromRows(1, DIMS, [], { positions: two })), flushIdentity(batchFromRows(1, DIMS, [], { positions: [two[1]!, two[0]!] })));
    assert.notEqual(flushIdentity(batchFromRows(1, DIMS, [], { positions: [{ ...two[0]!, identity: '9:9:9' }] })), flushIdentity(batchFromRows(1, DIMS, [], { positions: [two[0]!] })));
    // Without positions (stdin) the seq tells flushes apart.
    assert.notDeepEqual(await rowIdsOf(batchFromRows(1, DIMS, TRICKY_ROWS)), await rowIdsOf(batchFromRows(2, DIMS, TRICKY_ROWS)));
    // Another dimension configuration with the same values → other ids.
    const renamed = batchFromRows(7, ['src.app', 'dst.app', 'protocol', 'dst_port'], TRICKY_ROWS.map((r) => ({ ...r, dst_port: r.dstport ?? null })), { positions: POS_A });
    assert.equal((await rowIdsOf(renamed)).filter((id) => ids.includes(id)).length, 0);
  });

  it('row_id is SHA-256(SHA-256(version, dimension names, flush identity) ‖ the row JSON up to ,"flows":), as documented', async () => {
    const b = batchFromRows(3, DIMS, TRICKY_ROWS, { positions: POS_A });
    const d = createHash('sha256').update(`dredge-row-id/1\n${JSON.stringify(DIMS)}\n${JSON.stringify(POS_A.map((p) => [p.key, '', p.value]))}`).digest();
    const expected = TRICKY_ROWS.map((_, i) => {
      const json = JSON.stringify(rollupRow(b, i));
      const k = json.slice(0, json.lastIndexOf(',"flows":'));
      return createHash('sha256').update(d).update(k, 'utf8').digest('hex').slice(0, 32);
    });
    assert.deepEqual(await rowIdsOf(b), expected);
  });

  it('a flush written twice (a retry, a replay) lands with the same row_ids; a later delta of the same key gets its own', async () => {
    const s = await freshSink(2);
    try {
      const a = row('2025-11-23T12:13:00Z', 'api', 'db', 6, 5432, [3, 12, 5120]);
      await s.write(batchFromRows(1, DIMS, [a], { positions: POS_A }));
      await s.write(batchFromRows(1, DIMS, [a], { positions: POS_A }));
      await s.write(batchFromRows(2, DIMS, [a], { positions: POS_B }));
      const got = await rowsWithIds(s.stream);
      assert.equal(got.length, 3);
      const ids = got.map((r) => r.row_id as string);
      assert.equal(new Set(ids).size, 2, 'the replay duplicates one id, the later delta has another');
      assert.deepEqual(got.map(dropId), [a, a, a]);
    } finally {
      await s.close();
    }
  });

  it('packs rows into records of whole lines, none over 1 MiB with its partition key, losing none', async () => {
    const s = await freshSink(2);
    try {
      // ~350-byte lines; 100 distinct apps (batchFromRows' dictionary is a linear search), unique by port.
      const rows: Row[] = Array.from({ length: 12_000 }, (_, i) => row('2025-11-23T12:13:00Z', `app-${i % 100}-${'x'.repeat(200)}`, 'db', 6, i, [i, i * 2, i * 300]));
      await s.write(batchFromRows(1, DIMS, rows, { positions: POS_A }));
      const recs = await records(s.stream);
      assert.ok(recs.length >= 3 && recs.length < 10, `~3 MB of rows in a few records, got ${recs.length}`);
      for (const r of recs) {
        const size = Buffer.byteLength(r.data) + Buffer.byteLength(r.key);
        assert.ok(size <= MAX_RECORD_BYTES, `record of ${size} bytes`);
      }
      // Every record but the last one cut is full to within a line.
      assert.ok(recs.filter((r) => Buffer.byteLength(r.data) < MAX_RECORD_BYTES - ROW_ID_HEX - 400).length <= 1, 'records are filled');
      const got = recs.flatMap((r) => r.data.split('\n').map((l) => dropId(JSON.parse(l) as Row)));
      const key = (r: Row): string => `${r['src.app']}|${r.dstport}|${r.bytes}`;
      assert.deepEqual(got.map(key).sort(), rows.map(key).sort());
      assert.equal(s.stats.put.records, recs.length);
      assert.equal(s.stats.rows, rows.length);
    } finally {
      await s.close();
    }
  });

  it('maxRecordBytes caps a record; a row longer than a record is refused, not split', async () => {
    const s = await freshSink(1, { maxRecordBytes: 700 });
    try {
      await s.write(batchFromRows(1, DIMS, TRICKY_ROWS, { positions: POS_A }));
      const recs = await records(s.stream);
      assert.ok(recs.length >= 3, `${recs.length} records`);
      assert.ok(recs.every((r) => Buffer.byteLength(r.data) <= 700));
      assert.equal(recs.flatMap((r) => r.data.split('\n')).length, TRICKY_ROWS.length);
      const long = row('2025-11-23T12:13:00Z', 'y'.repeat(800), 'db', 6, 1, [1, 1, 1]);
      await assert.rejects(s.write(batchFromRows(2, DIMS, [long])), (e: unknown) => e instanceof DredgeError && e.code === 'DREDGE_ERR_SINK_WRITE' && !e.retriable && /bytes as JSON/.test(e.message));
    } finally {
      await s.close();
    }
  });
});

describe('DruidKinesisSink failures', () => {
  it('opening on a missing stream fails at once, not retriable, naming the stream and how to create it', async () => {
    await assert.rejects(openDruidKinesisSink({ stream: 'no-such-stream', endpoint: kin.local.endpoint, backoff: BACKOFF }), (e: unknown) => {
      assert.ok(e instanceof DredgeError);
      assert.equal(e.code, 'DREDGE_ERR_CONFIG');
      assert.equal(e.retriable, false);
      assert.match(e.message, /no-such-stream not found/);
      assert.match(e.message, /create-stream --stream-name no-such-stream/);
      return true;
    });
  });

  it('a stream deleted under a running sink: the write rejects, not retriable, saying so', async () => {
    const s = await freshSink(1);
    try {
      await kin.client.send(new DeleteStreamCommand({ StreamName: s.stream }));
      await new Promise((r) => setTimeout(r, 50));
      await assert.rejects(s.write(batchFromRows(1, DIMS, TRICKY_ROWS)), (e: unknown) => {
        assert.ok(e instanceof DredgeError);
        assert.equal(e.code, 'DREDGE_ERR_SINK_WRITE');
        assert.equal(e.retriable, false);
        assert.match(e.message, /does not exist/);
        return true;
      });
      assert.equal(s.stats.errors, 1);
    } finally {
      await s.close();
    }
  });

  /** A sink whose calls go through the fault proxy. */
  async function proxied(extra: Partial<Parameters<typeof openDruidKinesisSink>[0]> = {}): Promise<DruidKinesisSink> {
    const stream = streamName('druid-faults');
    await createStream(kin.client, stream, 2);
    proxy.reset();
    return openDruidKinesisSink({ stream, endpoint: proxy.endpoint, backoff: BACKOFF, maxRecordBytes: 400, ...extra });
  }

  it('throttled calls and throttled entries are retried: every row lands exactly once', async () => {
    const s = await proxied();
    let withheld = 0;
    proxy.rule = (op, _b, n) => {
      if (op !== 'PutRecords') return undefined;
      if (n <= 2) return kinesisError('ProvisionedThroughputExceededException', 'Rate exceeded for shard shardId-000000000000');
      if (n !== 3) return undefined;
      // Every other entry is kept from Kinesis and reported throttled, as a shard over its limit would.
      return {
        request: (body) => {
          const recs = body.Records as unknown[];
          withheld = recs.filter((_, i) => i % 2 === 0).length;
          return { ...body, Records: recs.filter((_, i) => i % 2 === 1) };
        },
        response: (res, req) => {
          const ok = [...(res.Records as unknown[])];
          const out = (req.Records as unknown[]).map((_, i) => (i % 2 === 0 ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' } : ok.shift()));
          return { FailedRecordCount: withheld, Records: out };
        },
      };
    };
    try {
      await s.write(batchFromRows(1, DIMS, TRICKY_ROWS, { positions: POS_A }));
    } finally {
      proxy.rule = () => undefined;
      await s.close();
    }
    assert.ok(withheld >= 2, `withheld ${withheld}`);
    assert.equal(s.stats.put.throttledCalls, 2);
    assert.equal(s.stats.put.retriedEntries, withheld);
    const got = await rowsWithIds(s.stream);
    assert.equal(got.length, TRICKY_ROWS.length, 'nothing lost, nothing twice');
    const canon = (r: Row): string => JSON.stringify(Object.entries(r).sort());
    assert.deepEqual(got.map(dropId).map(canon).sort(), TRICKY_ROWS.map(canon).sort());
  });

  it('entries still throttled after the retry bound: rejects retriable', async () => {
    const s = await proxied({ maxEntryRetries: 2 });
    // Kinesis answers 200 with every entry failed (nothing written).
    proxy.rule = (op, body) => {
      if (op !== 'PutRecords') return undefined;
      const n = (body.Records as unknown[]).length;
      return { reply: { status: 200, body: JSON.stringify({ FailedRecordCount: n, Records: Array.from({ length: n }, () => ({ ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' })) }) } };
    };
    try {
      await assert.rejects(s.write(batchFromRows(1, DIMS, TRICKY_ROWS)), (e: unknown) => {
        assert.ok(e instanceof DredgeError);
        assert.equal(e.code, 'DREDGE_ERR_SINK_WRITE');
        assert.equal(e.retriable, true);
        assert.match(e.message, /write limit/);
        return true;
      });
    } finally {
      proxy.rule = () => undefined;
      await s.close();
    }
  });

  it('5xx on every call: rejects retriable after the bound', async () => {
    const s = await proxied({ maxTransientRetries: 2 });
    proxy.rule = (op) => (op === 'PutRecords' ? kinesisError('InternalFailure', 'boom', 500) : undefined);
    try {
      await assert.rejects(s.write(batchFromRows(1, DIMS, TRICKY_ROWS)), (e: unknown) => e instanceof DredgeError && e.code === 'DREDGE_ERR_SINK_WRITE' && e.retriable);
      assert.equal(proxy.count('PutRecords'), 3, 'one call and two retries');
    } finally {
      proxy.rule = () => undefined;
      await s.close();
    }
  });

  it('access denied: rejects not retriable, naming the permission', async () => {
    const s = await proxied();
    proxy.rule = (op) => (op === 'PutRecords' ? kinesisError('AccessDeniedException', 'User is not authorized to perform: kinesis:PutRecords') : undefined);
    try {
      await assert.rejects(s.write(batchFromRows(1, DIMS, TRICKY_ROWS)), (e: unknown) => {
        assert.ok(e instanceof DredgeError);
        assert.equal(e.retriable, false);
        assert.match(e.message, /kinesis:PutRecords/);
        return true;
      });
      assert.equal(proxy.count('PutRecords'), 1, 'no retry');
    } finally {
      proxy.rule = () => undefined;
      await s.close();
    }
  });

  it('opening with refused credentials fails with the permission to grant', async () => {
    proxy.reset();
    proxy.rule = (op) => (op === 'DescribeStreamSummary' ? kinesisError('AccessDeniedException', 'not authorized') : undefined);
    try {
      await assert.rejects(openDruidKinesisSink({ stream: 'whatever', endpoint: proxy.endpoint, backoff: BACKOFF }), (e: unknown) => e instanceof DredgeError && !e.retriable && /kinesis:DescribeStreamSummary/.test(e.message));
    } finally {
      proxy.rule = () => undefined;
    }
  });
});
