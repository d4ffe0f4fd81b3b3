// Crash safety of the daemon reading Kinesis (issue #7): a real `dredge run --kinesis` process writing
// to the DuckDB store is SIGKILLed, again and again, at random moments from outside and inside flushes
// (mid-append, just before COMMIT, just after COMMIT; via DREDGE_CRASH_POINT, where an outside kill
// would land only by luck); each restart resumes from the shard checkpoints in the same file. Two
// streams on a real kinesalite: a backlog of raw lines written before the first start, and gzipped
// CloudWatch envelopes written live while the daemon is being killed (small pages: many checkpoints
// inside each shard).
//
// After every kill the store must hold exactly the flows of the records up to its checkpoints (rows,
// flush records and checkpoints commit in one transaction): the test reads the stream itself and sums
// each shard's records up to the checkpointed sequence number. After a clean `--stop-when-caught-up`
// run the totals (rows + counted late flows) equal the generator's truth exactly, with one checkpoint
// per shard at its last record: nothing lost, nothing counted twice.
//
// The kill moments come from a seeded generator: the seed is in the test names; rerun one with
// KINESIS_CRASH_SEED=<seed>. The interleaving with the live producer is not reproducible, the kill
// moments are.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { DuckDBInstance } from '@duckdb/node-api';
import { createStream, streamName, useKinesalite } from '../kinesis/harness.js';
import { Rng } from '../../src/sources/generator/traffic.js';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
const SEED = Number(process.env.KINESIS_CRASH_SEED ?? Date.now() % 2 ** 31);
/** Every dredge process started and not yet reaped. */
const live = new Set<ChildProcess>();
const pids: number[] = [];
const kin = useKinesalite('dredge-kinesis-crash-', {
  stopping: () => {
    for (const p of live) p.kill('SIGKILL');
  },
});
const root = kin.root;

/** The project's seeded PRNG (mulberry32), as a function. */
function random(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The test sent the SIGKILL (the kill moment came, or the crash point was never reached). */
  killedByTest: boolean;
  ms: number;
  /** When it logged the stream's shards (start-up done, reading begins), ms after the spawn; null: never. */
  readingMs: number | null;
  stdout: string;
  stderr: string;
}

function dredge(args: string[], o: { env?: Record<string, string>; killAfterMs?: number; limitMs?: number; spawned?: (child: ChildProcess) => void } = {}): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    if (child.pid !== undefined) pids.push(child.pid);
    o.spawned?.(child);
    let stdout = '';
    let stderr = '';
    let killedByTest = false;
    let readingMs: number | null = null;
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (readingMs === null && /: \d+ shards \(/.test(stderr)) readingMs = performance.now() - t0;
    });
    const kill = (): void => {
      killedByTest = true;
      child.kill('SIGKILL');
    };
    const killer = o.killAfterMs !== undefined ? setTimeout(kill, o.killAfterMs) : null;
    // No run here takes a minute (the live producer gets longer): one that does is stuck, and its stderr tail says where.
    const limit = setTimeout(kill, o.limitMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      live.delete(child);
      if (killer !== null) clearTimeout(killer);
      clearTimeout(limit);
      resolve({ code, signal, killedByTest, ms: performance.now() - t0, readingMs, stdout, stderr });
    });
  });
}

const tail = (s: string): string => s.split('\n').slice(-15).join('\n');

interface Totals {
  flows: number;
  packets: number;
  bytes: number;
}

interface Truth extends Totals {
  kinesis: { records: number; shards: Record<string, number> };
}

/** What a killed run left in the store: totals (rows + late), flush records, checkpoints. */
interface StoreState extends Totals {
  flushes: number;
  checkpoints: Map<string, string>;
}

async function readStore(db: string): Promise<StoreState> {
  const empty: StoreState = { flows: 0, packets: 0, bytes: 0, flushes: 0, checkpoints: new Map() };
  if (!existsSync(db)) return empty;
  const inst = await DuckDBInstance.create(db, { access_mode: 'READ_ONLY' });
  const con = await inst.connect();
  try {
    const tables = (await con.runAndReadAll("SELECT count(*)::INTEGER FROM information_schema.tables WHERE table_name IN ('rollups', 'flushes', 'checkpoints')")).getRows()[0]?.[0];
    // Killed while the first run created the schema: nothing was committed yet.
    if (tables !== 3) return empty;
    const r = (await con.runAndReadAll('SELECT coalesce(sum(flows),0)::BIGINT, coalesce(sum(packets),0)::BIGINT, coalesce(sum(bytes),0)::BIGINT FROM rollups')).getRows()[0] as bigint[];
    const l = (await con.runAndReadAll('SELECT coalesce(sum(late_flows),0)::BIGINT, coalesce(sum(late_packets),0)::BIGINT, coalesce(sum(late_bytes),0)::BIGINT, count(*)::BIGINT FROM flushes')).getRows()[0] as bigint[];
    const cps = (await con.runAndReadAll('SELECT source, position FROM checkpoints')).getRows() as [string, string][];
    return { flows: Number(r[0]! + l[0]!), packets: Number(r[1]! + l[1]!), bytes: Number(r[2]! + l[2]!), flushes: Number(l[3]), checkpoints: new Map(cps) };
  } finally {
    con.closeSync();
    inst.closeSync();
  }
}

/** One shard as the test reads it: sequence numbers in order, and running totals after each record. */
interface ShardContent {
  index: Map<string, number>;
  last: string;
  running: Totals[];
}

/** Flows (log-status OK), packets and bytes of v2-default lines; NODATA lines count for nothing. */
function addLines(text: string, into: Totals): void {
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const f = line.split(' ');
    if (f[13] !== 'OK') continue;
    into.flows++;
    into.packets += Number(f[8]);
    into.bytes += Number(f[9]);
  }
}

/** Reads every record of every shard from TRIM_HORIZON (the oracle, independent of src/parse). */
async function readStream(stream: string, envelope: boolean, truth: Truth): Promise<Map<string, ShardContent>> {
  const shards = (await kin.client.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  const out = new Map<string, ShardContent>();
  for (const s of shards) {
    const id = s.ShardId as string;
    const want = truth.kinesis.shards[id] ?? 0;
    const content: ShardContent = { index: new Map(), last: '', running: [] };
    const sum: Totals = { flows: 0, packets: 0, bytes: 0 };
    let it = (await kin.client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: id, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    while (content.running.length < want && it !== undefined) {
      const page = await kin.client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
      for (const r of page.Records ?? []) {
        const data = Buffer.from(r.Data as Uint8Array);
        if (envelope) {
          const env = JSON.parse(gunzipSync(data).toString('utf8')) as { messageType: string; logEvents: { message: string }[] };
          if (env.messageType === 'DATA_MESSAGE') for (const e of env.logEvents) addLines(e.message, sum);
        } else addLines(data.toString('latin1'), sum);
        content.index.set(r.SequenceNumber as string, content.running.length);
        content.running.push({ ...sum });
        content.last = r.SequenceNumber as string;
      }
      it = page.NextShardIterator;
    }
    assert.equal(content.running.length, want, `${id}: read ${content.running.length} records, the generator wrote ${want}`);
    out.set(id, content);
  }
  return out;
}

/** The flows of the records up to each shard's checkpoint: what the store must hold with those checkpoints. */
function upToCheckpoints(stream: string, content: Map<string, ShardContent>, checkpoints: Map<string, string>): Totals {
  const sum: Totals = { flows: 0, packets: 0, bytes: 0 };
  const prefix = `kinesis:${stream}/`;
  for (const [key, seq] of checkpoints) {
    assert.ok(key.startsWith(prefix), `checkpoint ${key} is not of ${prefix}<shard id>`);
    const shard = content.get(key.slice(prefix.length));
    assert.ok(shard !== undefined, `checkpoint ${key} names no shard of ${stream}`);
    const i = shard.index.get(seq);
    assert.ok(i !== undefined, `checkpoint ${key} = ${seq} is no sequence number of that shard`);
    const t = shard.running[i] as Totals;
    sum.flows += t.flows;
    sum.packets += t.packets;
    sum.bytes += t.bytes;
  }
  return sum;
}

/** "812/1052, 0/1050, 1054/1054": records up to each shard's checkpoint, of all its records. */
function covered(stream: string, content: Map<string, ShardContent>, checkpoints: Map<string, string>): string {
  return [...content]
    .map(([id, s]) => {
      const i = s.index.get(checkpoints.get(`kinesis:${stream}/${id}`) ?? '');
      return `${i === undefined ? 0 : i + 1}/${s.running.length}`;
    })
    .join(', ');
}

const totalsOf = (t: Totals): Totals => ({ flows: t.flows, packets: t.packets, bytes: t.bytes });

type Step = { point: string } | { randomMs: true };

interface Observation {
  run: string;
  state: StoreState;
}

interface Case {
  name: string;
  shards: number;
  envelope: boolean;
  /** `dredge generate --kinesis` flags beyond the stream, the endpoint and --out. */
  generate: string[];
  /** Written before the first run (a backlog), or while the daemon is being killed (live). */
  live: boolean;
  /** Enrich with a prebuilt `dredge index build` file (faster restarts) instead of --snapshot/--events. */
  prebuiltIndex: boolean;
  /** Each run is SIGKILLed: by itself at a crash point, or by the test at a random moment. */
  steps: Step[];
}

async function crashAndRecover(t: TestContext, c: Case, seed: number): Promise<void> {
  const rnd = random(seed);
  const stream = streamName(c.name);
  const gen = join(root, `gen-${c.name}`);
  const db = join(root, `${c.name}.duckdb`);
  const genArgs = ['generate', '--kinesis', stream, '--endpoint', kin.local.endpoint, '--out', gen, '--span', '10m', '--subnets', '300', ...c.generate, ...(c.envelope ? ['--envelope', 'cloudwatch'] : [])];
  let producer: Promise<Exit> | null = null;
  let producerChild: ChildProcess | null = null;
  if (c.live) {
    // The stream must exist before the daemon starts; the inventory is written before the first record.
    // The producer sends until the steps are done (SIGTERM then; truth.json covers what it sent), so
    // new records keep coming for every crash point however long the runs take on this machine.
    await createStream(kin.client, stream, c.shards);
    producer = dredge(genArgs, { limitMs: 170_000, spawned: (child) => (producerChild = child) });
    for (let i = 0; i < 400 && !existsSync(join(gen, 'events.ndjson')); i++) await new Promise((r) => setTimeout(r, 25));
  } else {
    const g = await dredge([...genArgs, '--create-shards', String(c.shards)]);
    assert.equal(g.code, 0, g.stderr);
  }
  let enrich = ['--snapshot', join(gen, 'snapshot.csv'), '--events', join(gen, 'events.ndjson')];
  if (c.prebuiltIndex) {
    const b = await dredge(['index', 'build', ...enrich, '-o', join(gen, 'index.bin')]);
    assert.equal(b.code, 0, b.stderr);
    enrich = ['--index', join(gen, 'index.bin')];
  }
  const runArgs = ['run', '--kinesis', stream, '--endpoint', kin.local.endpoint, ...enrich, '--db', db, '--flush-interval', '0.3s', '--workers', '2'];

  const seen: Observation[] = [];
  // Start-up (spawn to the shard listing) as measured so far: 1.3–2 s on 2 cores, the first commit
  // 1.5–2 s later. Random moments are drawn over start-up and the 3.5 s after it, so they land in
  // start-up, reading, aggregation and flushes alike, whatever this machine's speed.
  let startup = 1500;
  for (const [n, step] of c.steps.entries()) {
    const ms = 'point' in step ? 20_000 : Math.round(300 + rnd() * (startup + 3200));
    const r = await dredge(runArgs, { killAfterMs: ms, ...('point' in step ? { env: { DREDGE_CRASH_POINT: step.point } } : {}) });
    // A run killed at any moment dies by the signal; it never exits by itself (no --stop-when-caught-up).
    assert.equal(r.signal, 'SIGKILL', `run ${n + 1} ended by itself (code ${r.code}):\n${tail(r.stderr)}`);
    // The steps place each crash point where a write with rows is still to come, so it must be reached.
    if ('point' in step) assert.ok(!r.killedByTest, `run ${n + 1}: ${step.point} was not reached in ${ms} ms:\n${tail(r.stderr)}`);
    if (r.readingMs !== null) startup = Math.max(startup, r.readingMs);
    const how = 'point' in step ? `killed itself at ${step.point}` : `killed after ${ms} ms`;
    const state = await readStore(db);
    seen.push({ run: `run ${n + 1} (${how})`, state });
    t.diagnostic(`${c.name} run ${n + 1}: ${how} (${(r.ms / 1000).toFixed(2)} s, reading from ${r.readingMs === null ? '-' : (r.readingMs / 1000).toFixed(2)} s); store: ${state.flushes} flushes, ${state.checkpoints.size}/${c.shards} shards checkpointed, ${state.flows} flows`);
  }

  if (producer !== null) {
    (producerChild as ChildProcess | null)?.kill('SIGTERM');
    const g = await producer;
    assert.equal(g.code, 0, g.stderr);
  }
  const truth = JSON.parse(readFileSync(join(gen, 'truth.json'), 'utf8')) as Truth;
  const last = await dredge([...runArgs, '--stop-when-caught-up']);
  assert.equal(last.code, 0, `the final run failed:\n${tail(last.stderr)}`);
  t.diagnostic(`${c.name} final run: ${(last.ms / 1000).toFixed(2)} s; ${truth.flows} flows in ${truth.kinesis.records} records`);

  // The oracle: the stream as written, summed record by record.
  const content = await readStream(stream, c.envelope, truth);
  const all: Totals = { flows: 0, packets: 0, bytes: 0 };
  for (const s of content.values()) {
    const x = s.running[s.running.length - 1];
    if (x === undefined) continue;
    all.flows += x.flows;
    all.packets += x.packets;
    all.bytes += x.bytes;
  }
  assert.deepStrictEqual(all, totalsOf(truth), 'the stream does not hold what the generator says it wrote');

  // After every kill: exactly the records up to the checkpoints, never more, never fewer.
  for (const o of seen) {
    t.diagnostic(`${c.name} ${o.run}: records checkpointed per shard: ${covered(stream, content, o.state.checkpoints)}`);
    assert.deepStrictEqual(totalsOf(o.state), upToCheckpoints(stream, content, o.state.checkpoints), `${o.run}: the store does not hold exactly the records up to its checkpoints`);
  }

  const end = await readStore(db);
  assert.deepStrictEqual(totalsOf(end), totalsOf(truth));
  assert.deepStrictEqual(
    [...end.checkpoints].sort(),
    [...content].map(([id, s]) => [`kinesis:${stream}/${id}`, s.last]).sort(),
    'one checkpoint per shard, at its last record',
  );
  assert.equal(live.size, 0, 'a dredge process is still running');
}

// The backlog is read in one GetRecords page per shard, so a run commits at most a few times: the
// crash points come first, while nothing is committed and a first write is sure to come.
test(`raw lines, a 4-shard backlog: SIGKILL inside flushes and at random moments, restart; the store equals the truth (seed ${SEED})`, { timeout: 120_000 }, async (t) => {
  await crashAndRecover(
    t,
    {
      name: 'backlog',
      shards: 4,
      envelope: false,
      live: false,
      prebuiltIndex: false,
      generate: ['--flows', '150000', '--seed', '11', '--lines-per-record', '100'],
      steps: [{ point: 'mid-append:1' }, { point: 'before-commit:1' }, { point: 'after-commit:1' }, { randomMs: true }, { randomMs: true }, { randomMs: true }],
    },
    SEED,
  );
});

// Written at 7.5k flows/s while the daemon is killed, until the last kill: each run starts with a short
// backlog and then reads small pages at the tip, so checkpoints land inside the shards; new records
// keep coming for every crash point.
test(`gzipped CloudWatch envelopes written live to 3 shards while the daemon is killed and restarted (seed ${SEED})`, { timeout: 180_000 }, async (t) => {
  await crashAndRecover(
    t,
    {
      name: 'live',
      shards: 3,
      envelope: true,
      live: true,
      prebuiltIndex: true,
      generate: ['--rate', '7500', '--duration', '120s', '--seed', '12', '--lines-per-record', '50'],
      steps: [{ point: 'after-commit:1' }, { randomMs: true }, { point: 'before-commit:1' }, { randomMs: true }, { point: 'mid-append:1' }, { randomMs: true }],
    },
    SEED + 1,
  );
});

test('no dredge process outlives the tests', () => {
  assert.equal(live.size, 0);
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `process ${pid} is still running`);
});
