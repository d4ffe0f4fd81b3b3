// Decoder throughput per core (one thread), beside a raw byte scan of the same bytes in the same run.
//
// Inputs (seeded generator, random addresses and times, ~1% NODATA, realistic port/byte mix):
//   v2   the default 14-field format, plain text, ~1M lines (~100 MB; --quick: 200k)
//   v5   a 20-field v5 custom format, plain text
//   cw   gzip CloudWatch Logs subscription envelopes, 500 events each, one per Kinesis record, decoded
//        record by record by one reused decoder (inflate + envelope + decode)
// Figures: lines/s and MB/s (MB of the text or of the gzip bytes as delivered), median of several
// full passes over an input far larger than the caches (never one cached batch).
// Guard: v2 decode (default scanner) ≥ 0.5 × the newline-count loop over the same bytes, the issue's
// own target. Measured margins (BENCHMARKS.md): WASM ~1.9×, JS compiled 0.64–0.85× on a loaded machine.

import { Bench } from 'tinybench';
import { FlowDecoder } from '../../src/parse/decoder.js';
import { decodeWhole } from '../../src/parse/inflate.js';
import { FlowFormat } from '../../src/parse/fields.js';
import { TrafficGenerator, V5_CUSTOM_20, cloudWatchEnvelopes } from '../../src/sources/generator/traffic.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveScanner } from '../../src/parse/wasm/load.js';
import { cRefUnavailable, runCRef, writeCidrCsv } from '../perf/c-ref.js';
import type { BenchOptions, ScenarioResult } from '../run.js';
import { countNewlines, decodeAll } from './common.js';

const GUARD_RATIO = 0.5;


export async function run(opts: BenchOptions): Promise<ScenarioResult> {
  const lines = opts.quick ? 200_000 : 1_000_000;
  const v2 = new TrafficGenerator(FlowFormat.V2_DEFAULT, { seed: 7 }).lines(lines);
  const v5fmt = FlowFormat.parse(V5_CUSTOM_20);
  const v5 = new TrafficGenerator(v5fmt, { seed: 8 }).lines(lines / 2);
  const cwLines = new TrafficGenerator(FlowFormat.V2_DEFAULT, { seed: 9 }).lines(lines / 4).toString('latin1').trimEnd().split('\n');
  // One gzip envelope per Kinesis record, decoded record by record by one reused decoder (the worker's way).
  const cwRecords = cloudWatchEnvelopes(cwLines, 500);
  const cwBytes = cwRecords.reduce((a, r) => a + r.length, 0);
  let cwRows = 0;
  const cwDecoder = new FlowDecoder({
    fields: FlowFormat.V2_DEFAULT,
    onBatch: (batch) => {
      cwRows += batch.length;
    },
    onIssue: () => {},
  });
  const decodeCloudWatch = (): number => {
    cwRows = 0;
    for (const rec of cwRecords) decodeWhole(cwDecoder, rec);
    return cwRows;
  };

  // Sanity: every line decodes (a decoder that skips work must not look fast).
  const expect = (got: number, want: number, what: string) => {
    if (got !== want) throw new Error(`bench ${what}: decoded ${got} records, expected ${want}`);
  };
  expect(decodeAll(v2), lines, 'v2');
  expect(decodeAll(v5, v5fmt), lines / 2, 'v5');
  expect(decodeCloudWatch(), cwLines.length, 'cloudwatch');

  // Generating the inputs leaves hundreds of MB of garbage strings; collect it now so no task pays for
  // it. (This did not explain why the newline loop runs slower here than alone: see BENCHMARKS.md.)
  (globalThis as { gc?: () => void }).gc?.();
  const bench = new Bench({ time: opts.quick ? 1500 : 4000, warmupTime: 300, iterations: 5 });
  bench
    .add('newline scan v2', () => {
      countNewlines(v2);
    })
    .add('decode v2', () => {
      decodeAll(v2);
    })
    .add('newline scan v5', () => {
      countNewlines(v5);
    })
    .add('decode v5 (20 fields)', () => {
      decodeAll(v5, v5fmt);
    })
    .add('decode cloudwatch gzip', () => {
      decodeCloudWatch();
    });
  await bench.run();

  const shape: Record<string, { lines: number; bytes: number }> = {
    'newline scan v2': { lines, bytes: v2.length },
    'decode v2': { lines, bytes: v2.length },
    'newline scan v5': { lines: lines / 2, bytes: v5.length },
    'decode v5 (20 fields)': { lines: lines / 2, bytes: v5.length },
    'decode cloudwatch gzip': { lines: cwLines.length, bytes: cwBytes },
  };
  const rate: Record<string, number> = {};
  const rows: Record<string, string | number>[] = [];
  for (const task of bench.tasks) {
    const r = task.result;
    if (r.state !== 'completed') throw new Error(`bench task ${task.name} ${r.state}`);
    const s = shape[task.name] as { lines: number; bytes: number };
    const secs = r.latency.p50 / 1000;
    rate[task.name] = s.lines / secs;
    rows.push({
      task: task.name,
      'lines/s (M)': +(s.lines / secs / 1e6).toFixed(2),
      'MB/s': Math.round(s.bytes / secs / 1e6),
      'ns/line': Math.round((secs * 1e9) / s.lines),
      'input MB': +(s.bytes / 1e6).toFixed(1),
      'p50 ms': +r.latency.p50.toFixed(1),
      runs: r.latency.samplesCount ?? 0,
    });
  }
  // Same-run yardstick in C: parse + longest-prefix match of both addresses (REF_MODE=noagg), on the
  // same v2 bytes. More work than decoding alone, so dredge's ratio to it understates the decoder.
  const dir = mkdtempSync(join(tmpdir(), 'dredge-bench-parse-'));
  let cNote: string;
  try {
    writeFileSync(join(dir, 'flows.log'), v2);
    writeCidrCsv(join(dir, 'cidr.csv'));
    const c = runCRef(join(dir, 'flows.log'), join(dir, 'cidr.csv'), 1, 'noagg');
    if (c === null) {
      cNote = `C reference not run: ${cRefUnavailable()}`;
    } else {
      rows.push({ task: 'C ref: parse + LPM v2 (noagg)', 'lines/s (M)': +(c.flowsPerS / 1e6).toFixed(2), 'MB/s': Math.round((c.flowsPerS * v2.length) / lines / 1e6), 'ns/line': Math.round(1e9 / c.flowsPerS), 'input MB': +(v2.length / 1e6).toFixed(1), 'p50 ms': +((lines / c.flowsPerS) * 1e3).toFixed(1), runs: 5 });
      cNote = `decode v2 = ${((rate['decode v2'] as number) / c.flowsPerS).toFixed(2)} × the C reference's parse + LPM of the same bytes (same run)`;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ratio = (rate['decode v2'] as number) / (rate['newline scan v2'] as number);
  const ratio5 = (rate['decode v5 (20 fields)'] as number) / (rate['newline scan v5'] as number);
  return {
    scenario: 'parse: decode throughput, one core',
    rows,
    notes: [
      `scanner: ${resolveScanner()} (the default; DREDGE_WASM=0 measures the JS scanner)`,
      `workload: seeded generator, v2 ${lines} lines (${(v2.length / lines).toFixed(0)} B/line), v5 20-field ${lines / 2} lines, ` +
        `cloudwatch ${cwLines.length} events in ${Math.ceil(cwLines.length / 500)} gzip envelopes (${(cwBytes / cwLines.length).toFixed(1)} B/event gzipped, one envelope per Kinesis record)`,
      `decode v2 / newline scan = ${ratio.toFixed(2)} (issue target ≥ 0.50); v5 ratio ${ratio5.toFixed(2)}`,
      `targets: v2 ≥ 8M lines/s on one core → ${((rate['decode v2'] as number) / 1e6).toFixed(2)}M measured`,
      cNote,
    ],
    guards: [
      {
        name: `decode v2 ≥ ${GUARD_RATIO} × newline scan (same bytes, same run)`,
        ok: ratio >= GUARD_RATIO,
        detail: `ratio ${ratio.toFixed(2)}`,
      },
    ],
  };
}
