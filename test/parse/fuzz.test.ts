// Hostile bytes: random data, and random mutations and truncations of valid inputs (text, gzip,
// CloudWatch envelopes), through decodeBuffer and through the streaming FlowDecoder cut at random
// places. Whatever the bytes: no exception but a DredgeError escapes, nothing hangs, the streaming
// decoder gives the same answer however its input is chunked, and memory stays bounded (an overlong
// line, a gzip bomb, an oversized envelope). Memory is measured as peak RSS growth in a child process.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { DredgeError } from '../../src/errors.js';
import { FlowDecoder } from '../../src/parse/decoder.js';
import { FlowFormat } from '../../src/parse/fields.js';
import type { FlowBatch } from '../../src/parse/flow-batch.js';
import { REPO_ROOT, type Decoded, decodeChunked, decodeWhole, onlyDredgeErrors, utf8 } from './helpers.js';
import { envelopeJson } from './helpers.js';

const V2_HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';
const CUSTOM = 'version srcaddr dstaddr srcport dstport protocol bytes action log-status tcp-flags flow-direction';
const line = (i: number) => `2 123456789012 eni-0a1b2c3d4e5f60718 10.0.${i & 255}.${(i * 7) & 255} 2001:db8::${i.toString(16)} ${1024 + i} 443 6 ${i} ${i * 40} 1700000000 1700000060 ${i % 3 === 0 ? 'REJECT' : 'ACCEPT'} ${i % 11 === 0 ? 'NODATA' : 'OK'}`;
const customLine = (i: number) => `5 10.1.0.${i & 255} 10.2.0.${(i * 3) & 255} ${2000 + i} 80 6 ${i * 10} ACCEPT OK ${i & 63} ${i % 2 === 0 ? 'ingress' : 'egress'}`;

const TEXT = [V2_HEADER, ...Array.from({ length: 40 }, (_, i) => line(i)), '', CUSTOM, ...Array.from({ length: 20 }, (_, i) => customLine(i))].join('\n') + '\n';

const V2_LINES = Array.from({ length: 30 }, (_, i) => line(i));
const ENVELOPES = envelopeJson(V2_LINES.slice(0, 12)) + '\n' + envelopeJson([...V2_LINES.slice(12, 20), 'CWL \\ escaped'], 12) + envelopeJson(['x'], 21).replace('DATA_MESSAGE', 'CONTROL_MESSAGE');

const SEEDS: Record<string, Uint8Array> = {
  text: utf8(TEXT),
  gzip: gzipSync(TEXT),
  'gzip members': Buffer.concat([gzipSync(TEXT.slice(0, 500)), gzipSync(TEXT.slice(500))]),
  envelopes: utf8(ENVELOPES),
  'envelopes gzip': Buffer.concat([gzipSync(envelopeJson(V2_LINES.slice(0, 15))), gzipSync(envelopeJson(V2_LINES.slice(15), 15))]),
};

// A hang guard, not a speed target (speed lives in the benchmarks): far above the ~1 s these take on a
// loaded 2-core machine, so a slow CI runner never fails here, while a loop that never ends does.
const BUDGET_MS = 20_000;

/** decodeBuffer with a time bound and the only-DredgeError rule. */
function hostileWhole(bytes: Uint8Array, opts: Parameters<typeof decodeWhole>[1] = {}): Decoded {
  const t0 = performance.now();
  const d = decodeWhole(bytes, opts);
  const ms = performance.now() - t0;
  onlyDredgeErrors(d, 'decodeBuffer');
  assert.ok(ms < BUDGET_MS, `decodeBuffer took ${ms.toFixed(0)} ms on ${bytes.length} bytes`);
  return d;
}

function hostileChunked(bytes: Uint8Array, sizes: number[], opts: Parameters<typeof decodeChunked>[2] = {}): Decoded {
  const t0 = performance.now();
  const d = decodeChunked(bytes, sizes, opts);
  const ms = performance.now() - t0;
  onlyDredgeErrors(d, `FlowDecoder (chunks ${sizes.join(',')})`);
  assert.ok(ms < BUDGET_MS, `FlowDecoder took ${ms.toFixed(0)} ms on ${bytes.length} bytes`);
  return d;
}

/** Same records, same issues, same failure (by code and message) — how the input was chunked must not matter. */
function assertSameOutcome(a: Decoded, b: Decoded, what: string, normalize = (m: string) => m): void {
  assert.deepEqual(a.records, b.records, `${what}: records`);
  assert.deepEqual(a.issues, b.issues, `${what}: issues`);
  const failure = (d: Decoded) => (d.error instanceof DredgeError ? `${d.error.code}: ${normalize(d.error.message)}` : d.error === null ? null : String(d.error));
  assert.equal(failure(a), failure(b), `${what}: failure`);
}

/** A mutation of a byte string: flips, inserts, deletes, a truncation. */
const mutation = fc.record({
  edits: fc.array(
    fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), kind: fc.constantFrom('set', 'insert', 'delete'), byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(10, 13, 32, 34, 45, 92, 123, 125, 9, 0)) }),
    { maxLength: 8 },
  ),
  truncateAt: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
});

function mutate(src: Uint8Array, m: { edits: { at: number; kind: string; byte: number }[]; truncateAt: number | undefined }): Uint8Array {
  const b = [...src];
  for (const e of m.edits) {
    const at = Math.floor(e.at * b.length);
    if (e.kind === 'set' && b.length > 0) b[at] = e.byte;
    else if (e.kind === 'insert') b.splice(at, 0, e.byte);
    else if (b.length > 0) b.splice(at, 1);
  }
  const out = Uint8Array.from(b);
  return m.truncateAt === undefined ? out : out.subarray(0, Math.floor(m.truncateAt * out.length));
}

const chunkSizes = fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 6 });
const decoderOptions = fc.record({
  fields: fc.option(fc.constantFrom(V2_HEADER, CUSTOM, 'srcaddr,dstaddr', 'version srcaddr dstaddr action'), { nil: undefined }),
  maxLineBytes: fc.option(fc.integer({ min: 16, max: 400 }), { nil: undefined }),
  batchRows: fc.option(fc.integer({ min: 1, max: 9 }), { nil: undefined }),
  maxEnvelopeBytes: fc.option(fc.integer({ min: 1, max: 2000 }), { nil: undefined }),
}).map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));

/**
 * Options for comparing chunkings: limits no line or envelope of these inputs reaches (what happens at
 * the limits is pinned by the deterministic tests in 'limits do not depend on chunking' below).
 */
const invariantOptions = fc.record({
  fields: fc.option(fc.constantFrom(V2_HEADER, CUSTOM, 'srcaddr,dstaddr', 'version srcaddr dstaddr action'), { nil: undefined }),
  batchRows: fc.option(fc.integer({ min: 1, max: 9 }), { nil: undefined }),
}).map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));

describe('fuzz: nothing but a DredgeError escapes, nothing hangs', () => {
  it('random bytes through decodeBuffer and the streaming decoder', () => {
    const prefixes = [[], [0x1f, 0x8b], [0x1f, 0x8b, 8, 0], [123], [123, 34], [0x50, 0x41, 0x52, 0x31], [0x28, 0xb5, 0x2f, 0xfd], [32, 10, 123]];
    fc.assert(
      fc.property(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 3000 }), chunkSizes, decoderOptions, (prefix, body, sizes, opts) => {
        const bytes = Uint8Array.from([...prefix, ...body]);
        hostileWhole(bytes, opts);
        hostileChunked(bytes, sizes, opts);
      }),
      { numRuns: 600 },
    );
  });

  it('random text made of flow-log-like tokens', () => {
    const tok = fc.constantFrom('2', '-', ' ', '  ', '\n', '\r\n', '\t', 'ACCEPT', 'REJECT', 'OK', 'NODATA', 'version', 'srcaddr', 'dstaddr', 'log-status', '10.0.0.1', '::1', '2001:db8::', '65535', '65536', '9007199254740991', '9007199254740992', '{', '}', '"', '\\', '\u0000', 'é', '\ufeff');
    fc.assert(
      fc.property(fc.array(tok, { maxLength: 300 }), chunkSizes, decoderOptions, invariantOptions, (toks, sizes, opts, same) => {
        const bytes = utf8(toks.join(''));
        hostileWhole(bytes, opts);
        hostileChunked(bytes, sizes, opts);
        assertSameOutcome(hostileChunked(bytes, sizes, same), hostileWhole(bytes, same), 'chunked vs whole');
      }),
      { numRuns: 500 },
    );
  });

  for (const [name, seed] of Object.entries(SEEDS)) {
    it(`mutations and truncations of a valid input: ${name}`, () => {
      fc.assert(
        fc.property(mutation, chunkSizes, decoderOptions, invariantOptions, (m, sizes, opts, same) => {
          const bytes = mutate(seed, m);
          hostileWhole(bytes, opts);
          let plain: Uint8Array = bytes;
          if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
            try {
              plain = gunzipSync(bytes);
            } catch {
              return; // the gzip layer itself rejects it; decodeBuffer above covered that path
            }
          }
          hostileChunked(plain, sizes, opts);
          const chunked = hostileChunked(plain, sizes, same);
          const single = hostileChunked(plain, [plain.length], same);
          // The byte offset in an envelope syntax error is pinned by its own test below.
          assertSameOutcome(chunked, single, 'chunked vs one push', (msg) => msg.replace(/offset \d+/, 'offset N'));
        }),
        { numRuns: 300 },
      );
    });
  }
});

describe('chunking invariance: random chunk sizes give the records and issues of a single push', () => {
  const cases: Record<string, Uint8Array> = {
    'text with headers, format switch, malformed lines, CRLF': utf8(TEXT.replace(/\n/g, (_, i: number) => (i % 3 === 0 ? '\r\n' : '\n')) + line(999).replace('443', '99999') + '\n' + line(1000)),
    'CloudWatch envelopes': utf8(ENVELOPES),
    'envelopes with whitespace between them': utf8(' \n' + ENVELOPES.replace('}{', '}\r\n\t {') + '\n\n'),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    it(name, () => {
      const single = decodeChunked(bytes, [bytes.length]);
      assert.ok(single.records.length > 0);
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 50 }), (sizes, batchRows) => {
          assertSameOutcome(decodeChunked(bytes, sizes, { batchRows }), single, `chunks ${sizes.join(',')}`);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('byte-by-byte pushes', () => {
    for (const bytes of Object.values(cases)) assertSameOutcome(decodeChunked(bytes, [1]), decodeChunked(bytes, [bytes.length]), 'one byte at a time');
  });

  it('node Buffers reused by the caller after push (as a pooled reader does) do not change the result', () => {
    for (const bytes of Object.values(cases)) {
      for (const sizes of [[1], [5, 13], [64]]) {
        assertSameOutcome(decodeChunked(bytes, sizes, { asBuffer: true }), decodeChunked(bytes, [bytes.length]), `Buffer chunks ${sizes.join(',')}`);
      }
    }
  });

  it('a gzip input decoded whole equals its decompressed bytes streamed', () => {
    for (const name of ['gzip', 'gzip members', 'envelopes gzip']) {
      const gz = SEEDS[name] as Uint8Array;
      assertSameOutcome(decodeChunked(gunzipSync(gz), [33, 7]), decodeWhole(gz), name);
    }
  });
});

describe('limits do not depend on chunking', () => {
  const long = 'x'.repeat(300);
  const text = utf8([line(1), long, line(2), V2_HEADER + ' ', line(3)].join('\n') + '\n');

  it('a line over maxLineBytes is reported the same whether it arrives whole or split', () => {
    const single = decodeChunked(text, [text.length], { maxLineBytes: 200 });
    // the 300-byte line (line 2) is overlong; the 115-byte header and the ~110-byte records are not
    assert.deepEqual(single.issues.map((i) => i.replace(/:.*/, '')), ['line 2']);
    for (const sizes of [[1], [50], [128, 3]]) assertSameOutcome(decodeChunked(text, sizes, { maxLineBytes: 200 }), single, `chunks ${sizes.join(',')}`);
  });

  it('a header line over maxLineBytes gets the same treatment whether it arrives whole or split', () => {
    const single = decodeChunked(text, [text.length], { maxLineBytes: 100 });
    for (const sizes of [[1], [64]]) assertSameOutcome(decodeChunked(text, sizes, { maxLineBytes: 100 }), single, `chunks ${sizes.join(',')}`);
  });

  it('an envelope syntax error names the same offset however the input is chunked', () => {
    const bytes = utf8(envelopeJson(V2_LINES.slice(0, 2)) + '\n' + envelopeJson(V2_LINES.slice(2, 3)).replace(/}]}$/, '\n]}'));
    const single = decodeChunked(bytes, [bytes.length]);
    assert.ok(single.error instanceof DredgeError);
    for (const sizes of [[1], [4, 1], [100]]) assertSameOutcome(decodeChunked(bytes, sizes), single, `chunks ${sizes.join(',')}`);
  });

  it('maxEnvelopeBytes rejects an envelope over the limit whether it arrives whole or split', () => {
    const env = utf8(envelopeJson(V2_LINES.slice(0, 10)));
    const limit = Math.floor(env.length / 2);
    const single = decodeChunked(env, [env.length], { maxEnvelopeBytes: limit });
    assert.ok(single.error instanceof DredgeError && single.error.code === 'DREDGE_ERR_LIMIT', `one push: DREDGE_ERR_LIMIT, got ${String(single.error)} and ${single.records.length} records`);
    assertSameOutcome(decodeChunked(env, [100], { maxEnvelopeBytes: limit }), single, 'chunks of 100');
  });
});

describe('hostile shapes finish quickly and fail cleanly', () => {
  const shapes: Record<string, () => Uint8Array> = {
    'deeply nested JSON': () => utf8('{"messageType":"DATA_MESSAGE","logEvents":' + '['.repeat(200_000)),
    'deeply nested objects': () => utf8('{"a":'.repeat(100_000)),
    'an unterminated string': () => utf8('{"logEvents":[{"message":"' + 'a'.repeat(1_000_000)),
    'a string of backslashes': () => utf8('{"logEvents":[{"message":"' + '\\'.repeat(999_999) + '"}]}'),
    'escaped quotes everywhere': () => utf8('{"logEvents":[{"message":"' + '\\"'.repeat(300_000) + '"}]}'),
    'a million empty events': () => utf8('{"messageType":"DATA_MESSAGE","logEvents":[' + '{"message":""},'.repeat(300_000) + '{"message":""}]}'),
    'a million spaces': () => utf8(' '.repeat(1_000_000) + line(1) + '\n'),
    'a line of a million tokens': () => utf8('1 '.repeat(500_000) + '\n' + line(2) + '\n'),
    'a hundred thousand blank lines': () => utf8('\n'.repeat(100_000) + line(3) + '\n'),
    'lines that start with a field name but are data': () => utf8(('version 10.0.0.1 garbage\n').repeat(50_000)),
  };
  for (const [name, make] of Object.entries(shapes)) {
    it(name, () => {
      const bytes = make();
      hostileWhole(bytes);
      hostileChunked(bytes, [65536]);
    });
  }

  it('header lines that switch the format every line reuse one batch and one compiled scanner per format', () => {
    // Each switch used to allocate a fresh 8192-row batch (and could recompile a scanner): 10,000
    // alternating headers took ~80x the time of the same bytes of records. Checked structurally here,
    // so the test does not depend on the machine's speed.
    assert.equal(FlowFormat.parse('version srcaddr'), FlowFormat.parse('version, srcaddr'), 'formats are interned');
    const rows = Array.from({ length: 2_000 }, (_, i) => (i % 2 === 0 ? 'version srcaddr\n2 10.0.0.1' : 'srcaddr version\n10.0.0.2 2')).join('\n') + '\n';
    const seen = new Map<string, Set<FlowBatch>>();
    let records = 0;
    const d = new FlowDecoder({
      onBatch: (b) => {
        records += b.length;
        const key = b.format.names.join(' ');
        if (!seen.has(key)) seen.set(key, new Set());
        seen.get(key)?.add(b);
      },
      onIssue: (i) => assert.fail(`unexpected issue ${i.n}: ${i.reason}`),
    });
    d.push(utf8(rows));
    d.end();
    assert.equal(records, 2_000);
    assert.deepEqual([...seen.keys()].sort(), ['srcaddr version', 'version srcaddr']);
    for (const [fmt, batches] of seen) assert.equal(batches.size, 1, `format "${fmt}" used ${batches.size} batch objects`);
  });
});

// --- memory -------------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'dredge-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs `body` (an async function body with `dist` = URL of dist/src/) in a fresh node and returns the
 * growth of its peak RSS, in MB, between `mark()` and the end; `body` may also return a value.
 */
function probe(body: string, args: string[] = []): { growthMb: number; result: unknown; stderr: string } {
  const dist = new URL('dist/src/', REPO_ROOT).href;
  const code = `
    const dist = new URL(${JSON.stringify(dist)});
    let base = 0;
    const mark = () => { globalThis.gc?.(); base = process.resourceUsage().maxRSS; };
    const result = await (async () => { ${body} })();
    const growthMb = (process.resourceUsage().maxRSS - base) / 1024;
    process.stdout.write('\\n@@probe@@' + JSON.stringify({ growthMb, result }));
  `;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code, ...args], { encoding: 'utf8', timeout: 30_000, maxBuffer: 1 << 20 });
  assert.equal(r.status, 0, `probe failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout.slice(r.stdout.lastIndexOf('@@probe@@') + 9)) as { growthMb: number; result: unknown };
  return { ...out, stderr: r.stderr };
}

describe('memory stays bounded', () => {
  const LINE_MB = 50;

  it(`a ${LINE_MB} MB single line streamed in 1 MB chunks: reported, skipped, next line decoded, < 24 MB growth`, () => {
    const { growthMb, result } = probe(`
      const { FlowDecoder } = await import(new URL('parse/decoder.js', dist));
      const chunk = new Uint8Array(1 << 20).fill(97);
      const issues = []; let records = 0;
      const d = new FlowDecoder({ maxLineBytes: 65536, onBatch: (b) => { records += b.length; }, onIssue: (i) => issues.push(i.unit + ' ' + i.n) });
      mark();
      for (let i = 0; i < ${LINE_MB}; i++) d.push(chunk);
      d.push(new TextEncoder().encode('\\n${line(1)}\\n'));
      d.end();
      return { issues, records };
    `);
    assert.deepEqual(result, { issues: ['line 1'], records: 1 });
    assert.ok(growthMb < 24, `peak RSS grew ${growthMb.toFixed(1)} MB`);
  });

  it(`decodeBuffer on a ${LINE_MB} MB single line (no newline at all) does not copy it: < 24 MB growth`, () => {
    const { growthMb, result } = probe(`
      const { decodeBuffer } = await import(new URL('parse/inflate.js', dist));
      const input = new Uint8Array(${LINE_MB} << 20).fill(97);
      const issues = [];
      mark();
      decodeBuffer(input, { onBatch: () => {}, onIssue: (i) => issues.push(i.unit + ' ' + i.n) });
      return issues;
    `);
    assert.deepEqual(result, ['line 1']);
    assert.ok(growthMb < 24, `peak RSS grew ${growthMb.toFixed(1)} MB`);
  });

  it('a gzip bomb through decodeBuffer with a small maxInflatedBytes: DREDGE_ERR_LIMIT, < 40 MB growth', () => {
    const { growthMb, result } = probe(`
      const { gzipSync } = await import('node:zlib');
      const { decodeBuffer } = await import(new URL('parse/inflate.js', dist));
      const bomb = gzipSync(new Uint8Array(256 << 20), { level: 9 });
      mark();
      try {
        decodeBuffer(bomb, { maxInflatedBytes: 8 << 20, onBatch: () => {}, onIssue: () => {} });
        return 'no error';
      } catch (e) { return e.code ?? String(e); }
    `);
    assert.equal(result, 'DREDGE_ERR_LIMIT');
    assert.ok(growthMb < 40, `peak RSS grew ${growthMb.toFixed(1)} MB`);
  });

  it('an oversized CloudWatch envelope streamed: DREDGE_ERR_LIMIT, < 24 MB growth', () => {
    const { growthMb, result } = probe(`
      const { FlowDecoder } = await import(new URL('parse/decoder.js', dist));
      const d = new FlowDecoder({ maxEnvelopeBytes: 1 << 20, onBatch: () => {}, onIssue: () => {} });
      const chunk = new Uint8Array(256 << 10).fill(97);
      mark();
      d.push(new TextEncoder().encode('{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","message":"'));
      for (let i = 0; i < 200; i++) d.push(chunk);
      try { d.end(); return 'no error'; } catch (e) { return e.code ?? String(e); }
    `);
    assert.equal(result, 'DREDGE_ERR_LIMIT');
    assert.ok(growthMb < 24, `peak RSS grew ${growthMb.toFixed(1)} MB`);
  });

  it(`dredge parse --max-line-bytes 1024 on a ${LINE_MB} MB line: exit 0, one issue, next record, < 40 MB growth`, () => {
    const file = join(dir, 'long-line.log');
    writeFileSync(file, Buffer.concat([Buffer.alloc(LINE_MB << 20, 'b'), Buffer.from('\n' + line(1) + '\n')]));
    const { growthMb, result, stderr } = probe(`
      const { main } = await import(new URL('cli/main.js', dist));
      mark();
      return await main(['parse', process.argv[1], '--max-line-bytes', '1024']);
    `, [file]);
    assert.equal(result, 0);
    assert.match(stderr, /^line 1: [^\n]+\n$/);
    assert.ok(growthMb < 40, `peak RSS grew ${growthMb.toFixed(1)} MB`);
  });

  it('dredge parse on a gzip bomb (256 MB of zeros): one malformed line, exit 0, growth < a quarter of it', () => {
    const file = join(dir, 'bomb.log.gz');
    writeFileSync(file, gzipSync(Buffer.alloc(256 << 20), { level: 9 }));
    const { growthMb, result, stderr } = probe(`
      const { main } = await import(new URL('cli/main.js', dist));
      mark();
      return await main(['parse', process.argv[1]]);
    `, [file]);
    assert.equal(result, 0);
    assert.match(stderr, /^line 1: [^\n]+\n$/);
    assert.ok(growthMb < 64, `peak RSS grew ${growthMb.toFixed(1)} MB`);
  });
});

describe('the streaming decoder refuses to be used after end()', () => {
  it('push after end throws a DredgeError', () => {
    const d = new FlowDecoder({ onBatch: () => undefined, onIssue: () => undefined });
    d.push(utf8(line(1) + '\n'));
    d.end();
    assert.throws(() => d.push(utf8(line(2))), DredgeError);
  });
});
