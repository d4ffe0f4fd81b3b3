// IP address text ⇄ bytes without strings on the way in: IPv6 from a byte range (the scanner's cold
// path), and formatting helpers for the edges (rendering, index inspection).

/**
 * Parses the IPv6 text in b[start, end) into 16 bytes at out[0..16). Accepts `::` compression and a
 * trailing dotted IPv4 (`::ffff:10.1.2.3`); rejects zone ids, leading zeros beyond 4 hex digits, and
 * anything else. Returns false (out untouched or partly written) when the text is not an address.
 */
export function parseIPv6(b: Uint8Array, start: number, end: number, out: Uint8Array): boolean {
  const groups = new Uint16Array(8); // cold path; a small allocation per IPv6 token is acceptable
  let ng = 0;
  let gap = -1; // group index where `::` sits
  let p = start;
  if (end - start < 2) return false;
  if (b[p] === 58) {
    if (b[p + 1] !== 58) return false;
    gap = 0;
    p += 2;
    if (p === end) {
      out.fill(0, 0, 16);
      return true;
    }
  }
  while (p < end) {
    if (ng === 8) return false;
    // IPv4 tail?
    let q = p;
    let hex = 0;
    let digits = 0;
    while (q < end && digits <= 4) {
      const v = hexValue(b[q] as number);
      if (v < 0) break;
      hex = hex * 16 + v;
      digits++;
      q++;
    }
    if (q < end && b[q] === 46) {
      if (ng > 6) return false;
      const v4 = parseDottedQuad(b, p, end);
      if (v4 < 0) return false;
      groups[ng++] = v4 >>> 16;
      groups[ng++] = v4 & 0xffff;
      break; // the dotted quad ran to the end of the token
    }
    if (digits === 0 || digits > 4) return false;
    groups[ng++] = hex;
    p = q;
    if (p === end) break;
    if (b[p] !== 58) return false;
    p++;
    if (b[p] === 58) {
      if (gap >= 0) return false;
      gap = ng;
      p++;
      if (p === end) break;
    } else if (p === end) {
      return false; // trailing single colon
    }
  }
  if (gap < 0 && ng !== 8) return false;
  if (gap >= 0 && ng > 7) return false;
  out.fill(0, 0, 16);
  const tail = gap < 0 ? 0 : ng - gap;
  for (let i = 0; i < ng; i++) {
    const slot = gap >= 0 && i >= gap ? 8 - tail + (i - gap) : i;
    out[slot * 2] = (groups[i] as number) >>> 8;
    out[slot * 2 + 1] = (groups[i] as number) & 0xff;
  }
  return true;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Dotted quad in b[start, end) → uint32, or -1. No leading zeros (as net.isIPv4). */
export function parseDottedQuad(b: Uint8Array, start: number, end: number): number {
  let a = 0;
  let p = start;
  for (let k = 0; k < 4; k++) {
    const s = p;
    let o = 0;
    while (p < end && (b[p] as number) >= 48 && (b[p] as number) <= 57 && p - s < 3) {
      o = o * 10 + ((b[p] as number) - 48);
      p++;
    }
    if (p === s || o > 255 || (p - s > 1 && b[s] === 48)) return -1;
    a = a * 256 + o;
    if (k < 3) {
      if (p >= end || b[p] !== 46) return -1;
      p++;
    }
  }
  return p === end ? a : -1;
}

/** Parses an address string (edges: config, CLI); returns {v4} or {v6 bytes} or null. */
export function parseIpString(s: string): { family: 4; v4: number } | { family: 6; v6: Uint8Array } | null {
  const b = new TextEncoder().encode(s);
  const v4 = parseDottedQuad(b, 0, b.length);
  if (v4 >= 0) return { family: 4, v4 };
  const out = new Uint8Array(16);
  return parseIPv6(b, 0, b.length, out) ? { family: 6, v6: out } : null;
}

export function formatIPv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** RFC 5952 text of 16 bytes (longest zero run compressed). */
export function formatIPv6(bytes: Uint8Array, at = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(((bytes[at + i * 2] as number) << 8) | (bytes[at + i * 2 + 1] as number));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (x: number): string => x.toString(16);
  if (bestStart < 0) return g.map(hex).join(':');
  return `${g.slice(0, bestStart).map(hex).join(':')}::${g.slice(bestStart + bestLen).map(hex).join(':')}`;
}
