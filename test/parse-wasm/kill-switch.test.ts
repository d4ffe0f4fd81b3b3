// Which scanner a decoder uses: DREDGE_WASM=0 is a kill switch that wins over everything (the module
// is then never even instantiated), an explicit `scanner` option comes next, DREDGE_WASM=1 opts in,
// and the default is DEFAULT_SCANNER. Both choices print the same through the real CLI.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { FlowDecoder } from '../../src/parse/decoder.js';
import { DEFAULT_SCANNER, resolveScanner } from '../../src/parse/wasm/load.js';

const saved = process.env.DREDGE_WASM;
after(() => {
  if (saved === undefined) delete process.env.DREDGE_WASM;
  else process.env.DREDGE_WASM = saved;
});

function decoderWith(env: string | undefined, scanner?: 'js' | 'wasm'): FlowDecoder {
  if (env === undefined) delete process.env.DREDGE_WASM;
  else process.env.DREDGE_WASM = env;
  return new FlowDecoder({ scanner, onBatch: () => {}, onIssue: () => {} });
}

describe('scanner selection', () => {
  it('DREDGE_WASM=0 selects JS even when the option asks for wasm', () => {
    assert.equal(decoderWith('0').scanner, 'js');
    assert.equal(decoderWith('0', 'wasm').scanner, 'js');
    assert.equal(resolveScanner('wasm'), 'js');
  });

  it('the option decides otherwise; DREDGE_WASM=1 opts in; the default is DEFAULT_SCANNER', () => {
    assert.equal(decoderWith(undefined, 'js').scanner, 'js');
    assert.equal(decoderWith('1', 'js').scanner, 'js');
    assert.equal(decoderWith(undefined, 'wasm').scanner, 'wasm');
    assert.equal(decoderWith('1').scanner, 'wasm');
    assert.equal(decoderWith(undefined).scanner, DEFAULT_SCANNER);
  });

  it('with DREDGE_WASM=0 the module is never instantiated (fresh process)', () => {
    const decoder = new URL('../../src/parse/decoder.js', import.meta.url).href;
    const load = new URL('../../src/parse/wasm/load.js', import.meta.url).href;
    const script = `
      const { FlowDecoder } = await import(${JSON.stringify(decoder)});
      const { wasmInstantiated } = await import(${JSON.stringify(load)});
      let rows = 0;
      const d = new FlowDecoder({ onBatch: (b) => { rows += b.length; }, onIssue: () => {} });
      d.push(new TextEncoder().encode('2 1 eni-1 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK\\n'));
      d.end();
      console.log(JSON.stringify({ scanner: d.scanner, instantiated: wasmInstantiated(), rows }));`;
    const run = (env: string) => {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, DREDGE_WASM: env }, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { scanner: string; instantiated: boolean; rows: number };
    };
    assert.deepEqual(run('0'), { scanner: 'js', instantiated: false, rows: 1 });
    assert.deepEqual(run('1'), { scanner: 'wasm', instantiated: true, rows: 1 });
  });

  it('dredge parse prints the same with DREDGE_WASM=0 and =1', () => {
    const bin = new URL('../../../bin/dredge.js', import.meta.url).pathname;
    const input = [
      'version srcaddr dstaddr srcport dstport protocol action log-status',
      '2 10.0.0.1 10.0.0.2 443 49152 6 ACCEPT OK',
      '2 2600:1f18::1 - - - - - NODATA',
      '2 10.0.0.1 10.0.0.999 1 2 6 ACCEPT OK',
      '',
    ].join('\n');
    const run = (env: string) => spawnSync(process.execPath, [bin, 'parse', '-'], { input, env: { ...process.env, DREDGE_WASM: env }, encoding: 'utf8' });
    const js = run('0');
    const wasm = run('1');
    assert.equal(js.status, 0, js.stderr);
    assert.equal(wasm.stdout, js.stdout);
    assert.equal(wasm.stderr, js.stderr);
    assert.equal(js.stdout.trim().split('\n').length, 2);
  });
});
