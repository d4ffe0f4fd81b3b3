// The inventory side of the seeded generator: the snapshot CSV and change-event NDJSON that describe
// who owns the addresses a TrafficGenerator with the same options talks from and to, so a generated
// run can be enriched end to end and checked against known answers.
//
// Address layout (traffic.ts): subnet `sn` is the /20 starting at 10.(sn>>>4).((sn&15)<<4).0, and
// each group of 16 subnets fills one VPC's /16, 10.(sn>>>4).0.0/16. The world is nested prefixes:
//
//   10.v.0.0/16      one row per VPC (az and subnet empty: a VPC spans several of each)
//   10.v.s0.0/20     one row per subnet (every generated host address lies in one)
//   10.v.x.0/24      8–10 of the 16 /24s inside each /20
//
// Each row's app is one of `apps` apps; a deeper prefix belongs to another app than its parent 90% of
// the time (else the same app: its own /24 inside its /20), so only the longest prefix is right.
// Every row carries app, cluster, account (12 digits, leading zeros kept), region, vpc and owner (the
// team); all but the /16s carry az and subnet (the `subnet-…` id the records' `subnet-id` carries).
//
// Churn: `churnShare` of the distinct host addresses change owner during [startTime,
// startTime + spanSeconds) as /32 change events: assign, then after 2–30 min a release naming the app
// it ends (15% of releases are never sent: the next assign ends that owner), a handover or a pause,
// the next assign… Outside its /32 intervals an address falls back to its /24 or /20 row. The events
// are consistent (no conflicts), sorted by time, releases before assigns at one time.
//
// Everything is a function of the options (the seed first): the same options give the same bytes.

import { DredgeError } from '../../errors.js';
import { formatTime } from '../../index/load/time.js';
import { FlowFormat } from '../../parse/fields.js';
import { formatIPv4 } from '../../parse/ip.js';
import { DEFAULT_TRAFFIC, Rng, TrafficGenerator, type TrafficOptions } from './traffic.js';

export interface WorldOptions extends TrafficOptions {
  /** Applications the prefixes and churned addresses are spread over. */
  apps: number;
  /** Share of the distinct host addresses that change owner during the span. */
  churnShare: number;
}

export const DEFAULT_WORLD: WorldOptions = { ...DEFAULT_TRAFFIC, apps: 2_000, churnShare: 0.02 };

/** The layout's limit: 4096 /20 subnets fill 10.0.0.0/8. */
export const MAX_SUBNETS = 4096;

export interface World {
  /** Inventory CSV with a header row (parseSnapshot's format). */
  snapshotCsv: string;
  /** Change events, one JSON object per line, sorted by time (parseEvents' format). */
  eventsNdjson: string;
  /** Snapshot rows (one prefix each). */
  prefixes: number;
  /** Snapshot rows by prefix length, e.g. { 16: 125, 20: 2000, 24: 18000 }. */
  byLength: Record<number, number>;
  /** Distinct apps that own a prefix or a churned address. */
  apps: number;
  /** Distinct /32 addresses with change events. */
  churnAddresses: number;
  events: number;
  assigns: number;
  releases: number;
}

const COLUMNS = ['cidr', 'app', 'cluster', 'account', 'region', 'az', 'vpc', 'subnet', 'owner'] as const;

const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1'] as const;
const REGION_SHORT = ['use1', 'usw2', 'euw1'] as const;
const AZ_LETTERS = ['abcdef', 'abcd', 'abc'] as const;

const WORDS = [
  'checkout', 'ledger', 'search', 'catalog', 'payments', 'auth', 'session', 'inventory', 'pricing', 'shipping',
  'orders', 'billing', 'profile', 'reviews', 'recs', 'ads', 'notify', 'email', 'sms', 'gateway',
  'ingest', 'etl', 'reports', 'metrics', 'logs', 'tracing', 'kafka', 'redis', 'postgres', 'mysql',
  'elastic', 'zookeeper', 'memcached', 'cdn-origin', 'media', 'thumbs', 'uploads', 'export', 'import', 'scheduler',
  'queue', 'workers', 'fraud', 'risk', 'kyc', 'tax', 'fx', 'wallet', 'loyalty', 'coupons',
];
const TEAMS = ['payments', 'discovery', 'platform', 'data', 'identity', 'growth', 'logistics', 'storage', 'observability', 'risk', 'mobile', 'web'];
const ENVS = ['prod', 'prod', 'prod', 'prod', 'prod', 'prod', 'prod', 'staging', 'staging', 'dev'];
const HEX = '0123456789abcdef';
/** Share of prefixes that belong to the same app as the prefix they sit in. */
const SAME_APP_AS_PARENT = 0.1;

interface App {
  name: string;
  team: string;
  account: string;
  env: string;
  /** Cluster number within an (env, region). */
  k: number;
}

/** Builds the world for these options (defaults: DEFAULT_WORLD). Fast: the default world takes tens of ms. */
export function buildWorld(options: Partial<WorldOptions> = {}): World {
  const o: WorldOptions = { ...DEFAULT_WORLD, ...options };
  if (!Number.isInteger(o.subnets) || o.subnets < 1 || o.subnets > MAX_SUBNETS) {
    throw new DredgeError('DREDGE_ERR_CONFIG', `subnets must be a whole number from 1 to ${MAX_SUBNETS} (the generator's /20 subnets fill 10.0.0.0/8), got ${o.subnets}`);
  }
  if (!Number.isInteger(o.apps) || o.apps < 1) throw new DredgeError('DREDGE_ERR_CONFIG', `apps must be a whole number ≥ 1, got ${o.apps}`);
  if (!(o.churnShare >= 0 && o.churnShare <= 1)) throw new DredgeError('DREDGE_ERR_CONFIG', `churnShare must be within [0, 1], got ${o.churnShare}`);
  // A stream of its own, so the world never shifts the traffic's random sequence (or the reverse).
  const rng = new Rng((o.seed ^ 0x5bd1e995) >>> 0);
  const apps = makeApps(rng, o.apps);
  const used = new Uint8Array(o.apps);

  const hex17 = (): string => {
    let s = '';
    for (let i = 0; i < 17; i++) s += HEX[rng.int(16)];
    return s;
  };
  /** Any app but `prev` (any at all when prev < 0 or there is only one). */
  const otherApp = (prev: number): number => {
    let a: number;
    if (prev < 0 || o.apps === 1) a = rng.int(o.apps);
    else {
      a = rng.int(o.apps - 1);
      if (a >= prev) a++;
    }
    used[a] = 1;
    return a;
  };
  /** A prefix's app: its parent's now and then (an app's own /24 inside its /20), else another. */
  const pickApp = (parent: number): number => (parent >= 0 && rng.next() < SAME_APP_AS_PARENT ? parent : otherApp(parent));
  const cluster = (a: App, region: number): string => `${a.env}-${REGION_SHORT[region]}-${a.k}`;

  const rows: string[] = [COLUMNS.join(',')];
  const row = (cidr: string, app: number, region: number, az: string, vpc: string, subnet: string): void => {
    const a = apps[app] as App;
    rows.push(`${cidr},${a.name},${cluster(a, region)},${a.account},${REGIONS[region]},${az},${vpc},${subnet},${a.team}`);
  };
  let n16 = 0;
  let n20 = 0;
  let n24 = 0;

  // Per subnet: the /20's app and the app of each of its 16 /24s (-1 where none), for churn parents.
  const app20 = new Int32Array(o.subnets);
  const app24 = new Int32Array(o.subnets * 16).fill(-1);
  const vpcIds: string[] = [];
  const slots = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  const vpcs = Math.ceil(o.subnets / 16);
  for (let v = 0; v < vpcs; v++) {
    const region = v % REGIONS.length;
    const vpc = `vpc-${hex17()}`;
    vpcIds.push(vpc);
    const app16 = pickApp(-1);
    row(`10.${v}.0.0/16`, app16, region, '', vpc, '');
    n16++;
    const letters = AZ_LETTERS[region] as string;
    for (let sn = v * 16; sn < Math.min(o.subnets, v * 16 + 16); sn++) {
      const x = (sn & 15) << 4;
      const az = `${REGIONS[region]}${letters[(sn & 15) % letters.length]}`;
      const subnet = subnetId(sn);
      const a20 = pickApp(app16);
      app20[sn] = a20;
      row(`10.${v}.${x}.0/20`, a20, region, az, vpc, subnet);
      n20++;
      // 8–10 distinct /24s of the 16, in address order (partial Fisher–Yates over the slot list).
      const k24 = 8 + rng.int(3);
      for (let i = 0; i < k24; i++) {
        const j = i + rng.int(16 - i);
        const t = slots[i] as number;
        slots[i] = slots[j] as number;
        slots[j] = t;
      }
      const chosen = slots.slice(0, k24).sort((p, q) => p - q);
      for (const s of chosen) {
        const a24 = pickApp(a20);
        app24[sn * 16 + s] = a24;
        row(`10.${v}.${x | s}.0/24`, a24, region, az, vpc, subnet);
        n24++;
      }
    }
  }

  // Churn over the distinct host addresses of the matching traffic, in host order.
  const hosts = new TrafficGenerator(FlowFormat.V2_DEFAULT, o).hostAddresses();
  const seen = new Uint8Array(1 << 21); // one bit per address of 10.0.0.0/8
  const events: { t: number; release: boolean; addr: number; line: string }[] = [];
  const end = o.startTime + o.spanSeconds;
  let churned = 0;
  let assigns = 0;
  let releases = 0;
  for (let h = 0; h < hosts.length; h++) {
    const addr = hosts[h] as number;
    const bit = addr & 0xffffff;
    if (((seen[bit >>> 3] as number) & (1 << (bit & 7))) !== 0) continue;
    seen[bit >>> 3] = (seen[bit >>> 3] as number) | (1 << (bit & 7));
    if (!(rng.next() < o.churnShare)) continue;
    churned++;
    const sn = (((addr >>> 16) & 255) << 4) | ((addr >>> 12) & 15);
    const region = (sn >>> 4) % REGIONS.length;
    const letters = AZ_LETTERS[region] as string;
    const az = `${REGIONS[region]}${letters[(sn & 15) % letters.length]}`;
    const vpc = vpcIds[sn >>> 4] as string;
    const subnet = subnetId(sn);
    const cidr = formatIPv4(addr);
    const parent = app24[sn * 16 + ((addr >>> 8) & 15)] as number;
    const covering = parent >= 0 ? parent : (app20[sn] as number);
    let t = o.startTime + rng.int(Math.max(1, Math.floor(o.spanSeconds / 2)));
    let prev = covering;
    for (;;) {
      const app = otherApp(prev);
      const a = apps[app] as App;
      events.push({
        t,
        release: false,
        addr,
        line: JSON.stringify({ time: formatTime(t), type: 'assign', cidr, app: a.name, cluster: cluster(a, region), account: a.account, region: REGIONS[region], az, vpc, subnet, owner: a.team }),
      });
      assigns++;
      const released = t + 120 + rng.int(1681); // a tenure of 2–30 min
      if (released >= end) break;
      if (rng.next() < 0.85) {
        events.push({ t: released, release: true, addr, line: JSON.stringify({ time: formatTime(released), type: 'release', cidr, app: a.name }) });
        releases++;
      }
      t = released + (rng.next() < 0.3 ? 0 : 30 + rng.int(571)); // a handover, or a pause of 30 s–10 min
      if (t >= end) break;
      prev = app;
    }
  }
  events.sort((p, q) => p.t - q.t || Number(q.release) - Number(p.release) || p.addr - q.addr);

  let distinctApps = 0;
  for (let i = 0; i < used.length; i++) distinctApps += used[i] as number;
  return {
    snapshotCsv: rows.join('\n') + '\n',
    eventsNdjson: events.length === 0 ? '' : events.map((e) => e.line).join('\n') + '\n',
    prefixes: rows.length - 1,
    byLength: { 16: n16, 20: n20, 24: n24 },
    apps: distinctApps,
    churnAddresses: churned,
    events: events.length,
    assigns,
    releases,
  };
}

/** The id traffic.ts writes in a record's `subnet-id` field for subnet `sn`. */
export function subnetId(sn: number): string {
  return `subnet-${sn.toString(16).padStart(17, '0')}`;
}

function makeApps(rng: Rng, n: number): App[] {
  const accounts: string[] = [];
  for (let i = Math.max(4, Math.ceil(n / 40)); i > 0; i--) accounts.push(String(rng.int(1e12)).padStart(12, '0'));
  const out: App[] = [];
  for (let i = 0; i < n; i++) {
    const word = WORDS[i % WORDS.length] as string;
    const round = Math.floor(i / WORDS.length);
    out.push({
      name: round === 0 ? word : `${word}-${round}`,
      team: rng.pick(TEAMS),
      account: rng.pick(accounts),
      env: rng.pick(ENVS),
      k: 1 + rng.int(4),
    });
  }
  return out;
}
