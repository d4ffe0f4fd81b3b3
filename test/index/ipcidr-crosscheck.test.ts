// Cross-check: longest-prefix answers of the index agree with the ip-cidr package on random prefixes
// (nested on purpose, IPv4 and IPv6) and random addresses, including every prefix's first and last
// address and the addresses just outside it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import IPCIDR from 'ip-cidr';
import { IndexBuilder } from '../../src/index/builder.js';
import { isPublicV4, isPublicV6, maskedV4, maskedV6 } from '../../src/index/prefix.js';
import { formatIPv4, formatIPv6 } from '../../src/parse/ip.js';
import { wordsToBytes } from '../../src/index/prefix.js';
import { Rng } from '../../src/sources/generator/traffic.js';
import { who } from './helpers.js';

function v6text(x: bigint): string {
  const w = [96n, 64n, 32n, 0n].map((s) => Number((x >> s) & 0xffffffffn)) as [number, number, number, number];
  return formatIPv6(wordsToBytes(...w));
}

function runCase(seed: number, nPrefixes: number, nAddrs: number): void {
  const rng = new Rng(seed);
  const prefixes: { cidr: string; app: string; fam: 4 | 6; start: bigint; end: bigint; len: number; ip: IPCIDR }[] = [];
  const seen = new Set<string>();
  const u32 = (): number => (rng.next() * 2 ** 32) >>> 0;
  for (let i = 0; i < nPrefixes; i++) {
    const v6 = rng.next() < 0.3;
    const nestIn = prefixes.length > 0 && rng.next() < 0.5 ? prefixes[rng.int(prefixes.length)] : undefined;
    let fam: 4 | 6;
    let start: bigint;
    let len: number;
    if (nestIn !== undefined && nestIn.len < (nestIn.fam === 4 ? 32 : 128)) {
      fam = nestIn.fam;
      const max = fam === 4 ? 32 : 128;
      len = nestIn.len + 1 + rng.int(max - nestIn.len);
      const span = nestIn.end - nestIn.start + 1n;
      const off = (BigInt(u32()) * BigInt(u32()) * BigInt(u32()) * BigInt(u32())) % span;
      const host = nestIn.start + off;
      start = (host >> BigInt(max - len)) << BigInt(max - len);
    } else if (!v6) {
      fam = 4;
      len = rng.int(33);
      const p = maskedV4(u32(), len);
      start = BigInt(p.w0);
    } else {
      fam = 6;
      len = rng.int(129);
      const p = maskedV6([0x20010db8 + rng.int(4), u32(), u32(), u32()], len);
      start = (BigInt(p.w0) << 96n) | (BigInt(p.w1) << 64n) | (BigInt(p.w2) << 32n) | BigInt(p.w3);
    }
    const max = fam === 4 ? 32 : 128;
    const end = start + (1n << BigInt(max - len)) - 1n;
    const cidr = `${fam === 4 ? formatIPv4(Number(start)) : v6text(start)}/${len}`;
    if (seen.has(cidr)) continue;
    seen.add(cidr);
    prefixes.push({ cidr, app: `app${i}`, fam, start, end, len, ip: new IPCIDR(cidr) });
  }
  const b = new IndexBuilder({ horizonSeconds: null });
  for (const p of prefixes) b.addSnapshotRow({ cidr: p.cidr, meta: { app: p.app } });
  const view = b.freeze().view;

  const probes: { fam: 4 | 6; x: bigint }[] = [];
  for (const p of prefixes) {
    const max = p.fam === 4 ? (1n << 32n) - 1n : (1n << 128n) - 1n;
    for (const x of [p.start, p.end, p.start - 1n, p.end + 1n]) if (x >= 0n && x <= max) probes.push({ fam: p.fam, x });
  }
  for (let i = 0; i < nAddrs; i++) {
    if (rng.next() < 0.6) probes.push({ fam: 4, x: BigInt(u32()) });
    else probes.push({ fam: 6, x: (BigInt(0x20010db8 + rng.int(4)) << 96n) | (BigInt(u32()) << 64n) | (BigInt(u32()) << 32n) | BigInt(u32()) });
  }
  for (const pr of probes) {
    const text = pr.fam === 4 ? formatIPv4(Number(pr.x)) : v6text(pr.x);
    let best: (typeof prefixes)[number] | null = null;
    for (const p of prefixes) if (p.fam === pr.fam && p.ip.contains(text) && (best === null || p.len > best.len)) best = p;
    let expected: string;
    if (best !== null) expected = best.app;
    else if (pr.fam === 4) expected = isPublicV4(Number(pr.x)) ? 'internet' : 'unknown';
    else {
      const w = [96n, 64n, 32n, 0n].map((s) => Number((pr.x >> s) & 0xffffffffn)) as [number, number, number, number];
      expected = isPublicV6(...w) && !(w[0] === 0 && w[1] === 0 && w[2] === 0xffff) ? 'internet' : 'unknown';
    }
    if (pr.fam === 6 && pr.x >> 32n === 0xffffn) continue; // IPv4-mapped: the index treats it as IPv4 (tested in lpm.test)
    assert.equal(who(view, text, 0), expected, `${text} (seed ${seed})`);
  }
}

describe('cross-check against ip-cidr', () => {
  it("agrees on 150 nested random prefixes and 1500 random addresses (plus each prefix's edges)", () => {
    runCase(20261120, 150, 1500);
  });

  it('agrees for any seed (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 40 }), (seed, n) => {
        runCase(seed, n, 150);
      }),
      { numRuns: 25 },
    );
  });
});
