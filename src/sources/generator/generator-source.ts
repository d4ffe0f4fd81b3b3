// The built-in traffic generator as a source of `dredge run --generate` (issue #7): RawBatches of
// complete flow-log lines from a seeded TrafficGenerator, the same records `dredge generate` writes for
// the same seed and record count, optionally paced in real time.
//
// Content: a function of (seed, records, format) alone. With `records` the stream is exactly the one
// `dredge generate --flows <records> --seed <seed>` writes (event times spread over its default hour);
// without, records follow each other at UNBOUNDED_FLOWS_PER_SECOND of event time. `rate` only paces:
// records go out when due, `floor(rate × seconds since start)` counted from the start of this run (no
// drift: a late wake-up sends more, it never pushes the schedule back), woken on a TICK_MS grid so a
// slow rate still sends every tick; unpaced, batches go out as fast as the pipeline takes them.
//
// Position (DESIGN.md §9): key `generator:<seed>`, value = records emitted so far (counted from record
// 0 of the stream, across runs), identity = what else shapes the records (span, start, subnets, the
// record count, the format). A checkpoint with that key and identity resumes at record N: the generator
// skips N records without writing them (TrafficGenerator.skip: ~25 ns a record, ~1% of making it), so the
// first record after a restart is record N + 1 of the same stream: none twice, none skipped. A
// checkpoint with another identity is a different stream under the same seed and is refused.
//
// Batches are whole lines in a SharedArrayBuffer (shared with the worker, so a batch whose worker died
// is run again from the same bytes), `batchRecords` lines at most.

import { Buffer } from 'node:buffer';
import type { RawBatch } from '../../daemon/pipeline.js';
import { DredgeError } from '../../errors.js';
import { FlowFormat } from '../../parse/fields.js';
import type { SourcePosition } from '../../sinks/sink.js';
import { DEFAULT_TRAFFIC, TrafficGenerator, streamTraffic, type TrafficShape } from './traffic.js';

export interface GeneratorSourceOptions {
  seed: number;
  /** Records in the whole stream, counting those earlier runs emitted; absent: unbounded. */
  records?: number;
  /** Records per second in real time; absent: as fast as the pipeline takes them. */
  rate?: number;
  /** Lines per batch at most (default DEFAULT_BATCH_RECORDS). */
  batchRecords?: number;
  /** Record format (default: the v2 default format). */
  format?: FlowFormat;
  /** Checkpoints (the run's positions by key): the one under `generatorKey(seed)` is resumed. */
  resume?: ReadonlyMap<string, SourcePosition>;
  /** Stops the source (also while it waits for records to fall due). */
  signal?: AbortSignal;
  /** Time in ms and a sleep (tests pace with a fake clock); default: performance.now and setTimeout. */
  clock?: Clock;
}

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * ~0.9 MB of v2 lines. Lines are made on the main thread, which a batch holds for its whole making
 * (tens of ms at this size), so it stays small enough that flushes, worker results and signals are
 * served in between, and large enough that a worker task costs little per record.
 */
export const DEFAULT_BATCH_RECORDS = 8192;
/** Event-time pace of an unbounded stream: records per second of `start`. */
export const UNBOUNDED_FLOWS_PER_SECOND = 10_000;
/** A paced source wakes at least this often, so a slow rate still sends what is due each tick. */
const TICK_MS = 100;

/** The generated stream's shape: `dredge generate`'s defaults (so its output and ours are the same). */
export function generatedShape(seed: number): TrafficShape {
  return { seed, startTime: DEFAULT_TRAFFIC.startTime, spanSeconds: DEFAULT_TRAFFIC.spanSeconds, subnets: DEFAULT_TRAFFIC.subnets };
}

/** The checkpoint key of the stream of this seed. */
export function generatorKey(seed: number): string {
  return `generator:${seed}`;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted === true) return resolve();
      const done = (): void => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    }),
};

export class GeneratorSource {
  readonly key: string;
  /** What shapes the records besides the seed; stored with the position. */
  readonly identity: string;
  /** Records earlier runs emitted (from the checkpoint); this run starts with the next one. */
  readonly resumedAt: number;
  readonly records: number | undefined;
  private readonly rate: number | undefined;
  private readonly batchRecords: number;
  private readonly gen: TrafficGenerator;
  private readonly signal: AbortSignal | undefined;
  private readonly clock: Clock;
  private sent: number;

  constructor(o: GeneratorSourceOptions) {
    const format = o.format ?? FlowFormat.V2_DEFAULT;
    if (o.records !== undefined && !(Number.isSafeInteger(o.records) && o.records >= 0)) throw new DredgeError('DREDGE_ERR_CONFIG', `records must be a whole number ≥ 0, got ${o.records}`);
    if (o.rate !== undefined && !(o.rate > 0 && Number.isFinite(o.rate))) throw new DredgeError('DREDGE_ERR_CONFIG', `rate must be a number of records per second > 0, got ${o.rate}`);
    this.key = generatorKey(o.seed);
    this.records = o.records;
    this.rate = o.rate;
    this.batchRecords = Math.max(1, o.batchRecords ?? DEFAULT_BATCH_RECORDS);
    this.signal = o.signal;
    this.clock = o.clock ?? realClock;
    const shape = generatedShape(o.seed);
    const custom = !format.equals(FlowFormat.V2_DEFAULT);
    this.identity = `start=${shape.startTime} span=${shape.spanSeconds} subnets=${shape.subnets} records=${o.records ?? 'unbounded'}${custom ? ` fields=${format.names.join(',')}` : ''}`;
    this.resumedAt = this.resumePoint(o.resume?.get(this.key));
    const flowsPerSecond = o.records !== undefined ? o.records / shape.spanSeconds : UNBOUNDED_FLOWS_PER_SECOND;
    this.gen = new TrafficGenerator(format, streamTraffic(shape, flowsPerSecond));
    this.gen.skip(this.resumedAt);
    this.sent = this.resumedAt;
  }

  /** Records emitted so far, counting from record 0 of the stream (earlier runs included). */
  get emitted(): number {
    return this.sent;
  }

  private resumePoint(cp: SourcePosition | undefined): number {
    if (cp === undefined) return 0;
    if (cp.identity !== this.identity) {
      throw new DredgeError(
        'DREDGE_ERR_CONFIG',
        `the checkpoint of ${this.key} belongs to another generated stream (${cp.identity ?? 'no identity'}; this run: ${this.identity}), so resuming it would repeat or skip records: ` +
          'give the same --records (and --fields) as the run that made it, or another --seed, --no-resume (start over: its rows stay in the store) or a fresh store',
      );
    }
    const n = Number(cp.value);
    if (!Number.isSafeInteger(n) || n < 0 || (this.records !== undefined && n > this.records)) {
      throw new DredgeError('DREDGE_ERR_CONFIG', `the checkpoint of ${this.key} says ${JSON.stringify(cp.value)} records were emitted, which this stream cannot have; use --no-resume or a fresh store`);
    }
    return n;
  }

  /** The batches from the resume point on, until `records`, the signal, or (unbounded) forever. */
  async *batches(): AsyncGenerator<RawBatch> {
    const { clock, signal, rate } = this;
    const t0 = clock.now();
    const first = this.sent;
    // Paced: a whole batch goes out as soon as it is due; less than that once this point (ms after t0,
    // on the TICK_MS grid) has passed, so records wait at most a tick.
    let deadline = TICK_MS;
    for (;;) {
      if (signal?.aborted === true) return;
      let n = this.batchRecords;
      if (this.records !== undefined) n = Math.min(n, this.records - this.sent);
      if (n <= 0) return;
      if (rate !== undefined) {
        // Due since the start of this run, whatever the sleeps overshot: no drift.
        const elapsed = clock.now() - t0;
        const due = Math.floor((rate * elapsed) / 1000) - (this.sent - first);
        if (due < n) {
          if (due > 0 && elapsed >= deadline) n = due;
          else {
            // Until a whole batch is due, or the deadline (not before the next record is due).
            const whole = ((this.sent - first + n) * 1000) / rate;
            const next = ((this.sent - first + 1) * 1000) / rate;
            await clock.sleep(Math.max(1, Math.min(whole, Math.max(deadline, next)) - elapsed), signal);
            continue;
          }
        }
        deadline = (Math.floor(elapsed / TICK_MS) + 1) * TICK_MS;
      }
      yield this.batch(n);
      // The consumer's submit() resolves at once while the pool has room, and making lines is
      // synchronous: without a turn of the event loop here, worker results, flush timers and signals
      // would wait until the pool was full (or, for a short stream, until the end: one flush).
      await nextTurn();
    }
  }

  private batch(n: number): RawBatch {
    const parts = new Array<string>(n);
    for (let i = 0; i < n; i++) parts[i] = this.gen.line();
    const text = parts.join('\n') + '\n';
    // Lines are ASCII: one byte per character, written straight into the shared buffer.
    const sab = new SharedArrayBuffer(text.length);
    Buffer.from(sab).write(text, 'latin1');
    this.sent += n;
    return { bytes: new Uint8Array(sab), source: this.key, position: { key: this.key, value: String(this.sent), identity: this.identity } };
  }
}
