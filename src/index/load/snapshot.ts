// Snapshot loader: CSV with a header row, or NDJSON with the same names as keys (detected by the first
// non-blank character, `{` → NDJSON). Columns:
//   cidr                 required: an address (/32, /128) or CIDR
//   app cluster account region az vpc subnet owner interface_id instance_id   optional metadata
//   valid_from valid_to  optional, ISO-8601 with zone or epoch seconds; absent = open
//   anything else        kept as extra metadata under its own name
// Column names are case-insensitive and `-`/space act as `_`. A row with an empty cidr is accepted only
// when it carries interface_id or instance_id: it maps that interface/instance to its owner (for
// heartbeats) without claiming an address.

import type { SnapshotRow } from '../builder.js';
import { requirePrefix } from '../prefix.js';
import { LineErrors, fail, lines, metaFrom, normalizeColumn, parseJsonLine, timeField } from './fields.js';

const RESERVED = new Set(['cidr', 'valid_from', 'valid_to']);

export function parseSnapshot(text: string, file: string): SnapshotRow[] {
  const first = /\S/.exec(text);
  if (first === null) return [];
  return first[0] === '{' ? parseNdjson(text, file) : parseCsv(text, file);
}

function row(rec: Record<string, unknown>, file: string, line: number): SnapshotRow {
  let cidr: unknown;
  let vf: unknown;
  let vt: unknown;
  for (const [k, v] of Object.entries(rec)) {
    const n = normalizeColumn(k);
    if (n === 'cidr') cidr = v;
    else if (n === 'valid_from') vf = v;
    else if (n === 'valid_to') vt = v;
  }
  const meta = metaFrom(rec, RESERVED, file, line);
  if (cidr !== undefined && cidr !== null && typeof cidr !== 'string') fail(file, line, 'cidr', 'expected text such as "10.1.2.0/24"');
  const c = typeof cidr === 'string' && cidr.trim() !== '' && cidr.trim() !== '-' ? cidr.trim() : null;
  if (c === null && meta.interface_id === undefined && meta.instance_id === undefined) fail(file, line, 'cidr', 'is empty; give the address or CIDR this row describes');
  if (c !== null) requirePrefix(c, `${file}:${line}: field cidr`); // checked here too, so errors come in line order
  const validFrom = timeField(vf, file, line, 'valid_from');
  const validTo = timeField(vt, file, line, 'valid_to');
  if (validFrom !== null && validTo !== null && !(validFrom < validTo)) fail(file, line, 'valid_to', 'must be later than valid_from');
  return { cidr: c, meta, validFrom, validTo, origin: { file, line } };
}

function parseNdjson(text: string, file: string): SnapshotRow[] {
  const out: SnapshotRow[] = [];
  const errors = new LineErrors();
  for (const [n, line] of lines(text)) {
    errors.run(() => {
      const rec = parseJsonLine(line, file, n);
      if (!Object.keys(rec).some((k) => normalizeColumn(k) === 'cidr') && !('interface_id' in rec) && !('instance_id' in rec)) fail(file, n, 'cidr', 'is missing; every row needs "cidr" (an address or CIDR)');
      out.push(row(rec, file, n));
    });
  }
  errors.throwIfAny(file);
  return out;
}

function parseCsv(text: string, file: string): SnapshotRow[] {
  const out: SnapshotRow[] = [];
  const errors = new LineErrors();
  let header: string[] | null = null;
  for (const [n, line] of lines(text)) {
    if (line.trimStart().startsWith('#')) continue;
    if (header === null) {
      const cells = splitCsv(line, file, n);
      header = cells.map((c) => c.trim());
      if (!header.some((h) => normalizeColumn(h) === 'cidr')) fail(file, n, null, `the header row (${header.join(',')}) has no "cidr" column; the first line must name the columns, one of them cidr`);
      const seen = new Set<string>();
      for (const h of header) {
        const k = normalizeColumn(h);
        if (k === '') fail(file, n, null, 'the header row has an empty column name');
        if (seen.has(k)) fail(file, n, h, 'is named twice in the header row');
        seen.add(k);
      }
      continue;
    }
    const names = header;
    errors.run(() => {
      const cells = splitCsv(line, file, n);
      if (cells.length !== names.length) fail(file, n, null, `has ${cells.length} cells but the header names ${names.length} columns; quote cells that contain commas`);
      const rec: Record<string, string> = {};
      names.forEach((h, i) => (rec[h] = (cells[i] as string).trim()));
      out.push(row(rec, file, n));
    });
  }
  errors.throwIfAny(file);
  return out;
}

/** One CSV line (RFC 4180 quoting, no embedded newlines). */
export function splitCsv(line: string, file: string, n: number): string[] {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let s = '';
      i++;
      for (;;) {
        if (i >= line.length) fail(file, n, null, 'unterminated quoted cell');
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            s += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += line[i++];
      }
      cells.push(s);
      while (i < line.length && line[i] === ' ') i++;
      if (i < line.length && line[i] !== ',') fail(file, n, null, `unexpected text after a quoted cell at column ${i + 1}`);
    } else {
      const c = line.indexOf(',', i);
      cells.push(line.slice(i, c < 0 ? line.length : c));
      i = c < 0 ? line.length : c;
    }
    if (i >= line.length) break;
    i++; // comma
    if (i === line.length) {
      cells.push('');
      break;
    }
  }
  return cells;
}
