// The generator as a `dredge run` source (src/sources/generator/generator-source.ts): its batches are
// exactly the lines `dredge generate` writes for the same seed and count; a checkpoint at any record N
// resumes with record N + 1 (TrafficGenerator.skip reaches it without writing lines); a checkpoint of
// another stream is refused; `rate` paces from the start of the run, so sleeping late never drifts.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { generate } from '../../src/cli/generate.js';
import type { RawBatch } from '../../src/daemon/pipeline.js';
import { DredgeError } from '../../src/errors.js';
import { FlowFormat } from '../../src/parse/fields.js';
import type { SourcePosition } from '../../src/sinks/sink.js';
import { GeneratorSource, generatedShape, generatorKey, type Clock } from '../../src/sources/generator/generator-source.js';
import { DEFAULT_TRAFFIC, TrafficGenerator, V5_CUSTOM_20, streamTraffic, type TrafficOptions } from '../../src/sources/generator/traffic.js';

const root = mkdtempSync(join(tmpdir(), 'dredge-generator-source-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function drain(src: GeneratorSource): Promise<RawBatch[]> {
  const out: RawBatch[] = [];
  for await (const b of src.batches()) out.push(b);
  return out;
}

const text = (batches: readonly RawBatch[]): string => batches.map((b) => Buffer.from(b.bytes).toString('latin1')).join('');

/** The text after the first `n` lines of `all`. */
function after_(all: string, n: number): string {
  let at = 0;
  for (let i = 0; i < n; i++) at = all.indexOf('\n', at) + 1;
  return all.slice(at);
}

/** What `dredge generate --flows N --seed S` writes as flows-0001.log. */
async function generated(seed: number, flows: number): Promise<string> {
  const out = join(root, `gen-${seed}-${flows}`);
  const s = DEFAULT_TRAFFIC;
  await generate({ out, flows, seed, format: FlowFormat.V2_DEFAULT, files: 1, gzip: false, envelope: null, startTime: s.startTime, spanSeconds: s.spanSeconds, subnets: s.subnets }, () => undefined);
  return readFileSync(join(out, 'flows-0001.log'), 'latin1');
}

describe('TrafficGenerator.skip', () => {
  const cases: [string, FlowFormat, Partial<TrafficOptions>][] = [
    ['defaults', FlowFormat.V2_DEFAULT, { seed: 1 }],
    ['a generated run (event-time order)', FlowFormat.V2_DEFAULT, streamTraffic(generatedShape(9), 30_000 / 3600)],
    ['IPv6, NODATA, a custom format', FlowFormat.parse(V5_CUSTOM_20), { seed: 2, ipv6Share: 0.1, noDataShare: 0.2, hosts: 500, subnets: 40 }],
  ];
  for (const [name, format, opts] of cases) {
    it(`skip(n) then lines equals n lines then lines: ${name}`, () => {
      for (const n of [0, 1, 2, 777, 20_000]) {
        const a = new TrafficGenerator(format, opts);
        for (let i = 0; i < n; i++) a.line();
        const b = new TrafficGenerator(format, opts);
        b.skip(n);
        assert.equal(b.emitted, n);
        assert.equal(b.last, null);
        assert.equal(b.lines(300).toString('latin1'), a.lines(300).toString('latin1'), `after skipping ${n}`);
      }
    });
  }
});

describe('GeneratorSource', () => {
  it('emits exactly what `dredge generate` writes for the seed and count, in batches of whole lines with positions', async () => {
    const want = await generated(11, 30_000);
    const src = new GeneratorSource({ seed: 11, records: 30_000, batchRecords: 4096 });
    const batches = await drain(src);
    assert.equal(text(batches), want);
    assert.equal(batches.length, Math.ceil(30_000 / 4096));
    let count = 0;
    for (const b of batches) {
      assert.ok(b.bytes.buffer instanceof SharedArrayBuffer, 'shared with the worker, so a retried batch needs no re-read');
      assert.equal(b.bytes[b.bytes.length - 1], 10, 'whole lines');
      count += Buffer.from(b.bytes).toString('latin1').split('\n').length - 1;
      assert.deepEqual(b.position, { key: 'generator:11', value: String(count), identity: src.identity });
      assert.equal(b.source, 'generator:11');
    }
    assert.equal(count, 30_000);
    assert.equal(src.emitted, 30_000);
    assert.equal(generatorKey(11), 'generator:11');
  });

  it('resumes after the checkpointed record: the records after a restart continue the stream exactly', async () => {
    const all = text(await drain(new GeneratorSource({ seed: 4, records: 20_000 })));
    const identity = new GeneratorSource({ seed: 4, records: 20_000 }).identity;
    for (const n of [1, 4096, 12_345, 19_999]) {
      const resume = new Map<string, SourcePosition>([['generator:4', { key: 'generator:4', value: String(n), identity }], ['other', { key: 'other', value: '7' }]]);
      const src = new GeneratorSource({ seed: 4, records: 20_000, batchRecords: 3000, resume });
      assert.equal(src.resumedAt, n);
      const batches = await drain(src);
      assert.equal(text(batches), after_(all, n), `resumed at ${n}`);
      assert.equal(batches.at(-1)?.position?.value, '20000');
    }
    // Everything checkpointed: nothing more. Another seed's checkpoint is not ours: from the start.
    const done = new Map([['generator:4', { key: 'generator:4', value: '20000', identity }]]);
    assert.deepEqual(await drain(new GeneratorSource({ seed: 4, records: 20_000, resume: done })), []);
    const other = new GeneratorSource({ seed: 5, records: 10, resume: done });
    assert.equal(other.resumedAt, 0);
    assert.equal(text(await drain(other)).split('\n').length - 1, 10);
  });

  it('refuses a checkpoint of another stream under the same seed (other --records or format) and impossible values', () => {
    const identity = new GeneratorSource({ seed: 4, records: 20_000 }).identity;
    const cp = (value: string, id = identity): Map<string, SourcePosition> => new Map([['generator:4', { key: 'generator:4', value, identity: id }]]);
    const refused = (f: () => unknown, re: RegExp): void =>
      assert.throws(f, (e: unknown) => e instanceof DredgeError && e.code === 'DREDGE_ERR_CONFIG' && re.test(e.message));
    refused(() => new GeneratorSource({ seed: 4, records: 30_000, resume: cp('100') }), /another generated stream .*records=20000.*records=30000.*same --records/);
    refused(() => new GeneratorSource({ seed: 4, resume: cp('100') }), /records=unbounded/);
    refused(() => new GeneratorSource({ seed: 4, records: 20_000, format: FlowFormat.parse(V5_CUSTOM_20), resume: cp('100') }), /fields=version,account-id/);
    refused(() => new GeneratorSource({ seed: 4, records: 20_000, resume: cp('20001') }), /cannot have/);
    refused(() => new GeneratorSource({ seed: 4, records: 20_000, resume: cp('-1') }), /cannot have/);
    // --no-resume (no checkpoints passed) starts the stream over.
    assert.equal(new GeneratorSource({ seed: 4, records: 30_000 }).resumedAt, 0);
  });

  it('unbounded: runs on until the consumer stops; a custom format is generated in that format', async () => {
    const format = FlowFormat.parse(V5_CUSTOM_20);
    const src = new GeneratorSource({ seed: 8, format, batchRecords: 1000 });
    assert.match(src.identity, /records=unbounded fields=version,account-id,/);
    let n = 0;
    for await (const b of src.batches()) {
      n++;
      const first = Buffer.from(b.bytes).toString('latin1').split('\n')[0] as string;
      assert.equal(first.split(' ').length, format.names.length);
      if (n === 5) break;
    }
    assert.equal(src.emitted, 5000);
  });

  it('paces from the start of the run: late wake-ups send more at once and never push the schedule back', async () => {
    // A fake clock whose every sleep overshoots by 7 ms (a busy event loop): a source that slept a fixed
    // amount per batch would fall behind by 7 ms a batch; this one stays within a tick of the schedule.
    let now = 0;
    let sleeps = 0;
    const clock: Clock = {
      now: () => now,
      sleep: async (ms) => {
        sleeps++;
        now += ms + 7;
      },
    };
    const rate = 1000;
    const src = new GeneratorSource({ seed: 3, records: 5000, rate, clock });
    let sent = 0;
    let batches = 0;
    for await (const b of src.batches()) {
      batches++;
      sent = Number(b.position?.value);
      assert.ok(sent <= Math.floor((rate * now) / 1000), `${sent} records sent at ${now} ms: ahead of the rate`);
      assert.ok(sent >= Math.floor((rate * (now - 100 - 7)) / 1000), `${sent} records sent at ${now} ms: more than a tick behind`);
    }
    assert.equal(sent, 5000);
    assert.ok(now >= 5000 && now <= 5000 + 100 + 7, `5000 records at ${rate}/s took ${now} ms of the clock`);
    assert.ok(batches >= 40 && batches <= 60, `${batches} batches: about one per 100 ms tick`);
    assert.ok(sleeps < 100, `${sleeps} sleeps`);
    // A high rate sends whole batches, each as soon as it is due (here every 10 ms of the clock).
    now = 0;
    sleeps = 0;
    const fast = new GeneratorSource({ seed: 3, records: 50_000, rate: 1e6, batchRecords: 10_000, clock });
    const sizes = (await drain(fast)).map((b) => Buffer.from(b.bytes).toString('latin1').split('\n').length - 1);
    assert.deepEqual(sizes, [10_000, 10_000, 10_000, 10_000, 10_000]);
    assert.ok(now <= 60, `${now} ms`);
  });

  it('stops at once on its signal, also while waiting for records to fall due', async () => {
    const stop = new AbortController();
    const src = new GeneratorSource({ seed: 3, rate: 0.01, signal: stop.signal }); // the first record is due after 100 s
    const t0 = performance.now();
    setTimeout(() => stop.abort(), 50);
    assert.deepEqual(await drain(src), []);
    // Far below the 100 s wait, however slow this machine: it stopped on the signal.
    assert.ok(performance.now() - t0 < 30_000, `stopped after ${performance.now() - t0} ms`);
  });
});
