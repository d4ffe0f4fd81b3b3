// One shard's reader, as an explicit state machine (the Kinesis Client Library's ConsumerStates, cut
// down to what one process needs). Each state is a phase of `run()`; `state` and every transition are
// observable (`trace`), so tests assert them and `dredge run` reports them.
//
//   WAITING_ON_PARENTS ──parents' SHARD_END checkpointed (or gone from ListShards)──▶ INITIALIZING
//        │  └──────────────checkpoint is already SHARD_END──────────────────────────────────▶ DONE
//        │                                                                                    ▲
//   INITIALIZING ──GetShardIterator (checkpoint → AFTER_SEQUENCE_NUMBER, else --from)──▶ PROCESSING
//        │                                                                                    │
//   PROCESSING ──GetRecords pages → submit (awaited, in order)──┐                             │
//        │      ◀───────────────────────────────────────────────┘                             │
//        │  └──no NextShardIterator──▶ SHARD_ENDED ──SHARD_END batch submitted──┐             │
//        │                                                                     ▼             │
//        └──stop() / fatal error (from any state) ─────────────────────────▶ SHUTTING_DOWN ──┘
//                                                 (in-flight call and submit finish, then DONE)
//
// Reading: one GetRecords call at a time per shard, the next one issued while the previous page is
// being submitted (one page of read-ahead, so a shard's latency is max(call, submit), not the sum);
// a page read after stop() is dropped, never half-submitted. Pacing keeps within a shard's read limits
// (5 calls/s, 2 MB/s): the next call starts no sooner than `minIntervalMs` and `bytes / 2 MB/s` after
// the previous one; an empty page at the tip waits `idleMs` (1 s), a full page reads again as soon as
// allowed, a partial page in between.
//
// Errors (retry.ts): throttles and 5xx/network errors retry the SAME iterator after a full-jitter
// backoff, so no record is skipped or read twice. An expired iterator is renewed AFTER_SEQUENCE_NUMBER
// of the last record handed to the pipeline (not the durable checkpoint: records submitted but not yet
// flushed are still in the pipeline and will be flushed, so re-reading them would count them twice),
// or at the starting position when nothing was handed over yet. Anything else stops the shard, and the
// source with it, with a DredgeError that says what to fix.

import { GetRecordsCommand, GetShardIteratorCommand, type GetRecordsCommandOutput, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';
import { performance } from 'node:perf_hooks';
import type { RawBatch } from '../../daemon/pipeline.js';
import { DredgeError } from '../../errors.js';
import { type Backoff, DEFAULT_BACKOFF, GaveUp, classify, describe, errorName, retrying, sleep } from './retry.js';

/** A RawBatch of Kinesis records: each record is its own unit (envelope or gzip member) for the worker. */
export type KinesisBatch = RawBatch & {
  /** End offset in `bytes` of each record, in order (record i is bytes[ends[i-1] .. ends[i])). */
  recordEnds: Uint32Array;
  /** Each record's sequence number, for error reports. */
  recordIds: string[];
};

export type ShardState = 'WAITING_ON_PARENTS' | 'INITIALIZING' | 'PROCESSING' | 'SHARD_ENDED' | 'SHUTTING_DOWN' | 'DONE';

/** Where a shard's reading starts. */
export type StartPosition =
  | { type: 'AFTER_SEQUENCE_NUMBER'; sequence: string }
  | { type: 'TRIM_HORIZON' }
  | { type: 'LATEST' }
  | { type: 'AT_TIMESTAMP'; timestamp: Date }
  /** Only to read a batch again (`reread`). */
  | { type: 'AT_SEQUENCE_NUMBER'; sequence: string }
  /** The checkpoint says the shard was read to its end. */
  | { type: 'SHARD_END' };

/** The position value that marks a shard read to its end. */
export const SHARD_END = 'SHARD_END';

export interface Pacing {
  /** Least time between two GetRecords calls on one shard (AWS: 5 calls/s per shard). */
  minIntervalMs: number;
  /** Wait after an empty page at the tip of the shard. */
  idleMs: number;
  /** Read budget per shard (AWS: 2 MB/s); a page of B bytes delays the next call by B / this. */
  bytesPerSecond: number;
  /** GetRecords `Limit` (AWS maximum 10,000). */
  maxRecordsPerCall: number;
  /** Consecutive 5xx/network failures of one call before the shard gives up. */
  maxTransientRetries: number;
  backoff: Backoff;
}

export const DEFAULT_PACING: Pacing = {
  minIntervalMs: 200,
  idleMs: 1000,
  bytesPerSecond: 2_000_000,
  maxRecordsPerCall: 10_000,
  maxTransientRetries: 20,
  backoff: DEFAULT_BACKOFF,
};

/** What the consumer needs from its owner (stream-source.ts). */
export interface ConsumerHost {
  readonly client: KinesisClient;
  readonly stream: string;
  readonly pacing: Pacing;
  /** Aborted by stop(): sleeps end at once; calls in flight finish. */
  readonly signal: AbortSignal;
  parentsDone(shardId: string): boolean;
  /** Resolves when something a waiting shard depends on may have changed (a checkpoint, a listing, stop). */
  changed(): Promise<void>;
  submit(b: KinesisBatch): Promise<void>;
  /** After every page and state change: the source re-evaluates "caught up". */
  progress(c: ShardConsumer): void;
  log(msg: string): void;
  trace?: ((shardId: string, from: ShardState, to: ShardState) => void) | undefined;
}

/** Counters for one shard (exported through KinesisSource.shards()). */
export interface ShardCounters {
  records: number;
  bytes: number;
  batches: number;
  getRecordsCalls: number;
  throttles: number;
  transientErrors: number;
  expiredIterators: number;
}

const THROTTLE_LOG_EVERY_MS = 10_000;

export class ShardConsumer {
  readonly id: string;
  readonly parents: readonly string[];
  readonly start: StartPosition;
  state: ShardState = 'WAITING_ON_PARENTS';
  /** From the last page; null before the first. */
  millisBehindLatest: number | null = null;
  /** The last page was empty with MillisBehindLatest 0 (DESIGN.md §9 "Caught up", for an open shard). */
  atTip = false;
  /** Reached SHARD_END (read to the end and the SHARD_END batch submitted, or checkpointed so before). */
  ended = false;
  /** Sequence number of the last record handed to the pipeline (decimal string). */
  lastSequence: string | null = null;
  readonly counters: ShardCounters = { records: 0, bytes: 0, batches: 0, getRecordsCalls: 0, throttles: 0, transientErrors: 0, expiredIterators: 0 };
  error: DredgeError | null = null;
  private readonly host: ConsumerHost;
  private iterator: string | undefined;
  private nextCallAt = 0;
  private lastThrottleLog = -Infinity;
  private throttlesSinceLog = 0;

  constructor(host: ConsumerHost, id: string, parents: readonly string[], start: StartPosition) {
    this.host = host;
    this.id = id;
    this.parents = parents;
    this.start = start;
  }

  /** Runs the shard through its states; resolves at DONE, rejects with a DredgeError on a fatal error. */
  async run(): Promise<void> {
    let pending: Promise<unknown> | null = null;
    try {
      if (this.start.type === SHARD_END) {
        this.ended = true;
        this.to('DONE');
        return;
      }
      while (!this.host.parentsDone(this.id) && !this.host.signal.aborted) await this.host.changed();
      if (this.host.signal.aborted) return this.shutDown();

      this.to('INITIALIZING');
      this.iterator = await this.getIterator(this.start);
      if (this.iterator === undefined) return this.shutDown();

      this.to('PROCESSING');
      let shardEnded = false;
      while (true) {
        if (!(await sleep(this.nextCallAt - performance.now(), this.host.signal))) break;
        const calledAt = performance.now();
        const page = await this.getRecords();
        // Keep the shard's batches in order: the previous page's submit finishes before the next starts.
        if (pending !== null) await this.settle(pending);
        pending = null;
        if (page === null || this.host.signal.aborted) break; // a page read after stop() is dropped whole
        const records = page.Records ?? [];
        const behind = page.MillisBehindLatest ?? 0;
        this.millisBehindLatest = behind;
        this.atTip = records.length === 0 && behind === 0;
        let pageBytes = 0;
        if (records.length > 0) {
          const batch = this.batch(records);
          pageBytes = batch.bytes.byteLength;
          this.lastSequence = batch.recordIds[batch.recordIds.length - 1] as string;
          this.counters.records += records.length;
          this.counters.bytes += pageBytes;
          this.counters.batches++;
          pending = this.host.submit(batch).then(() => null, (e: unknown) => ({ failed: e }));
        }
        this.iterator = page.NextShardIterator;
        this.host.progress(this);
        if (this.iterator === undefined) {
          shardEnded = true;
          break;
        }
        this.nextCallAt = calledAt + this.pace(records.length, pageBytes, behind);
      }
      if (pending !== null) await this.settle(pending);
      pending = null;
      if (shardEnded) {
        this.to('SHARD_ENDED');
        this.atTip = false;
        // Submitted even when stop() came meanwhile: the shard was read to its end, and the marker
        // lets the children start after the next flush instead of re-reading this shard's tail.
        await this.settle(this.host.submit({ bytes: new Uint8Array(0), recordEnds: new Uint32Array(0), recordIds: [], position: { key: this.id, value: SHARD_END }, source: this.id }).then(() => null, (e: unknown) => ({ failed: e })));
        this.ended = true;
        this.host.log(`shard ${this.id}: read to SHARD_END (${this.counters.records} records this run)`);
      }
      return this.shutDown();
    } catch (e) {
      if (pending !== null) await pending; // settled, never rejects
      this.error = e instanceof DredgeError ? e : new DredgeError('DREDGE_ERR_INPUT', `Kinesis shard ${this.id} of stream ${this.host.stream}: ${describe(e)}`, { cause: e });
      this.shutDown();
      throw this.error;
    }
  }

  private to(next: ShardState): void {
    const prev = this.state;
    if (prev === next) return;
    this.state = next;
    this.host.trace?.(this.id, prev, next);
    this.host.progress(this);
  }

  private shutDown(): void {
    if (this.state !== 'DONE') {
      this.to('SHUTTING_DOWN');
      this.to('DONE');
    }
  }

  private async settle(p: Promise<unknown>): Promise<void> {
    const r = await p;
    if (r !== null && typeof r === 'object' && 'failed' in r) throw r.failed;
  }

  /** Delay from this call's start to the next call's (see the module comment). */
  private pace(records: number, bytes: number, behind: number): number {
    const p = this.host.pacing;
    const byBytes = (bytes / p.bytesPerSecond) * 1000;
    let wait: number;
    if (records >= p.maxRecordsPerCall || behind > p.idleMs) wait = p.minIntervalMs;
    else if (records === 0) wait = behind > 0 ? p.minIntervalMs : p.idleMs;
    else wait = Math.max(p.minIntervalMs, p.idleMs * (1 - records / p.maxRecordsPerCall));
    return Math.max(wait, byBytes);
  }

  private batch(records: readonly _Record[]): KinesisBatch {
    let total = 0;
    for (const r of records) total += r.Data?.byteLength ?? 0;
    // A fresh ArrayBuffer of exactly this size: the pipeline transfers it to a worker whole.
    const bytes = new Uint8Array(total);
    const ends = new Uint32Array(records.length);
    const ids: string[] = new Array<string>(records.length);
    let at = 0;
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as _Record;
      if (r.Data !== undefined) {
        bytes.set(r.Data, at);
        at += r.Data.byteLength;
      }
      ends[i] = at;
      ids[i] = r.SequenceNumber ?? '';
    }
    const first = ids[0] as string;
    const last = ids[ids.length - 1] as string;
    const count = records.length;
    return { bytes, recordEnds: ends, recordIds: ids, position: { key: this.id, value: last }, source: this.id, reread: () => this.reread(first, last, count, total) };
  }

  /** The same records again (a worker died holding the transferred bytes): AT_SEQUENCE_NUMBER of the first. */
  private async reread(first: string, last: string, count: number, size: number): Promise<Uint8Array> {
    let iterator = await this.getIterator({ type: 'AT_SEQUENCE_NUMBER', sequence: first }, false);
    const out = new Uint8Array(size);
    let got = 0;
    let at = 0;
    while (got < count && iterator !== undefined) {
      const page = await this.call('GetRecords', () => this.host.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: Math.min(count - got, this.host.pacing.maxRecordsPerCall) })), false);
      if (page === null) break;
      for (const r of page.Records ?? []) {
        if (got === count) break;
        const d = r.Data ?? new Uint8Array(0);
        if (at + d.byteLength > size) break;
        out.set(d, at);
        at += d.byteLength;
        got++;
        if (got === count && r.SequenceNumber !== last) break;
      }
      if ((page.Records ?? []).length === 0 && page.NextShardIterator === undefined) break;
      iterator = page.NextShardIterator;
    }
    if (got !== count || at !== size) {
      throw new DredgeError('DREDGE_ERR_INPUT', `Kinesis shard ${this.id}: could not read records ${first}…${last} again after a worker failure (got ${got} of ${count}); they may have aged out of the stream's retention`);
    }
    return out;
  }

  /**
   * GetRecords on the current iterator: throttles and transient errors retry the same iterator, an
   * expired one is renewed. Null when stop() came during a wait.
   */
  private async getRecords(): Promise<GetRecordsCommandOutput | null> {
    while (true) {
      const iterator = this.iterator;
      try {
        return await this.call('GetRecords', () => {
          this.counters.getRecordsCalls++;
          return this.host.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: this.host.pacing.maxRecordsPerCall }));
        });
      } catch (e) {
        if (classify(e) !== 'expired') throw e;
        this.counters.expiredIterators++;
        // The pipeline already holds every record up to lastSequence (see the module comment).
        const from: StartPosition = this.lastSequence !== null ? { type: 'AFTER_SEQUENCE_NUMBER', sequence: this.lastSequence } : this.start;
        this.host.log(`shard ${this.id}: iterator expired; renewing ${from.type === 'AFTER_SEQUENCE_NUMBER' ? `after ${from.sequence}` : `at ${from.type}`}`);
        this.iterator = await this.getIterator(from);
        if (this.iterator === undefined) return null;
      }
    }
  }

  private async getIterator(p: StartPosition, stoppable = true): Promise<string | undefined> {
    const input = {
      StreamName: this.host.stream,
      ShardId: this.id,
      ShardIteratorType: p.type === SHARD_END ? 'TRIM_HORIZON' : p.type,
      ...(p.type === 'AFTER_SEQUENCE_NUMBER' || p.type === 'AT_SEQUENCE_NUMBER' ? { StartingSequenceNumber: p.sequence } : {}),
      ...(p.type === 'AT_TIMESTAMP' ? { Timestamp: p.timestamp } : {}),
    } as const;
    const out = await this.call('GetShardIterator', () => this.host.client.send(new GetShardIteratorCommand(input)), stoppable);
    if (out === null) return undefined;
    if (out.ShardIterator === undefined) {
      throw new DredgeError('DREDGE_ERR_INPUT', `Kinesis returned no shard iterator for shard ${this.id} of stream ${this.host.stream}; the shard may have aged out of the retention period: remove its checkpoint to skip it`);
    }
    return out.ShardIterator;
  }

  /** One call under retry.ts's policy, counted per shard; a give-up becomes a DredgeError. Null when stop() ends a wait. */
  private async call<T>(op: string, fn: () => Promise<T>, stoppable = true): Promise<T | null> {
    const p = this.host.pacing;
    try {
      return await retrying(fn, {
        backoff: p.backoff,
        maxTransientRetries: p.maxTransientRetries,
        signal: stoppable ? this.host.signal : undefined,
        onThrottle: (e) => {
          this.counters.throttles++;
          this.throttlesSinceLog++;
          const now = performance.now();
          if (now - this.lastThrottleLog >= THROTTLE_LOG_EVERY_MS) {
            this.host.log(`shard ${this.id}: ${op} throttled (${errorName(e)}; ${this.throttlesSinceLog} since the last report, ${this.counters.throttles} in all); backing off`);
            this.lastThrottleLog = now;
            this.throttlesSinceLog = 0;
          }
        },
        onTransient: (e, n) => {
          this.counters.transientErrors++;
          this.host.log(`shard ${this.id}: ${op} failed (${describe(e)}); retry ${n} of ${p.maxTransientRetries}`);
        },
      });
    } catch (e) {
      if (!(e instanceof GaveUp)) throw e;
      if (e.kind === 'fatal') throw fatalError(e.cause, this.host.stream, this.id, op, this.start);
      throw new DredgeError('DREDGE_ERR_INPUT', `Kinesis ${op} for shard ${this.id} of stream ${this.host.stream} failed ${e.attempts} times in a row (last: ${e.message}); check the network path to the endpoint, then restart: reading resumes from the last checkpoint`, { retriable: true, cause: e.cause });
    }
  }
}

/** A non-retriable Kinesis error as a DredgeError whose message says what to do. */
export function fatalError(e: unknown, stream: string, shard: string | null, op: string, start?: StartPosition): DredgeError {
  const name = errorName(e);
  const where = shard === null ? `stream ${stream}` : `shard ${shard} of stream ${stream}`;
  const what = describe(e);
  if (name === 'ResourceNotFoundException') {
    return new DredgeError('DREDGE_ERR_CONFIG', `Kinesis ${op}: ${where} not found (${what}); check the stream name, --region and --endpoint`, { cause: e });
  }
  if (name === 'AccessDeniedException' || name === 'UnrecognizedClientException' || name === 'InvalidSignatureException' || name === 'ExpiredTokenException' || name.startsWith('KMS')) {
    return new DredgeError('DREDGE_ERR_CONFIG', `Kinesis ${op} on ${where} was refused (${what}); the credentials in use need kinesis:ListShards, GetShardIterator and GetRecords on the stream (and kms:Decrypt for an encrypted stream), and must be valid for the region`, { cause: e });
  }
  if ((name === 'InvalidArgumentException' || name === 'ValidationException') && start?.type === 'AFTER_SEQUENCE_NUMBER') {
    return new DredgeError('DREDGE_ERR_INPUT', `Kinesis ${op} on ${where} rejected the checkpoint ${start.sequence} (${what}); if the stream was recreated, remove the checkpoints of this stream so reading starts from --from`, { cause: e });
  }
  return new DredgeError('DREDGE_ERR_INPUT', `Kinesis ${op} on ${where} failed and cannot be retried (${what}); fix the cause named here and restart: reading resumes from the last checkpoint`, { cause: e });
}
