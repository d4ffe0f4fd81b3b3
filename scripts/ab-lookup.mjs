// A/B of the index's batch lookup between two built checkouts, in one process, call by call: this
// machine's speed swings up to 4× within minutes, so two runs of `npm run bench -- index` minutes apart
// cannot show a 5% change; alternating calls on the same workload can.
//
//   node scripts/ab-lookup.mjs <checkout A> <checkout B> [prefixes=100000]
//
// Each checkout must be built (`npm run build`: its dist/). Both build the bench's 100k-prefix workload
// (bench/index/lookup.ts: 90% /32, 9% /24, 1% /16 in 10/8, 10 intervals each over 2 h) from the same
// seed, then time IndexView.lookupColumn on 500k Zipf-skewed and 500k uniform probes, 80 calls each,
// alternating A and B (and which goes first). Prints min and median ns per lookup, the median of the
// pairwise B/A ratios with its quartiles, and how many results differ (must be 0).
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const [rootA, rootB, nArg] = process.argv.slice(2);
if (rootA === undefined || rootB === undefined) {
  console.error('usage: node scripts/ab-lookup.mjs <checkout A> <checkout B> [prefixes]');
  process.exit(2);
}
const NP = Number(nArg ?? 100_000);
const T0 = 1763640000;
const SPAN = 7200;
const N = 500_000;

async function workload(root) {
  const at = (p) => pathToFileURL(resolve(root, 'dist', p)).href;
  const { IndexBuilder } = await import(at('src/index/builder.js'));
  const { formatIPv4 } = await import(at('src/parse/ip.js'));
  const { Rng } = await import(at('src/sources/generator/traffic.js'));
  const rng = new Rng(1);
  const b = new IndexBuilder({ horizonSeconds: null });
  const seen = new Set();
  const prefixes = [];
  while (prefixes.length < NP) {
    const r = rng.next();
    const len = r < 0.9 ? 32 : r < 0.99 ? 24 : 16;
    const addr = (0x0a000000 | (Math.floor(rng.next() * 2 ** 24) & (len === 32 ? 0xffffff : len === 24 ? 0xffff00 : 0xff0000))) >>> 0;
    if (seen.has(addr * 64 + len)) continue;
    seen.add(addr * 64 + len);
    prefixes.push({ addr, len });
  }
  for (const p of prefixes) {
    const cidr = `${formatIPv4(p.addr)}/${p.len}`;
    let t = T0 + rng.int(60);
    for (let k = 0; k < 10; k++) {
      b.addEvent({ time: t, type: 'assign', cidr, meta: { app: `app${rng.int(5000)}`, region: 'us-east-1' } });
      t += 1 + rng.int((2 * SPAN) / 10);
    }
  }
  const probes = [];
  for (const [name, skewed, seed] of [['Zipf', true, 2], ['uniform', false, 3]]) {
    const r = new Rng(seed);
    const addr = new Uint32Array(N);
    const t = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      const p = prefixes[skewed ? r.zipf(prefixes.length) : r.int(prefixes.length)];
      addr[i] = (p.addr + r.int(2 ** (32 - p.len))) >>> 0;
      t[i] = T0 + r.int(SPAN);
    }
    probes.push({ name, addr, fam: new Uint8Array(N).fill(4), t, out: new Int32Array(N) });
  }
  return { view: b.freeze().view, probes };
}

const A = await workload(rootA);
const B = await workload(rootB);
const none = new Uint8Array(0);
const time = (w, p) => {
  const t0 = performance.now();
  w.view.lookupColumn(p.addr, p.fam, none, p.t, N, p.out);
  return ((performance.now() - t0) * 1e6) / N;
};
const stats = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return `min ${s[0].toFixed(1)} median ${s[s.length >> 1].toFixed(1)}`;
};
for (let i = 0; i < 2; i++) {
  const pa = A.probes[i];
  const pb = B.probes[i];
  for (let k = 0; k < 5; k++) {
    time(A, pa);
    time(B, pb);
  }
  const ta = [];
  const tb = [];
  for (let k = 0; k < 80; k++) {
    // which goes first alternates too
    if (k & 1) {
      tb.push(time(B, pb));
      ta.push(time(A, pa));
    } else {
      ta.push(time(A, pa));
      tb.push(time(B, pb));
    }
  }
  let differ = 0;
  for (let j = 0; j < N; j++) if (pa.out[j] !== pb.out[j]) differ++;
  const r = ta.map((x, j) => tb[j] / x).sort((x, y) => x - y);
  const q = (f) => r[Math.floor(f * (r.length - 1))].toFixed(3);
  console.log(`${pa.name}: A ${stats(ta)}  B ${stats(tb)} ns/lookup; B/A pairwise median ${q(0.5)} (quartiles ${q(0.25)}-${q(0.75)}); results differing: ${differ}; rows left to JS: A ${A.view.rowsBy.js}, B ${B.view.rowsBy.js}`);
}
