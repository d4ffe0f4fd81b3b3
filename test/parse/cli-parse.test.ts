// `dredge parse [FILE|-] [--fields "…"]` as a user runs it: stdin or a file, plain or gzip, stdout holds
// one JSON object per record and nothing else, exit 0 when the input was read. Large inputs cross the
// CLI's read and gunzip chunk boundaries and must print what the in-process decoder prints.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { decodeWhole, entries, lines, runParse, utf8 } from './helpers.js';

const line = (i: number) => `2 ${String(i % 1000).padStart(12, '0')} eni-${i.toString(16).padStart(17, '0')} 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255} 2001:db8::${(i & 0xffff).toString(16)} ${i % 65536} 443 6 ${i} ${i * 64} ${1700000000 + i} ${1700000060 + i} ${i % 5 === 0 ? 'REJECT' : 'ACCEPT'} OK`;
const SMALL = [line(1), line(2), line(3)].join('\n') + '\n';
const dir = mkdtempSync(join(tmpdir(), 'dredge-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('dredge parse', () => {
  it('reads stdin when FILE is - or absent', async () => {
    const expected = decodeWhole(utf8(SMALL)).records;
    for (const args of [['-'], []]) {
      const r = await runParse(args, utf8(SMALL));
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.deepEqual(lines(r.stdout), expected);
    }
  });

  it('detects gzip on stdin by content', async () => {
    const r = await runParse(['-'], gzipSync(SMALL));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), decodeWhole(utf8(SMALL)).records);
  });

  it('detects gzip by content, not by file name', async () => {
    const file = join(dir, 'looks-plain.txt');
    writeFileSync(file, gzipSync(SMALL));
    const r = await runParse([file]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(lines(r.stdout).length, 3);
  });

  it('stdout is one JSON object per record and nothing else; keys in format order', async () => {
    const r = await runParse(['-', '--fields', 'log-status,bytes srcaddr'], utf8('OK 10 10.0.0.1\nNODATA - -\n'));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.endsWith('\n') && !r.stdout.includes('\n\n'), 'newline-terminated lines, no blank line');
    for (const l of lines(r.stdout)) assert.doesNotThrow(() => entries(l), `a JSON object: ${l}`);
    assert.deepEqual(lines(r.stdout).map(entries), [
      [['log-status', 'OK'], ['bytes', 10], ['srcaddr', '10.0.0.1']],
      [['log-status', 'NODATA'], ['bytes', null], ['srcaddr', null]],
    ]);
  });

  it('--fields accepts --fields=… and ${name} / underscore spellings', async () => {
    const r = await runParse(['-', '--fields=${srcaddr} log_status'], utf8('10.0.0.1 OK\n'));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).map(entries), [[['srcaddr', '10.0.0.1'], ['log-status', 'OK']]]);
  });

  it('an unknown --fields name is refused with one line naming it, nothing on stdout', async () => {
    const r = await runParse(['-', '--fields', 'srcaddr dstadr'], utf8('10.0.0.1 10.0.0.2\n'));
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /dstadr/);
  });

  it('two FILE arguments are a usage error', async () => {
    const r = await runParse(['a.log', 'b.log']);
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
  });

  it('an empty stdin prints nothing and exits 0', async () => {
    const r = await runParse(['-'], new Uint8Array(0));
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
  });

  it('a large file and its gzip (beyond the read and gunzip chunk sizes) print what decodeBuffer prints', async () => {
    const N = 40_000;
    const text = Array.from({ length: N }, (_, i) => (i % 997 === 5 ? line(i).replace(' 443 ', ' 99999 ') : line(i))).join('\n') + '\n';
    const expected = decodeWhole(utf8(text));
    assert.equal(expected.records.length + expected.issues.length, N);
    const plain = join(dir, 'big.log');
    const gz = join(dir, 'big.log.gz');
    writeFileSync(plain, text);
    writeFileSync(gz, gzipSync(text));
    for (const file of [plain, gz]) {
      const r = await runParse([file]);
      assert.equal(r.status, 0, r.stderr.slice(0, 500));
      assert.deepEqual(lines(r.stderr), expected.issues, `${file}: stderr`);
      const out = lines(r.stdout);
      assert.equal(out.length, expected.records.length, `${file}: record count`);
      assert.deepEqual(out, expected.records, `${file}: records`);
    }
  });

  it('the bundled sample decodes; its issues are `line N: reason` lines', async () => {
    const r = await runParse([new URL('../../../samples/vpc-flow-v2.log', import.meta.url).pathname]);
    assert.equal(r.status, 0, r.stderr);
    for (const l of lines(r.stderr)) assert.match(l, /^line \d+: \S/);
    assert.ok(lines(r.stdout).length > 0);
  });
});
