// FlowDecoder: decompressed flow-log bytes in (whole, or chunk by chunk), FlowBatches out.
//
// It decides by content, once per input, whether the bytes are flow-log text (optionally with S3 header
// lines) or CloudWatch Logs subscription envelopes (JSON starting with '{'), and keeps memory bounded
// whatever the input: text is scanned in place chunk by chunk (only a partial last line is carried),
// an overlong line is skipped to its newline and reported, and one envelope may not exceed
// `maxEnvelopeBytes`. Batches are handed to `onBatch` synchronously and reused afterwards, so a
// consumer that keeps data must copy it out before returning.
//
// Gzip is unwrapped one level up (inflate.ts for whole buffers, the CLI's stream for files).

import { DredgeError } from '../errors.js';
import { ENVELOPE_INCOMPLETE, ENVELOPE_OK, EnvelopeScan, scanEnvelope } from './envelope.js';
import { FlowFormat } from './fields.js';
import { DEFAULT_BATCH_ROWS, FlowBatch } from './flow-batch.js';
import { type ParseIssue, STOP_FORMAT, STOP_FULL, type ScanState, newScanState, scanLines } from './scan-text.js';
import { overlongReason } from './scan-cold.js';
import { type ScannerKind, resolveScanner } from './wasm/load.js';
import { wasmScanBegin, wasmScanEnd, wasmScanLines } from './wasm/scan-wasm.js';

export interface DecoderOptions {
  /** A fixed format (`--fields`); header lines are then skipped. Default: header line, else v2. */
  fields?: string | readonly string[] | FlowFormat;
  batchRows?: number;
  maxLineBytes?: number;
  /** Largest single CloudWatch envelope accepted, decompressed. */
  maxEnvelopeBytes?: number;
  onBatch: (batch: FlowBatch) => void;
  onIssue: (issue: ParseIssue) => void;
  /**
   * The line scanner: 'js' (src/parse/scan-text.ts) or 'wasm' (native-free-wasm/, identical results).
   * Default: DREDGE_WASM=1 → 'wasm', else the faster one as measured (wasm/load.ts). DREDGE_WASM=0
   * forces 'js' whatever this says.
   */
  scanner?: ScannerKind;
}

export const DEFAULT_MAX_ENVELOPE_BYTES = 64 * 1024 * 1024;

export interface DecodeStats {
  /** 'text', 'cloudwatch', or 'empty' when no byte was seen. */
  encoding: 'text' | 'cloudwatch' | 'empty';
  records: number;
  malformed: number;
  headerLines: number;
  blankLines: number;
  envelopes: number;
  controlMessages: number;
  events: number;
}

const MODE_DETECT = 0;
const MODE_TEXT = 1;
const MODE_ENVELOPE = 2;
const NEWLINE = new Uint8Array([10]);

export class FlowDecoder {
  private readonly st: ScanState;
  private readonly batchRows: number;
  private readonly onBatch: (batch: FlowBatch) => void;
  private readonly maxEnvelope: number;
  private batch: FlowBatch;
  /** The format a new input starts with (configured, else v2); headers may switch away from it. */
  private readonly initialFormat: FlowFormat;
  private mode = MODE_DETECT;
  /** Text: the partial last line of the previous chunk. Envelope: bytes of envelopes not yet complete. */
  private carry: Uint8Array = new Uint8Array(0);
  private skippingLongLine = false;
  private readonly env = new EnvelopeScan();
  private lineScratch = new Uint8Array(0);
  private envTried = 0;
  /** Offset of the first carried envelope byte in the whole decompressed input (for messages). */
  private envBase = 0;
  private readonly batches = new Map<FlowFormat, FlowBatch>();
  private ended = false;
  private readonly wasm: boolean;
  /** Set when the input was damaged (truncated/malformed envelope): what `end()` throws. */
  private failure: DredgeError | null = null;
  readonly stats: DecodeStats = {
    encoding: 'empty',
    records: 0,
    malformed: 0,
    headerLines: 0,
    blankLines: 0,
    envelopes: 0,
    controlMessages: 0,
    events: 0,
  };

  constructor(opts: DecoderOptions) {
    const fixed = opts.fields !== undefined;
    const format = opts.fields === undefined ? FlowFormat.V2_DEFAULT : opts.fields instanceof FlowFormat ? opts.fields : FlowFormat.parse(opts.fields);
    this.st = newScanState(format, fixed, opts.onIssue);
    if (opts.maxLineBytes !== undefined) this.st.maxLineBytes = opts.maxLineBytes;
    this.batchRows = opts.batchRows ?? DEFAULT_BATCH_ROWS;
    this.onBatch = opts.onBatch;
    this.maxEnvelope = opts.maxEnvelopeBytes ?? DEFAULT_MAX_ENVELOPE_BYTES;
    this.initialFormat = format;
    this.batch = this.batchFor(format);
    this.wasm = resolveScanner(opts.scanner) === 'wasm';
  }

  /**
   * Starts a new input (the next Kinesis record, the next file) keeping the allocated batch, so a
   * worker decodes record after record without allocating. Stats start from zero.
   */
  reset(): void {
    this.mode = MODE_DETECT;
    this.carry = new Uint8Array(0);
    this.skippingLongLine = false;
    this.envTried = 0;
    this.envBase = 0;
    this.ended = false;
    this.failure = null;
    this.batch = this.batchFor(this.initialFormat);
    this.batch.reset();
    const st = this.st;
    st.format = this.batch.format;
    st.line = 0;
    st.unit = 'line';
    st.records = st.malformed = st.headerLines = st.blankLines = 0;
    const s = this.stats;
    s.encoding = 'empty';
    s.records = s.malformed = s.headerLines = s.blankLines = s.envelopes = s.controlMessages = s.events = 0;
  }

  /** Which line scanner this decoder uses. */
  get scanner(): ScannerKind {
    return this.wasm ? 'wasm' : 'js';
  }

  /** The format in effect now (it changes when a header line names other fields). */
  get format(): FlowFormat {
    return this.st.format;
  }

  /** Feeds the next decompressed bytes. The decoder does not keep `chunk` after returning. */
  push(chunk: Uint8Array): void {
    if (this.ended) throw new DredgeError('DREDGE_ERR_INTERNAL', 'FlowDecoder.push after end()');
    if (this.failure !== null || chunk.length === 0) return;
    if (this.mode === MODE_DETECT) {
      let p = 0;
      while (p < chunk.length && isSpace(chunk[p] as number)) p++;
      if (p === chunk.length) {
        // Only whitespace so far: keep it as text (blank lines count) until something decides.
        this.carry = concat(this.carry, chunk);
        return;
      }
      this.mode = chunk[p] === 123 ? MODE_ENVELOPE : MODE_TEXT;
      this.stats.encoding = this.mode === MODE_ENVELOPE ? 'cloudwatch' : 'text';
      if (this.carry.length > 0) {
        chunk = concat(this.carry, chunk);
        this.carry = new Uint8Array(0);
      }
    }
    if (this.mode === MODE_TEXT) this.pushText(chunk, false);
    else this.pushEnvelopeBytes(chunk, false);
  }

  /**
   * No more input. Decodes what is left (a last line without newline, a last envelope) and reports
   * totals in `stats`. Throws DREDGE_ERR_TRUNCATED / DREDGE_ERR_LIMIT after emitting every record
   * decoded before the damage.
   */
  end(): DecodeStats {
    if (!this.ended) {
      this.ended = true;
      if (this.failure === null) {
        if (this.mode === MODE_DETECT && this.carry.length > 0) {
          this.mode = MODE_TEXT;
          this.stats.encoding = 'text';
          const c = this.carry;
          this.carry = new Uint8Array(0);
          this.pushText(c, true);
        } else if (this.mode === MODE_TEXT) {
          this.pushText(new Uint8Array(0), true);
        } else if (this.mode === MODE_ENVELOPE) {
          this.pushEnvelopeBytes(new Uint8Array(0), true);
        }
      }
      this.syncStats();
    }
    if (this.failure !== null) throw this.failure;
    return this.stats;
  }

  /**
   * Marks the input as damaged below this decoder (a truncated gzip stream): the partial last line is
   * dropped rather than decoded as if complete, and `end()` throws `err`.
   */
  fail(err: DredgeError): void {
    if (this.failure === null && this.mode === MODE_ENVELOPE && this.carry.length > 0) {
      // Keep the events located before the damage; the cause reported is the one given here.
      this.pushEnvelopeBytes(new Uint8Array(0), true);
      this.failure = null;
    }
    this.damaged(err);
  }

  private damaged(err: DredgeError): void {
    if (this.failure === null) this.failure = err;
    this.carry = new Uint8Array(0);
    this.syncStats();
  }

  // --- text -------------------------------------------------------------------------------------

  private pushText(chunk: Uint8Array, final: boolean): void {
    let buf = chunk;
    if (this.skippingLongLine) {
      const nl = buf.indexOf(10);
      if (nl < 0) return;
      this.skippingLongLine = false;
      buf = buf.subarray(nl + 1);
    }
    if (this.carry.length > 0) {
      buf = concat(this.carry, buf);
      this.carry = new Uint8Array(0);
    }
    const end = buf.lastIndexOf(10) + 1;
    if (end > 0) this.scanText(buf, 0, end);
    if (final && end < buf.length) {
      // The last line has no newline: decode it all the same, from a copy of that one line.
      const tail = concat(buf.subarray(end), NEWLINE);
      this.scanText(tail, 0, tail.length);
    }
    if (!final && end < buf.length) {
      const rest = buf.subarray(end);
      if (rest.length > this.st.maxLineBytes) {
        // Bound memory: an overlong line is reported now and skipped up to its newline.
        this.st.line++;
        this.st.malformed++;
        this.st.onIssue({ unit: this.st.unit, n: this.st.line, reason: overlongReason(this.st.maxLineBytes) });
        this.skippingLongLine = true;
      } else {
        this.carry = copyOf(rest);
      }
    }
    this.emit();
  }

  private scanText(buf: Uint8Array, pos: number, end: number): void {
    // A batch's text offsets point into one buffer: hand it over before scanning another.
    if (this.batch.length > 0 && this.batch.src !== buf) this.emit();
    const wasm = this.wasm;
    if (wasm) wasmScanBegin();
    while (pos < end) {
      pos = wasm ? wasmScanLines(buf, pos, end, this.batch, this.st) : scanLines(buf, pos, end, this.batch, this.st);
      if (this.st.stop === STOP_FULL) {
        this.emit();
      } else if (this.st.stop === STOP_FORMAT) {
        this.emit();
        this.batch = this.batchFor(this.st.format);
      }
    }
    if (wasm) wasmScanEnd();
  }

  /** One batch per format, kept: inputs whose header lines alternate allocate nothing per switch. */
  private batchFor(format: FlowFormat): FlowBatch {
    let batch = this.batches.get(format);
    if (batch === undefined) {
      if (this.batches.size >= 16) this.batches.clear();
      batch = new FlowBatch(format, this.batchRows);
      this.batches.set(format, batch);
    }
    return batch;
  }

  private emit(): void {
    if (this.batch.length > 0) {
      this.onBatch(this.batch);
      this.batch.reset();
    }
  }

  // --- CloudWatch envelopes ---------------------------------------------------------------------

  private pushEnvelopeBytes(chunk: Uint8Array, final: boolean): void {
    // Scan the chunk in place when nothing is carried; only an incomplete tail is ever copied.
    const buf = this.carry.length === 0 ? chunk : concat(this.carry, chunk);
    this.carry = new Uint8Array(0);
    // Re-scan an incomplete envelope only after it doubled (or at the end): linear overall.
    if (!final && buf.length < this.envTried * 2 && buf.length <= this.maxEnvelope) {
      this.carry = buf === chunk ? copyOf(chunk) : buf;
      return;
    }
    let pos = 0;
    while (true) {
      while (pos < buf.length && isSpace(buf[pos] as number)) pos++;
      if (pos === buf.length) break;
      scanEnvelope(buf, pos, buf.length, this.env, this.envBase);
      if (this.env.status === ENVELOPE_INCOMPLETE && !final) {
        if (buf.length - pos > this.maxEnvelope) {
          this.damaged(new DredgeError('DREDGE_ERR_LIMIT', `a CloudWatch envelope exceeds ${this.maxEnvelope} bytes decompressed; raise the limit or check the input`));
          return;
        }
        break;
      }
      if (this.env.status === ENVELOPE_OK && this.env.next - pos > this.maxEnvelope) {
        this.damaged(new DredgeError('DREDGE_ERR_LIMIT', `a CloudWatch envelope exceeds ${this.maxEnvelope} bytes decompressed; raise the limit or check the input`));
        return;
      }
      this.decodeEnvelope(buf);
      if (this.failure !== null) return;
      if (this.env.status !== ENVELOPE_OK) {
        const after = this.stats.events;
        const what = this.env.status === ENVELOPE_INCOMPLETE ? `truncated CloudWatch envelope: it ${this.env.error}` : this.env.error;
        this.damaged(new DredgeError('DREDGE_ERR_TRUNCATED', `${what} (after event ${after})`));
        return;
      }
      pos = this.env.next;
    }
    this.carry = pos === buf.length ? new Uint8Array(0) : copyOf(buf.subarray(pos));
    this.envBase += pos;
    this.envTried = this.carry.length;
  }

  /** Joins the located messages as lines (one copy of message bytes) and scans them as events. */
  private decodeEnvelope(buf: Uint8Array): void {
    const env = this.env;
    this.stats.envelopes++;
    if (env.status === ENVELOPE_OK && !env.sawLogEvents) {
      this.damaged(new DredgeError('DREDGE_ERR_INPUT', 'JSON input is not a CloudWatch Logs envelope (no "logEvents" array); for plain flow-log text, check the first line'));
      return;
    }
    if (env.control) {
      this.stats.controlMessages++;
      this.stats.events += env.count;
      return;
    }
    let total = 0;
    for (let i = 0; i < env.count; i++) total += (env.ends[i] as number) - (env.starts[i] as number) + 1;
    // One scratch buffer reused envelope after envelope: batches referencing it are handed over
    // (emitted) before the next envelope overwrites it.
    if (this.lineScratch.length < total) this.lineScratch = new Uint8Array(Math.max(total, this.lineScratch.length * 2));
    const lines = this.lineScratch;
    let o = 0;
    let firstEscaped = -1;
    for (let i = 0; i < env.count; i++) {
      if (env.escaped[i] === 1 || env.missing[i] === 1) {
        if (firstEscaped < 0) firstEscaped = i;
        lines[o++] = 10; // placeholder, decoded below
        continue;
      }
      const s = env.starts[i] as number;
      const e = env.ends[i] as number;
      lines.set(buf.subarray(s, e), o);
      o += e - s;
      lines[o++] = 10;
    }
    const base = this.stats.events;
    this.st.unit = 'event';
    if (firstEscaped < 0) {
      this.st.line = base;
      this.scanText(lines, 0, o);
    } else {
      // Rare: some message holds JSON escapes. Scan event by event so numbering stays exact.
      let p = 0;
      for (let i = 0; i < env.count; i++) {
        this.st.line = base + i;
        if (env.escaped[i] === 1 || env.missing[i] === 1) {
          this.emit();
          const line = env.missing[i] === 1 ? 'log event has no string "message"' : unescapeMessage(buf, env.starts[i] as number, env.ends[i] as number);
          if (typeof line === 'string') {
            this.st.line = base + i + 1;
            this.st.malformed++;
            this.st.onIssue({ unit: 'event', n: base + i + 1, reason: line });
          } else {
            this.scanText(line, 0, line.length);
          }
          this.emit();
          p += 1;
        } else {
          const e = lines.indexOf(10, p) + 1;
          this.scanText(lines, p, e);
          p = e;
        }
      }
    }
    this.emit();
    this.st.unit = 'line';
    this.stats.events = base + env.count;
    this.st.line = 0;
  }

  private syncStats(): void {
    const s = this.stats;
    s.records = this.st.records;
    s.malformed = this.st.malformed;
    s.headerLines = this.st.headerLines;
    s.blankLines = this.st.blankLines;
  }
}

/** A JSON-escaped message → its bytes plus '\n', or a reason string when it cannot be one line. */
function unescapeMessage(buf: Uint8Array, s: number, e: number): Uint8Array | string {
  let text: string;
  try {
    text = JSON.parse(new TextDecoder().decode(buf.subarray(s - 1, e + 1))) as string;
  } catch {
    return 'message is not a valid JSON string';
  }
  text = text.replace(/\r?\n$/, '');
  if (text.includes('\n')) return 'message holds more than one line';
  const bytes = new TextEncoder().encode(text + '\n');
  return bytes;
}

/** A real copy (a node Buffer's .slice() is a view of the caller's memory). */
function copyOf(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
