// IndexBuilder: the mutable side of the index (main thread, off the hot path). It collects evidence
// per exact prefix (snapshot rows, change events, AWS ranges, heartbeats), and `freeze()` turns the
// current state into one immutable generation (a SharedArrayBuffer, layout.ts) that workers read with
// IndexView. Nothing shared is mutated after freeze: a later freeze builds a new buffer.
//
// Time: epoch seconds (fractions allowed) throughout. Retention: at freeze, intervals that ended more
// than `horizonSeconds` before the watermark (the caller's flow watermark, else the newest evidence
// time seen) are dropped and the evidence behind them pruned, so memory stays bounded; `null` keeps
// everything (what `dredge index build` does unless --horizon is given, DESIGN.md §9).

import { DredgeError } from '../errors.js';
import type { FlowBatch } from '../parse/flow-batch.js';
import { parseIpString } from '../parse/ip.js';
import { ScratchArrays } from '../typed.js';
import { allocate, type Counts, F_BUILT_AT_MS, F_CUTOFF, F_KNOWN_UNTIL, F_NEWEST_TIME, F_TL_ORIGIN, H_INTERVALS, H_META_RECORDS, H_PREFIXES, H_V4_PREFIXES, H_V4_ROOT, H_V6_ROOT, sectionBytes, SLOT_LIST, SLOT_LIST32, SLOT_PREFIX, SRC_AWS, SRC_EVENT, SRC_HEARTBEAT, SRC_SNAPSHOT, TL_KEY_LIM } from './layout.js';
import { IndexView, RESULT_CONFLICT } from './lookup.js';
import { placeBlocks, rangeSlotPayload, refAt, timelineForms, writeRangeBlocks, writeTimelines } from './blocks.js';
import { flattenTimelines } from './flatten.js';
import { type MetaInput, MetaInterner } from './meta.js';
import { maskedV4, maskedV6, type Prefix, prefixKey, readWord, requirePrefix } from './prefix.js';
import { type EventEvidence, RESOLVED_CONFLICT, Resolved, resolveTimeline, type SpanEvidence } from './timeline.js';
import { buildV4Trie, buildV6Trie, I32Buf, U32Buf, v4Ranges, v6Ranges } from './trie-build.js';

export const DEFAULT_HORIZON_SECONDS = 2 * 3600;

/** Where a piece of evidence came from (shown by `dredge index inspect`). */
export interface Origin {
  file: string;
  line: number;
}

export interface SnapshotRow {
  /** null only for rows that just map an interface/instance to its owner. */
  cidr: string | null;
  meta: MetaInput;
  validFrom?: number | null;
  validTo?: number | null;
  origin?: Origin;
}

export interface ChangeEvent {
  time: number;
  type: 'assign' | 'release';
  cidr: string;
  meta: MetaInput;
  origin?: Origin;
}

export interface AwsPrefix {
  cidr: string;
  service: string;
  region: string;
  origin?: Origin;
}

export interface BuilderOptions {
  /** Retention horizon in seconds; null keeps everything. Default 2 h. */
  horizonSeconds?: number | null;
  /**
   * How late change events may arrive. When set, intervals inferred from events end at
   * (newest event time − lateness): after that a late event may still change the answer, so the
   * index says `gap` rather than guess. null (default): the events given are complete.
   */
  eventLatenessSeconds?: number | null;
}

export interface FreezeOptions {
  /** Retention counts back from here (the flow watermark in a run); default: newest evidence time. */
  watermark?: number;
  /** Overrides the known-until time derived from eventLatenessSeconds. */
  knownUntil?: number;
}

export interface FreezeStats {
  generation: number;
  prefixes: number;
  v4Prefixes: number;
  v6Prefixes: number;
  intervals: number;
  conflictIntervals: number;
  metaRecords: number;
  /** Both buffers (what `index.bin` holds). */
  bytes: number;
  /** The hot buffer alone: what workers share and what each generation kept alive by batches in flight costs. */
  lookupBytes: number;
  sections: Record<string, number>;
  cutoff: number;
  knownUntil: number;
  newestTime: number;
  pruned: { events: number; spans: number; prefixes: number };
  freezeMs: number;
}

export interface BuilderCounters {
  snapshotRows: number;
  events: number;
  awsPrefixes: number;
  heartbeats: number;
  /** Heartbeats whose interface/instance no snapshot row maps to an owner. */
  heartbeatsUnmapped: number;
  /** Heartbeats whose interface/instance maps to more than one owner. */
  heartbeatsAmbiguous: number;
  /** FlowBatch rows that could not say which side is local. */
  heartbeatsNoLocalSide: number;
}

// Per exact prefix. A million of these live as long as the builder, so each is kept small (1M /32s
// with one assign each: 457 → 252 bytes of builder heap per prefix, BENCHMARKS.md "index"): an IPv4
// prefix is its two numbers, not a Prefix object; no evidence is one shared frozen empty list (a push
// to it throws, so a missed call site fails loudly); the first piece of evidence makes a one-element
// list, where `[].push` would reserve 17 slots.
interface KeyState {
  /** IPv4: the masked address and length (p6 null); IPv6: p6 (w0 and len copied from it). */
  w0: number;
  len: number;
  p6: Prefix | null;
  events: EventEvidence[];
  spans: SpanEvidence[];
  /** AWS service candidates for this exact prefix (resolved at freeze). */
  aws: AwsPrefix[] | null;
}

const NO_EVENTS = Object.freeze([]) as readonly EventEvidence[] as EventEvidence[];
const NO_SPANS = Object.freeze([]) as readonly SpanEvidence[] as SpanEvidence[];

function newState(p: Prefix): KeyState {
  return { w0: p.w0, len: p.len, p6: p.family === 6 ? p : null, events: NO_EVENTS, spans: NO_SPANS, aws: null };
}

function prefixOf(st: KeyState): Prefix {
  return st.p6 ?? maskedV4(st.w0, st.len);
}

function pushEvent(st: KeyState, e: EventEvidence): void {
  if (st.events.length === 0) st.events = [e];
  else st.events.push(e);
}

function pushSpan(st: KeyState, s: SpanEvidence): void {
  if (st.spans.length === 0) st.spans = [s];
  else st.spans.push(s);
}

const AMBIGUOUS = -1;

export class IndexBuilder {
  readonly meta = new MetaInterner();
  readonly horizonSeconds: number | null;
  readonly eventLatenessSeconds: number | null;
  readonly counters: BuilderCounters = { snapshotRows: 0, events: 0, awsPrefixes: 0, heartbeats: 0, heartbeatsUnmapped: 0, heartbeatsAmbiguous: 0, heartbeatsNoLocalSide: 0 };
  private readonly v4 = new Map<number, KeyState>();
  private readonly v6 = new Map<string, KeyState>();
  /** `eni:<id>` / `inst:<id>` → record id of its owner (AMBIGUOUS when rows disagree). */
  private readonly ifaceOwner = new Map<string, number>();
  /** `eni:<id>` / `inst:<id>` → prefix keys the snapshot gives it (for the no-flow-direction rule). */
  private readonly ifaceAddrs = new Map<string, Set<string>>();
  private newestEvent = -Infinity;
  private newestEvidence = -Infinity;
  private generation = 0;
  /** Intervals of the last freeze (sizes the next one's scratch). */
  private lastIntervals = 0;
  /** freeze()'s temporaries and interval list, kept for the next freeze (see ScratchArrays). */
  private readonly scratch = new ScratchArrays();
  private resolved: Resolved | null = null;
  private trieBufs: { nodes: I32Buf; l4Start: U32Buf; l4Pfx: I32Buf; l4Lists: I32Buf; l6Start: U32Buf; l6Pfx: I32Buf; l6Lists: I32Buf } | null = null;

  constructor(opts: BuilderOptions = {}) {
    this.horizonSeconds = opts.horizonSeconds === undefined ? DEFAULT_HORIZON_SECONDS : opts.horizonSeconds;
    this.eventLatenessSeconds = opts.eventLatenessSeconds ?? null;
  }

  private origin(o: Origin | undefined, fallback: string): number {
    if (o === undefined) return this.meta.str(fallback) * 2 ** 32;
    return this.meta.str(o.file) * 2 ** 32 + Math.max(0, o.line);
  }

  private state(p: Prefix): KeyState {
    if (p.family === 4) {
      const k = p.w0 * 64 + p.len;
      let s = this.v4.get(k);
      if (s === undefined) {
        s = newState(p);
        this.v4.set(k, s);
      }
      return s;
    }
    const k = prefixKey(p);
    let s = this.v6.get(k);
    if (s === undefined) {
      s = newState(p);
      this.v6.set(k, s);
    }
    return s;
  }

  private where(o: Origin | undefined): string {
    return o === undefined ? 'input' : `${o.file}:${o.line}`;
  }

  addSnapshotRow(row: SnapshotRow): void {
    this.counters.snapshotRows++;
    const metaId = this.meta.intern(row.meta);
    const from = row.validFrom ?? -Infinity;
    const to = row.validTo ?? Infinity;
    if (!(from < to)) throw new DredgeError('DREDGE_ERR_INDEX', `${this.where(row.origin)}: valid_from must be before valid_to`);
    const eni = row.meta.interface_id;
    const inst = row.meta.instance_id;
    let p: Prefix | null = null;
    if (row.cidr !== null) p = requirePrefix(row.cidr, `${this.where(row.origin)}: field cidr`);
    if (eni !== undefined && eni !== '') this.mapInterface(`eni:${eni}`, metaId, p);
    if (inst !== undefined && inst !== '') this.mapInterface(`inst:${inst}`, metaId, p);
    if (p === null) {
      if (eni === undefined && inst === undefined) throw new DredgeError('DREDGE_ERR_INDEX', `${this.where(row.origin)}: field cidr is empty; every row needs an address or CIDR (or an interface_id/instance_id it maps to an owner)`);
      return;
    }
    const st = this.state(p);
    const origin = this.origin(row.origin, 'snapshot');
    const owner = this.meta.ownerOf(metaId);
    if (to === Infinity) pushEvent(st, { t: from, assign: true, meta: metaId, owner, src: SRC_SNAPSHOT, origin });
    else pushSpan(st, { from, to, meta: metaId, owner, src: SRC_SNAPSHOT, origin });
  }

  private mapInterface(key: string, metaId: number, p: Prefix | null): void {
    const prev = this.ifaceOwner.get(key);
    if (prev === undefined) this.ifaceOwner.set(key, metaId);
    else if (prev !== metaId) this.ifaceOwner.set(key, AMBIGUOUS);
    if (p !== null && (p.len === 32 || p.len === 128)) {
      let set = this.ifaceAddrs.get(key);
      if (set === undefined) this.ifaceAddrs.set(key, (set = new Set()));
      set.add(prefixKey(p));
    }
  }

  addEvent(ev: ChangeEvent): void {
    this.counters.events++;
    const p = requirePrefix(ev.cidr, `${this.where(ev.origin)}: field cidr`);
    if (!Number.isFinite(ev.time)) throw new DredgeError('DREDGE_ERR_INDEX', `${this.where(ev.origin)}: field time is not a finite time`);
    const st = this.state(p);
    const origin = this.origin(ev.origin, 'event');
    if (ev.type === 'assign') {
      const metaId = this.meta.intern(ev.meta);
      pushEvent(st, { t: ev.time, assign: true, meta: metaId, owner: this.meta.ownerOf(metaId), src: SRC_EVENT, origin });
    } else {
      const app = ev.meta.app;
      pushEvent(st, { t: ev.time, assign: false, meta: -1, owner: app === undefined || app === '' ? null : this.meta.ownerOfApp(app), src: SRC_EVENT, origin });
    }
    if (ev.time > this.newestEvent) this.newestEvent = ev.time;
    if (ev.time > this.newestEvidence) this.newestEvidence = ev.time;
  }

  addAwsPrefix(r: AwsPrefix): void {
    this.counters.awsPrefixes++;
    const p = requirePrefix(r.cidr, `${this.where(r.origin)}: field ip_prefix`);
    const st = this.state(p);
    (st.aws ??= []).push(r);
  }

  /**
   * Heartbeat: a flow's local side proves that the owner of `interfaceId` (or `instanceId`) owned
   * `ip` over [start, end] (whole seconds, so [start, end + 1)). Returns false when the
   * interface/instance maps to no single owner (counted).
   */
  observe(ip: string | number, start: number, end: number, interfaceId: string | null, instanceId: string | null = null): boolean {
    let p: Prefix;
    if (typeof ip === 'number') p = maskedV4(ip >>> 0, 32);
    else {
      const a = parseIpString(ip);
      if (a === null) throw new DredgeError('DREDGE_ERR_INDEX', `heartbeat address "${ip}" is not an IP address`);
      p = a.family === 4 ? maskedV4(a.v4, 32) : v6Host(a.v6, 0);
    }
    return this.observePrefix(p, start, end, interfaceId, instanceId);
  }

  /** True when the snapshot maps any interface or instance to an owner (heartbeats can be used). */
  get mapsInterfaces(): boolean {
    return this.ifaceOwner.size > 0;
  }

  /**
   * A heartbeat whose local side is not known (no flow-direction): recorded only when the snapshot
   * gives `ip` to that interface/instance (DESIGN.md §9), else ignored (returns false, not counted:
   * the other side of the same record is usually the local one).
   */
  observeIfLocal(ipV4: number, start: number, end: number, interfaceId: string | null, instanceId: string | null = null): boolean {
    const p = maskedV4(ipV4 >>> 0, 32);
    const key = prefixKey(p);
    const set = (interfaceId !== null ? this.ifaceAddrs.get(`eni:${interfaceId}`) : undefined) ?? (instanceId !== null ? this.ifaceAddrs.get(`inst:${instanceId}`) : undefined);
    if (set === undefined || !set.has(key)) return false;
    return this.observePrefix(p, start, end, interfaceId, instanceId);
  }

  private ownerMetaFor(interfaceId: string | null, instanceId: string | null): number {
    let m: number | undefined;
    if (interfaceId !== null) m = this.ifaceOwner.get(`eni:${interfaceId}`);
    if (m === undefined && instanceId !== null) m = this.ifaceOwner.get(`inst:${instanceId}`);
    if (m === undefined) {
      this.counters.heartbeatsUnmapped++;
      return -2;
    }
    if (m === AMBIGUOUS) this.counters.heartbeatsAmbiguous++;
    return m;
  }

  private observePrefix(p: Prefix, start: number, end: number, interfaceId: string | null, instanceId: string | null): boolean {
    const m = this.ownerMetaFor(interfaceId, instanceId);
    if (m < 0) return false;
    if (!(end >= start)) return false;
    this.counters.heartbeats++;
    const st = this.state(p);
    const to = end + 1;
    const spans = st.spans;
    // Coalesce with a recent span of the same record (heartbeats mostly arrive in order).
    for (let i = spans.length - 1; i >= 0 && i >= spans.length - 4; i--) {
      const s = spans[i] as SpanEvidence;
      if (s.src === SRC_HEARTBEAT && s.meta === m && start <= s.to && to >= s.from) {
        if (start < s.from) s.from = start;
        if (to > s.to) s.to = to;
        if (end > this.newestEvidence) this.newestEvidence = end;
        return true;
      }
    }
    pushSpan(st, { from: start, to, meta: m, owner: this.meta.ownerOf(m), src: SRC_HEARTBEAT, origin: this.origin(undefined, `heartbeat ${interfaceId ?? instanceId}`) });
    if (end > this.newestEvidence) this.newestEvidence = end;
    return true;
  }

  /**
   * Heartbeats from a FlowBatch (DESIGN.md §9): the local side is srcaddr for flow-direction egress,
   * dstaddr for ingress; without flow-direction, the side whose address the snapshot gives the
   * record's interface-id/instance-id. Needs srcaddr, dstaddr, start, end and interface-id or
   * instance-id in the format; returns the heartbeats recorded.
   */
  observeBatch(batch: FlowBatch): number {
    const f = batch.format;
    const iIf = f.indexOf('interface-id');
    const iInst = f.indexOf('instance-id');
    const iDir = f.indexOf('flow-direction');
    if ((iIf < 0 && iInst < 0) || f.indexOf('srcaddr') < 0 || f.indexOf('dstaddr') < 0 || f.indexOf('start') < 0 || f.indexOf('end') < 0) return 0;
    const src = batch.addrColumn('srcaddr');
    const dst = batch.addrColumn('dstaddr');
    const start = batch.intColumn('start');
    const end = batch.intColumn('end');
    let n = 0;
    for (let r = 0; r < batch.length; r++) {
      const eni = iIf >= 0 ? batch.text(r, iIf) : null;
      const inst = iInst >= 0 ? batch.text(r, iInst) : null;
      if (eni === null && inst === null) continue;
      const dir = iDir >= 0 ? batch.text(r, iDir) : null;
      const ps = cellPrefix(src.addr, src.fam, batch.v6, r);
      const pd = cellPrefix(dst.addr, dst.fam, batch.v6, r);
      let local: Prefix | null = null;
      if (dir === 'egress') local = ps;
      else if (dir === 'ingress') local = pd;
      else {
        const set = (eni !== null ? this.ifaceAddrs.get(`eni:${eni}`) : undefined) ?? (inst !== null ? this.ifaceAddrs.get(`inst:${inst}`) : undefined);
        if (set !== undefined) {
          if (ps !== null && set.has(prefixKey(ps))) local = ps;
          else if (pd !== null && set.has(prefixKey(pd))) local = pd;
        }
      }
      if (local === null) {
        this.counters.heartbeatsNoLocalSide++;
        continue;
      }
      if (this.observePrefix(local, start[r] as number, end[r] as number, eni, inst)) n++;
    }
    return n;
  }

  /** Newest event time seen (-Infinity before any). */
  get newestEventTime(): number {
    return this.newestEvent;
  }

  /** Freezes the current state into a new immutable generation. */
  freeze(opts: FreezeOptions = {}): { view: IndexView; stats: FreezeStats } {
    const t0 = performance.now();
    const gen = ++this.generation;
    const newest = this.newestEvidence;
    const base = opts.watermark ?? newest;
    const cutoff = this.horizonSeconds === null || base === -Infinity ? -Infinity : base - this.horizonSeconds;
    const knownUntil = opts.knownUntil ?? (this.eventLatenessSeconds === null || this.newestEvent === -Infinity ? Infinity : this.newestEvent - this.eventLatenessSeconds);
    const pruned = cutoff === -Infinity ? { events: 0, spans: 0, prefixes: 0 } : this.prune(cutoff);
    const awsMeta = this.resolveAws();

    // IPv4 prefixes in (address, length) order: one pass over the map, then a radix sort of indices
    // (a Map.get per prefix with its non-Smi key cost ~0.6 s per 1M prefixes).
    const P4 = this.v4.size;
    const sc = this.scratch;
    const inAddr = sc.take('inAddr', Uint32Array, P4);
    const inLen = sc.take('inLen', Uint8Array, P4);
    const inStates: KeyState[] = new Array(P4);
    let n4 = 0;
    for (const st of this.v4.values()) {
      inAddr[n4] = st.w0;
      inLen[n4] = st.len;
      inStates[n4++] = st;
    }
    const order = sortByAddrLen(inAddr, inLen, sc);
    const addr4 = sc.take('addr4', Uint32Array, P4);
    const len4 = sc.take('len4', Uint8Array, P4);
    for (let i = 0; i < P4; i++) {
      const j = order[i] as number;
      addr4[i] = inAddr[j] as number;
      len4[i] = inLen[j] as number;
    }
    const v6States = [...this.v6.values()].map((s) => {
      const p = s.p6 as Prefix;
      return { s, a: (BigInt(p.w0) << 96n) | (BigInt(p.w1) << 64n) | (BigInt(p.w2) << 32n) | BigInt(p.w3) };
    });
    v6States.sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : x.s.len - y.s.len));
    const P6 = v6States.length;
    const P = P4 + P6;
    for (const x of v6States) inStates.push(x.s);

    // Timelines are resolved in map order (the order the states were allocated in, so the walk over
    // their objects stays cache-friendly), then gathered into prefix order.
    const res = this.resolved ?? new Resolved(this.lastIntervals + (this.lastIntervals >> 4) + 1024);
    this.resolved = res;
    res.n = 0;
    const ivLoIn = sc.take('ivLoIn', Int32Array, P + 1);
    ivLoIn[0] = 0;
    for (let j = 0; j < P; j++) {
      const st = inStates[j] as KeyState;
      const before = res.n;
      if (st.spans.length > 1) compactHeartbeats(st);
      resolveTimeline(st.events, st.spans, knownUntil, cutoff, res);
      const aws = awsMeta.size === 0 ? undefined : awsMeta.get(st);
      if (aws !== undefined) fillGaps(res, before, aws.meta, aws.origin);
      ivLoIn[j + 1] = res.n;
    }
    const I = res.n;
    this.lastIntervals = I;
    const pfxIv = sc.take('pfxIv', Int32Array, P + 1);
    pfxIv[0] = 0;
    const ivFrom = sc.take('ivFrom', Float64Array, I);
    const ivTo = sc.take('ivTo', Float64Array, I);
    const ivMeta = sc.take('ivMeta', Int32Array, I);
    const ivSrcs = sc.take('ivSrcs', Uint8Array, I);
    const ivOrg = sc.take('ivOrg', Float64Array, I);
    const { from: rFrom, to: rTo, meta: rMeta, src: rSrc, origin: rOrg } = res;
    for (let i = 0, at = 0; i < P; i++) {
      const j = i < P4 ? (order[i] as number) : i;
      for (let k = ivLoIn[j] as number, e = ivLoIn[j + 1] as number; k < e; k++, at++) {
        ivFrom[at] = rFrom[k] as number;
        ivTo[at] = rTo[k] as number;
        ivMeta[at] = rMeta[k] as number;
        ivSrcs[at] = rSrc[k] as number;
        ivOrg[at] = rOrg[k] as number;
      }
      pfxIv[i + 1] = at;
    }

    const r4 = v4Ranges(addr4, len4, P4, sc);
    const r6 = v6Ranges(
      v6States.map((x) => x.a),
      Uint8Array.from(v6States.map((x) => x.s.len)),
      P6,
    );
    // The trie's growable buffers are kept for the next freeze too (emptied; `alloc` fills what it hands out).
    const tb = (this.trieBufs ??= { nodes: new I32Buf(1 << 18), l4Start: new U32Buf(Math.max(1024, r4.count)), l4Pfx: new I32Buf(Math.max(1024, r4.count)), l4Lists: new I32Buf(), l6Start: new U32Buf(), l6Pfx: new I32Buf(), l6Lists: new I32Buf() });
    for (const buf of Object.values(tb)) buf.n = 0;
    const { nodes, l4Start, l4Pfx, l4Lists, l6Start, l6Pfx, l6Lists } = tb;
    l4Lists.push(0);
    l6Lists.push(0);
    const root4 = buildV4Trie(r4.starts, r4.pfx, r4.count, 0, nodes, l4Start, l4Pfx, l4Lists);
    const v4NodesEnd = nodes.n;
    const root6 = buildV6Trie(r6.starts, r6.pfx, P4, nodes, l6Start, l6Pfx, l6Lists);

    const metaBytes = this.meta.encode();
    const parent = sc.take('parent', Int32Array, P);
    for (let i = 0; i < P; i++) {
      const par = i < P4 ? (r4.parent[i] as number) : (r6.parent[i - P4] as number);
      parent[i] = par < 0 ? -1 : i < P4 ? par : par + P4;
    }
    const tl = flattenTimelines(ivFrom, ivTo, ivMeta, pfxIv, parent, P);
    // Keys count seconds from a typical start (the median of a sample), so a stray ancient or
    // far-future time clamps only its own keys (layout.ts TL_KEY_LIM), not everyone's. When every
    // start is a whole second the keys do not clamp, they order starts exactly and the Float64 starts
    // are left out (8 bytes per entry).
    const sample: number[] = [];
    for (let k = 0, step = Math.max(1, Math.floor(tl.count / 1001)); k < tl.count; k += step) if (Number.isFinite(tl.start[k])) sample.push(tl.start[k] as number);
    sample.sort((x, y) => x - y);
    const origin = sample.length === 0 ? 0 : Math.floor(sample[sample.length >> 1] as number);
    let keysExact = true;
    for (let k = 0; k < tl.count && keysExact; k++) {
      const x = tl.start[k] as number;
      if (x !== -Infinity && (x !== Math.floor(x) || x - origin <= -TL_KEY_LIM + 2 || x - origin >= TL_KEY_LIM)) keysExact = false;
    }
    const tlAt = sc.take('tlAt', Int32Array, P);
    const forms = timelineForms(tl, P, origin, keysExact, sc.take('tlCompact', Uint8Array, P), sc.take('tlWords', Int32Array, P), sc.take('tlReach', Int32Array, P));
    const listCount = l4Lists.n - 1;
    const rangeAt = sc.take('rangeAt', Int32Array, Math.max(1, listCount));
    const rangeReach = sc.take('rangeReach', Int32Array, Math.max(1, listCount));
    // which lists are a root slot's (whole-address starts: layout.ts SLOT_LIST32)
    const wide4 = sc.take('wide4', Uint8Array, Math.max(1, listCount)).fill(0);
    for (let k = 0; k < v4NodesEnd; k++) if (((nodes.a[k] as number) & 3) === SLOT_LIST32) wide4[(nodes.a[k] as number) >>> 2] = 1;
    const blockWords = placeBlocks(l4Lists.a, listCount, wide4, l4Pfx.a, forms, len4, P, rangeAt, rangeReach, tlAt);
    // Refs and halved range-block offsets share a slot's payload with its kind (layout.ts); below word
    // 2^28 every Int32 slot stays non-negative (the lookups mark rows that are not IPv4 with -1).
    if (blockWords >= 2 ** 28) throw new DredgeError('DREDGE_ERR_INDEX', `index generation needs ${blockWords} words of lookup blocks, more than the ${2 ** 28} a generation can address; reduce prefixes or the retention horizon (--horizon)`);
    const counts: Counts = {
      nodes: nodes.n,
      v6Start: l6Start.n,
      v6Ref: l6Pfx.n,
      v6Lists: l6Lists.n,
      pfxTl: P,
      pfxIv: P + 1,
      pfxParent: P,
      pfxLen: P,
      pfxAddr4: P4,
      pfxAddr6: P6 * 4,
      iv: I * 3,
      ivOrigin: I * 2,
      ivSrc: I,
      tl: blockWords,
      tlEntry: keysExact ? 0 : P,
      tlStart: keysExact ? 0 : tl.count,
      meta: metaBytes.length,
    };
    const v = allocate(counts, gen);
    v.header[H_V4_ROOT] = root4;
    v.header[H_V6_ROOT] = root6;
    v.header[H_V4_PREFIXES] = P4;
    v.header[H_PREFIXES] = P;
    v.header[H_INTERVALS] = I;
    v.header[H_META_RECORDS] = this.meta.records.length;
    v.f64[F_NEWEST_TIME] = newest;
    v.f64[F_CUTOFF] = cutoff;
    v.f64[F_KNOWN_UNTIL] = knownUntil;
    v.f64[F_BUILT_AT_MS] = Date.now();
    // Trie leaves, range blocks and IPv6 ranges name timeline blocks directly (layout.ts "timeline ref").
    for (let p = 0; p < P; p++) v.pfxTl[p] = refAt(tlAt[p] as number, forms.reach[p] as number);
    const refOf = (p: number): number => (p < 0 ? 0 : (v.pfxTl[p] as number));
    for (let k = 0; k < nodes.n; k++) {
      const slot = nodes.a[k] as number;
      const kind = slot & 3;
      if (kind === SLOT_PREFIX) v.nodes[k] = (refOf((slot >>> 2) - 1) << 2) | SLOT_PREFIX;
      else if ((kind === SLOT_LIST || kind === SLOT_LIST32) && k < v4NodesEnd) {
        const li = slot >>> 2;
        v.nodes[k] = (rangeSlotPayload(rangeAt[li] as number, rangeReach[li] as number) << 2) | kind;
      } else v.nodes[k] = slot;
    }
    writeRangeBlocks(new Uint32Array(v.tl.buffer, v.tl.byteOffset, v.tl.length), l4Start.a, l4Pfx.a, l4Lists.a, wide4, listCount, rangeAt, refOf);
    v.v6Start.set(l6Start.a.subarray(0, l6Start.n));
    for (let k = 0; k < l6Pfx.n; k++) v.v6Ref[k] = refOf(l6Pfx.a[k] as number);
    v.v6Lists.set(l6Lists.a.subarray(0, l6Lists.n));
    v.pfxIv.set(pfxIv.subarray(0, P + 1));
    v.pfxParent.set(parent.subarray(0, P));
    v.f64[F_TL_ORIGIN] = origin;
    if (!keysExact) {
      v.tlStart.set(tl.start);
      v.tlEntry.set(tl.idx.subarray(0, P));
    }
    writeTimelines(v.tl, tl, tlAt, forms, P, origin);
    v.pfxLen.set(len4);
    v.pfxAddr4.set(addr4);
    for (let i = 0; i < P6; i++) {
      const p = (v6States[i] as { s: KeyState }).s.p6 as Prefix;
      v.pfxLen[P4 + i] = p.len;
      v.pfxAddr6[i * 4] = p.w0;
      v.pfxAddr6[i * 4 + 1] = p.w1;
      v.pfxAddr6[i * 4 + 2] = p.w2;
      v.pfxAddr6[i * 4 + 3] = p.w3;
    }
    let conflicts = 0;
    for (let i = 0; i < I; i++) {
      v.iv[3 * i] = ivFrom[i] as number;
      v.iv[3 * i + 1] = ivTo[i] as number;
      const m = ivMeta[i] as number;
      if (m === RESOLVED_CONFLICT) conflicts++;
      v.iv[3 * i + 2] = m === RESOLVED_CONFLICT ? RESULT_CONFLICT : m;
      const o = ivOrg[i] as number;
      v.ivOrigin[2 * i] = o < 0 ? -1 : Math.floor(o / 2 ** 32);
      v.ivOrigin[2 * i + 1] = o < 0 ? 0 : o % 2 ** 32;
      v.ivSrc[i] = ivSrcs[i] as number;
    }
    v.meta.set(metaBytes);
    const view = new IndexView(v.memory as WebAssembly.Memory, v.cold);
    const secs = sectionBytes(v);
    return {
      view,
      stats: {
        generation: gen,
        prefixes: P,
        v4Prefixes: P4,
        v6Prefixes: P6,
        intervals: I,
        conflictIntervals: conflicts,
        metaRecords: this.meta.records.length,
        bytes: v.sab.byteLength + (v.cold as ArrayBuffer).byteLength,
        lookupBytes: v.sab.byteLength,
        sections: secs,
        cutoff,
        knownUntil,
        newestTime: newest,
        pruned,
        freezeMs: performance.now() - t0,
      },
    };
  }

  /** Retention: drops evidence that can no longer produce an interval ending after `cutoff`. */
  private prune(cutoff: number): { events: number; spans: number; prefixes: number } {
    const out = { events: 0, spans: 0, prefixes: 0 };
    const pruneOne = (st: KeyState): boolean => {
      if (st.events.length > 0) {
        let lastBefore = -Infinity;
        for (const e of st.events) if (e.t < cutoff && e.t > lastBefore) lastBefore = e.t;
        if (lastBefore > -Infinity) {
          const kept = st.events.filter((e) => e.t >= lastBefore);
          out.events += st.events.length - kept.length;
          // Only releases left at or before the cutoff, and nothing after: the prefix is idle.
          if (kept.every((e) => !e.assign && e.t < cutoff)) {
            out.events += kept.length;
            st.events = NO_EVENTS;
          } else st.events = kept;
        }
      }
      if (st.spans.length > 0) {
        const kept = st.spans.filter((s) => s.to > cutoff);
        out.spans += st.spans.length - kept.length;
        st.spans = kept.length === 0 ? NO_SPANS : kept;
      }
      return st.events.length === 0 && st.spans.length === 0 && st.aws === null;
    };
    for (const [k, st] of this.v4)
      if (pruneOne(st)) {
        this.v4.delete(k);
        out.prefixes++;
      }
    for (const [k, st] of this.v6)
      if (pruneOne(st)) {
        this.v6.delete(k);
        out.prefixes++;
      }
    return out;
  }

  /**
   * AWS ranges → one record per prefix: the non-AMAZON service (alphabetically first when several
   * name the same prefix), else AMAZON; an AMAZON-only prefix inside a non-AMAZON one is dropped, so
   * the most specific non-AMAZON service wins (DESIGN.md §9).
   */
  private resolveAws(): Map<KeyState, { meta: number; origin: number }> {
    const out = new Map<KeyState, { meta: number; origin: number }>();
    const specific = new Set<string>();
    const all: KeyState[] = [];
    for (const st of [...this.v4.values(), ...this.v6.values()]) {
      if (st.aws === null) continue;
      all.push(st);
      if (st.aws.some((a) => a.service !== 'AMAZON')) specific.add(prefixKey(prefixOf(st)));
    }
    for (const st of all) {
      const list = st.aws as AwsPrefix[];
      const named = list.filter((a) => a.service !== 'AMAZON').sort((a, b) => (a.service + a.region < b.service + b.region ? -1 : 1));
      let pick = named[0];
      if (pick === undefined) {
        if (coveredBy(prefixOf(st), specific)) {
          // Inside a service-specific range: that range answers; drop the prefix unless other evidence uses it.
          if (st.events.length === 0 && st.spans.length === 0) {
            if (st.p6 === null) this.v4.delete(st.w0 * 64 + st.len);
            else this.v6.delete(prefixKey(st.p6));
          }
          continue;
        }
        pick = list[0] as AwsPrefix;
      }
      const meta = this.meta.intern({ app: `aws:${pick.service}:${pick.region}`, owner: 'aws', region: pick.region });
      out.set(st, { meta, origin: this.origin(pick.origin, 'ip-ranges') });
    }
    return out;
  }
}

/** Indices of (addr, len) pairs in ascending (addr, len) order: LSD radix sort, 3 stable passes. */
export function sortByAddrLen(addr: Uint32Array, len: Uint8Array, scratch?: ScratchArrays): Uint32Array {
  const n = addr.length;
  // Every pass writes all n entries before the next reads them: reused scratch needs no clearing.
  let a = scratch !== undefined ? scratch.take('sortA', Uint32Array, n) : new Uint32Array(n);
  let b = scratch !== undefined ? scratch.take('sortB', Uint32Array, n) : new Uint32Array(n);
  const count = new Uint32Array(65536 + 1);
  // pass 1: by length (0..128)
  for (let i = 0; i < n; i++) {
    const k = (len[i] as number) + 1;
    count[k] = (count[k] as number) + 1;
  }
  for (let k = 1; k <= 65536; k++) count[k] = (count[k] as number) + (count[k - 1] as number);
  for (let i = 0; i < n; i++) {
    const k = len[i] as number;
    const at = count[k] as number;
    count[k] = at + 1;
    a[at] = i;
  }
  // passes 2, 3: by the low, then the high 16 bits of the address
  for (let shift = 0; shift <= 16; shift += 16) {
    count.fill(0);
    for (let i = 0; i < n; i++) {
      const k = (((addr[i] as number) >>> shift) & 0xffff) + 1;
      count[k] = (count[k] as number) + 1;
    }
    for (let k = 1; k <= 65536; k++) count[k] = (count[k] as number) + (count[k - 1] as number);
    for (let i = 0; i < n; i++) {
      const j = a[i] as number;
      const k = ((addr[j] as number) >>> shift) & 0xffff;
      const at = count[k] as number;
      count[k] = at + 1;
      b[at] = j;
    }
    const t = a;
    a = b;
    b = t;
  }
  return a;
}

function coveredBy(p: Prefix, set: Set<string>): boolean {
  for (let len = p.len - 1; len >= 0; len--) {
    const q = p.family === 4 ? maskedV4(p.w0, len) : maskedV6([p.w0, p.w1, p.w2, p.w3], len);
    if (set.has(prefixKey(q))) return true;
  }
  return false;
}

function v6Host(b: Uint8Array, at: number): Prefix {
  const w0 = readWord(b, at);
  const w1 = readWord(b, at + 4);
  const w2 = readWord(b, at + 8);
  const w3 = readWord(b, at + 12);
  if (w0 === 0 && w1 === 0 && w2 === 0xffff) return maskedV4(w3, 32);
  return maskedV6([w0, w1, w2, w3], 128);
}

function cellPrefix(addr: Uint32Array, fam: Uint8Array, v6: Uint8Array, r: number): Prefix | null {
  const f = fam[r];
  if (f === 4) return maskedV4(addr[r] as number, 32);
  if (f === 6) return v6Host(v6, (addr[r] as number) * 16);
  return null;
}

/** Merges overlapping/touching heartbeat spans of the same record (bounded memory per address). */
function compactHeartbeats(st: KeyState): void {
  const hb = st.spans.filter((s) => s.src === SRC_HEARTBEAT);
  if (hb.length < 2) return;
  const other = st.spans.filter((s) => s.src !== SRC_HEARTBEAT);
  hb.sort((a, b) => a.meta - b.meta || a.from - b.from);
  const merged: SpanEvidence[] = [];
  for (const s of hb) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.meta === s.meta && s.from <= last.to) {
      if (s.to > last.to) last.to = s.to;
    } else merged.push({ ...s });
  }
  st.spans = other.concat(merged);
}

/** Fills the gaps of the intervals appended since `start` (sorted, disjoint) with an AWS record. */
function fillGaps(res: Resolved, start: number, meta: number, origin: number): void {
  const from = res.from.slice(start, res.n);
  const to = res.to.slice(start, res.n);
  const m = res.meta.slice(start, res.n);
  const src = res.src.slice(start, res.n);
  const org = res.origin.slice(start, res.n);
  const n = res.n - start;
  res.n = start;
  let cursor = -Infinity;
  const gap = (a: number, b: number): void => {
    if (a < b) res.push(a, b, meta, SRC_AWS, origin);
  };
  for (let i = 0; i < n; i++) {
    gap(cursor, from[i] as number);
    res.push(from[i] as number, to[i] as number, m[i] as number, src[i] as number, org[i] as number);
    cursor = to[i] as number;
  }
  gap(cursor, Infinity);
}
