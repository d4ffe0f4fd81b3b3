// Evidence for one exact prefix → its sorted, non-overlapping ownership intervals (cold path: runs at
// freeze, per changed prefix). The rule it implements: an unattributed flow is acceptable, a
// misattributed one is not, so every step resolves doubt towards "conflict" or "gap", never a pick.
//
// Evidence comes in two strengths:
//   inferred  assign/release events (and snapshot rows without valid_to, which behave as an assign at
//             valid_from): "owner X from t until the next event". Deduplicated, sorted by time;
//             at one timestamp releases apply before assigns (a handover). A later assign ends the
//             previous owner's interval even when the release never came. Two different assigns at
//             one timestamp are a conflict until the next event. Inferred intervals end at
//             `knownUntil` (the time up to which events are assumed complete), because a late event
//             may still change anything after it.
//   proven    heartbeats (the local side of a flow proves its owner over [start, end]) and snapshot
//             rows with a valid_to: "owner X during [from, to)".
//
// An inferred interval of owner o is contradicted when proven evidence of another owner overlaps it,
// or when it is closed by a release naming another owner (so o's release and the other owner's assign
// were both lost). The handover then happened somewhere between o's last evidence and the first
// contradiction: o keeps [start, last evidence of o), and the rest of the interval is "uncertain"
// (conflict unless proven evidence says otherwise).
//
// Owners are compared by identity (the app, see MetaInterner.ownerOf), metadata records by id: two
// proven claims of the same owner with different records, or of different owners, are a conflict.

import { grown, offHeap } from '../typed.js';
import { SRC_CONFLICT, SRC_SNAPSHOT } from './layout.js';

export const RESOLVED_CONFLICT = -3;

export interface EventEvidence {
  t: number;
  assign: boolean;
  /** Record id (assign); -1 for a release. */
  meta: number;
  /** Owner identity (assign; a release that names an app); null for a release that names nobody. */
  owner: number | null;
  src: number;
  /** String id of where it came from (file:line), -1 unknown. */
  origin: number;
}

export interface SpanEvidence {
  from: number;
  to: number;
  meta: number;
  owner: number;
  src: number;
  origin: number;
}

/** Resolved intervals, appended across prefixes into growable typed arrays (no per-interval objects). */
export class Resolved {
  n = 0;
  from: Float64Array;
  to: Float64Array;
  /** Record id or RESOLVED_CONFLICT. */
  meta: Int32Array;
  src: Uint8Array;
  /** String id × 2^32 + line of the evidence that started it, -1 unknown. */
  origin: Float64Array;

  /** `cap`: expected intervals (the builder passes the previous freeze's count, so it rarely grows). */
  constructor(cap = 1024) {
    cap = Math.max(16, cap);
    this.from = offHeap(Float64Array, cap);
    this.to = offHeap(Float64Array, cap);
    this.meta = offHeap(Int32Array, cap);
    this.src = offHeap(Uint8Array, cap);
    this.origin = offHeap(Float64Array, cap);
  }

  push(from: number, to: number, meta: number, src: number, origin: number): void {
    if (this.n === this.from.length) this.grow();
    const i = this.n++;
    this.from[i] = from;
    this.to[i] = to;
    this.meta[i] = meta;
    this.src[i] = src;
    this.origin[i] = origin;
  }

  private grow(): void {
    const cap = this.from.length * 2;
    this.from = grown(this.from, cap);
    this.to = grown(this.to, cap);
    this.meta = grown(this.meta, cap);
    this.src = grown(this.src, cap);
    this.origin = grown(this.origin, cap);
  }
}

const K_PROVEN = 0;
const K_INFERRED = 1;
const K_UNCERTAIN = 2;

interface Claim {
  kind: number;
  from: number;
  to: number;
  meta: number;
  owner: number;
  /** K_UNCERTAIN: the owners the events allowed (null: any owner proven there is accepted). */
  candidates: number[] | null;
  src: number;
  origin: number;
}

function cmpEvents(a: EventEvidence, b: EventEvidence): number {
  return a.t - b.t || Number(a.assign) - Number(b.assign) || a.meta - b.meta || (a.owner ?? -Infinity) - (b.owner ?? -Infinity) || a.origin - b.origin;
}

/**
 * Resolves one prefix's evidence into intervals, appending to `out`. Intervals ending at or before
 * `cutoff` are dropped (retention).
 */
export function resolveTimeline(events: readonly EventEvidence[], spans: readonly SpanEvidence[], knownUntil: number, cutoff: number, out: Resolved): void {
  // Fast path: one assign, no proven evidence (the common case for a large snapshot).
  if (spans.length === 0 && events.length === 1) {
    const e = events[0] as EventEvidence;
    if (e.assign && e.t < knownUntil && knownUntil > cutoff) push(out, e.t, knownUntil, e.meta, e.src, e.origin);
    return;
  }
  const claims: Claim[] = [];
  const ev = events.slice().sort(cmpEvents);

  // 1. Events → segments.
  interface Seg {
    from: number;
    to: number;
    metas: number[];
    owners: number[];
    src: number;
    origin: number;
    contradictedAtEnd: boolean;
  }
  const segs: Seg[] = [];
  let cur: Seg | null = null;
  let prev: EventEvidence | null = null;
  for (let i = 0; i < ev.length; ) {
    const t = (ev[i] as EventEvidence).t;
    const rel: (number | null)[] = [];
    const asg: EventEvidence[] = [];
    for (; i < ev.length && (ev[i] as EventEvidence).t === t; i++) {
      const e = ev[i] as EventEvidence;
      if (prev !== null && cmpEvents(prev, e) === 0) continue; // duplicate delivery
      if (prev !== null && prev.t === e.t && prev.assign === e.assign && prev.meta === e.meta && prev.owner === e.owner) continue; // same event, other origin
      prev = e;
      if (e.assign) asg.push(e);
      else rel.push(e.owner);
    }
    if (cur !== null) {
      const c: Seg = cur;
      c.to = t;
      if (c.owners.length === 1 && rel.some((o) => o !== null && o !== c.owners[0])) c.contradictedAtEnd = true;
      if (c.from < c.to) segs.push(c);
      cur = null;
    }
    if (asg.length > 0) {
      const metas = uniq(asg.map((e) => e.meta));
      const owners = uniq(asg.map((e) => e.owner as number));
      let src = 0;
      for (const e of asg) src |= e.src;
      cur = { from: t, to: Infinity, metas, owners, src, origin: (asg[0] as EventEvidence).origin, contradictedAtEnd: false };
    }
  }
  if (cur !== null) segs.push(cur);

  // 2. Segments → inferred claims, cut at contradictions; capped at knownUntil.
  for (const s of segs) {
    const to = Math.min(s.to, knownUntil);
    if (s.from >= to) continue;
    if (s.owners.length !== 1 || s.metas.length !== 1) {
      claims.push({ kind: K_UNCERTAIN, from: s.from, to, meta: -1, owner: 0, candidates: s.owners, src: s.src | SRC_CONFLICT, origin: s.origin });
      continue;
    }
    const o = s.owners[0] as number;
    let c = s.contradictedAtEnd ? s.to : Infinity;
    for (const x of spans) if (x.owner !== o && x.from < s.to && x.to > s.from) c = Math.min(c, Math.max(x.from, s.from));
    if (c === Infinity) {
      claims.push({ kind: K_INFERRED, from: s.from, to, meta: s.metas[0] as number, owner: o, candidates: null, src: s.src, origin: s.origin });
      continue;
    }
    let last = s.from;
    for (const y of spans) if (y.owner === o && y.from < c && y.to > s.from) last = Math.max(last, Math.min(y.to, c));
    const keep = Math.min(last, to);
    if (keep > s.from) claims.push({ kind: K_INFERRED, from: s.from, to: keep, meta: s.metas[0] as number, owner: o, candidates: null, src: s.src, origin: s.origin });
    if (to > keep) claims.push({ kind: K_UNCERTAIN, from: keep, to, meta: -1, owner: 0, candidates: null, src: s.src | SRC_CONFLICT, origin: s.origin });
  }
  for (const x of spans) if (x.from < x.to) claims.push({ kind: K_PROVEN, from: x.from, to: x.to, meta: x.meta, owner: x.owner, candidates: null, src: x.src, origin: x.origin });
  if (claims.length === 0) return;

  // 3. Elementary intervals between all claim bounds.
  const bounds = new Float64Array(claims.length * 2);
  claims.forEach((c, i) => {
    bounds[2 * i] = c.from;
    bounds[2 * i + 1] = c.to;
  });
  bounds.sort();
  const startLen = out.n;
  for (let b = 0; b + 1 < bounds.length; b++) {
    const lo = bounds[b] as number;
    const hi = bounds[b + 1] as number;
    if (lo === hi || hi <= cutoff) continue;
    decide(claims, lo, hi, out, startLen);
  }
}

const provenOwners: number[] = [];

function decide(claims: readonly Claim[], lo: number, hi: number, out: Resolved, startLen: number): void {
  provenOwners.length = 0;
  let inferred: Claim | null = null;
  let inferredConflict = false;
  let uncertain: Claim | null = null;
  let uncertainRejects = false;
  for (const c of claims) {
    if (c.from > lo || c.to < hi) continue;
    if (c.kind === K_PROVEN) {
      if (!provenOwners.includes(c.owner)) provenOwners.push(c.owner);
    } else if (c.kind === K_INFERRED) {
      if (inferred !== null && inferred.meta !== c.meta) inferredConflict = true;
      inferred = c;
    } else uncertain = c;
  }
  if (provenOwners.length === 0 && inferred === null && uncertain === null) return; // gap
  if (provenOwners.length >= 2 || inferredConflict) return emit(out, startLen, lo, hi, RESOLVED_CONFLICT, SRC_CONFLICT | srcOf(claims, lo, hi), originOf(claims, lo, hi));
  if (provenOwners.length === 1) {
    const o = provenOwners[0] as number;
    if (uncertain !== null && uncertain.candidates !== null && !uncertain.candidates.includes(o)) uncertainRejects = true;
    if ((inferred !== null && inferred.owner !== o) || uncertainRejects) return emit(out, startLen, lo, hi, RESOLVED_CONFLICT, SRC_CONFLICT | srcOf(claims, lo, hi), originOf(claims, lo, hi));
    if (inferred !== null) return emit(out, startLen, lo, hi, inferred.meta, srcOf(claims, lo, hi), inferred.origin);
    // Only proven claims of one owner: their records must agree (snapshot rows win over heartbeats).
    let best: Claim | null = null;
    let ambiguous = false;
    for (const c of claims) {
      if (c.kind !== K_PROVEN || c.from > lo || c.to < hi) continue;
      const rank = c.src & SRC_SNAPSHOT ? 1 : 0;
      const bestRank = best === null ? -1 : best.src & SRC_SNAPSHOT ? 1 : 0;
      if (rank > bestRank) {
        best = c;
        ambiguous = false;
      } else if (rank === bestRank && best !== null && best.meta !== c.meta) ambiguous = true;
    }
    const b = best as Claim;
    if (ambiguous) return emit(out, startLen, lo, hi, RESOLVED_CONFLICT, SRC_CONFLICT | srcOf(claims, lo, hi), b.origin);
    return emit(out, startLen, lo, hi, b.meta, srcOf(claims, lo, hi), b.origin);
  }
  if (inferred !== null) return emit(out, startLen, lo, hi, inferred.meta, inferred.src, inferred.origin);
  const u = uncertain as Claim;
  return emit(out, startLen, lo, hi, RESOLVED_CONFLICT, u.src | SRC_CONFLICT, u.origin);
}

function srcOf(claims: readonly Claim[], lo: number, hi: number): number {
  let s = 0;
  for (const c of claims) if (c.from <= lo && c.to >= hi) s |= c.src;
  return s;
}

function originOf(claims: readonly Claim[], lo: number, hi: number): number {
  for (const c of claims) if (c.from <= lo && c.to >= hi) return c.origin;
  return -1;
}

/** Appends, merging with the previous interval when contiguous with the same result. */
function emit(out: Resolved, startLen: number, from: number, to: number, meta: number, src: number, origin: number): void {
  const n = out.n;
  if (n > startLen && out.to[n - 1] === from && out.meta[n - 1] === meta) {
    out.to[n - 1] = to;
    out.src[n - 1] = (out.src[n - 1] as number) | src;
    return;
  }
  push(out, from, to, meta, src, origin);
}

function push(out: Resolved, from: number, to: number, meta: number, src: number, origin: number): void {
  out.push(from, to, meta, src, origin);
}

function uniq(a: number[]): number[] {
  return [...new Set(a)].sort((x, y) => x - y);
}
