// The daemon's operations listener (issue #7 "Operations", DESIGN.md §8), on 127.0.0.1 by default
// (`--ops-listen HOST:PORT`, or `off`):
//
//   GET /metrics  Prometheus text exposition of DredgeMetrics' registry (collected on scrape)
//   GET /healthz  liveness: 200 `ok` whenever the event loop gets to answer
//   GET /readyz   readiness: 200 when every check passes, else 503; the body lists each check
//                 { ok, checks: [{ name, ok, detail }] } (sink healthy, pipeline not failed, Kinesis caught up)
//
// Anything else is 404 (405 for another method on these paths). No auth: it binds loopback unless told
// otherwise, and it serves counters, never flow data.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DredgeError } from '../errors.js';
import type { Sink } from '../sinks/sink.js';
import type { ShardStatus } from '../sources/kinesis/stream-source.js';
import type { DredgeMetrics } from './metrics.js';

export interface ReadinessCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Readiness {
  ok: boolean;
  checks: ReadinessCheck[];
}

export interface OpsServer {
  readonly url: string;
  close(): Promise<void>;
}

export interface OpsServerOptions {
  host?: string;
  port?: number;
  metrics: DredgeMetrics;
  ready: () => Promise<Readiness>;
}

/** Default readiness lag bound for a Kinesis shard (MillisBehindLatest), ms. */
export const DEFAULT_MAX_BEHIND_MS = 60_000;
/** How long /readyz waits for the sink's health check before calling it not ok. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 5_000;

function send(res: ServerResponse, status: number, contentType: string, body: string, head: boolean, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
  res.end(head ? undefined : body);
}

const PATHS = new Set(['/metrics', '/healthz', '/readyz']);

/** Starts the listener; rejects with DREDGE_ERR_CONFIG when the address cannot be bound. */
export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const hostOpt = opts.host ?? '127.0.0.1';
  const portOpt = opts.port ?? 0;
  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `${(e as Error).message}\n`, false);
      else res.destroy();
    });
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://ops').pathname;
    if (!PATHS.has(path)) return send(res, 404, 'text/plain; charset=utf-8', 'not found: GET /metrics, /healthz or /readyz\n', false);
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed: GET or HEAD\n', false, { allow: 'GET, HEAD' });
    if (path === '/healthz') return send(res, 200, 'text/plain; charset=utf-8', 'ok\n', head);
    if (path === '/metrics') {
      let text: string;
      try {
        text = await opts.metrics.metrics();
      } catch (e) {
        return send(res, 500, 'text/plain; charset=utf-8', `collecting metrics failed: ${(e as Error).message}\n`, head);
      }
      return send(res, 200, opts.metrics.contentType, text, head);
    }
    let r: Readiness;
    try {
      r = await opts.ready();
    } catch (e) {
      r = { ok: false, checks: [{ name: 'readiness', ok: false, detail: `the readiness check failed: ${(e as Error).message}` }] };
    }
    return send(res, r.ok ? 200 : 503, 'application/json', JSON.stringify(r) + '\n', head);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new DredgeError('DREDGE_ERR_CONFIG', `cannot listen for operations (metrics, health) on ${hostOpt}:${portOpt}: ${e.message}; pick another --ops-listen HOST:PORT, or --ops-listen off`, { cause: e })),
    );
    server.listen(portOpt, hostOpt, () => resolve());
  });
  server.unref();
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ReadinessOptions {
  /** Its `health()` is asked on every /readyz; a sink without one counts as healthy. */
  sink: Pick<Sink, 'name' | 'health'>;
  /** The pipeline's fatal error, null while it runs. */
  pipeline: () => Error | null;
  /** The Kinesis source (KinesisSource has `shards()`); absent for other sources. */
  kinesis?: { shards(): ShardStatus[] };
  /** A PROCESSING shard is caught up when its last MillisBehindLatest is at most this; default 60 s. */
  maxBehindMs?: number;
  /** How long to wait for `sink.health()`; default 5 s. */
  healthTimeoutMs?: number;
}

/**
 * Builds the /readyz callback: `sink` (health() ok), `pipeline` (not failed) and, with Kinesis,
 * `kinesis` (caught up: at least one shard discovered, none still waiting for its first page, and every
 * PROCESSING shard's last MillisBehindLatest ≤ maxBehindMs; shards waiting on parents or ended do not count).
 */
export function readiness(opts: ReadinessOptions): () => Promise<Readiness> {
  const maxBehind = opts.maxBehindMs ?? DEFAULT_MAX_BEHIND_MS;
  const timeoutMs = opts.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
  return async () => {
    const checks: ReadinessCheck[] = [await sinkCheck(opts.sink, timeoutMs)];
    const fatal = opts.pipeline();
    checks.push(fatal === null ? { name: 'pipeline', ok: true, detail: 'running' } : { name: 'pipeline', ok: false, detail: `failed: ${fatal.message}` });
    if (opts.kinesis !== undefined) checks.push(kinesisCheck(opts.kinesis.shards(), maxBehind));
    return { ok: checks.every((c) => c.ok), checks };
  };
}

async function sinkCheck(sink: Pick<Sink, 'name' | 'health'>, timeoutMs: number): Promise<ReadinessCheck> {
  const name = 'sink';
  if (sink.health === undefined) return { name, ok: true, detail: `the ${sink.name} sink has no health check` };
  let timer: NodeJS.Timeout | undefined;
  try {
    const h = await Promise.race([
      sink.health(),
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), timeoutMs);
        timer.unref();
      }),
    ]);
    if (h === null) return { name, ok: false, detail: `the ${sink.name} sink's health check did not answer within ${timeoutMs} ms` };
    return { name, ok: h.ok, detail: `${sink.name}: ${h.detail}` };
  } catch (e) {
    return { name, ok: false, detail: `the ${sink.name} sink's health check failed: ${(e as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

/** Caught up: see readiness(). The detail names the shards that are not, worst first. */
export function kinesisCheck(shards: readonly ShardStatus[], maxBehindMs: number): ReadinessCheck {
  const name = 'kinesis';
  if (shards.length === 0) return { name, ok: false, detail: 'no shards discovered yet' };
  const processing = shards.filter((s) => s.state === 'PROCESSING');
  const noPage = processing.filter((s) => s.millisBehindLatest === null);
  const behind = processing.filter((s) => s.millisBehindLatest !== null && s.millisBehindLatest > maxBehindMs).sort((a, b) => (b.millisBehindLatest as number) - (a.millisBehindLatest as number));
  const starting = shards.filter((s) => s.state === 'INITIALIZING');
  const problems: string[] = [];
  if (behind.length > 0) problems.push(`${behind.length} shard(s) more than ${maxBehindMs} ms behind: ${behind.slice(0, 5).map((s) => `${s.id} ${s.millisBehindLatest} ms`).join(', ')}${behind.length > 5 ? ', …' : ''}`);
  if (noPage.length > 0) problems.push(`${noPage.length} shard(s) without a GetRecords page yet: ${noPage.slice(0, 5).map((s) => s.id).join(', ')}${noPage.length > 5 ? ', …' : ''}`);
  if (processing.length === 0 && starting.length > 0) problems.push(`${starting.length} shard(s) initializing, none reading yet`);
  if (problems.length > 0) return { name, ok: false, detail: problems.join('; ') };
  const worst = processing.reduce((m, s) => Math.max(m, s.millisBehindLatest as number), 0);
  return { name, ok: true, detail: `${processing.length} shard(s) reading, at most ${worst} ms behind (limit ${maxBehindMs} ms)` };
}
