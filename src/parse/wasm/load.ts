// Instantiates the scanner module (native-free-wasm/assembly/scan.ts), once, on first use (never at
// import), and decides which scanner a decoder uses. The undici way: lazy, synchronous (a 2.5 KiB
// module compiles in well under a millisecond), and any failure (no WebAssembly or no SIMD in this
// engine) is remembered and answered with the JS scanner, which gives identical results.
//
// Which scanner: DREDGE_WASM=0 is the kill switch and always wins (JS). Otherwise an explicit
// `scanner` option; otherwise DREDGE_WASM=1 opts in; otherwise DEFAULT_SCANNER (set from the
// measurement in bench/parse/wasm.ts, see BENCHMARKS.md).
//
// The module's bytes come from scan-module.ts, generated beside the .wasm by scripts/build-wasm.mjs,
// so this CPU stage reads no file and finds the module wherever the package is installed.

import { DredgeError } from '../../errors.js';
import { SCAN_WASM_BASE64 } from './scan-module.js';

export type ScannerKind = 'js' | 'wasm';

/** The faster path on the measurement recorded in BENCHMARKS.md (bench/parse/wasm.ts). */
export const DEFAULT_SCANNER: ScannerKind = 'wasm';

/** What scan.wasm exports (native-free-wasm/assembly/scan.ts). */
export interface ScanExports {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  heapBase(): number;
  configure(kinds: number, off1: number, off2: number, fields: number, words: number, nulls: number, out: number): void;
  scan(start: number, end: number, maxRows: number, maxLine: number, delta: number): number;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

let loaded: ScanExports | null = null;
let failure: string | null = null;

/** The instantiated module, or null when it cannot be had here (`wasmFailure()` says why). */
export function scanWasm(): ScanExports | null {
  if (loaded !== null || failure !== null) return loaded;
  try {
    const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
    if (api === undefined) throw new Error('this JavaScript engine has no WebAssembly');
    const bytes = Uint8Array.from(atob(SCAN_WASM_BASE64), (ch) => ch.charCodeAt(0));
    const instance = new api.Instance(new api.Module(bytes), {});
    loaded = instance.exports as ScanExports;
  } catch (e) {
    failure = e instanceof Error ? e.message : String(e);
  }
  return loaded;
}

/** Whether scan.wasm has been instantiated in this thread (it never is while only JS is used). */
export function wasmInstantiated(): boolean {
  return loaded !== null;
}

export function wasmFailure(): string | null {
  return failure;
}

/** The scanner a decoder constructed now with option `requested` uses (see the module comment). */
export function resolveScanner(requested?: ScannerKind): ScannerKind {
  const env = process.env.DREDGE_WASM;
  if (env === '0') return 'js';
  const want = requested ?? (env === '1' ? 'wasm' : DEFAULT_SCANNER);
  if (want === 'js') return 'js';
  if (scanWasm() !== null) return 'wasm';
  if (requested === 'wasm') {
    throw new DredgeError('DREDGE_ERR_CONFIG', `the WebAssembly scanner is unavailable (${failure}); use scanner 'js' or unset the option`);
  }
  return 'js';
}
