// The index in a run: heartbeat candidates from the workers go into the builder, and every refresh
// interval a new generation is frozen (retention counted back from the flow watermark, DESIGN.md §9)
// and handed to the pipeline, which dispatches later batches with it. Batches in flight keep the
// generation they were dispatched with.

import type { IndexBuilder } from '../index/builder.js';
import { HB_CERTAIN, HB_INSTANCE, type HeartbeatCandidates } from '../worker/heartbeats.js';
import type { Pipeline } from './pipeline.js';

export interface IndexRefreshStats {
  candidates: number;
  recorded: number;
  skippedV6: number;
  generations: number;
  lastFreezeMs: number;
}

export class IndexRefresh {
  readonly stats: IndexRefreshStats = { candidates: 0, recorded: 0, skippedV6: 0, generations: 0, lastFreezeMs: 0 };
  private sinceFreeze = 0;
  private readonly decoder = new TextDecoder();

  constructor(private readonly builder: IndexBuilder) {}

  /** Feeds one batch's candidates to the builder (the pipeline's `onHeartbeats`). */
  apply(c: HeartbeatCandidates): void {
    this.stats.candidates += c.count;
    this.stats.skippedV6 += c.skippedV6;
    for (let i = 0; i < c.count; i++) {
      const o = i * 6;
      const flags = c.ints[o + 3] as number;
      const off = c.ints[o + 4] as number;
      const id = this.decoder.decode(c.bytes.slice(off, off + (c.ints[o + 5] as number)));
      const eni = (flags & HB_INSTANCE) === 0 ? id : null;
      const inst = (flags & HB_INSTANCE) !== 0 ? id : null;
      const ip = (c.ints[o] as number) >>> 0;
      const start = c.times[i * 2] as number;
      const end = c.times[i * 2 + 1] as number;
      const ok = (flags & HB_CERTAIN) !== 0 ? this.builder.observe(ip, start, end, eni, inst) : this.builder.observeIfLocal(ip, start, end, eni, inst);
      if (ok) {
        this.stats.recorded++;
        this.sinceFreeze++;
      }
    }
  }

  /** Freezes a new generation for the pipeline when heartbeats arrived since the last one. */
  refresh(pipeline: Pipeline): boolean {
    if (this.sinceFreeze === 0) return false;
    const w = pipeline.watermark;
    const { view, stats } = this.builder.freeze(Number.isFinite(w) ? { watermark: w } : { watermark: -Infinity });
    this.sinceFreeze = 0;
    this.stats.generations++;
    this.stats.lastFreezeMs = stats.freezeMs;
    pipeline.setIndex(view);
    return true;
  }
}
