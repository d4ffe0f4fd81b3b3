// Crash safety of the default store (issue #6): a real `dredge run` process writing to DuckDB is
// SIGKILLed inside flushes (mid-append, just before COMMIT, just after COMMIT; via
// DREDGE_CRASH_POINT, where an outside kill would land only by luck) and at random moments from
// outside; each restart resumes from the checkpoints in the same file. After a clean final run the
// store's totals (rows + counted late flows) equal the generator's truth exactly: nothing lost,
// nothing counted twice.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';

// The daemon logs plain lines here (on a pipe its default is JSON; test/cli/run.test.ts checks that form).
process.env.DREDGE_OPS_LOG_FORMAT = 'pretty';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
let dir = '';
let truth: { flows: number; packets: number; bytes: number };

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function dredge(args: string[], env: Record<string, string> = {}, killAfterMs?: number): Promise<Exit> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = killAfterMs !== undefined ? setTimeout(() => p.kill('SIGKILL'), killAfterMs) : null;
    p.on('exit', (code, signal) => {
      if (t !== null) clearTimeout(t);
      resolve({ code, signal, stderr });
    });
  });
}

async function totals(db: string): Promise<{ flows: number; packets: number; bytes: number; flushes: number }> {
  const inst = await DuckDBInstance.create(db, { access_mode: 'READ_ONLY' });
  const con = await inst.connect();
  try {
    const r = (await con.runAndReadAll('SELECT coalesce(sum(flows),0)::BIGINT f, coalesce(sum(packets),0)::BIGINT p, coalesce(sum(bytes),0)::BIGINT b FROM rollups')).getRows()[0] as bigint[];
    const l = (await con.runAndReadAll('SELECT coalesce(sum(late_flows),0)::BIGINT f, coalesce(sum(late_packets),0)::BIGINT p, coalesce(sum(late_bytes),0)::BIGINT b, count(*)::BIGINT n FROM flushes')).getRows()[0] as bigint[];
    return { flows: Number(r[0]! + l[0]!), packets: Number(r[1]! + l[1]!), bytes: Number(r[2]! + l[2]!), flushes: Number(l[3]) };
  } finally {
    con.closeSync();
    inst.closeSync();
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dredge-crash-'));
  const g = await dredge(['generate', '--out', join(dir, 'in'), '--flows', '240000', '--files', '12', '--span', '20m', '--subnets', '300']);
  assert.equal(g.code, 0, g.stderr);
  truth = JSON.parse(readFileSync(join(dir, 'in', 'truth.json'), 'utf8')) as typeof truth;
});

after(() => rmSync(dir, { recursive: true, force: true }));

const runArgs = (db: string): string[] => [
  'run',
  ...Array.from({ length: 12 }, (_, i) => join(dir, 'in', `flows-${String(i + 1).padStart(4, '0')}.log`)),
  '--snapshot', join(dir, 'in', 'snapshot.csv'),
  '--events', join(dir, 'in', 'events.ndjson'),
  '--db', db,
  '--flush-interval', '0.1s',
  '--workers', '1',
  '--quiet',
];

test('kills inside flushes and at random moments, then restarts: the store equals the truth', async () => {
  let stores = 0;
  let db = join(dir, `crash-${stores}.duckdb`);
  // Targeted kills, each run resuming from what the previous ones committed. How many flushes a run
  // makes depends on this machine's speed, so a run may finish its input before it reaches a point:
  // then that store must hold exactly the truth, and the point is tried again on a fresh store (where
  // a full run makes at least two writes: a timed flush and the final one).
  const points = ['mid-append:1', 'before-commit:1', 'after-commit:1', 'mid-append:2', 'before-commit:2', 'after-commit:2'];
  const reached: string[] = [];
  for (const point of points) {
    for (let attempt = 0; attempt < 2 && !reached.includes(point); attempt++) {
      const r = await dredge(runArgs(db), { DREDGE_CRASH_POINT: point });
      const t = await totals(db);
      assert.ok(t.flows <= truth.flows, `${point}: ${t.flows} flows stored > ${truth.flows} generated (counted twice)`);
      if (r.signal === 'SIGKILL') {
        reached.push(point);
        continue;
      }
      assert.equal(r.code, 0, `${point}: ${r.stderr}`);
      assert.deepStrictEqual({ flows: t.flows, packets: t.packets, bytes: t.bytes }, { flows: truth.flows, packets: truth.packets, bytes: truth.bytes }, `${point}: a run that ended normally left the store short of the truth`);
      db = join(dir, `crash-${++stores}.duckdb`);
    }
  }
  assert.deepStrictEqual(reached, points, `crash points reached: ${reached.join(', ')}`);
  // Outside kills at random moments.
  let rnd = 12345;
  for (let i = 0; i < 4; i++) {
    rnd = (rnd * 1103515245 + 12345) % 2 ** 31;
    await dredge(runArgs(db), {}, 300 + (rnd % 900));
  }
  const last = await dredge(runArgs(db));
  assert.equal(last.code, 0, last.stderr);
  const t = await totals(db);
  assert.deepStrictEqual({ flows: t.flows, packets: t.packets, bytes: t.bytes }, { flows: truth.flows, packets: truth.packets, bytes: truth.bytes });
  // A run after completion finds nothing new and adds nothing.
  const again = await dredge(runArgs(db));
  assert.equal(again.code, 0, again.stderr);
  const t2 = await totals(db);
  assert.deepStrictEqual({ flows: t2.flows, packets: t2.packets, bytes: t2.bytes }, { flows: truth.flows, packets: truth.packets, bytes: truth.bytes });
});
