// HOT: guarded by `npm run bench -- parse` (bench/parse/decode.ts). Lines of flow-log text → FlowBatch.
// This file holds the scanner state, the dispatcher `scanLines`, and the reference scanner; the
// per-format compiled scanners (the default) live in scan-compiled.ts, cold paths in scan-cold.ts.
//
// One pass over the bytes, one token at a time, decoding each by its field kind straight into the
// batch's typed arrays: no string, object or closure per line or field. Everything unusual (`-`, IPv6,
// header lines, errors) leaves the loop for a cold function.
//
// Contract with the caller (decoder.ts): the range [pos, end) ends with a '\n' byte (b[end-1] === 10).
// That sentinel lets every inner loop run without a bounds check: each token loop stops at a byte ≤ 32,
// and a line always ends at a '\n' inside the range.

import {
  ACTION_ACCEPT,
  ACTION_REJECT,
  FlowFormat,
  KIND_ACTION,
  KIND_ADDR,
  KIND_INT,
  KIND_PORT,
  KIND_PROTO,
  KIND_STATUS,
  STATUS_NODATA,
  STATUS_OK,
  STATUS_SKIPDATA,
} from './fields.js';
import type { FlowBatch } from './flow-batch.js';
import { type ScanFn, compileScanner } from './scan-compiled.js';
import {
  E_ACTION, E_ADDR, E_CHAR, E_FEW, E_INT, E_LONG, E_MANY, E_PORT, E_PROTO, E_RANGE, E_STATUS,
  HEADER_NOT, HEADER_SWITCH, addrSlow, finish, headerLine, isDash, reportIssue, startsWithFieldName,
} from './scan-cold.js';

export const STOP_END = 0; // consumed the whole range
export const STOP_FULL = 1; // the batch is full; call again with the returned position
export const STOP_FORMAT = 2; // a header line switched the format (state.format is the new one)

/** One malformed line (or CloudWatch event): where, and why. */
export interface ParseIssue {
  readonly unit: 'line' | 'event';
  readonly n: number;
  readonly reason: string;
}

/** What the scanner carries between calls (and between chunks of one input). */
export interface ScanState {
  /** Format in effect for the lines that follow. */
  format: FlowFormat;
  /** True when the format came from configuration: header lines are then skipped, never obeyed. */
  fixedFormat: boolean;
  /** Physical lines (or events) consumed so far; the next line is number `line + 1`. */
  line: number;
  unit: 'line' | 'event';
  /** Lines longer than this many bytes are malformed. */
  maxLineBytes: number;
  stop: number;
  records: number;
  malformed: number;
  headerLines: number;
  blankLines: number;
  onIssue: (issue: ParseIssue) => void;
}

export const DEFAULT_MAX_LINE_BYTES = 65536;

export function newScanState(format: FlowFormat, fixedFormat: boolean, onIssue: (issue: ParseIssue) => void): ScanState {
  return {
    format,
    fixedFormat,
    line: 0,
    unit: 'line',
    maxLineBytes: DEFAULT_MAX_LINE_BYTES,
    stop: STOP_END,
    records: 0,
    malformed: 0,
    headerLines: 0,
    blankLines: 0,
    onIssue,
  };
}

const MAX_SAFE = 9007199254740991;

/**
 * Scans lines from b[pos] up to `end` (b[end-1] must be '\n') into `batch`, which must have the
 * state's format. Returns the position after the last line consumed; `st.stop` says why it stopped.
 * Uses the scanner compiled for the batch's format (scan-compiled.ts); `DREDGE_SCAN=generic` selects
 * the reference loop below.
 */
export function scanLines(b: Uint8Array, pos: number, end: number, batch: FlowBatch, st: ScanState): number {
  if (USE_GENERIC) return scanLinesGeneric(b, pos, end, batch, st);
  let fn = compiled.get(batch.format);
  if (fn === undefined) {
    fn = compileScanner(batch.format);
    compiled.set(batch.format, fn);
  }
  return fn(b, pos, end, batch, st);
}

const compiled = new WeakMap<FlowFormat, ScanFn>();
const USE_GENERIC = process.env.DREDGE_SCAN === 'generic';

/** The reference scanner: one loop for every format, dispatching on each field's kind. */
export function scanLinesGeneric(b: Uint8Array, pos: number, end: number, batch: FlowBatch, st: ScanState): number {
  const fmt = batch.format;
  const kinds = fmt.kinds;
  const nf = kinds.length;
  const bases = batch.bases;
  const ints = batch.ints;
  const ports = batch.ports;
  const u8 = batch.u8;
  const addr = batch.addr;
  const fam = batch.fam;
  const toff = batch.toff;
  const tlen = batch.tlen;
  const nulls = batch.nulls;
  const words = fmt.nullWords;
  const cap = batch.capacity;
  const maxLine = st.maxLineBytes;
  let n = batch.length;
  let p = pos;
  let line = st.line;
  batch.src = b;
  st.stop = STOP_END;

  while (p < end) {
    if (n === cap) {
      st.stop = STOP_FULL;
      break;
    }
    const lineStart = p;
    let c = b[p] as number;
    while (c === 32) c = b[++p] as number;
    line++;
    if (c === 10 || (c === 13 && b[p + 1] === 10)) {
      st.blankLines++;
      p = b.indexOf(10, p) + 1;
      continue;
    }
    if (c >= 97 && c <= 122 && startsWithFieldName(b, p)) {
      // A header line (S3 delivery) or a data line whose first token happens to be a field name.
      const h = headerLine(b, p, st, line);
      if (h !== HEADER_NOT) {
        p = b.indexOf(10, p) + 1;
        if (h === HEADER_SWITCH) {
          st.stop = STOP_FORMAT;
          return finish(batch, st, n, line, p);
        }
        continue;
      }
    }

    const rowNull = n * words;
    for (let w = 0; w < words; w++) nulls[rowNull + w] = 0;
    let err = 0;
    let ef = 0;
    fields: for (let f = 0; f < nf; f++) {
      while (c === 32) c = b[++p] as number;
      if (c === 10 || c === 13) {
        err = E_FEW;
        ef = f;
        break;
      }
      const t0 = p;
      const at = (bases[f] as number) + n;
      switch (kinds[f]) {
        case KIND_INT: {
          let v = 0;
          let d = c - 48;
          while (d >= 0 && d <= 9) {
            v = v * 10 + d;
            c = b[++p] as number;
            d = c - 48;
          }
          if (p === t0 || (c !== 32 && c !== 10 && c !== 13)) {
            if (isDash(b, t0, c)) {
              nulls[rowNull + (f >>> 5)] = (nulls[rowNull + (f >>> 5)] as number) | (1 << (f & 31));
              c = b[++p] as number;
              ints[at] = 0;
              break;
            }
            err = E_INT;
            ef = f;
            break fields;
          }
          if (p - t0 > 15 && v > MAX_SAFE) {
            err = E_RANGE;
            ef = f;
            break fields;
          }
          ints[at] = v;
          break;
        }
        case KIND_ADDR: {
          // IPv4 dotted quad inline; anything else (IPv6, `-`, junk) goes to the cold path.
          let a = 0;
          let ok = true;
          for (let k = 0; k < 4; k++) {
            let o = c - 48;
            if (o < 0 || o > 9) {
              ok = false;
              break;
            }
            c = b[++p] as number;
            let d = c - 48;
            if (d >= 0 && d <= 9) {
              if (o === 0) {
                ok = false; // leading zero: ambiguous (octal in some tools), rejected like net.isIPv4
                break;
              }
              o = o * 10 + d;
              c = b[++p] as number;
              d = c - 48;
              if (d >= 0 && d <= 9) {
                o = o * 10 + d;
                c = b[++p] as number;
              }
            }
            if (o > 255) {
              ok = false;
              break;
            }
            a = a * 256 + o;
            if (k < 3) {
              if (c !== 46) {
                ok = false;
                break;
              }
              c = b[++p] as number;
            }
          }
          if (ok && (c === 32 || c === 10 || c === 13)) {
            addr[at] = a;
            fam[at] = 4;
            break;
          }
          const q = addrSlow(b, t0, batch, at);
          if (q < 0) {
            err = E_ADDR;
            ef = f;
            break fields;
          }
          if (q === t0 + 1 && b[t0] === 45) nulls[rowNull + (f >>> 5)] = (nulls[rowNull + (f >>> 5)] as number) | (1 << (f & 31));
          p = q;
          c = b[p] as number;
          break;
        }
        case KIND_PORT: {
          let v = 0;
          let d = c - 48;
          while (d >= 0 && d <= 9) {
            v = v * 10 + d;
            c = b[++p] as number;
            d = c - 48;
          }
          if (p === t0 || (c !== 32 && c !== 10 && c !== 13)) {
            if (isDash(b, t0, c)) {
              nulls[rowNull + (f >>> 5)] = (nulls[rowNull + (f >>> 5)] as number) | (1 << (f & 31));
              c = b[++p] as number;
              ports[at] = 0;
              break;
            }
            err = E_INT;
            ef = f;
            break fields;
          }
          if (v > 65535) {
            err = E_PORT;
            ef = f;
            break fields;
          }
          ports[at] = v;
          break;
        }
        case KIND_PROTO: {
          let v = 0;
          let d = c - 48;
          while (d >= 0 && d <= 9) {
            v = v * 10 + d;
            c = b[++p] as number;
            d = c - 48;
          }
          if (p === t0 || (c !== 32 && c !== 10 && c !== 13)) {
            if (isDash(b, t0, c)) {
              nulls[rowNull + (f >>> 5)] = (nulls[rowNull + (f >>> 5)] as number) | (1 << (f & 31));
              c = b[++p] as number;
              u8[at] = 0;
              break;
            }
            err = E_INT;
            ef = f;
            break fields;
          }
          if (v > 255) {
            err = E_PROTO;
            ef = f;
            break fields;
          }
          u8[at] = v;
          break;
        }
        case KIND_ACTION: {
          let v = 0;
          if (c === 65 && b[p + 1] === 67 && b[p + 2] === 67 && b[p + 3] === 69 && b[p + 4] === 80 && b[p + 5] === 84) {
            v = ACTION_ACCEPT;
            p += 6;
          } else if (c === 82 && b[p + 1] === 69 && b[p + 2] === 74 && b[p + 3] === 69 && b[p + 4] === 67 && b[p + 5] === 84) {
            v = ACTION_REJECT;
            p += 6;
          } else if (c === 45) {
            nulls[rowNull + (f >>> 5)] = (nulls[rowNull + (f >>> 5)] as number) | (1 << (f & 31));
            p += 1;
          } else {
            err = E_ACTION;
            ef = f;
            break fields;
          }
          c = b[p] as number;
          if (c !== 32 && c !== 10 && c !== 13) {
            err = E_ACTION;
            ef = f;
            break fields;
          }
          u8[at] = v;
          break;
        }
        case KIND_STATUS: {
          let v = 0;
          if (c === 79 && b[p + 1] === 75) {
            v = STATUS_OK;
            p += 2;
          } else if (c === 78 && b[p + 1] === 79 && b[p + 2] === 68 && b[p + 3] === 65 && b[p + 4] === 84 && b[p + 5] === 65) {
            v = STATUS_NODATA;
            p += 6;
          } else if (
            c === 83 && b[p + 1] === 75 && b[p + 2] === 73 && b[p + 3] === 80 &&
            b[p + 4] === 68 && b[p + 5] === 65 && b[p + 6] === 84 && b[p + 7] === 65
          ) {
            v = STATUS_SKIPDATA;
            p += 8;
          } else if (c === 45) {
            nulls[rowNull + (f >>> 5)] = (nulls[rowNull + (f >>> 5)] as number) | (1 << (f & 31));
            p += 1;
          } else {
            err = E_STATUS;
            ef = f;
            break fields;
          }
          c = b[p] as number;
          if (c !== 32 && c !== 10 && c !== 13) {
            err = E_STATUS;
            ef = f;
            break fields;
          }
          u8[at] = v;
          break;
        }
        default: {
          // KIND_TEXT: bytes > 32 as written (UTF-8 passes through untouched).
          while (c > 32) c = b[++p] as number;
          if (c !== 32 && c !== 10 && c !== 13) {
            err = E_CHAR;
            ef = f;
            break fields;
          }
          const len = p - t0;
          if (len === 1 && b[t0] === 45) nulls[rowNull + (f >>> 5)] = (nulls[rowNull + (f >>> 5)] as number) | (1 << (f & 31));
          toff[at] = t0;
          tlen[at] = len;
          break;
        }
      }
    }
    if (err === 0) {
      while (c === 32) c = b[++p] as number;
      if (c === 13) c = b[++p] as number;
      if (c !== 10) err = c > 32 ? E_MANY : E_CHAR;
      else if (p - lineStart > maxLine) err = E_LONG;
    }
    if (err !== 0) {
      const lineEnd = b.indexOf(10, p);
      reportIssue(b, lineStart, lineEnd, line, err, ef, fmt, st);
      p = lineEnd + 1;
      continue;
    }
    p++;
    n++;
  }
  return finish(batch, st, n, line, p);
}

