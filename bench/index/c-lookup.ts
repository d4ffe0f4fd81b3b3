// The C version of the index's batch lookup (bench/index/lookup-ref.c) as a same-run yardstick for the
// WebAssembly one: the same passes over the same generation's bytes and the same probes, so the ratio
// says how close the shipped lookup is to what the layout allows on this machine today (whose speed
// varies up to 2× between days). Compiled on first use into the OS temp folder with gcc; when it
// cannot be, the caller is told why.

import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { F_TL_ORIGIN, H_BYTE_LENGTH, H_V4_ROOT } from '../../src/index/layout.js';
import type { IndexView } from '../../src/index/lookup.js';
import { buildC } from '../perf/gcc.js';

const SOURCE = fileURLToPath(new URL('../../../bench/index/lookup-ref.c', import.meta.url));
const DIR = join(tmpdir(), 'dredge-bench'); // buildC makes it

let why = '';

function compile(): string | null {
  const r = buildC(SOURCE, 'lookup-ref', [], ['-lm']);
  why = r.why;
  return r.binary;
}

export function cLookupUnavailable(): string {
  return why;
}

/** A C run's best rate over `repeats` passes of the probes, and the sum of its results (int32), which must equal the WebAssembly lookup's. */
export interface CLookup {
  run(repeats: number): { perSec: number; checksum: number };
  dispose(): void;
}

/** Writes the generation's hot part and the probes for the C lookup; null when it cannot be built here. */
export function prepareCLookup(view: IndexView, addr: Uint32Array, t: Float64Array, tag: string): CLookup | null {
  const bin = compile();
  if (bin === null) return null;
  const v = view.v;
  const hot = join(DIR, `index-${tag}.hot`);
  const probes = join(DIR, `probes-${tag}.bin`);
  writeFileSync(hot, new Uint8Array(v.sab, 0, v.header[H_BYTE_LENGTH] as number));
  const n = addr.length;
  const buf = new Uint8Array(n * 12);
  new Float64Array(buf.buffer, 0, n).set(t);
  new Uint32Array(buf.buffer, n * 8, n).set(addr);
  writeFileSync(probes, buf);
  const args = [hot, probes, v.nodes.byteOffset, v.header[H_V4_ROOT], v.tl.byteOffset, v.tlEntry.byteOffset, v.tlStart.byteOffset, v.tlStart.length > 0 ? 1 : 0, v.f64[F_TL_ORIGIN]].map(String);
  return {
    run(repeats) {
      const r = JSON.parse(execFileSync(bin, [...args, String(repeats)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()) as { lookups_per_s: number; checksum: number };
      return { perSec: r.lookups_per_s, checksum: r.checksum };
    },
    dispose() {
      rmSync(hot, { force: true });
      rmSync(probes, { force: true });
    },
  };
}
