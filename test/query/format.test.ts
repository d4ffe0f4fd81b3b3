// Output formats of `dredge query` (DESIGN.md §9): the JSON number rule (2^53−1 is a number, 2^53 a
// string), ISO timestamps with Z, RFC 4180 CSV (checked by a round trip through a strict parser over
// arbitrary text), and the aligned table.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatCsv, formatJson, formatTable, jsonValue, thousands } from '../../src/query/format.js';
import type { Rows } from '../../src/query/rows.js';
import { isoUtc } from '../../src/query/store.js';

/** RFC 4180 reader: quoted fields with doubled quotes, fields separated by commas, records by \n. */
function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i++;
      while (true) {
        if (i >= text.length) throw new Error('unterminated quote');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\n') {
        if (text[i] === '"' || text[i] === '\r') throw new Error(`bare ${JSON.stringify(text[i])} in an unquoted field`);
        field += text[i++];
      }
    }
    row.push(field);
    if (text[i] === ',') i++;
    else if (text[i] === '\n' || i >= text.length) {
      out.push(row);
      row = [];
      i++;
    } else throw new Error(`unexpected ${JSON.stringify(text[i])} after a quoted field`);
  }
  return out;
}

const MAX = 9007199254740991n;

describe('json', () => {
  it('integers up to 2^53−1 are numbers, beyond are strings, either sign', () => {
    assert.equal(jsonValue(MAX), 9007199254740991);
    assert.equal(jsonValue(MAX + 1n), '9007199254740992');
    assert.equal(jsonValue(-MAX), -9007199254740991);
    assert.equal(jsonValue(-MAX - 1n), '-9007199254740992');
    assert.equal(jsonValue(170141183460469231731687303715884105727n), '170141183460469231731687303715884105727');
    assert.equal(jsonValue(0.25), 0.25);
    assert.equal(jsonValue(Number.NaN), 'NaN');
  });

  it('one array of row objects with the column names as keys; [] when empty', () => {
    const rows: Rows = {
      columns: [{ name: 'window_start', kind: 'timestamp' }, { name: 'dst.app', kind: 'text' }, { name: 'bytes', kind: 'integer', metric: true }],
      rows: [['2026-11-20T11:59:00Z', 'web', MAX + 2n], ['2026-11-20T12:00:00Z', null, 5n]],
    };
    const text = formatJson(rows);
    assert.deepEqual(JSON.parse(text), [
      { window_start: '2026-11-20T11:59:00Z', 'dst.app': 'web', bytes: '9007199254740993' },
      { window_start: '2026-11-20T12:00:00Z', 'dst.app': null, bytes: 5 },
    ]);
    assert.equal(formatJson({ columns: rows.columns, rows: [] }), '[]\n');
  });

  it('timestamps are ISO-8601 UTC with Z, milliseconds only when present', () => {
    assert.equal(isoUtc(new Date(Date.UTC(2026, 10, 20, 11, 59))), '2026-11-20T11:59:00Z');
    assert.equal(isoUtc(new Date(Date.UTC(2026, 10, 20, 11, 59, 1, 250))), '2026-11-20T11:59:01.250Z');
  });
});

describe('csv', () => {
  it('quotes commas, quotes and line breaks; NULL is empty', () => {
    const rows: Rows = {
      columns: [{ name: 'dst.app', kind: 'text' }, { name: 'n', kind: 'integer' }],
      rows: [['legacy, "v1"', 1n], ['a\nb', null], ['plain', MAX + 1n], ['cr\r', 0n]],
    };
    assert.equal(formatCsv(rows), 'dst.app,n\n"legacy, ""v1""",1\n"a\nb",\nplain,9007199254740992\n"cr\r",0\n');
  });

  it('round-trips any text through an RFC 4180 reader', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.string({ unit: 'binary' }), { minLength: 2, maxLength: 2 }), { maxLength: 8 }), (cells) => {
        const rows: Rows = { columns: [{ name: 'a,"b"', kind: 'text' }, { name: 'c', kind: 'text' }], rows: cells };
        const back = parseCsv(formatCsv(rows));
        // A row of one empty field is an empty line; with two columns there is always a comma.
        assert.deepEqual(back, [['a,"b"', 'c'], ...cells]);
      }),
    );
  });
});

describe('table', () => {
  it('pads columns, right-aligns numbers, separates thousands in metrics only, shows null', () => {
    const rows: Rows = {
      columns: [{ name: 'dst.app', kind: 'text' }, { name: 'dstport', kind: 'integer' }, { name: 'pct', kind: 'float' }, { name: 'bytes', kind: 'integer', metric: true }],
      rows: [['cache', 6379n, 12.5, 1234567n], [null, 443n, 0.01, 10n], ['tab\there', 8080n, 100, 9007199254740993n]],
    };
    assert.equal(
      formatTable(rows),
      [
        'dst.app    dstport   pct                  bytes',
        '---------  -------  ----  ---------------------',
        'cache         6379  12.5              1,234,567',
        'null           443  0.01                     10',
        'tab\\there     8080   100  9,007,199,254,740,993',
        '',
      ].join('\n'),
    );
    assert.equal(formatTable({ columns: rows.columns, rows: [] }), 'dst.app  dstport  pct  bytes\n-------  -------  ---  -----\n(no rows)\n');
    const shares: Rows = { columns: [{ name: 'flows_pct', kind: 'float', decimals: 2 }], rows: [[10], [2.5], [0.01]] };
    assert.equal(formatTable(shares), 'flows_pct\n---------\n    10.00\n     2.50\n     0.01\n');
    assert.deepEqual(JSON.parse(formatJson(shares)), [{ flows_pct: 10 }, { flows_pct: 2.5 }, { flows_pct: 0.01 }]);
    assert.equal(thousands(-1234n), '-1,234');
    assert.equal(thousands(999), '999');
  });
});
