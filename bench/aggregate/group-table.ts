// Group table throughput per core at the realistic rollup ratio (about one group per ten flows),
// beside the naive JS way (a Map keyed by the joined key string) on the same flows in the same run.
//
// Workload: N flows (2M; --quick 500k), each a 6-word key (window, src app, dst app, protocol,
// dst port, action) drawn uniformly from N/10 distinct keys (so ~N/10 groups), with packets/bytes.
// Rows: ns per flow to hash + add into a fresh table; to merge two half tables; the Map baseline.
// Guard: the typed table is ≥ 2× the Map's rate (same flows, same run).

import { Bench } from 'tinybench';
import { GroupTable, hashKey } from '../../src/aggregate/group-table.js';
import { Rng } from '../../src/sources/generator/traffic.js';
import type { BenchOptions, ScenarioResult } from '../run.js';

const WORDS = 6;
const GUARD = 2;

export async function run(opts: BenchOptions): Promise<ScenarioResult> {
  const n = opts.quick ? 500_000 : 2_000_000;
  const distinct = n / 10;
  const rng = new Rng(11);
  const pool = new Int32Array(distinct * WORDS);
  for (let g = 0; g < distinct; g++) {
    pool[g * WORDS] = 29_398_000 + rng.int(60); // window (minute)
    pool[g * WORDS + 1] = rng.int(2000); // src app
    pool[g * WORDS + 2] = rng.int(2000); // dst app
    pool[g * WORDS + 3] = rng.next() < 0.9 ? 6 : 17;
    pool[g * WORDS + 4] = [443, 80, 5432, 6379, 9092, 0][rng.int(6)] as number;
    pool[g * WORDS + 5] = rng.next() < 0.95 ? 1 : 2;
  }
  const keys = new Int32Array(n * WORDS);
  const packets = new Float64Array(n);
  const bytes = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = rng.int(distinct);
    keys.set(pool.subarray(g * WORDS, (g + 1) * WORDS), i * WORDS);
    packets[i] = 1 + rng.int(500);
    bytes[i] = (packets[i] as number) * (40 + rng.int(1460));
  }

  const table = new GroupTable(WORDS, distinct);
  const fill = (t: GroupTable, from: number, to: number): number => {
    for (let i = from; i < to; i++) {
      const off = i * WORDS;
      t.add(keys, off, hashKey(keys, off, WORDS), 1, packets[i] as number, bytes[i] as number, 0, 0);
    }
    return t.size;
  };
  const halfA = new GroupTable(WORDS, distinct);
  const halfB = new GroupTable(WORDS, distinct);
  fill(halfA, 0, n >>> 1);
  fill(halfB, n >>> 1, n);
  const merged = new GroupTable(WORDS, distinct);
  const groups = fill(table, 0, n);
  table.clear();

  const map = new Map<string, Float64Array>();
  const mapFill = (): number => {
    map.clear();
    for (let i = 0; i < n; i++) {
      const off = i * WORDS;
      const k = `${keys[off]},${keys[off + 1]},${keys[off + 2]},${keys[off + 3]},${keys[off + 4]},${keys[off + 5]}`;
      let m = map.get(k);
      if (m === undefined) map.set(k, (m = new Float64Array(3)));
      m[0] = (m[0] as number) + 1;
      m[1] = (m[1] as number) + (packets[i] as number);
      m[2] = (m[2] as number) + (bytes[i] as number);
    }
    return map.size;
  };
  if (mapFill() !== groups) throw new Error(`bench aggregate: Map found ${map.size} groups, table ${groups}`);

  const bench = new Bench({ time: opts.quick ? 1000 : 3000, warmupTime: 200, iterations: 5 });
  bench
    .add('group table: hash + add', () => {
      table.clear();
      fill(table, 0, n);
    })
    .add('group table: merge two halves', () => {
      merged.clear();
      merged.mergeFrom(halfA);
      merged.mergeFrom(halfB);
    })
    .add('Map<string> baseline', () => {
      mapFill();
    });
  await bench.run();
  const per: Record<string, number> = {};
  const rows = bench.tasks.map((task) => {
    const r = task.result;
    if (r.state !== 'completed') throw new Error(`bench task ${task.name} ${r.state}`);
    const items = task.name.includes('merge') ? halfA.size + halfB.size : n;
    const ns = (r.latency.p50 * 1e6) / items;
    per[task.name] = ns;
    return { task: task.name, items, 'ns/item': +ns.toFixed(1), 'M items/s': +(1e3 / ns).toFixed(2) };
  });
  const ratio = (per['Map<string> baseline'] as number) / (per['group table: hash + add'] as number);
  return {
    scenario: 'aggregate: group table, one core',
    rows,
    notes: [`workload: ${n} flows, ${WORDS}-word keys, ${groups} groups (1 per ${(n / groups).toFixed(1)} flows), uniform over groups`, `group table is ${ratio.toFixed(2)}× the Map baseline`],
    guards: [{ name: `group table ≥ ${GUARD}× Map<string> (same flows, same run)`, ok: ratio >= GUARD, detail: `ratio ${ratio.toFixed(2)}` }],
  };
}
