// Shared by the metadata loaders: column names → standard metadata keys or extra columns, and error
// messages that name the file, line, field and the fix.

import { DredgeError } from '../../errors.js';
import { META_KEYS, type MetaInput, type MetaKey } from '../meta.js';
import { parseTime } from './time.js';

const STANDARD = new Set<string>(META_KEYS);

/** `Valid-From` → `valid_from`. */
export function normalizeColumn(name: string): string {
  return name.trim().toLowerCase().replace(/[-\s]+/g, '_');
}

export function fail(file: string, line: number, field: string | null, problem: string): never {
  throw new DredgeError('DREDGE_ERR_INDEX', `${file}:${line}:${field === null ? '' : ` field ${field}:`} ${problem}`);
}

/** At most this many bad lines are listed in one error. */
export const MAX_REPORTED_LINES = 20;

/**
 * Collects per-line errors so one run reports every bad line of a file (in line order, the first
 * MAX_REPORTED_LINES of them) instead of stopping at the first: a user fixes them all in one pass.
 */
export class LineErrors {
  private readonly messages: string[] = [];
  private count = 0;

  /** Runs `parse`; a DredgeError is recorded and the loader moves on to the next line. */
  run<T>(parse: () => T): T | undefined {
    try {
      return parse();
    } catch (e) {
      if (!(e instanceof DredgeError)) throw e;
      this.count++;
      if (this.messages.length < MAX_REPORTED_LINES) this.messages.push(e.message);
      return undefined;
    }
  }

  /** Throws one error listing the bad lines, if there were any. */
  throwIfAny(file: string): void {
    if (this.count === 0) return;
    if (this.count === 1) throw new DredgeError('DREDGE_ERR_INDEX', this.messages[0] as string);
    const more = this.count > this.messages.length ? `\n  … and ${this.count - this.messages.length} more` : '';
    throw new DredgeError('DREDGE_ERR_INDEX', `${file}: ${this.count} bad lines; fix them and run again:\n  ${this.messages.join('\n  ')}${more}`);
  }
}

/** A cell value as metadata text: strings as given, numbers and booleans as JSON; '' and null are absent. */
export function cellText(v: unknown, file: string, line: number, field: string): string | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return fail(file, line, field, `expected text, got ${Array.isArray(v) ? 'an array' : 'an object'}; metadata values must be strings`);
}

/** Splits a record's columns into metadata (standard + extra), skipping `reserved` ones. */
export function metaFrom(rec: Record<string, unknown>, reserved: ReadonlySet<string>, file: string, line: number): MetaInput {
  const m: MetaInput = {};
  for (const [k0, v] of Object.entries(rec)) {
    const k = normalizeColumn(k0);
    if (reserved.has(k)) continue;
    const text = cellText(v, file, line, k0);
    if (text === undefined) continue;
    if (STANDARD.has(k)) m[k as MetaKey] = text;
    else (m.extra ??= {})[k0.trim()] = text;
  }
  return m;
}

export function timeField(v: unknown, file: string, line: number, field: string): number | null {
  if (v === null || v === undefined || v === '') return null;
  const t = parseTime(v);
  if (typeof t === 'number') return t;
  return fail(file, line, field, t.error);
}

/** Iterates non-blank lines with their 1-based numbers. */
export function* lines(text: string): Generator<[number, string]> {
  let n = 0;
  let at = 0;
  while (at <= text.length) {
    let nl = text.indexOf('\n', at);
    if (nl < 0) nl = text.length;
    n++;
    let line = text.slice(at, nl);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() !== '') yield [n, line];
    at = nl + 1;
  }
}

export function parseJsonLine(line: string, file: string, n: number): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return fail(file, n, null, `not valid JSON (${(e as Error).message}); each line must be one JSON object`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return fail(file, n, null, 'expected a JSON object per line');
  return v as Record<string, unknown>;
}
