// The daemon's Prometheus metrics (issue #7 "Operations", DESIGN.md §8): one prom-client Registry of its
// own (never the global one), the default process metrics (RSS, heap, event-loop lag, GC), and dredge's
// metrics. Nothing here runs on the hot path: every dredge metric is read on scrape, from callbacks
// that return the counters the pipeline, the Kinesis source, the sink and the index already keep.
//
//   scrape ─▶ registry.metrics() ─▶ each metric's collect(): providers() → set / reset+inc / observe
//
// Counters are set to the provider's cumulative value (reset, then inc by it), so a provider that
// starts again from zero (a new Pipeline) reads as a counter reset, which Prometheus handles.
// Latency histograms are fed from the pipeline's sample arrays: each scrape observes only the samples
// appended since the previous one (a cursor into the array). The pipeline stops appending once an array
// holds 100,000 samples, so by default the samples a scrape has observed are removed from the array
// once it is half full (`trimSamples`); with `trimSamples: false` the arrays are left alone and the
// histograms stop growing at the cap.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CheckpointStore, SourcePosition } from '../sinks/sink.js';
import type { ShardStatus } from '../sources/kinesis/stream-source.js';
import type { PipelineStats } from './pipeline.js';

/** Where the numbers come from; each is called on scrape only. Any may be absent. */
export interface MetricsProviders {
  /** The running pipeline's counters; null before it exists (its metrics then read 0). */
  pipeline: () => PipelineStats | null;
  /** KinesisSource.shards(). */
  shards?: () => ShardStatus[];
  /** The index generation in use and its buffer's size; absent: the generation from the pipeline, no size. */
  index?: () => { generation: number; bytes: number };
  /** The sink's own counters (every shipped sink's `stats` has these; DuckDB's also has writeMs). */
  sink?: () => { writes: number; errors: number; writeMs?: number };
  /** Unix ms of the last acknowledged flush; absent: the scrape that first saw `flushes` move stamps it. */
  lastFlushMs?: () => number | null;
  /** Unix ms of the last checkpoint saved (timedCheckpoints gives one). */
  lastCheckpointMs?: () => number | null;
}

export interface DredgeMetricsOptions {
  /** Process metrics (process_resident_memory_bytes, nodejs_*); default true. */
  defaultMetrics?: boolean;
  /** Remove observed latency samples from the pipeline's arrays (see the module comment); default true. */
  trimSamples?: boolean;
  /** Wall clock in ms (tests). */
  now?: () => number;
}

/** The pipeline's cap on each latency sample array (pipeline.ts LATENCY_SAMPLES). */
export const PIPELINE_SAMPLE_CAP = 100_000;
const TRIM_AT = PIPELINE_SAMPLE_CAP / 2;

/** Feeds a histogram the samples (ms) appended to an array since the previous call. */
export class SampleCursor {
  private arr: number[] | null = null;
  private next = 0;

  constructor(private readonly trim: boolean) {}

  /** Observes arr[next..] in seconds; a different array (a new pipeline) or a shorter one starts over at 0. */
  observeNew(arr: number[] | null | undefined, h: Histogram): void {
    if (arr === null || arr === undefined) return;
    if (arr !== this.arr || arr.length < this.next) {
      this.arr = arr;
      this.next = 0;
    }
    for (let i = this.next; i < arr.length; i++) h.observe((arr[i] as number) / 1000);
    this.next = arr.length;
    if (this.trim && this.next >= TRIM_AT) {
      arr.splice(0, this.next);
      this.next = 0;
    }
  }
}

/** Wraps a checkpoint store to remember when it last saved (for dredge_last_checkpoint_timestamp_seconds). */
export function timedCheckpoints(store: CheckpointStore, now: () => number = Date.now): CheckpointStore & { readonly lastSaveMs: number | null } {
  let last: number | null = null;
  return {
    load: () => store.load(),
    save: async (positions: readonly SourcePosition[]) => {
      await store.save(positions);
      last = now();
    },
    get lastSaveMs() {
      return last;
    },
  };
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const FLUSH_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600];

export class DredgeMetrics {
  readonly registry = new Registry();
  private readonly now: () => number;
  private readonly latency: SampleCursor;
  private readonly flushDelay: SampleCursor;
  private rate: { at: number; flows: number; stats: PipelineStats | null };
  private seenFlushes = 0;
  private seenFlushStats: PipelineStats | null = null;
  private flushSeenMs: number | null = null;

  constructor(
    private readonly p: MetricsProviders,
    opts: DredgeMetricsOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.rate = { at: this.now(), flows: 0, stats: null };
    this.latency = new SampleCursor(opts.trimSamples ?? true);
    this.flushDelay = new SampleCursor(opts.trimSamples ?? true);
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const stats = (): PipelineStats | null => this.p.pipeline();

    // Counters read from the pipeline's cumulative numbers.
    const total = (name: string, help: string, value: (s: PipelineStats) => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          const s = stats();
          this.reset();
          if (s !== null) this.inc(value(s));
        },
      });
    };
    total('dredge_batches_total', 'Batches dispatched to the workers.', (s) => s.batches);
    total('dredge_input_bytes_total', 'Bytes of input handed to the workers (as read: gzip and envelopes included).', (s) => s.bytesIn);
    total('dredge_records_total', 'Flow-log records read (lines, or envelope events).', (s) => s.records);
    total('dredge_flows_total', 'Flows aggregated (records with data, late ones included).', (s) => s.flows);
    total('dredge_flow_bytes_total', 'Traffic bytes carried by the aggregated flows.', (s) => s.bytes);
    total('dredge_flow_packets_total', 'Traffic packets carried by the aggregated flows.', (s) => s.packets);
    total('dredge_malformed_records_total', 'Records that could not be parsed (counted, skipped).', (s) => s.malformed);
    total('dredge_late_flows_total', 'Flows for windows already closed at their batch dispatch (counted, not dropped).', (s) => s.late.flows);
    total('dredge_damaged_batches_total', 'Batches whose bytes were damaged (truncated gzip, bad envelope).', (s) => s.damagedBatches);
    total('dredge_batch_retries_total', 'Batches run again after their worker died.', (s) => s.retried);
    total('dredge_flushes_total', 'Flushes the sink acknowledged.', (s) => s.flushes);
    total('dredge_rows_flushed_total', 'Rollup rows the sink acknowledged.', (s) => s.rowsFlushed);
    total('dredge_sink_write_retries_total', 'Sink writes tried again after a retriable error.', (s) => s.sinkRetries);
    total('dredge_index_js_lookups_total', 'Address lookups (once per flow side) that ran in the index JS path, 3-7x slower than its WebAssembly: DREDGE_WASM=0, no WebAssembly SIMD or shared memory, or every scratch slot of a generation held.', (s) => s.lookupsJs);
    new Counter({
      name: 'dredge_unattributed_total',
      help: 'Flow sides (src, dst) whose address matched no index entry.',
      labelNames: ['side'],
      registers,
      collect() {
        const s = stats();
        this.reset();
        this.inc({ side: 'src' }, s?.unattributedSrc ?? 0);
        this.inc({ side: 'dst' }, s?.unattributedDst ?? 0);
      },
    });

    // The sink's own counters.
    const sink = this.p.sink;
    if (sink !== undefined) {
      new Counter({
        name: 'dredge_sink_writes_total',
        help: 'Writes the sink made durable.',
        registers,
        collect() {
          this.reset();
          this.inc(sink().writes);
        },
      });
      new Counter({
        name: 'dredge_sink_write_errors_total',
        help: 'Sink writes that failed (retried ones included).',
        registers,
        collect() {
          this.reset();
          this.inc(sink().errors);
        },
      });
      new Counter({
        name: 'dredge_sink_write_seconds_total',
        help: 'Time spent inside sink writes.',
        registers,
        collect() {
          this.reset();
          this.inc((sink().writeMs ?? 0) / 1000);
        },
      });
    }

    // Index.
    const index = this.p.index;
    new Gauge({
      name: 'dredge_index_generation',
      help: 'Index generation new batches are enriched with.',
      registers,
      collect() {
        this.set(index !== undefined ? index().generation : (stats()?.generation ?? 0));
      },
    });
    if (index !== undefined) {
      new Gauge({
        name: 'dredge_index_size_bytes',
        help: 'Size of the index generation in use (its shared buffer).',
        registers,
        collect() {
          this.set(index().bytes);
        },
      });
    }

    // Rate over the last scrape interval (rate(dredge_flows_total[…]) is the better query).
    const flowsPerSecond = (st: PipelineStats | null): number => this.flowsPerSecond(st);
    const flushSeen = (st: PipelineStats | null): number | null => this.flushSeen(st);
    const { latency, flushDelay } = this;
    const lastFlushMs = this.p.lastFlushMs;
    new Gauge({
      name: 'dredge_flows_per_second',
      help: 'Flows aggregated per second since the previous scrape (since start on the first).',
      registers,
      collect() {
        this.set(flowsPerSecond(stats()));
      },
    });

    // Latency, from the pipeline's sample arrays.
    new Histogram({
      name: 'dredge_batch_latency_seconds',
      help: 'Batch latency: dispatch to the worker until its partial is merged.',
      buckets: LATENCY_BUCKETS,
      registers,
      collect() {
        latency.observeNew(stats()?.batchLatencyMs, this);
      },
    });
    new Histogram({
      name: 'dredge_flush_delay_seconds',
      help: "Flush delay: a batch's dispatch until the sink acknowledged the flush holding it.",
      buckets: FLUSH_BUCKETS,
      registers,
      collect() {
        flushDelay.observeNew(stats()?.flushDelayMs, this);
      },
    });

    // Times.
    new Gauge({
      name: 'dredge_last_flush_timestamp_seconds',
      help: 'Unix time of the last acknowledged flush; 0 before the first.',
      registers,
      collect() {
        const ms = lastFlushMs !== undefined ? lastFlushMs() : flushSeen(stats());
        this.set(ms === null ? 0 : ms / 1000);
      },
    });
    const cp = this.p.lastCheckpointMs;
    if (cp !== undefined) {
      new Gauge({
        name: 'dredge_last_checkpoint_timestamp_seconds',
        help: 'Unix time of the last checkpoint saved; 0 before the first.',
        registers,
        collect() {
          const ms = cp();
          this.set(ms === null ? 0 : ms / 1000);
        },
      });
    }

    // Kinesis, per shard.
    const shards = this.p.shards;
    if (shards !== undefined) {
      new Gauge({
        name: 'dredge_kinesis_millis_behind_latest',
        help: "MillisBehindLatest of the shard's last GetRecords page (absent before the first).",
        labelNames: ['shard'],
        registers,
        collect() {
          this.reset();
          for (const s of shards()) if (s.millisBehindLatest !== null) this.set({ shard: s.id }, s.millisBehindLatest);
        },
      });
      const perShard = (name: string, help: string, value: (s: ShardStatus) => number): void => {
        new Counter({
          name,
          help,
          labelNames: ['shard'],
          registers,
          collect() {
            this.reset();
            for (const s of shards()) this.inc({ shard: s.id }, value(s));
          },
        });
      };
      perShard('dredge_kinesis_records_total', 'Kinesis records read from the shard.', (s) => s.records);
      perShard('dredge_kinesis_bytes_total', 'Bytes of Kinesis records read from the shard.', (s) => s.bytes);
      perShard('dredge_kinesis_get_records_total', 'GetRecords calls made on the shard.', (s) => s.getRecordsCalls);
      perShard('dredge_kinesis_throttles_total', 'GetRecords calls throttled (ProvisionedThroughputExceeded) on the shard.', (s) => s.throttles);
      perShard('dredge_kinesis_transient_errors_total', 'GetRecords calls that failed with a transient error on the shard.', (s) => s.transientErrors);
      perShard('dredge_kinesis_expired_iterators_total', 'Shard iterators that expired and were fetched again.', (s) => s.expiredIterators);
    }
  }

  /** The registry's content type (Prometheus text 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** One scrape: the exposition text. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  private flowsPerSecond(s: PipelineStats | null): number {
    const at = this.now();
    const flows = s?.flows ?? 0;
    const prev = this.rate;
    this.rate = { at, flows, stats: s };
    // A new pipeline counts from 0.
    const base = prev.stats === s ? prev.flows : 0;
    if (at <= prev.at) return 0;
    return (Math.max(0, flows - base) * 1000) / (at - prev.at);
  }

  private flushSeen(s: PipelineStats | null): number | null {
    if (s === null) return this.flushSeenMs;
    const base = s === this.seenFlushStats ? this.seenFlushes : 0;
    if (s.flushes > base) this.flushSeenMs = this.now();
    this.seenFlushStats = s;
    this.seenFlushes = s.flushes;
    return this.flushSeenMs;
  }
}
