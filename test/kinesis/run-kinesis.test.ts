// `dredge run --kinesis` as a user runs it: the built CLI against a real kinesalite, traffic written by
// `dredge generate --kinesis` (CloudWatch envelopes and raw lines), rollups into a real DuckDB file.
// Totals equal the generator's truth; a second run after more traffic adds exactly the new flows (the
// shard checkpoints committed with the rows); SIGTERM mid-stream drains, flushes, checkpoints and
// exits 0, and the next run finishes with exact totals; a malformed record is counted and named.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { putRecords } from '../../src/sources/kinesis/producer.js';
import { createStream, streamName, useKinesalite } from './harness.js';

// The daemon logs plain lines here (on a pipe its default is JSON; test/cli/run.test.ts checks that form).
process.env.DREDGE_OPS_LOG_FORMAT = 'pretty';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
const kin = useKinesalite('dredge-run-kinesis-');
const root = kin.root;

interface Done {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function dredge(args: string[], opts: { killAfterMs?: number; signal?: NodeJS.Signals } = {}): Promise<Done> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const stop = opts.killAfterMs !== undefined ? setTimeout(() => child.kill(opts.signal ?? 'SIGTERM'), opts.killAfterMs) : null;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      if (stop !== null) clearTimeout(stop);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

async function totals(db: string): Promise<{ flows: number; packets: number; bytes: number }> {
  const inst = await DuckDBInstance.create(db, { access_mode: 'READ_ONLY' });
  const con = await inst.connect();
  try {
    const r = (await con.runAndReadAll('SELECT coalesce(sum(flows),0)::DOUBLE, coalesce(sum(packets),0)::DOUBLE, coalesce(sum(bytes),0)::DOUBLE FROM rollups')).getRows()[0] as number[];
    const l = (await con.runAndReadAll('SELECT coalesce(sum(late_flows),0)::DOUBLE, coalesce(sum(late_packets),0)::DOUBLE, coalesce(sum(late_bytes),0)::DOUBLE FROM flushes')).getRows()[0] as number[];
    return { flows: r[0]! + l[0]!, packets: r[1]! + l[1]!, bytes: r[2]! + l[2]! };
  } finally {
    con.closeSync();
    inst.closeSync();
  }
}

type Truth = { flows: number; packets: number; bytes: number };
const truthOf = (dir: string): Truth => JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as Truth;
const add = (a: Truth, b: Truth): Truth => ({ flows: a.flows + b.flows, packets: a.packets + b.packets, bytes: a.bytes + b.bytes });

async function generate(stream: string, out: string, extra: string[]): Promise<Truth> {
  const g = await dredge(['generate', '--kinesis', stream, '--endpoint', kin.local.endpoint, '--out', out, '--span', '10m', '--subnets', '300', ...extra]);
  assert.equal(g.status, 0, g.stderr);
  return truthOf(out);
}

const runArgs = (stream: string, gen: string, db: string, more: string[] = []): string[] => [
  'run', '--kinesis', stream, '--endpoint', kin.local.endpoint,
  '--snapshot', join(gen, 'snapshot.csv'), '--events', join(gen, 'events.ndjson'),
  '--db', db, '--flush-interval', '0.5s', '--workers', '2', '--quiet', ...more,
];

test('a 3-shard stream of CloudWatch envelopes, then more raw-line traffic: exact totals, resumed from checkpoints', async () => {
  const stream = streamName('run');
  await createStream(kin.client, stream, 3);
  const gen1 = join(root, 'gen1');
  const t1 = await generate(stream, gen1, ['--flows', '20000', '--seed', '1', '--envelope', 'cloudwatch']);
  const db = join(root, 'a.duckdb');
  const r1 = await dredge([...runArgs(stream, gen1, db), '--stop-when-caught-up']);
  assert.equal(r1.status, 0, r1.stderr);
  assert.deepStrictEqual(await totals(db), { flows: t1.flows, packets: t1.packets, bytes: t1.bytes });
  assert.match(r1.stderr, /shardId-000000000002: DONE|shardId-000000000002: \w+, \d+ records, 0 ms behind/);
  // Checkpoints are stored per stream and shard, committed with the rows.
  const inst = await DuckDBInstance.create(db, { access_mode: 'READ_ONLY' });
  const con = await inst.connect();
  const keys = (await con.runAndReadAll('SELECT source FROM checkpoints ORDER BY source')).getRows().map((r) => r[0]);
  con.closeSync();
  inst.closeSync();
  assert.deepStrictEqual(keys, [0, 1, 2].map((i) => `kinesis:${stream}/shardId-00000000000${i}`));
  // More traffic with the same world (same seed for the inventory, different flows via --start).
  const gen2 = join(root, 'gen2');
  const t2 = await generate(stream, gen2, ['--flows', '15000', '--seed', '1', '--start', '2025-11-23T13:00:00Z', '--lines-per-record', '40']);
  const r2 = await dredge([...runArgs(stream, gen1, db), '--stop-when-caught-up']);
  assert.equal(r2.status, 0, r2.stderr);
  assert.match(r2.stderr, new RegExp(`dredge run: ${t2.flows} flows`));
  const want = add(t1, t2);
  assert.deepStrictEqual(await totals(db), { flows: want.flows, packets: want.packets, bytes: want.bytes });
});

test('SIGTERM mid-stream: drains, flushes, checkpoints, exits 0; the next run completes the totals exactly', async () => {
  const stream = streamName('sig');
  await createStream(kin.client, stream, 2);
  const gen = join(root, 'gen-sig');
  const t = await generate(stream, gen, ['--flows', '60000', '--seed', '3', '--lines-per-record', '20']);
  const db = join(root, 'sig.duckdb');
  // Without --stop-when-caught-up a run never ends by itself: it is stopped by the signal.
  const r1 = await dredge(runArgs(stream, gen, db, ['--flush-interval', '0.2s']), { killAfterMs: 2500, signal: 'SIGTERM' });
  assert.equal(r1.status, 0, r1.stderr);
  assert.match(r1.stderr, /SIGTERM: finishing the batches in flight/);
  const partial = await totals(db);
  assert.ok(partial.flows <= t.flows, `${partial.flows} > ${t.flows}`);
  const r2 = await dredge([...runArgs(stream, gen, db), '--stop-when-caught-up']);
  assert.equal(r2.status, 0, r2.stderr);
  assert.deepStrictEqual(await totals(db), { flows: t.flows, packets: t.packets, bytes: t.bytes });
});

test('a malformed record is counted and named by its sequence number; the records around it are kept', async () => {
  const stream = streamName('bad');
  await createStream(kin.client, stream, 1);
  const gen = join(root, 'gen-bad');
  const t = await generate(stream, gen, ['--flows', '3000', '--seed', '5', '--lines-per-record', '100']);
  const bad = await putRecords(kin.client, stream, [gzipSync(Buffer.from('2 123456789012 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1763900000 1763900060 ACCEPT OK\n')).subarray(0, 30)]);
  assert.equal(bad.records, 1);
  const db = join(root, 'bad.duckdb');
  const r = await dredge([...runArgs(stream, gen, db), '--stop-when-caught-up']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /shardId-000000000000:record \d{20,}: gzip stream is truncated/);
  assert.match(r.stderr, /1 malformed/);
  assert.deepStrictEqual(await totals(db), { flows: t.flows, packets: t.packets, bytes: t.bytes });
});
