// Instantiates the index's batch lookup (native-free-wasm/assembly/lookup.ts) over one generation's
// hot memory. The module is compiled once per thread, on first use (never at import); an instance
// is one per generation per thread (IndexView makes it on its first batch), since a WebAssembly
// instance has one memory. Any failure (no WebAssembly, no SIMD or no shared memory in this engine)
// is remembered and answered with null: IndexView then runs the JS lookup, which gives identical
// results. DREDGE_WASM=0 is the kill switch here too (as for the scanner, src/parse/wasm/load.ts).

import { LOOKUP_WASM_BASE64 } from './lookup-module.js';

/** What lookup.wasm exports. */
export interface LookupExports {
  lookupV4(nodes: number, root: number, tl: number, tlEntry: number, tlStart: number, fixups: number, origin: number, slot: number, n: number): number;
}

let module: WebAssembly.Module | null = null;
let failure: string | null = process.env.DREDGE_WASM === '0' ? 'DREDGE_WASM=0' : null;
let lastInstanceFailure: string | null = null;

/** The lookup instantiated over `memory`, or null when it cannot be (`lookupWasmFailure()` says why): for good when the module does not compile here, else for this memory alone. */
export function lookupWasm(memory: WebAssembly.Memory): LookupExports | null {
  if (failure !== null) return null;
  try {
    module ??= new WebAssembly.Module(Uint8Array.from(atob(LOOKUP_WASM_BASE64), (ch) => ch.charCodeAt(0)));
  } catch (e) {
    failure = e instanceof Error ? e.message : String(e);
    return null;
  }
  try {
    return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as LookupExports;
  } catch (e) {
    lastInstanceFailure = e instanceof Error ? e.message : String(e);
    return null;
  }
}

export function lookupWasmFailure(): string | null {
  return failure ?? lastInstanceFailure;
}
