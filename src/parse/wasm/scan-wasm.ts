// HOT: guarded by bench/parse/wasm.ts (`npm run build && node dist/bench/run.js parse-wasm`). scanLines, through WebAssembly.
//
// Same contract and results as scanLines (src/parse/scan-text.ts): [pos, end) ends with '\n'; lines go
// into `batch`; the position after the last line consumed is returned and `st.stop` says why. The
// common lines are decoded by native-free-wasm/assembly/scan.ts; the first line it does not handle
// (header, IPv6, error, …) is handed to the JS scanLines for exactly that line, then wasm resumes.
//
// One scratch region in wasm memory, laid out per format (grown, then re-viewed, when a format needs
// more than there is):
//   cfg    kinds u8[256] | off1 u32[256] | off2 u32[256] | out u32[4]
//   nulls  u32[ROWS * nullWords]
//   one stripe (two for addresses and text) of ROWS cells per field
//   window WINDOW bytes of input text + 64 bytes of padding (16-byte loads past the last '\n')
// The input is copied in one window at a time (whole lines, ≤ WINDOW bytes); after each call the used
// rows of each stripe are copied into the FlowBatch's arrays (TypedArray.set).
//
// The window stays valid between calls of one decoder's scan of one buffer; `wasmScanBegin()` /
// `wasmScanEnd()` bracket that (a caller may reuse its buffer for other bytes afterwards, and another
// decoder may use the module in between: it resets the window too).

import { FlowFormat, KIND_ACTION, KIND_ADDR, KIND_INT, KIND_PORT, KIND_PROTO, KIND_STATUS } from '../fields.js';
import type { FlowBatch } from '../flow-batch.js';
import { STOP_END, STOP_FORMAT, STOP_FULL, type ScanState, scanLines } from '../scan-text.js';
import { type ScanExports, scanWasm } from './load.js';

/** Rows per wasm call (stripe length). */
const ROWS = 2048;
/** Input bytes per window copy. */
const WINDOW = 256 * 1024;
const PAD = 64;

const W_STOP_LINE = 2;

let ex: ScanExports | null = null;
let u8: Uint8Array = new Uint8Array(0);
let u16: Uint16Array = new Uint16Array(0);
let u32: Uint32Array = new Uint32Array(0);
let f64: Float64Array = new Float64Array(0);

/** Layout of the format configured now. */
let configured: FlowFormat | null = null;
let outIdx = 0; // u32 index of out[]
let nullsIdx = 0; // u32 index of the null bitmap
let inOff = 0; // byte offset of the window
/** Per field: the element index of its stripe(s) in the view of its kind. */
let stripeA = new Int32Array(0);
let stripeB = new Int32Array(0);

/** What the window holds: bytes [winStart, winEnd) of winBuf. */
let winBuf: Uint8Array | null = null;
let winStart = 0;
let winEnd = 0;

function view(): void {
  const buf = (ex as ScanExports).memory.buffer;
  u8 = new Uint8Array(buf);
  u16 = new Uint16Array(buf);
  u32 = new Uint32Array(buf);
  f64 = new Float64Array(buf);
}

const align = (x: number, a: number): number => Math.ceil(x / a) * a;

function configure(fmt: FlowFormat): void {
  if (ex === null) {
    ex = scanWasm();
    if (ex === null) throw new Error('scan.wasm is not available');
  }
  const kinds = fmt.kinds;
  const nf = kinds.length;
  const base = ex.heapBase();
  const kindsOff = base;
  const off1 = base + 256;
  const off2 = base + 256 + 1024;
  const out = base + 256 + 2048;
  let at = base + 4096;
  const nullsOff = at;
  at = align(at + ROWS * fmt.nullWords * 4, 64);
  const a = new Int32Array(nf);
  const b = new Int32Array(nf);
  const sa = new Uint32Array(nf);
  const sb = new Uint32Array(nf);
  for (let f = 0; f < nf; f++) {
    const k = kinds[f] as number;
    const size = k === KIND_INT ? 8 : k === KIND_PORT ? 2 : k === KIND_ADDR ? 4 : k <= KIND_STATUS ? 1 : 4;
    sa[f] = at;
    a[f] = at / size;
    at = align(at + ROWS * size, 64);
    if (k === KIND_ADDR) {
      sb[f] = at;
      b[f] = at;
      at = align(at + ROWS, 64);
    } else if (k > KIND_STATUS) {
      sb[f] = at;
      b[f] = at / 4;
      at = align(at + ROWS * 4, 64);
    }
  }
  const winOff = at;
  const need = winOff + WINDOW + PAD;
  const have = ex.memory.buffer.byteLength;
  if (need > have) ex.memory.grow(Math.ceil((need - have) / 65536));
  view();
  u8.set(kinds, kindsOff);
  u32.set(sa, off1 / 4);
  u32.set(sb, off2 / 4);
  ex.configure(kindsOff, off1, off2, nf, fmt.nullWords, nullsOff, out);
  configured = fmt;
  outIdx = out / 4;
  nullsIdx = nullsOff / 4;
  inOff = winOff;
  stripeA = a;
  stripeB = b;
  winBuf = null;
}

/** Starts one decoder's scan of one buffer: nothing in the window is trusted from before. */
export function wasmScanBegin(): void {
  winBuf = null;
}

/** Ends it: the window no longer refers to the caller's buffer. */
export function wasmScanEnd(): void {
  winBuf = null;
}

/**
 * Copies whole lines from b[pos] (at most WINDOW bytes, never past `end`) into the window. False when
 * the line at `pos` alone is longer than the window.
 */
function fill(b: Uint8Array, pos: number, end: number): boolean {
  let e = end;
  if (e - pos > WINDOW) {
    e = b.lastIndexOf(10, pos + WINDOW - 1) + 1;
    if (e <= pos) return false;
  }
  u8.set(b.subarray(pos, e), inOff);
  winBuf = b;
  winStart = pos;
  winEnd = e;
  return true;
}

/** scanLines through WebAssembly: same arguments, results and `st` updates. */
export function wasmScanLines(b: Uint8Array, pos: number, end: number, batch: FlowBatch, st: ScanState): number {
  const fmt = batch.format;
  if (configured !== fmt) configure(fmt);
  const w = ex as ScanExports;
  const cap = batch.capacity;
  const maxLine = st.maxLineBytes;
  batch.src = b;
  st.stop = STOP_END;
  while (pos < end) {
    const n0 = batch.length;
    if (n0 === cap) {
      st.stop = STOP_FULL;
      break;
    }
    if (winBuf !== b || pos < winStart || pos >= winEnd || configured !== fmt) {
      if (configured !== fmt) configure(fmt);
      if (!fill(b, pos, end)) {
        // One line longer than the window: the JS scanner takes it.
        pos = scanLines(b, pos, b.indexOf(10, pos) + 1, batch, st);
        if (st.stop === STOP_FORMAT) return pos;
        continue;
      }
    }
    const maxRows = cap - n0 < ROWS ? cap - n0 : ROWS;
    const q = w.scan(inOff + (pos - winStart), inOff + (winEnd - winStart), maxRows, maxLine, winStart - inOff);
    const rows = u32[outIdx] as number;
    const blanks = u32[outIdx + 1] as number;
    if (rows > 0) {
      copyRows(batch, n0, rows);
      batch.length = n0 + rows;
      st.records += rows;
    }
    st.line += rows + blanks;
    st.blankLines += blanks;
    pos = winStart + (q - inOff);
    if (u32[outIdx + 2] === W_STOP_LINE) {
      // The cold line: the JS scanner decodes or reports it (and may switch the format).
      pos = scanLines(b, pos, b.indexOf(10, pos) + 1, batch, st);
      if (st.stop === STOP_FORMAT) return pos;
    }
  }
  return pos;
}

/** Copies rows [0, rows) of every stripe to rows [n0, n0 + rows) of the batch's columns. */
function copyRows(batch: FlowBatch, n0: number, rows: number): void {
  const fmt = batch.format;
  const kinds = fmt.kinds;
  const bases = batch.bases;
  const nf = kinds.length;
  for (let f = 0; f < nf; f++) {
    const dst = (bases[f] as number) + n0;
    const a = stripeA[f] as number;
    switch (kinds[f]) {
      case KIND_INT:
        batch.ints.set(f64.subarray(a, a + rows), dst);
        break;
      case KIND_PORT:
        batch.ports.set(u16.subarray(a, a + rows), dst);
        break;
      case KIND_PROTO:
      case KIND_ACTION:
      case KIND_STATUS:
        batch.u8.set(u8.subarray(a, a + rows), dst);
        break;
      case KIND_ADDR: {
        batch.addr.set(u32.subarray(a, a + rows), dst);
        const c = stripeB[f] as number;
        batch.fam.set(u8.subarray(c, c + rows), dst);
        break;
      }
      default: {
        batch.toff.set(u32.subarray(a, a + rows), dst);
        const c = stripeB[f] as number;
        batch.tlen.set(u32.subarray(c, c + rows), dst);
      }
    }
  }
  const words = fmt.nullWords;
  batch.nulls.set(u32.subarray(nullsIdx, nullsIdx + rows * words), n0 * words);
}
