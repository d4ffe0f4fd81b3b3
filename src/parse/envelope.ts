// CloudWatch Logs subscription envelopes (the gunzipped JSON a subscription filter writes to Kinesis):
//
//   {"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"…","logStream":"…",
//    "subscriptionFilters":["…"],"logEvents":[{"id":"…","timestamp":1700000000000,"message":"2 1234… OK"},…]}
//
// `scanEnvelope` walks the JSON structure over the bytes and records where each event's `message`
// string lies, without building a JSON object per event; string ends are found with indexOf. A
// message containing a backslash escape is flagged, and only that message is unescaped by JSON.parse.
// `CONTROL_MESSAGE` envelopes (CloudWatch's health checks) carry no flow records.

import { grown } from '../typed.js';

export const ENVELOPE_OK = 0;
export const ENVELOPE_INCOMPLETE = 1; // ran out of bytes: truncated, or more to come in a stream
export const ENVELOPE_MALFORMED = 2;

const MAX_DEPTH = 64;

/** Reusable result of scanning one envelope. */
export class EnvelopeScan {
  status = ENVELOPE_OK;
  /** Position after the envelope's closing brace. */
  next = 0;
  control = false;
  messageType: string | null = null;
  sawLogEvents = false;
  /** Events whose message was located: [starts[i], ends[i]) inside the quotes. */
  count = 0;
  starts = new Uint32Array(1024);
  ends = new Uint32Array(1024);
  escaped = new Uint8Array(1024);
  /** 1 when the event had no string `message`. */
  missing = new Uint8Array(1024);
  error = '';
  /** Next backslash position in `bsBuf` at or after the last search: kept across the envelopes of one
   * buffer, so escape checks stay linear (a fresh indexOf per envelope would rescan to the end). */
  bsBuf: Uint8Array | null = null;
  bsPos = -1;

  reset(): void {
    this.status = ENVELOPE_OK;
    this.next = 0;
    this.control = false;
    this.messageType = null;
    this.sawLogEvents = false;
    this.count = 0;
    this.error = '';
  }

  push(s: number, e: number, esc: boolean, missing = false): void {
    if (this.count === this.starts.length) {
      const n = this.count * 2;
      this.starts = grown(this.starts, n);
      this.ends = grown(this.ends, n);
      this.escaped = grown(this.escaped, n);
      this.missing = grown(this.missing, n);
    }
    this.starts[this.count] = s;
    this.ends[this.count] = e;
    this.escaped[this.count] = esc ? 1 : 0;
    this.missing[this.count] = missing ? 1 : 0;
    this.count++;
  }
}

const KEY_MESSAGE_TYPE = bytes('messageType');
const KEY_LOG_EVENTS = bytes('logEvents');
const KEY_MESSAGE = bytes('message');
const CONTROL_MESSAGE = bytes('CONTROL_MESSAGE');
const EV_ID = bytes('{"id":"');
const EV_TS = bytes('","timestamp":');
const EV_MSG = bytes(',"message":"');

const UTF8 = new TextDecoder();

function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Thrown inside the scanner only to unwind; never escapes this module. */
class Stop {
  constructor(readonly status: number, readonly message: string) {}
}

/**
 * Scans one envelope starting at the first non-whitespace byte at or after `pos`. Fills `out`; on
 * ENVELOPE_INCOMPLETE / ENVELOPE_MALFORMED the events located before the damage are still in `out`.
 */
export function scanEnvelope(b: Uint8Array, pos: number, end: number, out: EnvelopeScan, baseOffset = 0): void {
  out.reset();
  const s = new Scanner(b, end, out, baseOffset);
  try {
    s.envelope(s.ws(pos));
    out.status = ENVELOPE_OK;
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    out.status = e.status;
    out.error = e.message;
  }
}

class Scanner {
  constructor(
    private readonly b: Uint8Array,
    private readonly end: number,
    private readonly out: EnvelopeScan,
    /** Offset of b[0] in the whole decompressed input, so messages name input offsets. */
    private readonly base: number,
  ) {
    if (out.bsBuf !== b) {
      out.bsBuf = b;
      out.bsPos = -1;
    }
  }

  ws(p: number): number {
    const b = this.b;
    while (p < this.end) {
      const c = b[p];
      if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return p;
      p++;
    }
    throw new Stop(ENVELOPE_INCOMPLETE, 'ends before the envelope is complete');
  }

  expect(p: number, c: number, what: string): number {
    p = this.ws(p);
    if (this.b[p] !== c) this.malformed(p, what);
    return p + 1;
  }

  malformed(p: number, what: string): never {
    const c = this.b[p] as number;
    const shown = c >= 32 && c < 127 ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16)}`;
    throw new Stop(ENVELOPE_MALFORMED, `not a CloudWatch Logs envelope: expected ${what} at offset ${p + this.base}, found ${shown}`);
  }

  /** p at the opening quote; returns the position of the closing quote. Sets `lastEscaped`. */
  lastEscaped = false;
  stringEnd(p: number): number {
    const b = this.b;
    let q = p + 1;
    while (true) {
      q = b.indexOf(34, q);
      if (q < 0 || q >= this.end) throw new Stop(ENVELOPE_INCOMPLETE, 'ends inside a string');
      // A quote preceded by an odd run of backslashes is escaped.
      let k = q - 1;
      while (k > p && b[k] === 92) k--;
      if ((q - 1 - k) % 2 === 0) break;
      q++;
    }
    const out = this.out;
    if (out.bsPos < p + 1) {
      const i = b.indexOf(92, p + 1);
      out.bsPos = i < 0 ? b.length : i;
    }
    this.lastEscaped = out.bsPos < q;
    return q;
  }

  keyIs(p: number, q: number, key: Uint8Array): boolean {
    if (q - p - 1 !== key.length) return false;
    for (let i = 0; i < key.length; i++) if (this.b[p + 1 + i] !== key[i]) return false;
    return true;
  }

  envelope(p: number): void {
    const b = this.b;
    const out = this.out;
    if (b[p] !== 123) this.malformed(p, "'{'");
    p = this.ws(p + 1);
    if (b[p] === 125) {
      out.next = p + 1;
      return;
    }
    while (true) {
      p = this.ws(p);
      if (b[p] !== 34) this.malformed(p, 'a key');
      const kq = this.stringEnd(p);
      const isType = this.keyIs(p, kq, KEY_MESSAGE_TYPE);
      const isEvents = !isType && this.keyIs(p, kq, KEY_LOG_EVENTS);
      p = this.expect(kq + 1, 58, "':'");
      p = this.ws(p);
      if (isType && b[p] === 34) {
        const q = this.stringEnd(p);
        out.control = this.keyIs(p, q, CONTROL_MESSAGE);
        out.messageType = UTF8.decode(b.subarray(p + 1, q));
        p = q + 1;
      } else if (isEvents) {
        out.sawLogEvents = true;
        p = this.events(p);
      } else {
        p = this.skipValue(p, 1);
      }
      p = this.ws(p);
      if (b[p] === 44) {
        p++;
        continue;
      }
      if (b[p] === 125) {
        out.next = p + 1;
        return;
      }
      this.malformed(p, "',' or '}'");
    }
  }

  events(p: number): number {
    const b = this.b;
    if (b[p] !== 91) this.malformed(p, "'[' (logEvents is an array)");
    p = this.ws(p + 1);
    if (b[p] === 93) return p + 1;
    while (true) {
      p = this.ws(p);
      if (b[p] !== 123) this.malformed(p, "'{' (a log event)");
      const q = this.fastEvent(p);
      if (q > 0) {
        p = q;
        if (b[p] === 44) {
          p++;
          continue;
        }
        if (b[p] === 93) return p + 1;
        // anything else: let the generic walk below report it
      }
      p = this.ws(p + 1);
      let ms = -1;
      let me = -1;
      let esc = false;
      if (b[p] !== 125) {
        while (true) {
          p = this.ws(p);
          if (b[p] !== 34) this.malformed(p, 'a key');
          const kq = this.stringEnd(p);
          const isMessage = this.keyIs(p, kq, KEY_MESSAGE);
          p = this.ws(this.expect(kq + 1, 58, "':'"));
          if (isMessage && b[p] === 34) {
            const q = this.stringEnd(p);
            ms = p + 1;
            me = q;
            esc = this.lastEscaped;
            p = q + 1;
          } else {
            p = this.skipValue(p, 3);
          }
          p = this.ws(p);
          if (b[p] === 44) {
            p++;
            continue;
          }
          if (b[p] === 125) break;
          this.malformed(p, "',' or '}'");
        }
      }
      p++;
      // An event without a string message is flagged (reported as malformed), so numbering stays aligned.
      if (ms < 0) this.out.push(0, 0, false, true);
      else this.out.push(ms, me, esc);
      p = this.ws(p);
      if (b[p] === 44) {
        p++;
        continue;
      }
      if (b[p] === 93) return p + 1;
      this.malformed(p, "',' or ']'");
    }
  }

  /**
   * The layout CloudWatch Logs writes for every event, `{"id":"<digits>","timestamp":<digits>,
   * "message":"…"}` without whitespace, matched byte for byte (measured: the generic key-by-key walk
   * cost more than decoding the flow line itself). Records the message and returns the position after
   * the closing brace, or -1 to let the generic walk handle anything else.
   */
  fastEvent(p: number): number {
    const b = this.b;
    const end = this.end;
    if (p + 40 > end || !this.bytesAt(p, EV_ID)) return -1;
    let q = p + EV_ID.length;
    while (q < end && (b[q] as number) >= 48 && (b[q] as number) <= 57) q++;
    if (q + EV_TS.length > end || !this.bytesAt(q, EV_TS)) return -1;
    q += EV_TS.length;
    const d0 = q;
    while (q < end && (b[q] as number) >= 48 && (b[q] as number) <= 57) q++;
    if (q === d0 || q + EV_MSG.length > end || !this.bytesAt(q, EV_MSG)) return -1;
    const open = q + EV_MSG.length - 1;
    const close = this.stringEnd(open);
    if (b[close + 1] !== 125) return -1;
    this.out.push(open + 1, close, this.lastEscaped);
    return close + 2;
  }

  private bytesAt(p: number, lit: Uint8Array): boolean {
    const b = this.b;
    for (let i = 0; i < lit.length; i++) if (b[p + i] !== lit[i]) return false;
    return true;
  }

  skipValue(p: number, depth: number): number {
    const b = this.b;
    if (depth > MAX_DEPTH) throw new Stop(ENVELOPE_MALFORMED, `not a CloudWatch Logs envelope: nested deeper than ${MAX_DEPTH} levels`);
    p = this.ws(p);
    const c = b[p];
    if (c === 34) return this.stringEnd(p) + 1;
    if (c === 123 || c === 91) {
      const close = c === 123 ? 125 : 93;
      p = this.ws(p + 1);
      if (b[p] === close) return p + 1;
      while (true) {
        if (c === 123) {
          p = this.ws(p);
          if (b[p] !== 34) this.malformed(p, 'a key');
          p = this.expect(this.stringEnd(p) + 1, 58, "':'");
        }
        p = this.ws(this.skipValue(p, depth + 1));
        if (b[p] === 44) {
          p++;
          continue;
        }
        if (b[p] === close) return p + 1;
        this.malformed(p, `',' or '${String.fromCharCode(close)}'`);
      }
    }
    // number, true, false, null
    const s = p;
    while (p < this.end) {
      const d = b[p] as number;
      if (!((d >= 48 && d <= 57) || (d >= 97 && d <= 122) || d === 45 || d === 43 || d === 46 || d === 69)) break;
      p++;
    }
    if (p === this.end) throw new Stop(ENVELOPE_INCOMPLETE, 'ends inside a value');
    if (p === s) this.malformed(p, 'a value');
    return p;
  }
}
