// The Kinesis stream source (issue #5): finds the stream's shards, runs one ShardConsumer per shard
// (shard-consumer.ts has the state machine), hands every page to the pipeline as a KinesisBatch and
// takes checkpoints back, the KCL way for a single process (DESIGN.md §5, §6, §9).
//
// Shards and lineage: ListShards (every page, NextToken until none) at start and every
// `discoverIntervalMs`, and at once when a shard is read to its end so its children are found. A child
// (split: one parent; merge: a parent and an adjacent parent) stays in WAITING_ON_PARENTS until every
// parent's SHARD_END position has been checkpointed (`checkpointed()`, called by the owner after a
// flush is durable) or the parent is gone from ListShards (aged out of retention): so records of one
// hash key range are never read out of order, and a crash between a parent's end and its checkpoint
// re-reads the parent's tail, not the child. A shard with a checkpoint of its own has had its parents
// done before, and starts at once.
//
// Starting position: the checkpoint (AFTER_SEQUENCE_NUMBER; 'SHARD_END' = finished, skipped), else
// `from`. With `from: 'latest'`, a shard found after the first listing, or one whose parent is read
// from a checkpoint or from the trim horizon, starts at TRIM_HORIZON instead: every record it holds was
// written after this run began reading its lineage, and LATEST would lose them.
//
// Caught up (`stopWhenCaughtUp`, DESIGN.md §9): every closed shard reached SHARD_END (children
// included), every open shard's last page was empty with MillisBehindLatest 0, and a listing finished
// after the last shard end (so no child is unknown). Then the consumers stop and run() resolves.

import { type KinesisClient, ListShardsCommand, type ListShardsCommandOutput, type Shard } from '@aws-sdk/client-kinesis';
import type { SourcePosition } from '../../sinks/sink.js';
import { DredgeError } from '../../errors.js';
import { type Backoff, GaveUp, errorName, retrying, sleep } from './retry.js';
import { type ConsumerHost, DEFAULT_PACING, type KinesisBatch, type Pacing, SHARD_END, ShardConsumer, type ShardState, type StartPosition, fatalError } from './shard-consumer.js';

export type { KinesisBatch, ShardState } from './shard-consumer.js';

export interface KinesisSourceOptions {
  client: KinesisClient;
  stream: string;
  /** Where a shard without a checkpoint starts (DESIGN.md §9: `--from` applies only to those). */
  from: 'trim-horizon' | 'latest' | Date;
  /** Loaded checkpoints; keys that are not shard ids of this stream are ignored. */
  positions: Map<string, SourcePosition>;
  /** Resolve run() once caught up (DESIGN.md §9). */
  stopWhenCaughtUp?: boolean;
  /** ListShards again every this many ms for new child shards (default 10,000). */
  discoverIntervalMs?: number;
  /** GetRecords `Limit` (default and AWS maximum 10,000). */
  maxRecordsPerCall?: number;
  /** A shard's SHARD_END batch was submitted; the owner should flush soon so its children can start. */
  onShardEnd?: (shardId: string) => void;
  log?: (msg: string) => void;
  /** Per-shard pacing and backoff (defaults: AWS's per-shard limits; tests shorten them). */
  pacing?: Partial<Omit<Pacing, 'maxRecordsPerCall' | 'backoff'>> & { backoff?: Backoff };
  /** Every state transition of every shard (tests, debugging). */
  trace?: (shardId: string, from: ShardState, to: ShardState) => void;
}

export interface ShardStatus {
  id: string;
  /** Parent and adjacent parent (a merge), as ListShards reports them. */
  parents: string[];
  /** The shard has an ending sequence number (split or merged away). */
  closed: boolean;
  state: ShardState;
  /** From the last GetRecords page; null before the first. */
  millisBehindLatest: number | null;
  records: number;
  bytes: number;
  batches: number;
  /** Last sequence number handed to the pipeline (decimal), null if none this run. */
  lastSequence: string | null;
  /** Last durable checkpoint (a sequence number or 'SHARD_END'), null if none. */
  checkpoint: string | null;
  getRecordsCalls: number;
  throttles: number;
  transientErrors: number;
  expiredIterators: number;
}

interface ShardInfo {
  id: string;
  parents: string[];
  closed: boolean;
  /** Found by the first listing of this run. */
  initial: boolean;
  consumer: ShardConsumer;
  endAnnounced: boolean;
}

const LIST_PAGE = 1000;

export class KinesisSource {
  private readonly o: KinesisSourceOptions;
  private readonly pacing: Pacing;
  private readonly discoverIntervalMs: number;
  private readonly infos = new Map<string, ShardInfo>();
  /** Ids in the latest listing. */
  private listed = new Set<string>();
  private listings = 0;
  /** Shards whose SHARD_END position is durable (loaded or reported through checkpointed()). */
  private readonly endCheckpointed = new Set<string>();
  private readonly checkpoints = new Map<string, string>();
  private readonly abort = new AbortController();
  private waiters: (() => void)[] = [];
  private wakeDiscovery: (() => void) | null = null;
  /** Shard ends seen, and the count a finished listing had seen when it started. */
  private endGen = 0;
  private listedEndGen = 0;
  private readonly loops = new Set<Promise<void>>();
  private fatal: unknown = null;
  private submitFn: ((b: KinesisBatch) => Promise<void>) | null = null;
  private finished: Promise<void> | null = null;
  private caughtUp = false;
  private readonly host: ConsumerHost;

  constructor(o: KinesisSourceOptions) {
    if (o.stream === '') throw new DredgeError('DREDGE_ERR_CONFIG', 'the Kinesis stream name is empty; give --kinesis <stream>');
    this.o = o;
    const limit = o.maxRecordsPerCall ?? DEFAULT_PACING.maxRecordsPerCall;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new DredgeError('DREDGE_ERR_CONFIG', `records per GetRecords call must be a whole number from 1 to 10000, got ${limit}`);
    this.pacing = { ...DEFAULT_PACING, ...o.pacing, maxRecordsPerCall: limit, backoff: o.pacing?.backoff ?? DEFAULT_PACING.backoff };
    this.discoverIntervalMs = o.discoverIntervalMs ?? 10_000;
    if (!(this.discoverIntervalMs > 0)) throw new DredgeError('DREDGE_ERR_CONFIG', `the shard discovery interval must be > 0 ms, got ${this.discoverIntervalMs}`);
    if (o.from instanceof Date && Number.isNaN(o.from.getTime())) throw new DredgeError('DREDGE_ERR_CONFIG', '--from is not a valid time; give trim-horizon, latest or an ISO-8601 time');
    this.host = {
      client: o.client,
      stream: o.stream,
      pacing: this.pacing,
      signal: this.abort.signal,
      parentsDone: (id) => this.parentsDone(id),
      changed: () => new Promise<void>((resolve) => this.waiters.push(resolve)),
      submit: (b) => (this.submitFn as (b: KinesisBatch) => Promise<void>)(b),
      progress: (c) => this.progress(c),
      log: (m) => this.log(m),
      trace: o.trace,
    };
    for (const [key, p] of o.positions) {
      this.checkpoints.set(key, p.value);
      if (p.value === SHARD_END) this.endCheckpointed.add(key);
    }
  }

  /**
   * Reads until stop() or, with stopWhenCaughtUp, until caught up; `submit` is awaited (backpressure),
   * called one batch at a time per shard in sequence order. Rejects with a DredgeError when a shard
   * meets a non-retriable error (after the other shards stopped) or when `submit` rejects.
   */
  run(submit: (b: KinesisBatch) => Promise<void>): Promise<void> {
    if (this.finished !== null) throw new DredgeError('DREDGE_ERR_INTERNAL', 'KinesisSource.run() was called twice; make a new source');
    this.submitFn = submit;
    this.finished = this.main();
    return this.finished;
  }

  /** The owner made these positions durable: a parent's SHARD_END here releases its children. */
  checkpointed(positions: readonly SourcePosition[]): void {
    let changed = false;
    for (const p of positions) {
      if (!this.infos.has(p.key) && !this.checkpoints.has(p.key)) continue;
      this.checkpoints.set(p.key, p.value);
      if (p.value === SHARD_END && !this.endCheckpointed.has(p.key)) {
        this.endCheckpointed.add(p.key);
        changed = true;
      }
    }
    if (changed) this.notify();
  }

  /** Stops reading: calls in flight finish, the pages they bring are dropped, submits in flight finish. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.notify();
    if (this.finished !== null) await this.finished.catch(() => undefined);
  }

  shards(): ShardStatus[] {
    return [...this.infos.values()].map((s) => {
      const c = s.consumer;
      return {
        id: s.id,
        parents: [...s.parents],
        closed: s.closed,
        state: c.state,
        millisBehindLatest: c.millisBehindLatest,
        records: c.counters.records,
        bytes: c.counters.bytes,
        batches: c.counters.batches,
        lastSequence: c.lastSequence,
        checkpoint: this.checkpoints.get(s.id) ?? null,
        getRecordsCalls: c.counters.getRecordsCalls,
        throttles: c.counters.throttles,
        transientErrors: c.counters.transientErrors,
        expiredIterators: c.counters.expiredIterators,
      };
    });
  }

  /** Reached the caught-up condition (only evaluated with stopWhenCaughtUp). */
  get isCaughtUp(): boolean {
    return this.caughtUp;
  }

  private async main(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.abort.signal.addEventListener('abort', () => resolve(), { once: true }));
    try {
      await this.discover();
    } catch (e) {
      this.abort.abort();
      throw e;
    }
    const discovery = this.discoveryLoop();
    this.checkCaughtUp();
    await stopped;
    this.notify();
    this.wakeDiscovery?.();
    await discovery;
    while (this.loops.size > 0) await Promise.all([...this.loops]);
    if (this.fatal !== null) throw this.fatal;
  }

  private log(msg: string): void {
    this.o.log?.(`kinesis ${this.o.stream}: ${msg}`);
  }

  private fail(e: unknown): void {
    if (this.fatal === null) this.fatal = e;
    this.abort.abort();
    this.notify();
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async discoveryLoop(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        this.wakeDiscovery = resolve;
        void sleep(this.discoverIntervalMs, signal).then(() => resolve());
      });
      this.wakeDiscovery = null;
      if (signal.aborted) break;
      try {
        await this.discover();
      } catch (e) {
        this.fail(e);
        break;
      }
      this.checkCaughtUp();
    }
  }

  /** One full listing (every page); adds and starts consumers for shards not seen before. */
  private async discover(): Promise<void> {
    const endGen = this.endGen;
    const found: Shard[] = [];
    let token: string | undefined;
    let restarts = 0;
    do {
      let out: ListShardsCommandOutput | null;
      try {
        const input = token === undefined ? { StreamName: this.o.stream, MaxResults: LIST_PAGE } : { NextToken: token, MaxResults: LIST_PAGE };
        out = await retrying(() => this.o.client.send(new ListShardsCommand(input)), {
          backoff: this.pacing.backoff,
          maxTransientRetries: this.pacing.maxTransientRetries,
          signal: this.abort.signal,
          onTransient: (e, n) => this.log(`ListShards failed (${errorName(e)}); retry ${n} of ${this.pacing.maxTransientRetries}`),
        });
      } catch (e) {
        if (e instanceof GaveUp && errorName(e.cause) === 'ExpiredNextTokenException' && restarts++ < 3) {
          // A listing that took over 5 minutes between pages: start it over.
          found.length = 0;
          token = undefined;
          continue;
        }
        if (e instanceof GaveUp) {
          throw e.kind === 'fatal'
            ? fatalError(e.cause, this.o.stream, null, 'ListShards')
            : new DredgeError('DREDGE_ERR_INPUT', `Kinesis ListShards for stream ${this.o.stream} failed ${e.attempts} times in a row (last: ${e.message}); check --endpoint/--region and the network path`, { retriable: true, cause: e.cause });
        }
        throw e;
      }
      if (out === null) return; // stopped
      found.push(...(out.Shards ?? []));
      token = out.NextToken;
    } while (token !== undefined);

    const first = this.listings === 0;
    this.listings++;
    this.listed = new Set(found.map((s) => s.ShardId ?? ''));
    const added: ShardInfo[] = [];
    for (const s of found) {
      const id = s.ShardId;
      if (id === undefined) continue;
      const closed = s.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      const known = this.infos.get(id);
      if (known !== undefined) {
        known.closed = closed;
        continue;
      }
      const parents = [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => p !== undefined && p !== '');
      const info = { id, parents, closed, initial: first, endAnnounced: false } as ShardInfo;
      this.infos.set(id, info);
      added.push(info);
    }
    // Start positions after the whole listing is in, since a child's depends on its parents'.
    for (const info of added) info.consumer = new ShardConsumer(this.host, info.id, info.parents, this.startOf(info));
    for (const info of added) {
      const loop = info.consumer.run().catch((e: unknown) => this.fail(e));
      this.loops.add(loop);
      void loop.finally(() => this.loops.delete(loop));
    }
    if (added.length > 0 || first) {
      const open = found.filter((s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined).length;
      this.log(`${found.length} shards (${open} open)${first ? '' : `; new: ${added.map((i) => i.id).join(', ')}`}`);
    }
    this.listedEndGen = endGen;
    this.notify(); // a parent gone from the listing releases its children
  }

  private startOf(info: ShardInfo): StartPosition {
    const cp = this.checkpoints.get(info.id);
    if (cp !== undefined) {
      if (cp === SHARD_END) return { type: SHARD_END };
      if (!/^\d{1,128}$/.test(cp)) throw new DredgeError('DREDGE_ERR_CONFIG', `the checkpoint of Kinesis shard ${info.id} is "${cp}", not a sequence number or SHARD_END; fix or remove it in the checkpoint store`);
      return { type: 'AFTER_SEQUENCE_NUMBER', sequence: BigInt(cp).toString() };
    }
    const from = this.o.from;
    if (from instanceof Date) return { type: 'AT_TIMESTAMP', timestamp: from };
    if (from === 'trim-horizon') return { type: 'TRIM_HORIZON' };
    if (!info.initial) return { type: 'TRIM_HORIZON' };
    for (const p of info.parents) {
      const parent = this.infos.get(p);
      if (parent?.consumer !== undefined && parent.consumer.start.type !== 'LATEST') return { type: 'TRIM_HORIZON' };
    }
    return { type: 'LATEST' };
  }

  private parentsDone(id: string): boolean {
    const info = this.infos.get(id);
    if (info === undefined) return true;
    const own = this.checkpoints.get(id);
    if (own !== undefined) return true;
    return info.parents.every((p) => this.endCheckpointed.has(p) || !this.listed.has(p));
  }

  private checkCaughtUp(): void {
    if (this.o.stopWhenCaughtUp !== true || this.caughtUp || this.abort.signal.aborted || this.listings === 0) return;
    if (this.listedEndGen !== this.endGen) return;
    for (const s of this.infos.values()) {
      const c = s.consumer;
      if (c.ended) continue;
      if (!s.closed && c.state === 'PROCESSING' && c.atTip) continue;
      return;
    }
    this.caughtUp = true;
    this.log('caught up: every closed shard read to SHARD_END, every open shard at its tip; stopping');
    this.abort.abort();
    this.notify();
  }

  private progress(c: ShardConsumer): void {
    const info = this.infos.get(c.id);
    if (info !== undefined && c.ended && !info.endAnnounced) {
      info.endAnnounced = true;
      if (c.start.type !== SHARD_END) {
        this.endGen++;
        this.wakeDiscovery?.();
        this.o.onShardEnd?.(c.id);
      }
    }
    this.checkCaughtUp();
  }
}
