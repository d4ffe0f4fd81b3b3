// The churn simulation (bench/index/churn-sim.ts): thousands of apps, addresses reassigned every few
// minutes, events late/duplicated/reordered/lost, flows up to 15 min late. The index must never name
// the wrong owner; the naive latest-owner map, fed the same events, is shown to misattribute.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { churnRows, runChurn } from '../../bench/index/churn-sim.js';

describe('churn simulation with ground truth', () => {
  it('zero misattributed flow sides; the naive latest-owner map misattributes many', () => {
    const r = runChurn({ seed: 11, apps: 1500, ips: 2500, flows: 30_000, durationSeconds: 3600 });
    console.table(churnRows(r));
    assert.ok(r.tenures > 20_000, `tenures ${r.tenures}`);
    assert.ok(r.events.lost > 500 && r.events.duplicates > 500, JSON.stringify(r.events));
    assert.equal(r.index.misattributed, 0, r.examples.join('\n'));
    assert.equal(r.index.sides, 60_000);
    assert.ok(r.index.correct / r.index.sides > 0.9, `attributed share ${r.index.correct / r.index.sides}`);
    assert.ok(r.naive.misattributed / r.naive.sides > 0.2, `naive misattribution ${r.naive.misattributed}`);
  });

  it('is reproducible from its seed', () => {
    const a = runChurn({ seed: 5, apps: 200, ips: 300, flows: 3000, durationSeconds: 1800 });
    const b = runChurn({ seed: 5, apps: 200, ips: 300, flows: 3000, durationSeconds: 1800 });
    assert.deepEqual({ ...a, meanFreezeMs: 0 }, { ...b, meanFreezeMs: 0 });
  });

  it('negative control: an index told events are never late does misattribute (the check can fail)', () => {
    const r = runChurn({ seed: 11, apps: 500, ips: 800, flows: 10_000, durationSeconds: 1800, indexEventLateness: 0 });
    assert.ok(r.index.misattributed > 0, 'expected misattribution when the lateness bound is ignored');
  });
});
