import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DredgeError } from '../../src/errors.js';
import { DEFAULT_V2_FIELDS, FlowFormat, KIND_ADDR, KIND_INT, KIND_TEXT } from '../../src/parse/fields.js';

describe('FlowFormat.parse', () => {
  it('accepts spaces, commas, ${…} and underscores, and recognises the v2 default', () => {
    assert.equal(FlowFormat.parse(DEFAULT_V2_FIELDS.join(' ')), FlowFormat.V2_DEFAULT);
    const f = FlowFormat.parse('${version}, srcaddr,log_status  tcp-flags');
    assert.deepEqual(f.names, ['version', 'srcaddr', 'log-status', 'tcp-flags']);
    assert.equal(f.version, 3);
  });

  it('assigns kinds and per-kind column slots in order', () => {
    const f = FlowFormat.parse('srcaddr bytes account-id dstaddr packets');
    assert.deepEqual([...f.kinds], [KIND_ADDR, KIND_INT, KIND_TEXT, KIND_ADDR, KIND_INT]);
    assert.deepEqual([...f.slots], [0, 0, 0, 1, 1]);
  });

  it('names the unknown field and suggests the nearest one', () => {
    assert.throws(() => FlowFormat.parse('version srcadr'), (e: unknown) => e instanceof DredgeError && /unknown flow-log field "srcadr".*"srcaddr"/.test(e.message));
    assert.throws(() => FlowFormat.parse('srcaddr srcaddr'), /listed twice/);
    assert.throws(() => FlowFormat.parse(' , '), /empty/);
  });

  it('reports the highest version of its fields (tgw fields are version 6)', () => {
    assert.equal(FlowFormat.parse('version ecs-task-id').version, 7);
    assert.equal(FlowFormat.parse('version reject-reason').version, 8);
    assert.equal(FlowFormat.parse('version tgw-id packets-lost-no-route').version, 6);
  });
});
