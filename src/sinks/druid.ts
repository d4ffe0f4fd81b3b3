// Druid sink over Kinesis (DESIGN.md §5, issue #6): each flush's rollup rows go as JSON to a Kinesis
// stream that Druid's Kinesis indexing service ingests with the supervisor spec `dredge druid-spec`
// prints (druid-spec.ts). At-least-once: `write` resolves once Kinesis acknowledged every record (it is
// durable there; Druid reads it at its own pace), and a replay is detectable by the rows' `row_id`.
//
// Wire format. One JSON object per row, the NDJSON sink's row plus `row_id`, keys in this order:
//
//   {"window_start":"2025-11-23T12:13:00Z","src.app":"api",…,"src.reason":null,"dst.reason":"unknown","flows":3,"packets":12,"bytes":5120,"row_id":"5f0c…(32 hex)"}
//
// Rows are packed into records, newline-separated (no trailing newline), each record at most
// MAX_RECORD_BYTES (1 MiB) with its partition key. Druid's json inputFormat reads every JSON object of
// a streaming record ("In streaming ingestion, multi-line JSON events can be ingested"; with
// `assumeNewlineDelimited: true`, set in the spec, a bad line costs only itself), so packing is
// supported and cuts PutRecords entries ~3000-fold for ~300-byte rows. A record's partition key is
// the row_id of its first row: deterministic, and spread evenly over the shards.
//
// row_id = first 32 hex digits (128 bits) of SHA-256( D ‖ K ), where
//
//   D = SHA-256("dredge-row-id/1\n" + JSON([dimension names]) + "\n" + flush identity)   (32 bytes)
//   K = the row's JSON text up to, not including, `,"flows":`, i.e. its window and key:
//       {"window_start":"2025-11-23T12:13:00Z","src.app":"api",…,"src.reason":null,"dst.reason":"unknown"
//
// where the flush identity is the flush's source positions (JSON of [key, identity, value] per
// position, sorted by key): the point up to which the flush carries every record. Why these inputs:
//   - window and key values: two rows of one flush never share them (a flush holds one delta per key),
//     so ids are unique within a flush;
//   - positions, not the flush seq: a resumed run numbers its flushes from 1 again, but a flush that
//     re-delivers the same records after a crash ends at the same positions, so its rows get the SAME
//     ids as the lost acknowledgement's ones, and a later delta of the same key (a later flush, ending
//     further on) gets a different id. The pipeline's own retry of a write hands over the same batch,
//     so a partly written flush sent again duplicates ids too: `SUM("count")` exceeding the distinct
//     row_ids in Druid shows that rows arrived twice (druid-spec.ts explains the query);
//   - metrics are left out: they follow from the records the positions bound.
// A flush without positions (stdin, which cannot resume) uses ["seq", <flush seq>] instead.
// Caveat: a replay is recognised only when the resumed run cuts its flush at the same positions, which
// a timer-driven flush does not promise (it holds when the lost flush was the last one of a run that
// reads to an end, e.g. a file or `--stop-when-caught-up`, and for every pipeline retry); overlap with
// different boundaries is double counting no id can show.
//
// Cost: rendering (ndjson.ts's byte renderer, ids, packing) took ~3.7 µs a row here (200k rows × 4
// dimensions: ~0.75 s, on the main thread); Kinesis itself takes 1 MB/s (~3,000 rows/s) per shard.

import { DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { createHash, hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { RollupBatch } from '../aggregate/rollups.js';
import { DredgeError } from '../errors.js';
import { makeKinesisClient } from '../sources/kinesis/client.js';
import { MAX_RECORD_BYTES, addResult, emptyResult, putRecords, type PutRecordsResult } from '../sources/kinesis/producer.js';
import { DEFAULT_BACKOFF, GaveUp, errorName, describe as describeError, retrying, type Backoff } from '../sources/kinesis/retry.js';
import { SINK_WRITE, renderBatch } from './ndjson.js';
import type { Sink, SinkHealth } from './sink.js';

/** Hex digits of a row_id (128 bits: collisions need ~2^64 rows). */
export const ROW_ID_HEX = 32;

/** The flush identity that goes into every row_id of `b` (see the top of this file). */
export function flushIdentity(b: RollupBatch): string {
  if (b.positions.length === 0) return JSON.stringify(['seq', b.seq]);
  const ps = b.positions.map((p) => [p.key, p.identity ?? '', p.value] as const);
  ps.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return JSON.stringify(ps);
}

/** SHA-256 of what every row_id of `b` shares: version, dimension names, flush identity. */
function flushDigest(b: RollupBatch): Buffer {
  return createHash('sha256').update(`dredge-row-id/1\n${JSON.stringify(b.dimensions)}\n${flushIdentity(b)}`, 'utf8').digest();
}

const FLOWS_KEY = Buffer.from(',"flows":', 'latin1');
const ROW_ID_KEY = Buffer.from(',"row_id":"', 'latin1');

/** Collects what renderBatch writes (it reuses its buffer, so each piece is copied). */
function collector(chunks: Buffer[]): FileHandle {
  const write = (buf: Uint8Array, off = 0, len = buf.length - off): Promise<{ bytesWritten: number; buffer: Uint8Array }> => {
    chunks.push(Buffer.from(buf.subarray(off, off + len)));
    return Promise.resolve({ bytesWritten: len, buffer: buf });
  };
  return { write } as unknown as FileHandle;
}

/**
 * Calls `each(line, rowId)` for every row of `b` in order: `line` is the row's JSON (equal to
 * JSON.stringify of rollupRow(b, i) plus `row_id` as the last key) without a newline, as bytes valid
 * only during the call. Rows come from the NDJSON sink's byte renderer (ndjson.ts), and the key text
 * that row_id hashes is the line up to `,"flows":` (a quote inside a JSON string is always escaped, and
 * dimension names cannot be `flows`, so that is where the metrics start). Measured here: ~1 µs per row
 * for the ids (crypto.hash), where a JSON key array per row and a copied Hash took ~12 µs.
 */
export async function forEachDruidRow(b: RollupBatch, each: (line: Buffer, rowId: string) => void): Promise<void> {
  if (b.rows === 0) return;
  const chunks: Buffer[] = [];
  await renderBatch(b, collector(chunks));
  const digest = flushDigest(b);
  let hashIn = Buffer.allocUnsafe(4096);
  let line = Buffer.allocUnsafe(4096);
  digest.copy(hashIn, 0);
  for (const c of chunks) {
    let start = 0;
    while (start < c.length) {
      let end = c.indexOf(0x0a, start);
      if (end < 0) end = c.length;
      const keyEnd = c.lastIndexOf(FLOWS_KEY, end);
      if (keyEnd < start) throw new DredgeError('DREDGE_ERR_INTERNAL', `druid sink: a rendered row of flush ${b.seq} has no "flows" key`);
      const keyLen = keyEnd - start;
      if (hashIn.length < 32 + keyLen) {
        hashIn = Buffer.allocUnsafe(2 * (32 + keyLen));
        digest.copy(hashIn, 0);
      }
      c.copy(hashIn, 32, start, keyEnd);
      const id = hash('sha256', hashIn.subarray(0, 32 + keyLen), 'hex').slice(0, ROW_ID_HEX);
      // The line without its closing brace, then ,"row_id":"<id>"}
      const body = end - 1 - start;
      const n = body + ROW_ID_KEY.length + ROW_ID_HEX + 2;
      if (line.length < n) line = Buffer.allocUnsafe(2 * n);
      c.copy(line, 0, start, end - 1);
      ROW_ID_KEY.copy(line, body);
      line.write(id, body + ROW_ID_KEY.length, 'latin1');
      line[n - 2] = 0x22; // "
      line[n - 1] = 0x7d; // }
      each(line.subarray(0, n), id);
      start = end + 1;
    }
  }
}

/** The row_id of every row of `b`, in row order. */
export async function rowIdsOf(b: RollupBatch): Promise<string[]> {
  const out: string[] = [];
  await forEachDruidRow(b, (_line, id) => out.push(id));
  return out;
}

/** Non-ASCII as \uXXXX escapes (valid JSON, same value), for transports that want 7-bit text. */
export function asciiJson(text: string): string {
  return text.replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

export interface DruidKinesisSinkOptions {
  stream: string;
  /** A Kinesis-compatible endpoint (kinesalite, LocalStack); unset: AWS's for the region. */
  endpoint?: string;
  region?: string;
  /** Use this client (not destroyed by close) instead of building one from endpoint/region. */
  client?: KinesisClient;
  /** Most bytes of row data per record (default and maximum: 1 MiB less the 32-byte partition key). */
  maxRecordBytes?: number;
  /** putRecords pacing and bounds (defaults: producer.ts's). */
  backoff?: Backoff;
  maxEntryRetries?: number;
  maxTransientRetries?: number;
  log?: (msg: string) => void;
}

export interface DruidKinesisSinkStats {
  /** Acknowledged writes (0-row ones included). */
  writes: number;
  rows: number;
  /** Rejected writes. */
  errors: number;
  /** What putRecords reported, summed over the writes (records, bytes, calls, throttles, retries). */
  put: PutRecordsResult;
}

const MAX_DATA_BYTES = MAX_RECORD_BYTES - ROW_ID_HEX;

export class DruidKinesisSink implements Sink {
  readonly name = 'druid';
  readonly stream: string;
  readonly stats: DruidKinesisSinkStats = { writes: 0, rows: 0, errors: 0, put: emptyResult() };
  /** The Kinesis client in use (the given one, or one built from endpoint/region that close destroys). */
  readonly client: KinesisClient;
  private readonly ownsClient: boolean;
  private readonly maxRecordBytes: number;
  private readonly o: DruidKinesisSinkOptions;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  /** Prefer openDruidKinesisSink, which checks the stream first. */
  constructor(o: DruidKinesisSinkOptions) {
    this.o = o;
    this.stream = o.stream;
    this.ownsClient = o.client === undefined;
    this.client = o.client ?? makeKinesisClient({ ...(o.endpoint !== undefined ? { endpoint: o.endpoint } : {}), ...(o.region !== undefined ? { region: o.region } : {}) });
    const max = o.maxRecordBytes ?? MAX_DATA_BYTES;
    if (!Number.isInteger(max) || max < 1 || max > MAX_DATA_BYTES) throw new DredgeError('DREDGE_ERR_CONFIG', `druid sink: maxRecordBytes must be an integer from 1 to ${MAX_DATA_BYTES}, got ${max}`);
    this.maxRecordBytes = max;
  }

  write(batch: RollupBatch): Promise<void> {
    if (this.closed) return Promise.reject(new DredgeError(SINK_WRITE, `druid sink for Kinesis stream ${this.stream} is closed: write called after close (a pipeline bug; please report it)`));
    // Rendered at once (before an earlier write finishes sending), so nothing of the batch is read later.
    const packed = this.pack(batch);
    packed.catch(() => undefined); // reported through p below
    const p = this.tail.then(async () => this.send(batch.seq, await packed));
    this.tail = p.catch(() => undefined);
    return p.then(
      () => {
        this.stats.writes++;
        this.stats.rows += batch.rows;
      },
      (e: unknown) => {
        this.stats.errors++;
        throw e;
      },
    );
  }

  /** Rows → records of whole lines, each within maxRecordBytes; partition key = first row's id. */
  private async pack(b: RollupBatch): Promise<{ records: Buffer[]; keys: string[] }> {
    const max = this.maxRecordBytes;
    const records: Buffer[] = [];
    const keys: string[] = [];
    let buf = Buffer.allocUnsafe(max);
    let pos = 0;
    let key = '';
    await forEachDruidRow(b, (line, id) => {
      const n = line.length;
      if (n > max) throw new DredgeError(SINK_WRITE, `druid sink: a row of flush ${b.seq} is ${n} bytes as JSON, more than a Kinesis record holds (${max}); shorten the dimension values (very long inventory metadata?)`);
      if (pos > 0 && pos + 1 + n > max) {
        records.push(buf.subarray(0, pos));
        keys.push(key);
        buf = Buffer.allocUnsafe(max);
        pos = 0;
      }
      if (pos === 0) key = id;
      else buf[pos++] = 0x0a;
      line.copy(buf, pos);
      pos += n;
    });
    if (pos > 0) {
      records.push(buf.subarray(0, pos));
      keys.push(key);
    }
    return { records, keys };
  }

  private async send(seq: number, packed: { records: Buffer[]; keys: string[] }): Promise<void> {
    if (packed.records.length === 0) return;
    let r: PutRecordsResult;
    try {
      r = await putRecords(this.client, this.stream, packed.records, {
        partitionKey: (i) => packed.keys[i] as string,
        backoff: this.o.backoff ?? DEFAULT_BACKOFF,
        ...(this.o.maxEntryRetries !== undefined ? { maxEntryRetries: this.o.maxEntryRetries } : {}),
        ...(this.o.maxTransientRetries !== undefined ? { maxTransientRetries: this.o.maxTransientRetries } : {}),
        ...(this.o.log !== undefined ? { log: this.o.log } : {}),
      });
    } catch (e) {
      throw writeError(e, this.stream, seq);
    }
    addResult(this.stats.put, r);
  }

  /** The stream is ACTIVE (or UPDATING: still writable) for these credentials. */
  async health(): Promise<SinkHealth> {
    if (this.closed) return { ok: false, detail: `druid sink (stream ${this.stream}) closed` };
    try {
      const d = await this.client.send(new DescribeStreamSummaryCommand({ StreamName: this.stream }));
      const st = d.StreamDescriptionSummary?.StreamStatus ?? 'unknown';
      return st === 'ACTIVE' || st === 'UPDATING' ? { ok: true, detail: `Kinesis stream ${this.stream} ${st}` } : { ok: false, detail: `Kinesis stream ${this.stream} is ${st}` };
    } catch (e) {
      return { ok: false, detail: `cannot describe Kinesis stream ${this.stream}: ${describeError(e)}` };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    if (this.ownsClient) this.client.destroy();
  }
}

const DENIED = new Set(['AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException', 'KMSAccessDeniedException']);

/** A failed putRecords as the sink's DredgeError: retriable exactly when the producer says so. */
function writeError(e: unknown, stream: string, seq: number): DredgeError {
  const what = `druid sink: flush ${seq} did not reach Kinesis stream ${stream}`;
  const cause = e instanceof DredgeError ? (e.cause ?? e) : e;
  const name = errorName(cause);
  if (name === 'ResourceNotFoundException') {
    return new DredgeError(SINK_WRITE, `${what}: the stream does not exist (${describeError(cause)}); recreate it, or point --druid-stream/--region/--endpoint at the right one, and run again (dredge resumes from the last checkpoint)`, { cause: e });
  }
  if (DENIED.has(name) || name.startsWith('KMS')) {
    return new DredgeError(SINK_WRITE, `${what}: refused (${describeError(cause)}); the credentials in use need kinesis:PutRecords and kinesis:DescribeStreamSummary on the stream (and kms:GenerateDataKey for an encrypted one)`, { cause: e });
  }
  if (e instanceof DredgeError) {
    return new DredgeError(SINK_WRITE, `${what}: ${e.message}${e.retriable ? ' (the flush will be sent again; rows already written then arrive twice with the same row_id)' : ''}`, { retriable: e.retriable, cause: e });
  }
  return new DredgeError(SINK_WRITE, `${what}: ${describeError(e)}`, { cause: e });
}

/**
 * Builds the sink after checking that the stream exists and can be described (DescribeStreamSummary);
 * a missing stream or refused credentials fail here, with the fix, instead of at the first flush.
 */
export async function openDruidKinesisSink(o: DruidKinesisSinkOptions): Promise<DruidKinesisSink> {
  const sink = new DruidKinesisSink(o);
  const client = sink.client;
  const where = o.endpoint !== undefined ? `at ${o.endpoint}` : `in region ${o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? '(SDK default)'}`;
  try {
    const out = await retrying(() => client.send(new DescribeStreamSummaryCommand({ StreamName: o.stream })), { backoff: o.backoff ?? DEFAULT_BACKOFF, maxTransientRetries: o.maxTransientRetries ?? 3 });
    const status = out?.StreamDescriptionSummary?.StreamStatus;
    if (status === 'DELETING') throw new DredgeError('DREDGE_ERR_CONFIG', `Kinesis stream ${o.stream} ${where} is being deleted; create it again (aws kinesis create-stream --stream-name ${o.stream} --shard-count 1) and run again`);
  } catch (e) {
    await sink.close();
    if (e instanceof DredgeError) throw e;
    const cause = e instanceof GaveUp ? e.cause : e;
    const name = errorName(cause);
    if (name === 'ResourceNotFoundException') {
      throw new DredgeError('DREDGE_ERR_CONFIG', `Kinesis stream ${o.stream} not found ${where}: create it (aws kinesis create-stream --stream-name ${o.stream} --shard-count 1), or fix --druid-stream/--region/--endpoint; then load it into Druid with \`dredge druid-spec --stream ${o.stream} --post http://OVERLORD:8081\``, { cause });
    }
    if (DENIED.has(name) || name.startsWith('KMS')) {
      throw new DredgeError('DREDGE_ERR_CONFIG', `Kinesis refused to describe stream ${o.stream} ${where} (${describeError(cause)}); the credentials in use need kinesis:DescribeStreamSummary and kinesis:PutRecords on it`, { cause });
    }
    const transient = e instanceof GaveUp && e.kind === 'transient';
    throw new DredgeError('DREDGE_ERR_CONFIG', `cannot check Kinesis stream ${o.stream} ${where} (${describeError(cause)}); ${transient ? 'check --endpoint/--region and the network path' : 'fix the cause named here'}`, { retriable: transient, cause });
  }
  return sink;
}
