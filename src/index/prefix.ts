// Prefixes at the edges of the index: CIDR text → (family, words, length), masking, the canonical
// key the builder groups evidence by, and the "public address" rule of DESIGN.md §9.
//
// Words: an IPv4 prefix is one uint32 (w[0]); an IPv6 prefix is four big-endian uint32 words. An
// IPv4-mapped IPv6 prefix (::ffff:a.b.c.d/96+n) is stored as the IPv4 prefix a.b.c.d/n, so both
// spellings of one address resolve the same way.

import { DredgeError } from '../errors.js';
import { formatIPv4, formatIPv6, parseIpString } from '../parse/ip.js';

export interface Prefix {
  family: 4 | 6;
  /** IPv4: [addr, 0, 0, 0]; IPv6: four big-endian words. Host bits are zero. */
  w0: number;
  w1: number;
  w2: number;
  w3: number;
  len: number;
}

/** Parses `10.0.0.0/8`, `10.1.2.3` (a /32), `2001:db8::/32`, `::ffff:10.0.0.0/104`; null when invalid. */
export function parsePrefix(text: string): Prefix | { error: string } {
  const s = text.trim();
  const slash = s.indexOf('/');
  const addrText = slash < 0 ? s : s.slice(0, slash);
  const ip = parseIpString(addrText);
  if (ip === null) return { error: `"${addrText}" is not an IPv4 or IPv6 address` };
  let len: number;
  if (slash < 0) len = ip.family === 4 ? 32 : 128;
  else {
    const lt = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lt)) return { error: `prefix length "${lt}" is not a number` };
    len = Number(lt);
    const max = ip.family === 4 ? 32 : 128;
    if (len > max) return { error: `prefix length /${len} exceeds /${max}` };
  }
  if (ip.family === 4) return maskedV4(ip.v4, len);
  const b = ip.v6;
  const w0 = readWord(b, 0);
  const w1 = readWord(b, 4);
  const w2 = readWord(b, 8);
  const w3 = readWord(b, 12);
  if (w0 === 0 && w1 === 0 && w2 === 0xffff && len >= 96) return maskedV4(w3, len - 96);
  return maskedV6([w0, w1, w2, w3], len);
}

/** parsePrefix that throws a DredgeError naming `where` (file:line, field). */
export function requirePrefix(text: string, where: string): Prefix {
  const p = parsePrefix(text);
  if ('error' in p) throw new DredgeError('DREDGE_ERR_INDEX', `${where}: ${p.error}; write an address or CIDR such as 10.1.2.0/24 or 2001:db8::/48`);
  return p;
}

export function readWord(b: Uint8Array, at: number): number {
  return (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0;
}

export function maskedV4(addr: number, len: number): Prefix {
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return { family: 4, w0: (addr & m) >>> 0, w1: 0, w2: 0, w3: 0, len };
}

export function maskedV6(w: readonly number[], len: number): Prefix {
  const out = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, len - i * 32));
    const m = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    out[i] = ((w[i] as number) & m) >>> 0;
  }
  return { family: 6, w0: out[0] as number, w1: out[1] as number, w2: out[2] as number, w3: out[3] as number, len };
}

/** Canonical text: `10.0.0.0/8`, `2001:db8::/32`. */
export function formatPrefix(p: Prefix): string {
  if (p.family === 4) return `${formatIPv4(p.w0)}/${p.len}`;
  return `${formatIPv6(wordsToBytes(p.w0, p.w1, p.w2, p.w3))}/${p.len}`;
}

export function wordsToBytes(w0: number, w1: number, w2: number, w3: number): Uint8Array {
  const b = new Uint8Array(16);
  const w = [w0, w1, w2, w3];
  for (let i = 0; i < 4; i++) {
    const x = w[i] as number;
    b[i * 4] = x >>> 24;
    b[i * 4 + 1] = (x >>> 16) & 255;
    b[i * 4 + 2] = (x >>> 8) & 255;
    b[i * 4 + 3] = x & 255;
  }
  return b;
}

/** A map key for one exact prefix. */
export function prefixKey(p: Prefix): string {
  return p.family === 4 ? `${p.w0}/${p.len}` : `${p.w0}:${p.w1}:${p.w2}:${p.w3}/${p.len}`;
}

// Public = not RFC 1918, not 100.64/10 (CGNAT), not link-local, not loopback (DESIGN.md §9).
/** True for IPv4 addresses that are "public" in the sense of DESIGN.md §9. */
export function isPublicV4(a: number): boolean {
  const o1 = a >>> 24;
  const o2 = (a >>> 16) & 255;
  if (o1 === 10 || o1 === 127) return false;
  if (o1 === 172 && o2 >= 16 && o2 <= 31) return false;
  if (o1 === 192 && o2 === 168) return false;
  if (o1 === 100 && o2 >= 64 && o2 <= 127) return false;
  if (o1 === 169 && o2 === 254) return false;
  return true;
}

/** IPv6: not ULA fc00::/7, not link-local fe80::/10, not loopback ::1. */
export function isPublicV6(w0: number, w1: number, w2: number, w3: number): boolean {
  if (w0 >>> 25 === 0x7e) return false; // fc00::/7
  if (w0 >>> 22 === 0x3fa) return false; // fe80::/10
  if (w0 === 0 && w1 === 0 && w2 === 0 && w3 === 1) return false;
  return true;
}
