// Worker for view.test.ts: opens a generation from its shared hot memory alone and answers lookups,
// one at a time and in a batch (the WebAssembly lookup, instantiated here over that memory).
import { parentPort, workerData } from 'node:worker_threads';
import { IndexView } from '../../src/index/lookup.js';

const { memory, addrs, times } = workerData as { memory: WebAssembly.Memory; addrs: Uint32Array; times: Float64Array };
const view = new IndexView(memory);
const out = new Int32Array(addrs.length);
for (let i = 0; i < addrs.length; i++) out[i] = view.lookupV4(addrs[i] as number, times[i] as number);
const batch = new Int32Array(addrs.length);
view.lookupColumn(addrs, new Uint8Array(addrs.length).fill(4), new Uint8Array(0), times, addrs.length, batch);
const apps = [...new Set(out)].filter((r) => r >= 0).map((r) => [r, view.meta.field(r, 'app')]);
parentPort?.postMessage({ out, batch, wasmRows: view.rowsBy.wasm, shared: view.buffer === memory.buffer, apps, generation: view.generation });
