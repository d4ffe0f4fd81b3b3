// --dimensions → key plan: names, aliases, refusals with the fix, and the packing of the key words.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_DIMENSIONS, parsePortList, planKey } from '../../src/aggregate/dimensions.js';

test('the default dimensions pack into 5 key words: window, two packed words, one tuple per side', () => {
  const p = planKey(DEFAULT_DIMENSIONS);
  assert.deepEqual(p.dims.map((d) => d.name), DEFAULT_DIMENSIONS.split(','));
  assert.deepEqual(p.sideKeys, [['app', 'region', 'az'], ['app', 'region', 'az']]);
  // reasons (6 bits) + protocol (9) + dstport (17) fill word 1; action starts word 2
  assert.equal(p.keyWords, 5);
  assert.deepEqual(p.sideWord, [3, 4]);
  const small = p.dims.filter((d) => d.kind === 'small');
  assert.deepEqual(small.map((d) => d.kind === 'small' && [d.field, d.word, d.shift, d.width]), [
    ['protocol', 1, 6, 9],
    ['dstport', 1, 15, 17],
    ['action', 2, 0, 2],
  ]);
});

test('separators, aliases and AWS spellings', () => {
  const p = planKey('src.app  dst.app,src_port dst-port flow_direction traffic_path');
  assert.deepEqual(p.dims.map((d) => (d.kind === 'side' ? `${d.name}:side` : `${d.name}:${d.kind}:${d.field}`)), [
    'src.app:side',
    'dst.app:side',
    'src_port:small:srcport',
    'dst-port:small:dstport',
    'flow_direction:text:flow-direction',
    'traffic_path:int:traffic-path',
  ]);
  // text dimensions take two words (a 64-bit hash of the bytes)
  assert.equal(p.keyWords, 1 + 1 + 1 + 1 + 1 + 1 + 2);
  assert.deepEqual(planKey('src.team').sideKeys, [['team'], []], 'extra snapshot columns are dimensions too');
});

test('refusals name the fix', () => {
  const cases: [string, RegExp][] = [
    ['', /--dimensions is empty/],
    ['src.app,src.app', /listed twice/],
    ['log_status', /NODATA\/SKIPDATA records carry no flow/],
    ['bytes', /bytes is a metric/],
    ['start', /start decides the window/],
    ['srcaddr', /group by its owner instead/],
    ['src.reason', /always in every row/],
    ['dst_prot', /unknown dimension "dst_prot"/],
  ];
  for (const [spec, re] of cases) assert.throws(() => planKey(spec), re, spec);
  assert.throws(() => parsePortList('443,70000'), /"70000" is not a port number/);
  assert.deepEqual(parsePortList('443, 8443 9000'), [443, 8443, 9000]);
});
