// Both scanners against the golden fixtures: every `<case>.log|.log.gz|.json.gz` in
// test/fixtures/parse/ (with `<case>.args` when present) decoded with scanner 'js' and 'wasm' gives
// the same batches cell for cell, the same issues and the same stats — whole, and streamed in small
// and odd chunk sizes. Then the edge cases the WASM scanner hands back to JS, one file per family.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { assertSame } from './helpers.js';

const FIXTURES = new URL('../../../test/fixtures/parse/', import.meta.url);
const INPUT = /^(.*)\.(log|log\.gz|json\.gz)$/;

/** `--fields "…"` / `--max-line-bytes N` from a case's .args (what the golden cases use). */
function optionsOf(text: string): { fields?: string; maxLineBytes?: number } {
  const opts: { fields?: string; maxLineBytes?: number } = {};
  const fields = /--fields[ =](?:"([^"]*)"|'([^']*)'|(\S+))/.exec(text);
  if (fields !== null) opts.fields = fields[1] ?? fields[2] ?? fields[3];
  const max = /--max-line-bytes[ =](\d+)/.exec(text);
  if (max !== null) opts.maxLineBytes = Number(max[1]);
  return opts;
}

const files = existsSync(FIXTURES) ? readdirSync(FIXTURES).filter((f) => INPUT.test(f)).sort() : [];

describe('golden fixtures: wasm scanner ≡ js scanner', () => {
  it('finds fixtures to compare', (t) => {
    if (files.length === 0) t.skip('test/fixtures/parse/ holds no fixture yet (the generated cases below still run)');
  });
  for (const file of files) {
    const name = (INPUT.exec(file) as RegExpExecArray)[1] as string;
    const argsFile = new URL(`${name}.args`, FIXTURES);
    const opts = optionsOf(existsSync(argsFile) ? readFileSync(argsFile, 'utf8') : '');
    it(name, () => {
      const bytes = readFileSync(new URL(file, FIXTURES));
      assertSame(bytes, opts, `${name} whole`);
      assertSame(bytes, { ...opts, chunks: [7] }, `${name} 7-byte chunks`);
      assertSame(bytes, { ...opts, chunks: [1, 3, 64, 1000] }, `${name} odd chunks`);
      assertSame(bytes, { ...opts, batchRows: 2 }, `${name} 2-row batches`);
    });
  }
});

const enc = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const V2 = (over: Partial<Record<number, string>> = {}): string => {
  const f = ['2', '123456789012', 'eni-0a1b2c3d4e5f60718', '10.0.1.5', '203.0.113.7', '49152', '443', '6', '10', '8400', '1763900000', '1763900060', 'ACCEPT', 'OK'];
  for (const [k, v] of Object.entries(over)) f[Number(k)] = v as string;
  return f.join(' ');
};

describe('generated edge cases: wasm scanner ≡ js scanner', () => {
  const cases: Record<string, string> = {
    'blank, space-only and CRLF lines': `${V2()}\n\n   \n\r\n${V2()}\r\n  ${V2()}  \r\n${V2()}   \n`,
    'runs of spaces between fields': V2().split(' ').join('   ') + '\n' + V2() + '\n',
    'header line, same fields (skipped)': `version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n${V2()}\n`,
    'header line switching the format mid-file': `${V2()}\nversion srcaddr dstaddr action\n2 1.2.3.4 5.6.7.8 REJECT\n2 - - -\n`,
    'a data line starting with a lowercase word': `${V2({ 0: 'version' })}\n${V2({ 0: 'x2' })}\n${V2()}\n`,
    'dashes in every field': `${V2({ 0: '-', 1: '-', 2: '-', 3: '-', 4: '-', 5: '-', 6: '-', 7: '-', 8: '-', 9: '-', 10: '-', 11: '-', 12: '-', 13: '-' })}\n`,
    'NODATA / SKIPDATA and unknown enums': [V2({ 13: 'NODATA' }), V2({ 13: 'SKIPDATA' }), V2({ 13: 'NODATAX' }), V2({ 13: 'OKAY' }), V2({ 12: 'ACCEPTED' }), V2({ 12: 'REJECT' }), V2({ 12: 'accept' }), V2({ 13: 'SKIP' })].join('\n') + '\n',
    'integer limits': [
      V2({ 9: '9007199254740991' }), V2({ 9: '9007199254740992' }), V2({ 9: '00000000000000000000042' }), V2({ 9: '999999999999999' }),
      V2({ 9: '1000000000000000' }), V2({ 9: '123456789012345678901' }), V2({ 9: '0' }), V2({ 9: '-1' }), V2({ 9: '1e3' }), V2({ 9: '12x' }), V2({ 9: '--' }),
    ].join('\n') + '\n',
    'port and protocol limits': [V2({ 5: '65535' }), V2({ 5: '65536' }), V2({ 5: '0000065535' }), V2({ 6: '0' }), V2({ 7: '255' }), V2({ 7: '256' }), V2({ 7: '0255' }), V2({ 7: '1000' })].join('\n') + '\n',
    'IPv4 edge cases': [
      '0.0.0.0', '255.255.255.255', '256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.02.3.4', '1.2.3.00', '1..2.3', '.1.2.3', '1.2.3.', '1.2.3.4a',
      '1234.1.1.1', '100.200.250.255', '192.168.001.1', '9.9.9.9', '999.9.9.9', '1.2.3.4/24', '10.0.0.1:80', '-1.2.3.4', '0.0.0.0.',
    ].map((a) => V2({ 3: a })).join('\n') + '\n',
    'IPv6 addresses (the JS cold path)': ['2600:1f18::1', '::', '::ffff:10.0.0.1', 'fe80::1%eth0', '2600:1f18:aa::zz', '1:2:3:4:5:6:7:8'].map((a) => V2({ 4: a })).join('\n') + '\n',
    'too few, too many fields': `${V2()} extra\n${V2().split(' ').slice(0, 13).join(' ')}\n2\n${V2()}\n`,
    'control bytes and binary garbage': `${V2({ 2: 'eni-\tabc' })}\n${V2()}\x00\n\x01\x02\x03\n${V2({ 1: '12\x7f34' })}\n${V2()}\r\r\n${V2({ 3: '1.2.3.4\r' })}\n`,
    'UTF-8 in text fields': `${V2({ 1: 'cöntö-ütf8', 2: '网络接口' })}\n`,
    'long text tokens (≥ 16, ≥ 64 bytes)': `version ecs-task-arn ecs-cluster-arn\n2 arn:aws:ecs:us-east-1:123456789012:task/my-cluster/0123456789abcdef0123456789abcdef ${'x'.repeat(300)}\n2 ${'y'.repeat(16)} ${'z'.repeat(64)}\n`,
    'no final newline': `${V2()}\n${V2()}`,
  };
  for (const [name, text] of Object.entries(cases)) {
    it(name, () => {
      assertSame(enc(text), {}, name);
      assertSame(enc(text), { chunks: [5] }, `${name} (5-byte chunks)`);
      assertSame(enc(text), { batchRows: 1 }, `${name} (1-row batches)`);
    });
  }

  it('overlong lines, and a line longer than the WASM window', () => {
    const long = V2({ 2: 'e'.repeat(70_000) });
    const huge = V2({ 2: 'h'.repeat(300_000) });
    const text = `${V2()}\n${long}\n${V2()}\n${huge}\n${V2()}\n`;
    assertSame(enc(text), {}, 'default limit');
    assertSame(enc(text), { maxLineBytes: 1 << 20 }, 'raised limit');
    assertSame(enc(text), { maxLineBytes: 1 << 20, chunks: [65536] }, 'raised limit, chunked');
    assertSame(enc(`${V2()}\n${V2()}\n`), { maxLineBytes: 60 }, 'tiny limit');
  });

  it('a fixed format (--fields) with header lines to skip', () => {
    const text = `version srcaddr\n2 1.2.3.4\nversion srcaddr dstaddr\n2 9.9.9.9\n`;
    assertSame(enc(text), { fields: 'version srcaddr' }, 'fixed');
  });
});
