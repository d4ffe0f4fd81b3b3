// `dredge run --sink druid` as a user runs it: generated files in, rollup rows out as JSON lines on a
// real kinesalite stream (what Druid's Kinesis supervisor would ingest), checkpoints in
// --checkpoint-dir. The rows read back from the stream sum to the generator's truth; a second run finds
// nothing new and sends nothing; every row carries a row_id.

import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { KinesisSource } from '../../src/sources/kinesis/stream-source.js';
import { FAST, Owner, createStream, streamName, useKinesalite } from './harness.js';

// The daemon logs plain lines here (on a pipe its default is JSON; test/cli/run.test.ts checks that form).
process.env.DREDGE_OPS_LOG_FORMAT = 'pretty';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
const kin = useKinesalite('dredge-run-druid-');
const root = kin.root;

/** Async: kinesalite runs in this process, so a blocking spawn would leave the child no server to talk to. */
async function dredge(args: string[]): Promise<{ status: number; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], { maxBuffer: 16 << 20 });
    return { status: 0, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stderr: string };
    return { status: x.code, stderr: x.stderr };
  }
}

async function rowsIn(stream: string): Promise<Record<string, unknown>[]> {
  const owner = new Owner();
  const source = new KinesisSource({ client: kin.client, stream, from: 'trim-horizon', positions: new Map(), stopWhenCaughtUp: true, pacing: FAST, discoverIntervalMs: 50 });
  owner.source = source;
  await source.run(owner.submit);
  return owner.records.flatMap((r) => r.data.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>));
}

test('--sink druid: rows on the stream sum to the truth, each with a row_id; a rerun sends nothing', async () => {
  const gen = join(root, 'gen');
  const g = spawnSync(process.execPath, [BIN, 'generate', '--out', gen, '--flows', '20000', '--files', '2', '--span', '10m', '--subnets', '300'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  const truth = JSON.parse(readFileSync(join(gen, 'truth.json'), 'utf8')) as { flows: number; packets: number; bytes: number };
  const stream = streamName('druid');
  await createStream(kin.client, stream, 2);
  const state = join(root, 'state');
  const args = ['run', join(gen, 'flows-0001.log'), join(gen, 'flows-0002.log'), '--snapshot', join(gen, 'snapshot.csv'), '--events', join(gen, 'events.ndjson'), '--sink', 'druid', '--druid-stream', stream, '--druid-endpoint', kin.local.endpoint, '--checkpoint-dir', state, '--quiet'];
  const r = await dredge(args);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`output in Kinesis stream ${stream} \\(for Druid: dredge druid-spec --stream ${stream}\\)`));
  const rows = await rowsIn(stream);
  const sum = (k: string): number => rows.reduce((n, x) => n + (x[k] as number), 0);
  assert.deepStrictEqual({ flows: sum('flows'), packets: sum('packets'), bytes: sum('bytes') }, { flows: truth.flows, packets: truth.packets, bytes: truth.bytes });
  assert.ok(rows.every((x) => typeof x.row_id === 'string' && /^[0-9a-f]{32}$/.test(x.row_id as string)));
  assert.equal(new Set(rows.map((x) => x.row_id)).size, rows.length);
  assert.ok(existsSync(join(state, 'checkpoints.json')));
  const again = await dredge(args);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /dredge run: 0 flows/);
  assert.equal((await rowsIn(stream)).length, rows.length);
});

test('--sink druid flags: the stream is required, a missing one is named, sink flags are checked', () => {
  const cases: [string[], number, RegExp][] = [
    [['run', 'x', '--snapshot', 'x', '--sink', 'druid'], 2, /--sink druid needs --druid-stream STREAM/],
    [['run', 'x', '--snapshot', 'x', '--sink', 'druid-sql'], 2, /--sink druid-sql needs --druid-url URL/],
    [['run', 'x', '--snapshot', 'x', '--druid-stream', 's'], 2, /--druid-stream is for --sink druid/],
    [['run', 'x', '--snapshot', 'x', '--checkpoint-dir', 'd'], 2, /--checkpoint-dir is for the druid sinks/],
  ];
  for (const [args, code, re] of cases) {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
    assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});
