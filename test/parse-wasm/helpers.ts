// Differential harness for the two line scanners: decode the same bytes with scanner 'js' and 'wasm'
// and capture everything a consumer can observe — every batch (format, length, and each row's raw
// cells: numbers, enum codes, address words and families, IPv6 bytes and where they were written, text
// offsets and lengths, null words), every issue, the stats and any error — so that a comparison is
// stricter than the rendered JSON.

import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { type DecodeStats, FlowDecoder } from '../../src/parse/decoder.js';
import { KIND_ACTION, KIND_ADDR, KIND_INT, KIND_PORT, KIND_PROTO, KIND_STATUS, type FlowFormat } from '../../src/parse/fields.js';
import type { FlowBatch } from '../../src/parse/flow-batch.js';
import { decodeBuffer } from '../../src/parse/inflate.js';

export type Scanner = 'js' | 'wasm';

// These tests compare both paths whatever the environment they run in: the kill switch (which would
// turn 'wasm' into 'js') has its own test, kill-switch.test.ts.
delete process.env.DREDGE_WASM;

export interface Observed {
  scanner: string;
  /** One entry per batch handed to onBatch: a header line, then one line per row. */
  batches: string[][];
  issues: string[];
  stats: DecodeStats | null;
  error: string | null;
}

export interface DiffOptions {
  fields?: string | FlowFormat;
  batchRows?: number;
  maxLineBytes?: number;
  /** Feed a FlowDecoder chunks of these sizes (cycled), reusing each chunk's buffer afterwards. */
  chunks?: readonly number[];
}

/** Everything observable about one batch, one string per row. */
export function snapshot(b: FlowBatch): string[] {
  const fmt = b.format;
  const kinds = fmt.kinds;
  const words = fmt.nullWords;
  const out = [`format=${fmt.names.join(' ')} length=${b.length} capacity=${b.capacity} v6=${b.v6Count}`];
  for (let r = 0; r < b.length; r++) {
    const cells: (string | number)[] = [];
    for (let w = 0; w < words; w++) cells.push(b.nulls[r * words + w] as number);
    for (let f = 0; f < kinds.length; f++) {
      const at = (b.bases[f] as number) + r;
      switch (kinds[f]) {
        case KIND_INT:
          cells.push(b.ints[at] as number);
          break;
        case KIND_PORT:
          cells.push(b.ports[at] as number);
          break;
        case KIND_PROTO:
        case KIND_ACTION:
        case KIND_STATUS:
          cells.push(b.u8[at] as number);
          break;
        case KIND_ADDR: {
          const fam = b.fam[at] as number;
          const a = b.addr[at] as number;
          if (fam === 6) {
            const v6 = Buffer.from(b.v6.subarray(a * 16, a * 16 + 16)).toString('hex');
            cells.push(`6:${a}:${v6}@${b.v6Off[a]}+${b.v6Len[a]}`);
          } else {
            cells.push(`${fam}:${a}`);
          }
          break;
        }
        default:
          cells.push(`${b.toff[at]}+${b.tlen[at]}:${JSON.stringify(b.text(r, f))}`);
      }
    }
    out.push(cells.join(' '));
  }
  return out;
}

/** Decodes `bytes` (gzip and envelopes sniffed as decodeBuffer does) with one scanner. */
export function observe(bytes: Uint8Array, scanner: Scanner, opts: DiffOptions = {}): Observed {
  const o: Observed = { scanner: '?', batches: [], issues: [], stats: null, error: null };
  const common = {
    fields: opts.fields,
    batchRows: opts.batchRows,
    maxLineBytes: opts.maxLineBytes,
    scanner,
    onBatch: (b: FlowBatch) => {
      o.batches.push(snapshot(b));
    },
    onIssue: (i: { unit: string; n: number; reason: string }) => {
      o.issues.push(`${i.unit} ${i.n}: ${i.reason}`);
    },
  };
  try {
    if (opts.chunks === undefined) {
      o.stats = { ...decodeBuffer(bytes, common) };
      o.scanner = scanner;
    } else {
      let data = bytes;
      if (data[0] === 0x1f && data[1] === 0x8b) data = gunzipSync(data);
      const d = new FlowDecoder(common);
      o.scanner = d.scanner;
      let p = 0;
      let k = 0;
      const sizes = opts.chunks;
      while (p < data.length) {
        const n = Math.max(1, sizes[k++ % sizes.length] as number);
        const chunk = new Uint8Array(data.subarray(p, p + n));
        d.push(chunk);
        chunk.fill(0x7e); // a pooled reader reuses its buffer: nothing may still point into it
        p += n;
      }
      o.stats = { ...d.end() };
    }
  } catch (e) {
    o.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  return o;
}

/** Asserts that both scanners observe exactly the same (and that 'wasm' really was used). */
export function assertSame(bytes: Uint8Array, opts: DiffOptions = {}, what = 'input'): Observed {
  const js = observe(bytes, 'js', opts);
  const wasm = observe(bytes, 'wasm', opts);
  if (opts.chunks !== undefined) {
    assert.equal(js.scanner, 'js', `${what}: js decoder used ${js.scanner}`);
    assert.equal(wasm.scanner, 'wasm', `${what}: wasm decoder used ${wasm.scanner}`);
  }
  assert.equal(wasm.error, js.error, `${what}: error`);
  assert.deepEqual(wasm.issues, js.issues, `${what}: issues`);
  assert.deepEqual(wasm.stats, js.stats, `${what}: stats`);
  assert.equal(wasm.batches.length, js.batches.length, `${what}: number of batches`);
  for (let i = 0; i < js.batches.length; i++) {
    const a = js.batches[i] as string[];
    const b = wasm.batches[i] as string[];
    for (let r = 0; r < Math.max(a.length, b.length); r++) {
      if (a[r] !== b[r]) assert.fail(`${what}: batch ${i} ${r === 0 ? 'header' : `row ${r - 1}`} differs\n  js:   ${a[r]}\n  wasm: ${b[r]}`);
    }
  }
  return js;
}

/** mulberry32, for the randomized cases (seeded: failures reproduce). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
