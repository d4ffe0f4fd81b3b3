// Files, directories and stdin as RawBatches (DESIGN.md §1, §9 "Positions and checkpoints").
//
// Plain text is read in `batchBytes` chunks straight into SharedArrayBuffers and cut after the last
// complete line (the remainder starts the next batch), so a batch is shared with its worker, never
// copied, and can be run again if the worker dies. An S3-style header line at the top of a file is
// repeated at the head of each of that file's batches (`prefixLines`), so every batch decodes with the
// file's format wherever it lands. Gzip files and CloudWatch envelope files go whole (the worker
// inflates them) up to `maxWholeBytes`; a bigger gzip file is inflated here, on the main thread, and
// cut into text batches (slower: say so in the README).
//
// Positions: `(path, byte offset after the last complete line, identity = dev:ino:size-at-open)`;
// a checkpoint of the same identity resumes a plain file there. Gzip files resume only as a whole
// (offset 0 or their size). stdin has no position.

import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { DredgeError } from '../../errors.js';
import { FlowFormat } from '../../parse/fields.js';
import type { RawBatch } from '../../daemon/pipeline.js';
import type { SourcePosition } from '../../sinks/sink.js';

export interface FileSourceOptions {
  batchBytes?: number;
  maxWholeBytes?: number;
  /** Positions to resume from (checkpoints), keyed by path. */
  resume?: ReadonlyMap<string, SourcePosition>;
  /** A fixed `--fields` format: header lines are then skipped by the decoder, never repeated. */
  fixedFields?: boolean;
}

export interface FileProgress {
  bytesRead: number;
  /** Sum of the sizes of the regular files (stdin unknown: 0). */
  bytesTotal: number;
  files: number;
}

const DEFAULT_BATCH = 4 << 20;
const DEFAULT_WHOLE = 256 << 20;

/** Expands inputs (files, directories recursively, `-`) into a sorted file list. */
export async function listInputs(inputs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of inputs) {
    if (p === '-') {
      out.push(p);
      continue;
    }
    let st;
    try {
      st = await stat(p);
    } catch (e) {
      throw new DredgeError('DREDGE_ERR_INPUT', `--input ${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
    if (st.isDirectory()) {
      const found: string[] = [];
      const walk = async (d: string): Promise<void> => {
        for (const ent of (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
          if (ent.name.startsWith('.')) continue;
          const full = join(d, ent.name);
          if (ent.isDirectory()) await walk(full);
          else if (ent.isFile()) found.push(full);
        }
      };
      await walk(p);
      out.push(...found);
    } else out.push(p);
  }
  return out;
}

function sharedCopy(b: Uint8Array): Uint8Array {
  const s = new Uint8Array(new SharedArrayBuffer(b.length));
  s.set(b);
  return s;
}

/** Reads `paths` as RawBatches; `progress` is updated as bytes are read. */
export async function* readFiles(paths: readonly string[], opts: FileSourceOptions = {}, progress: FileProgress = { bytesRead: 0, bytesTotal: 0, files: 0 }): AsyncGenerator<RawBatch & { prefixLines: number }> {
  const batchBytes = opts.batchBytes ?? DEFAULT_BATCH;
  const maxWhole = opts.maxWholeBytes ?? DEFAULT_WHOLE;
  for (const p of paths) if (p !== '-') progress.bytesTotal += (await stat(p)).size;
  for (const path of paths) {
    progress.files++;
    if (path === '-') {
      yield* readStdin(batchBytes, maxWhole, progress, opts.fixedFields === true);
      continue;
    }
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      const identity = `${st.dev}:${st.ino}:${st.size}`;
      const head = new Uint8Array(Math.min(4, st.size));
      await fh.read(head, 0, head.length, 0);
      const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
      const resumeAt = opts.resume?.get(path);
      const from = resumeAt !== undefined && resumeAt.identity === identity ? Number(resumeAt.value) : 0;
      if (from >= st.size) {
        progress.bytesRead += st.size;
        continue;
      }
      if (gzip) {
        if (st.size <= maxWhole) {
          const bytes = new Uint8Array(new SharedArrayBuffer(st.size));
          await fh.read(bytes, 0, st.size, 0);
          progress.bytesRead += st.size;
          yield { bytes, source: path, position: { key: path, value: String(st.size), identity }, prefixLines: 0 };
        } else {
          // Past maxWholeBytes the worker would hold too much at once: inflate here, cut into text batches.
          yield* readStream(createReadStream(path).pipe(createGunzip()), path, batchBytes, null, opts.fixedFields === true);
          progress.bytesRead += st.size;
        }
        continue;
      }
      yield* readPlain(fh, path, identity, st.size, from, batchBytes, progress, opts.fixedFields === true);
    } finally {
      await fh.close();
    }
  }
}

/** The header line at the start of `b` (with its newline), when it names known fields. */
function headerLine(b: Uint8Array): Uint8Array | null {
  const c = b[0];
  if (c === undefined || !((c >= 97 && c <= 122) || c === 36)) return null; // a-z or `$`
  const nl = b.indexOf(10);
  if (nl < 0) return null;
  const text = new TextDecoder().decode(b.subarray(0, nl));
  try {
    FlowFormat.parse(text.trim(), 'header');
    return b.slice(0, nl + 1);
  } catch {
    return null;
  }
}

async function* readPlain(fh: import('node:fs/promises').FileHandle, path: string, identity: string, size: number, from: number, batchBytes: number, progress: FileProgress, fixed: boolean): AsyncGenerator<RawBatch & { prefixLines: number }> {
  let header: Uint8Array | null = null;
  let offset = from;
  if (from > 0 && !fixed) {
    const first = new Uint8Array(Math.min(size, 65536));
    await fh.read(first, 0, first.length, 0);
    header = headerLine(first);
  }
  progress.bytesRead += from;
  let carry = new Uint8Array(0);
  // The file's own first line is checked for a header once, in the batch that starts at offset 0.
  let atStart = from === 0 && !fixed;
  while (offset < size || carry.length > 0) {
    const want = Math.min(batchBytes, size - offset);
    const prefix = header ?? new Uint8Array(0);
    const buf = new Uint8Array(new SharedArrayBuffer(prefix.length + carry.length + want));
    buf.set(prefix, 0);
    buf.set(carry, prefix.length);
    const { bytesRead } = await fh.read(buf, prefix.length + carry.length, want, offset);
    offset += bytesRead;
    progress.bytesRead += bytesRead;
    // A file that shrank while being read ends here: what was read is the last batch.
    const ended = offset >= size || (want > 0 && bytesRead === 0);
    const filled = prefix.length + carry.length + bytesRead;
    let cut = filled;
    if (!ended) {
      const nl = buf.subarray(0, filled).lastIndexOf(10);
      if (nl < prefix.length) {
        // No complete line in a whole batch: read on (the decoder reports an over-long line).
        carry = buf.slice(prefix.length, filled);
        continue;
      }
      cut = nl + 1;
    }
    carry = cut < filled ? buf.slice(cut, filled) : new Uint8Array(0);
    const bytes = buf.subarray(0, cut);
    const prefixLines = prefix.length > 0 ? 1 : 0;
    if (atStart) {
      atStart = false;
      header = headerLine(bytes);
    }
    yield { bytes, source: path, position: { key: path, value: String(offset - carry.length), identity }, prefixLines };
    if (ended) break;
  }
}

/** stdin: sniffed; gzip is inflated here; CloudWatch envelopes (JSON) go as one batch; text is cut at lines. */
async function* readStdin(batchBytes: number, maxWhole: number, progress: FileProgress, fixed: boolean): AsyncGenerator<RawBatch & { prefixLines: number }> {
  const it = (process.stdin as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const r = await it.next();
  if (r.done === true) return;
  const first = r.value;
  async function* rest(): AsyncGenerator<Buffer> {
    yield first;
    for (let n = await it.next(); n.done !== true; n = await it.next()) yield n.value;
  }
  let input: NodeJS.ReadableStream = Readable.from(rest());
  if (first[0] === 0x1f && first[1] === 0x8b) input = input.pipe(createGunzip());
  yield* readStream(input, '-', batchBytes, progress, fixed, maxWhole, STDIN_IDLE_MS);
}

const IDLE = Symbol('idle');
/** stdin: whole lines waiting this long go out as a batch. */
const STDIN_IDLE_MS = 500;

async function* readStream(input: NodeJS.ReadableStream, label: string, batchBytes: number, progress: FileProgress | null, fixed: boolean, wholeJsonUpTo = 0, idleMs = 0): AsyncGenerator<RawBatch & { prefixLines: number }> {
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let header: Uint8Array | null = null;
  let first = true;
  const emit = (final: boolean): (RawBatch & { prefixLines: number }) | null => {
    const all = Buffer.concat(pending, pendingLen);
    let cut = all.length;
    if (!final) {
      const nl = all.lastIndexOf(10);
      if (nl < 0) return null;
      cut = nl + 1;
    }
    const rest = all.subarray(cut);
    pending = rest.length > 0 ? [Buffer.from(rest)] : [];
    pendingLen = rest.length;
    let body: Uint8Array = all.subarray(0, cut);
    if (body.length === 0) return null;
    let prefixLines = 0;
    if (first) {
      first = false;
      if (!fixed) header = headerLine(body);
    } else if (header !== null) {
      body = Buffer.concat([header, body]);
      prefixLines = 1;
    }
    return { bytes: sharedCopy(body), source: label, prefixLines };
  };
  let json = false;
  const it = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let next = it.next();
  for (;;) {
    // A live stream (stdin from `tail -f`, a pipe from a collector) pauses: whole lines that have waited
    // idleMs go out as a batch then, so they are flushed and queryable without waiting for 4 MB more.
    let r: IteratorResult<Buffer> | typeof IDLE;
    if (idleMs > 0 && pendingLen > 0 && !json) {
      let timer: NodeJS.Timeout | undefined;
      r = await Promise.race([next, new Promise<typeof IDLE>((resolve) => (timer = setTimeout(() => resolve(IDLE), idleMs)))]);
      clearTimeout(timer);
    } else r = await next;
    if (r === IDLE) {
      const b = emit(false);
      if (b !== null) yield b;
      continue;
    }
    if (r.done === true) break;
    next = it.next();
    const chunk = r.value;
    if (first && pendingLen === 0 && chunk[0] === 0x7b) json = true; // `{`: CloudWatch envelopes, not lines
    pending.push(chunk);
    pendingLen += chunk.length;
    if (progress !== null) progress.bytesRead += chunk.length;
    if (json) {
      if (pendingLen > wholeJsonUpTo) throw new DredgeError('DREDGE_ERR_LIMIT', `${label}: CloudWatch envelopes larger than ${wholeJsonUpTo} bytes in one stream; split the input into files`);
      continue;
    }
    if (pendingLen >= batchBytes) {
      const b = emit(false);
      if (b !== null) yield b;
    }
  }
  const b = emit(true);
  if (b !== null) yield b;
}
