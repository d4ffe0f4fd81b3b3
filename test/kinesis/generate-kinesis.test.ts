// `dredge generate --kinesis` as a user runs it (the built CLI, a child process) against a real
// kinesalite: the records in the stream are exactly the flow lines the file target writes for the same
// options, the printed JSON and truth.json give the totals that reading the stream back gives, --rate
// is a real rate, and the inventory files are written beside truth.json.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { KinesisSource } from '../../src/sources/kinesis/stream-source.js';
import { FAST, Owner, createStream, streamName, useKinesalite } from './harness.js';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
const kin = useKinesalite('dredge-gen-kinesis-');
const root = kin.root;

function dredge(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: performance.now() - t0 });
    });
  });
}

async function readStream(stream: string): Promise<Buffer[]> {
  const owner = new Owner();
  const source = new KinesisSource({ client: kin.client, stream, from: 'trim-horizon', positions: new Map(), stopWhenCaughtUp: true, pacing: FAST, discoverIntervalMs: 50 });
  owner.source = source;
  const records: Buffer[] = [];
  owner.onSubmit = (b) => {
    let at = 0;
    for (const end of b.recordEnds) {
      records.push(Buffer.from(b.bytes.subarray(at, end)));
      at = end;
    }
  };
  await source.run(owner.submit);
  return records;
}

interface Summary {
  records: number;
  flows: number;
  files: unknown[];
  kinesis: { stream: string; records: number; bytes: number; calls: number; retried: number; linesPerRecord: number; rate: number | null };
}

describe('dredge generate --kinesis', () => {
  it('sends exactly the file target\'s lines, N per record, and prints the totals it wrote', async () => {
    const stream = streamName('gen');
    await createStream(kin.client, stream, 3);
    const dir = join(root, 'lines');
    const r = await dredge(['generate', '--kinesis', stream, '--endpoint', kin.local.endpoint, '--out', dir, '--flows', '2000', '--lines-per-record', '50', '--seed', '7']);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as Summary;
    assert.equal(summary.records, 2000);
    assert.deepEqual({ records: summary.kinesis.records, retried: summary.kinesis.retried, calls: summary.kinesis.calls }, { records: 40, retried: 0, calls: 1 });
    const truth = JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as Summary;
    assert.deepEqual(truth.kinesis, summary.kinesis);
    assert.ok(existsSync(join(dir, 'snapshot.csv')) && existsSync(join(dir, 'events.ndjson')), 'inventory written');

    const records = await readStream(stream);
    assert.equal(records.length, 40);
    assert.equal(records.reduce((n, b) => n + b.length, 0), summary.kinesis.bytes);
    const lines = records.flatMap((b) => b.toString('latin1').split('\n').filter((l) => l !== ''));
    assert.equal(lines.length, 2000);
    for (const b of records) assert.equal(b.toString('latin1').split('\n').filter((l) => l !== '').length, 50);

    // Same options to files: the same lines (the stream spreads records over shards: compare as sets).
    const fdir = join(root, 'files');
    const f = await dredge(['generate', '--out', fdir, '--flows', '2000', '--seed', '7']);
    assert.equal(f.status, 0, f.stderr);
    const fileLines = readFileSync(join(fdir, 'flows-0001.log'), 'latin1').split('\n').filter((l) => l !== '');
    assert.deepEqual([...lines].sort(), [...fileLines].sort());
    assert.equal(readFileSync(join(fdir, 'snapshot.csv'), 'utf8'), readFileSync(join(dir, 'snapshot.csv'), 'utf8'), 'same inventory');
  });

  it('paces to --rate for --duration, one gzipped CloudWatch envelope per record', async () => {
    const stream = streamName('gen-rate');
    await createStream(kin.client, stream, 2);
    const dir = join(root, 'rate');
    const r = await dredge(['generate', '--kinesis', stream, '--endpoint', kin.local.endpoint, '--out', dir, '--rate', '1500', '--duration', '2s', '--envelope', 'cloudwatch']);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as Summary & { seconds: number };
    assert.equal(summary.records, 3000);
    assert.ok(summary.seconds >= 1.8, `a real rate, not a burst: took ${summary.seconds} s`);
    assert.equal(summary.kinesis.linesPerRecord, 500);
    const records = await readStream(stream);
    assert.equal(records.length, summary.kinesis.records);
    assert.ok(records.length > 6, 'records cut as flows fall due, not 500-event envelopes all at once');
    let events = 0;
    for (const rec of records) {
      const env = JSON.parse(gunzipSync(rec).toString('utf8')) as { messageType: string; logEvents: unknown[] };
      assert.equal(env.messageType, 'DATA_MESSAGE');
      assert.ok(env.logEvents.length <= 500);
      events += env.logEvents.length;
    }
    assert.equal(events, 3000);
  });

  it('refuses Kinesis-only flags without --kinesis, and an unknown stream with the fix', async () => {
    const a = await dredge(['generate', '--out', join(root, 'x'), '--rate', '10']);
    assert.equal(a.status, 2);
    assert.match(a.stderr, /--rate applies only with --kinesis/);
    const b = await dredge(['generate', '--kinesis', 'nope', '--endpoint', kin.local.endpoint, '--out', join(root, 'y'), '--flows', '10']);
    assert.equal(b.status, 1);
    assert.match(b.stderr, /not found .*check the stream name, --region and --endpoint/);
  });

  it('--create-shards makes a missing stream (and leaves an existing one as it is)', async () => {
    const stream = streamName('create');
    const r = await dredge(['generate', '--kinesis', stream, '--create-shards', '3', '--endpoint', kin.local.endpoint, '--out', join(root, 'c'), '--flows', '1000']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`created Kinesis stream ${stream} with 3 shards`));
    const again = await dredge(['generate', '--kinesis', stream, '--create-shards', '5', '--endpoint', kin.local.endpoint, '--out', join(root, 'c2'), '--flows', '1000']);
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /created Kinesis stream/);
    const got = await readStream(stream);
    assert.equal(got.length, 20, '2 × 1000 flows at 100 lines per record');
  });
});
