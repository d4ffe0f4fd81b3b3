// `dredge run --follow`: after its inputs, new files renamed into an input folder are read as they
// appear (queryable through the running dredge's listener), a changed inventory is reloaded without a
// restart (later flows get the new owners), and SIGTERM drains, flushes and exits 0; a later run over
// the folder finds nothing new. Totals equal the generator's truth.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

// The daemon logs plain lines here (on a pipe its default is JSON; test/cli/run.test.ts checks that form).
process.env.DREDGE_OPS_LOG_FORMAT = 'pretty';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
let dir = '';
let truth: { flows: number; packets: number; bytes: number };

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'dredge-follow-'));
  const g = spawnSync(process.execPath, [BIN, 'generate', '--out', join(dir, 'gen'), '--flows', '20000', '--files', '2', '--span', '10m', '--subnets', '300'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  truth = JSON.parse(readFileSync(join(dir, 'gen', 'truth.json'), 'utf8')) as typeof truth;
});
after(() => rmSync(dir, { recursive: true, force: true }));

function sums(db: string): { flows: number; packets: number; bytes: number } | null {
  const r = spawnSync(process.execPath, [BIN, 'query', 'sql', 'SELECT coalesce(sum(flows),0) AS flows, coalesce(sum(packets),0) AS packets, coalesce(sum(bytes),0) AS bytes FROM rollups', '--json', '--db', db], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const row = (JSON.parse(r.stdout) as Record<string, number | string>[])[0] as Record<string, number | string>;
  return { flows: Number(row.flows), packets: Number(row.packets), bytes: Number(row.bytes) };
}

async function until<T>(f: () => T | null, ok: (x: T) => boolean, ms: number, what: string): Promise<T> {
  const t0 = performance.now();
  let last: T | null = null;
  while (performance.now() - t0 < ms) {
    last = f();
    if (last !== null && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`${what}: last ${JSON.stringify(last)}`);
}

test('--follow reads files renamed into the folder while it runs, reloads a changed inventory; SIGTERM ends it cleanly', async () => {
  const watch = join(dir, 'watch');
  mkdirSync(watch);
  copyFileSync(join(dir, 'gen', 'flows-0001.log'), join(watch, 'flows-0001.log'));
  const db = join(dir, 'follow.duckdb');
  const snapshot = join(dir, 'snapshot.csv');
  copyFileSync(join(dir, 'gen', 'snapshot.csv'), snapshot);
  const args = ['run', '--input', watch, '--snapshot', snapshot, '--events', join(dir, 'gen', 'events.ndjson'), '--db', db, '--flush-interval', '0.3s', '--quiet'];
  const child = spawn(process.execPath, [BIN, ...args.filter((a) => a !== '--quiet'), '--follow'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  try {
    const first = await until(() => sums(db), (s) => s.flows > 0, 30_000, 'the first file queryable while following');
    assert.ok(first.flows < truth.flows);
    // A long run serves metrics and health (127.0.0.1:9464, or a free port when another run holds it).
    // Waited for, not read at once: `sums` blocks this process in spawnSync, so the line may have been
    // written while the stderr pipe went unread (CI once saw only the first line here).
    const opsUrl = await until(() => /metrics and health at (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1] ?? null, () => true, 10_000, 'the ops listener logged');
    const metrics = await (await fetch(`${opsUrl}/metrics`)).text();
    const flowsTotal = Number(/^dredge_flows_total (\d+)/m.exec(metrics)?.[1]);
    assert.ok(flowsTotal >= first.flows, `dredge_flows_total ${flowsTotal}`);
    assert.match(metrics, /^dredge_flushes_total \d+/m);
    assert.equal((await fetch(`${opsUrl}/healthz`)).status, 200);
    const ready = await fetch(`${opsUrl}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    // The inventory changes while the run goes on: every app renamed. The run reloads it by itself.
    const csv = readFileSync(join(dir, 'gen', 'snapshot.csv'), 'utf8').split('\n');
    const appCol = (csv[0] as string).split(',').indexOf('app');
    const renamed = csv.map((l, i) => (i === 0 || l === '' ? l : l.split(',').map((f, j) => (j === appCol ? `${f}-v2` : f)).join(',')));
    writeFileSync(join(dir, 'snapshot.tmp'), renamed.join('\n'));
    renameSync(join(dir, 'snapshot.tmp'), snapshot);
    await until(() => (/index reloaded/.test(stderr) ? stderr : null), () => true, 20_000, 'the changed inventory reloaded');
    // A new file arrives the way S3 sync delivers one: written elsewhere, renamed in.
    copyFileSync(join(dir, 'gen', 'flows-0002.log'), join(dir, 'incoming.tmp'));
    renameSync(join(dir, 'incoming.tmp'), join(watch, 'flows-0002.log'));
    await until(() => sums(db), (s) => s.flows === truth.flows, 30_000, 'the second file read while following');
    child.kill('SIGHUP');
    await until(() => (/SIGHUP: index reloaded/.test(stderr) ? stderr : null), () => true, 20_000, 'SIGHUP reloads the index');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  } finally {
    child.kill('SIGKILL');
  }
  assert.deepStrictEqual(sums(db), { flows: truth.flows, packets: truth.packets, bytes: truth.bytes });
  // Flows of the second file were enriched with the reloaded inventory, the first file's with the old one.
  const v2 = spawnSync(process.execPath, [BIN, 'query', 'sql', "SELECT coalesce(sum(flows),0) AS f FROM rollups WHERE src_app LIKE '%-v2'", '--json', '--db', db], { encoding: 'utf8' });
  const renamedFlows = Number((JSON.parse(v2.stdout) as { f: number }[])[0]?.f);
  assert.ok(renamedFlows > 0 && renamedFlows < truth.flows, `${renamedFlows} flows with reloaded app names`);
  const again = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /dredge run: 0 flows/);
});

test('a second signal exits at once (130); what was checkpointed stands and the next run completes exactly', async () => {
  const watch = join(dir, 'watch2');
  mkdirSync(watch);
  copyFileSync(join(dir, 'gen', 'flows-0001.log'), join(watch, 'flows-0001.log'));
  copyFileSync(join(dir, 'gen', 'flows-0002.log'), join(watch, 'flows-0002.log'));
  const db = join(dir, 'twice.duckdb');
  const args = ['run', '--input', watch, '--snapshot', join(dir, 'gen', 'snapshot.csv'), '--events', join(dir, 'gen', 'events.ndjson'), '--db', db, '--flush-interval', '0.3s', '--quiet'];
  // The drain after the first signal is held 30 s (a stuck sink), so the second signal lands inside it.
  const child = spawn(process.execPath, [BIN, ...args, '--follow'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DREDGE_TEST_STALL_DRAIN_MS: '30000' } });
  let stderr = '';
  let second = false;
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
    // The second signal goes as soon as the first one is acknowledged (two at once may arrive as one).
    if (!second && /SIGTERM: finishing/.test(stderr)) {
      second = true;
      child.kill('SIGTERM');
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  try {
    await until(() => sums(db), (s) => s.flows > 0, 30_000, 'some flows flushed');
    child.kill('SIGTERM');
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /again, exiting without a final flush/);
  } finally {
    child.kill('SIGKILL');
  }
  const again = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.deepStrictEqual(sums(db), { flows: truth.flows, packets: truth.packets, bytes: truth.bytes });
});
