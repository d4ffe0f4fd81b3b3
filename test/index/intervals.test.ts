import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ChangeEvent, IndexBuilder } from '../../src/index/builder.js';
import { T0, who } from './helpers.js';

const ip = '10.1.2.3';
const assign = (t: number, app: string, cidr = ip): ChangeEvent => ({ time: T0 + t, type: 'assign', cidr, meta: { app } });
const release = (t: number, app?: string, cidr = ip): ChangeEvent => ({ time: T0 + t, type: 'release', cidr, meta: app === undefined ? {} : { app } });

function freeze(events: ChangeEvent[], setup?: (b: IndexBuilder) => void) {
  const b = new IndexBuilder({ horizonSeconds: null });
  setup?.(b);
  for (const e of events) b.addEvent(e);
  return b.freeze().view;
}

describe('ownership intervals', () => {
  it('from ≤ t < to: exactly at from is the new owner, exactly at to is not', () => {
    const v = freeze([assign(100, 'a'), release(200, 'a'), assign(300, 'b')]);
    assert.equal(who(v, ip, T0 + 99.999), 'gap');
    assert.equal(who(v, ip, T0 + 100), 'a');
    assert.equal(who(v, ip, T0 + 199.999), 'a');
    assert.equal(who(v, ip, T0 + 200), 'gap');
    assert.equal(who(v, ip, T0 + 300), 'b');
    assert.equal(who(v, ip, T0 + 1e6), 'b');
  });

  it('a later assign ends the previous owner even when its release never came', () => {
    const v = freeze([assign(0, 'a'), assign(60, 'b'), assign(120, 'c')]);
    assert.equal(who(v, ip, T0 + 59), 'a');
    assert.equal(who(v, ip, T0 + 60), 'b');
    assert.equal(who(v, ip, T0 + 119), 'b');
    assert.equal(who(v, ip, T0 + 120), 'c');
  });

  it('order and duplicates of delivery do not matter', () => {
    const events = [assign(0, 'a'), release(50, 'a'), assign(60, 'b'), release(110, 'b'), assign(120, 'c'), release(500, 'c')];
    const expected = freeze(events);
    const shuffled = [events[4], events[1], events[1], events[5], events[0], events[3], events[2], events[0], events[4]] as ChangeEvent[];
    const v = freeze(shuffled);
    for (let t = -10; t < 520; t += 5) assert.equal(who(v, ip, T0 + t), who(expected, ip, T0 + t), `t=${t}`);
    assert.equal(v.intervalCount, 3);
  });

  it('at one timestamp a release applies before an assign (a handover)', () => {
    const v = freeze([assign(0, 'a'), assign(100, 'b'), release(100, 'a')]);
    assert.equal(who(v, ip, T0 + 99), 'a');
    assert.equal(who(v, ip, T0 + 100), 'b');
  });

  it('two different assigns at the same time are a conflict until the next event, never a pick', () => {
    const v = freeze([assign(0, 'a'), assign(0, 'b'), release(60), assign(90, 'c')]);
    assert.equal(who(v, ip, T0), 'conflict');
    assert.equal(who(v, ip, T0 + 59), 'conflict');
    assert.equal(who(v, ip, T0 + 60), 'gap');
    assert.equal(who(v, ip, T0 + 90), 'c');
  });

  it('a release naming another owner exposes lost events: the span after the last evidence is a conflict', () => {
    // a assigned at 0; a's release and b's assign were lost; b's release at 300 arrives.
    const v = freeze([assign(0, 'a'), release(300, 'b'), assign(400, 'c')]);
    assert.equal(who(v, ip, T0 + 10), 'conflict');
    assert.equal(who(v, ip, T0 + 299), 'conflict');
    assert.equal(who(v, ip, T0 + 300), 'gap');
    assert.equal(who(v, ip, T0 + 400), 'c');
  });

  it('heartbeats extend how long the contradicted owner is trusted, and prove the other owner', () => {
    const v = freeze([assign(0, 'a'), release(300, 'b')], (b) => {
      b.addSnapshotRow({ cidr: null, meta: { app: 'a', interface_id: 'eni-a' } });
      b.addSnapshotRow({ cidr: null, meta: { app: 'b', interface_id: 'eni-b' } });
      assert.equal(b.observe(ip, T0 + 50, T0 + 80, 'eni-a'), true);
      assert.equal(b.observe(ip, T0 + 200, T0 + 260, 'eni-b'), true);
      assert.equal(b.observe(ip, T0 + 200, T0 + 260, 'eni-unknown'), false);
    });
    assert.equal(who(v, ip, T0 + 10), 'a');
    assert.equal(who(v, ip, T0 + 80), 'a'); // heartbeat [50, 80] covers the whole second 80
    assert.equal(who(v, ip, T0 + 81), 'conflict');
    assert.equal(who(v, ip, T0 + 199), 'conflict');
    assert.equal(who(v, ip, T0 + 200), 'b');
    assert.equal(who(v, ip, T0 + 260), 'b');
    assert.equal(who(v, ip, T0 + 261), 'conflict'); // still inside a's contradicted tenure, not proven by anyone
    assert.equal(who(v, ip, T0 + 300), 'gap');
  });

  it('two heartbeats of different owners at the same time are a conflict', () => {
    const v = freeze([], (b) => {
      b.addSnapshotRow({ cidr: null, meta: { app: 'a', interface_id: 'eni-a' } });
      b.addSnapshotRow({ cidr: null, meta: { app: 'b', interface_id: 'eni-b' } });
      b.observe(ip, T0, T0 + 100, 'eni-a');
      b.observe(ip, T0 + 50, T0 + 150, 'eni-b');
    });
    assert.equal(who(v, ip, T0 + 49), 'a');
    assert.equal(who(v, ip, T0 + 50), 'conflict');
    assert.equal(who(v, ip, T0 + 100), 'conflict');
    assert.equal(who(v, ip, T0 + 101), 'b');
  });

  it('a snapshot row without valid_to is ended by a later event for that cidr', () => {
    const v = freeze([release(600)], (b) => b.addSnapshotRow({ cidr: ip, meta: { app: 'old' } }));
    assert.equal(who(v, ip, T0 - 1e6), 'old');
    assert.equal(who(v, ip, T0 + 599), 'old');
    assert.equal(who(v, ip, T0 + 600), 'gap');
  });

  it('a gap in a /32 falls back to its /16, a conflict does not', () => {
    const v = freeze([assign(0, 'a'), release(100, 'a'), assign(200, 'x'), assign(200, 'y'), release(300)], (b) => b.addSnapshotRow({ cidr: '10.1.0.0/16', meta: { app: 'vpc' } }));
    assert.equal(who(v, ip, T0 - 5), 'vpc');
    assert.equal(who(v, ip, T0 + 50), 'a');
    assert.equal(who(v, ip, T0 + 150), 'vpc');
    assert.equal(who(v, ip, T0 + 250), 'conflict');
    assert.equal(who(v, ip, T0 + 300), 'vpc');
  });

  it('with an event lateness bound, event-inferred ownership ends at newest event − lateness', () => {
    const b = new IndexBuilder({ horizonSeconds: null, eventLatenessSeconds: 120 });
    b.addEvent(assign(0, 'a'));
    b.addEvent(assign(1000, 'b', '10.9.9.9'));
    const v = b.freeze().view;
    assert.equal(v.knownUntil, T0 + 880);
    assert.equal(who(v, ip, T0 + 879), 'a');
    assert.equal(who(v, ip, T0 + 880), 'gap');
    assert.equal(who(v, '10.9.9.9', T0 + 1000), 'gap');
  });

  it('closed snapshot rows of different owners that overlap are a conflict only where they overlap', () => {
    const b = new IndexBuilder({ horizonSeconds: null });
    b.addSnapshotRow({ cidr: ip, meta: { app: 'a' }, validFrom: T0, validTo: T0 + 100 });
    b.addSnapshotRow({ cidr: ip, meta: { app: 'b' }, validFrom: T0 + 50, validTo: T0 + 150 });
    const v = b.freeze().view;
    assert.equal(who(v, ip, T0 + 49), 'a');
    assert.equal(who(v, ip, T0 + 50), 'conflict');
    assert.equal(who(v, ip, T0 + 99), 'conflict');
    assert.equal(who(v, ip, T0 + 100), 'b');
    assert.equal(who(v, ip, T0 + 150), 'gap');
  });
});

describe('retention', () => {
  it('drops intervals that ended more than the horizon before the newest event, keeps open ones', () => {
    const b = new IndexBuilder({ horizonSeconds: 3600 });
    b.addEvent(assign(0, 'a'));
    b.addEvent(release(600, 'a'));
    b.addEvent(assign(0, 'long', '10.1.2.4'));
    b.addEvent(assign(10_000, 'c', '10.1.2.5'));
    const { view, stats } = b.freeze();
    assert.equal(stats.cutoff, T0 + 10_000 - 3600);
    assert.equal(who(view, ip, T0 + 300), 'unknown'); // 10.1.2.3's history is gone, prefix pruned
    assert.equal(who(view, '10.1.2.4', T0 + 300), 'long'); // still open: kept whole
    assert.equal(who(view, '10.1.2.5', T0 + 10_000), 'c');
    assert.equal(stats.pruned.prefixes, 1);
    assert.equal(stats.pruned.events, 2);
  });

  it('counts back from the caller’s watermark when given (a backfill keeps what its flows need)', () => {
    const b = new IndexBuilder({ horizonSeconds: 3600 });
    b.addEvent(assign(0, 'a'));
    b.addEvent(release(600, 'a'));
    b.addEvent(assign(10_000, 'c', '10.1.2.5'));
    const view = b.freeze({ watermark: T0 + 1000 }).view;
    assert.equal(who(view, ip, T0 + 300), 'a');
  });

  it('memory stays bounded under endless churn: a freeze per hour keeps ~the horizon of history', () => {
    const b = new IndexBuilder({ horizonSeconds: 1800 });
    let last = 0;
    for (let h = 0; h < 6; h++) {
      for (let m = 0; m < 60; m++) {
        const t = h * 3600 + m * 60;
        for (let k = 0; k < 50; k++) b.addEvent(assign(t, `app${(m + k) % 7}`, `10.1.0.${k}`));
      }
      const { stats } = b.freeze();
      if (h >= 2) assert.ok(stats.intervals <= 50 * 32, `hour ${h}: ${stats.intervals} intervals`);
      last = stats.intervals;
    }
    assert.ok(last > 0);
  });
});
