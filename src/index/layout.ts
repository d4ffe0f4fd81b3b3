// The one module that owns every offset of a frozen index generation (DESIGN.md §3). A generation is
// two buffers (and, byte for byte, an `index.bin` file is the first followed by the second):
//
//   hot   a shared WebAssembly.Memory (its buffer a SharedArrayBuffer): what a lookup reads, shared
//         with every worker, which runs the WebAssembly lookup (native-free-wasm/assembly/lookup.ts)
//         over it in place. Past the layout's bytes it has SCRATCH_SLOTS scratch slots, where a thread
//         holding one passes a chunk of rows in and gets their results back (not part of the file)
//   cold  a buffer only the thread that froze or loaded it holds (a SharedArrayBuffer when frozen,
//         for V8's accounting, typed.ts offHeap; never sent to a worker): what only `explain` (dredge
//         index inspect) and the reference walk read. The generations that batches in flight keep
//         alive cost their hot part only (1M /32s: ~40 of ~85 MiB)
//
// The hot part:
//   [0, 256)    Int32 header slots, named by H_* below: magic, layout version, generation, byte
//               lengths of both parts, trie roots, counts, then a section table of (byte offset in
//               its own part, element count) for every section, hot and cold
//   [256, 320)  Float64 header slots, named by F_* below: newest evidence time, retention cutoff,
//               known-until time, build wall-clock time, timeline key origin
//   [320, …)    the hot sections in SECTIONS order, each 64-byte (cache line) aligned:
//     nodes       Int32    trie slots; a node is 2^stride consecutive slots (v4 and v6 tries share it)
//     v6Start     Uint32   IPv6 range lists: 4 big-endian words per range
//     v6Ref       Int32    the timeline ref of each IPv6 range
//     v6Lists     Int32    IPv6 list i is ranges [v6Lists[i], v6Lists[i+1])
//     pfxTl       Int32    P: prefix p's timeline ref
//     tl          Int32    the lookup's blocks (blocks.ts places them):
//                          a timeline block per prefix: the prefix's flattened timeline (flatten.ts),
//                          each span start's integer key (tlKeyOf) and the span's result (record id,
//                          RESULT_CONFLICT, RESULT_GAP) of "the longest prefix with an owner at t,
//                          else its parent…", resolved at freeze. Before the first start, and at
//                          t = +Infinity or NaN, the result is RESULT_GAP. Wide: [n, prefix id,
//                          keys[n], results[n]]. Compact (header has TL_COMPACT; n ≤ TL_COMPACT_MAX,
//                          so ≤ 15 words, one cache line): [n | prefix id << TL_PREFIX_SHIFT | flags,
//                          base key, then n Uint16 key offsets from base and n Uint16 results +
//                          TL_RESULT_BIAS]; with
//                          TL_OPEN_START the first span starts at -Infinity (its offset is unused);
//                          an IPv4 range block per SLOT_LIST slot (a node's slot: one /24),
//                          [m ≤ 48, the ranges' first addresses' last bytes (m Uint8, padded to a
//                          word), timeline refs[m]], and per SLOT_LIST32 slot (a root slot: a /16),
//                          [m ≤ 48, first addresses[m] (Uint32), timeline refs[m]]: the ranges that
//                          slot's block of addresses splits into (rangeWords).
//                          A block (or a range block with the timeline placed after it) of ≤ 16
//                          words never crosses a cache line, of ≤ 32 never two
//     tlEntry     Int32    P: prefix p's first span in the global span order of tlStart; empty with it
//     tlStart     Float64  the exact span starts: the keys order every start against every query
//                          except within the query's own second, which these decide. Empty when the
//                          keys are exact: every start a whole second, none clamped
//     meta        Uint8    the FlatBuffers MetaTable (meta.ts)
// The cold buffer (no header; its sections from offset 0, 8-byte aligned):
//     pfxIv       Int32    P + 1: prefix p's own intervals are [pfxIv[p], pfxIv[p+1])
//     pfxParent   Int32    the next shorter prefix covering p (-1 none)
//     pfxLen      Uint8    prefix length; prefixes [0, P4) are IPv4, [P4, P) IPv6
//     pfxAddr4    Uint32   IPv4 prefix address
//     pfxAddr6    Uint32   IPv6 prefix address, 4 words
//     iv          Float64  3 per interval: start (epoch seconds, -Infinity when open; sorted per
//                          prefix), end (exclusive, +Infinity when open), metadata record id or
//                          RESULT_CONFLICT. Interleaved: the probe that finds `start` has the rest.
//     ivOrigin    Int32    2 per interval: string id of the file/source (metadata table) and line,
//                          naming the evidence that started it
//     ivSrc       Uint8    SRC_* bits of the evidence that produced it
//
// A timeline ref is (a timeline block's word offset in tl + 1) << 1, | REF_TWO_LINES when the block
// reaches into a second cache line; 0: no prefix covers the address.
// Trie slot encoding (Int32): low 2 bits the kind, the rest the payload:
//   SLOT_PREFIX  payload = timeline ref of every address of the slot's block
//   SLOT_NODE    payload = offset in `nodes` of a child node (stride 8)
//   SLOT_LIST    payload = IPv4: (word offset of a range block in tl, always even) >> 1 << 2, | the
//                          number of cache lines (1-4) the block, and a timeline placed after it,
//                          reach into, less one (blocks.ts rangeSlotPayload);
//                          IPv6: v6 list index (binary-searched)
//   SLOT_LIST32  the same for a root slot's IPv4 range block, whose starts are whole addresses (a
//                sparse /16 costs its few ranges, not a node of 256 slots)

import { DredgeError } from '../errors.js';

export const MAGIC = 0x44524958; // "DRIX"
export const LAYOUT_VERSION = 5;

export const HEADER_BYTES = 256;
export const F64_HEADER_BYTES = 64;

export const H_MAGIC = 0;
export const H_LAYOUT_VERSION = 1;
export const H_GENERATION = 2;
export const H_BYTE_LENGTH = 3;
export const H_V4_ROOT = 4;
export const H_V6_ROOT = 5;
export const H_V4_PREFIXES = 6;
export const H_PREFIXES = 7;
export const H_INTERVALS = 8;
export const H_META_RECORDS = 9;
export const H_ROOT_STRIDE = 10;
export const H_NODE_STRIDE = 11;
/** Byte length of the cold buffer (the hot one's is H_BYTE_LENGTH). */
export const H_COLD_BYTES = 12;
export const H_SECTION_TABLE = 16; // slots 16 + 2*s (offset) and 17 + 2*s (count)

export const F_NEWEST_TIME = 0;
export const F_CUTOFF = 1;
export const F_KNOWN_UNTIL = 2;
export const F_BUILT_AT_MS = 3;
export const F_TL_ORIGIN = 4; // integer epoch second the timeline keys count from

/**
 * Timeline keys: the query t is compared as integers, tlQueryOf(t) ≥ tlKeyOf(s) implying s ≤ t, and
 * s ≤ t < … with the keys saying otherwise only when tlKeyOf(s) === tlQueryOf(t) + 1 (same second;
 * then tlStart decides). Clamped to ±TL_KEY_LIM so `key - query - 1` never leaves int32.
 */
export const TL_KEY_LIM = 2 ** 30;
export function tlKeyOf(s: number, origin: number): number {
  if (s === -Infinity) return -TL_KEY_LIM;
  return Math.min(TL_KEY_LIM, Math.max(-TL_KEY_LIM + 2, Math.ceil(s) - origin));
}
export function tlQueryOf(t: number, origin: number): number {
  return Math.min(TL_KEY_LIM - 1, Math.max(-TL_KEY_LIM + 1, Math.floor(t) - origin));
}

/** Timeline refs: bit 0 says the block reaches into a second cache line. */
export const REF_TWO_LINES = 1;
/** Timeline block header flags and limits (the compact form: n in the low 4 bits, the prefix id above them). */
export const TL_COMPACT = 1 << 30;
export const TL_OPEN_START = 1 << 29;
export const TL_COUNT_MASK = 0xf;
export const TL_PREFIX_SHIFT = 4;
/** Prefix ids a compact header holds (below TL_OPEN_START); a generation with more writes the rest wide. */
export const TL_PREFIX_LIM = 1 << 25;
/** A compact timeline block's header word: n spans of prefix p (< TL_PREFIX_LIM), first span open since -Infinity or not. */
export function compactHeader(n: number, p: number, open: boolean): number {
  return n | (p << TL_PREFIX_SHIFT) | TL_COMPACT | (open ? TL_OPEN_START : 0);
}
/** The prefix id in a compact header. */
export function compactPrefix(h: number): number {
  return (h & (TL_OPEN_START - 1)) >>> TL_PREFIX_SHIFT;
}
export const TL_COMPACT_MAX = 13;
/** Compact results are stored + this, so RESULT_CONFLICT (-3) and RESULT_GAP (-2) fit a Uint16. */
export const TL_RESULT_BIAS = 3;

export const ROOT_STRIDE = 16;
export const NODE_STRIDE = 8;

/** Words of an IPv4 range block of m ranges: [m, m start bytes padded to a word, m refs], or with whole addresses as starts (`wide`, SLOT_LIST32) [m, m starts, m refs]. */
export function rangeWords(m: number, wide: boolean): number {
  return wide ? 1 + 2 * m : 1 + ((m + 3) >> 2) + m;
}

export const SLOT_PREFIX = 0;
export const SLOT_NODE = 1;
export const SLOT_LIST = 2;
export const SLOT_LIST32 = 3;

/** Evidence kinds, as bits in ivSrc. */
export const SRC_SNAPSHOT = 1;
export const SRC_EVENT = 2;
export const SRC_HEARTBEAT = 4;
export const SRC_AWS = 8;
export const SRC_CONFLICT = 16;

type Elem = 'i32' | 'u32' | 'u8' | 'f64';
type Part = 'hot' | 'cold';
const SECTIONS = [
  ['nodes', 'i32', 'hot'],
  ['v6Start', 'u32', 'hot'],
  ['v6Ref', 'i32', 'hot'],
  ['v6Lists', 'i32', 'hot'],
  ['pfxTl', 'i32', 'hot'],
  ['tl', 'i32', 'hot'],
  ['tlEntry', 'i32', 'hot'],
  ['tlStart', 'f64', 'hot'],
  ['meta', 'u8', 'hot'],
  ['pfxIv', 'i32', 'cold'],
  ['pfxParent', 'i32', 'cold'],
  ['pfxLen', 'u8', 'cold'],
  ['pfxAddr4', 'u32', 'cold'],
  ['pfxAddr6', 'u32', 'cold'],
  ['iv', 'f64', 'cold'],
  ['ivOrigin', 'i32', 'cold'],
  ['ivSrc', 'u8', 'cold'],
] as const satisfies readonly (readonly [string, Elem, Part])[];

export type SectionName = (typeof SECTIONS)[number][0];
const ELEM_BYTES: Record<Elem, number> = { i32: 4, u32: 4, u8: 1, f64: 8 };

export interface Views {
  /** The hot part as a shared WebAssembly.Memory (what workers get), or null for a plain buffer (hotMemory copies one in). */
  memory: WebAssembly.Memory | null;
  /** The hot part's buffer (the memory's, when there is one). */
  sab: SharedArrayBuffer | ArrayBuffer;
  /** The cold buffer, or null in a view opened from the hot buffer alone (a worker's). */
  cold: ArrayBuffer | SharedArrayBuffer | null;
  header: Int32Array;
  f64: Float64Array;
  nodes: Int32Array;
  v6Start: Uint32Array;
  v6Ref: Int32Array;
  v6Lists: Int32Array;
  pfxTl: Int32Array;
  tl: Int32Array;
  tlEntry: Int32Array;
  tlStart: Float64Array;
  meta: Uint8Array;
  pfxIv: Int32Array;
  pfxParent: Int32Array;
  pfxLen: Uint8Array;
  pfxAddr4: Uint32Array;
  pfxAddr6: Uint32Array;
  iv: Float64Array;
  ivOrigin: Int32Array;
  ivSrc: Uint8Array;
}

export type Counts = Record<SectionName, number>;

/** Byte offsets of each section (in its own buffer) for these element counts, and both buffers' lengths. */
export function planLayout(counts: Counts): { offsets: Record<SectionName, number>; byteLength: number; coldBytes: number } {
  const at: Record<Part, number> = { hot: HEADER_BYTES + F64_HEADER_BYTES, cold: 0 };
  const offsets = {} as Record<SectionName, number>;
  for (const [name, elem, part] of SECTIONS) {
    at[part] = part === 'hot' ? (at[part] + 63) & ~63 : (at[part] + 7) & ~7;
    offsets[name] = at[part];
    at[part] += counts[name] * ELEM_BYTES[elem];
  }
  const byteLength = (at.hot + 7) & ~7;
  const coldBytes = (at.cold + 7) & ~7;
  if (byteLength > 0x7fffffff || coldBytes > 0x7fffffff) throw new DredgeError('DREDGE_ERR_INDEX', `index generation would be ${byteLength} + ${coldBytes} bytes; the layout addresses at most 2 GiB per part (reduce prefixes or the retention horizon)`);
  return { offsets, byteLength, coldBytes };
}

/**
 * Scratch slots past the hot layout (not in the file): a thread doing a batch lookup takes a free slot
 * (an Int32 flag per slot, compare-and-swap), copies up to SLOT_ROWS rows in, runs the WebAssembly
 * lookup on them and copies the results out. With every slot taken the lookup runs in JS.
 * Slot layout, as native-free-wasm/assembly/lookup.ts reads it: t f64 | addr u32 | st i32 | tq i32 |
 * out i32 | fam u8, SLOT_ROWS of each. Only the slots a process uses become resident memory.
 */
/** Rows each lookup pass runs over before the next pass (what the passes touch stays in L1/L2). */
export const LOOKUP_CHUNK = 256;
/** Rows copied into a slot per WebAssembly call (the copies cost per call: 3.9 ns per row at 256, 2.0 at 1024). */
export const SLOT_ROWS = 4 * LOOKUP_CHUNK;
/** Threads that can be mid-batch on one generation at once in WebAssembly (more run the JS lookup). 64: above any worker count this project runs, and a worker killed mid-batch (its `finally` never runs) keeps its slot for that generation's life. */
export const SCRATCH_SLOTS = 64;
export const SLOT_BYTES = 25 * SLOT_ROWS;
export const SLOT_T = 0;
export const SLOT_ADDR = 8 * SLOT_ROWS;
export const SLOT_OUT = 20 * SLOT_ROWS;
export const SLOT_FAM = 24 * SLOT_ROWS;
/** Byte offset of the scratch region (its flags, then the slots) after `hotBytes` of layout. */
export function scratchAt(hotBytes: number): number {
  return (hotBytes + 63) & ~63;
}
/** The slots' Int32 flags, then the slots (each a whole number of cache lines). */
export const SCRATCH_FLAGS_BYTES = (SCRATCH_SLOTS * 4 + 63) & ~63;
const SCRATCH_BYTES = SCRATCH_FLAGS_BYTES + SCRATCH_SLOTS * SLOT_BYTES;
const PAGE = 65536;

function newHotMemory(hotBytes: number): WebAssembly.Memory {
  const pages = Math.ceil((scratchAt(hotBytes) + SCRATCH_BYTES) / PAGE);
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

/** The hot part of an index (e.g. read from a file) copied into a new shared WebAssembly.Memory with its scratch slots. */
export function hotMemory(hot: Uint8Array): WebAssembly.Memory {
  const header = checkedHeader(hot.byteLength, () => new Int32Array(new Uint8Array(hot.subarray(0, HEADER_BYTES)).buffer));
  const n = header[H_BYTE_LENGTH] as number;
  if (n < HEADER_BYTES + F64_HEADER_BYTES || n > hot.byteLength) throw new DredgeError('DREDGE_ERR_INDEX', `index header says ${n} bytes but the buffer has ${hot.byteLength}; the file is truncated or damaged`);
  const memory = newHotMemory(n);
  new Uint8Array(memory.buffer).set(hot.subarray(0, n));
  return memory;
}

/** Allocates a generation (hot shared WebAssembly.Memory, cold buffer) and writes the header's layout part; the caller fills the sections. */
export function allocate(counts: Counts, generation: number): Views {
  const { offsets, byteLength, coldBytes } = planLayout(counts);
  const memory = newHotMemory(byteLength);
  const sab = memory.buffer;
  const header = new Int32Array(sab, 0, HEADER_BYTES / 4);
  header[H_MAGIC] = MAGIC;
  header[H_LAYOUT_VERSION] = LAYOUT_VERSION;
  header[H_GENERATION] = generation;
  header[H_BYTE_LENGTH] = byteLength;
  header[H_COLD_BYTES] = coldBytes;
  header[H_ROOT_STRIDE] = ROOT_STRIDE;
  header[H_NODE_STRIDE] = NODE_STRIDE;
  SECTIONS.forEach(([name], s) => {
    header[H_SECTION_TABLE + 2 * s] = offsets[name];
    header[H_SECTION_TABLE + 2 * s + 1] = counts[name];
  });
  // Not shared with anyone: a SharedArrayBuffer only so V8 does not count it as external memory (typed.ts offHeap).
  return openViews(memory, new SharedArrayBuffer(coldBytes));
}

/** The Int32 header of `byteLength` bytes of index (read by `header()`), once its length, magic and layout version check out. */
function checkedHeader(byteLength: number, header: () => Int32Array): Int32Array {
  if (byteLength < HEADER_BYTES + F64_HEADER_BYTES) throw new DredgeError('DREDGE_ERR_INDEX', `index is ${byteLength} bytes, shorter than its header; not a dredge index`);
  const h = header();
  if (h[H_MAGIC] !== MAGIC) throw new DredgeError('DREDGE_ERR_INDEX', 'not a dredge index (bad magic); build one with `dredge index build`');
  if (h[H_LAYOUT_VERSION] !== LAYOUT_VERSION) throw new DredgeError('DREDGE_ERR_INDEX', `index layout version ${h[H_LAYOUT_VERSION]} is not ${LAYOUT_VERSION}; rebuild it with this dredge (\`dredge index build\`)`);
  return h;
}

/**
 * Typed views over a generation; validates magic, version, lengths and every section's bounds. Without
 * the cold buffer (a worker's view) the cold sections are empty: lookups work, `explain` does not.
 * `hot` is the hot part's memory, or a buffer holding it (then `memory` is null).
 */
export function openViews(hot: WebAssembly.Memory | SharedArrayBuffer | ArrayBuffer, cold: ArrayBuffer | SharedArrayBuffer | null = null): Views {
  const memory = hot instanceof WebAssembly.Memory ? hot : null;
  const buf = hot instanceof WebAssembly.Memory ? hot.buffer : hot;
  const header = checkedHeader(buf.byteLength, () => new Int32Array(buf, 0, HEADER_BYTES / 4));
  // A memory also holds the scratch slots and the page's rest; a buffer is the layout alone.
  if (memory !== null ? scratchAt(header[H_BYTE_LENGTH] as number) + SCRATCH_BYTES > buf.byteLength : header[H_BYTE_LENGTH] !== buf.byteLength) throw new DredgeError('DREDGE_ERR_INDEX', `index header says ${header[H_BYTE_LENGTH]} bytes but the buffer has ${buf.byteLength}; the file is truncated or damaged`);
  if (cold !== null && header[H_COLD_BYTES] !== cold.byteLength) throw new DredgeError('DREDGE_ERR_INDEX', `index header says ${header[H_COLD_BYTES]} bytes of explain data but there are ${cold.byteLength}; the file is truncated or damaged`);
  const v = { memory, sab: buf, cold, header, f64: new Float64Array(buf, HEADER_BYTES, F64_HEADER_BYTES / 8) } as Partial<Views> as Record<string, unknown>;
  SECTIONS.forEach(([name, elem, part], s) => {
    const into = part === 'hot' ? buf : cold;
    const off = header[H_SECTION_TABLE + 2 * s] as number;
    const n = into === null ? 0 : (header[H_SECTION_TABLE + 2 * s + 1] as number);
    const at = into === null ? 0 : off;
    // hot sections end within the layout (a memory's scratch slots follow it, and other threads write there)
    const limit = into === null ? 0 : part === 'hot' ? (header[H_BYTE_LENGTH] as number) : into.byteLength;
    if (into !== null && (off < 0 || n < 0 || off % 8 !== 0 || off + n * ELEM_BYTES[elem] > limit)) throw new DredgeError('DREDGE_ERR_INDEX', `index section ${name} is out of bounds; the file is damaged`);
    const b = into ?? new ArrayBuffer(0);
    v[name] = elem === 'i32' ? new Int32Array(b, at, n) : elem === 'u32' ? new Uint32Array(b, at, n) : elem === 'f64' ? new Float64Array(b, at, n) : new Uint8Array(b, at, n);
  });
  return v as unknown as Views;
}

/** Splits index file bytes (hot buffer, then cold) and checks their lengths. */
export function splitIndexBytes(bytes: Uint8Array): { hot: Uint8Array; cold: Uint8Array } {
  // A copy (a Node Buffer's slice is a view into a shared pool, so its .buffer is not these bytes).
  const header = checkedHeader(bytes.byteLength, () => new Int32Array(new Uint8Array(bytes.subarray(0, HEADER_BYTES)).buffer));
  const hot = header[H_BYTE_LENGTH] as number;
  const cold = header[H_COLD_BYTES] as number;
  if (hot < HEADER_BYTES + F64_HEADER_BYTES || cold < 0 || hot + cold !== bytes.byteLength) throw new DredgeError('DREDGE_ERR_INDEX', `index header says ${hot} + ${cold} bytes but the file has ${bytes.byteLength}; the file is truncated or damaged`);
  return { hot: bytes.subarray(0, hot), cold: bytes.subarray(hot) };
}

/** Bytes each section takes (for memory reports). */
export function sectionBytes(v: Views): Record<SectionName, number> {
  const out = {} as Record<SectionName, number>;
  for (const [name] of SECTIONS) out[name] = (v[name] as { byteLength: number }).byteLength;
  return out;
}
