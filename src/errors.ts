// One error class for the whole product: a stable `code` a caller can branch on, and `retriable` so
// sources and sinks know whether trying again can help. Messages say what to do next.

export type DredgeErrorCode =
  | 'DREDGE_ERR_CONFIG' // bad flag, config key or format: fix the input named in the message
  | 'DREDGE_ERR_INPUT' // an input could not be read at all (missing file, unsupported encoding)
  | 'DREDGE_ERR_TRUNCATED' // a gzip stream or CloudWatch envelope ended early
  | 'DREDGE_ERR_LIMIT' // an input exceeded a memory bound (decompressed size, envelope size)
  | 'DREDGE_ERR_INDEX' // an index file or metadata source is invalid
  | 'DREDGE_ERR_SINK_WRITE' // a sink could not make a flush durable (`retriable` says whether trying again can help)
  | 'DREDGE_ERR_WORKER' // a worker thread died or a task failed (the message says whether it was retried)
  | 'DREDGE_ERR_INTERNAL';

export class DredgeError extends Error {
  readonly code: DredgeErrorCode;
  readonly retriable: boolean;
  /** Already reported as a structured log line (JSON logs): the CLI then prints nothing more. */
  logged = false;

  constructor(code: DredgeErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DredgeError';
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}
