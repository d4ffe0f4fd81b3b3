// `dredge query` while `dredge run` holds the store (DESIGN.md §9): DuckDB lets no other process open
// the file, so the running dredge answers over its 127.0.0.1 listener (found through <db>.query.json).
// A live stream on stdin, paused mid-way: the lines read so far are flushed and queryable within
// seconds; the answers equal the file's after the run; writes are refused; no token, no answer; the
// sidecar file is gone when the run ends.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

// The daemon logs plain lines here (on a pipe its default is JSON; test/cli/run.test.ts checks that form).
process.env.DREDGE_OPS_LOG_FORMAT = 'pretty';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'dredge-qlive-'));
  const g = spawnSync(process.execPath, [BIN, 'generate', '--out', join(dir, 'in'), '--flows', '20000', '--span', '10m', '--subnets', '300'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function query(db: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, 'query', ...args, '--db', db], { encoding: 'utf8' });
}

function flowsIn(db: string): number {
  const r = query(db, ['sql', 'SELECT coalesce(sum(flows), 0) AS f FROM rollups', '--json']);
  assert.equal(r.status, 0, r.stderr);
  return Number((JSON.parse(r.stdout) as { f: number | string }[])[0]?.f);
}

test('a running dredge answers queries about its store; writes refused; sidecar removed at exit', async () => {
  const lines = readFileSync(join(dir, 'in', 'flows-0001.log'), 'utf8').split('\n').filter((l) => l !== '');
  const half = lines.slice(0, 10_000);
  const okFlows = (ls: string[]): number => ls.filter((l) => l.endsWith(' OK')).length;
  const db = join(dir, 'live.duckdb');
  const run = spawn(process.execPath, [BIN, 'run', '--input', '-', '--snapshot', join(dir, 'in', 'snapshot.csv'), '--events', join(dir, 'in', 'events.ndjson'), '--db', db, '--flush-interval', '0.3s', '--quiet'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  run.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => run.on('close', (code) => resolve(code)));
  try {
    run.stdin.write(half.join('\n') + '\n');
    // The first half, read from a pipe that stays open, becomes queryable through the listener.
    const t0 = performance.now();
    let seen = 0;
    while (performance.now() - t0 < 20_000) {
      if (existsSync(`${db}.query.json`)) {
        seen = flowsIn(db);
        if (seen === okFlows(half)) break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(seen, okFlows(half), `flows queryable while the run holds the store; stderr: ${stderr}`);
    assert.equal(statSync(`${db}.query.json`).mode & 0o777, 0o600);
    const top = query(db, ['top-talkers', '--limit', '3', '--json']);
    assert.equal(top.status, 0, top.stderr);
    assert.equal((JSON.parse(top.stdout) as unknown[]).length, 3);
    // rollups is a view (DuckDB refuses a DELETE on it anyway); the stored rows are in rollup_facts.
    const del = query(db, ['sql', 'DELETE FROM rollup_facts']);
    assert.equal(del.status, 1);
    assert.match(del.stderr, /read-only statements only/);
    const delView = query(db, ['sql', 'DELETE FROM rollups']);
    assert.equal(delView.status, 1);
    const { url } = JSON.parse(readFileSync(`${db}.query.json`, 'utf8')) as { url: string };
    const noToken = await fetch(`${url}/v1/query`, { method: 'POST', body: JSON.stringify({ op: 'sql', sql: 'SELECT 1' }) });
    assert.equal(noToken.status, 401);
    assert.equal(flowsIn(db), okFlows(half), 'the refused DELETE changed nothing');
    run.stdin.end(lines.slice(10_000).join('\n') + '\n');
    assert.equal(await exited, 0, stderr);
  } finally {
    run.kill('SIGKILL');
  }
  assert.equal(existsSync(`${db}.query.json`), false);
  // After the run: the file itself, all flows.
  assert.equal(flowsIn(db), okFlows(lines));
});
