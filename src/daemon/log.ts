// The daemon's log (issue #7, DESIGN.md §8): structured JSON lines through pino for machines (one
// object per line on stderr: `level`, `time`, `msg` and the event's own fields), the same events as
// plain `dredge run: …` lines for a person at a terminal.
//
//   --log-format json     always JSON (what a log shipper wants, also on a terminal)
//   --log-format pretty   always plain lines (what a person piping to `less` wants)
//   unset                 plain on a terminal, JSON otherwise (a service manager, a container, a pipe)
//
// Each event carries `event` (a stable name: `start`, `index.reload`, `shard.status`, `malformed`,
// `summary` …) so a query over the logs does not parse `msg`; `msg` stays the sentence a person reads.
// Writes are synchronous: a line logged just before an exit (a second signal, a fatal error) is on
// stderr when the process ends, and the volume is a few lines per flush at most.

import { pino, type DestinationStream, type Logger } from 'pino';
import { DredgeError } from '../errors.js';

export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogOptions {
  /** Unset: pretty when `stream` is a terminal, else JSON. */
  format?: LogFormat;
  level?: LogLevel;
  /** Where lines go (default: stderr). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Prefix of a plain line and the `name` field of a JSON one. */
  name?: string;
}

/** The format a run logs in: the option as given, else by whether the stream is a terminal. */
export function resolveLogFormat(format: string | undefined, isTTY: boolean): LogFormat {
  if (format === undefined) return isTTY ? 'pretty' : 'json';
  if ((LOG_FORMATS as readonly string[]).includes(format)) return format as LogFormat;
  throw new DredgeError('DREDGE_ERR_CONFIG', `--log-format: "${format}" is not a log format; use json (one object per line, for log shippers) or pretty (plain lines)`);
}

export function checkLogLevel(level: string | undefined): LogLevel {
  if (level === undefined) return 'info';
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new DredgeError('DREDGE_ERR_CONFIG', `--log-level: "${level}" is not a level; use one of ${LOG_LEVELS.join(', ')}`);
}

/**
 * Plain lines from pino's JSON: `name: msg`, with `warning:` / `error:` before the message at those
 * levels. On a terminal the line first clears the progress bar it may be drawn over.
 */
class PlainLines implements DestinationStream {
  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly name: string,
  ) {}

  write(line: string): void {
    let o: { level?: number; msg?: string };
    try {
      o = JSON.parse(line) as { level?: number; msg?: string };
    } catch {
      this.out.write(line);
      return;
    }
    const level = o.level ?? 30;
    const tag = level >= 50 ? 'error: ' : level >= 40 ? 'warning: ' : '';
    this.out.write(`${this.out.isTTY === true ? '\r\x1b[K' : ''}${this.name}: ${tag}${o.msg ?? ''}\n`);
  }
}

export function createLog(opts: LogOptions = {}): Logger {
  const out = opts.stream ?? process.stderr;
  const name = opts.name ?? 'dredge run';
  const format = opts.format ?? resolveLogFormat(undefined, out.isTTY === true);
  const level = opts.level ?? 'info';
  // JSON lines go straight to the stream: stderr is synchronous in Node on Linux for files, terminals
  // and pipes, so a line logged before process.exit() is not lost, which an async destination
  // (sonic-boom) would not promise.
  const dest: DestinationStream = format === 'pretty' ? new PlainLines(out, name) : out;
  return pino({ name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}
