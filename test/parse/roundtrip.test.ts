// Property: any record in any custom format survives text → decode unchanged. A random ordered subset of
// the known fields (FIELDS) and random values of each field's kind are written as flow-log text the way
// AWS and hand-edited files vary it (runs of spaces, leading/trailing spaces, CRLF, blank lines, a missing
// final newline, the format as an S3 header line or as --fields), then decoded: every record comes back
// with exactly the format's keys in order, integers as numbers, other fields as the same strings, `-` as
// null, and no issue is reported.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FIELDS } from '../../src/parse/fields.js';
import { decodeChunked, decodeWhole, entries, utf8 } from './helpers.js';

// Field kinds from the specification (issue 2, DESIGN.md §9), not from the implementation's table.
const INTEGER = new Set(['version', 'packets', 'bytes', 'start', 'end', 'tcp-flags', 'traffic-path', 'packets-lost-no-route', 'packets-lost-blackhole', 'packets-lost-mtu-exceeded', 'packets-lost-ttl-expired']);
const PORT = new Set(['srcport', 'dstport']);
const ADDRESS = new Set(['srcaddr', 'dstaddr', 'pkt-srcaddr', 'pkt-dstaddr']);
const NAMES = FIELDS.map((f) => f.name);
const NAME_SET = new Set(NAMES);

type Value = number | string | null;

/** The token written for a value. */
const token = (v: Value): string => (v === null ? '-' : String(v));

const textChar = fc.integer({ min: 33, max: 126 }).map((c) => String.fromCharCode(c));
/** Text as AWS writes it: printable ASCII without spaces; never `-` (that is null) or a field name. */
const text = fc
  .string({ unit: textChar, minLength: 1, maxLength: 40 })
  .filter((s) => s !== '-' && !NAME_SET.has(s) && !s.startsWith('{'));

/** Whitespace of any kind, C0/C1 controls, line/paragraph separators, BOM: not part of a token. */
function hasSpaceOrControl(s: string): boolean {
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (c <= 0x20 || (c >= 0x7f && c <= 0xa0) || c === 0x2028 || c === 0x2029 || c === 0xfeff || /\s/u.test(ch)) return true;
  }
  return false;
}

function valueOf(name: string, ascii = true): fc.Arbitrary<Value> {
  let v: fc.Arbitrary<Value>;
  if (INTEGER.has(name)) v = fc.oneof(fc.maxSafeNat(), fc.nat({ max: 100_000 }), fc.constantFrom(0, 9007199254740991, 4294967295, 4294967296));
  else if (PORT.has(name)) v = fc.oneof(fc.nat({ max: 65535 }), fc.constantFrom(0, 65535));
  else if (name === 'protocol') v = fc.nat({ max: 255 });
  else if (ADDRESS.has(name)) v = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV6().map((s) => s.toUpperCase()), fc.constantFrom('::', '::1', '::ffff:10.1.2.3', '2001:db8::', '0.0.0.0', '255.255.255.255'));
  else if (name === 'action') v = fc.constantFrom('ACCEPT', 'REJECT');
  else if (name === 'log-status') v = fc.constantFrom('OK', 'NODATA', 'SKIPDATA');
  else if (ascii) v = text;
  else v = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).filter((s) => !hasSpaceOrControl(s) && s !== '-' && !NAME_SET.has(s) && !s.startsWith('{'));
  return fc.option(v, { freq: 5, nil: null });
}

interface Layout {
  sep: number[];
  lead: number;
  trail: number;
  crlf: boolean;
  blankBefore: boolean;
}

const layout = fc.record({
  sep: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 8 }),
  lead: fc.nat({ max: 3 }),
  trail: fc.nat({ max: 3 }),
  crlf: fc.boolean(),
  blankBefore: fc.boolean(),
});

function writeLine(tokens: string[], l: Layout): string {
  let s = ' '.repeat(l.lead);
  tokens.forEach((t, i) => {
    if (i > 0) s += ' '.repeat(l.sep[i % l.sep.length] as number);
    s += t;
  });
  return (l.blankBefore ? (l.crlf ? '\r\n' : '\n') : '') + s + ' '.repeat(l.trail) + (l.crlf ? '\r\n' : '\n');
}

/** A format, records of it, and how they are written. */
function scenario(ascii: boolean): fc.Arbitrary<Scenario> {
  return fc
    .shuffledSubarray(NAMES, { minLength: 1, maxLength: NAMES.length })
    .chain((format) =>
      fc.record({
        format: fc.constant(format),
        rows: fc.array(fc.tuple(...format.map((n) => valueOf(n, ascii))), { minLength: 0, maxLength: 12 }),
        layouts: fc.array(layout, { minLength: 1, maxLength: 6 }),
        header: fc.boolean(),
        commas: fc.boolean(),
        finalNewline: fc.boolean(),
      }),
    )
    .filter((s) => s.rows.every((row) => !row.every((v) => v !== null && NAME_SET.has(String(v)))));
}

interface Scenario {
  format: string[];
  rows: Value[][];
  layouts: Layout[];
  header: boolean;
  commas: boolean;
  finalNewline: boolean;
}

function render(s: Scenario): { input: string; fields: string | undefined } {
  let input = s.header ? writeLine(s.format, s.layouts[0] as Layout) : '';
  s.rows.forEach((row, i) => {
    input += writeLine(row.map(token), s.layouts[(i + 1) % s.layouts.length] as Layout);
  });
  if (!s.finalNewline) input = input.replace(/\r?\n$/, '');
  return { input, fields: s.header ? undefined : s.format.join(s.commas ? ',' : ' ') };
}

function check(s: Scenario, decode: (bytes: Uint8Array, fields: string | undefined) => ReturnType<typeof decodeWhole>): void {
  const { input, fields } = render(s);
  const d = decode(utf8(input), fields);
  assert.equal(d.error, null, `error: ${String(d.error)}\ninput: ${JSON.stringify(input)}`);
  assert.deepEqual(d.issues, [], `no issues for ${JSON.stringify(input)}`);
  const expected = s.rows.map((row) => s.format.map((name, i) => [name, row[i] ?? null]));
  assert.deepEqual(d.records.map(entries), expected, `input: ${JSON.stringify(input)}`);
}

describe('round trip: random records in random custom formats → text → decode → equal', () => {
  it('decodeBuffer, ASCII text values', () => {
    fc.assert(
      fc.property(scenario(true), (s) => check(s, (b, fields) => decodeWhole(b, fields === undefined ? {} : { fields }))),
      { numRuns: 400 },
    );
  });

  it('the streaming FlowDecoder, random chunk sizes', () => {
    fc.assert(
      fc.property(scenario(true), fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 5 }), (s, sizes) =>
        check(s, (b, fields) => decodeChunked(b, sizes, fields === undefined ? {} : { fields })),
      ),
      { numRuns: 200 },
    );
  });

  it('text fields keep non-ASCII UTF-8 exactly as written', () => {
    fc.assert(
      fc.property(scenario(false), (s) => check(s, (b, fields) => decodeWhole(b, fields === undefined ? {} : { fields }))),
      { numRuns: 150 },
    );
  });
});
