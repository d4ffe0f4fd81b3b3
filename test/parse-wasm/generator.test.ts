// Seeded generator traffic through both scanners: the v2 default and the 20-field v5 custom format,
// with IPv6 and NODATA records and injected malformed lines, at random batch sizes and chunkings —
// identical batches cell for cell, issues and stats. Then token-level fuzz of the two hand-written
// WASM decoders most likely to disagree with JS: dotted quads and integers.

import { describe, it } from 'node:test';
import { FlowFormat } from '../../src/parse/fields.js';
import { TrafficGenerator, V5_CUSTOM_20 } from '../../src/sources/generator/traffic.js';
import { assertSame, rng } from './helpers.js';

const MALFORMED = [
  (l: string) => l + ' extra',
  (l: string) => l.split(' ').slice(0, -1).join(' '),
  (l: string) => l.replace(/ (\d+) /, ' $1x '),
  (l: string) => l.replace(/ ACCEPT| REJECT/, ' MAYBE'),
  (l: string) => l.replace(/ OK$/, ' FINE'),
  (l: string) => l.replace(/ 10\.(\d+)\./, ' 10.0$1.'),
  (l: string) => l.replace(/ 10\./, ' 300.'),
  (l: string) => l.replace(/ /, '\t'),
  (l: string) => '\x00\x01' + l,
  (l: string) => '  ' + l + '  \r',
  () => '',
  () => 'version srcaddr dstaddr',
  (l: string) => l.replace(/ (\d{4,}) /, ' 99999999999999999999 '),
];

/** `lines` generated lines with about `share` of them damaged (seeded). */
function traffic(format: FlowFormat, lines: number, seed: number, share: number): Buffer {
  const g = new TrafficGenerator(format, { seed, ipv6Share: 0.03, noDataShare: 0.05 });
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    let l = g.line();
    if (r() < share) l = (MALFORMED[Math.floor(r() * MALFORMED.length)] as (l: string) => string)(l);
    out.push(l);
  }
  return Buffer.from(out.join('\n') + '\n', 'latin1');
}

describe('generator traffic: wasm scanner ≡ js scanner', () => {
  const formats: [string, FlowFormat, string | undefined][] = [
    ['v2 default', FlowFormat.V2_DEFAULT, undefined],
    ['v5 custom 20 fields', FlowFormat.parse(V5_CUSTOM_20), V5_CUSTOM_20],
  ];
  for (const [name, format, fields] of formats) {
    it(`${name}: clean, whole input, default batches`, () => {
      assertSame(traffic(format, 15_000, 11, 0), { fields }, name);
    });
    for (let seed = 1; seed <= 6; seed++) {
      it(`${name}: seed ${seed}, malformed lines, random batch size and chunking`, () => {
        const r = rng(seed * 7919);
        const bytes = traffic(format, 3_000 + Math.floor(r() * 5_000), seed, 0.02 + r() * 0.05);
        const batchRows = 1 + Math.floor(r() * (r() < 0.3 ? 16 : 9000));
        const chunks = Array.from({ length: 1 + Math.floor(r() * 4) }, () => 1 + Math.floor(r() * (r() < 0.5 ? 300 : 400_000)));
        const what = `${name} seed ${seed} batchRows ${batchRows} chunks ${chunks.join(',')}`;
        assertSame(bytes, { fields, batchRows }, what);
        assertSame(bytes, { fields, batchRows, chunks }, what);
      });
    }
  }
});

describe('token fuzz: wasm scanner ≡ js scanner', () => {
  it('random dotted-quad-like addresses', () => {
    const r = rng(2024);
    const alphabet = '0123456789.....:-a';
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      let tok = '';
      if (r() < 0.5) {
        // near-valid: four octets of 1-4 digits, sometimes zero-led, sometimes a missing/extra part
        const parts = 3 + Math.floor(r() * 3);
        const o: string[] = [];
        for (let k = 0; k < parts; k++) o.push(String(Math.floor(r() * (r() < 0.8 ? 256 : 1200))).padStart(r() < 0.1 ? 2 : 1, '0'));
        tok = o.join('.');
      } else {
        const n = 1 + Math.floor(r() * 17);
        for (let k = 0; k < n; k++) tok += alphabet[Math.floor(r() * alphabet.length)];
      }
      lines.push(`2 ${tok} ${r() < 0.5 ? '1.2.3.4' : tok} 7`);
    }
    assertSame(Buffer.from(lines.join('\n') + '\n'), { fields: 'version srcaddr dstaddr packets' }, 'addresses');
  });

  it('random integers for every integer kind', () => {
    const r = rng(7);
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const num = (): string => {
        const n = Math.floor(r() * 22);
        let s = '';
        for (let k = 0; k < n; k++) s += r() < 0.02 ? 'x-.'[Math.floor(r() * 3)] : String(Math.floor(r() * 10));
        return s === '' ? '-' : s;
      };
      lines.push(`${num()} ${num()} ${num()} ${num()}`);
    }
    assertSame(Buffer.from(lines.join('\n') + '\n'), { fields: 'bytes srcport protocol tcp-flags' }, 'integers');
  });
});
