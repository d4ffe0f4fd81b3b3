// Test helpers for the index tests (not a test file: run-tests.mjs runs *.test.js only).

import { readFileSync } from 'node:fs';
import type { IndexView } from '../../src/index/lookup.js';
import { parseIpString } from '../../src/parse/ip.js';
import { readWord } from '../../src/index/prefix.js';

export function fixture(name: string): string {
  return readFileSync(new URL(`../../../test/fixtures/index/${name}`, import.meta.url), 'utf8');
}

export function fixturePath(name: string): string {
  return new URL(`../../../test/fixtures/index/${name}`, import.meta.url).pathname;
}

/** Looks up an address text at t; returns the app (or a JSON of the record), or the reason. */
export function who(view: IndexView, ip: string, t: number): string {
  const a = parseIpString(ip);
  if (a === null) throw new Error(`bad ip ${ip}`);
  const r = a.family === 4 ? view.lookupV4(a.v4, t) : view.lookupV6(readWord(a.v6, 0), readWord(a.v6, 4), readWord(a.v6, 8), readWord(a.v6, 12), t);
  if (r >= 0) return view.meta.field(r, 'app') ?? JSON.stringify(view.meta.record(r));
  return ({ [-1]: 'unknown', [-2]: 'gap', [-3]: 'conflict', [-4]: 'no-address' } as Record<number, string>)[r] ?? String(r);
}

export const T0 = Date.parse('2026-11-20T12:00:00Z') / 1000;
