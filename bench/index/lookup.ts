// `bench index`: the time-aware IP index (src/index/).
//   1. batch lookups (IndexView.lookupColumn over typed arrays, one core) on 100k prefixes carrying
//      1M ownership intervals, with Zipf-skewed and uniform addresses: the WebAssembly lookup (what
//      runs), its JS twin, and the same passes in C over the same generation's bytes
//      (bench/index/lookup-ref.c, the same-run yardstick; checksums must agree); beside the same
//      longest-prefix lookups done with the ip-cidr package (bucketed by /16 so it scans only the
//      candidates that can match, and without the time dimension: it is there for scale)
//   2. freeze of a 1M-prefix generation (1M scattered /32s, one interval each)
//   3. memory: 1M prefixes × 10 live generations as a pipeline holds them (RSS and buffer bytes)
//   4. the churn simulation (bench/index/churn-sim.ts): misattribution of the index vs a naive
//      latest-owner map, and a stress variant outside the loss model
// Guards are same-run ratios: the WebAssembly lookup vs C on the same generation (100k and 1M
// prefixes), and index lookups vs ip-cidr. `--quick` shrinks every size for CI.

import IPCIDR from 'ip-cidr';
import { IndexBuilder } from '../../src/index/builder.js';
import { IndexView } from '../../src/index/lookup.js';
import { cLookupUnavailable, prepareCLookup } from './c-lookup.js';
import { formatIPv4 } from '../../src/parse/ip.js';
import { Rng } from '../../src/sources/generator/traffic.js';
import type { BenchOptions, GuardResult, ScenarioResult } from '../run.js';
import { churnRows, runChurn } from './churn-sim.js';

const T0 = 1763640000;

interface Workload {
  view: IndexView;
  prefixes: { addr: number; len: number }[];
  freezeMs: number;
  intervals: number;
  bytes: number;
}

/** `n` prefixes (90% /32, 9% /24, 1% /16, scattered over 10/8), `perPrefix` intervals each. */
function buildWorkload(n: number, perPrefix: number, seed: number, span: number): Workload {
  const rng = new Rng(seed);
  const b = new IndexBuilder({ horizonSeconds: null });
  const seen = new Set<number>();
  const prefixes: { addr: number; len: number }[] = [];
  while (prefixes.length < n) {
    const r = rng.next();
    const len = r < 0.9 ? 32 : r < 0.99 ? 24 : 16;
    const addr = ((0x0a000000 | (Math.floor(rng.next() * 2 ** 24) & (len === 32 ? 0xffffff : len === 24 ? 0xffff00 : 0xff0000))) >>> 0);
    const key = addr * 64 + len;
    if (seen.has(key)) continue;
    seen.add(key);
    prefixes.push({ addr, len });
  }
  for (const p of prefixes) {
    const cidr = `${formatIPv4(p.addr)}/${p.len}`;
    let t = T0 + rng.int(60);
    for (let k = 0; k < perPrefix; k++) {
      b.addEvent({ time: t, type: 'assign', cidr, meta: { app: `app${rng.int(5000)}`, region: 'us-east-1' } });
      t += 1 + rng.int((2 * span) / perPrefix);
    }
  }
  const { view, stats } = b.freeze();
  return { view, prefixes, freezeMs: stats.freezeMs, intervals: stats.intervals, bytes: stats.bytes };
}

/** Addresses inside the workload's prefixes (Zipf-skewed or uniform), times inside the span. */
function probes(w: Workload, n: number, skewed: boolean, seed: number, span: number): { addr: Uint32Array; fam: Uint8Array; t: Float64Array } {
  const rng = new Rng(seed);
  const addr = new Uint32Array(n);
  const fam = new Uint8Array(n).fill(4);
  const t = new Float64Array(n);
  const P = w.prefixes.length;
  for (let i = 0; i < n; i++) {
    const p = w.prefixes[skewed ? rng.zipf(P) : rng.int(P)] as { addr: number; len: number };
    addr[i] = (p.addr + rng.int(2 ** (32 - p.len))) >>> 0;
    t[i] = T0 + rng.int(span);
  }
  return { addr, fam, t };
}

/**
 * Rounds per case, the best kept. Seven, not five: in noisy minutes the WebAssembly samples of one run
 * spread 17-32M/s while 18 of 20 C samples stayed at 30-42M (per-sample trace, seventh session), so best
 * of five let the ratio dip under its guard (0.42, 0.47) on code that measures 0.8 in a quiet minute.
 */
const ROUNDS = 7;

function lookupRate(view: IndexView, pr: { addr: Uint32Array; fam: Uint8Array; t: Float64Array }, passes: number): { perSec: number; checksum: number } {
  const out = new Int32Array(pr.addr.length);
  const v6 = new Uint8Array(0);
  view.lookupColumn(pr.addr, pr.fam, v6, pr.t, pr.addr.length, out); // warm-up
  view.lookupColumn(pr.addr, pr.fam, v6, pr.t, pr.addr.length, out);
  const t0 = process.hrtime.bigint();
  for (let p = 0; p < passes; p++) view.lookupColumn(pr.addr, pr.fam, v6, pr.t, pr.addr.length, out);
  const ns = Number(process.hrtime.bigint() - t0);
  let checksum = 0;
  for (let i = 0; i < out.length; i++) checksum = (checksum + (out[i] as number)) | 0;
  return { perSec: (pr.addr.length * passes) / (ns / 1e9), checksum };
}

/** The same longest-prefix question with ip-cidr: candidates bucketed by /16, `contains` on each. */
function ipCidrRate(w: Workload, pr: { addr: Uint32Array }, n: number): { perSec: number; agree: number } {
  const buckets = new Map<number, { len: number; c: IPCIDR; addr: number }[]>();
  const wide: { len: number; c: IPCIDR; addr: number }[] = [];
  for (const p of w.prefixes) {
    const e = { len: p.len, c: new IPCIDR(`${formatIPv4(p.addr)}/${p.len}`), addr: p.addr };
    if (p.len < 16) wide.push(e);
    else {
      const k = p.addr >>> 16;
      let l = buckets.get(k);
      if (l === undefined) buckets.set(k, (l = []));
      l.push(e);
    }
  }
  const texts = Array.from(pr.addr.subarray(0, n), formatIPv4);
  let agree = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const s = texts[i] as string;
    let best = -1;
    for (const e of buckets.get((pr.addr[i] as number) >>> 16) ?? []) if (e.len > best && e.c.contains(s)) best = e.len;
    for (const e of wide) if (e.len > best && e.c.contains(s)) best = e.len;
    if (best >= 0) agree++;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  return { perSec: n / (ns / 1e9), agree };
}

function mb(n: number): string {
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

export async function run(opts: BenchOptions): Promise<ScenarioResult> {
  const q = opts.quick;
  const rows: Record<string, string | number>[] = [];
  const guards: GuardResult[] = [];
  const notes: string[] = [];
  const span = 2 * 3600;

  // 1. Lookups on 100k prefixes × 10 intervals: WebAssembly, JS and C taken in turn, best of ROUNDS each
  // (this machine's speed swings within seconds; the best of each is what it can do).
  const nPrefixes = q ? 20_000 : 100_000;
  const per = 10;
  const w = buildWorkload(nPrefixes, per, 1, span);
  const nProbe = q ? 200_000 : 1_000_000;
  const passes = q ? 3 : 10;
  const jsView = new IndexView(w.view.memory, null, { engine: 'js' });
  const shape = `${w.prefixes.length} prefixes (90% /32, 9% /24, 1% /16 in 10/8), ${w.intervals} intervals, ${nProbe} lookups × ${passes} passes, times over ${span / 3600} h`;
  let unifWasm = 0;
  let unifJs = 0;
  let unifC = 0;
  let cWhy = '';
  for (const [label, skewed, seed] of [['Zipf-skewed', true, 2], ['uniform', false, 3]] as const) {
    const pr = probes(w, nProbe, skewed, seed, span);
    const c = prepareCLookup(w.view, pr.addr, pr.t, label);
    let wasm = { perSec: 0, checksum: 0 };
    let js = { perSec: 0, checksum: 0 };
    let cr = { perSec: 0, checksum: 0 };
    for (let k = 0; k < ROUNDS; k++) {
      const a = lookupRate(w.view, pr, passes);
      if (a.perSec > wasm.perSec) wasm = a;
      const b = lookupRate(jsView, pr, passes);
      if (b.perSec > js.perSec) js = b;
      if (c !== null) {
        const x = c.run(passes);
        if (x.perSec > cr.perSec) cr = x;
      }
    }
    c?.dispose();
    if (js.checksum !== wasm.checksum) throw new Error(`bench index: the JS lookup's checksum ${js.checksum} differs from the WebAssembly lookup's ${wasm.checksum}`);
    if (c !== null && cr.checksum !== wasm.checksum) throw new Error(`bench index: the C lookup's checksum ${cr.checksum} differs from the WebAssembly lookup's ${wasm.checksum}: not the same job`);
    rows.push({ case: `batch lookup (WebAssembly), ${label} addresses`, workload: shape, 'lookups/s': Math.round(wasm.perSec), 'ns/lookup': (1e9 / wasm.perSec).toFixed(1), '÷ C': c === null ? '-' : (wasm.perSec / cr.perSec).toFixed(2) });
    rows.push({ case: `batch lookup (JS path), ${label} addresses`, workload: 'same', 'lookups/s': Math.round(js.perSec), 'ns/lookup': (1e9 / js.perSec).toFixed(1), '÷ C': c === null ? '-' : (js.perSec / cr.perSec).toFixed(2) });
    if (c !== null) rows.push({ case: `batch lookup (C, the same passes), ${label} addresses`, workload: 'same generation bytes, same probes', 'lookups/s': Math.round(cr.perSec), 'ns/lookup': (1e9 / cr.perSec).toFixed(1), '÷ C': '1.00' });
    else cWhy = cLookupUnavailable();
    if (!skewed) {
      unifJs = js.perSec;
      unifWasm = wasm.perSec;
      unifC = cr.perSec;
    }
    notes.push(`${label}: checksums WebAssembly ${wasm.checksum}, JS ${js.checksum}${c === null ? '' : `, C ${cr.checksum}`}`);
  }
  const ipc = ipCidrRate(w, probes(w, nProbe, false, 3, span), q ? 2_000 : 20_000);
  rows.push({ case: 'ip-cidr contains(), /16-bucketed LPM, no time', workload: `same prefixes, ${q ? 2_000 : 20_000} uniform addresses`, 'lookups/s': Math.round(ipc.perSec), 'ns/lookup': (1e9 / ipc.perSec).toFixed(1) });
  // 0.5: measured 0.57-0.81 at full size (seventh session, best of seven; 0.42 and 0.47 in noisy
  // runs of best of five) and 1.26 (uniform) / 0.84 (100k) in one run at CI's quick sizes, against the
  // vectorized C (it was 0.7-1.3 against a scalar C that gcc did not vectorize); a lookup that fell
  // back to JS measures 0.11-0.25.
  if (unifC > 0) guards.push({ name: 'index batch lookups (WebAssembly) ≥ 0.5× the same lookup in C', ok: unifWasm >= 0.5 * unifC, detail: `${(unifWasm / unifC).toFixed(2)}× (uniform)` });
  else notes.push(`no C yardstick: ${cWhy}`);
  // without gcc this is the guard that a silent fall-back to JS fails (measured 2.6-3.3× here)
  guards.push({ name: 'index batch lookups: WebAssembly ≥ 1.5× the JS path', ok: unifWasm >= 1.5 * unifJs && w.view.rowsBy.js === 0, detail: `${(unifWasm / unifJs).toFixed(2)}× (uniform); rows the WebAssembly view left to JS: ${w.view.rowsBy.js}` });
  guards.push({ name: 'index batch lookups ≥ 100× ip-cidr', ok: unifWasm >= 100 * ipc.perSec, detail: `${(unifWasm / ipc.perSec).toFixed(0)}× (uniform)` });
  notes.push(`100k-prefix generation: ${mb(w.bytes)}, froze in ${w.freezeMs.toFixed(0)} ms`);

  // 2. Freeze of a 1M-prefix generation, 3. memory of 10 live generations.
  const big = q ? 100_000 : 1_000_000;
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const rng = new Rng(9);
  const b = new IndexBuilder({ horizonSeconds: null });
  const seen = new Set<number>();
  const hosts: number[] = [];
  while (hosts.length < big) {
    const a = (0x0a000000 | rng.int(2 ** 24)) >>> 0;
    if (seen.has(a)) continue;
    seen.add(a);
    hosts.push(a);
  }
  seen.clear();
  for (const a of hosts) b.addEvent({ time: T0 + rng.int(600), type: 'assign', cidr: formatIPv4(a), meta: { app: `app${rng.int(20_000)}` } });
  // Ten live generations as a running pipeline holds them: batches in flight keep each generation's
  // hot part (the shared memory the workers read); the main thread keeps the newest
  // generation whole (its explain data too) and the builder.
  const lookupParts: WebAssembly.Memory[] = [];
  let newest: IndexView | null = null;
  const freezeMs: number[] = [];
  let bytes = 0;
  let lookupBytes = 0;
  for (let g = 0; g < 10; g++) {
    if (g > 0) for (let k = 0; k < big / 100; k++) b.addEvent({ time: T0 + 600 + g * 60 + rng.int(60), type: 'assign', cidr: formatIPv4(hosts[rng.int(big)] as number), meta: { app: `app${rng.int(20_000)}` } });
    const { view, stats } = b.freeze();
    freezeMs.push(stats.freezeMs);
    bytes += stats.bytes;
    lookupBytes += stats.lookupBytes;
    lookupParts.push(view.memory);
    newest = view;
  }
  global.gc?.();
  const rss1 = process.memoryUsage().rss;
  const last = newest as IndexView;
  // Lookups through a worker's kind of view: the lookup buffer alone.
  const hotView = new IndexView(lookupParts[9] as WebAssembly.Memory);
  const bigProbe = probes({ ...w, view: last, prefixes: hosts.slice(0, 100_000).map((addr) => ({ addr, len: 32 })) }, nProbe, false, 4, 900);
  let rb = { perSec: 0, checksum: 0 };
  let cb = { perSec: 0, checksum: 0 };
  const cBig = prepareCLookup(hotView, bigProbe.addr, bigProbe.t, 'big');
  for (let k = 0; k < ROUNDS; k++) {
    const x = lookupRate(hotView, bigProbe, passes);
    if (x.perSec > rb.perSec) rb = x;
    const y = cBig?.run(passes);
    if (y !== undefined && y.perSec > cb.perSec) cb = y;
  }
  cBig?.dispose();
  if (cBig !== null && cb.checksum !== rb.checksum) throw new Error(`bench index: the C lookup's checksum ${cb.checksum} differs from the WebAssembly lookup's ${rb.checksum} on the ${big}-prefix generation`);
  rows.push({ case: `freeze, ${big} scattered /32s`, workload: `${big} prefixes, ~${big} intervals; first freeze / mean of next 9 (1% of prefixes changed each)`, 'lookups/s': '-', 'ns/lookup': '-', ms: `${(freezeMs[0] as number).toFixed(0)} / ${(freezeMs.slice(1).reduce((a, x) => a + x, 0) / 9).toFixed(0)}` });
  rows.push({ case: `memory, ${big} prefixes × 10 generations`, workload: 'as a pipeline holds them: the lookup buffers of all 10, the newest one whole, the builder', 'lookups/s': '-', 'ns/lookup': '-', ms: '-', memory: `RSS +${mb(rss1 - rss0)}; lookup buffers ${mb(lookupBytes)} (${mb(lookupBytes / 10)}/generation; whole with explain data ${mb(bytes / 10)})` });
  rows.push({ case: `batch lookup (WebAssembly) on the ${big}-prefix generation`, workload: `${nProbe} uniform addresses × ${passes}; ${(unifWasm / rb.perSec).toFixed(2)}× slower than on ${nPrefixes}`, 'lookups/s': Math.round(rb.perSec), 'ns/lookup': (1e9 / rb.perSec).toFixed(1), '÷ C': cBig === null ? '-' : (rb.perSec / cb.perSec).toFixed(2) });
  if (cBig !== null) {
    rows.push({ case: `batch lookup (C, the same passes) on the ${big}-prefix generation`, workload: 'same generation bytes, same probes', 'lookups/s': Math.round(cb.perSec), 'ns/lookup': (1e9 / cb.perSec).toFixed(1), '÷ C': '1.00' });
    guards.push({ name: `index batch lookups (WebAssembly) on ${big} prefixes ≥ 0.5× the same lookup in C`, ok: rb.perSec >= 0.5 * cb.perSec, detail: `${(rb.perSec / cb.perSec).toFixed(2)}×` });
  }
  if (global.gc === undefined) notes.push('run node with --expose-gc for steadier RSS figures');

  // 4. Churn simulation.
  const churn = runChurn(q ? { apps: 500, ips: 800, flows: 10_000, durationSeconds: 1800 } : { apps: 2000, ips: 4000, flows: 200_000, durationSeconds: 2 * 3600 });
  for (const r of churnRows(churn)) rows.push({ case: `churn: ${r.method}`, workload: `${churn.opts.apps} apps, ${churn.opts.ips} IPs, ${churn.tenures} tenures (mean ${churn.opts.meanTenure} s), events ≤${churn.opts.eventLateness} s late, ${churn.events.duplicates} dup, ${churn.events.lost} lost; ${churn.flows} flows ≤${churn.opts.maxFlowDelay / 60} min late`, misattributed: `${r.misattributed} (${r['misattributed %']})`, unattributed: `${r.unattributed} (${r['unattributed %']})` });
  guards.push({ name: 'churn: zero misattributed flow sides', ok: churn.index.misattributed === 0, detail: `${churn.index.misattributed} of ${churn.index.sides}` });
  const stress = runChurn(q ? { apps: 500, ips: 800, flows: 10_000, durationSeconds: 1800, idleTraffic: 0.2, allowDoubleLoss: true } : { apps: 2000, ips: 4000, flows: 200_000, durationSeconds: 2 * 3600, idleTraffic: 0.2, allowDoubleLoss: true });
  for (const r of churnRows(stress)) rows.push({ case: `churn stress (idle traffic, double loss): ${r.method}`, workload: `as above + 20% of internal remote sides at any address; ${stress.events.doubleLossHandovers} handovers with both events lost`, misattributed: `${r.misattributed} (${r['misattributed %']})`, unattributed: `${r.unattributed} (${r['unattributed %']})` });
  notes.push(`churn: ${churn.freezes} freezes (mean ${churn.meanFreezeMs.toFixed(1)} ms), ${churn.held} flows held until the index knew their time (max ${churn.maxHoldSeconds} s)`);
  return { scenario: 'index', rows, guards, notes };
}
