// The shared C reference (../shared/perf/ref.c: parse v2 lines, longest-prefix match both addresses,
// aggregate) as a same-run yardstick: this machine's speed varies up to 2× between days, so figures
// are read as ratios to C measured on the same bytes in the same run. Compiled on first use into the
// OS temp folder when gcc and the reference source are present; otherwise the caller is told why not.

import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildC } from './gcc.js';

const REF_SOURCE = fileURLToPath(new URL('../../../../shared/perf/ref.c', import.meta.url));

export interface CRefResult {
  flowsPerS: number;
  lines: number;
  groups: number;
  threads: number;
  mode: 'full' | 'noagg';
}

let why = '';

/** Path of the compiled reference, or null (see `cRefUnavailable()`). */
function compile(): string | null {
  if (!existsSync(REF_SOURCE)) {
    why = `no C reference at ${REF_SOURCE}`;
    return null;
  }
  const r = buildC(REF_SOURCE, 'c-ref', ['-pthread']);
  why = r.why;
  return r.binary;
}

export function cRefUnavailable(): string {
  return why;
}

/** A CIDR CSV in the reference's format covering 10.0.0.0/8 with /20s spread over `apps` apps. */
export function writeCidrCsv(path: string, prefixes = 4096, apps = 2000): void {
  const rows = ['cidr,app,account,region,az'];
  for (let i = 0; i < prefixes; i++) rows.push(`10.${i >> 4}.${(i & 15) << 4}.0/20,app-${String(i % apps).padStart(4, '0')},123456789012,us-east-1,use1-az1`);
  writeFileSync(path, rows.join('\n') + '\n');
}

/** Runs the reference on a flow file (median of `repeats`); null when it cannot run here. */
export function runCRef(flowsPath: string, cidrPath: string, threads: number, mode: 'full' | 'noagg', repeats = 5): CRefResult | null {
  const bin = compile();
  if (bin === null) return null;
  const out = execFileSync(bin, [flowsPath, cidrPath, String(threads), String(repeats)], {
    env: { ...process.env, REF_MODE: mode === 'noagg' ? 'noagg' : '' },
    stdio: ['ignore', 'pipe', 'ignore'],
    encoding: 'utf8',
  });
  const r = JSON.parse(out.trim().split('\n').pop() as string) as { flows_per_s: number; lines: number; groups: number };
  return { flowsPerS: r.flows_per_s, lines: r.lines, groups: r.groups, threads, mode };
}
