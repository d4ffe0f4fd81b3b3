// CloudWatch Logs subscription envelopes (gzip JSON with `logEvents`): detected by content, every event's
// `message` decoded as one flow-log line in the configured format (v2 default without --fields), however
// the JSON is laid out; messages with JSON escapes decode exactly like their unescaped text;
// CONTROL_MESSAGE envelopes yield nothing; JSON that is not an envelope is an error, not records.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { DredgeError } from '../../src/errors.js';
import { decodeChunked, decodeWhole, entries, lines, runParse, utf8 } from './helpers.js';

const line = (i: number) => `2 123456789012 eni-0a1b2c3d4e5f60718 10.0.0.${i} 10.0.1.${i} ${40000 + i} 443 6 ${i} ${i * 100} 1700000000 1700000060 ACCEPT OK`;
const LINES = Array.from({ length: 6 }, (_, i) => line(i + 1));

/** What the same messages decode to as plain text (the reference for every envelope below). */
const asText = (messages: string[], fields?: string) => decodeWhole(utf8(messages.join('\n') + '\n'), fields === undefined ? {} : { fields });

function dataEnvelope(messages: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    messageType: 'DATA_MESSAGE',
    owner: '123456789012',
    logGroup: 'vpc-flow-logs',
    logStream: 'eni-0a1b2c3d4e5f60718-all',
    subscriptionFilters: ['dredge'],
    logEvents: messages.map((message, k) => ({ id: String(36000000000000000000000000000000000000000000000000000000n + BigInt(k)), timestamp: 1700000000000 + k, message })),
    ...extra,
  };
}

const CONTROL = {
  messageType: 'CONTROL_MESSAGE',
  owner: 'CloudwatchLogs',
  logGroup: '',
  logStream: '',
  subscriptionFilters: [],
  logEvents: [{ id: '', timestamp: 1700000000000, message: 'CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.' }],
};

describe('CloudWatch envelopes: every event message is a record', () => {
  it('decodes gzip and already-inflated envelopes alike', () => {
    const json = JSON.stringify(dataEnvelope(LINES));
    const expected = asText(LINES).records;
    assert.equal(expected.length, LINES.length);
    assert.deepEqual(decodeWhole(gzipSync(json)).records, expected);
    assert.deepEqual(decodeWhole(utf8(json)).records, expected);
  });

  it('whatever the key order, spacing and extra keys (pretty-printed, message not last, extractedFields)', () => {
    const events = LINES.map((message, k) => ({ message, id: String(k), extractedFields: { srcaddr: 'x', nested: [1, { message: 'not this' }] }, timestamp: k }));
    const json = JSON.stringify({ logEvents: events, owner: '1', messageType: 'DATA_MESSAGE', note: '{"message":"2 fake"}', logGroup: 'a "quoted" \\ name' }, null, 2);
    const d = decodeWhole(gzipSync(json));
    assert.deepEqual(d.issues, []);
    assert.deepEqual(d.records, asText(LINES).records);
  });

  it('several envelopes in one gzip member, back to back or separated by whitespace', () => {
    const a = JSON.stringify(dataEnvelope(LINES.slice(0, 3)));
    const b = JSON.stringify(dataEnvelope(LINES.slice(3)));
    for (const joined of [a + b, a + '\n' + b + '\n', '  ' + a + '\r\n\t' + b]) {
      assert.deepEqual(decodeWhole(gzipSync(joined)).records, asText(LINES).records);
    }
  });

  it('with --fields, messages are read in that format (the Kinesis path has no header line)', () => {
    const fields = 'srcaddr dstaddr bytes action';
    const msgs = ['10.0.0.1 10.0.0.2 100 ACCEPT', '10.0.0.3 10.0.0.4 - REJECT'];
    const d = decodeWhole(gzipSync(JSON.stringify(dataEnvelope(msgs))), { fields });
    assert.deepEqual(d.records.map(entries), [
      [['srcaddr', '10.0.0.1'], ['dstaddr', '10.0.0.2'], ['bytes', 100], ['action', 'ACCEPT']],
      [['srcaddr', '10.0.0.3'], ['dstaddr', '10.0.0.4'], ['bytes', null], ['action', 'REJECT']],
    ]);
  });

  it('an empty logEvents array yields no records and no error', () => {
    const d = decodeWhole(gzipSync(JSON.stringify(dataEnvelope([]))));
    assert.deepEqual([d.records, d.issues, d.error], [[], [], null]);
  });

  it('CONTROL_MESSAGE yields no records and no issues, before or between data envelopes', () => {
    const d = decodeWhole(Buffer.concat([gzipSync(JSON.stringify(CONTROL)), gzipSync(JSON.stringify(dataEnvelope(LINES.slice(0, 2)))), gzipSync(JSON.stringify(CONTROL)), gzipSync(JSON.stringify(dataEnvelope(LINES.slice(2))))]));
    assert.equal(d.error, null);
    assert.deepEqual(d.issues, []);
    assert.deepEqual(d.records, asText(LINES).records);
  });

  it('a message with a trailing newline (as some shippers write it) is the same record', () => {
    const d = decodeWhole(gzipSync(JSON.stringify(dataEnvelope(LINES.map((l) => l + '\n')))));
    assert.deepEqual(d.issues, []);
    assert.deepEqual(d.records, asText(LINES).records);
  });
});

describe('messages holding JSON escapes decode exactly like their plain text', () => {
  const escapeAll = (s: string) => [...s].map((c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')).join('');

  it('\\u0020 for spaces, \\/ for slashes, \\u002d for a dash, every character escaped', () => {
    const fields = 'version srcaddr dstaddr action log-status ecs-task-arn';
    const plain = ['7 10.0.0.1 10.0.0.2 ACCEPT OK arn:aws:ecs:us-east-1:123456789012:task/prod/abc', '7 10.0.0.3 10.0.0.4 REJECT OK -', '7 ::1 10.0.0.6 ACCEPT NODATA arn:aws:ecs:us-east-1:123456789012:task/prod/def'];
    const json =
      '{"messageType":"DATA_MESSAGE","logEvents":[' +
      `{"id":"1","message":${JSON.stringify(plain[0]).replace(/ /g, '\\u0020').replace(/\//g, '\\/')}},` +
      `{"id":"2","message":${JSON.stringify(plain[1]).replace(/-/g, '\\u002d')}},` +
      `{"id":"3","message":"${escapeAll(plain[2] as string)}"}` +
      ']}';
    const d = decodeWhole(gzipSync(json), { fields });
    assert.deepEqual(d.issues, []);
    assert.deepEqual(d.records, asText(plain, fields).records);
  });

  it('a non-ASCII character escaped (\\u00e9) and written raw give the same string', () => {
    const fields = 'srcaddr ecs-service-name';
    const raw = '{"messageType":"DATA_MESSAGE","logEvents":[{"message":"10.0.0.1 café"}]}';
    const escaped = '{"messageType":"DATA_MESSAGE","logEvents":[{"message":"10.0.0.1 caf\\u00e9"}]}';
    const a = decodeWhole(gzipSync(raw), { fields });
    const b = decodeWhole(gzipSync(escaped), { fields });
    assert.deepEqual(a.records.map(entries), [[['srcaddr', '10.0.0.1'], ['ecs-service-name', 'café']]]);
    assert.deepEqual(b.records, a.records);
  });

  it('property: any message escaped any way decodes like the plain message', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.array(fc.boolean(), { maxLength: 140 })), { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 4 }), (spec, sizes) => {
        const plain = spec.map(([i]) => LINES[i - 1] as string);
        const events = spec.map(([i, mask]) => {
          const msg = LINES[i - 1] as string;
          const body = [...msg].map((c, k) => (mask[k] === true ? '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0') : c === '/' ? '\\/' : c)).join('');
          return `{"id":"${i}","timestamp":1,"message":"${body}"}`;
        });
        const json = `{"messageType":"DATA_MESSAGE","logEvents":[${events.join(',')}]}`;
        const expected = asText(plain).records;
        assert.deepEqual(decodeWhole(gzipSync(json)).records, expected);
        assert.deepEqual(decodeChunked(utf8(json), sizes).records, expected);
      }),
      { numRuns: 200 },
    );
  });
});

describe('JSON that is not a CloudWatch envelope', () => {
  for (const [what, json] of [
    ['an object without logEvents', '{"hello":"world"}'],
    ['a JSON array of lines', '["2 123456789012 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK"]'],
    ['logEvents that is not an array', '{"messageType":"DATA_MESSAGE","logEvents":{"message":"x"}}'],
    ['an event message that is a number', '{"messageType":"DATA_MESSAGE","logEvents":[{"message":42}]}'],
  ] as const) {
    it(`${what}: no record, a DredgeError (decodeBuffer) or a malformed event, never a crash`, () => {
      const d = decodeWhole(gzipSync(json));
      assert.deepEqual(d.records, []);
      assert.ok(d.error instanceof DredgeError || d.issues.length > 0, `an error or an issue; got ${String(d.error)} / ${JSON.stringify(d.issues)}`);
      if (d.error !== null) assert.ok(d.error instanceof DredgeError, String(d.error));
    });
  }

  it('dredge parse on JSON without logEvents: nothing on stdout, one line on stderr, non-zero exit', async () => {
    const r = await runParse(['-'], gzipSync('{"hello":"world"}\n'));
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
    assert.equal(lines(r.stderr).length, 1, r.stderr);
  });
});
