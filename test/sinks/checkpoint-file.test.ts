// FileCheckpointStore: a missing file is an empty set, saves merge and survive a new store on the same
// file, a corrupt file is refused with a message naming it, concurrent saves all land.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DredgeError } from '../../src/errors.js';
import { DEFAULT_CHECKPOINT_FILE, FileCheckpointStore } from '../../src/sinks/checkpoint-file.js';

const root = mkdtempSync(join(tmpdir(), 'dredge-ckpt-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `d-${++dirs}`);

describe('FileCheckpointStore', () => {
  it('loads an empty map when the file does not exist (directory missing too)', async () => {
    const store = new FileCheckpointStore({ dir: freshDir() });
    assert.deepStrictEqual(await store.load(), new Map());
  });

  it('round-trips positions through a new store on the same file', async () => {
    const dir = freshDir();
    const a = new FileCheckpointStore({ dir });
    const positions = [
      { key: 'shardId-000000000001', value: '49590338271490256608559692538361571095921575989136588898' },
      { key: '/data/flows.log', value: '18230', identity: '2049:1311:90000' },
    ];
    await a.save(positions);
    assert.equal(a.path, join(dir, DEFAULT_CHECKPOINT_FILE));
    const loaded = await new FileCheckpointStore({ dir }).load();
    assert.deepStrictEqual(loaded, new Map(positions.map((p) => [p.key, p])));
    assert.deepStrictEqual(readdirSync(dir), ['checkpoints.json']);
    const doc = JSON.parse(readFileSync(a.path, 'utf8')) as { version: number; positions: unknown[] };
    assert.equal(doc.version, 1);
    assert.deepStrictEqual(doc.positions, [positions[1], positions[0]], 'sorted by key');
  });

  it('merges: a save replaces the keys it names and keeps the others', async () => {
    const dir = freshDir();
    const s = new FileCheckpointStore({ dir, fileName: 'ck.json' });
    await s.save([{ key: 'a', value: '1' }, { key: 'b', value: '1', identity: 'x' }]);
    await s.save([{ key: 'b', value: '2' }, { key: 'c', value: '1' }]);
    const want = new Map([
      ['a', { key: 'a', value: '1' }],
      ['b', { key: 'b', value: '2' }],
      ['c', { key: 'c', value: '1' }],
    ]);
    assert.deepStrictEqual(await s.load(), want);
    // A fresh store merges into what is on disk, not into an empty set.
    const t = new FileCheckpointStore({ dir, fileName: 'ck.json' });
    await t.save([{ key: 'd', value: '9' }]);
    assert.deepStrictEqual(await new FileCheckpointStore({ dir, fileName: 'ck.json' }).load(), new Map([...want, ['d', { key: 'd', value: '9' }]]));
  });

  it('hands out copies: changing a loaded or saved position does not change the store', async () => {
    const s = new FileCheckpointStore({ dir: freshDir() });
    const p = { key: 'a', value: '1' };
    await s.save([p]);
    p.value = '2';
    const m = await s.load();
    (m.get('a') as { value: string }).value = '3';
    assert.equal((await s.load()).get('a')?.value, '1');
  });

  for (const [name, text, why] of [
    ['not JSON', '{"version":1,"positions":[', /not JSON/],
    ['not an object', '[]', /not a JSON object/],
    ['wrong version', '{"version":0,"positions":[]}', /version is 0/],
    ['bad position', '{"version":1,"positions":[{"key":"a","value":5}]}', /positions\[0\]/],
    ['duplicate key', '{"version":1,"positions":[{"key":"a","value":"1"},{"key":"a","value":"2"}]}', /appears twice/],
  ] as const) {
    it(`refuses a corrupt file (${name}) with a message naming it, and does not overwrite it on save`, async () => {
      const dir = freshDir();
      mkdirSync(dir);
      const s = new FileCheckpointStore({ dir });
      writeFileSync(s.path, text);
      const check = (err: unknown): boolean => {
        assert.ok(err instanceof DredgeError);
        assert.equal(err.code, 'DREDGE_ERR_INPUT');
        assert.equal(err.retriable, false);
        assert.ok(err.message.includes(s.path), err.message);
        assert.match(err.message, why);
        assert.match(err.message, /restore it from a backup, or delete it/);
        return true;
      };
      await assert.rejects(s.load(), check);
      await assert.rejects(s.save([{ key: 'b', value: '1' }]), check);
      assert.equal(readFileSync(s.path, 'utf8'), text);
    });
  }

  it('refuses a file from a newer version with "upgrade"', async () => {
    const dir = freshDir();
    const s = new FileCheckpointStore({ dir });
    await s.save([]);
    writeFileSync(s.path, '{"version":7,"positions":[]}');
    await assert.rejects(new FileCheckpointStore({ dir }).load(), /version 7.*upgrade dredge/);
  });

  it('serializes concurrent saves: none is lost, no temp file is left, a load sees all saves before it', async () => {
    const dir = freshDir();
    const s = new FileCheckpointStore({ dir });
    const saves: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) saves.push(s.save([{ key: `k${i % 20}`, value: String(i) }, { key: `only-${i}`, value: 'x' }]));
    const loaded = s.load();
    await Promise.all(saves);
    const m = await loaded;
    assert.equal(m.size, 60);
    // Saves apply in call order, so the later value of each shared key wins.
    for (let k = 0; k < 20; k++) assert.equal(m.get(`k${k}`)?.value, String(k + 20));
    assert.deepStrictEqual(await new FileCheckpointStore({ dir }).load(), m);
    assert.deepStrictEqual(readdirSync(dir), ['checkpoints.json']);
  });

  it('a failed save leaves the stored set as it was and the next save works', async () => {
    const dir = freshDir();
    const s = new FileCheckpointStore({ dir });
    await s.save([{ key: 'a', value: '1' }]);
    const bad = { key: 'b', value: 2 } as unknown as { key: string; value: string };
    await assert.rejects(s.save([bad]), (err: unknown) => err instanceof DredgeError && err.code === 'DREDGE_ERR_INTERNAL');
    await s.save([{ key: 'c', value: '3' }]);
    assert.deepStrictEqual([...(await new FileCheckpointStore({ dir }).load()).keys()], ['a', 'c']);
  });
});
