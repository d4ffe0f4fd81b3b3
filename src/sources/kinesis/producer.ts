// Writes records to a Kinesis stream with PutRecords (`dredge generate --kinesis`, tests, the demo).
//
// Calls: at most 500 entries and 5 MiB (data plus partition keys, as Kinesis counts them) per call; a
// record over 1 MiB is refused up front. PutRecords succeeds per entry: the response lists, in request
// order, a sequence number or an ErrorCode for each entry. Only the failed entries are sent again (with
// their original partition keys, after a full-jitter backoff), so an entry that was written is never
// written twice. A whole call refused with a throttling error wrote nothing and is sent again as is.
//
// One exception to "never twice": a call that dies with a 5xx or a broken connection may or may not
// have written its entries, and Kinesis has no idempotency key. Those calls are sent again too
// (at-least-once, as the AWS producer libraries do) and counted in `ambiguousCalls`, so a consumer that
// sees more records than were produced can tell why.

import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { randomBytes } from 'node:crypto';
import { DredgeError } from '../../errors.js';
import { type Backoff, DEFAULT_BACKOFF, GaveUp, classify, describe, fullJitter, retrying, sleep } from './retry.js';
import { fatalError } from './shard-consumer.js';

export const MAX_ENTRIES_PER_CALL = 500;
export const MAX_BYTES_PER_CALL = 5 * 1024 * 1024;
export const MAX_RECORD_BYTES = 1024 * 1024;

export interface PutRecordsOptions {
  /** Partition key of record i (default: 16 random hex digits, spreading records over every shard). */
  partitionKey?: (i: number, data: Uint8Array) => string;
  /** Rounds of re-sending failed entries before giving up (default 30). */
  maxEntryRetries?: number;
  /** Consecutive 5xx/network failures of one call before giving up (default 10). */
  maxTransientRetries?: number;
  backoff?: Backoff;
  /** Aborts waits between retries; the entries not yet written are reported as an error. */
  signal?: AbortSignal;
  log?: (msg: string) => void;
}

export interface PutRecordsResult {
  /** Records written (each exactly once, unless `ambiguousCalls` > 0). */
  records: number;
  /** Data bytes written. */
  bytes: number;
  /** PutRecords calls made, retries included. */
  calls: number;
  /** Entries sent again after the response marked them failed. */
  retriedEntries: number;
  /** Calls refused whole by a throttling error (and sent again). */
  throttledCalls: number;
  /** Calls that failed with a 5xx or a network error and were sent again (their entries may be twice). */
  ambiguousCalls: number;
  /** Number of records per shard id, from the responses. */
  shards: Record<string, number>;
}

export function emptyResult(): PutRecordsResult {
  return { records: 0, bytes: 0, calls: 0, retriedEntries: 0, throttledCalls: 0, ambiguousCalls: 0, shards: {} };
}

/** Adds `b`'s counts into `a` (a run of several putRecords calls). */
export function addResult(a: PutRecordsResult, b: PutRecordsResult): void {
  a.records += b.records;
  a.bytes += b.bytes;
  a.calls += b.calls;
  a.retriedEntries += b.retriedEntries;
  a.throttledCalls += b.throttledCalls;
  a.ambiguousCalls += b.ambiguousCalls;
  for (const [k, v] of Object.entries(b.shards)) a.shards[k] = (a.shards[k] ?? 0) + v;
}

const randomKey = (): string => randomBytes(8).toString('hex');

export async function putRecords(client: KinesisClient, stream: string, records: readonly Uint8Array[], opts: PutRecordsOptions = {}): Promise<PutRecordsResult> {
  const key = opts.partitionKey ?? randomKey;
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const maxEntryRetries = opts.maxEntryRetries ?? 30;
  const result = emptyResult();
  const entries: PutRecordsRequestEntry[] = records.map((data, i) => {
    const pk = key(i, data);
    const size = data.byteLength + Buffer.byteLength(pk);
    if (size > MAX_RECORD_BYTES) throw new DredgeError('DREDGE_ERR_INPUT', `record ${i} is ${size} bytes with its partition key; Kinesis takes at most ${MAX_RECORD_BYTES}: put fewer lines per record`);
    return { Data: data, PartitionKey: pk };
  });

  let start = 0;
  while (start < entries.length) {
    // Fill one call: up to 500 entries and 5 MiB.
    let end = start;
    let size = 0;
    while (end < entries.length && end - start < MAX_ENTRIES_PER_CALL) {
      const e = entries[end] as PutRecordsRequestEntry;
      const s = (e.Data as Uint8Array).byteLength + Buffer.byteLength(e.PartitionKey as string);
      if (size + s > MAX_BYTES_PER_CALL) break;
      size += s;
      end++;
    }
    await putOne(client, stream, entries.slice(start, end), result, { backoff, maxEntryRetries, maxTransient: opts.maxTransientRetries ?? 10, signal: opts.signal, log: opts.log });
    start = end;
  }
  return result;
}

interface CallOptions {
  backoff: Backoff;
  maxEntryRetries: number;
  maxTransient: number;
  signal: AbortSignal | undefined;
  log: ((msg: string) => void) | undefined;
}

/** One call's entries, sent until every one is written: failed entries only, each round. */
async function putOne(client: KinesisClient, stream: string, batch: PutRecordsRequestEntry[], r: PutRecordsResult, o: CallOptions): Promise<void> {
  let todo = batch;
  for (let round = 0; todo.length > 0; round++) {
    if (round > o.maxEntryRetries) {
      throw new DredgeError('DREDGE_ERR_INPUT', `Kinesis PutRecords to stream ${stream}: ${todo.length} records still failing after ${o.maxEntryRetries} retries; the stream is over its write limit (1 MB/s or 1000 records/s per shard): lower --rate or add shards`, { retriable: true });
    }
    if (round > 0 && !(await sleep(fullJitter(o.backoff, round), o.signal))) break;
    const send = todo;
    let out;
    try {
      out = await retrying(
        () => {
          r.calls++;
          return client.send(new PutRecordsCommand({ StreamName: stream, Records: send }));
        },
        {
          backoff: o.backoff,
          maxTransientRetries: o.maxTransient,
          signal: o.signal,
          onThrottle: () => r.throttledCalls++,
          onTransient: (e, n) => {
            r.ambiguousCalls++;
            o.log?.(`PutRecords failed (${describe(e)}); retry ${n} of ${o.maxTransient}`);
          },
        },
      );
    } catch (e) {
      if (!(e instanceof GaveUp)) throw e;
      if (e.kind === 'fatal') throw fatalError(e.cause, stream, null, 'PutRecords');
      throw new DredgeError('DREDGE_ERR_INPUT', `Kinesis PutRecords to stream ${stream} failed ${e.attempts} times in a row (last: ${e.message}); check --endpoint/--region and the network path`, { retriable: true, cause: e.cause });
    }
    if (out === null) break;
    const results = out.Records ?? [];
    if (results.length !== send.length) {
      throw new DredgeError('DREDGE_ERR_INPUT', `Kinesis PutRecords to stream ${stream} answered ${results.length} results for ${send.length} records; cannot tell which were written`);
    }
    const failed: PutRecordsRequestEntry[] = [];
    let firstError = '';
    for (let i = 0; i < send.length; i++) {
      const res = results[i];
      const entry = send[i] as PutRecordsRequestEntry;
      if (res?.ErrorCode !== undefined && res.ErrorCode !== '') {
        failed.push(entry);
        if (firstError === '') firstError = `${res.ErrorCode}: ${res.ErrorMessage ?? ''}`;
        if (classify({ name: res.ErrorCode }) === 'fatal') {
          throw new DredgeError('DREDGE_ERR_INPUT', `Kinesis PutRecords to stream ${stream} refused a record (${firstError}); fix the cause and run again`);
        }
      } else {
        r.records++;
        r.bytes += (entry.Data as Uint8Array).byteLength;
        const shard = res?.ShardId ?? '?';
        r.shards[shard] = (r.shards[shard] ?? 0) + 1;
      }
    }
    if (failed.length > 0) {
      r.retriedEntries += failed.length;
      if (round === 0 || round % 5 === 0) o.log?.(`PutRecords: ${failed.length} of ${send.length} records failed (${firstError}); sending those again`);
    }
    todo = failed;
  }
  if (todo.length > 0) throw new DredgeError('DREDGE_ERR_INPUT', `Kinesis PutRecords to stream ${stream} stopped with ${todo.length} records unwritten`, { retriable: true });
}
