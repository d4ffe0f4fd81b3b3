// HOT: guarded by `npm run bench -- e2e` (bench/e2e/pipeline.ts).
//
// Pre-aggregation of one FlowBatch into a GroupTable: for each record, the group key of
// dimensions.ts is written into a chunk of keys (CHUNK below) and added with the record's metrics. The loop is
// generated per (key plan, format) with `new Function`, like the compiled scanner: column bases,
// null-bitmap words and bits, key words and packing shifts become constants, and dimensions the plan
// does not use cost nothing. A field the batch's format lacks is `-` for every row.
//
// Record handling:
//   log-status NODATA / SKIPDATA   counted (C_NODATA, C_SKIPDATA), no flow
//   start `-`                      counted (C_NO_START), no window to put it in
//   window < closedBefore          late: counted with its packets and bytes, not aggregated
//   otherwise                      one flow: flows 1, packets, bytes (`-` counts 0), and per side 1
//                                  when the lookup left it unattributed (result < 0)

import { FlowFormat, KIND_INT, KIND_PORT, KIND_PROTO, KIND_TEXT } from '../parse/fields.js';
import type { FlowBatch } from '../parse/flow-batch.js';
import { EPHEMERAL_PORT_MIN, NULL_INT, NULL_PORT, NULL_PROTO, type KeyPlan } from './dimensions.js';
import type { GroupTable } from './group-table.js';

// Counter slots (a Float64Array shared with the partial's layout).
export const C_FLOWS = 0;
export const C_PACKETS = 1;
export const C_BYTES = 2;
export const C_NODATA = 3;
export const C_SKIPDATA = 4;
export const C_NO_START = 5;
export const C_LATE_FLOWS = 6;
export const C_LATE_PACKETS = 7;
export const C_LATE_BYTES = 8;
/** Newest `start` aggregated (the pipeline's watermark follows it). */
export const C_MAX_START = 9;
export const C_UNATTRIBUTED_SRC = 10;
export const C_UNATTRIBUTED_DST = 11;
export const AGG_COUNTERS = 12;

/** Remembers the bytes behind each text hash used in keys (the partial carries them). */
export interface TextDictionary {
  note(h0: number, h1: number, src: Uint8Array, off: number, len: number): void;
}

export type Aggregator = (
  batch: FlowBatch,
  srcRes: Int32Array,
  dstRes: Int32Array,
  projSrc: Int32Array,
  projDst: Int32Array,
  table: GroupTable,
  closedBefore: number,
  counters: Float64Array,
  dict: TextDictionary,
) => number; // an XOR of the slots touched (ignored; keeps the touch reads live)

const cache = new Map<string, Aggregator>();

/**
 * Rows per chunk. A chunk is encoded first (keys, hashes, metrics into per-loop arrays), then every
 * row's home slot is read once (`GroupTable.touch`: independent loads, so their cache misses overlap),
 * then the rows are added, finding their slots in cache. Added row by row straight after encoding,
 * each add waited for its own miss in a per-batch table of ~20k groups (4 MiB, past L2).
 */
const CHUNK = 512;

/** The aggregation loop for this plan and format (compiled once per pair per thread). */
export function aggregatorFor(plan: KeyPlan, format: FlowFormat, windowSeconds: number): Aggregator {
  const id = `${plan.spec}|${plan.keepPorts.join(',')}|${windowSeconds}|${format.names.join(' ')}`;
  let fn = cache.get(id);
  if (fn === undefined) {
    fn = compile(plan, format, windowSeconds);
    cache.set(id, fn);
  }
  return fn;
}

function compile(plan: KeyPlan, format: FlowFormat, W: number): Aggregator {
  const NW = format.nullWords;
  const pre: string[] = [];
  const row: string[] = [];
  const nullTest = (fi: number): string => `((nulls[rn + ${fi >>> 5}] & ${(1 << (fi & 31)) | 0}) !== 0)`;
  const base = (fi: number): string => {
    pre.push(`const B${fi} = batch.bases[${fi}];`);
    return `B${fi}`;
  };
  const iStart = format.indexOf('start');
  const iStatus = format.indexOf('log-status');
  const iPackets = format.indexOf('packets');
  const iBytes = format.indexOf('bytes');
  if (iStart < 0) {
    // No start: no record can be placed in a window.
    return (batch, _s, _d, _ps, _pd, _t, _c, counters) => {
      counters[C_NO_START] = (counters[C_NO_START] as number) + batch.length;
      return 0;
    };
  }
  const bStart = base(iStart);
  if (iStatus >= 0) {
    const b = base(iStatus);
    row.push(`const st = u8[${b} + r];`);
    row.push(`if (st === 2) { counters[${C_NODATA}]++; continue; }`);
    row.push(`if (st === 3) { counters[${C_SKIPDATA}]++; continue; }`);
  }
  row.push(`if (${nullTest(iStart)}) { counters[${C_NO_START}]++; continue; }`);
  row.push(`const t = ints[${bStart} + r];`);
  row.push(iPackets >= 0 ? `const packets = ${nullTest(iPackets)} ? 0 : ints[${base(iPackets)} + r];` : 'const packets = 0;');
  row.push(iBytes >= 0 ? `const bytes = ${nullTest(iBytes)} ? 0 : ints[${base(iBytes)} + r];` : 'const bytes = 0;');
  row.push(`const w = Math.floor(t / ${W});`);
  row.push(`if (w < closedBefore) { lateF++; lateP += packets; lateB += bytes; continue; }`);
  row.push('if (t > maxT) maxT = t;');
  row.push('const rs = srcRes[r], rd = dstRes[r];');
  row.push(`const kb = j * ${plan.keyWords};`);
  row.push('key[0] = w;');
  // Packed words: reasons first, then small fields.
  const packed = new Map<number, string[]>();
  packed.set(1, ['(rs < 0 ? -rs : 0)', '((rd < 0 ? -rd : 0) << 3)']);
  let needKeep = false;
  for (const d of plan.dims) {
    if (d.kind !== 'small') continue;
    const fi = format.indexOf(d.field);
    let expr: string;
    if (fi < 0) expr = String(d.fieldKind === KIND_PORT ? NULL_PORT : d.fieldKind === KIND_PROTO ? NULL_PROTO : 0);
    else {
      const b = base(fi);
      if (d.fieldKind === KIND_PORT) {
        const v = `ports[${b} + r]`;
        const collapse = plan.keepPorts.length > 0 ? `(p${fi} >= ${EPHEMERAL_PORT_MIN} && keep[p${fi}] === 0 ? 0 : p${fi})` : `(p${fi} >= ${EPHEMERAL_PORT_MIN} ? 0 : p${fi})`;
        if (plan.keepPorts.length > 0) needKeep = true;
        row.push(`const p${fi} = ${v};`);
        expr = `(${nullTest(fi)} ? ${NULL_PORT} : ${collapse})`;
      } else if (d.fieldKind === KIND_PROTO) expr = `(${nullTest(fi)} ? ${NULL_PROTO} : u8[${b} + r])`;
      else expr = `(${nullTest(fi)} ? 0 : u8[${b} + r])`;
    }
    const list = packed.get(d.word) ?? [];
    list.push(d.shift === 0 ? expr : `(${expr} << ${d.shift})`);
    packed.set(d.word, list);
  }
  for (const [w, parts] of packed) row.push(`key[${w}] = ${parts.join(' | ')};`);
  if (plan.sideWord[0] >= 0) row.push(`key[${plan.sideWord[0]}] = rs >= 0 ? projSrc[rs] : 0;`);
  if (plan.sideWord[1] >= 0) row.push(`key[${plan.sideWord[1]}] = rd >= 0 ? projDst[rd] : 0;`);
  for (const d of plan.dims) {
    if (d.kind === 'int') {
      const fi = format.indexOf(d.field);
      if (fi < 0 || format.kinds[fi] !== KIND_INT) row.push(`key[${d.word}] = ${NULL_INT};`);
      else {
        const b = base(fi);
        row.push(`{ const v = ints[${b} + r]; key[${d.word}] = ${nullTest(fi)} || v > 2147483647 ? ${NULL_INT} : v; }`);
      }
    } else if (d.kind === 'text') {
      const fi = format.indexOf(d.field);
      if (fi < 0 || format.kinds[fi] !== KIND_TEXT) row.push(`key[${d.word}] = 0; key[${d.word + 1}] = 0;`);
      else {
        const b = base(fi);
        // Two independent 32-bit FNV-1a-style hashes of the bytes (64 bits: collisions among the few
        // hundred values of a text dimension are ~n²/2^65); h0 forced odd so (0,0) stays `-`.
        row.push(
          `if (${nullTest(fi)}) { key[${d.word}] = 0; key[${d.word + 1}] = 0; } else {`,
          `  const o = toff[${b} + r], l = tlen[${b} + r];`,
          '  let h0 = 0x811c9dc5 | 0, h1 = 0x2545f491;',
          '  for (let i = o, e = o + l; i < e; i++) { const c = src[i]; h0 = Math.imul(h0 ^ c, 0x01000193); h1 = Math.imul(h1 ^ c, 0x5bd1e995) ^ (h1 >>> 13); }',
          '  h0 |= 1;',
          `  key[${d.word}] = h0; key[${d.word + 1}] = h1;`,
          '  dict.note(h0, h1, src, o, l);',
          '}',
        );
      }
    }
  }
  // Hash (hashKey of group-table.ts, unrolled over the key words).
  row.push('let h = 0x2545f491;');
  for (let i = 0; i < plan.keyWords; i++) {
    row.push(`{ let k = Math.imul(key[${i}], 0xcc9e2d51); k = (k << 15) | (k >>> 17); h ^= Math.imul(k, 0x1b873593); h = (h << 13) | (h >>> 19); h = (Math.imul(h, 5) + 0xe6546b64) | 0; }`);
  }
  row.push(`h ^= ${plan.keyWords}; h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16; h |= 1;`);
  row.push('const us = rs < 0 ? 1 : 0, ud = rd < 0 ? 1 : 0;');
  row.push('flows++; sumP += packets; sumB += bytes; unS += us; unD += ud;');
  row.push('H[j] = h; P[j] = packets; B[j] = bytes; U[j] = us | (ud << 1); j++;');
  // The key words go to this row's place in the chunk's keys (K at kb).
  for (let i = 0; i < row.length; i++) row[i] = (row[i] as string).replace(/key\[(\d+)\]/g, 'K[kb + $1]');

  const body = [
    "'use strict';",
    'const n = batch.length;',
    'const ints = batch.ints, ports = batch.ports, u8 = batch.u8, nulls = batch.nulls, toff = batch.toff, tlen = batch.tlen, src = batch.src;',
    ...pre,
    needKeep ? `const keep = KEEP;` : '',
    'let flows = 0, sumP = 0, sumB = 0, unS = 0, unD = 0, lateF = 0, lateP = 0, lateB = 0;',
    `let maxT = counters[${C_MAX_START}];`,
    `for (let c0 = 0; c0 < n; c0 += ${CHUNK}) {`,
    `  const c1 = c0 + ${CHUNK} < n ? c0 + ${CHUNK} : n;`,
    '  let j = 0;',
    '  for (let r = c0; r < c1; r++) {',
    `    const rn = r * ${NW};`,
    ...row.map((l) => '    ' + l),
    '  }',
    '  touched ^= table.touch(H, 0, j);',
    `  for (let i = 0; i < j; i++) { const u = U[i]; table.add(K, i * ${plan.keyWords}, H[i], 1, P[i], B[i], u & 1, u >>> 1); }`,
    '}',
    `counters[${C_FLOWS}] += flows; counters[${C_PACKETS}] += sumP; counters[${C_BYTES}] += sumB;`,
    `counters[${C_UNATTRIBUTED_SRC}] += unS; counters[${C_UNATTRIBUTED_DST}] += unD;`,
    `counters[${C_LATE_FLOWS}] += lateF; counters[${C_LATE_PACKETS}] += lateP; counters[${C_LATE_BYTES}] += lateB;`,
    `counters[${C_MAX_START}] = maxT;`,
  ].join('\n');
  const keep = new Uint8Array(65536);
  for (const p of plan.keepPorts) keep[p] = 1;
  // Per compiled loop (so per thread): one chunk's keys, hashes and metrics.
  const K = new Int32Array(CHUNK * plan.keyWords);
  const H = new Int32Array(CHUNK);
  const P = new Float64Array(CHUNK);
  const B = new Float64Array(CHUNK);
  const U = new Uint8Array(CHUNK);
  const make = new Function('KEEP', 'K', 'H', 'P', 'B', 'U', `let touched = 0;\nreturn function aggregate(batch, srcRes, dstRes, projSrc, projDst, table, closedBefore, counters, dict) {\n${body}\nreturn touched;\n};`) as (k: Uint8Array, K: Int32Array, H: Int32Array, P: Float64Array, B: Float64Array, U: Uint8Array) => Aggregator;
  return make(keep, K, H, P, B, U);
}

