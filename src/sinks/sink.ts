// The sink contract (DESIGN.md §4–5, STYLE.md §2): a sink takes one flush's rollup deltas and resolves
// `write` only once they are durable (that resolution is the acknowledgement); the pipeline moves
// checkpoints only after it. A rejected `write` says whether a retry can help (`DredgeError.retriable`).
// The real sinks (DuckDB, Druid) implement the same interface; this issue ships memory and NDJSON.

import type { RollupBatch } from '../aggregate/rollups.js';

/** Where a source has got to. Opaque to the pipeline; each source reads back its own. */
export interface SourcePosition {
  /** The stream this position belongs to: a file path, a Kinesis shard id, `generator:<seed>`. */
  key: string;
  /** File: byte offset after the last complete line; Kinesis: sequence number (decimal); generator: records emitted. */
  value: string;
  /** What the position is only valid for: a file's identity (device, inode, size at open) so a replaced file is not resumed mid-way; the generator's stream shape (start, span, --records), so another stream of the same seed is refused. */
  identity?: string;
}

export interface Sink {
  readonly name: string;
  /** Delivers one flush. Resolves when durable; rejects with a DredgeError otherwise. */
  write(batch: RollupBatch): Promise<void>;
  /**
   * `--rollup none`: one flush's enriched flows as NDJSON chunks (each chunk whole lines). Sinks that
   * cannot take flows leave it out, and the run refuses `--rollup none` with them.
   */
  writeFlows?(flush: { seq: number; chunks: readonly Uint8Array[]; positions: readonly SourcePosition[] }): Promise<void>;
  /**
   * Whether a write could succeed now (the daemon's readiness, the operator's first question): checks
   * the destination without writing rows. Resolves `ok: false` with what is wrong; never throws. Every
   * shipped sink has it (the compliance suite checks); test and benchmark doubles may leave it out.
   */
  health?(): Promise<SinkHealth>;
  /** Flushes and releases resources; after close, write rejects. */
  close(): Promise<void>;
}

export interface SinkHealth {
  ok: boolean;
  /** What was checked, or what is wrong and what to do. */
  detail: string;
}

/** Where source positions are kept between runs (DESIGN.md §9: owned by the pipeline, used by every source). */
export interface CheckpointStore {
  load(): Promise<Map<string, SourcePosition>>;
  /** Saves these positions (others kept). Atomic: after a crash either the old or the new set is read back. */
  save(positions: readonly SourcePosition[]): Promise<void>;
}
