// In-memory sink for tests and the demo: keeps every acknowledged flush as row objects (rollupRow),
// with the positions and late counts it carried, and answers sums over them. Rows are copied out of
// the batch when `write` is called, so the caller may reuse the batch's arrays once it resolves.
//
// Test knobs: `delayMs` makes every write take that long (a slow sink, for flow-control tests;
// `maxInFlight` then shows how many writes the caller let overlap), and `failNext(err)` makes the next
// write reject with `err` and store nothing (queued: two calls fail the next two writes).

import { DredgeError } from '../errors.js';
import { rollupRow, type LateCounts, type RollupBatch } from '../aggregate/rollups.js';
import { SINK_WRITE } from './ndjson.js';
import type { Sink, SinkHealth, SourcePosition } from './sink.js';

export type RollupRowObject = Record<string, string | number | null>;

export interface Metrics {
  flows: number;
  packets: number;
  bytes: number;
}

/** One acknowledged write. */
export interface MemoryWrite {
  seq: number;
  rows: RollupRowObject[];
  positions: SourcePosition[];
  late: LateCounts;
}

export interface MemorySinkOptions {
  name?: string;
  /** Every write resolves (or rejects) this many milliseconds after it is called. */
  delayMs?: number;
}

export class MemorySink implements Sink {
  readonly name: string;
  /** Acknowledged writes, in acknowledgement order. */
  readonly batches: MemoryWrite[] = [];
  /** Calls to `write` (rejected ones included). */
  attempts = 0;
  /** Rejected writes. */
  failures = 0;
  /** Writes called and not yet settled, now and at most so far. */
  inFlight = 0;
  maxInFlight = 0;
  private readonly delayMs: number;
  private readonly injected: Error[] = [];
  private readonly pending = new Set<Promise<void>>();
  private closed = false;

  constructor(options: MemorySinkOptions = {}) {
    this.name = options.name ?? 'memory';
    this.delayMs = options.delayMs ?? 0;
  }

  /** Acknowledged writes so far. */
  get writes(): number {
    return this.batches.length;
  }

  /** The next write rejects with `err` (default: a retriable DREDGE_ERR_SINK_WRITE) and stores nothing. */
  failNext(err: Error = new DredgeError(SINK_WRITE, `${this.name} sink: injected failure`, { retriable: true })): void {
    this.injected.push(err);
  }

  write(batch: RollupBatch): Promise<void> {
    this.attempts++;
    if (this.closed) {
      this.failures++;
      return Promise.reject(
        new DredgeError(SINK_WRITE, `${this.name} sink is closed: write called after close (a pipeline bug; please report it)`),
      );
    }
    const failure = this.injected.shift();
    // Copy now: the caller owns the batch again as soon as the write resolves.
    const entry: MemoryWrite | null =
      failure === undefined
        ? {
            seq: batch.seq,
            rows: Array.from({ length: batch.rows }, (_, i) => rollupRow(batch, i)),
            positions: batch.positions.map((p) => ({ ...p })),
            late: { ...batch.late },
          }
        : null;
    this.inFlight++;
    if (this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight;
    const p = (this.delayMs > 0 ? new Promise<void>((resolve) => setTimeout(resolve, this.delayMs)) : Promise.resolve()).then(() => {
      this.inFlight--;
      if (entry === null) {
        this.failures++;
        throw failure;
      }
      this.batches.push(entry);
    });
    const settled = p.catch(() => undefined);
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
    return p;
  }

  /** Waits for writes in flight; later writes reject. */
  async health(): Promise<SinkHealth> {
    return this.closed ? { ok: false, detail: 'memory sink closed' } : { ok: true, detail: 'memory sink' };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.pending);
  }

  /** Every stored row, in write order. */
  rows(): RollupRowObject[] {
    return this.batches.flatMap((b) => b.rows);
  }

  /** Positions by key over all acknowledged writes (a later write wins). */
  positions(): Map<string, SourcePosition> {
    const out = new Map<string, SourcePosition>();
    for (const b of this.batches) for (const p of b.positions) out.set(p.key, p);
    return out;
  }

  /** Late counts summed over all writes. */
  late(): LateCounts {
    const out = { flows: 0, packets: 0, bytes: 0 };
    for (const b of this.batches) {
      out.flows += b.late.flows;
      out.packets += b.late.packets;
      out.bytes += b.late.bytes;
    }
    return out;
  }

  /** flows / packets / bytes over every stored row. */
  totals(): Metrics {
    const out = { flows: 0, packets: 0, bytes: 0 };
    for (const b of this.batches) for (const r of b.rows) addRow(out, r);
    return out;
  }

  /**
   * Sums per key: the map key is JSON.stringify of the row's values for `keys`, in that order
   * (`window_start` counts as a key when listed; a missing key reads as null).
   */
  sumBy(keys: readonly string[]): Map<string, Metrics> {
    const out = new Map<string, Metrics>();
    for (const b of this.batches) {
      for (const r of b.rows) {
        const k = JSON.stringify(keys.map((name) => r[name] ?? null));
        let m = out.get(k);
        if (m === undefined) out.set(k, (m = { flows: 0, packets: 0, bytes: 0 }));
        addRow(m, r);
      }
    }
    return out;
  }
}

function addRow(m: Metrics, r: RollupRowObject): void {
  m.flows += r.flows as number;
  m.packets += r.packets as number;
  m.bytes += r.bytes as number;
}
