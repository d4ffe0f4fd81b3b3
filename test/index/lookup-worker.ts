// Worker for view.test.ts: opens a generation from the SharedArrayBuffer alone and answers lookups.
import { parentPort, workerData } from 'node:worker_threads';
import { IndexView } from '../../src/index/lookup.js';

const { sab, addrs, times } = workerData as { sab: SharedArrayBuffer; addrs: Uint32Array; times: Float64Array };
const view = new IndexView(sab);
const out = new Int32Array(addrs.length);
for (let i = 0; i < addrs.length; i++) out[i] = view.lookupV4(addrs[i] as number, times[i] as number);
const apps = [...new Set(out)].filter((r) => r >= 0).map((r) => [r, view.meta.field(r, 'app')]);
parentPort?.postMessage({ out, apps, generation: view.generation });
