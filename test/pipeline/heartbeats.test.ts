// Heartbeats on the real path: workers collect the local side of records that carry an interface id,
// the builder records them (the snapshot maps the interface to its owner), a new generation is frozen,
// and batches dispatched after it attribute that address; batches before it could not.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IndexRefresh } from '../../src/daemon/index-refresh.js';
import { Pipeline } from '../../src/daemon/pipeline.js';
import { IndexBuilder } from '../../src/index/builder.js';
import { CollectSink } from './helpers.js';

const T = 1763900000;
const FIELDS = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status flow-direction';

function batch(lines: string[]): Buffer {
  return Buffer.from(FIELDS + '\n' + lines.join('\n') + '\n');
}

test('egress/ingress records prove their local address for the interface owner; the next generation attributes it', async () => {
  const b = new IndexBuilder();
  b.addSnapshotRow({ cidr: null, meta: { app: 'checkout', interface_id: 'eni-aaa' } });
  b.addSnapshotRow({ cidr: '10.0.16.0/20', meta: { app: 'db' } });
  const refresh = new IndexRefresh(b);
  const sink = new CollectSink();
  const p = new Pipeline({ sink, index: b.freeze({ watermark: -Infinity }).view, workers: 2, dimensions: 'src.app,dst.app', latenessSeconds: 3600, onHeartbeats: (c) => refresh.apply(c) });
  const flows = [
    `2 123456789012 eni-aaa 10.200.0.5 10.0.16.9 40000 5432 6 2 100 ${T} ${T + 50} ACCEPT OK egress`,
    `2 123456789012 eni-aaa 10.0.16.9 10.200.0.5 5432 40000 6 2 100 ${T + 10} ${T + 40} ACCEPT OK ingress`,
    `2 123456789012 eni-bbb 10.200.0.6 10.0.16.9 40001 5432 6 2 100 ${T} ${T + 50} ACCEPT OK egress`, // eni-bbb maps to nobody
  ];
  await p.submit({ bytes: batch(flows), prefixLines: 1 });
  await p.drain();
  assert.equal(refresh.stats.candidates, 2, 'the two eni-aaa records give one candidate (same address, interface, certainty)');
  assert.equal(refresh.stats.recorded, 1, 'eni-aaa proves 10.200.0.5; eni-bbb maps to no owner');
  assert.ok(refresh.refresh(p), 'a new generation was frozen');
  await p.submit({ bytes: batch(flows.slice(0, 1)), prefixLines: 1 });
  await p.close();
  const byKey = new Map<string, number>();
  for (const r of sink.rows) byKey.set(`${String(r['src.app'])}>${String(r['dst.app'])}`, (byKey.get(`${String(r['src.app'])}>${String(r['dst.app'])}`) ?? 0) + (r.flows as number));
  // First batch (old generation): 10.200.0.5 unknown. Second batch (new generation): checkout.
  assert.equal(byKey.get('null>db'), 2);
  assert.equal(byKey.get('db>null'), 1);
  assert.equal(byKey.get('checkout>db'), 1);
});

test('without flow-direction, a record proves only the side the snapshot gives to its interface', async () => {
  const b = new IndexBuilder();
  b.addSnapshotRow({ cidr: '10.1.2.3', meta: { app: 'search', interface_id: 'eni-ccc' }, validFrom: T, validTo: T + 10 });
  const refresh = new IndexRefresh(b);
  const sink = new CollectSink();
  const p = new Pipeline({ sink, index: b.freeze({ watermark: -Infinity }).view, workers: 1, dimensions: 'src.app', latenessSeconds: 3600, onHeartbeats: (c) => refresh.apply(c) });
  // v2 (no flow-direction): both addresses are candidates; only 10.1.2.3 is eni-ccc's.
  await p.submit({ bytes: Buffer.from(`2 123456789012 eni-ccc 10.1.2.3 10.9.9.9 40000 443 6 1 10 ${T + 100} ${T + 160} ACCEPT OK\n`) });
  await p.drain();
  assert.equal(refresh.stats.candidates, 2);
  assert.equal(refresh.stats.recorded, 1);
  refresh.refresh(p);
  await p.submit({ bytes: Buffer.from(`2 123456789012 eni-ccc 10.1.2.3 10.9.9.9 40000 443 6 1 10 ${T + 120} ${T + 130} ACCEPT OK\n`) });
  await p.close();
  const apps = sink.rows.map((r) => r['src.app']);
  assert.deepEqual(apps.sort(), ['search', null].sort(), 'the first flow (outside the snapshot interval) was unattributed; after the heartbeat the second is search');
});

test('thousands of distinct candidates in one batch (the collector grows): each recorded once', async () => {
  const b = new IndexBuilder();
  b.addSnapshotRow({ cidr: null, meta: { app: 'fleet', interface_id: 'eni-fleet' } });
  const refresh = new IndexRefresh(b);
  const p = new Pipeline({ sink: new CollectSink(), index: b.freeze({ watermark: -Infinity }).view, workers: 1, dimensions: 'src.app', latenessSeconds: 3600, onHeartbeats: (c) => refresh.apply(c) });
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const ip = `10.200.${i >> 8}.${i & 255}`;
    // two records per address: deduplicated into one candidate
    lines.push(`2 123456789012 eni-fleet ${ip} 10.0.16.9 40000 443 6 1 10 ${T} ${T + 5} ACCEPT OK egress`);
    lines.push(`2 123456789012 eni-fleet ${ip} 10.0.16.9 40001 443 6 1 10 ${T + 2} ${T + 9} ACCEPT OK egress`);
  }
  await p.submit({ bytes: batch(lines), prefixLines: 1 });
  await p.close();
  assert.equal(refresh.stats.candidates, 3000);
  assert.equal(refresh.stats.recorded, 3000);
});
