import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { DredgeError } from '../../src/errors.js';
import { IndexBuilder } from '../../src/index/builder.js';
import { explain, openIndexBytes } from '../../src/index/explain.js';
import { H_BYTE_LENGTH, H_LAYOUT_VERSION, H_MAGIC, LAYOUT_VERSION, SCRATCH_SLOTS, scratchAt } from '../../src/index/layout.js';
import { IndexView, RESULT_GAP, RESULT_NO_ADDRESS, RESULT_UNKNOWN } from '../../src/index/lookup.js';
import { FlowDecoder } from '../../src/parse/decoder.js';
import type { FlowBatch } from '../../src/parse/flow-batch.js';
import { T0, who } from './helpers.js';

const FIELDS = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status flow-direction';

/** Decodes the lines and hands the batch to `use` (a decoder reuses its batch after onBatch returns). */
function decode(lines: string[], use: (b: FlowBatch) => void, fields = FIELDS): void {
  let calls = 0;
  const d = new FlowDecoder({ fields, onBatch: (b) => (calls++, use(b)), onIssue: (i) => assert.fail(`${i.unit} ${i.n}: ${i.reason}`) });
  d.push(new TextEncoder().encode(lines.join('\n') + '\n'));
  d.end();
  assert.equal(calls, 1);
}

function sample(): IndexBuilder {
  const b = new IndexBuilder({ horizonSeconds: null });
  b.addSnapshotRow({ cidr: '10.0.0.0/16', meta: { app: 'vpc' } });
  b.addSnapshotRow({ cidr: null, meta: { app: 'web', interface_id: 'eni-web' } });
  b.addSnapshotRow({ cidr: null, meta: { app: 'db', interface_id: 'eni-db' } });
  b.addEvent({ time: T0, type: 'assign', cidr: '10.0.1.1', meta: { app: 'web' } });
  b.addEvent({ time: T0 + 600, type: 'assign', cidr: '10.0.1.1', meta: { app: 'db' } });
  b.addEvent({ time: T0, type: 'assign', cidr: '2001:db8::7', meta: { app: 'six' } });
  return b;
}

describe('batch lookups over a FlowBatch', () => {
  it('writes one result per row for src and dst, equal to single lookups (IPv4, IPv6, mapped, absent)', () => {
    const view = sample().freeze().view;
    const rows = [
      `2 123 eni-web 10.0.1.1 8.8.8.8 1 2 6 1 1 ${T0 + 10} ${T0 + 20} ACCEPT OK egress`,
      `2 123 eni-db 10.0.1.1 10.0.9.9 1 2 6 1 1 ${T0 + 700} ${T0 + 720} ACCEPT OK egress`,
      `2 123 eni-x 2001:db8::7 ::ffff:10.0.1.1 1 2 6 1 1 ${T0 + 10} ${T0 + 20} ACCEPT OK ingress`,
      `2 123 eni-x 192.168.0.1 - 1 2 6 1 1 ${T0 - 10} ${T0 + 20} ACCEPT OK -`,
    ];
    const src = new Int32Array(rows.length);
    const dst = new Int32Array(rows.length);
    decode(rows, (batch) => {
      assert.equal(batch.length, rows.length);
      view.lookupBatch(batch, 'srcaddr', src);
      view.lookupBatch(batch, 'dstaddr', dst);
    });
    const app = (r: number): string => (r >= 0 ? (view.meta.field(r, 'app') as string) : String(r));
    assert.deepEqual([...src].map(app), ['web', 'db', 'six', String(RESULT_UNKNOWN)]);
    assert.deepEqual([...dst].map(app), ['internet', 'vpc', 'web', String(RESULT_NO_ADDRESS)]);
  });

  it('heartbeats from a batch: flow-direction picks the local side, the interface names the owner', () => {
    const b = sample();
    decode(
      [
        `2 123 eni-web 10.0.2.2 10.0.1.1 1 2 6 1 1 ${T0 + 100} ${T0 + 160} ACCEPT OK egress`,
        `2 123 eni-db 10.0.1.1 10.0.2.3 1 2 6 1 1 ${T0 + 100} ${T0 + 160} ACCEPT OK ingress`,
        `2 123 eni-nobody 10.0.2.4 10.0.1.1 1 2 6 1 1 ${T0 + 100} ${T0 + 160} ACCEPT OK egress`,
      ],
      (batch) => assert.equal(b.observeBatch(batch), 2),
    );
    assert.equal(b.counters.heartbeatsUnmapped, 1);
    const view = b.freeze().view;
    assert.equal(who(view, '10.0.2.2', T0 + 130), 'web'); // proven by the heartbeat
    assert.equal(who(view, '10.0.2.2', T0 + 161), 'vpc');
    assert.equal(who(view, '10.0.2.3', T0 + 100), 'db');
    // 10.0.1.1 is web by events at T0+100, and no heartbeat claimed otherwise
    assert.equal(who(view, '10.0.1.1', T0 + 100), 'web');
  });

  it('without flow-direction, the side the snapshot gives the interface is local', () => {
    const b = new IndexBuilder({ horizonSeconds: null });
    b.addSnapshotRow({ cidr: '10.0.3.3', meta: { app: 'api', interface_id: 'eni-api' }, validFrom: T0, validTo: T0 + 1 });
    decode([`eni-api 10.0.9.1 10.0.3.3 ${T0 + 50} ${T0 + 90}`, `eni-api 10.0.9.1 10.0.9.2 ${T0 + 50} ${T0 + 90}`], (batch) => assert.equal(b.observeBatch(batch), 1), 'interface-id srcaddr dstaddr start end');
    assert.equal(b.counters.heartbeatsNoLocalSide, 1);
    assert.equal(who(b.freeze().view, '10.0.3.3', T0 + 60), 'api');
  });
});

describe('a generation is self-contained', () => {
  it('a worker answers from the shared hot memory alone, the same as the main thread', async () => {
    const b = sample();
    const view = b.freeze().view;
    const addrs = new Uint32Array([0x0a000101, 0x0a000101, 0x0a000202, 0x08080808, 0xc0a80001]);
    const times = new Float64Array([T0 + 1, T0 + 601, T0, T0, T0]);
    const expected = Array.from(addrs, (a, i) => view.lookupV4(a, times[i] as number));
    // a later generation is built meanwhile; the worker's buffer is not touched
    b.addEvent({ time: T0 + 5, type: 'release', cidr: '10.0.1.1', meta: { app: 'web' } });
    const next = b.freeze().view;
    const res = await new Promise<{ out: Int32Array; batch: Int32Array; wasmRows: number; shared: boolean; apps: [number, string][]; generation: number }>((resolve, reject) => {
      const w = new Worker(new URL('./lookup-worker.js', import.meta.url), { workerData: { memory: view.memory, addrs, times } });
      w.once('message', resolve);
      w.once('error', reject);
    });
    assert.deepEqual([...res.out], expected);
    assert.deepEqual([...res.batch], expected, 'the batch form (WebAssembly, over the shared memory) too');
    assert.equal(res.wasmRows, addrs.length);
    assert.ok(res.shared, 'the worker reads the memory itself, not a copy');
    assert.equal(res.generation, 1);
    assert.deepEqual(new Map(res.apps).get(expected[0] as number), 'web');
    assert.equal(new Map(res.apps).get(expected[2] as number), 'vpc');
    assert.equal(who(next, '10.0.1.1', T0 + 6), 'vpc'); // released at T0+5: gap in the /32, falls back to the /16
  });

  it('round-trips through bytes (the index file) and rejects damaged files', () => {
    const view = sample().freeze().view;
    const bytes = view.fileBytes();
    // The file is the hot part's layout (not its scratch slots) followed by the explain data.
    assert.equal(bytes.length, (view.v.header[H_BYTE_LENGTH] as number) + (view.v.cold as ArrayBuffer).byteLength);
    assert.ok(view.buffer.byteLength > (view.v.header[H_BYTE_LENGTH] as number));
    assert.ok((view.v.cold as ArrayBuffer).byteLength > 0);
    const copy = openIndexBytes(bytes);
    for (const [ip, t] of [['10.0.1.1', T0 + 1], ['10.0.1.1', T0 + 601], ['2001:db8::7', T0], ['8.8.8.8', T0]] as const) {
      assert.equal(who(copy, ip, t), who(view, ip, t));
      assert.deepStrictEqual(explain(copy, ip, t), explain(view, ip, t));
    }
    assert.deepStrictEqual(copy.fileBytes(), bytes);
    assert.throws(() => openIndexBytes(bytes.subarray(0, bytes.length - 8)), (e: unknown) => e instanceof DredgeError && /truncated or damaged/.test(e.message));
    const bad = bytes.slice();
    new Int32Array(bad.buffer)[H_MAGIC] = 0;
    assert.throws(() => openIndexBytes(bad), /not a dredge index/);
    assert.throws(() => new IndexView(new ArrayBuffer(10)), /shorter than its header/);
    const cut = bytes.slice();
    new Int32Array(cut.buffer)[H_LAYOUT_VERSION] = LAYOUT_VERSION - 1; // a file of the layout before
    assert.throws(() => openIndexBytes(cut), new RegExp(`layout version ${LAYOUT_VERSION - 1} is not ${LAYOUT_VERSION}; rebuild it`));
  });

  it('a view of the lookup part alone (what a worker gets) answers every lookup the same, and says it cannot explain', () => {
    const view = sample().freeze().view;
    const hot = new IndexView(view.memory);
    assert.equal(hot.buffer, view.buffer, 'the same memory, not a copy');
    const copied = new IndexView(view.buffer); // a buffer holding the lookup part is copied into a new memory
    assert.notEqual(copied.buffer, view.buffer);
    for (const [ip, t] of [['10.0.1.1', T0 + 1], ['2001:db8::7', T0], ['8.8.8.8', T0]] as const) assert.equal(who(copied, ip, t), who(view, ip, t));
    assert.equal(hot.explainable, false);
    assert.equal(view.explainable, true);
    for (const [ip, t] of [['10.0.1.1', T0 + 1], ['10.0.1.1', T0 + 601], ['10.0.1.1', T0 + 6], ['2001:db8::7', T0], ['8.8.8.8', T0], ['10.9.9.9', T0]] as const) assert.equal(who(hot, ip, t), who(view, ip, t));
    assert.match(String((explain(hot, '10.0.1.1', T0 + 1) as { error: string }).error), /no explain data/);
    assert.throws(() => hot.resolveChain(0, T0 + 1, false), /needs the explain data/);
    assert.throws(() => hot.fileBytes(), /no explain data/);
  });

  it('with every scratch slot of the memory taken (other threads mid-batch), the batch form answers the same in JS', () => {
    const view = sample().freeze().view;
    // rows 5 and 6: an IPv6 address (2001:db8::7, at v6[16..32)) and a row without one, between IPv4 rows
    const addrs = new Uint32Array([0x0a000101, 0x0a000202, 0x08080808, 0xc0a80001, 0x0a000101, 1, 0, 0x0a000101]);
    const times = new Float64Array([T0 + 1, T0, T0, T0, T0 + 601, T0, T0, T0 + 1]);
    const fam = new Uint8Array([4, 4, 4, 4, 4, 6, 0, 4]);
    const v6 = new Uint8Array(32);
    v6.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7], 16);
    const viaWasm = new Int32Array(addrs.length);
    view.lookupColumn(addrs, fam, v6, times, addrs.length, viaWasm);
    assert.equal(viaWasm[5], view.lookupV6Bytes(v6, 16, T0));
    assert.ok((viaWasm[5] as number) >= 0, 'the IPv6 row resolves');
    assert.equal(viaWasm[6], RESULT_NO_ADDRESS);
    assert.deepEqual(view.rowsBy, { wasm: addrs.length, js: 0 });
    const flags = new Int32Array(view.buffer, scratchAt(view.v.header[H_BYTE_LENGTH] as number), SCRATCH_SLOTS);
    assert.deepEqual([...flags], new Array(SCRATCH_SLOTS).fill(0), 'a finished batch gives its slot back');
    flags.fill(1);
    const viaJs = new Int32Array(addrs.length);
    view.lookupColumn(addrs, fam, v6, times, addrs.length, viaJs);
    assert.deepEqual(view.rowsBy, { wasm: addrs.length, js: addrs.length });
    assert.deepEqual(viaJs, viaWasm);
    flags.fill(0);
  });

  it('gap vs unknown: an address covered only outside its intervals is a gap', () => {
    const b = new IndexBuilder({ horizonSeconds: null });
    b.addSnapshotRow({ cidr: '10.5.0.0/16', meta: { app: 'x' }, validFrom: T0, validTo: T0 + 10 });
    const v = b.freeze().view;
    assert.equal(v.lookupV4(0x0a050001, T0 + 20), RESULT_GAP);
    assert.equal(v.lookupV4(0x0a060001, T0 + 20), RESULT_UNKNOWN);
  });
});
