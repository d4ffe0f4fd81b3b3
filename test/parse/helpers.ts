// Shared helpers for the decoder tests: run the decoder in-process (whole buffer or streamed in chunks)
// and collect what `dredge parse` would print, run the real CLI as a child process, and find fixtures.
// Records are collected as their JSON text (rendered inside onBatch: batches are reused afterwards).

import { spawn } from 'node:child_process';
import { DredgeError } from '../../src/errors.js';
import { FlowDecoder, type DecoderOptions } from '../../src/parse/decoder.js';
import { decodeBuffer } from '../../src/parse/inflate.js';
import { renderRecordJson } from '../../src/parse/render.js';

export const REPO_ROOT = new URL('../../../', import.meta.url);
export const FIXTURES = new URL('test/fixtures/parse/', REPO_ROOT);
export const DREDGE_BIN = new URL('bin/dredge.js', REPO_ROOT).pathname;

export type Options = Omit<DecoderOptions, 'onBatch' | 'onIssue'> & {
  maxInflatedBytes?: number;
  /** decodeChunked: push node Buffers (whose .slice() is a view, not a copy) instead of plain Uint8Arrays. */
  asBuffer?: boolean;
};

/** What one decode produced: record JSON lines, `unit N: reason` issue lines, and the error thrown. */
export interface Decoded {
  records: string[];
  issues: string[];
  error: unknown;
}

/** decodeBuffer (sniffs gzip, envelopes, headers) as `dredge parse` would print it. */
export function decodeWhole(bytes: Uint8Array, opts: Options = {}): Decoded {
  const out: Decoded = { records: [], issues: [], error: null };
  try {
    decodeBuffer(bytes, {
      ...opts,
      onBatch: (b) => {
        for (let r = 0; r < b.length; r++) out.records.push(renderRecordJson(b, r));
      },
      onIssue: (i) => out.issues.push(`${i.unit} ${i.n}: ${i.reason}`),
    });
  } catch (e) {
    out.error = e;
  }
  return out;
}

/** The streaming FlowDecoder fed decompressed `bytes` in chunks of the given sizes (cycled). */
export function decodeChunked(bytes: Uint8Array, sizes: readonly number[], opts: Options = {}): Decoded {
  const out: Decoded = { records: [], issues: [], error: null };
  try {
    const { asBuffer: _asBuffer, ...decoderOpts } = opts;
    const d = new FlowDecoder({
      ...decoderOpts,
      onBatch: (b) => {
        for (let r = 0; r < b.length; r++) out.records.push(renderRecordJson(b, r));
      },
      onIssue: (i) => out.issues.push(`${i.unit} ${i.n}: ${i.reason}`),
    });
    let p = 0;
    let k = 0;
    while (p < bytes.length) {
      const n = Math.max(1, sizes.length === 0 ? bytes.length : (sizes[k++ % sizes.length] as number));
      // The caller's buffer is reused for the next read (as a pooled reader would do): the decoder must
      // not keep a view of a chunk after push returns.
      const chunk = opts.asBuffer === true ? Buffer.from(bytes.subarray(p, p + n)) : new Uint8Array(bytes.subarray(p, p + n));
      d.push(chunk);
      chunk.fill(0x7e);
      p += n;
    }
    d.end();
  } catch (e) {
    out.error = e;
  }
  return out;
}

/** Fails with the error itself when it is anything but a DredgeError (or nothing). */
export function onlyDredgeErrors(d: Decoded, what: string): void {
  if (d.error !== null && !(d.error instanceof DredgeError)) {
    const e = d.error as Error;
    throw new Error(`${what}: a non-DredgeError escaped: ${e?.name}: ${e?.message}\n${e?.stack ?? ''}`);
  }
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/dredge.js parse …args` (optionally with stdin) and collects its output. */
export function runParse(args: readonly string[], stdin?: Uint8Array, timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DREDGE_BIN, 'parse', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => undefined); // the CLI may exit before reading all of stdin
    if (stdin !== undefined) child.stdin.end(stdin);
    else child.stdin.end();
  });
}

/** Splits a `.args` line the way a shell would for the simple quoting fixtures use ("…" and '…'). */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let cur: string | null = null;
  let last = -1;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) {
    const piece = m[1] ?? m[2] ?? m[3] ?? '';
    // Adjacent pieces (--fields="a b") join into one argument.
    if (cur !== null && m.index === last) cur += piece;
    else {
      if (cur !== null) out.push(cur);
      cur = piece;
    }
    last = m.index + m[0].length;
  }
  if (cur !== null) out.push(cur);
  return out;
}

/** The non-empty lines of a text (stdout/stderr), without their newline. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

/** A JSON line as its [key, value] pairs in order: comparing these checks key order too. */
export function entries(jsonLine: string): [string, unknown][] {
  const v: unknown = JSON.parse(jsonLine);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`not a JSON object: ${jsonLine}`);
  return Object.entries(v as Record<string, unknown>);
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** A compact CloudWatch Logs subscription envelope (JSON text) holding `messages` as events. */
export function envelopeJson(messages: string[], firstId = 0): string {
  return JSON.stringify({
    messageType: 'DATA_MESSAGE',
    owner: '123456789012',
    logGroup: 'vpc-flow-logs',
    logStream: 'eni-0a1b2c3d4e5f60718-all',
    subscriptionFilters: ['dredge'],
    logEvents: messages.map((message, k) => ({ id: String(firstId + k), timestamp: 1700000000000 + k, message })),
  });
}
