import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fixturePath } from './helpers.js';

const bin = new URL('../../../bin/dredge.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'dredge-index-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function dredge(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('dredge index', () => {
  const out = join(dir, 'index.bin');
  it('build writes an index from snapshot, events and ip-ranges', () => {
    const r = dredge('index', 'build', '--snapshot', fixturePath('snapshot.csv'), '--snapshot', fixturePath('snapshot.ndjson'), '--events', fixturePath('events.ndjson'), '--ip-ranges', fixturePath('ip-ranges.json'), '-o', out, '--json');
    assert.equal(r.code, 0, r.err);
    const s = JSON.parse(r.out) as { intervals: number; conflictIntervals: number; counters: { events: number } };
    assert.equal(s.counters.events, 7);
    assert.equal(s.conflictIntervals, 1);
  });

  it('inspect --ip --at explains the interval and the evidence behind it', () => {
    const r = dredge('index', 'inspect', out, '--ip', '10.1.2.3', '--at', '2026-11-20T12:07:00Z');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^10\.1\.2\.3 at 2026-11-20T12:07:00Z: ledger/);
    assert.match(r.out, /▶ \[2026-11-20T12:06:00Z, 2026-11-20T12:20:00Z\) ledger {2}from event \(.*events\.ndjson:2\)/);
    assert.match(r.out, /prefix 10\.1\.2\.0\/24/);
    const j = JSON.parse(dredge('index', 'inspect', out, '--ip', '10.1.2.9', '--at', '2026-11-20T12:11:00Z', '--json').out) as { result: { reason: string } };
    assert.equal(j.result.reason, 'conflict');
    assert.match(dredge('index', 'inspect', out).out, /prefixes: \d+ IPv4, \d+ IPv6; intervals: \d+/);
  });

  it('reports bad input with file, line and field, and bad usage with exit 2', () => {
    const r = dredge('index', 'build', '--events', fixturePath('snapshot.csv'), '-o', join(dir, 'x.bin'));
    assert.equal(r.code, 1);
    assert.match(r.err, /snapshot\.csv:1: not valid JSON/);
    assert.equal(dredge('index', 'build', '--snapshot', fixturePath('snapshot.csv')).code, 2);
    assert.equal(dredge('index', 'inspect', out, '--ip', '10.1.2.3', '--at', 'noon').code, 2);
    const bad = dredge('index', 'inspect', fixturePath('snapshot.csv'));
    assert.equal(bad.code, 1);
    assert.match(bad.err, /not a dredge index|shorter than its header/);
  });
});
