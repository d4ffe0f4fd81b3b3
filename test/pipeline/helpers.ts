// Shared by the pipeline tests: a small world (inventory over the generator's subnets), a sink that
// keeps rows, and a straightforward single-threaded reference of the whole job.

import { IndexBuilder } from '../../src/index/builder.js';
import type { IndexView } from '../../src/index/lookup.js';
import { formatWindowStart, rollupRow, type RollupBatch } from '../../src/aggregate/rollups.js';
import type { Sink } from '../../src/sinks/sink.js';

/** Subnet sn of TrafficGenerator is the /20 at 10.(sn>>>4).((sn&15)<<4).0. */
export function subnetCidr(sn: number): string {
  return `10.${sn >>> 4}.${(sn & 15) << 4}.0/20`;
}

/** An inventory: a /16 per 16 subnets, a /20 per subnet, a /24 in every third subnet; `tag` prefixes app names. */
export function smallIndex(subnets: number, tag = 'app', opts: { startTime?: number; churn?: boolean } = {}): IndexView {
  const b = new IndexBuilder({ horizonSeconds: null });
  const regions = ['us-east-1', 'us-west-2'];
  for (let v = 0; v < Math.ceil(subnets / 16); v++) b.addSnapshotRow({ cidr: `10.${v}.0.0/16`, meta: { app: `${tag}-vpc${v}`, region: regions[v % 2] as string, az: `az${v % 3}` } });
  for (let sn = 0; sn < subnets; sn++) {
    if (sn % 5 === 4) continue; // leave some subnets to the /16
    b.addSnapshotRow({ cidr: subnetCidr(sn), meta: { app: `${tag}-${sn % 37}`, region: regions[sn % 2] as string, az: `az${sn % 3}`, cluster: `c${sn}` } });
    if (sn % 3 === 0) b.addSnapshotRow({ cidr: `10.${sn >>> 4}.${((sn & 15) << 4) | 1}.0/24`, meta: { app: `${tag}-db${sn % 7}`, region: regions[sn % 2] as string, az: `az${(sn + 1) % 3}` } });
  }
  if (opts.churn === true && opts.startTime !== undefined) {
    // A few /32s change owner mid-run (assign without release: the next assign ends the previous owner).
    for (let sn = 0; sn < subnets; sn += 7) {
      const ip = `10.${sn >>> 4}.${((sn & 15) << 4) | 2}.${1 + (sn % 200)}`;
      b.addEvent({ time: opts.startTime + 600, type: 'assign', cidr: ip, meta: { app: `${tag}-churn-a` } });
      b.addEvent({ time: opts.startTime + 1800, type: 'assign', cidr: ip, meta: { app: `${tag}-churn-b` } });
    }
  }
  return b.freeze().view;
}

/** Keeps every flush (rows as objects); optional delay per write to act as a slow sink. */
export class CollectSink implements Sink {
  readonly name = 'collect';
  readonly batches: RollupBatch[] = [];
  readonly rows: Record<string, string | number | null>[] = [];
  closed = false;
  constructor(private readonly delayMs = 0) {}
  async write(b: RollupBatch): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    this.batches.push(b);
    for (let i = 0; i < b.rows; i++) this.rows.push(rollupRow(b, i));
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

export interface Totals {
  flows: number;
  packets: number;
  bytes: number;
}

/** Sums rows by the given keys (window_start included when listed). */
export function sumBy(rows: readonly Record<string, unknown>[], keys: readonly string[]): Map<string, Totals> {
  const m = new Map<string, Totals>();
  for (const r of rows) {
    const k = JSON.stringify(keys.map((x) => r[x] ?? null));
    const t = m.get(k) ?? { flows: 0, packets: 0, bytes: 0 };
    t.flows += r.flows as number;
    t.packets += r.packets as number;
    t.bytes += r.bytes as number;
    m.set(k, t);
  }
  return m;
}

/**
 * The reference: v2 lines split on spaces, each side looked up one address at a time, summed per
 * (window_start, src.app, dst.app) in a Map. No FlowBatch, no workers, no group table.
 */
export function referenceTotals(text: string, view: IndexView, windowSeconds = 60): Map<string, Totals> {
  const m = new Map<string, Totals>();
  const app = (ip: string, t: number): string | null => {
    if (ip === '-') return null;
    const a = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const r = view.lookupV4(a, t);
    return r >= 0 ? view.meta.field(r, 'app') : null;
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const f = line.split(' ');
    if (f[13] !== 'OK') continue;
    const start = Number(f[10]);
    const w = Math.floor(start / windowSeconds) * windowSeconds;
    const k = JSON.stringify([formatWindowStart(w), app(f[3] as string, start), app(f[4] as string, start)]);
    const t = m.get(k) ?? { flows: 0, packets: 0, bytes: 0 };
    t.flows += 1;
    t.packets += Number(f[8]);
    t.bytes += Number(f[9]);
    m.set(k, t);
  }
  return m;
}
