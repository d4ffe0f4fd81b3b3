// Whole-buffer decoding for inputs that arrive in one piece (a Kinesis record, a test fixture, a small
// file): sniff the encoding by content, gunzip with a bound on the output, and run the FlowDecoder.
// A damaged gzip stream still yields every complete line before the damage, then an error.

import { gunzipSync, constants } from 'node:zlib';
import { DredgeError } from '../errors.js';
import { type DecodeStats, type DecoderOptions, FlowDecoder } from './decoder.js';

export const DEFAULT_MAX_INFLATED_BYTES = 1024 * 1024 * 1024;

export type Encoding = 'gzip' | 'parquet' | 'zstd' | 'plain';

/** What the first bytes say the input is (never the file name). */
export function sniffEncoding(b: Uint8Array): Encoding {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 4 && b[0] === 0x50 && b[1] === 0x41 && b[2] === 0x52 && b[3] === 0x31) return 'parquet';
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return 'zstd';
  return 'plain';
}

export function unsupportedEncoding(enc: Encoding): DredgeError | null {
  if (enc === 'parquet') return new DredgeError('DREDGE_ERR_INPUT', 'Parquet flow-log files are not supported yet; deliver the flow log as plain text (optionally gzip) or convert it');
  if (enc === 'zstd') return new DredgeError('DREDGE_ERR_INPUT', 'zstd-compressed input is not supported; use gzip or plain text');
  return null;
}

/**
 * Gunzips `b` (every concatenated member) into at most `maxBytes`. On a truncated or corrupt stream,
 * returns what could be inflated together with the error, so the caller keeps the good part.
 */
export function inflateBounded(b: Uint8Array, maxBytes = DEFAULT_MAX_INFLATED_BYTES): { data: Uint8Array; error: DredgeError | null } {
  try {
    return { data: gunzipSync(b, { maxOutputLength: maxBytes }), error: null };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE') {
      return { data: new Uint8Array(0), error: new DredgeError('DREDGE_ERR_LIMIT', `gzip input inflates to more than ${maxBytes} bytes; split it or raise the limit`) };
    }
    let partial: Uint8Array = new Uint8Array(0);
    try {
      partial = gunzipSync(b, { maxOutputLength: maxBytes, finishFlush: constants.Z_SYNC_FLUSH });
    } catch {
      // nothing recoverable
    }
    const what = err.code === 'Z_BUF_ERROR' ? 'gzip stream is truncated' : `gzip stream is corrupt (${err.message})`;
    return { data: partial, error: new DredgeError('DREDGE_ERR_TRUNCATED', `${what}; ${partial.length} bytes before the damage were decoded`) };
  }
}

/**
 * Decodes one whole input: plain text, gzip (any members), S3 header lines, CloudWatch envelopes.
 * Batches and issues go to the callbacks in `opts`; throws (after emitting everything decodable) when
 * the input is damaged or unsupported.
 */
export function decodeBuffer(b: Uint8Array, opts: DecoderOptions & { maxInflatedBytes?: number }): DecodeStats {
  return decodeWhole(new FlowDecoder(opts), b, opts.maxInflatedBytes);
}

/** decodeBuffer with a decoder that is reused input after input (reset first). */
export function decodeWhole(decoder: FlowDecoder, b: Uint8Array, maxInflatedBytes?: number): DecodeStats {
  decoder.reset();
  const enc = sniffEncoding(b);
  const unsupported = unsupportedEncoding(enc);
  if (unsupported !== null) throw unsupported;
  if (enc === 'gzip') {
    const { data, error } = inflateBounded(b, maxInflatedBytes);
    decoder.push(data);
    if (error !== null) decoder.fail(error);
  } else {
    decoder.push(b);
  }
  return decoder.end();
}
