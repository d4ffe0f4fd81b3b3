// The per-format compiled scanners (scan-compiled.ts, the default) must decode exactly like the
// reference loop (scanLinesGeneric): same rows, same column contents, same null bits, same IPv6 side
// table, same issues, on random formats and on lines mutated into every kind of malformed token.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FIELDS, FlowFormat } from '../../src/parse/fields.js';
import { FlowBatch } from '../../src/parse/flow-batch.js';
import { type ParseIssue, type ScanState, newScanState, scanLines, scanLinesGeneric } from '../../src/parse/scan-text.js';
import { Rng, TrafficGenerator } from '../../src/sources/generator/traffic.js';

const JUNK = ['-', 'abc', '999999', '99999999999999999', '2001:db8::1', '::ffff:10.1.2.3', '01.2.3.4', '256.1.1.1', 'ACCEPTX', 'NODATA', 'SKIPDATA', 'REJECT', 'OK', '0', '65536', '1.2.3', 'x\ty', 'é', '1e5', '+1'];

function mutate(line: string, rng: Rng): string {
  const tokens = line.split(' ');
  switch (rng.int(6)) {
    case 0:
      tokens[rng.int(tokens.length)] = rng.pick(JUNK);
      break;
    case 1:
      tokens.splice(rng.int(tokens.length), 1);
      break;
    case 2:
      tokens.push(rng.pick(JUNK));
      break;
    case 3:
      return '  ' + tokens.join('   ') + ' \r';
    case 4:
      return rng.next() < 0.5 ? '' : tokens.join(' ').slice(0, rng.int(line.length));
    default:
      break;
  }
  return tokens.join(' ');
}

function decodeWith(scan: typeof scanLines, fmt: FlowFormat, bytes: Uint8Array, rows: number) {
  const issues: ParseIssue[] = [];
  const st: ScanState = newScanState(fmt, true, (i) => issues.push(i));
  const batch = new FlowBatch(fmt, rows);
  const snapshots: unknown[] = [];
  let p = 0;
  while (p < bytes.length) {
    p = scan(bytes, p, bytes.length, batch, st);
    snapshots.push({
      length: batch.length,
      ints: [...batch.ints],
      ports: [...batch.ports],
      u8: [...batch.u8],
      addr: [...batch.addr],
      fam: [...batch.fam],
      toff: [...batch.toff],
      tlen: [...batch.tlen],
      nulls: [...batch.nulls].slice(0, batch.length * fmt.nullWords),
      v6: [...batch.v6.subarray(0, batch.v6Count * 16)],
    });
    batch.length = 0;
    batch.v6Count = 0;
    // Stale cells beyond `length` differ between runs by design; clear so snapshots compare.
    batch.ints.fill(0);
    batch.ports.fill(0);
    batch.u8.fill(0);
    batch.addr.fill(0);
    batch.fam.fill(0);
    batch.toff.fill(0);
    batch.tlen.fill(0);
  }
  return { snapshots, issues, records: st.records, malformed: st.malformed, blank: st.blankLines, line: st.line };
}

describe('compiled scanner ≡ reference scanner', () => {
  it('agrees on 150 random formats with mutated and malformed lines', () => {
    const rng = new Rng(20261123);
    for (let round = 0; round < 150; round++) {
      const names = FIELDS.map((f) => f.name).filter(() => rng.next() < 0.3);
      if (names.length === 0) names.push('srcaddr');
      for (let i = names.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [names[i], names[j]] = [names[j] as string, names[i] as string];
      }
      const fmt = FlowFormat.parse(names);
      const gen = new TrafficGenerator(fmt, { seed: round + 1, hosts: 200, subnets: 20, ipv6Share: 0.1, noDataShare: 0.1 });
      const lines: string[] = [];
      for (let i = 0; i < 200; i++) {
        const line = gen.line();
        lines.push(rng.next() < 0.3 ? mutate(line, rng) : line);
      }
      const bytes = Buffer.from(lines.join('\n') + '\n', 'utf8');
      const rows = 1 + rng.int(64);
      const a = decodeWith(scanLinesGeneric, fmt, bytes, rows);
      const b = decodeWith(scanLines, fmt, bytes, rows);
      assert.deepEqual(b, a, `format: ${fmt.names.join(' ')}`);
      assert.ok(a.records > 0, 'some lines decode');
    }
  });

  it('agrees on the v2 default with every malformed kind', () => {
    const rng = new Rng(7);
    const gen = new TrafficGenerator(FlowFormat.V2_DEFAULT, { seed: 3, ipv6Share: 0.05, noDataShare: 0.05 });
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) lines.push(rng.next() < 0.2 ? mutate(gen.line(), rng) : gen.line());
    const bytes = Buffer.from(lines.join('\n') + '\n', 'utf8');
    const a = decodeWith(scanLinesGeneric, FlowFormat.V2_DEFAULT, bytes, 1000);
    const b = decodeWith(scanLines, FlowFormat.V2_DEFAULT, bytes, 1000);
    assert.deepEqual(b, a);
    assert.ok(a.malformed > 100 && a.records > 2000, `malformed ${a.malformed}, records ${a.records}`);
  });
});
