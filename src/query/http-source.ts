// A RowSource that asks the running dredge that holds the store (src/daemon/query-server.ts), found
// through the sidecar file `<db>.query.json`. Same reports, same output as reading the file.

import { readFileSync } from 'node:fs';
import { DredgeError, type DredgeErrorCode } from '../errors.js';
import type { Query, RowSource, Rows, StoreSchema } from './rows.js';
import { QUERY_PATH, decodeRows, decodeSchema, encodeParams, sidecarPath, type Sidecar, type WireRequest } from './wire.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class HttpRowSource implements RowSource {
  private cached: StoreSchema | null = null;

  private constructor(
    readonly db: string,
    private readonly sidecar: Sidecar,
  ) {}

  /** The listener of the dredge that holds `db`, or null when none left its address (or it is gone). */
  static find(db: string): HttpRowSource | null {
    let s: Sidecar;
    try {
      s = JSON.parse(readFileSync(sidecarPath(db), 'utf8')) as Sidecar;
    } catch {
      return null;
    }
    if (typeof s.url !== 'string' || typeof s.token !== 'string' || !Number.isInteger(s.pid) || !alive(s.pid)) return null;
    return new HttpRowSource(db, s);
  }

  private async call(req: WireRequest): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.sidecar.url + QUERY_PATH, { method: 'POST', headers: { authorization: `Bearer ${this.sidecar.token}`, 'content-type': 'application/json' }, body: JSON.stringify(req) });
    } catch (e) {
      throw new DredgeError('DREDGE_ERR_INPUT', `the dredge holding ${this.db} (PID ${this.sidecar.pid}) did not answer at ${this.sidecar.url}: ${(e as Error).message}; try again, or query after the run ends`, { retriable: true, cause: e });
    }
    const body = (await res.json()) as { error?: { code: DredgeErrorCode; message: string } };
    if (body.error !== undefined) throw new DredgeError(body.error.code, body.error.message);
    return body;
  }

  async schema(): Promise<StoreSchema> {
    this.cached ??= decodeSchema(await this.call({ op: 'schema' }));
    return this.cached;
  }

  async fetch(q: Query): Promise<Rows> {
    return decodeRows(await this.call({ op: 'fetch', sql: q.sql, params: encodeParams(q.params) }));
  }

  async userSql(sql: string): Promise<Rows> {
    return decodeRows(await this.call({ op: 'sql', sql }));
  }

  close(): void {}
}
