// Hostile and damaged input: a malformed line is reported as `line N: reason` (N counts physical lines of
// the decompressed text, header and blank lines included; `event N` inside CloudWatch envelopes), it
// yields no record, and the lines around it are kept. A truncated gzip stream or envelope prints the
// records decoded before the damage, then one line of error, exit 1. Input that cannot be read at all
// (missing, a directory, Parquet) exits non-zero with one line on stderr and nothing on stdout.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DredgeError } from '../../src/errors.js';
import { decodeChunked, decodeWhole, entries, lines, runParse, utf8 } from './helpers.js';
import { envelopeJson as envelope } from './helpers.js';

const V2_HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';

/** A valid v2 line; `over` replaces fields by name. */
function v2(i: number, over: Record<string, string> = {}): string {
  const f: Record<string, string> = {
    version: '2',
    'account-id': '123456789012',
    'interface-id': 'eni-0a1b2c3d4e5f60718',
    srcaddr: `10.0.0.${i}`,
    dstaddr: `10.0.1.${i}`,
    srcport: String(40000 + i),
    dstport: '443',
    protocol: '6',
    packets: String(i),
    bytes: String(i * 100),
    start: '1700000000',
    end: '1700000060',
    action: 'ACCEPT',
    'log-status': 'OK',
    ...over,
  };
  return V2_HEADER.split(' ').map((k) => f[k]).join(' ');
}

/** The record `dredge parse` prints for v2(i) (hand-written shape, integers as numbers). */
function v2Record(i: number): Record<string, unknown> {
  return {
    version: 2,
    'account-id': '123456789012',
    'interface-id': 'eni-0a1b2c3d4e5f60718',
    srcaddr: `10.0.0.${i}`,
    dstaddr: `10.0.1.${i}`,
    srcport: 40000 + i,
    dstport: 443,
    protocol: 6,
    packets: i,
    bytes: i * 100,
    start: 1700000000,
    end: 1700000060,
    action: 'ACCEPT',
    'log-status': 'OK',
  };
}

const asObjects = (records: string[]) => records.map((r) => Object.fromEntries(entries(r)));

/** One bad line between good ones, with a header and a blank line before it: the bad one is line 4. */
function sandwich(bad: string): string {
  return [V2_HEADER, v2(1), '', bad, v2(5)].join('\n') + '\n';
}

interface BadCase {
  what: string;
  line: string;
  /** Words the reason must contain (the field at fault, the token as written). */
  mentions: string[];
}

const BAD: BadCase[] = [
  { what: 'too few fields', line: v2(4).split(' ').slice(0, 13).join(' '), mentions: ['14', '13'] },
  { what: 'too many fields', line: v2(4) + ' extra', mentions: ['14', '15'] },
  { what: 'one field only', line: 'garbage', mentions: [] },
  { what: 'a letter in an integer', line: v2(4, { bytes: '4O0' }), mentions: ['bytes', '4O0'] },
  { what: 'a negative integer', line: v2(4, { packets: '-3' }), mentions: ['packets', '-3'] },
  { what: 'a signed integer', line: v2(4, { packets: '+3' }), mentions: ['packets', '+3'] },
  { what: 'a decimal fraction', line: v2(4, { bytes: '1.5' }), mentions: ['bytes', '1.5'] },
  { what: 'an exponent', line: v2(4, { bytes: '1e3' }), mentions: ['bytes', '1e3'] },
  { what: 'a hex integer', line: v2(4, { start: '0x10' }), mentions: ['start', '0x10'] },
  { what: 'non-ASCII digits', line: v2(4, { version: '٢' }), mentions: ['version'] },
  { what: 'a double dash as null', line: v2(4, { packets: '--' }), mentions: ['packets'] },
  { what: 'an integer of 2^53', line: v2(4, { packets: '9007199254740992' }), mentions: ['packets', '9007199254740992'] },
  { what: 'an integer of 20 digits', line: v2(4, { bytes: '99999999999999999999' }), mentions: ['bytes'] },
  { what: 'a time beyond 2^53-1', line: v2(4, { end: '18446744073709551616' }), mentions: ['end'] },
  { what: 'a port of 65536', line: v2(4, { srcport: '65536' }), mentions: ['srcport', '65536'] },
  { what: 'a port of 100000', line: v2(4, { dstport: '100000' }), mentions: ['dstport', '100000'] },
  { what: 'a protocol of 256', line: v2(4, { protocol: '256' }), mentions: ['protocol', '256'] },
  { what: 'a protocol of 1000', line: v2(4, { protocol: '1000' }), mentions: ['protocol', '1000'] },
  { what: 'an IPv4 octet over 255', line: v2(4, { srcaddr: '256.0.0.1' }), mentions: ['srcaddr', '256.0.0.1'] },
  { what: 'an IPv4 of three octets', line: v2(4, { srcaddr: '10.0.1' }), mentions: ['srcaddr', '10.0.1'] },
  { what: 'an IPv4 of five octets', line: v2(4, { dstaddr: '10.0.0.1.5' }), mentions: ['dstaddr', '10.0.0.1.5'] },
  { what: 'an IPv4 with an empty octet', line: v2(4, { dstaddr: '10..0.1' }), mentions: ['dstaddr'] },
  { what: 'an IPv4 with a prefix length', line: v2(4, { dstaddr: '10.0.0.0/8' }), mentions: ['dstaddr'] },
  { what: 'an IPv4 with a trailing dot', line: v2(4, { dstaddr: '10.0.0.1.' }), mentions: ['dstaddr'] },
  { what: 'a host name', line: v2(4, { dstaddr: 'example.com' }), mentions: ['dstaddr', 'example.com'] },
  { what: 'an IPv6 with a triple colon', line: v2(4, { dstaddr: '2001:db8:::1' }), mentions: ['dstaddr', '2001:db8:::1'] },
  { what: 'an IPv6 with two ::', line: v2(4, { dstaddr: '2001::db8::1' }), mentions: ['dstaddr'] },
  { what: 'an IPv6 of nine groups', line: v2(4, { srcaddr: '1:2:3:4:5:6:7:8:9' }), mentions: ['srcaddr'] },
  { what: 'an IPv6 of seven groups', line: v2(4, { srcaddr: '1:2:3:4:5:6:7' }), mentions: ['srcaddr'] },
  { what: 'an IPv6 group of five digits', line: v2(4, { srcaddr: '12345::1' }), mentions: ['srcaddr'] },
  { what: 'an IPv6 with a non-hex digit', line: v2(4, { srcaddr: 'fe80::g1' }), mentions: ['srcaddr'] },
  { what: 'an IPv6 with a zone', line: v2(4, { srcaddr: 'fe80::1%eth0' }), mentions: ['srcaddr'] },
  { what: 'an IPv4-mapped IPv6 with a bad octet', line: v2(4, { srcaddr: '::ffff:10.0.0.256' }), mentions: ['srcaddr'] },
  { what: 'a lone colon', line: v2(4, { srcaddr: ':' }), mentions: ['srcaddr'] },
  { what: 'an unknown action', line: v2(4, { action: 'ALLOW' }), mentions: ['action', 'ALLOW'] },
  { what: 'a lower-case action', line: v2(4, { action: 'accept' }), mentions: ['action', 'accept'] },
  { what: 'an action with a suffix', line: v2(4, { action: 'ACCEPTED' }), mentions: ['action', 'ACCEPTED'] },
  { what: 'an unknown log-status', line: v2(4, { 'log-status': 'FAILED' }), mentions: ['log-status', 'FAILED'] },
  { what: 'a lower-case log-status', line: v2(4, { 'log-status': 'ok' }), mentions: ['log-status', 'ok'] },
  { what: 'tab separators', line: v2(4).replace(/ /g, '\t'), mentions: [] },
  { what: 'one tab among spaces', line: v2(4).replace(' 443 ', '\t443 '), mentions: [] },
  { what: 'a NUL byte', line: v2(4).replace('eni-', 'eni\u0000'), mentions: [] },
  { what: 'control bytes only', line: '\u0001\u0002\u0003\u0004\u0005', mentions: [] },
  { what: 'a form feed', line: v2(4, { srcaddr: '10.0.0.4\f' }), mentions: [] },
];

describe('a malformed line is reported with its line number and reason, and the lines around it are kept', () => {
  for (const c of BAD) {
    it(c.what, () => {
      const d = decodeWhole(utf8(sandwich(c.line)));
      assert.equal(d.error, null);
      assert.equal(d.issues.length, 1, `one issue, got ${JSON.stringify(d.issues)}`);
      const issue = d.issues[0] as string;
      assert.match(issue, /^line 4: \S/);
      for (const word of c.mentions) assert.ok(issue.includes(word), `reason names ${JSON.stringify(word)}: ${issue}`);
      assert.deepEqual(asObjects(d.records), [v2Record(1), v2Record(5)]);
    });
  }

  it('binary garbage (every byte value, no newline among them) is one malformed line', () => {
    const junk = new Uint8Array(256 * 4);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 37 + 11) & 0xff;
    const cleaned = junk.map((b) => (b === 10 ? 0 : b));
    const good1 = utf8(v2(1) + '\n');
    const good5 = utf8('\n' + v2(5) + '\n');
    const input = new Uint8Array(good1.length + cleaned.length + good5.length);
    input.set(good1, 0);
    input.set(cleaned, good1.length);
    input.set(good5, good1.length + cleaned.length);
    const d = decodeWhole(input);
    assert.equal(d.error, null);
    assert.equal(d.issues.length, 1, JSON.stringify(d.issues));
    assert.match(d.issues[0] as string, /^line 2: /);
    assert.deepEqual(asObjects(d.records), [v2Record(1), v2Record(5)]);
  });

  it('an overlong line is malformed (--max-line-bytes), the next line is decoded', () => {
    const long = v2(4, { 'interface-id': 'eni-' + 'a'.repeat(500) });
    const d = decodeWhole(utf8(sandwich(long)), { maxLineBytes: 256 });
    assert.equal(d.issues.length, 1, JSON.stringify(d.issues));
    assert.match(d.issues[0] as string, /^line 4: .*256/);
    assert.deepEqual(asObjects(d.records), [v2Record(1), v2Record(5)]);
  });

  it('an overlong line split across many pushes is one issue, with the right number, and the next line is decoded', () => {
    const long = 'x'.repeat(10_000);
    const input = utf8(sandwich(long));
    const d = decodeChunked(input, [64, 1000, 3], { maxLineBytes: 256 });
    assert.equal(d.error, null);
    assert.deepEqual(d.issues.map((i) => i.replace(/:.*/, '')), ['line 4']);
    assert.deepEqual(asObjects(d.records), [v2Record(1), v2Record(5)]);
  });

  it('a line that is only spaces, or only a CR, is blank (tolerated), yet counted in the numbering', () => {
    const text = [v2(1), '   ', '\r', '', '  \r', v2(2, { action: 'DENY' }), v2(3)].join('\n');
    const d = decodeWhole(utf8(text));
    assert.deepEqual(d.issues.map((i) => i.replace(/:.*/, '')), ['line 6']);
    assert.deepEqual(asObjects(d.records), [v2Record(1), v2Record(3)]);
  });

  it('a `-` integer, port, protocol, address, action or status is null, not malformed', () => {
    const all = V2_HEADER.split(' ').map((k) => (k === 'version' || k === 'account-id' ? (k === 'version' ? '2' : '123456789012') : '-'));
    const d = decodeWhole(utf8(all.join(' ') + '\n'));
    assert.deepEqual(d.issues, []);
    assert.equal(d.records.length, 1);
  });
});

describe('line numbers count physical lines of the decompressed text', () => {
  const text =
    [
      V2_HEADER, // 1
      '', // 2
      v2(1), // 3
      V2_HEADER, // 4: a repeated header (concatenated S3 objects) is skipped, and counted
      '   ', // 5
      v2(2, { srcport: '70000' }), // 6
      'version srcaddr dstaddr action', // 7: switches the format
      '2 10.0.0.8 10.0.1.8 ACCEPT', // 8
      '2 10.0.0.9 10.0.1.9 ACCEPT OK', // 9: five tokens for four fields
      '', // 10
      '2 10.0.0.11 10.0.1.11 MAYBE', // 11
    ].join('\r\n') + '\r\n';

  const expectIssues = (issues: string[]) => assert.deepEqual(issues.map((i) => i.replace(/:.*/, '')), ['line 6', 'line 9', 'line 11']);

  it('plain text with CRLF, blank lines and header lines', () => {
    const d = decodeWhole(utf8(text));
    expectIssues(d.issues);
    assert.deepEqual(asObjects(d.records), [v2Record(1), { version: 2, srcaddr: '10.0.0.8', dstaddr: '10.0.1.8', action: 'ACCEPT' }]);
  });

  it('gzip, split into several members mid-line', () => {
    const b = Buffer.from(text);
    const gz = Buffer.concat([gzipSync(b.subarray(0, 100)), gzipSync(b.subarray(100, 333)), gzipSync(b.subarray(333))]);
    const d = decodeWhole(gz);
    assert.equal(d.error, null);
    expectIssues(d.issues);
    assert.equal(d.records.length, 2);
  });

  it('the streaming decoder, whatever the chunk sizes', () => {
    for (const sizes of [[1], [2, 3], [17], [64, 5, 300]]) {
      const d = decodeChunked(utf8(text), sizes);
      expectIssues(d.issues);
      assert.equal(d.records.length, 2, `chunks ${sizes.join(',')}`);
    }
  });

  it('dredge parse prints them on stderr as `line N: reason`, and exits 0', async () => {
    const r = await runParse(['-'], utf8(text));
    assert.equal(r.status, 0);
    const errs = lines(r.stderr);
    assert.equal(errs.length, 3, r.stderr);
    assert.match(errs[0] as string, /^line 6: \S.*srcport/);
    assert.match(errs[1] as string, /^line 9: \S/);
    assert.match(errs[2] as string, /^line 11: \S.*MAYBE/);
    assert.equal(lines(r.stdout).length, 2);
  });
});


describe('inside CloudWatch envelopes, errors name the event', () => {
  it('event N counts the events of the input, across envelopes and gzip members', () => {
    const gz = Buffer.concat([gzipSync(envelope([v2(1), v2(2, { protocol: '300' })])), gzipSync(envelope([v2(3), v2(4, { action: 'NOPE' }), v2(5)], 2))]);
    const d = decodeWhole(gz);
    assert.equal(d.error, null);
    assert.equal(d.issues.length, 2, JSON.stringify(d.issues));
    assert.match(d.issues[0] as string, /^event 2: .*protocol/);
    assert.match(d.issues[1] as string, /^event 4: .*NOPE/);
    assert.deepEqual(asObjects(d.records), [v2Record(1), v2Record(3), v2Record(5)]);
  });

  it('an escaped message before the bad one keeps the numbering', () => {
    const json = envelope([v2(1).replace(/ /g, '\u0001'), v2(2), v2(3, { srcaddr: '1.2.3' })]).replace(/\\u0001/g, '\\u0020');
    const d = decodeWhole(gzipSync(json));
    assert.equal(d.issues.length, 1, JSON.stringify(d.issues));
    assert.match(d.issues[0] as string, /^event 3: .*srcaddr/);
    assert.deepEqual(asObjects(d.records), [v2Record(1), v2Record(2)]);
  });

  it('dredge parse prints `event N: reason`', async () => {
    const r = await runParse(['-'], gzipSync(envelope([v2(1), 'two words'])));
    assert.equal(r.status, 0);
    assert.match(r.stderr, /^event 2: \S[^\n]*\n$/);
    assert.deepEqual(lines(r.stdout).map((l) => Object.fromEntries(entries(l))), [v2Record(1)]);
  });
});

describe('damaged input: the records before the damage, then one line of error, exit 1', () => {
  const N = 3000;
  const full = Array.from({ length: N }, (_, i) => v2((i % 250) + 1, { start: String(1700000000 + i) })).join('\n') + '\n';
  const fullRecords = lines(full).map((l) => l);
  const expectedAll = decodeWhole(utf8(full)).records;

  /** stdout must be a prefix of the full output: never a record cut short and decoded anyway. */
  function assertPrefix(records: string[], atLeast: number): void {
    assert.ok(records.length >= atLeast, `at least ${atLeast} records before the damage, got ${records.length}`);
    assert.ok(records.length < fullRecords.length, 'fewer records than the whole input');
    assert.deepEqual(records.map(entries), expectedAll.slice(0, records.length).map(entries));
  }

  it('sanity: the undamaged input decodes entirely', () => {
    assert.equal(expectedAll.length, N);
  });

  const gz = gzipSync(full);
  const cut = gz.subarray(0, Math.floor(gz.length * 0.6));
  const firstMember = gzipSync(lines(full).slice(0, 1000).join('\n') + '\n');
  const twoMembers = Buffer.concat([firstMember, gzipSync(lines(full).slice(1000).join('\n') + '\n')]);
  const cutSecond = twoMembers.subarray(0, firstMember.length + Math.floor((twoMembers.length - firstMember.length) / 2));

  it('truncated gzip (decodeBuffer): DREDGE_ERR_TRUNCATED after the good records, no record cut short', () => {
    const d = decodeWhole(cut);
    assert.ok(d.error instanceof DredgeError, `a DredgeError, got ${String(d.error)}`);
    assert.equal(d.error.code, 'DREDGE_ERR_TRUNCATED');
    assert.match(d.error.message, /truncat/i);
    assert.deepEqual(d.issues, [], 'the partial last line is not reported as a malformed line');
    assertPrefix(d.records, 1);
  });

  it('truncated second gzip member (decodeBuffer): every record of the first member is kept', () => {
    const d = decodeWhole(cutSecond);
    assert.ok(d.error instanceof DredgeError);
    assertPrefix(d.records, 1000);
  });

  for (const [what, input, atLeast] of [
    ['truncated gzip', cut, 1],
    ['truncated second gzip member', cutSecond, 1000],
  ] as const) {
    it(`${what} (dredge parse): records on stdout, one line on stderr, exit 1`, async () => {
      const r = await runParse(['-'], input);
      assert.equal(r.status, 1, r.stderr);
      assert.equal(lines(r.stderr).length, 1, `one line of error: ${r.stderr}`);
      assert.match(r.stderr, /truncat/i);
      assert.ok(r.stdout.endsWith('\n'));
      assertPrefix(lines(r.stdout), atLeast);
    });
  }

  const env1 = envelope(lines(full).slice(0, 10));
  const env2 = envelope(lines(full).slice(10, 20), 10);
  const cutEnvelope = env1 + env2.slice(0, Math.floor(env2.length / 2));

  it('truncated envelope JSON inside a complete gzip (decodeBuffer): the whole first envelope, then DREDGE_ERR_TRUNCATED', () => {
    const d = decodeWhole(gzipSync(cutEnvelope));
    assert.ok(d.error instanceof DredgeError, `a DredgeError, got ${String(d.error)}`);
    assert.equal(d.error.code, 'DREDGE_ERR_TRUNCATED');
    assertPrefix(d.records, 10);
  });

  it('truncated gzip member of an envelope (decodeBuffer)', () => {
    const both = Buffer.concat([gzipSync(env1), gzipSync(env2)]);
    const d = decodeWhole(both.subarray(0, both.length - 30));
    assert.ok(d.error instanceof DredgeError, `a DredgeError, got ${String(d.error)}`);
    assertPrefix(d.records, 10);
  });

  it('truncated envelope (dredge parse): records of complete envelopes, one line on stderr, exit 1', async () => {
    const r = await runParse(['-'], gzipSync(cutEnvelope));
    assert.equal(r.status, 1, r.stderr);
    assert.equal(lines(r.stderr).length, 1, `one line of error: ${r.stderr}`);
    assertPrefix(lines(r.stdout), 10);
  });

  it('truncated envelope gzip member (dredge parse)', async () => {
    const both = Buffer.concat([gzipSync(env1), gzipSync(env2)]);
    const r = await runParse(['-'], both.subarray(0, both.length - 30));
    assert.equal(r.status, 1, r.stderr);
    assert.equal(lines(r.stderr).length, 1, `one line of error: ${r.stderr}`);
    assertPrefix(lines(r.stdout), 10);
  });
});

describe('input that cannot be read: non-zero exit, one line on stderr, nothing on stdout', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dredge-malformed-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const parquet = join(dir, 'flows.parquet');
  writeFileSync(parquet, Buffer.concat([Buffer.from('PAR1'), Buffer.alloc(64, 1), Buffer.from('PAR1')]));
  const disguised = join(dir, 'flows.log');
  writeFileSync(disguised, Buffer.concat([Buffer.from('PAR1'), Buffer.from(v2(1) + '\n')]));

  for (const [what, path] of [
    ['a missing file', join(dir, 'no-such-file.log')],
    ['a directory', dir],
    ['a Parquet file', parquet],
    ['a Parquet file named .log (detected by content)', disguised],
  ] as const) {
    it(what, async () => {
      const r = await runParse([path]);
      assert.notEqual(r.status, 0);
      assert.equal(r.signal, null);
      assert.equal(r.stdout, '');
      assert.equal(lines(r.stderr).length, 1, `one line: ${JSON.stringify(r.stderr)}`);
      assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
    });
  }

  it('Parquet bytes in-process: decodeBuffer throws a DredgeError and emits nothing', () => {
    const d = decodeWhole(Buffer.concat([Buffer.from('PAR1'), Buffer.from(v2(1) + '\n')]));
    assert.ok(d.error instanceof DredgeError);
    assert.deepEqual(d.records, []);
  });
});
