// The daemon log: JSON lines a log shipper can parse (level, time, msg, the event's fields) and plain
// lines for a terminal, from the same calls; bad --log-format / --log-level values name the fix.

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { checkLogLevel, createLog, resolveLogFormat } from '../../src/daemon/log.js';
import { DredgeError } from '../../src/errors.js';

function sink(isTTY = false): Writable & { isTTY: boolean; text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  }) as Writable & { isTTY: boolean; text: () => string };
  w.isTTY = isTTY;
  w.text = () => chunks.join('');
  return w;
}

describe('daemon log', () => {
  it('json: one object per line with level, ISO time, msg and the event fields', () => {
    const out = sink();
    const log = createLog({ format: 'json', stream: out });
    log.info({ event: 'summary', flows: 12, malformed: 1 }, '12 flows, 1 malformed');
    log.warn({ event: 'malformed', source: 'a.log', line: 3 }, 'a.log:3: 5 fields, want 14');
    log.debug({ event: 'hidden' }, 'below the level');
    const lines = out.text().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2);
    assert.deepStrictEqual({ ...lines[0], time: undefined, pid: undefined }, { level: 30, time: undefined, pid: undefined, name: 'dredge run', event: 'summary', flows: 12, malformed: 1, msg: '12 flows, 1 malformed' });
    assert.match(String(lines[0]!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(lines[0]!.pid, process.pid);
    assert.equal(lines[1]!.level, 40);
    assert.equal(lines[1]!.line, 3);
  });

  it('pretty: the sentence after the name, warnings and errors tagged; a terminal line clears the progress bar', () => {
    const out = sink();
    const log = createLog({ format: 'pretty', stream: out });
    log.info({ event: 'start' }, 'reading 2 files');
    log.warn('index inputs did not load');
    log.error({ err: new Error('x') }, 'the sink failed');
    assert.equal(out.text(), 'dredge run: reading 2 files\ndredge run: warning: index inputs did not load\ndredge run: error: the sink failed\n');
    const tty = sink(true);
    createLog({ format: 'pretty', stream: tty }).info('hello');
    assert.equal(tty.text(), '\r\x1b[Kdredge run: hello\n');
  });

  it('without a format: plain on a terminal, JSON on a pipe', () => {
    const tty = sink(true);
    createLog({ stream: tty }).info('x');
    assert.equal(tty.text(), '\r\x1b[Kdredge run: x\n');
    const pipe = sink(false);
    createLog({ stream: pipe }).info('x');
    assert.equal((JSON.parse(pipe.text()) as { msg: string }).msg, 'x');
    assert.equal(resolveLogFormat(undefined, true), 'pretty');
    assert.equal(resolveLogFormat(undefined, false), 'json');
  });

  it('a bad format or level names the key and the values that work', () => {
    assert.throws(() => resolveLogFormat('yaml', false), (e: unknown) => e instanceof DredgeError && /--log-format: "yaml".*json.*pretty/.test(e.message));
    assert.throws(() => checkLogLevel('loud'), (e: unknown) => e instanceof DredgeError && /--log-level: "loud".*info/.test(e.message));
    assert.equal(checkLogLevel(undefined), 'info');
  });
});
