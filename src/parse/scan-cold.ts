// Cold paths of the flow-log scanners (scan-text.ts reference loop, scan-compiled.ts generated code):
// `-` tokens, IPv6, header lines and error messages. Nothing here runs for an ordinary IPv4 line.

import { DredgeError } from '../errors.js';
import { FIELDS, FlowFormat, fieldId } from './fields.js';
import type { FlowBatch } from './flow-batch.js';
import { parseIPv6 } from './ip.js';
import type { ScanState } from './scan-text.js';

// Error codes, resolved to words only on the cold path.
export const E_FEW = 1;
export const E_MANY = 2;
export const E_INT = 3;
export const E_RANGE = 4;
export const E_PORT = 5;
export const E_PROTO = 6;
export const E_ADDR = 7;
export const E_ACTION = 8;
export const E_STATUS = 9;
export const E_CHAR = 10;
export const E_LONG = 11;

/** The one wording for an overlong line, whichever path finds it. */
export function overlongReason(maxLine: number): string {
  return `line is longer than the ${maxLine}-byte limit`;
}

export function finish(batch: FlowBatch, st: ScanState, n: number, line: number, p: number): number {
  st.records += n - batch.length;
  batch.length = n;
  st.line = line;
  return p;
}

/** `-` followed by a separator; `c` is the byte after the digits scanned (none). */
export function isDash(b: Uint8Array, t0: number, c: number): boolean {
  if (c !== 45 || b[t0] !== 45) return false;
  const next = b[t0 + 1];
  return next === 32 || next === 10 || next === 13;
}

const V6_SCRATCH = new Uint8Array(16);

/**
 * Cold path for an address token that is not a plain dotted quad: `-`, IPv6, or junk. Writes the cell
 * and returns the position after the token, or -1 when it is not a valid address.
 */
export function addrSlow(b: Uint8Array, t0: number, batch: FlowBatch, at: number): number {
  let p = t0;
  while ((b[p] as number) > 32) p++;
  const c = b[p];
  if (c !== 32 && c !== 10 && c !== 13) return -1;
  if (p === t0 + 1 && b[t0] === 45) {
    batch.addr[at] = 0;
    batch.fam[at] = 0;
    return p;
  }
  if (!parseIPv6(b, t0, p, V6_SCRATCH)) return -1;
  batch.addr[at] = batch.pushV6(V6_SCRATCH, t0, p - t0);
  batch.fam[at] = 6;
  return p;
}

// --- header lines -------------------------------------------------------------------------------

/** Field names by length, as bytes: the allocation-free test "is the first token a field name?". */
const NAMES_BY_LEN: Uint8Array[][] = [];
for (const spec of FIELDS) {
  const bytes = new TextEncoder().encode(spec.name);
  (NAMES_BY_LEN[bytes.length] ??= []).push(bytes);
}

export function startsWithFieldName(b: Uint8Array, p: number): boolean {
  let q = p;
  while ((b[q] as number) > 32) q++;
  const cands = NAMES_BY_LEN[q - p];
  if (cands === undefined) return false;
  for (const name of cands) {
    let k = 0;
    while (k < name.length && name[k] === b[p + k]) k++;
    if (k === name.length) return true;
  }
  return false;
}

export const HEADER_NOT = 0;
export const HEADER_SKIP = 1;
export const HEADER_SWITCH = 2;

/**
 * A line whose first token is a field name. When every token is a known field name it is a header:
 * skipped (fixed format, or the same fields again) or obeyed (switches the format from here on).
 * Otherwise it is data, and the scanner decodes it (and reports it) as usual.
 */
export function headerLine(b: Uint8Array, p: number, st: ScanState, line: number): number {
  const lineEnd = b.indexOf(10, p);
  // An overlong line is never a header: it is decoded as data and reported as overlong, exactly as
  // when the streaming decoder meets it split across chunks.
  let lineStart = p;
  while (lineStart > 0 && b[lineStart - 1] === 32) lineStart--;
  if (lineEnd - lineStart > st.maxLineBytes) return HEADER_NOT;
  const text = new TextDecoder().decode(b.subarray(p, lineEnd)).trim();
  const tokens = text.split(/ +/);
  if (!tokens.every((t) => fieldId(t) >= 0)) return HEADER_NOT;
  st.headerLines++;
  if (st.fixedFormat) return HEADER_SKIP;
  let next: FlowFormat;
  try {
    next = FlowFormat.parse(tokens, `header line ${line}`);
  } catch (e) {
    st.malformed++;
    st.onIssue({ unit: st.unit, n: line, reason: e instanceof DredgeError ? e.message : String(e) });
    return HEADER_SKIP;
  }
  if (next.equals(st.format)) return HEADER_SKIP;
  st.format = next;
  return HEADER_SWITCH;
}

// --- issues (cold) ------------------------------------------------------------------------------

export function reportIssue(b: Uint8Array, lineStart: number, lineEnd: number, line: number, err: number, ef: number, fmt: FlowFormat, st: ScanState): void {
  st.malformed++;
  // Length first: whether a line is overlong must not depend on how the input was chunked (the
  // streaming decoder reports an overlong partial line before it has seen the rest of it).
  if (lineEnd - lineStart > st.maxLineBytes) err = E_LONG;
  st.onIssue({ unit: st.unit, n: line, reason: describe(b, lineStart, lineEnd, err, ef, fmt, st.maxLineBytes) });
}

function describe(b: Uint8Array, lineStart: number, lineEnd: number, err: number, ef: number, fmt: FlowFormat, maxLine: number): string {
  let end = lineEnd;
  if (end > lineStart && b[end - 1] === 13) end--;
  if (err === E_LONG) return overlongReason(maxLine);
  const tokens = tokenize(b, lineStart, end);
  const nf = fmt.names.length;
  if (err === E_FEW || err === E_MANY) {
    return `expected ${nf} fields (${fmt === FlowFormat.V2_DEFAULT ? 'v2 default format' : 'format ' + shortFormat(fmt)}), found ${tokens.length}`;
  }
  const name = fmt.names[ef] as string;
  const tok = tokens[ef] ?? '';
  const shown = JSON.stringify(tok.length > 60 ? tok.slice(0, 60) + '…' : tok);
  switch (err) {
    case E_INT:
      return `field ${ef + 1} (${name}): ${shown} is not a non-negative integer`;
    case E_RANGE:
      return `field ${ef + 1} (${name}): ${shown} exceeds 2^53-1`;
    case E_PORT:
      return `field ${ef + 1} (${name}): port ${shown} exceeds 65535`;
    case E_PROTO:
      return `field ${ef + 1} (${name}): protocol ${shown} exceeds 255`;
    case E_ADDR:
      return `field ${ef + 1} (${name}): ${shown} is not an IPv4 or IPv6 address`;
    case E_ACTION:
      return `field ${ef + 1} (${name}): ${shown} is not ACCEPT, REJECT or -`;
    case E_STATUS:
      return `field ${ef + 1} (${name}): ${shown} is not OK, NODATA, SKIPDATA or -`;
    default: {
      for (let p = lineStart; p < end; p++) {
        const c = b[p] as number;
        if (c < 32 && c !== 32) return `control byte 0x${c.toString(16).padStart(2, '0')} at column ${p - lineStart + 1} (binary data?)`;
      }
      return `unexpected byte in field ${ef + 1} (${name})`;
    }
  }
}

function shortFormat(fmt: FlowFormat): string {
  const s = fmt.names.join(' ');
  return s.length > 80 ? s.slice(0, 80) + '…' : s;
}

/** Splits a line on runs of spaces (cold: messages only). */
function tokenize(b: Uint8Array, start: number, end: number): string[] {
  const text = new TextDecoder('utf-8').decode(b.subarray(start, end));
  return text.split(/ +/).filter((t) => t.length > 0);
}

/** What generated scanners call (passed in, so generated code needs no imports). */
export const coldHelpers = { finish, isDash, addrSlow, startsWithFieldName, headerLine, reportIssue };
