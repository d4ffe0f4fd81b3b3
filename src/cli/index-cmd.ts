// `dredge index build …` and `dredge index inspect …`: build an index generation from metadata files
// and write it as a file (the SharedArrayBuffer's bytes, verbatim), or open one and explain how an
// address resolves at a time. File reading lives here; src/index/ only sees text and bytes.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { DredgeError } from '../errors.js';
import { IndexBuilder } from '../index/builder.js';
import { explain, openIndexBytes, summary } from '../index/explain.js';
import { parseEvents } from '../index/load/events.js';
import { parseIpRanges } from '../index/load/ip-ranges.js';
import { parseSnapshot } from '../index/load/snapshot.js';
import { formatTime, parseDuration, parseTime } from '../index/load/time.js';
import { CliUsageError, parseCli } from './args.js';

const HELP = `usage: dredge index build --snapshot FILE [--events FILE] [--ip-ranges FILE] [--horizon 2h] -o index.bin
       dredge index inspect index.bin [--ip ADDRESS [--at TIME]] [--json]

build    reads metadata and writes one frozen index generation
  --snapshot FILE    inventory, CSV with a header row or NDJSON (repeatable); column cidr required,
                     app cluster account region az vpc subnet owner interface_id instance_id
                     valid_from valid_to optional, other columns kept as extra metadata
  --events FILE      change events, NDJSON {"time","type":"assign"|"release","cidr",…} (repeatable)
  --ip-ranges FILE   AWS ip-ranges.json: AWS public space resolves to aws:<service>:<region>
  --horizon DUR      drop history that ended more than DUR (e.g. 2h, 90m) before the newest event;
                     default: keep everything
  -o, --out FILE     where to write the index (required)
  --json             print the build summary as JSON

inspect  prints what an index holds; with --ip, how that address resolves at --at (ISO-8601 or epoch
         seconds; default: the newest evidence time in the index) and why: each covering prefix,
         its intervals, and the evidence (file:line) behind them`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(HELP + '\n');
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'build') return build(rest);
  if (sub === 'inspect') return inspect(rest);
  throw new CliUsageError(`unknown subcommand "${sub}"; use build or inspect\n\n${HELP}`);
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new DredgeError('DREDGE_ERR_INPUT', `cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

async function build(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, {
    snapshot: { type: 'string', multiple: true },
    events: { type: 'string', multiple: true },
    'ip-ranges': { type: 'string' },
    horizon: { type: 'string' },
    out: { type: 'string', short: 'o' },
    json: { type: 'boolean' },
  }, HELP);
  if (values.help === true) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"\n\n${HELP}`);
  if (values.out === undefined) throw new CliUsageError(`-o/--out FILE is required\n\n${HELP}`);
  const snapshots = values.snapshot ?? [];
  const events = values.events ?? [];
  if (snapshots.length === 0 && events.length === 0 && values['ip-ranges'] === undefined) throw new CliUsageError(`give at least one of --snapshot, --events, --ip-ranges\n\n${HELP}`);
  let horizon: number | null = null;
  if (values.horizon !== undefined) {
    horizon = parseDuration(values.horizon);
    if (horizon === null) throw new CliUsageError(`--horizon takes a duration such as 2h, 90m or 3600s, got "${values.horizon}"`);
  }
  const b = new IndexBuilder({ horizonSeconds: horizon });
  for (const f of snapshots) for (const r of parseSnapshot(readText(f, 'snapshot'), f)) b.addSnapshotRow(r);
  for (const f of events) for (const e of parseEvents(readText(f, 'events'), f)) b.addEvent(e);
  if (values['ip-ranges'] !== undefined) {
    const f = values['ip-ranges'];
    for (const r of parseIpRanges(readText(f, 'ip-ranges'), f).prefixes) b.addAwsPrefix(r);
  }
  const { view, stats } = b.freeze();
  const tmp = `${values.out}.tmp-${process.pid}`;
  writeFileSync(tmp, view.fileBytes());
  renameSync(tmp, values.out);
  if (values.json === true) process.stdout.write(JSON.stringify({ out: values.out, counters: b.counters, ...stats, cutoff: formatTime(stats.cutoff), knownUntil: formatTime(stats.knownUntil), newestTime: formatTime(stats.newestTime) }) + '\n');
  else {
    const c = b.counters;
    process.stdout.write(
      `${values.out}: ${stats.bytes} bytes, generation ${stats.generation}\n` +
        `  inputs: ${c.snapshotRows} snapshot rows, ${c.events} events, ${c.awsPrefixes} ip-ranges prefixes\n` +
        `  prefixes: ${stats.v4Prefixes} IPv4, ${stats.v6Prefixes} IPv6; intervals: ${stats.intervals} (${stats.conflictIntervals} conflicting); metadata records: ${stats.metaRecords}\n` +
        `  retention: ${horizon === null ? 'keep everything' : `cutoff ${formatTime(stats.cutoff)}, pruned ${stats.pruned.events} events, ${stats.pruned.prefixes} prefixes`}\n` +
        `  froze in ${stats.freezeMs.toFixed(0)} ms\n`,
    );
  }
  return 0;
}

async function inspect(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, { ip: { type: 'string' }, at: { type: 'string' }, json: { type: 'boolean' } }, HELP);
  if (values.help === true) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new CliUsageError(`expected one index file\n\n${HELP}`);
  const path = positionals[0] as string;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new DredgeError('DREDGE_ERR_INPUT', `cannot read index ${path}: ${(e as Error).message}`);
  }
  const view = openIndexBytes(bytes);
  if (values.ip === undefined) {
    if (values.at !== undefined) throw new CliUsageError('--at needs --ip');
    const s = summary(view);
    process.stdout.write(values.json === true ? JSON.stringify(s) + '\n' : renderSummary(path, s));
    return 0;
  }
  let t = view.newestTime;
  if (values.at !== undefined) {
    const p = parseTime(values.at);
    if (typeof p !== 'number') throw new CliUsageError(`--at: ${p.error}`);
    t = p;
  } else if (!Number.isFinite(t)) t = Date.now() / 1000;
  const x = explain(view, values.ip, t);
  if ('error' in x) throw new CliUsageError(`--ip: ${x.error}`);
  if (values.json === true) {
    process.stdout.write(JSON.stringify(x) + '\n');
    return 0;
  }
  const lines: string[] = [];
  const r = x.result;
  lines.push(`${x.address} at ${x.at}: ${r.record !== null ? (r.record.app ?? JSON.stringify(r.record)) : `unattributed (${r.reason})`}`);
  if (r.record !== null) lines.push(`  record: ${JSON.stringify(r.record)}`);
  lines.push(`  ${x.note}`);
  for (const c of x.chain) {
    lines.push(`  prefix ${c.prefix} (${c.intervalCount} interval${c.intervalCount === 1 ? '' : 's'})`);
    for (const i of c.intervals) {
      const who = i.result === 'conflict' ? 'CONFLICT' : (i.result.app ?? JSON.stringify(i.result));
      lines.push(`    ${i.contains ? '▶' : ' '} [${i.from}, ${i.to}) ${who}  from ${i.sources.join('+')}${i.origin === null ? '' : ` (${i.origin})`}`);
    }
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

function renderSummary(path: string, s: Record<string, unknown>): string {
  const p = s.prefixes as { ipv4: number; ipv6: number };
  return (
    `${path}: generation ${s.generation}, ${s.bytes} bytes\n` +
    `  prefixes: ${p.ipv4} IPv4, ${p.ipv6} IPv6; intervals: ${s.intervals}; metadata records: ${s.metadataRecords}\n` +
    `  newest evidence ${s.newestEvidence}; retention cutoff ${s.retentionCutoff}; events complete until ${s.eventsCompleteUntil}\n` +
    `  built ${s.builtAt}\n` +
    `  section bytes: ${Object.entries(s.sectionBytes as Record<string, number>).map(([k, v]) => `${k}=${v}`).join(' ')}\n`
  );
}
