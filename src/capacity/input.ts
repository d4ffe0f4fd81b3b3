// `dredge capacity`'s sample: the same flow-log records in both encodings the engine is measured on
// (v2 text lines, and gzip CloudWatch Logs subscription envelopes), plus the index the lookups use.
//
// From the generator: `dredge generate`'s world and seeded traffic (Zipf-skewed talkers, peer subnets,
// ~5% public peers, event-time order), generated chunk by chunk for the budget's share of preparing
// (up to 1M records). From `--input FILE`: the file's bytes, its encoding sniffed
// by content (gzip or not; text or CloudWatch envelopes), its own format (header line) kept; the
// other encoding is built from the same records (text from the envelopes' messages, envelopes of 500
// events from the lines, or of the file's own events per envelope).

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { DredgeError } from '../errors.js';
import { openIndexBytes } from '../index/explain.js';
import { IndexBuilder } from '../index/builder.js';
import { parseEvents } from '../index/load/events.js';
import { parseSnapshot } from '../index/load/snapshot.js';
import type { IndexView } from '../index/lookup.js';
import { ENVELOPE_OK, EnvelopeScan, scanEnvelope } from '../parse/envelope.js';
import { fieldId, normalizeFieldName } from '../parse/fields.js';
import { inflateBounded, sniffEncoding, unsupportedEncoding } from '../parse/inflate.js';
import { TrafficGenerator, cloudWatchEnvelopes } from '../sources/generator/traffic.js';
import { buildWorld } from '../sources/generator/world.js';

/** CloudWatch events per envelope when the input has none of its own (as `dredge generate` writes). */
export const EVENTS_PER_ENVELOPE = 500;
export const SEED = 42;
const START = 1763900000;
export const MIN_RECORDS = 10_000;
export const MAX_RECORDS = 1_000_000;

export interface Sample {
  source: string;
  /** `generated`, or the file's encoding as sniffed. */
  encoding: string;
  /** Input bytes as given. */
  bytes: number;
  /** The records as text (ordinary memory), header line kept when the input had one. */
  text: Buffer;
  /** Data lines in `text` (flow-log records; header and blank lines not counted). */
  records: number;
  /** Size of the text gzipped (node:zlib, default level). */
  textGzipBytes: number;
  /** Gzipped CloudWatch envelopes of the same records, one per Kinesis record. */
  envelopes: Buffer[];
  eventsPerEnvelope: number;
  /** A fixed format when the records are not the v2 default (from --fields or the file's header). */
  fields: string | undefined;
}

export interface SampleIndex {
  view: IndexView;
  what: string;
}

function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new DredgeError('DREDGE_ERR_INPUT', `cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

/** The generator's world as an index generation (what `dredge generate`'s snapshot.csv and events.ndjson build). */
export function generatorIndex(spanSeconds: number): SampleIndex {
  const world = buildWorld({ seed: SEED, startTime: START, spanSeconds });
  const b = new IndexBuilder({ horizonSeconds: null });
  for (const r of parseSnapshot(world.snapshotCsv, 'snapshot.csv')) b.addSnapshotRow(r);
  for (const e of parseEvents(world.eventsNdjson, 'events.ndjson')) b.addEvent(e);
  return { view: b.freeze().view, what: `the generator's inventory (${num(world.prefixes)} prefixes over ${num(world.apps)} apps, ${num(world.events)} change events)` };
}

/** --index FILE, or --snapshot/--events files. */
export function userIndex(o: { index?: string | undefined; snapshot: string[]; events: string[] }): SampleIndex {
  if (o.index !== undefined) {
    const view = openIndexBytes(readInput(o.index, 'index'));
    return { view, what: `--index ${o.index} (${num(view.prefixCount)} prefixes)` };
  }
  const b = new IndexBuilder({ horizonSeconds: null });
  for (const f of o.snapshot) for (const r of parseSnapshot(readInput(f, 'snapshot').toString('utf8'), f)) b.addSnapshotRow(r);
  for (const f of o.events) for (const e of parseEvents(readInput(f, 'events').toString('utf8'), f)) b.addEvent(e);
  const view = b.freeze().view;
  return { view, what: `${[...o.snapshot, ...o.events].join(', ')} (${num(view.prefixCount)} prefixes)` };
}

function num(x: number): string {
  return x.toLocaleString('en-US');
}

/** Seconds the generated records' start times span: a one-minute window holds up to ~2M flows (as bench e2e). */
export function generatorSpan(records: number): number {
  return Math.max(60, Math.round((records / 2_000_000) * 60));
}

/**
 * Generated records: chunks of CHUNK lines (their envelopes and gzip built as they come) until
 * `prepSeconds` have passed or MAX_RECORDS are made (at least MIN_RECORDS; `records` fixes the count).
 * Text is gzipped chunk by chunk: deflate's window is 32 KB, so ~1 MB chunks compress as the whole would.
 */
export function generatedSample(prepSeconds: number, records?: number): Sample {
  const CHUNK = 10_000;
  const target = records ?? MAX_RECORDS;
  const span = generatorSpan(target);
  const gen = new TrafficGenerator(undefined, { seed: SEED, startTime: START, spanSeconds: span, flowsPerSecond: target / span, maxDelaySeconds: Math.min(300, span) });
  const t0 = performance.now();
  const texts: Buffer[] = [];
  const envelopes: Buffer[] = [];
  let textGzipBytes = 0;
  let n = 0;
  while (n < target && (records !== undefined || n < MIN_RECORDS || performance.now() - t0 < prepSeconds * 1000)) {
    const k = Math.min(CHUNK, target - n);
    const lines: string[] = new Array<string>(k);
    for (let i = 0; i < k; i++) lines[i] = gen.line();
    const text = Buffer.from(lines.join('\n') + '\n', 'latin1');
    texts.push(text);
    textGzipBytes += gzipSync(text).length;
    // Event ids and timestamps number the records of the whole sample, as `dredge generate` does.
    for (const e of cloudWatchEnvelopes(lines, EVENTS_PER_ENVELOPE, START * 1000, n)) envelopes.push(e);
    n += k;
  }
  const text = Buffer.concat(texts);
  return { source: `generator (seed ${SEED}, v2 default format, ${num(n)} records)`, encoding: 'generated', bytes: text.length, text, textGzipBytes, records: n, envelopes, eventsPerEnvelope: EVENTS_PER_ENVELOPE, fields: undefined };
}

/** A line whose every token is a known field name: a header line (the decoder skips it). */
function isHeader(line: string): boolean {
  const tokens = line.trim().split(/\s+/);
  return tokens.length > 0 && tokens[0] !== '' && tokens.every((t) => fieldId(normalizeFieldName(t)) >= 0);
}

/** --input FILE: its bytes, its encoding sniffed, both encodings of the same records. */
export function fileSample(path: string, fieldsFlag: string | undefined): Sample {
  const raw = readInput(path, '--input');
  const enc = sniffEncoding(raw);
  const unsupported = unsupportedEncoding(enc);
  if (unsupported !== null) throw unsupported;
  let data: Uint8Array = raw;
  if (enc === 'gzip') {
    const { data: d, error } = inflateBounded(raw);
    if (error !== null) throw new DredgeError('DREDGE_ERR_INPUT', `--input ${path}: ${error.message}; give an undamaged sample`);
    data = d;
  }
  let p = 0;
  while (p < data.length && (data[p] === 32 || data[p] === 10 || data[p] === 13 || data[p] === 9)) p++;
  if (p === data.length) throw new DredgeError('DREDGE_ERR_INPUT', `--input ${path} holds no flow-log records; give a flow-log file (plain, gzip or CloudWatch envelopes)`);
  const gz = enc === 'gzip' ? 'gzip ' : '';
  if (data[p] === 123) {
    // CloudWatch envelopes: their messages are the records; rebuild envelopes of the file's own size.
    const scan = new EnvelopeScan();
    const lines: string[] = [];
    let envelopes = 0;
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    while (p < data.length) {
      scanEnvelope(data, p, data.length, scan);
      if (scan.status !== ENVELOPE_OK) throw new DredgeError('DREDGE_ERR_INPUT', `--input ${path}: CloudWatch envelope ${envelopes + 1} is damaged (${scan.error}); give an undamaged sample`);
      envelopes++;
      for (let i = 0; i < scan.count; i++) {
        if (scan.missing[i] === 1) continue;
        const s = scan.starts[i] as number;
        const e = scan.ends[i] as number;
        lines.push(scan.escaped[i] === 1 ? (JSON.parse(`"${buf.toString('utf8', s, e)}"`) as string) : buf.toString('latin1', s, e));
      }
      p = scan.next;
      while (p < data.length && (data[p] === 32 || data[p] === 10 || data[p] === 13 || data[p] === 9)) p++;
    }
    if (lines.length === 0) throw new DredgeError('DREDGE_ERR_INPUT', `--input ${path}: its ${envelopes} CloudWatch envelopes carry no log events`);
    const per = Math.max(1, Math.round(lines.length / envelopes));
    const cwText = Buffer.from(lines.join('\n') + '\n', 'latin1');
    return {
      source: `file ${path}`,
      encoding: `${gz}cloudwatch`,
      bytes: raw.length,
      text: cwText,
      textGzipBytes: gzipSync(cwText).length,
      records: lines.length,
      envelopes: cloudWatchEnvelopes(lines, per),
      eventsPerEnvelope: per,
      fields: fieldsFlag,
    };
  }
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const all = text.toString('latin1').split('\n');
  const lines: string[] = [];
  let header: string | undefined;
  for (const l0 of all) {
    const l = l0.endsWith('\r') ? l0.slice(0, -1) : l0;
    if (l.trim() === '') continue;
    if (fieldsFlag === undefined && isHeader(l)) {
      header ??= l.trim().split(/\s+/).map(normalizeFieldName).join(' ');
      continue;
    }
    if (fieldsFlag !== undefined && isHeader(l)) continue;
    lines.push(l);
  }
  if (lines.length === 0) throw new DredgeError('DREDGE_ERR_INPUT', `--input ${path} holds no flow-log records (only header or blank lines)`);
  return {
    source: `file ${path}`,
    encoding: `${gz}text`,
    bytes: raw.length,
    text: Buffer.from(text),
    textGzipBytes: gzipSync(text).length,
    records: lines.length,
    envelopes: cloudWatchEnvelopes(lines, EVENTS_PER_ENVELOPE),
    eventsPerEnvelope: EVENTS_PER_ENVELOPE,
    // Batches after the first carry no header line: the pipeline gets the file's format as fixed.
    fields: fieldsFlag ?? header,
  };
}
