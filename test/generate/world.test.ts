// The generated world (src/sources/generator/world.ts) is an inventory the real loaders and the index
// accept as is, that covers every internal address the matching traffic uses, where the longest
// prefix decides, whose /32 churn is consistent, and that is a function of its seed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DredgeError } from '../../src/errors.js';
import { IndexBuilder } from '../../src/index/builder.js';
import { parseEvents } from '../../src/index/load/events.js';
import { parseSnapshot } from '../../src/index/load/snapshot.js';
import { type IndexView, RESULT_UNKNOWN } from '../../src/index/lookup.js';
import { FlowFormat } from '../../src/parse/fields.js';
import { decodeBuffer } from '../../src/parse/inflate.js';
import { parseIpString } from '../../src/parse/ip.js';
import { TrafficGenerator } from '../../src/sources/generator/traffic.js';
import { DEFAULT_WORLD, type World, buildWorld } from '../../src/sources/generator/world.js';

function load(w: World): { view: IndexView; b: IndexBuilder; conflicts: number; v4: number } {
  const b = new IndexBuilder({ horizonSeconds: null });
  for (const r of parseSnapshot(w.snapshotCsv, 'snapshot.csv')) b.addSnapshotRow(r);
  for (const e of parseEvents(w.eventsNdjson, 'events.ndjson')) b.addEvent(e);
  const { view, stats } = b.freeze();
  return { view, b, conflicts: stats.conflictIntervals, v4: stats.v4Prefixes };
}

function v4(ip: string): number {
  const a = parseIpString(ip);
  assert.ok(a !== null && a.family === 4, ip);
  return a.v4;
}

function appAt(view: IndexView, ip: string | number, t: number): string {
  const r = view.lookupV4(typeof ip === 'number' ? ip : v4(ip), t);
  assert.ok(r >= 0, `${ip} at ${t}: no owner (${r})`);
  return view.meta.field(r, 'app') as string;
}

/** Not RFC 1918, 100.64/10, 169.254/16 or 127/8 (DESIGN.md §9's "public"). */
function isPublic(a: number): boolean {
  const o1 = a >>> 24;
  const o2 = (a >>> 16) & 255;
  return !(o1 === 10 || o1 === 127 || (o1 === 172 && (o2 & 0xf0) === 16) || (o1 === 192 && o2 === 168) || (o1 === 100 && (o2 & 0xc0) === 64) || (o1 === 169 && o2 === 254));
}

const world = buildWorld();

describe('generated world: inventory for the generated traffic', () => {
  it('defaults: ~20k nested prefixes (/16 per VPC, /20 per subnet, 8–10 /24s each) over 2000 apps, built quickly', () => {
    const t0 = performance.now();
    const w = buildWorld({ seed: 9 });
    const ms = performance.now() - t0;
    // A hang guard, not a speed target (those live in benchmarks): ~0.1–0.5 s here, loaded or not.
    assert.ok(ms < 10_000, `built in ${ms.toFixed(0)} ms`);
    assert.equal(world.byLength[16], 125);
    assert.equal(world.byLength[20], 2000);
    const n24 = world.byLength[24] as number;
    assert.ok(n24 >= 16_000 && n24 <= 20_000, `${n24} /24s`);
    assert.equal(world.prefixes, 125 + 2000 + n24);
    assert.ok(world.prefixes > 19_000 && world.prefixes < 21_000, `${world.prefixes} prefixes`);
    assert.ok(world.apps >= 1990 && world.apps <= 2000, `${world.apps} apps`);
    assert.ok(world.churnAddresses > 500 && world.churnAddresses < 1500, `${world.churnAddresses} churned addresses`);
    assert.equal(world.events, world.assigns + world.releases);
    assert.ok(world.assigns > world.releases && world.releases > 0, `${world.assigns} assigns, ${world.releases} releases`);
    assert.ok(w.prefixes > 19_000);
  });

  it('loads with parseSnapshot, parseEvents and IndexBuilder: no errors, no conflicts, every row fully described', () => {
    const rows = parseSnapshot(world.snapshotCsv, 'snapshot.csv');
    assert.equal(rows.length, world.prefixes);
    for (const r of rows) {
      const m = r.meta;
      const where = `${r.origin?.line}: ${r.cidr}`;
      for (const k of ['app', 'cluster', 'account', 'region', 'vpc', 'owner'] as const) assert.ok(m[k] !== undefined && m[k] !== '', `${where} lacks ${k}`);
      assert.match(m.account as string, /^\d{12}$/, where);
      assert.match(m.region as string, /^(us-east-1|us-west-2|eu-west-1)$/, where);
      if (r.cidr?.endsWith('/16')) assert.deepEqual([m.az, m.subnet], [undefined, undefined], `${where}: a VPC row names no az or subnet`);
      else {
        assert.ok((m.az as string).startsWith(m.region as string) && /[a-f]$/.test(m.az as string), `${where}: az ${m.az}`);
        assert.match(m.subnet as string, /^subnet-[0-9a-f]{17}$/, where);
      }
    }
    const events = parseEvents(world.eventsNdjson, 'events.ndjson');
    assert.equal(events.length, world.events);
    const { b, conflicts, v4: v4Prefixes } = load(world);
    assert.equal(b.counters.snapshotRows, world.prefixes);
    assert.equal(b.counters.events, world.events);
    assert.equal(v4Prefixes, world.prefixes + world.churnAddresses);
    assert.equal(conflicts, 0);
  });

  it('is a function of its options: same seed, same bytes; another seed, another world', () => {
    const again = buildWorld({ seed: DEFAULT_WORLD.seed });
    assert.equal(again.snapshotCsv, world.snapshotCsv);
    assert.equal(again.eventsNdjson, world.eventsNdjson);
    const other = buildWorld({ seed: 43 });
    assert.notEqual(other.snapshotCsv, world.snapshotCsv);
    assert.notEqual(other.eventsNdjson, world.eventsNdjson);
  });

  it('every internal address of the matching traffic resolves to an owner; public ones to internet', () => {
    const { view } = load(world);
    const bytes = new TrafficGenerator(FlowFormat.V2_DEFAULT, { seed: DEFAULT_WORLD.seed }).lines(20_000);
    let internal = 0;
    let external = 0;
    decodeBuffer(bytes, {
      onIssue: (i) => assert.fail(`${i.unit} ${i.n}: ${i.reason}`),
      onBatch: (batch) => {
        const start = batch.intColumn('start');
        for (const col of ['srcaddr', 'dstaddr']) {
          const { addr, fam } = batch.addrColumn(col);
          for (let r = 0; r < batch.length; r++) {
            if (fam[r] !== 4) continue; // NODATA records carry no address
            const a = addr[r] as number;
            if (a >>> 24 === 10) {
              internal++;
              assert.notEqual(appAt(view, a, start[r] as number), 'internet');
            } else if (isPublic(a)) {
              external++;
              assert.equal(appAt(view, a, start[r] as number), 'internet');
            } else {
              // The generator's random peers (11.x–210.x) sometimes land in 127/8, 172.16/12, …:
              // private space no prefix covers is unknown, never internet.
              assert.equal(view.lookupV4(a, start[r] as number), RESULT_UNKNOWN);
            }
          }
        }
      },
    });
    assert.ok(internal > 30_000 && external > 500, `${internal} internal, ${external} public sides`);
  });

  it('the longest prefix decides: deeper prefixes mostly belong to another app than their parent', () => {
    const rows = parseSnapshot(world.snapshotCsv, 'snapshot.csv');
    const app = new Map(rows.map((r) => [r.cidr as string, r.meta.app as string]));
    let differ = 0;
    let n = 0;
    for (const [cidr, a] of app) {
      const m = /^10\.(\d+)\.(\d+)\.0\/(20|24)$/.exec(cidr);
      if (m === null) continue;
      const third = Number(m[2]);
      const parent = m[3] === '20' ? `10.${m[1]}.0.0/16` : `10.${m[1]}.${third & 0xf0}.0/20`;
      assert.ok(app.has(parent), `${cidr} has no parent row ${parent}`);
      n++;
      if (app.get(parent) !== a) differ++;
    }
    assert.ok(differ / n > 0.85, `${differ} of ${n} differ from their parent`);
    const { view } = load(world);
    // A /24 inside a /20 with another app: an address in it answers the /24's app.
    let looked = 0;
    for (const [cidr, a] of app) {
      const m = /^10\.(\d+)\.(\d+)\.0\/24$/.exec(cidr);
      if (m === null) continue;
      const parent = app.get(`10.${m[1]}.${Number(m[2]) & 0xf0}.0/20`) as string;
      assert.equal(appAt(view, `10.${m[1]}.${m[2]}.77`, DEFAULT_WORLD.startTime - 1), a, `${cidr}: the /24 answers`);
      // The /20's other /24 slots either have their own row or answer the /20's app.
      const hole = `10.${m[1]}.${(Number(m[2]) & 0xf0) | ((Number(m[2]) + 1) & 15)}.0/24`;
      if (!app.has(hole)) assert.equal(appAt(view, hole.replace('.0/24', '.9'), DEFAULT_WORLD.startTime - 1), parent, `${hole} falls back to the /20`);
      if (++looked === 500) break;
    }
  });

  it('churn: /32 histories inside the span; each release names the owner it ends; some releases never sent', () => {
    const o = DEFAULT_WORLD;
    const events = parseEvents(world.eventsNdjson, 'events.ndjson');
    const byCidr = new Map<string, typeof events>();
    let last = -Infinity;
    for (const e of events) {
      assert.ok(e.time >= o.startTime && e.time < o.startTime + o.spanSeconds, `${e.cidr} at ${e.time}`);
      assert.ok(e.time >= last, 'sorted by time');
      last = e.time;
      assert.match(e.cidr, /^10\.\d+\.\d+\.\d+$/);
      let list = byCidr.get(e.cidr);
      if (list === undefined) byCidr.set(e.cidr, (list = []));
      list.push(e);
    }
    assert.equal(byCidr.size, world.churnAddresses);
    let lost = 0;
    const { view } = load(world);
    let checked = 0;
    for (const [cidr, list] of byCidr) {
      assert.equal(list[0]?.type, 'assign', `${cidr} starts with an assign`);
      for (let i = 1; i < list.length; i++) if (list[i]?.type === 'assign') assert.notEqual(list[i]?.meta.app, list[i - 1]?.meta.app, `${cidr}: an assign changes the owner`);
      for (let i = 1; i < list.length; i++) {
        const [p, e] = [list[i - 1], list[i]] as [(typeof events)[0], (typeof events)[0]];
        if (e.type === 'release') {
          assert.equal(p.type, 'assign', `${cidr}: a release follows an assign`);
          assert.equal(e.meta.app, p.meta.app, `${cidr}: the release names the owner it ends`);
          assert.ok(e.time - p.time >= 120 && e.time - p.time <= 1800, `${cidr}: tenure ${e.time - p.time} s`);
        } else if (p.type === 'assign') lost++;
      }
      // The index answers the owner inside a tenure and the covering prefix's app after a release.
      const first = list[0] as (typeof events)[0];
      const next = list[1];
      assert.equal(appAt(view, cidr, first.time), first.meta.app);
      const before = appAt(view, cidr, o.startTime - 1);
      assert.notEqual(before, first.meta.app, `${cidr}: the first assign changes the owner`);
      if (next !== undefined && next.type === 'release' && (list[2] === undefined || (list[2] as (typeof events)[0]).time > next.time)) {
        assert.equal(appAt(view, cidr, next.time), before, `${cidr}: after the release the covering prefix answers`);
        checked++;
      }
    }
    assert.ok(lost > 50, `${lost} assigns without a release before them`);
    assert.ok(checked > 100, `${checked} release fallbacks checked`);
  });

  it('small layouts: a partial last VPC; subnets beyond the 10/8 layout are refused', () => {
    const w = buildWorld({ subnets: 17, hosts: 500, apps: 30 });
    assert.deepEqual([w.byLength[16], w.byLength[20]], [2, 17]);
    assert.ok(w.apps <= 30);
    assert.equal(load(w).conflicts, 0);
    assert.equal(buildWorld({ subnets: 4096, hosts: 1000 }).byLength[20], 4096);
    assert.throws(() => buildWorld({ subnets: 4097 }), (e: unknown) => e instanceof DredgeError && /4096/.test(e.message));
    assert.throws(() => buildWorld({ churnShare: 2 }), DredgeError);
  });
});
