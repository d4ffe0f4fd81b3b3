// HOT: guarded by `npm run bench -- parse` (bench/parse/decode.ts). A scanner compiled per FlowFormat.
//
// Why: the generic scanner (scanLinesGeneric in scan-text.ts) dispatches on the field kind for every
// field of every line. Measured on the v2 format (same bytes, same process, 300k lines): a
// straight-line scanner ran 1.6–1.8× faster than the generic loop. So for each format we generate
// that straight-line code once, from one template per field kind (the same decoding rules as the
// generic loop, which stays as the reference implementation and is checked against this one in
// test/parse/compiled-vs-generic.test.ts), and compile it with `new Function`. Column bases are read
// into locals, null-bitmap words and bits become constants, and the kind dispatch disappears.
// `DREDGE_SCAN=generic` switches back to the reference loop (debugging, or an environment that
// forbids code generation); the dispatcher is `scanLines` in scan-text.ts.
//
// Generated code must stay allocation-free per line: only typed-array stores and calls into the cold
// helpers (`H`) on unusual tokens.

import {
  FlowFormat,
  KIND_ACTION,
  KIND_ADDR,
  KIND_INT,
  KIND_PORT,
  KIND_PROTO,
  KIND_STATUS,
} from './fields.js';
import type { FlowBatch } from './flow-batch.js';
import { coldHelpers } from './scan-cold.js';
import type { ScanState } from './scan-text.js';

export type ScanFn = (b: Uint8Array, pos: number, end: number, batch: FlowBatch, st: ScanState) => number;

const SEP = '(c !== 32 && c !== 10 && c !== 13)';

function setNull(f: number): string {
  return `nulls[rn + ${f >>> 5}] |= ${1 << (f & 31)};`;
}

/** Code decoding field `f` (kind `kind`) at `p` (first byte in `c`); errors `break fields`. */
function fieldCode(f: number, kind: number): string {
  const L = `f${f}`;
  const fail = (code: number) => `{ err = ${code}; ef = ${f}; break fields; }`;
  const digits = `let v = 0, d = c - 48;
      while (d >= 0 && d <= 9) { v = v * 10 + d; c = b[++p]; d = c - 48; }`;
  switch (kind) {
    case KIND_INT:
      return `${L}: {
      ${digits}
      if (p === t0 || ${SEP}) {
        if (H.isDash(b, t0, c)) { ${setNull(f)} c = b[++p]; ints[B${f} + n] = 0; break ${L}; }
        ${fail(3)}
      }
      if (p - t0 > 15 && v > 9007199254740991) ${fail(4)}
      ints[B${f} + n] = v;
    }`;
    case KIND_PORT:
    case KIND_PROTO: {
      const arr = kind === KIND_PORT ? 'ports' : 'u8';
      return `${L}: {
      ${digits}
      if (p === t0 || ${SEP}) {
        if (H.isDash(b, t0, c)) { ${setNull(f)} c = b[++p]; ${arr}[B${f} + n] = 0; break ${L}; }
        ${fail(3)}
      }
      if (v > ${kind === KIND_PORT ? 65535 : 255}) ${fail(kind === KIND_PORT ? 5 : 6)}
      ${arr}[B${f} + n] = v;
    }`;
    }
    case KIND_ADDR:
      return `${L}: {
      let a = 0, ok = true;
      for (let k = 0; k < 4; k++) {
        let o = c - 48;
        if (o < 0 || o > 9) { ok = false; break; }
        c = b[++p];
        let d = c - 48;
        if (d >= 0 && d <= 9) {
          if (o === 0) { ok = false; break; }
          o = o * 10 + d; c = b[++p]; d = c - 48;
          if (d >= 0 && d <= 9) { o = o * 10 + d; c = b[++p]; }
        }
        if (o > 255) { ok = false; break; }
        a = a * 256 + o;
        if (k < 3) { if (c !== 46) { ok = false; break; } c = b[++p]; }
      }
      if (ok && !${SEP}) { addr[B${f} + n] = a; fam[B${f} + n] = 4; break ${L}; }
      const q = H.addrSlow(b, t0, batch, B${f} + n);
      if (q < 0) ${fail(7)}
      if (q === t0 + 1 && b[t0] === 45) ${setNull(f)}
      p = q; c = b[p];
    }`;
    case KIND_ACTION:
      return `${L}: {
      let v = 0;
      if (c === 65 && b[p + 1] === 67 && b[p + 2] === 67 && b[p + 3] === 69 && b[p + 4] === 80 && b[p + 5] === 84) { v = 1; p += 6; }
      else if (c === 82 && b[p + 1] === 69 && b[p + 2] === 74 && b[p + 3] === 69 && b[p + 4] === 67 && b[p + 5] === 84) { v = 2; p += 6; }
      else if (c === 45) { ${setNull(f)} p += 1; }
      else ${fail(8)}
      c = b[p];
      if (${SEP}) ${fail(8)}
      u8[B${f} + n] = v;
    }`;
    case KIND_STATUS:
      return `${L}: {
      let v = 0;
      if (c === 79 && b[p + 1] === 75) { v = 1; p += 2; }
      else if (c === 78 && b[p + 1] === 79 && b[p + 2] === 68 && b[p + 3] === 65 && b[p + 4] === 84 && b[p + 5] === 65) { v = 2; p += 6; }
      else if (c === 83 && b[p + 1] === 75 && b[p + 2] === 73 && b[p + 3] === 80 && b[p + 4] === 68 && b[p + 5] === 65 && b[p + 6] === 84 && b[p + 7] === 65) { v = 3; p += 8; }
      else if (c === 45) { ${setNull(f)} p += 1; }
      else ${fail(9)}
      c = b[p];
      if (${SEP}) ${fail(9)}
      u8[B${f} + n] = v;
    }`;
    default: // KIND_TEXT
      return `${L}: {
      while (c > 32) c = b[++p];
      if (${SEP}) ${fail(10)}
      const len = p - t0;
      if (len === 1 && b[t0] === 45) ${setNull(f)}
      toff[B${f} + n] = t0;
      tlen[B${f} + n] = len;
    }`;
  }
}

/** Generates and compiles the scanner for one format. Exported for tests. */
export function compileScanner(format: FlowFormat): ScanFn {
  const nf = format.names.length;
  const words = format.nullWords;
  const bases = Array.from({ length: nf }, (_, f) => `const B${f} = bases[${f}];`).join('\n  ');
  const zero = Array.from({ length: words }, (_, w) => `nulls[rn + ${w}] = 0;`).join(' ');
  const fields = Array.from(
    { length: nf },
    (_, f) => `
    while (c === 32) c = b[++p];
    if (c === 10 || c === 13) { err = 1; ef = ${f}; break fields; }
    t0 = p;
    ${fieldCode(f, format.kinds[f] as number)}`,
  ).join('\n');
  const body = `
  const bases = batch.bases;
  ${bases}
  const ints = batch.ints, ports = batch.ports, u8 = batch.u8, addr = batch.addr, fam = batch.fam;
  const toff = batch.toff, tlen = batch.tlen, nulls = batch.nulls;
  const cap = batch.capacity, maxLine = st.maxLineBytes;
  let n = batch.length, p = pos, line = st.line;
  batch.src = b;
  st.stop = 0;
  while (p < end) {
    if (n === cap) { st.stop = 1; break; }
    const lineStart = p;
    let c = b[p];
    while (c === 32) c = b[++p];
    line++;
    if (c === 10 || (c === 13 && b[p + 1] === 10)) { st.blankLines++; p = b.indexOf(10, p) + 1; continue; }
    if (c >= 97 && c <= 122 && H.startsWithFieldName(b, p)) {
      const h = H.headerLine(b, p, st, line);
      if (h !== 0) {
        p = b.indexOf(10, p) + 1;
        if (h === 2) { st.stop = 2; return H.finish(batch, st, n, line, p); }
        continue;
      }
    }
    const rn = n * ${words};
    ${zero}
    let err = 0, ef = 0, t0 = 0;
    fields: {
${fields}
    }
    if (err === 0) {
      while (c === 32) c = b[++p];
      if (c === 13) c = b[++p];
      if (c !== 10) err = c > 32 ? 2 : 10;
      else if (p - lineStart > maxLine) err = 11;
    }
    if (err !== 0) {
      const lineEnd = b.indexOf(10, p);
      H.reportIssue(b, lineStart, lineEnd, line, err, ef, batch.format, st);
      p = lineEnd + 1;
      continue;
    }
    p++;
    n++;
  }
  return H.finish(batch, st, n, line, p);`;
  const factory = new Function('H', `return function scan(b, pos, end, batch, st) {${body}\n};`) as (h: typeof coldHelpers) => ScanFn;
  return factory(coldHelpers);
}
