// GroupTable sums exactly what a plain Map keyed by the key words sums: random keys with heavy
// repetition, through growth, merges of several tables, clear-and-reuse and hand-over between owners.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupTable, METRICS, hashKey, partitionOf, slotBytes } from '../../src/aggregate/group-table.js';
import { Rng } from '../../src/sources/generator/traffic.js';

type Sums = Map<string, number[]>;

function contents(t: GroupTable): Sums {
  const out: Sums = new Map();
  for (let i = 0; i < t.size; i++) {
    const s = t.order[i] as number;
    const words = Array.from({ length: t.keyWords }, (_, w) => t.keyWord(s, w));
    assert.equal(t.hashAt(s), hashKey(Int32Array.from(words), 0, t.keyWords), 'slot hash matches its key');
    const key = words.join(',');
    assert.ok(!out.has(key), `key ${key} held twice`);
    out.set(key, Array.from({ length: METRICS }, (_, m) => t.metric(s, m)));
  }
  return out;
}

function addTo(ref: Sums, key: Int32Array, m: number[]): void {
  const k = [...key].join(',');
  const cur = ref.get(k) ?? [0, 0, 0, 0, 0];
  ref.set(k, cur.map((v, i) => v + (m[i] as number)));
}

function randomFlows(seed: number, n: number, words: number, distinct: number) {
  const rng = new Rng(seed);
  const pool = Array.from({ length: distinct }, () => Int32Array.from({ length: words }, () => rng.int(1 << 30) - (1 << 29)));
  return Array.from({ length: n }, () => ({
    key: pool[rng.zipf(distinct)] as Int32Array,
    m: [1, 1 + rng.int(100), rng.int(1e9) * 1000, rng.int(2), rng.int(2)],
  }));
}

describe('GroupTable', () => {
  it('sums like a Map, through growth from a tiny table', () => {
    for (const words of [1, 3, 7]) {
      const t = new GroupTable(words, 1);
      const ref: Sums = new Map();
      for (const { key, m } of randomFlows(words, 20_000, words, 3_000)) {
        t.add(key, 0, hashKey(key, 0, words), m[0] as number, m[1] as number, m[2] as number, m[3] as number, m[4] as number);
        addTo(ref, key, m);
      }
      assert.deepEqual(contents(t), ref);
      assert.deepEqual([...contents(t).keys()], [...ref.keys()], '`order` lists groups as first added, across growth');
      assert.ok(t.size > 1000);
    }
  });

  it('merging tables equals adding everything to one', () => {
    const words = 4;
    const flows = randomFlows(9, 30_000, words, 5_000);
    // Dense tables are merged in slot order; the last one is presized far beyond its groups, so it
    // is merged in insertion order.
    const parts = [new GroupTable(words), new GroupTable(words), new GroupTable(words), new GroupTable(words, 50_000)];
    const one = new GroupTable(words);
    flows.forEach(({ key, m }, i) => {
      const h = hashKey(key, 0, words);
      (parts[i % 100 === 0 ? 3 : i % 3] as GroupTable).add(key, 0, h, m[0] as number, m[1] as number, m[2] as number, m[3] as number, m[4] as number);
      one.add(key, 0, h, m[0] as number, m[1] as number, m[2] as number, m[3] as number, m[4] as number);
    });
    const merged = new GroupTable(words, 4);
    for (const p of parts) merged.mergeFrom(p);
    assert.deepEqual(contents(merged), contents(one));
    assert.throws(() => merged.mergeFrom(new GroupTable(2)), /cannot merge/);
  });

  it('clear empties in place and the table is reusable', () => {
    const t = new GroupTable(2, 64);
    const key = new Int32Array([1, 2]);
    t.add(key, 0, hashKey(key, 0, 2), 1, 2, 3, 0, 0);
    const capacity = t.capacity;
    t.clear();
    assert.equal(t.size, 0);
    for (let s = 0; s < t.capacity; s++) assert.equal(t.hashAt(s), 0);
    assert.equal(t.capacity, capacity, 'no reallocation');
    t.add(key, 0, hashKey(key, 0, 2), 5, 5, 5, 1, 0);
    assert.deepEqual(contents(t), new Map([['1,2', [5, 5, 5, 1, 0]]]));
  });

  it('a shared table continued from its handle keeps its groups and grows on', () => {
    const words = 3;
    const flows = randomFlows(5, 10_000, words, 2_000);
    const ref: Sums = new Map();
    let t = new GroupTable(words, 4, true);
    flows.forEach(({ key, m }, i) => {
      // Hand the table to a new owner now and then, as the merge rounds do between threads.
      if (i % 1_000 === 999) t = GroupTable.fromHandle(t.toHandle());
      t.add(key, 0, hashKey(key, 0, words), m[0] as number, m[1] as number, m[2] as number, m[3] as number, m[4] as number);
      addTo(ref, key, m);
    });
    assert.deepEqual(contents(t), ref);
    assert.throws(() => new GroupTable(words).toHandle(), /shared/);
  });

  it('a slot is the hash, the key words and the metrics, padded only to 8 bytes', () => {
    for (let words = 1; words <= 9; words++) {
      const bytes = slotBytes(words);
      assert.equal(bytes % 8, 0);
      assert.ok(bytes >= 4 + 4 * words + METRICS * 8 && bytes < 4 + 4 * words + METRICS * 8 + 8);
    }
    assert.equal(slotBytes(3), 56);
    assert.equal(slotBytes(5), 64, 'up to 5 key words a slot fits one cache line');
  });

  it('hashes are odd (0 marks an empty slot) and partitions spread keys evenly', () => {
    const rng = new Rng(3);
    const counts = new Array<number>(8).fill(0);
    const k = new Int32Array(3);
    for (let i = 0; i < 80_000; i++) {
      k[0] = i;
      k[1] = rng.int(100);
      k[2] = 443;
      const h = hashKey(k, 0, 3);
      assert.equal(h & 1, 1);
      const p = partitionOf(h, 8);
      counts[p] = (counts[p] as number) + 1;
    }
    for (const c of counts) assert.ok(c > 9_000 && c < 11_000, `partition sizes ${counts.join(' ')}`);
  });
});
