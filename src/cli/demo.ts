// `dredge demo` (what `npm start` runs): decodes the bundled sample files (plain v2 text with a bad
// line, a gzip S3 object with a custom v5 header, gzip CloudWatch envelopes) through the same decoder
// the engine uses and summarizes each from the FlowBatch columns, runs the engine on them, then the
// live product (demo-live.ts): kinesalite, a generator and the daemon, with a live summary.

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlowDecoder } from '../parse/decoder.js';
import { ACTION_ACCEPT, ACTION_REJECT } from '../parse/fields.js';
import type { FlowBatch } from '../parse/flow-batch.js';
import { decodeStream, openInput } from '../sources/files/decode-stream.js';
import { CliUsageError, parseCli } from './args.js';
import { liveDemo } from './demo-live.js';

const HELP = `usage: dredge demo [--seconds N] [--rate FLOWS/S] [DIR]

What \`npm start\` runs: decodes every sample flow-log file in DIR (default: the bundled samples/) and
summarizes it, runs the engine on the samples, then the whole product live for --seconds (default 60):
an in-process Kinesis (kinesalite), a generator writing --rate (default 20000) flows/s into it, and the
daemon enriching them into ./dredge-demo.duckdb, with a live summary. Ctrl-C ends the live part early.`;

interface Summary {
  records: number;
  accepted: number;
  rejected: number;
  noFlow: number;
  bytes: number;
  packets: number;
  minStart: number;
  maxStart: number;
  bytesByPort: Map<number, number>;
}

function summarize(batch: FlowBatch, s: Summary): void {
  const fmt = batch.format;
  const has = (n: string) => fmt.indexOf(n) >= 0;
  const action = has('action') ? batch.u8Column('action') : null;
  const bytes = has('bytes') ? batch.intColumn('bytes') : null;
  const packets = has('packets') ? batch.intColumn('packets') : null;
  const start = has('start') ? batch.intColumn('start') : null;
  const dport = has('dstport') ? batch.portColumn('dstport') : null;
  const statusIdx = fmt.indexOf('log-status');
  const status = statusIdx >= 0 ? batch.u8Column('log-status') : null;
  for (let r = 0; r < batch.length; r++) {
    s.records++;
    if (status !== null && status[r] !== 1 && !batch.isNull(r, statusIdx)) {
      s.noFlow++;
      continue;
    }
    if (action !== null) {
      if (action[r] === ACTION_ACCEPT) s.accepted++;
      else if (action[r] === ACTION_REJECT) s.rejected++;
    }
    const b = bytes === null ? 0 : (bytes[r] as number);
    s.bytes += b;
    s.packets += packets === null ? 0 : (packets[r] as number);
    if (start !== null) {
      const t = start[r] as number;
      if (t > 0 && t < s.minStart) s.minStart = t;
      if (t > s.maxStart) s.maxStart = t;
    }
    if (dport !== null) {
      const p = dport[r] as number;
      s.bytesByPort.set(p, (s.bytesByPort.get(p) ?? 0) + b);
    }
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, { seconds: { type: 'string' }, rate: { type: 'string' } }, HELP);
  if (values.help === true) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const dir = positionals[0] ?? fileURLToPath(new URL('../../../samples/', import.meta.url));
  const files = readdirSync(dir, { withFileTypes: true }).filter((f) => f.isFile() && !f.name.startsWith('.') && !f.name.endsWith('.md')).map((f) => f.name).sort();
  const out: string[] = [`dredge demo: decoding ${files.length} sample files from ${dir}`, ''];
  let totalRecords = 0;
  let totalSecs = 0;
  for (const file of files) {
    const s: Summary = { records: 0, accepted: 0, rejected: 0, noFlow: 0, bytes: 0, packets: 0, minStart: Infinity, maxStart: 0, bytesByPort: new Map() };
    const issues: string[] = [];
    const decoder = new FlowDecoder({ onBatch: (b) => summarize(b, s), onIssue: (i) => issues.push(`${i.unit} ${i.n}: ${i.reason}`) });
    const t0 = process.hrtime.bigint();
    const enc = await decodeStream(openInput(`${dir}/${file}`), decoder, file);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    totalSecs += secs;
    totalRecords += s.records;
    const st = decoder.stats;
    const top = [...s.bytesByPort.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
    out.push(`${file}  [${enc === 'gzip' ? 'gzip, ' : ''}${st.encoding}${st.headerLines > 0 ? ', header line' : ''}; format ${decoder.format.names.length} fields, v${decoder.format.version}]`);
    out.push(`  records ${s.records} (accepted ${s.accepted}, rejected ${s.rejected}, NODATA/SKIPDATA ${s.noFlow}), malformed ${st.malformed}`);
    out.push(`  ${s.packets} packets, ${(s.bytes / 1e6).toFixed(1)} MB; start ${iso(s.minStart)} .. ${iso(s.maxStart)}`);
    out.push(`  top dst ports by bytes: ${top.map(([p, b]) => `${p} (${(b / 1e6).toFixed(1)} MB)`).join(', ')}`);
    for (const i of issues.slice(0, 3)) out.push(`  malformed ${i}`);
    out.push('');
  }
  out.push(`${totalRecords} records decoded in ${totalSecs.toFixed(2)} s.`, '');
  process.stdout.write(out.join('\n') + '\n');
  if (positionals[0] !== undefined) return 0;
  await engine(dir);
  const seconds = Number(values.seconds ?? 60);
  const rate = Number(values.rate ?? 20_000);
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 86_400) throw new CliUsageError(`--seconds takes a number of seconds from 1 to 86400, got "${values.seconds}"`);
  if (!Number.isInteger(rate) || rate < 100 || rate > 1_000_000) throw new CliUsageError(`--rate takes flows per second from 100 to 1000000, got "${values.rate}"`);
  return liveDemo({ seconds, rate, tty: process.stdout.isTTY === true });
}

/**
 * The main job on the same samples: `dredge run` with the bundled inventory (samples/inventory/) into
 * a DuckDB store in a temporary folder (the default sink), then two `dredge query` reports on it. The
 * samples spread their records over an hour in random order, so the run allows an hour of lateness.
 */
async function engine(dir: string): Promise<void> {
  const { run } = await import('./run.js');
  const { DuckDBStore } = await import('../query/store.js');
  const { runReport } = await import('../query/reports.js');
  const { formatTable } = await import('../query/format.js');
  const out = mkdtempSync(join(tmpdir(), 'dredge-demo-'));
  const db = join(out, 'demo.duckdb');
  try {
    const inv = join(dir, 'inventory');
    const inputs = readdirSync(dir, { withFileTypes: true }).filter((f) => f.isFile() && !f.name.startsWith('.') && !f.name.endsWith('.md')).map((f) => join(dir, f.name)).sort();
    process.stdout.write(`dredge run on the samples (inventory: ${inv}):\n`);
    await run(['--snapshot', join(inv, 'snapshot.csv'), '--events', join(inv, 'events.ndjson'), '--lateness', '1h', '--db', db, '--quiet', '--log-format', 'pretty', ...inputs]);
    const store = await DuckDBStore.open(db);
    try {
      process.stdout.write('\n$ dredge query top-talkers --limit 5\n' + formatTable(await runReport(store, 'top-talkers', { limit: 5 })));
      process.stdout.write('\n$ dredge query unattributed\n' + formatTable(await runReport(store, 'unattributed', {})));
    } finally {
      store.close();
    }

  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function iso(t: number): string {
  return Number.isFinite(t) && t > 0 ? new Date(t * 1000).toISOString().replace('.000Z', 'Z') : '-';
}
