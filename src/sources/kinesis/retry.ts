// What a failed Kinesis call means and how long to wait before trying it again. The SDK client is built
// with `maxAttempts: 1` (client.ts), so every retry of the Kinesis source and producer happens here,
// where it is counted, logged and bounded, instead of inside the SDK where it is invisible.
//
//   throttle   ProvisionedThroughputExceeded, LimitExceeded, Throttling, KMSThrottling: flow control,
//              retried for as long as it takes (with full-jitter backoff), never an error by itself
//   transient  HTTP 5xx, connection reset/refused/timed out: retried with backoff, up to a bound of
//              consecutive failures, then the source stops with a retriable DredgeError
//   expired    ExpiredIteratorException: the caller gets a fresh iterator (shard-consumer.ts)
//   fatal      anything else (ResourceNotFound, AccessDenied, validation, KMS key problems): no retry
//              can help; the caller stops with a DredgeError saying what to fix

export type ErrorKind = 'throttle' | 'transient' | 'expired' | 'fatal';

const THROTTLES = new Set(['ProvisionedThroughputExceededException', 'LimitExceededException', 'ThrottlingException', 'KMSThrottlingException', 'ThrottledException', 'RequestLimitExceeded', 'TooManyRequestsException']);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET']);
const TRANSIENT_NAMES = new Set(['InternalFailure', 'InternalFailureException', 'InternalServerError', 'ServiceUnavailable', 'ServiceUnavailableException', 'TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $response?: { statusCode?: unknown };
  cause?: unknown;
}

export function errorName(e: unknown): string {
  const x = e as ErrorShape | null;
  return typeof x?.name === 'string' ? x.name : String(e);
}

export function httpStatus(e: unknown): number | undefined {
  const x = e as ErrorShape | null;
  const s = x?.$metadata?.httpStatusCode ?? x?.$response?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

export function classify(e: unknown): ErrorKind {
  const x = e as ErrorShape | null;
  const name = errorName(e);
  if (name === 'ExpiredIteratorException') return 'expired';
  if (THROTTLES.has(name)) return 'throttle';
  const status = httpStatus(e);
  if (status === 429) return 'throttle';
  if (status !== undefined && status >= 500) return 'transient';
  if (TRANSIENT_NAMES.has(name)) return 'transient';
  // Socket errors reach us bare (no $metadata) or wrapped; look one level into `cause` too.
  for (const c of [x, (x?.cause ?? null) as ErrorShape | null]) {
    if (c !== null && typeof c.code === 'string' && NETWORK_CODES.has(c.code)) return 'transient';
  }
  // An HTTP response the SDK could not parse as a Kinesis error (a proxy's HTML page): transient only if 5xx.
  return 'fatal';
}

export interface Backoff {
  /** First retry waits up to this (ms). */
  baseMs: number;
  /** No wait exceeds this (ms). */
  capMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 100, capMs: 10_000 };

/**
 * "Full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"): uniform in [0, min(cap,
 * base·2^attempt)]. Spreads the retries of many shards that were throttled together, which a fixed
 * exponential delay would keep in lockstep.
 */
export function fullJitter(b: Backoff, attempt: number): number {
  const ceiling = Math.min(b.capMs, b.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(Math.random() * ceiling);
}

/** Resolves after `ms`, or at once (false) when `signal` aborts first. Never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted === true) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** One line for logs: the error's name and message, nothing from the request (no headers, no keys). */
export function describe(e: unknown): string {
  const status = httpStatus(e);
  const msg = e instanceof Error ? e.message : String(e);
  return `${errorName(e)}${status !== undefined ? ` (HTTP ${status})` : ''}: ${msg.split('\n')[0]}`;
}

export interface RetryPolicy {
  backoff: Backoff;
  /** Consecutive transient failures before giving up (throttles never count). */
  maxTransientRetries: number;
  /** Ends a wait early; the call then resolves null. Unset: waits are not interruptible. */
  signal?: AbortSignal | undefined;
  onThrottle?: ((e: unknown, count: number) => void) | undefined;
  onTransient?: ((e: unknown, count: number) => void) | undefined;
}

/** Thrown by `retrying` for a fatal error or after too many transient ones; carries the last error. */
export class GaveUp extends Error {
  readonly kind: 'fatal' | 'transient';
  readonly attempts: number;
  constructor(kind: 'fatal' | 'transient', attempts: number, cause: unknown) {
    super(describe(cause), { cause });
    this.name = 'GaveUp';
    this.kind = kind;
    this.attempts = attempts;
  }
}

/**
 * Calls `fn` until it succeeds: throttles are retried without bound, transient errors up to the
 * policy's bound, each after a full-jitter wait. An expired iterator is rethrown as is (the caller
 * renews it); a fatal error, or one transient error too many, becomes GaveUp. Null when the signal
 * aborts during a wait (the call in flight, if any, has finished).
 */
export async function retrying<T>(fn: () => Promise<T>, p: RetryPolicy): Promise<T | null> {
  let throttled = 0;
  let transient = 0;
  while (true) {
    try {
      return await fn();
    } catch (e) {
      const kind = classify(e);
      if (kind === 'expired') throw e;
      if (kind === 'fatal') throw new GaveUp('fatal', throttled + transient + 1, e);
      let wait: number;
      if (kind === 'throttle') {
        p.onThrottle?.(e, ++throttled);
        wait = fullJitter(p.backoff, throttled);
      } else {
        if (++transient > p.maxTransientRetries) throw new GaveUp('transient', throttled + transient, e);
        p.onTransient?.(e, transient);
        wait = fullJitter(p.backoff, transient);
      }
      if (!(await sleep(wait, p.signal))) return null;
    }
  }
}
