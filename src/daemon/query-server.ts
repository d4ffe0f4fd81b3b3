// The running dredge answers `dredge query` itself (DESIGN.md §9): DuckDB lets no other process open a
// store while one writes it, not even read-only. A small HTTP listener on 127.0.0.1 serves the query
// layer's three operations (src/query/wire.ts) over a second, reading connection of the sink's DuckDB
// instance, which sees every committed flush. A random token in the owner-only sidecar file
// `<db>.query.json` keeps other local users out (SELECT can read files with DuckDB's table functions).

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { DredgeError } from '../errors.js';
import type { RowSource } from '../query/rows.js';
import { QUERY_PATH, decodeParams, encodeRows, encodeSchema, sidecarPath, type Sidecar, type WireRequest } from '../query/wire.js';

const MAX_BODY = 1 << 20;

export interface QueryServer {
  readonly url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (b: Buffer) => {
      n += b.length;
      if (n > MAX_BODY) {
        reject(new DredgeError('DREDGE_ERR_CONFIG', 'request too large'));
        req.destroy();
      } else parts.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts the listener for the store at `db` and writes its sidecar file; close() removes both. */
export async function startQueryServer(opts: { db: string; source: RowSource; host?: string; port?: number }): Promise<QueryServer> {
  const token = randomBytes(24).toString('hex');
  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url !== QUERY_PATH || req.method !== 'POST') return send(res, 404, { error: { code: 'DREDGE_ERR_CONFIG', message: `POST ${QUERY_PATH} only` } });
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { error: { code: 'DREDGE_ERR_CONFIG', message: `missing or wrong token: read it from ${sidecarPath(opts.db)}` } });
    try {
      const body = JSON.parse(await readBody(req)) as WireRequest;
      if (body.op === 'schema') return send(res, 200, encodeSchema(await opts.source.schema()));
      if (body.op === 'fetch') return send(res, 200, encodeRows(await opts.source.fetch({ sql: body.sql, params: decodeParams(body.params), metrics: [] })));
      if (body.op === 'sql') return send(res, 200, encodeRows(await opts.source.userSql(body.sql)));
      return send(res, 400, { error: { code: 'DREDGE_ERR_CONFIG', message: 'op must be schema, fetch or sql' } });
    } catch (e) {
      const code = e instanceof DredgeError ? e.code : 'DREDGE_ERR_INTERNAL';
      return send(res, e instanceof DredgeError && e.code !== 'DREDGE_ERR_INTERNAL' ? 400 : 500, { error: { code, message: (e as Error).message } });
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new DredgeError('DREDGE_ERR_CONFIG', `cannot listen for queries on ${opts.host ?? '127.0.0.1'}:${opts.port ?? 0}: ${e.message}; pick another --query-listen HOST:PORT, or --query-listen off`)),
    );
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  server.unref();
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  const sidecar: Sidecar = { pid: process.pid, url, token };
  writeFileSync(sidecarPath(opts.db), JSON.stringify(sidecar) + '\n', { mode: 0o600 });
  return {
    url,
    close: async () => {
      rmSync(sidecarPath(opts.db), { force: true });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
