// Flattened timelines (src/index/flatten.ts): the freeze-time resolution of "longest prefix that has
// an owner at t, else its parent…" must answer exactly what walking the prefix chain over each
// prefix's own intervals answers (IndexView.resolveChain, the reference), through the single lookup
// and the staged batch form (integer time keys included), on random nested prefixes and odd times.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IndexBuilder } from '../../src/index/builder.js';
import { compactHeader, compactPrefix, H_V4_ROOT, LOOKUP_CHUNK, SLOT_LIST, SLOT_LIST32, SLOT_ROWS, TL_COMPACT, TL_COUNT_MASK, TL_OPEN_START, TL_PREFIX_LIM } from '../../src/index/layout.js';
import { IndexView, RESULT_NO_ADDRESS } from '../../src/index/lookup.js';
import { flattenTimelines, TL_GAP } from '../../src/index/flatten.js';
import { formatIPv4 } from '../../src/parse/ip.js';
import { T0 } from './helpers.js';
import { Rng } from '../../src/sources/generator/traffic.js';

/** The project's seeded PRNG (mulberry32), as a function. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

function randomIndex(seed: number, knownUntil: number | undefined, fractions: boolean) {
  const frac = (x: number): number => (fractions ? x : 0);
  const r = rng(seed);
  const b = new IndexBuilder({ horizonSeconds: null });
  const prefixes: { addr: number; len: number }[] = [];
  const lens = [8, 12, 16, 20, 24, 28, 30, 32];
  const times: number[] = [];
  for (let i = 0; i < 300; i++) {
    const len = lens[Math.floor(r() * lens.length)] as number;
    // a small region so that prefixes nest deeply
    const addr = ((0x0a000000 | Math.floor(r() * 2 ** 12)) & (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0)) >>> 0;
    prefixes.push({ addr, len });
    const cidr = `${formatIPv4(addr)}/${len}`;
    const kind = r();
    if (kind < 0.15) {
      b.addSnapshotRow({ cidr, meta: { app: `s${Math.floor(r() * 6)}` } }); // open from -Infinity
    } else if (kind < 0.3) {
      const from = T0 + Math.floor(r() * 400) + (r() < 0.3 ? frac(0.5) : 0);
      b.addSnapshotRow({ cidr, meta: { app: `s${Math.floor(r() * 6)}` }, validFrom: from, validTo: from + 1 + Math.floor(r() * 200) + (r() < 0.3 ? frac(0.25) : 0) });
      times.push(from);
    }
    const nEv = Math.floor(r() * 6);
    for (let k = 0; k < nEv; k++) {
      // now and then far from the rest (beyond the integer time keys' range: they clamp)
      const far = fractions && r() < 0.04 ? (r() < 0.5 ? -1 : 1) * (2 ** 31 + Math.floor(r() * 3)) : 0;
      const t = T0 + far + Math.floor(r() * 600) + (r() < 0.3 ? frac(Math.floor(r() * 4) / 4) : 0);
      times.push(t);
      const app = `a${Math.floor(r() * 5)}`;
      b.addEvent({ time: t, type: r() < 0.7 ? 'assign' : 'release', cidr, meta: { app } });
      if (r() < 0.05) b.addEvent({ time: t, type: 'assign', cidr, meta: { app: `x${app}` } }); // conflict
    }
  }
  return { view: b.freeze(knownUntil === undefined ? {} : { knownUntil }).view, prefixes, times };
}

describe('flattened timelines', () => {
  for (const [seed, knownUntil, fractions] of [
    [1, undefined, true],
    [2, T0 + 300.5, true],
    [3, undefined, false],
    [4, T0 + 450, false],
    [5, T0 + 450, true],
  ] as const) {
    it(`batch and single lookups equal the prefix-chain walk (seed ${seed}, ${fractions ? 'fractional and far times: Float64 starts decide within a second' : 'whole seconds: exact integer keys only'})`, () => {
      const { view, prefixes, times } = randomIndex(seed, knownUntil, fractions);
      assert.equal(view.v.tlStart.length > 0, fractions);
      const r = rng(seed + 100);
      const qt: number[] = [-Infinity, Infinity, NaN, 0, -1e12, 1e12, T0 - 2 ** 31, T0 + 2 ** 31, T0 + 2 ** 40];
      for (const t of times) qt.push(t, t - 1, t + 1, t - 0.5, t + 0.25, t + 0.75, Math.floor(t), Math.ceil(t) - 1e-6);
      for (let i = 0; i < 300; i++) qt.push(T0 - 50 + r() * 800);
      const addrs: number[] = [];
      for (const p of prefixes) {
        const size = 2 ** (32 - p.len);
        addrs.push(p.addr, (p.addr + size - 1) >>> 0, (p.addr + Math.floor(r() * size)) >>> 0, (p.addr - 1) >>> 0, (p.addr + size) >>> 0);
      }
      const n = addrs.length * 12 + 37; // not a whole number of the WebAssembly lookup's slots or chunks
      assert.ok(n > 2 * SLOT_ROWS && (n % SLOT_ROWS) % LOOKUP_CHUNK !== 0, `${n} rows: several calls, the last one ending inside a chunk`);
      const addr = new Uint32Array(n);
      const fam = new Uint8Array(n).fill(4);
      const t = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        addr[i] = addrs[i % addrs.length] as number;
        t[i] = qt[Math.floor(r() * qt.length)] as number;
        if (i % 97 === 5) fam[i] = 0; // address-less rows between the IPv4 ones
      }
      const out = new Int32Array(n);
      view.lookupColumn(addr, fam, new Uint8Array(0), t, n, out);
      assert.equal(view.rowsBy.wasm, n, 'the WebAssembly lookup ran');
      const js = new IndexView(view.memory, null, { engine: 'js' });
      const outJs = new Int32Array(n);
      js.lookupColumn(addr, fam, new Uint8Array(0), t, n, outJs);
      assert.equal(js.rowsBy.js, n);
      assert.deepEqual(outJs, out, 'the JS and WebAssembly batch lookups agree');
      // Both timeline forms (layout.ts) and the bisection of long wide ones are exercised.
      let long = 0;
      let compact = 0;
      let openCompact = 0;
      for (let p = 0; p < view.prefixCount; p++) {
        const h = view.v.tl[((view.v.pfxTl[p] as number) >>> 1) - 1] as number;
        if ((h & TL_COMPACT) !== 0) compact++;
        if ((h & TL_COMPACT) !== 0 && (h & TL_OPEN_START) !== 0) openCompact++;
        else if ((h & TL_COMPACT) === 0 && h > 16) long++;
      }
      assert.ok(seed > 2 || long > 0, 'some timelines are longer than the 16 spans counted without bisection');
      if (fractions) assert.equal(compact, 0, 'exact Float64 starts keep every timeline wide');
      else assert.ok(compact > 0 && compact < view.prefixCount && openCompact > 0, `compact (${openCompact} of them open since -Infinity) and wide timelines both occur (${compact} of ${view.prefixCount} compact)`);
      let nested = 0;
      for (let i = 0; i < n; i++) {
        if (fam[i] === 0) {
          assert.equal(out[i], RESULT_NO_ADDRESS);
          continue;
        }
        const a = addr[i] as number;
        const tt = t[i] as number;
        const deepest = view.deepestV4(a);
        if (deepest >= 0 && (view.v.pfxParent[deepest] as number) >= 0) nested++;
        const ref = view.resolveChain(deepest, tt, view.lookupV4(a, -Infinity) === 0 && deepest < 0);
        assert.equal(out[i], ref, `batch ${formatIPv4(a)} at ${tt}`);
        assert.equal(view.lookupV4(a, tt), ref, `single ${formatIPv4(a)} at ${tt}`);
      }
      assert.ok(nested > n / 4, `the workload nests (${nested} of ${n})`);
    });
  }

  it('range blocks of both forms (a /24\'s start bytes, a root /16\'s whole addresses) at every density and both timeline forms at their limits answer the same in WebAssembly, JS and the prefix-chain walk', () => {
    const b = new IndexBuilder({ horizonSeconds: null });
    b.addSnapshotRow({ cidr: '10.7.0.0/16', meta: { app: 'vpc' } }); // open since -Infinity: compact timelines start open
    // k hosts → 2k + 1 ranges, or 2k when the last host ends the block: every vector and segment boundary of both searches
    const densities: [number, boolean][] = [[1, false], [6, false], [8, true], [8, false], [12, false], [16, true], [16, false], [23, false], [24, true]];
    const expected = densities.map(([k, atEnd]) => 2 * k + (atEnd ? 0 : 1)); // 3, 13, 16, 17, 25, 32, 33, 47, 48
    const blocks: number[] = [];
    densities.forEach(([k, atEnd], i) => {
      const base = 0x0a070000 + (i + 16) * 256;
      blocks.push(base);
      for (let h = 0; h < k; h++) {
        const cidr = formatIPv4(atEnd && h === k - 1 ? base + 255 : base + 3 + h * 10);
        for (let e = 0; e < 3; e++) b.addEvent({ time: T0 + h + e * 100, type: 'assign', cidr, meta: { app: `h${i}-${h}-${e}` } });
      }
    });
    // the same densities in root slots' lists (whole-address starts, SLOT_LIST32): hosts in a /16 no prefix covers, one per /24
    const roots: number[] = [];
    const rootAddrs: number[] = [];
    densities.forEach(([k, atEnd], i) => {
      const base = 0x0a100000 + i * 0x10000;
      roots.push(base);
      for (let h = 0; h < k; h++) {
        const ip = atEnd && h === k - 1 ? base + 0xffff : base + h * 0x0a00 + 7;
        rootAddrs.push(ip - 1, ip, (ip + 1) >>> 0, (ip & ~255) >>> 0, (ip | 255) >>> 0);
        for (let e = 0; e < 3; e++) b.addEvent({ time: T0 + h + e * 100, type: 'assign', cidr: formatIPv4(ip), meta: { app: `r${i}-${h}-${e}` } });
      }
      rootAddrs.push(base, base + 0xffff);
    });
    // 16-bit key offsets: a span of exactly 65,535 s stays compact, one of 65,536 s goes wide
    b.addEvent({ time: T0, type: 'assign', cidr: '10.7.9.1', meta: { app: 'edge-a' } });
    b.addEvent({ time: T0 + 65_535, type: 'assign', cidr: '10.7.9.1', meta: { app: 'edge-b' } });
    b.addEvent({ time: T0, type: 'assign', cidr: '10.7.9.2', meta: { app: 'edge-c' } });
    b.addEvent({ time: T0 + 65_536, type: 'assign', cidr: '10.7.9.2', meta: { app: 'edge-d' } });
    const view = b.freeze().view;
    const v = view.v;
    const sizes = blocks.map((base) => {
      const node = (v.nodes[(v.header[H_V4_ROOT] as number) + (base >>> 16)] as number) >>> 2; // 10.7/16 holds a child node
      const slot = v.nodes[node + ((base >>> 8) & 255)] as number;
      return (slot & 3) === SLOT_LIST ? (v.tl[(slot >>> 4) << 1] as number) : 0;
    });
    assert.deepEqual(sizes, expected);
    const rootSizes = roots.map((base) => {
      const slot = v.nodes[(v.header[H_V4_ROOT] as number) + (base >>> 16)] as number;
      return (slot & 3) === SLOT_LIST32 ? (v.tl[(slot >>> 4) << 1] as number) : 0;
    });
    assert.deepEqual(rootSizes, expected, 'root slots with up to 48 ranges keep a list');
    const form = (ip: number) => ((v.tl[(view.refV4(ip) >>> 1) - 1] as number) & TL_COMPACT) !== 0;
    assert.equal(form(0x0a070901), true, '65,535 s: compact');
    assert.equal(form(0x0a070902), false, '65,536 s: wide');
    const addrs: number[] = [];
    for (const base of [...blocks, 0x0a070900]) for (let a = 0; a < 256; a++) addrs.push(base + a);
    addrs.push(...rootAddrs);
    const times = [T0 - 1, T0, T0 + 5, T0 + 99, T0 + 100, T0 + 250, T0 + 65_534, T0 + 65_535, T0 + 65_536, T0 + 1e6];
    const n = addrs.length * times.length;
    const addr = new Uint32Array(n);
    const t = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      addr[i] = addrs[i % addrs.length] as number;
      t[i] = times[Math.floor(i / addrs.length)] as number;
    }
    const fam = new Uint8Array(n).fill(4);
    const out = new Int32Array(n);
    view.lookupColumn(addr, fam, new Uint8Array(0), t, n, out);
    assert.equal(view.rowsBy.wasm, n);
    const outJs = new Int32Array(n);
    new IndexView(view.memory, null, { engine: 'js' }).lookupColumn(addr, fam, new Uint8Array(0), t, n, outJs);
    assert.deepEqual(outJs, out);
    for (let i = 0; i < n; i++) assert.equal(out[i], view.resolveChain(view.deepestV4(addr[i] as number), t[i] as number, false), `${formatIPv4(addr[i] as number)} at ${t[i]}`);
  });

  it('a compact header keeps its span count, prefix id (up to TL_PREFIX_LIM - 1) and flags apart', () => {
    for (const p of [0, 1, 12_345, TL_PREFIX_LIM - 1]) {
      for (const open of [false, true]) {
        for (const n of [1, 13]) {
          const h = compactHeader(n, p, open);
          assert.equal(h & TL_COUNT_MASK, n);
          assert.equal(compactPrefix(h), p);
          assert.equal((h & TL_OPEN_START) !== 0, open);
          assert.ok((h & TL_COMPACT) !== 0 && h > 0, 'compact, and a non-negative Int32');
        }
      }
    }
  });

  it('IPv6 and IPv4-mapped rows of the batch form take the same timelines', () => {
    const b = new IndexBuilder({ horizonSeconds: null });
    b.addEvent({ time: T0, type: 'assign', cidr: '2001:db8::/32', meta: { app: 'wide' } });
    b.addEvent({ time: T0 + 10, type: 'assign', cidr: '2001:db8::1/128', meta: { app: 'host' } });
    b.addEvent({ time: T0 + 20, type: 'release', cidr: '2001:db8::1/128', meta: { app: 'host' } });
    const view = b.freeze().view;
    const host = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    const ids = [T0 - 1, T0, T0 + 10, T0 + 19.5, T0 + 20, Infinity].map((x) => view.lookupV6Bytes(host, 0, x));
    const meta = (id: number) => (id >= 0 ? view.meta.field(id, 'app') : id);
    assert.deepEqual(ids.map(meta), [TL_GAP, 'wide', 'host', 'host', 'wide', TL_GAP]);
  });

  it('flattenTimelines: parent spans fill the child’s gaps, equal neighbours merge, +Infinity starts nothing', () => {
    // prefix 0 (parent): [0, 100) → 1, [100, ∞) → 2; prefix 1 (child of 0): [10, 20) → 3, [20, 30) → 2, [50, ∞) → 3
    const from = [0, 100, 10, 20, 50];
    const to = [100, Infinity, 20, 30, Infinity];
    const meta = [1, 2, 3, 2, 3];
    const f = flattenTimelines(from, to, meta, Int32Array.from([0, 2, 5]), Int32Array.from([-1, 0]), 2);
    const tl = (p: number) => Array.from({ length: (f.idx[p + 1] as number) - (f.idx[p] as number) }, (_, k) => [f.start[(f.idx[p] as number) + k], f.res[(f.idx[p] as number) + k]]);
    assert.deepEqual(tl(0), [
      [0, 1],
      [100, 2],
    ]);
    assert.deepEqual(tl(1), [
      [0, 1],
      [10, 3],
      [20, 2],
      [30, 1],
      [50, 3],
    ]);
  });
});
