// Checkpoint store on one JSON file (DESIGN.md §9 "Positions and checkpoints"): the default when the
// sink is not DuckDB, `checkpoints.json` beside the output. Layout:
//
//   {"version":1,"positions":[{"key":"shardId-000000000000","value":"4959…"},{"key":"/data/a.log","value":"18230","identity":"2049:1311:90000"}]}
//
// positions sorted by key. `save` merges the given positions into the stored set (others kept) and
// replaces the file atomically (temporary file in the same directory, fsync, rename, directory fsync),
// so after a crash either the old or the new set is read back. Loads and saves run one at a time, in
// call order: two saves never interleave, and a load sees every save called before it.

import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DredgeError } from '../errors.js';
import { fsError, writeFileAtomic } from './ndjson.js';
import type { CheckpointStore, SourcePosition } from './sink.js';

export const DEFAULT_CHECKPOINT_FILE = 'checkpoints.json';
const VERSION = 1;

export interface FileCheckpointStoreOptions {
  /** Directory holding the file (created on the first save if missing). */
  dir: string;
  /** File name inside `dir`; default `checkpoints.json`. */
  fileName?: string;
}

export class FileCheckpointStore implements CheckpointStore {
  readonly path: string;
  /** The stored set as last read or written; null until the first load or save. */
  private current: Map<string, SourcePosition> | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private dirMade = false;

  constructor(options: FileCheckpointStoreOptions) {
    this.path = join(options.dir, options.fileName ?? DEFAULT_CHECKPOINT_FILE);
  }

  load(): Promise<Map<string, SourcePosition>> {
    return this.serialized(async () => copy(await this.read()));
  }

  save(positions: readonly SourcePosition[]): Promise<void> {
    let given: SourcePosition[];
    try {
      given = positions.map(clean); // copied now: the caller may change its objects once save returns
    } catch (err) {
      return Promise.reject(err);
    }
    return this.serialized(async () => {
      const next = new Map(this.current ?? (await this.read()));
      for (const p of given) next.set(p.key, p);
      const text = render(next);
      if (!this.dirMade) {
        await mkdir(dirname(this.path), { recursive: true }).catch((err: unknown) => {
          throw fsError(err, dirname(this.path), 'checkpoint directory');
        });
        this.dirMade = true;
      }
      await writeFileAtomic(
        this.path,
        async (fh) => {
          await fh.writeFile(text, 'utf8');
        },
        'checkpoint file',
      );
      this.current = next;
    });
  }

  private serialized<T>(job: () => Promise<T>): Promise<T> {
    const p = this.tail.then(job);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** Reads the file (once; later calls use the cached set). */
  private async read(): Promise<Map<string, SourcePosition>> {
    if (this.current !== null) return this.current;
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return (this.current = new Map());
      throw fsError(err, this.path, 'checkpoint file', 'read');
    }
    return (this.current = parse(text, this.path));
  }
}

function clean(p: SourcePosition): SourcePosition {
  if (typeof p.key !== 'string' || typeof p.value !== 'string' || (p.identity !== undefined && typeof p.identity !== 'string')) {
    throw new DredgeError('DREDGE_ERR_INTERNAL', `checkpoint position must have string key, value and identity; got ${JSON.stringify(p)}`);
  }
  return p.identity === undefined ? { key: p.key, value: p.value } : { key: p.key, value: p.value, identity: p.identity };
}

function copy(m: Map<string, SourcePosition>): Map<string, SourcePosition> {
  const out = new Map<string, SourcePosition>();
  for (const [k, p] of m) out.set(k, { ...p });
  return out;
}

function render(m: Map<string, SourcePosition>): string {
  const positions = [...m.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return JSON.stringify({ version: VERSION, positions }) + '\n';
}

function parse(text: string, path: string): Map<string, SourcePosition> {
  const corrupt = (why: string): DredgeError =>
    new DredgeError(
      'DREDGE_ERR_INPUT',
      `checkpoint file ${path} is corrupt (${why}). It holds where each source resumes: restore it from a backup, ` +
        `or delete it to start every source from --from (rows already delivered would then be counted again)`,
    );
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw corrupt(`not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw corrupt('not a JSON object');
  const { version, positions } = doc as { version?: unknown; positions?: unknown };
  if (version !== VERSION) {
    if (typeof version === 'number' && version > VERSION) {
      throw new DredgeError('DREDGE_ERR_INPUT', `checkpoint file ${path} has version ${version}, newer than this dredge reads (${VERSION}): upgrade dredge`);
    }
    throw corrupt(`version is ${JSON.stringify(version)}, expected ${VERSION}`);
  }
  if (!Array.isArray(positions)) throw corrupt('"positions" is not an array');
  const out = new Map<string, SourcePosition>();
  positions.forEach((p: unknown, i) => {
    const { key, value, identity } = (typeof p === 'object' && p !== null ? p : {}) as Partial<Record<keyof SourcePosition, unknown>>;
    if (typeof key !== 'string' || typeof value !== 'string' || (identity !== undefined && typeof identity !== 'string')) {
      throw corrupt(`positions[${i}] is not {"key": string, "value": string, "identity"?: string}`);
    }
    if (out.has(key)) throw corrupt(`key ${JSON.stringify(key)} appears twice`);
    out.set(key, identity === undefined ? { key, value } : { key, value, identity });
  });
  return out;
}
