// Test harness for the Kinesis source: a real kinesalite on 127.0.0.1:0, a fault-injecting HTTP proxy
// in front of it (throttles, 5xx, expired iterators, partial PutRecords failures, dropped sockets), a
// collecting owner that plays the pipeline's part (submit, then checkpoint), and small stream helpers.

import { CreateStreamCommand, DescribeStreamSummaryCommand, type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { createRequire } from 'node:module';
import type { SourcePosition } from '../../src/sinks/sink.js';
import { makeKinesisClient } from '../../src/sources/kinesis/client.js';
import type { KinesisBatch, KinesisSource } from '../../src/sources/kinesis/stream-source.js';

// kinesalite ships no types; require() keeps a declaration of it out of the project's type space.
const kinesalite = createRequire(import.meta.url)('kinesalite') as (o: Record<string, unknown>) => Server;

export interface Local {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

export async function startKinesalite(): Promise<Local> {
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { endpoint: `http://127.0.0.1:${port}`, port, close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))) };
}

export interface KinesaliteEnv {
  readonly local: Local;
  readonly client: KinesisClient;
  /** A temporary folder of this file's (when asked for), removed after its tests. */
  readonly root: string;
}

/**
 * Starts a kinesalite and a client to it before this file's tests and stops both after them (and
 * makes, then removes, a temporary folder named with `tmpPrefix` when given). The test files that
 * talk to one server all set up the same way; this is that setup, once. A file's own setup that needs
 * the server goes in `started` / `stopping`: Node 20 runs a file's top-level before() hooks
 * concurrently, so a second hook could not count on this one having finished.
 */
export function useKinesalite(tmpPrefix?: string, hooks: { started?: (local: Local) => Promise<void>; stopping?: () => Promise<void> | void } = {}): KinesaliteEnv {
  let local: Local | null = null;
  let client: KinesisClient | null = null;
  const root = tmpPrefix === undefined ? '' : mkdtempSync(join(tmpdir(), tmpPrefix));
  before(async () => {
    local = await startKinesalite();
    client = makeKinesisClient({ endpoint: local.endpoint });
    await hooks.started?.(local);
  });
  after(async () => {
    await hooks.stopping?.();
    client?.destroy();
    await local?.close();
    if (root !== '') rmSync(root, { recursive: true, force: true });
  });
  const started = <T>(x: T | null, what: string): T => {
    if (x === null) throw new Error(`kinesalite's ${what} is used before the file's before() hook ran`);
    return x;
  };
  return {
    get local() {
      return started(local, 'server');
    },
    get client() {
      return started(client, 'client');
    },
    root,
  };
}

/** kinesalite, a client to it, a FaultProxy in front of it and a client through the proxy. */
export interface ProxiedKinesalite {
  local: Local;
  client: KinesisClient;
  proxy: FaultProxy;
  viaProxy: KinesisClient;
}

export async function startProxiedKinesalite(): Promise<ProxiedKinesalite> {
  const local = await startKinesalite();
  const proxy = new FaultProxy(local.port);
  await proxy.start();
  return { local, client: makeKinesisClient({ endpoint: local.endpoint }), proxy, viaProxy: makeKinesisClient({ endpoint: proxy.endpoint }) };
}

export async function stopProxiedKinesalite(k: ProxiedKinesalite): Promise<void> {
  k.client.destroy();
  k.viaProxy.destroy();
  await k.proxy.close();
  await k.local.close();
}

let streams = 0;
export const streamName = (what: string): string => `${what}-${++streams}-${process.pid}`;

export async function waitActive(client: KinesisClient, stream: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (d.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`stream ${stream} never became ACTIVE`);
}

export async function createStream(client: KinesisClient, stream: string, shards: number): Promise<void> {
  await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: shards }));
  await waitActive(client, stream);
}

/** The middle of shard i's hash key range when a stream of `n` shards was created (even split of 2^128). */
export function hashKeyOf(i: number, n: number): string {
  const size = (1n << 128n) / BigInt(n);
  return (size * BigInt(i) + size / 2n).toString();
}

export interface Written {
  data: string;
  shard: string;
  seq: string;
}

/** Puts `datas` with explicit hash keys (one per record), 500 per call; returns where each landed. */
export async function putTo(client: KinesisClient, stream: string, datas: readonly string[], hashKey: (i: number) => string): Promise<Written[]> {
  const out: Written[] = [];
  for (let i = 0; i < datas.length; i += 500) {
    const chunk = datas.slice(i, i + 500);
    const r = await client.send(new PutRecordsCommand({ StreamName: stream, Records: chunk.map((d, k) => ({ Data: Buffer.from(d), PartitionKey: 'k', ExplicitHashKey: hashKey(i + k) })) }));
    if ((r.FailedRecordCount ?? 0) > 0) throw new Error('unexpected failed records in test setup');
    (r.Records ?? []).forEach((x, k) => out.push({ data: chunk[k] as string, shard: x.ShardId as string, seq: x.SequenceNumber as string }));
  }
  return out;
}

export interface Got {
  shard: string;
  seq: string;
  data: string;
}

/**
 * Plays the pipeline: keeps every submitted batch (decoded per record via recordEnds) and, unless
 * `checkpointing` is 'manual', reports its position as durable shortly after, as a flush would.
 */
export class Owner {
  readonly batches: KinesisBatch[] = [];
  readonly records: Got[] = [];
  /** Positions made durable, in order, with the time (performance.now()) they were reported. */
  readonly durable: { position: SourcePosition; at: number }[] = [];
  source: KinesisSource | null = null;
  private held: SourcePosition[] = [];
  private readonly checkpointing: 'auto' | 'manual';
  private readonly delayMs: number;
  /** Shard id → number of concurrent submits in progress (must never exceed 1). */
  private readonly active = new Map<string, number>();
  overlap = 0;
  onSubmit: ((b: KinesisBatch) => void | Promise<void>) | null = null;

  constructor(checkpointing: 'auto' | 'manual' = 'auto', delayMs = 5) {
    this.checkpointing = checkpointing;
    this.delayMs = delayMs;
  }

  readonly submit = async (b: KinesisBatch): Promise<void> => {
    const shard = b.source as string;
    const n = (this.active.get(shard) ?? 0) + 1;
    if (n > 1) this.overlap++;
    this.active.set(shard, n);
    try {
      // Copy out: a real pipeline would transfer (detach) the buffer.
      const bytes = Buffer.from(b.bytes);
      let at = 0;
      b.recordEnds.forEach((end, i) => {
        this.records.push({ shard, seq: b.recordIds[i] as string, data: bytes.subarray(at, end).toString() });
        at = end;
      });
      this.batches.push(b);
      await this.onSubmit?.(b);
      await new Promise((r) => setTimeout(r, 1));
      if (b.position !== undefined) {
        this.held.push(b.position);
        if (this.checkpointing === 'auto') {
          const p = b.position;
          setTimeout(() => this.flush([p]), this.delayMs);
        }
      }
    } finally {
      this.active.set(shard, (this.active.get(shard) ?? 1) - 1);
    }
  };

  /** Reports `positions` (default: every position held so far) as durable. */
  flush(positions?: SourcePosition[]): void {
    const ps = positions ?? this.held;
    if (positions === undefined) this.held = [];
    for (const p of ps) this.durable.push({ position: p, at: performance.now() });
    this.source?.checkpointed(ps);
  }

  /** The last durable position of each shard, as a checkpoint store would load it. */
  positions(): Map<string, SourcePosition> {
    const m = new Map<string, SourcePosition>();
    for (const d of this.durable) m.set(d.position.key, d.position);
    return m;
  }

  byShard(): Map<string, Got[]> {
    const m = new Map<string, Got[]>();
    for (const r of this.records) {
      const list = m.get(r.shard) ?? [];
      list.push(r);
      m.set(r.shard, list);
    }
    return m;
  }

  /** Time (performance.now()) SHARD_END of `shard` became durable, or undefined. */
  endDurableAt(shard: string): number | undefined {
    return this.durable.find((d) => d.position.key === shard && d.position.value === 'SHARD_END')?.at;
  }
}

/** Sorted copies, for exact set comparisons. */
export const sorted = (xs: readonly string[]): string[] => [...xs].sort();

export interface Call {
  op: string;
  body: Record<string, unknown>;
  at: number;
}

/** What the proxy does with one request: pass it on, answer for Kinesis, or rewrite what passes. */
export type Action =
  | undefined
  | { reply: { status: number; type?: string; body: string } }
  | { drop: true }
  /** Forward (Kinesis does the work) but answer the client with this instead: a response lost on the way. */
  | { afterForward: { status: number; body: string } }
  | { request?: (body: Record<string, unknown>) => Record<string, unknown>; response?: (body: Record<string, unknown>, request: Record<string, unknown>) => Record<string, unknown> };

export const kinesisError = (type: string, message: string, status = 400): Action => ({ reply: { status, body: JSON.stringify({ __type: type, message }) } });

/**
 * An HTTP proxy in front of kinesalite that sees each call's operation (X-Amz-Target) and body and
 * may answer it itself, drop the socket, or rewrite the request and response bodies.
 */
export class FaultProxy {
  readonly calls: Call[] = [];
  rule: (op: string, body: Record<string, unknown>, n: number) => Action = () => undefined;
  private readonly counts = new Map<string, number>();
  private server: Server | null = null;
  private readonly target: number;
  endpoint = '';

  constructor(targetPort: number) {
    this.target = targetPort;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => (this.server as Server).listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }

  /** Forgets the calls seen (and restarts the per-operation numbering the rule gets). */
  reset(): void {
    this.calls.length = 0;
    this.counts.clear();
  }

  count(op: string): number {
    return this.counts.get(op) ?? 0;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const op = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    const body = raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
    const n = (this.counts.get(op) ?? 0) + 1;
    this.counts.set(op, n);
    this.calls.push({ op, body, at: performance.now() });
    const action = this.rule(op, body, n);
    if (action !== undefined && 'reply' in action) {
      res.writeHead(action.reply.status, { 'content-type': action.reply.type ?? 'application/x-amz-json-1.1', 'x-amzn-requestid': 'proxy' });
      res.end(action.reply.body);
      return;
    }
    if (action !== undefined && 'drop' in action) {
      req.socket.destroy();
      return;
    }
    const rewrite = action !== undefined && 'afterForward' in action ? undefined : action;
    const sent = rewrite?.request !== undefined ? rewrite.request(body) : body;
    const out = JSON.stringify(sent);
    const headers = { ...req.headers, 'content-length': String(Buffer.byteLength(out)) };
    const upstream = request({ host: '127.0.0.1', port: this.target, method: req.method, path: req.url, headers }, async (up) => {
      const parts: Buffer[] = [];
      for await (const c of up) parts.push(c as Buffer);
      let text = Buffer.concat(parts).toString('utf8');
      if (action !== undefined && 'afterForward' in action) {
        res.writeHead(action.afterForward.status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(action.afterForward.body);
        return;
      }
      if (rewrite?.response !== undefined && (up.statusCode ?? 500) < 300) text = JSON.stringify(rewrite.response(JSON.parse(text) as Record<string, unknown>, body));
      const h = { ...up.headers, 'content-length': String(Buffer.byteLength(text)) };
      res.writeHead(up.statusCode ?? 500, h);
      res.end(text);
    });
    upstream.on('error', () => res.destroy());
    upstream.end(out);
  }
}

export const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 5 ms until true, failing after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleepMs(5);
  }
}

/** Pacing for tests: kinesalite has no per-shard limits, so the AWS ones only slow the tests down. */
export const FAST = { minIntervalMs: 5, idleMs: 20, backoff: { baseMs: 5, capMs: 40 } };
