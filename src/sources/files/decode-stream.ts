// Streams one input (a file or stdin) through a FlowDecoder with bounded memory: sniffs the encoding
// from the first bytes, gunzips on the fly (every concatenated member), and turns a truncated or
// corrupt gzip stream into a decoder failure after the good part was decoded.

import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DredgeError } from '../../errors.js';
import type { FlowDecoder } from '../../parse/decoder.js';
import { type Encoding, sniffEncoding, unsupportedEncoding } from '../../parse/inflate.js';

const READ_CHUNK = 1 << 20;

export function openInput(path: string): Readable {
  return path === '-' ? process.stdin : createReadStream(path, { highWaterMark: READ_CHUNK });
}

/** Feeds `input` to `decoder` and ends it; resolves with the compressed encoding seen. */
export async function decodeStream(
  input: Readable,
  decoder: FlowDecoder,
  label: string,
  /** Awaited between chunks, so a slow consumer of the batches slows reading instead of buffering. */
  ready: () => Promise<void> | undefined = () => undefined,
): Promise<Encoding> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // Sniff: gather at least 4 bytes (or the whole input if shorter).
  const head: Buffer[] = [];
  let headLen = 0;
  let done = false;
  try {
    while (headLen < 4) {
      const r = await it.next();
      if (r.done === true) {
        done = true;
        break;
      }
      head.push(r.value);
      headLen += r.value.length;
    }
  } catch (e) {
    throw readError(e, label);
  }
  const first = Buffer.concat(head);
  const enc = sniffEncoding(first);
  const unsupported = unsupportedEncoding(enc);
  if (unsupported !== null) {
    input.destroy();
    throw unsupported;
  }
  if (enc !== 'gzip') {
    decoder.push(first);
    try {
      while (!done) {
        const r = await it.next();
        if (r.done === true) break;
        decoder.push(r.value);
        await ready();
      }
    } catch (e) {
      throw readError(e, label);
    }
    decoder.end();
    return enc;
  }

  const gunzip = createGunzip({ chunkSize: READ_CHUNK });
  const feed = (async () => {
    try {
      if (!gunzip.write(first)) await waitDrain(gunzip);
      while (!done) {
        const r = await it.next();
        if (r.done === true) break;
        if (!gunzip.write(r.value)) await waitDrain(gunzip);
      }
      gunzip.end();
    } catch (e) {
      gunzip.destroy(readError(e, label));
    }
  })();
  try {
    for await (const chunk of gunzip) {
      decoder.push(chunk as Buffer);
      await ready();
    }
  } catch (e) {
    if (e instanceof DredgeError) throw e;
    const err = e as NodeJS.ErrnoException;
    const what = err.code === 'Z_BUF_ERROR' ? 'gzip stream is truncated' : `gzip stream is corrupt (${err.message})`;
    decoder.fail(new DredgeError('DREDGE_ERR_TRUNCATED', `${label}: ${what}; records before the damage were decoded`));
  }
  await feed;
  decoder.end();
  return enc;
}

function waitDrain(s: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => s.once('drain', resolve));
}

function readError(e: unknown, label: string): DredgeError {
  if (e instanceof DredgeError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return new DredgeError('DREDGE_ERR_INPUT', `${label}: no such file`);
  if (err.code === 'EISDIR') return new DredgeError('DREDGE_ERR_INPUT', `${label}: is a directory; pass a file (or - for stdin)`);
  if (err.code === 'EACCES') return new DredgeError('DREDGE_ERR_INPUT', `${label}: permission denied`);
  return new DredgeError('DREDGE_ERR_INPUT', `${label}: cannot be read (${err.message})`);
}
