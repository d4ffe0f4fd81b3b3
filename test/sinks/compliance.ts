// Sink compliance (not a test file: run-tests.mjs runs *.test.js only). `sinkCompliance` registers the
// checks every sink must pass, given a way to build the sink and to read back what it stored as row
// objects; `batchFromRows` builds a columnar RollupBatch from the row objects a sink should print.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DredgeError } from '../../src/errors.js';
import { REASON_NAMES, type DimValueColumn, type RollupBatch } from '../../src/aggregate/rollups.js';
import type { Sink, SourcePosition } from '../../src/sinks/sink.js';

export type Row = Record<string, string | number | null>;

/**
 * A RollupBatch whose rollupRow(b, i) is rows[i]. Each row has `window_start` (ISO text), one key per
 * dimension, `src.reason`/`dst.reason` (optional, default null) and flows/packets/bytes. A dimension
 * is a number column when every non-null value is a number, else a string column.
 */
export function batchFromRows(
  seq: number,
  dimensions: readonly string[],
  rows: readonly Row[],
  extra: { positions?: SourcePosition[]; late?: RollupBatch['late']; windowSeconds?: number } = {},
): RollupBatch {
  const n = rows.length;
  const columns: DimValueColumn[] = dimensions.map((name) => {
    const vals = rows.map((r) => r[name] ?? null);
    if (vals.every((v) => v === null || typeof v === 'number')) {
      return { kind: 'number', values: Float64Array.from(vals, (v) => (v === null ? NaN : (v as number))) };
    }
    if (vals.some((v) => typeof v === 'number')) throw new Error(`dimension ${name} mixes numbers and strings`);
    const dict: (string | null)[] = [null];
    const ids = Int32Array.from(vals, (v) => {
      const text = v as string | null;
      let id = dict.indexOf(text);
      if (id < 0) id = dict.push(text) - 1;
      return id;
    });
    return { kind: 'string', ids, dict };
  });
  const reason = (v: unknown): number => {
    const i = (REASON_NAMES as readonly unknown[]).indexOf(v ?? null);
    if (i < 0) throw new Error(`unknown reason ${String(v)}`);
    return i;
  };
  const metric = (k: string) => Float64Array.from(rows, (r) => r[k] as number);
  return {
    seq,
    dimensions,
    windowSeconds: extra.windowSeconds ?? 60,
    rows: n,
    windowStart: Float64Array.from(rows, (r) => Date.parse(r.window_start as string) / 1000),
    columns,
    srcReason: Uint8Array.from(rows, (r) => reason(r['src.reason'])),
    dstReason: Uint8Array.from(rows, (r) => reason(r['dst.reason'])),
    flows: metric('flows'),
    packets: metric('packets'),
    bytes: metric('bytes'),
    unattributedSrc: Float64Array.from(rows, (r) => (r['src.reason'] == null ? 0 : (r.flows as number))),
    unattributedDst: Float64Array.from(rows, (r) => (r['dst.reason'] == null ? 0 : (r.flows as number))),
    positions: extra.positions ?? [],
    late: extra.late ?? { flows: 0, packets: 0, bytes: 0 },
  };
}

export const DIMS = ['src.app', 'dst.app', 'protocol', 'dstport'] as const;

/** A row with every column given (reasons default to null). */
export function row(ws: string, src: string | null, dst: string | null, protocol: number | null, dstport: number | null, m: [number, number, number], reasons: [string | null, string | null] = [null, null]): Row {
  return {
    window_start: ws,
    'src.app': src,
    'dst.app': dst,
    protocol,
    dstport,
    'src.reason': reasons[0],
    'dst.reason': reasons[1],
    flows: m[0],
    packets: m[1],
    bytes: m[2],
  };
}

/** Rows that exercise nulls, awkward strings, every reason and the largest exact byte counts. */
export const TRICKY_ROWS: readonly Row[] = [
  row('2025-11-23T12:13:00Z', 'api', 'db', 6, 5432, [3, 12, 5120]),
  row('2025-11-23T12:13:00Z', null, 'db', 6, 5432, [1, 2, 80], ['unknown', null]),
  row('2025-11-23T12:14:00Z', 'api', null, null, null, [2, 4, 2 ** 53 - 1], [null, 'gap']),
  row('2025-11-23T12:14:00Z', 'we"ird\\app\n', 'café ☕ \u2028 \u0001', 17, 0, [1, 1, 0], ['conflict', 'no-address']),
  row('1970-01-01T00:00:00Z', 'internet', 'aws:S3:us-east-1', 1, 0, [2 ** 53 - 1, 2 ** 53 - 1, 2 ** 53 - 1]),
  row('2025-11-23T12:15:00Z', '', 'db', 6, 443, [0, 0, 0]),
];

export interface SinkUnderTest<S extends Sink> {
  /** Builds a fresh, empty sink. */
  create(): S | Promise<S>;
  /** Everything the sink has stored, as row objects (any order). */
  read(sink: S): Row[] | Promise<Row[]>;
  /** Frees what `create` made (temporary directories). */
  dispose?(sink: S): void | Promise<void>;
}

const canonical = (r: Row): string => JSON.stringify(Object.keys(r).sort().map((k) => [k, r[k]]));
const sorted = (rows: readonly Row[]): Row[] => [...rows].sort((a, b) => (canonical(a) < canonical(b) ? -1 : 1));

/** Registers the common sink checks under `describe(<title> compliance)`. */
export function sinkCompliance<S extends Sink>(title: string, t: SinkUnderTest<S>): void {
  const withSink = async (body: (s: S) => Promise<void>): Promise<void> => {
    const s = await t.create();
    try {
      await body(s);
    } finally {
      await s.close();
      await t.dispose?.(s);
    }
  };

  describe(`${title} compliance`, () => {
    it('rows round-trip exactly: nulls, awkward strings, every reason, counts up to 2^53-1', () =>
      withSink(async (s) => {
        await s.write(batchFromRows(1, DIMS, TRICKY_ROWS));
        assert.deepStrictEqual(sorted(await t.read(s)), sorted(TRICKY_ROWS));
      }));

    it('keeps deltas with the same key from two writes (readers sum them)', () =>
      withSink(async (s) => {
        const a = row('2025-11-23T12:13:00Z', 'api', 'db', 6, 5432, [3, 12, 5120]);
        const b = row('2025-11-23T12:13:00Z', 'api', 'db', 6, 5432, [1, 5, 700]);
        await s.write(batchFromRows(1, DIMS, [a]));
        await s.write(batchFromRows(2, DIMS, [b]));
        assert.deepStrictEqual(sorted(await t.read(s)), sorted([a, b]));
      }));

    it('accepts a 0-row batch and stores nothing for it', () =>
      withSink(async (s) => {
        await s.write(batchFromRows(1, DIMS, []));
        assert.deepStrictEqual(await t.read(s), []);
        const a = row('2025-11-23T12:13:00Z', 'api', 'db', 6, 5432, [3, 12, 5120]);
        await s.write(batchFromRows(2, DIMS, [a]));
        await s.write(batchFromRows(3, DIMS, []));
        assert.deepStrictEqual(await t.read(s), [a]);
      }));

    it('owns nothing of the batch once write resolves (the caller may reuse its arrays)', () =>
      withSink(async (s) => {
        const b = batchFromRows(1, DIMS, TRICKY_ROWS);
        await s.write(b);
        b.flows.fill(99);
        b.bytes.fill(99);
        b.windowStart.fill(0);
        assert.deepStrictEqual(sorted(await t.read(s)), sorted(TRICKY_ROWS));
      }));

    it('rejects a write after close with a non-retriable DredgeError; close twice is fine', async () => {
      const s = await t.create();
      try {
        await s.close();
        await s.close();
        await assert.rejects(s.write(batchFromRows(1, DIMS, TRICKY_ROWS)), (err: unknown) => {
          assert.ok(err instanceof DredgeError);
          assert.equal(err.retriable, false);
          assert.match(err.message, /close/);
          return true;
        });
        assert.deepStrictEqual(await t.read(s), []);
      } finally {
        await t.dispose?.(s);
      }
    });

    it('reports itself healthy when open, and not once closed', async () => {
      const s = await t.create();
      try {
        assert.ok(s.health !== undefined, 'a shipped sink has a health check');
        const h = await s.health();
        assert.equal(h.ok, true, h.detail);
        assert.ok(h.detail.length > 0);
        await s.close();
        assert.equal((await s.health()).ok, false);
      } finally {
        await s.close();
        await t.dispose?.(s);
      }
    });

    it('close waits for writes in flight', () =>
      withSink(async (s) => {
        const w = s.write(batchFromRows(1, DIMS, TRICKY_ROWS));
        await s.close();
        await w;
        assert.deepStrictEqual(sorted(await t.read(s)), sorted(TRICKY_ROWS));
      }));
  });
}
