// Builds a C yardstick with gcc (-O3 -march=native) into the OS temp folder, once per process and
// output name. The benches that compare against C (bench/perf/c-ref.ts, bench/index/c-lookup.ts) use
// it; when gcc is missing or fails, the caller gets why and reports the run without the ratio.

import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const built = new Map<string, { binary: string | null; why: string }>();

/** The compiled binary's path (`binary`), or null and why not. `libs` go after the source (e.g. -lm). */
export function buildC(source: string, name: string, flags: string[] = [], libs: string[] = []): { binary: string | null; why: string } {
  let r = built.get(name);
  if (r !== undefined) return r;
  const dir = join(tmpdir(), 'dredge-bench');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, name);
  try {
    execFileSync('gcc', ['-O3', '-march=native', ...flags, '-o', out, source, ...libs], { stdio: 'pipe' });
    r = { binary: out, why: '' };
  } catch (e) {
    r = { binary: null, why: `gcc could not build ${source} (${(e as Error).message.split('\n')[0]})` };
  }
  built.set(name, r);
  return r;
}
