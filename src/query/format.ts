// Rows → text, the three ways `dredge query` prints (DESIGN.md §9):
//   table  columns padded to their widest cell, numbers right-aligned, summed metrics (flows, packets,
//          bytes) with thousands separators, shares with fixed decimals, NULL as `null`; the default,
//          on a terminal or not
//   json   one JSON array of row objects; integers as numbers up to 2^53−1 and as strings beyond (a
//          reader's double would silently round them), timestamps ISO-8601 with `Z`
//   csv    a header row, then RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes doubled;
//          NULL is an empty field; lines end with \n

import type { Cell, Column, Rows } from './rows.js';

export type OutputFormat = 'table' | 'json' | 'csv';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A cell as a JSON value. */
export function jsonValue(v: Cell): null | number | string | boolean {
  if (typeof v === 'bigint') return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

export function formatJson(rows: Rows): string {
  if (rows.rows.length === 0) return '[]\n';
  const names = rows.columns.map((c) => c.name);
  const lines = rows.rows.map((row) => {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < names.length; i++) o[names[i] as string] = jsonValue(row[i] ?? null);
    return JSON.stringify(o);
  });
  return `[\n${lines.join(',\n')}\n]\n`;
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function plain(v: Cell): string {
  if (v === null) return '';
  return typeof v === 'string' ? v : String(v);
}

export function formatCsv(rows: Rows): string {
  const out = [rows.columns.map((c) => csvField(c.name)).join(',')];
  for (const row of rows.rows) out.push(row.map((v) => csvField(plain(v))).join(','));
  return out.join('\n') + '\n';
}

/** `1234567` → `1,234,567`; the same for every summed metric so columns compare at a glance. */
export function thousands(v: bigint | number): string {
  const s = typeof v === 'bigint' ? v.toString() : String(v);
  const m = /^(-?)(\d+)(.*)$/.exec(s);
  if (m === null) return s;
  return `${m[1]}${(m[2] as string).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${m[3]}`;
}

function tableCell(v: Cell, c: Column): string {
  if (v === null) return 'null';
  if (c.decimals !== undefined && typeof v === 'number' && Number.isFinite(v)) return v.toFixed(c.decimals);
  if (c.metric === true && (typeof v === 'bigint' || typeof v === 'number')) return thousands(v);
  // A value with a tab or newline would break the grid; show it escaped.
  const s = typeof v === 'string' ? v : String(v);
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return JSON.stringify(s).slice(1, -1);
  }
  return s;
}

function rightAligned(c: Column): boolean {
  return c.kind === 'integer' || c.kind === 'float';
}

export function formatTable(rows: Rows): string {
  const cols = rows.columns;
  const cells = rows.rows.map((row) => cols.map((c, i) => tableCell(row[i] ?? null, c)));
  const width = cols.map((c, i) => Math.max(c.name.length, ...cells.map((r) => (r[i] as string).length)));
  const line = (vals: string[]): string =>
    vals
      .map((v, i) => (rightAligned(cols[i] as Column) ? v.padStart(width[i] as number) : v.padEnd(width[i] as number)))
      .join('  ')
      .trimEnd();
  const out = [line(cols.map((c) => c.name)), line(width.map((w) => '-'.repeat(w)))];
  for (const r of cells) out.push(line(r));
  if (cells.length === 0) out.push('(no rows)');
  return out.join('\n') + '\n';
}

export function formatRows(rows: Rows, format: OutputFormat): string {
  return format === 'json' ? formatJson(rows) : format === 'csv' ? formatCsv(rows) : formatTable(rows);
}
