// Golden fixtures: every `<case>.log` / `<case>.log.gz` / `<case>.json.gz` in test/fixtures/parse/ is
// decoded by the real `dredge parse` (a child process) and in-process by decodeBuffer, and both must
// print exactly `<case>.expected.ndjson` (one JSON object per record, keys in format order, integers as
// numbers, `-` as null) and report exactly `<case>.expected.stderr` (absent: nothing), exit 0.
// `<case>.args` holds extra CLI arguments (e.g. --fields). Binary inputs come from make-binary-fixtures.mjs.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { FIXTURES, decodeChunked, decodeWhole, entries, lines, runParse, splitArgs, type Options } from './helpers.js';
import { gunzipSync } from 'node:zlib';

const INPUT = /^(.*)\.(log|log\.gz|json\.gz)$/;

interface Case {
  name: string;
  input: URL;
  args: string[];
  expectedStdout: string[];
  expectedStderr: string[];
}

function loadCases(): Case[] {
  const cases: Case[] = [];
  for (const file of readdirSync(FIXTURES).sort()) {
    const m = INPUT.exec(file);
    if (m === null) continue;
    const name = m[1] as string;
    const at = (suffix: string) => new URL(name + suffix, FIXTURES);
    const read = (suffix: string) => (existsSync(at(suffix)) ? readFileSync(at(suffix), 'utf8') : null);
    const expected = read('.expected.ndjson');
    if (expected === null) throw new Error(`fixture ${file} has no ${name}.expected.ndjson`);
    cases.push({
      name,
      input: new URL(file, FIXTURES),
      args: splitArgs((read('.args') ?? '').trim()),
      expectedStdout: lines(expected),
      expectedStderr: lines(read('.expected.stderr') ?? ''),
    });
  }
  return cases;
}

/** The decoder options a case's CLI arguments stand for. */
function optionsOf(args: readonly string[]): Options {
  const opts: Options = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const value = args[i + 1];
    if (a === '--fields' && value !== undefined) opts.fields = value;
    else if (a === '--max-line-bytes' && value !== undefined) opts.maxLineBytes = Number(value);
    else throw new Error(`golden .args: unsupported argument ${a}`);
    i++;
  }
  return opts;
}

function assertRecords(actual: string[], expected: string[], what: string): void {
  // Compared as ordered [key, value] pairs: exact keys, order, JSON types and values.
  assert.deepEqual(actual.map(entries), expected.map(entries), `${what}: records differ`);
}

const cases = loadCases();

describe('golden fixtures', () => {
  it('has a case for every version, encoding and layout the issue lists', () => {
    const names = cases.map((c) => c.name);
    for (const wanted of ['v2-default', 'v3-custom', 'v4-custom', 'v5-custom', 'v6-tgw', 'v7-ecs', 'v8-reject-reason', 'gzip-multi-member', 'cloudwatch-v2', 'cloudwatch-control', 'cloudwatch-escape', 'empty', 'header-only']) {
      assert.ok(names.includes(wanted), `missing golden case ${wanted}`);
    }
  });

  for (const c of cases) {
    describe(c.name, () => {
      it('dredge parse prints exactly the expected records and issues, exit 0', async () => {
        const r = await runParse([c.input.pathname, ...c.args]);
        assert.equal(r.stderr.split('\n').filter((l) => l.length > 0).join('\n'), c.expectedStderr.join('\n'), 'stderr');
        assert.equal(r.status, 0, `exit code (stderr: ${r.stderr})`);
        assert.ok(r.stdout === '' || r.stdout.endsWith('\n'), 'stdout ends with a newline');
        assert.ok(!r.stdout.includes('\n\n') && !r.stdout.startsWith('\n'), 'stdout holds no blank line');
        assertRecords(r.stdout.split('\n').slice(0, -1), c.expectedStdout, 'stdout');
      });

      it('decodeBuffer yields the same records and issues in-process', () => {
        const d = decodeWhole(readFileSync(c.input), optionsOf(c.args));
        assert.equal(d.error, null);
        assert.deepEqual(d.issues, c.expectedStderr, 'issues');
        assertRecords(d.records, c.expectedStdout, 'records');
      });

      it('the streaming FlowDecoder yields the same, fed 7-byte chunks', () => {
        let bytes: Uint8Array = readFileSync(c.input);
        if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
        const d = decodeChunked(bytes, [7], optionsOf(c.args));
        assert.equal(d.error, null);
        assert.deepEqual(d.issues, c.expectedStderr, 'issues');
        assertRecords(d.records, c.expectedStdout, 'records');
      });
    });
  }
});
