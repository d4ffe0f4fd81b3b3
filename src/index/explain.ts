// Why an address resolved as it did (cold path, for `dredge index inspect`): the chain of prefixes
// covering it from the deepest up, each prefix's intervals around t, which one answered and from
// which evidence (file:line, source kind). Also: opening an index from bytes, and a summary.

import { formatIPv4, parseIpString } from '../parse/ip.js';
import { F_BUILT_AT_MS, hotMemory, sectionBytes, splitIndexBytes, SRC_AWS, SRC_CONFLICT, SRC_EVENT, SRC_HEARTBEAT, SRC_SNAPSHOT } from './layout.js';
import { IndexView, REASONS, RESULT_CONFLICT } from './lookup.js';
import { formatPrefix, readWord } from './prefix.js';
import { formatTime } from './load/time.js';

/** Opens index bytes (an `index.bin` file's contents): the hot part copied into a new shared WebAssembly.Memory, the explain data into an ArrayBuffer. */
export function openIndexBytes(bytes: Uint8Array): IndexView {
  const { hot, cold } = splitIndexBytes(bytes);
  return new IndexView(hotMemory(hot), new Uint8Array(cold).buffer);
}

export function sourceNames(src: number): string[] {
  const out: string[] = [];
  if (src & SRC_SNAPSHOT) out.push('snapshot');
  if (src & SRC_EVENT) out.push('event');
  if (src & SRC_HEARTBEAT) out.push('heartbeat');
  if (src & SRC_AWS) out.push('ip-ranges');
  if (src & SRC_CONFLICT) out.push('conflicting-evidence');
  return out;
}

export interface ExplainedInterval {
  from: string;
  to: string;
  result: Record<string, string> | 'conflict';
  sources: string[];
  origin: string | null;
  contains: boolean;
}

export interface Explanation {
  address: string;
  at: string;
  result: { id: number; reason: string | null; record: Record<string, string> | null };
  chain: { prefix: string; intervals: ExplainedInterval[]; intervalCount: number }[];
  note: string;
}

export function prefixText(view: IndexView, p: number): string {
  const v = view.v;
  const len = v.pfxLen[p] as number;
  if (p < view.v4PrefixCount) return `${formatIPv4(v.pfxAddr4[p] as number)}/${len}`;
  const q = (p - view.v4PrefixCount) * 4;
  return formatPrefix({ family: 6, w0: v.pfxAddr6[q] as number, w1: v.pfxAddr6[q + 1] as number, w2: v.pfxAddr6[q + 2] as number, w3: v.pfxAddr6[q + 3] as number, len });
}

export function originText(view: IndexView, iv: number): string | null {
  const fileId = view.v.ivOrigin[2 * iv] as number;
  if (fileId < 0) return null;
  const line = view.v.ivOrigin[2 * iv + 1] as number;
  const file = view.meta.string(fileId);
  if (line === 0) return file;
  return (view.v.ivSrc[iv] as number) & SRC_AWS ? `${file} entry ${line}` : `${file}:${line}`;
}

/** Explains `ip` at time `t` (epoch seconds); `maxIntervals` per prefix, nearest to t. */
export function explain(view: IndexView, ip: string, t: number, maxIntervals = 5): Explanation | { error: string } {
  if (!view.explainable) return { error: 'this index view has no explain data (opened from the lookup buffer alone); open the index file or the builder\'s generation' };
  const a = parseIpString(ip);
  if (a === null) return { error: `"${ip}" is not an IPv4 or IPv6 address` };
  let id: number;
  let deepest: number;
  if (a.family === 4) {
    id = view.lookupV4(a.v4, t);
    deepest = view.deepestV4(a.v4);
  } else {
    const w = [0, 4, 8, 12].map((o) => readWord(a.v6, o)) as [number, number, number, number];
    id = view.lookupV6(w[0], w[1], w[2], w[3], t);
    deepest = w[0] === 0 && w[1] === 0 && w[2] === 0xffff ? view.deepestV4(w[3]) : view.deepestV6(w[0], w[1], w[2], w[3]);
  }
  const chain: Explanation['chain'] = [];
  const v = view.v;
  for (let p = deepest; p >= 0; p = v.pfxParent[p] as number) {
    const lo = v.pfxIv[p] as number;
    const hi = v.pfxIv[p + 1] as number;
    // the interval containing t or the last one before it, and its neighbours
    let k = lo;
    while (k + 1 < hi && (v.iv[3 * (k + 1)] as number) <= t) k++;
    const first = Math.max(lo, Math.min(k - Math.floor(maxIntervals / 2), hi - maxIntervals));
    const intervals: ExplainedInterval[] = [];
    for (let i = first; i < Math.min(hi, first + maxIntervals); i++) {
      const m = v.iv[3 * i + 2] as number;
      intervals.push({
        from: formatTime(v.iv[3 * i] as number),
        to: formatTime(v.iv[3 * i + 1] as number),
        result: m === RESULT_CONFLICT ? 'conflict' : view.meta.record(m),
        sources: sourceNames(v.ivSrc[i] as number),
        origin: originText(view, i),
        contains: (v.iv[3 * i] as number) <= t && t < (v.iv[3 * i + 1] as number),
      });
    }
    chain.push({ prefix: prefixText(view, p), intervals, intervalCount: hi - lo });
  }
  let note: string;
  if (id >= 0) note = chain.length === 0 ? 'no prefix covers this public address: internet' : `answered by the longest prefix with an owner at ${formatTime(t)}`;
  else if (id === RESULT_CONFLICT) note = 'the evidence for this time disagrees: unattributed (conflict), never a pick';
  else if (chain.length === 0) note = 'no prefix covers this address: unattributed (unknown)';
  else note = 'covered, but no prefix has an owner at this time: unattributed (gap)';
  if (t >= view.knownUntil) note += `; events are assumed complete only up to ${formatTime(view.knownUntil)}`;
  if (t < view.cutoff) note += `; history before ${formatTime(view.cutoff)} was dropped by retention`;
  return {
    address: ip,
    at: formatTime(t),
    result: { id, reason: id >= 0 ? null : (REASONS[id] ?? String(id)), record: id >= 0 ? view.meta.record(id) : null },
    chain,
    note,
  };
}

export function summary(view: IndexView): Record<string, unknown> {
  return {
    generation: view.generation,
    bytes: view.byteLength,
    lookupBytes: view.buffer.byteLength,
    prefixes: { ipv4: view.v4PrefixCount, ipv6: view.prefixCount - view.v4PrefixCount },
    intervals: view.intervalCount,
    metadataRecords: view.metaCount,
    newestEvidence: formatTime(view.newestTime),
    retentionCutoff: formatTime(view.cutoff),
    eventsCompleteUntil: formatTime(view.knownUntil),
    builtAt: new Date(view.v.f64[F_BUILT_AT_MS] as number).toISOString(),
    sectionBytes: sectionBytes(view.v),
  };
}
