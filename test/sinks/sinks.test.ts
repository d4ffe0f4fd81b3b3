// MemorySink and NdjsonSink: the common sink checks (compliance.ts), then what each adds: the memory
// sink's sums, slow-sink and failure knobs; the NDJSON sink's file names, atomic files, exact JSON
// text, numbering after a restart, and its error codes.

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import type { FileHandle } from 'node:fs/promises';
import { DredgeError } from '../../src/errors.js';
import { rollupRow, type RollupBatch } from '../../src/aggregate/rollups.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { NdjsonSink, fsError, ndjsonFileName, renderBatch } from '../../src/sinks/ndjson.js';
import { DIMS, TRICKY_ROWS, batchFromRows, row, sinkCompliance, type Row } from './compliance.js';

const root = mkdtempSync(join(tmpdir(), 'dredge-sinks-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `out-${++dirs}`);

const FILE_RE = /^rollups-\d{6,}\.ndjson$/;

function readNdjson(dir: string): Row[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => FILE_RE.test(n))
    .sort()
    .flatMap((n) => readFileSync(join(dir, n), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Row));
}

sinkCompliance('MemorySink', {
  create: () => new MemorySink(),
  read: (s) => s.rows(),
});

sinkCompliance('NdjsonSink', {
  create: () => new NdjsonSink({ dir: freshDir() }),
  read: (s) => readNdjson(s.dir),
  dispose: (s) => rmSync(s.dir, { recursive: true, force: true }),
});

describe('MemorySink', () => {
  const a = row('2025-11-23T12:13:00Z', 'api', 'db', 6, 5432, [3, 12, 5120]);
  const b = row('2025-11-23T12:14:00Z', 'api', 'db', 6, 5432, [1, 5, 700]);
  const c = row('2025-11-23T12:13:00Z', 'web', 'db', 6, 5432, [2, 2, 2]);

  it('sums totals and by any key set, window_start included when asked', async () => {
    const s = new MemorySink();
    await s.write(batchFromRows(1, DIMS, [a, c]));
    await s.write(batchFromRows(2, DIMS, [b, a]));
    assert.equal(s.writes, 2);
    assert.deepStrictEqual(s.totals(), { flows: 9, packets: 31, bytes: 10942 });
    assert.deepStrictEqual(
      s.sumBy(['src.app']),
      new Map([
        ['["api"]', { flows: 7, packets: 29, bytes: 10940 }],
        ['["web"]', { flows: 2, packets: 2, bytes: 2 }],
      ]),
    );
    assert.deepStrictEqual(
      s.sumBy(['window_start', 'src.app']),
      new Map([
        ['["2025-11-23T12:13:00Z","api"]', { flows: 6, packets: 24, bytes: 10240 }],
        ['["2025-11-23T12:13:00Z","web"]', { flows: 2, packets: 2, bytes: 2 }],
        ['["2025-11-23T12:14:00Z","api"]', { flows: 1, packets: 5, bytes: 700 }],
      ]),
    );
    assert.deepStrictEqual(s.sumBy([]), new Map([['[]', { flows: 9, packets: 31, bytes: 10942 }]]));
  });

  it('keeps positions and late counts per write', async () => {
    const s = new MemorySink();
    await s.write(batchFromRows(1, DIMS, [a], { positions: [{ key: 'f', value: '10', identity: 'i' }], late: { flows: 1, packets: 2, bytes: 3 } }));
    await s.write(batchFromRows(2, DIMS, [], { positions: [{ key: 'f', value: '20', identity: 'i' }, { key: 'g', value: '5' }], late: { flows: 4, packets: 5, bytes: 6 } }));
    assert.deepStrictEqual(
      s.batches.map((w) => [w.seq, w.rows.length, w.positions, w.late]),
      [
        [1, 1, [{ key: 'f', value: '10', identity: 'i' }], { flows: 1, packets: 2, bytes: 3 }],
        [2, 0, [{ key: 'f', value: '20', identity: 'i' }, { key: 'g', value: '5' }], { flows: 4, packets: 5, bytes: 6 }],
      ],
    );
    assert.deepStrictEqual([...s.positions().values()].map((p) => p.value), ['20', '5']);
    assert.deepStrictEqual(s.late(), { flows: 5, packets: 7, bytes: 9 });
  });

  it('failNext rejects the next write with that error and stores nothing; the one after succeeds', async () => {
    const s = new MemorySink();
    const boom = new DredgeError('DREDGE_ERR_INTERNAL', 'boom', { retriable: true });
    s.failNext(boom);
    s.failNext();
    await assert.rejects(s.write(batchFromRows(1, DIMS, [a])), (err) => err === boom);
    await assert.rejects(s.write(batchFromRows(1, DIMS, [a])), (err: unknown) => err instanceof DredgeError && err.retriable);
    await s.write(batchFromRows(1, DIMS, [a]));
    assert.deepStrictEqual([s.attempts, s.failures, s.writes], [3, 2, 1]);
    assert.deepStrictEqual(s.rows(), [a]);
  });

  it('delayMs makes a slow sink: writes settle no sooner, and overlapping writes are counted', async () => {
    const s = new MemorySink({ delayMs: 30 });
    const t0 = performance.now();
    let settled = false;
    const w1 = s.write(batchFromRows(1, DIMS, [a])).then(() => (settled = true));
    const w2 = s.write(batchFromRows(2, DIMS, [b]));
    await Promise.resolve();
    assert.equal(settled, false);
    assert.equal(s.inFlight, 2);
    await Promise.all([w1, w2]);
    // Timers may fire up to a millisecond early.
    assert.ok(performance.now() - t0 >= 29, `settled after ${performance.now() - t0} ms`);
    assert.deepStrictEqual([s.inFlight, s.maxInFlight, s.writes], [0, 2, 2]);
  });
});

describe('NdjsonSink', () => {
  it('writes rollups-<seq 6 digits>.ndjson per non-empty flush, creating the directory, leaving no temp files', async () => {
    const dir = join(freshDir(), 'nested', 'out');
    const s = new NdjsonSink({ dir });
    await s.write(batchFromRows(1, DIMS, TRICKY_ROWS.slice(0, 2)));
    await s.write(batchFromRows(2, DIMS, []));
    await s.write(batchFromRows(3, DIMS, TRICKY_ROWS.slice(2)));
    await s.close();
    assert.deepStrictEqual(readdirSync(dir).sort(), ['rollups-000001.ndjson', 'rollups-000003.ndjson']);
    assert.equal(ndjsonFileName(1234567), 'rollups-1234567.ndjson');
    assert.deepStrictEqual(s.stats, { writes: 3, files: 2, rows: TRICKY_ROWS.length, bytes: s.stats.bytes, errors: 0 });
    const text = readdirSync(dir).map((n) => readFileSync(join(dir, n), 'utf8')).join('');
    assert.equal(s.stats.bytes, Buffer.byteLength(text));
  });

  it('prints the exact JSON of a known row, keys in rollupRow order', async () => {
    const dir = freshDir();
    const s = new NdjsonSink({ dir });
    await s.write(batchFromRows(7, ['src.app', 'dst.app', 'src.az', 'protocol', 'dstport'], [
      { window_start: '2025-11-23T12:13:00Z', 'src.app': 'api', 'dst.app': null, 'src.az': 'use1-az1', protocol: 6, dstport: null, 'src.reason': null, 'dst.reason': 'unknown', flows: 3, packets: 12, bytes: 9007199254740991 },
    ]));
    await s.close();
    assert.equal(
      readFileSync(join(dir, 'rollups-000007.ndjson'), 'utf8'),
      '{"window_start":"2025-11-23T12:13:00Z","src.app":"api","dst.app":null,"src.az":"use1-az1","protocol":6,"dstport":null,' +
        '"src.reason":null,"dst.reason":"unknown","flows":3,"packets":12,"bytes":9007199254740991}\n',
    );
  });

  it('every line is JSON.stringify(rollupRow(b, i)), across chunk boundaries', async () => {
    const dir = freshDir();
    const s = new NdjsonSink({ dir });
    // ~200 bytes a line: 12k rows cross the 1 MiB chunk boundary twice.
    const rows: Row[] = [];
    for (let i = 0; i < 12_000; i++) {
      const t = TRICKY_ROWS[i % TRICKY_ROWS.length] as Row;
      rows.push({ ...t, window_start: new Date(Date.UTC(2025, 10, 23, 12, i % 7)).toISOString().slice(0, 19) + 'Z', 'src.app': `app-${i % 97}-${'x'.repeat(i % 13)}`, bytes: i * 1e9 });
    }
    const b = batchFromRows(1, DIMS, rows);
    await s.write(b);
    await s.close();
    const text = readFileSync(join(dir, 'rollups-000001.ndjson'), 'utf8');
    const want = Array.from({ length: b.rows }, (_, i) => JSON.stringify(rollupRow(b, i)) + '\n').join('');
    assert.ok(text.length > 2 << 20, `only ${text.length} chars`);
    if (text !== want) {
      const lines = text.split('\n');
      const i = lines.findIndex((l, j) => l !== JSON.stringify(rollupRow(b, j)));
      assert.equal(lines[i], JSON.stringify(rollupRow(b, i)), `line ${i + 1} of ${lines.length}`);
    }
  });

  it('renders any numbers, strings, ids and reason codes as JSON.stringify(rollupRow) does (property)', async () => {
    const numArb = fc.oneof(
      fc.double(),
      fc.integer({ min: -(2 ** 53 - 1), max: 2 ** 53 - 1 }),
      fc.nat({ max: 1e9 }),
      fc.constantFrom(0, -0, 1e8 - 1, 1e8, 1e8 + 1, 2 ** 31, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 1e21, 99999999.5, 1e16 - 1, NaN, Infinity, -Infinity),
    );
    const rowArb = fc.record({ minute: fc.nat({ max: 60 * 24 * 365 * 200 }), id: fc.integer({ min: -2, max: 8 }), n: numArb, f: numArb, p: numArb, b: numArb, sr: fc.nat({ max: 9 }), dr: fc.nat({ max: 9 }) });
    // Not an integer-like name: an object (rollupRow) would move such a key first; no dimension is named so.
    const nameArb = fc.string({ unit: 'binary', maxLength: 8 }).map((x) => `d${x}`);
    const dictArb = fc.array(fc.option(fc.string({ unit: 'binary' }), { nil: null }), { maxLength: 6 });
    // Collects what renderBatch writes, with a short write now and then.
    const sinkOf = (chunks: Buffer[]) =>
      ({
        write: async (buf: Uint8Array, off: number, len: number) => {
          const n = len > 7 && chunks.length % 2 === 0 ? len - 7 : len;
          chunks.push(Buffer.from(buf.subarray(off, off + n)));
          return { bytesWritten: n };
        },
      }) as unknown as FileHandle;
    await fc.assert(
      fc.asyncProperty(fc.array(rowArb, { maxLength: 40 }), dictArb, nameArb, async (rows, dict, dimName) => {
        const n = rows.length;
        const b: RollupBatch = {
          seq: 1,
          dimensions: [dimName, 'n'],
          windowSeconds: 60,
          rows: n,
          windowStart: Float64Array.from(rows, (r) => r.minute * 60),
          columns: [
            { kind: 'string', ids: Int32Array.from(rows, (r) => r.id), dict: [null, ...dict] },
            { kind: 'number', values: Float64Array.from(rows, (r) => r.n) },
          ],
          srcReason: Uint8Array.from(rows, (r) => r.sr),
          dstReason: Uint8Array.from(rows, (r) => r.dr),
          flows: Float64Array.from(rows, (r) => r.f),
          packets: Float64Array.from(rows, (r) => r.p),
          bytes: Float64Array.from(rows, (r) => r.b),
          unattributedSrc: new Float64Array(n),
          unattributedDst: new Float64Array(n),
          positions: [],
          late: { flows: 0, packets: 0, bytes: 0 },
        };
        const chunks: Buffer[] = [];
        const written = await renderBatch(b, sinkOf(chunks));
        const text = Buffer.concat(chunks).toString('utf8');
        const want = Array.from({ length: n }, (_, i) => JSON.stringify(rollupRow(b, i)) + '\n').join('');
        assert.equal(text, want);
        assert.equal(written, Buffer.byteLength(want));
      }),
      { numRuns: 300 },
    );
  });

  it('after a restart into the same directory numbers files after the existing ones, never overwriting', async () => {
    const dir = freshDir();
    const first = new NdjsonSink({ dir });
    await first.write(batchFromRows(1, DIMS, TRICKY_ROWS.slice(0, 1)));
    await first.write(batchFromRows(2, DIMS, TRICKY_ROWS.slice(1, 2)));
    await first.close();
    const second = new NdjsonSink({ dir });
    await second.write(batchFromRows(1, DIMS, TRICKY_ROWS.slice(2, 3)));
    await second.close();
    assert.deepStrictEqual(readdirSync(dir).sort(), ['rollups-000001.ndjson', 'rollups-000002.ndjson', 'rollups-000003.ndjson']);
    assert.deepStrictEqual(readNdjson(dir), TRICKY_ROWS.slice(0, 3));
  });

  it('a retried flush (same seq) replaces its own file instead of doubling its rows', async () => {
    const dir = freshDir();
    const s = new NdjsonSink({ dir });
    const b = batchFromRows(1, DIMS, TRICKY_ROWS);
    await s.write(b);
    await s.write(b);
    await s.close();
    assert.deepStrictEqual(readdirSync(dir), ['rollups-000001.ndjson']);
    assert.deepStrictEqual(readNdjson(dir), TRICKY_ROWS);
  });

  it('a file in the way of the directory: non-retriable DREDGE_ERR_SINK_WRITE naming the path', async () => {
    const parent = freshDir();
    mkdirSync(parent);
    writeFileSync(join(parent, 'out'), 'not a directory');
    const s = new NdjsonSink({ dir: join(parent, 'out') });
    await assert.rejects(s.write(batchFromRows(1, DIMS, TRICKY_ROWS)), (err: unknown) => {
      assert.ok(err instanceof DredgeError);
      assert.equal(err.code, 'DREDGE_ERR_SINK_WRITE');
      assert.equal(err.retriable, false);
      assert.ok(err.message.includes(join(parent, 'out')), err.message);
      assert.match(err.message, /choose another output directory/);
      return true;
    });
    assert.deepStrictEqual(s.stats.errors, 1);
    await s.close();
  });

  it('an unwritable directory: non-retriable error, no temp file left', { skip: process.getuid?.() === 0 ? 'root ignores permissions' : false }, async () => {
    const dir = freshDir();
    mkdirSync(dir);
    chmodSync(dir, 0o555);
    try {
      const s = new NdjsonSink({ dir });
      await assert.rejects(s.write(batchFromRows(1, DIMS, TRICKY_ROWS)), (err: unknown) => {
        assert.ok(err instanceof DredgeError);
        assert.equal(err.code, 'DREDGE_ERR_SINK_WRITE');
        assert.equal(err.retriable, false);
        assert.ok(err.message.includes(join(dir, 'rollups-000001.ndjson')), err.message);
        return true;
      });
      await s.close();
    } finally {
      chmodSync(dir, 0o755);
    }
    assert.deepStrictEqual(readdirSync(dir), []);
  });

  it('classifies file-system errors: transient ones retriable, the rest not, each saying what to do', () => {
    const errno = (code: string) => Object.assign(new Error(`${code}: something`), { code });
    for (const [code, retriable, advice] of [
      ['ENOSPC', true, /free space/],
      ['EAGAIN', true, /retried/],
      ['EBUSY', true, /retried/],
      ['EMFILE', true, /ulimit -n/],
      ['EACCES', false, /writable/],
      ['EROFS', false, /read-only/],
      ['EIO', false, /check the output directory/],
    ] as const) {
      const e = fsError(errno(code), '/out/rollups-000001.ndjson', 'rollups file');
      assert.deepStrictEqual([e.code, e.retriable], ['DREDGE_ERR_SINK_WRITE', retriable], code);
      assert.match(e.message, /^cannot write rollups file \/out\/rollups-000001\.ndjson \(/);
      assert.match(e.message, advice);
    }
    const r = fsError(errno('EACCES'), '/out/checkpoints.json', 'checkpoint file', 'read');
    assert.deepStrictEqual([r.code, r.retriable], ['DREDGE_ERR_INPUT', false]);
    assert.match(r.message, /cannot read checkpoint file \/out\/checkpoints\.json .*readable/);
    assert.equal(fsError(new TypeError('oops'), '/x', 'rollups file').code, 'DREDGE_ERR_INTERNAL');
  });

  it('a row that cannot be rendered fails the write and leaves no temp file', async () => {
    const dir = freshDir();
    const s = new NdjsonSink({ dir });
    const b = batchFromRows(1, DIMS, TRICKY_ROWS);
    b.windowStart[3] = NaN;
    await assert.rejects(s.write(b), (err: unknown) => err instanceof DredgeError && err.code === 'DREDGE_ERR_INTERNAL');
    await s.write(batchFromRows(2, DIMS, TRICKY_ROWS));
    await s.close();
    assert.deepStrictEqual(readdirSync(dir), ['rollups-000002.ndjson']);
  });
});
