// The live half of `dredge demo` (`npm start`, issue #7): the whole product on embedded defaults, no AWS
// account. This process runs a Kinesis-compatible server (kinesalite, in-process, 127.0.0.1, a free
// port); a `dredge generate --kinesis` child writes realistic traffic with IP churn into a 4-shard
// stream at a real rate; a `dredge run --kinesis` child (the daemon: worker pool, index, DuckDB store)
// consumes it into ./dredge-demo.duckdb. Every 2 s this process asks the daemon how it is doing, the
// way an operator would: its /metrics (flows/s, shard lag) and its query listener (top talkers,
// cross-AZ bytes, unattributed share). After --seconds (or Ctrl-C) the generator stops, the daemon
// catches up and is sent SIGTERM (drain, flush, checkpoint), and the next commands are printed.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpRowSource } from '../query/http-source.js';
import { DuckDBStore } from '../query/store.js';
import type { Cell, RowSource } from '../query/rows.js';

const BIN = new URL('../../../bin/dredge.js', import.meta.url).pathname;
const STREAM = 'dredge-demo';
export const DEMO_DB = 'dredge-demo.duckdb';

interface Child {
  proc: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

function child(args: string[]): Child {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const c: Child = { proc, stdout: '', stderr: '', exited: new Promise((resolve) => proc.on('close', (code) => resolve(code))) };
  proc.stdout?.on('data', (b: Buffer) => (c.stdout += b.toString()));
  proc.stderr?.on('data', (b: Buffer) => (c.stderr += b.toString()));
  return c;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, ok: () => boolean, ms: number, c: Child): Promise<void> {
  const t0 = performance.now();
  while (!ok()) {
    if (c.proc.exitCode !== null) throw new Error(`${what}: the child exited (${c.proc.exitCode}): ${c.stderr.slice(-2000)}`);
    if (performance.now() - t0 > ms) throw new Error(`${what}: not within ${ms / 1000} s: ${c.stderr.slice(-2000)}`);
    await sleep(50);
  }
}

function metric(text: string, name: string): number[] {
  const out: number[] = [];
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) out.push(Number(m[1]));
  return out;
}

const num = (c: Cell | undefined): number => (c === null || c === undefined ? 0 : Number(c));
const human = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(0)} kB`);

interface Snapshot {
  flows: number;
  flowsPerS: number;
  behindMs: number;
  shards: number;
  top: string[];
  crossAzBytes: number;
  totalBytes: number;
  unattributedShare: number;
}

async function look(ops: string, store: RowSource | null, last: { flows: number; at: number }): Promise<Snapshot> {
  const text = await (await fetch(`${ops}/metrics`)).text();
  const flows = metric(text, 'dredge_flows_total')[0] ?? 0;
  const behind = metric(text, 'dredge_kinesis_millis_behind_latest');
  const now = performance.now();
  const flowsPerS = now > last.at ? ((flows - last.flows) * 1000) / (now - last.at) : 0;
  last.flows = flows;
  last.at = now;
  const snap: Snapshot = { flows, flowsPerS, behindMs: Math.max(0, ...behind), shards: behind.length, top: [], crossAzBytes: 0, totalBytes: 0, unattributedShare: 0 };
  if (store === null) return snap;
  const top = await store.userSql(`SELECT coalesce(src_app, '(' || src_reason || ')') AS s, coalesce(dst_app, '(' || dst_reason || ')') AS d, sum(bytes) AS b FROM rollups GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 3`);
  snap.top = top.rows.map((r) => `${String(r[0])} → ${String(r[1])} ${human(num(r[2]))}`);
  const t = await store.userSql(`SELECT sum(bytes) AS total, sum(CASE WHEN src_az <> dst_az THEN bytes ELSE 0 END) AS cross_az, sum(CASE WHEN src_reason IS NOT NULL OR dst_reason IS NOT NULL THEN flows ELSE 0 END) AS un, sum(flows) AS f FROM rollups`);
  const row = t.rows[0] ?? [];
  snap.totalBytes = num(row[0]);
  snap.crossAzBytes = num(row[1]);
  snap.unattributedShare = num(row[3]) > 0 ? num(row[2]) / num(row[3]) : 0;
  return snap;
}

function render(s: Snapshot, elapsed: number, seconds: number): string[] {
  return [
    `[${elapsed.toFixed(0).padStart(3)} s / ${seconds} s] ${s.flows.toLocaleString('en-US')} flows enriched, ${Math.round(s.flowsPerS).toLocaleString('en-US')} flows/s, ${s.shards} shards, max ${s.behindMs} ms behind`,
    `  top talkers: ${s.top.length > 0 ? s.top.join(' · ') : '(first flush pending)'}`,
    `  cross-AZ bytes: ${human(s.crossAzBytes)} of ${human(s.totalBytes)} (${s.totalBytes > 0 ? ((100 * s.crossAzBytes) / s.totalBytes).toFixed(1) : '0.0'}%); unattributed flows: ${(100 * s.unattributedShare).toFixed(2)}%`,
  ];
}

/** Runs the live demo for `seconds` (or until Ctrl-C) at `rate` flows/s; returns the daemon's exit code. */
export async function liveDemo(o: { seconds: number; rate: number; tty: boolean }): Promise<number> {
  const require = createRequire(import.meta.url);
  const kinesalite = require('kinesalite') as (opts: Record<string, unknown>) => Server;
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tmp = mkdtempSync(join(tmpdir(), 'dredge-demo-live-'));
  const gen = join(tmp, 'gen');
  // The demo's own store: a fresh one each time (its checkpoints name this kinesalite's sequence numbers).
  rmSync(DEMO_DB, { force: true });
  rmSync(`${DEMO_DB}.wal`, { force: true });
  let stop = false;
  const onInt = (): void => {
    stop = true;
  };
  process.on('SIGINT', onInt);
  const out = (lines: string[]): void => void process.stdout.write(lines.join('\n') + '\n');
  let generator: Child | null = null;
  let daemon: Child | null = null;
  try {
    out([``, `Live: kinesalite (in-process Kinesis) at ${endpoint}; a generator writes ${o.rate.toLocaleString('en-US')} flows/s of realistic traffic with IP churn into ${STREAM} (4 shards);`, `the daemon (dredge run --kinesis) enriches it into ./${DEMO_DB}. ${o.seconds} s${o.tty ? ', or Ctrl-C' : ''}.`, ``]);
    generator = child(['generate', '--kinesis', STREAM, '--create-shards', '4', '--endpoint', endpoint, '--out', gen, '--rate', String(o.rate), '--duration', `${o.seconds}s`, '--envelope', 'cloudwatch', '--span', '10m']);
    const g = generator;
    await waitFor('the generator starting', () => /sending/.test(g.stderr), 60_000, g);
    daemon = child(['run', '--kinesis', STREAM, '--endpoint', endpoint, '--snapshot', join(gen, 'snapshot.csv'), '--events', join(gen, 'events.ndjson'), '--db', DEMO_DB, '--flush-interval', '2s', '--ops-listen', '127.0.0.1:0', '--log-format', 'pretty']);
    const d = daemon;
    await waitFor('the daemon starting', () => /metrics and health at http/.test(d.stderr), 60_000, d);
    const ops = (/metrics and health at (http:\/\/\S+)/.exec(d.stderr) as RegExpExecArray)[1] as string;
    const t0 = performance.now();
    const last = { flows: 0, at: t0 };
    let store: RowSource | null = null;
    let printed = 0;
    let lastLine = 0;
    let snap: Snapshot | null = null;
    let generatorDone = false;
    void g.exited.then(() => (generatorDone = true));
    // Until the generator has sent everything (or Ctrl-C), then until the daemon has caught up.
    for (;;) {
      await sleep(2000);
      const elapsed = (performance.now() - t0) / 1000;
      store ??= HttpRowSource.find(DEMO_DB);
      try {
        snap = await look(ops, store, last);
      } catch {
        continue; // the first flush is not in yet
      }
      const lines = render(snap, elapsed, o.seconds);
      if (o.tty) {
        if (printed > 0) process.stdout.write(`\x1b[${printed}A`);
        process.stdout.write(lines.map((l) => `\x1b[2K${l}`).join('\n') + '\n');
        printed = lines.length;
      } else if (elapsed - lastLine >= 10 || generatorDone) {
        out(lines);
        lastLine = elapsed;
      }
      if (stop && !generatorDone) g.proc.kill('SIGINT');
      if (generatorDone || stop) break;
    }
    const written = (() => {
      try {
        return JSON.parse(g.stdout) as { flows: number; records: number };
      } catch {
        return null;
      }
    })();
    const sent = written?.flows ?? null;
    // Let the daemon read to the tip (every record written, NODATA ones included: the daemon's record
    // count includes them), then stop it the way an operator would.
    const t1 = performance.now();
    while (written !== null && performance.now() - t1 < 30_000) {
      const text = await (await fetch(`${ops}/metrics`)).text().catch(() => '');
      const records = metric(text, 'dredge_records_total')[0] ?? 0;
      if (records >= written.records) break;
      await sleep(500);
    }
    d.proc.kill('SIGTERM');
    const code = await d.exited;
    const summary = [...d.stderr.matchAll(/^dredge run: \d+ flows.*$/gm)].pop()?.[0];
    out(['', summary ?? `the daemon exited with ${code}: ${d.stderr.slice(-1500)}`]);
    if (code === 0 && existsSync(DEMO_DB)) {
      const s = await DuckDBStore.open(DEMO_DB);
      try {
        const r = await s.userSql('SELECT sum(flows) AS flows, count(*) AS rows FROM rollups');
        out([`${num(r.rows[0]?.[0]).toLocaleString('en-US')} flows in ${num(r.rows[0]?.[1]).toLocaleString('en-US')} rollup rows in ./${DEMO_DB}${sent !== null ? `; the generator sent ${sent.toLocaleString('en-US')}` : ''}.`]);
      } finally {
        s.close();
      }
    }
    out([
      '',
      'Try next:',
      `  npx dredge query top-talkers --db ${DEMO_DB}`,
      `  npx dredge query cross-az --db ${DEMO_DB}          # bytes that cost money`,
      `  npx dredge query unattributed --db ${DEMO_DB}      # traffic with no owner, by reason`,
      `  npx dredge query sql "SELECT window_start, sum(flows) FROM rollups GROUP BY 1 ORDER BY 1" --db ${DEMO_DB}`,
      '  npx dredge capacity --rate 7M                      # how much machine for your rate',
    ]);
    return code ?? 1;
  } finally {
    process.off('SIGINT', onInt);
    generator?.proc.kill('SIGKILL');
    daemon?.proc.kill('SIGKILL');
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(tmp, { recursive: true, force: true });
  }
}
