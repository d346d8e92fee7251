/**
 * Retries with capped exponential backoff and full jitter ("Exponential Backoff And
 * Jitter", AWS Architecture Blog, 2015): sleep = random(0, min(cap, base * 2^attempt)).
 * Each error decides for itself: throttling, 5xx and dropped connections retry; a failed
 * decryption, an access denial or any other 4xx never does.
 */
import { EggError } from './errors.js';
import type { Logger } from './log.js';

export interface RetryOptions {
  /** Shown in the log line for each retry, e.g. "dynamodb.BatchGetItem". */
  label: string;
  attempts?: number;
  baseMs?: number;
  capMs?: number;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  isRetryable?: (error: unknown) => boolean;
}

const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'TransactionInProgressException',
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);
const RETRYABLE_SYSCALLS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'SQLITE_BUSY',
]);

/** Whether an error is transient: throttling, a 5xx, a dropped connection, a busy database. */
export function isTransient(error: unknown): boolean {
  if (error instanceof EggError) return false;
  if (typeof error !== 'object' || error === null) return false;
  const e = error as {
    name?: string;
    code?: string;
    errcode?: number;
    $metadata?: { httpStatusCode?: number };
  };
  if (e.name !== undefined && RETRYABLE_NAMES.has(e.name)) return true;
  if (e.code !== undefined && RETRYABLE_SYSCALLS.has(e.code)) return true;
  if (e.errcode === 5 /* SQLITE_BUSY */) return true;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Run `fn`, retrying transient failures with full jitter. Non-transient errors pass straight through. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = options.attempts ?? 6;
  const base = options.baseMs ?? 25;
  const cap = options.capMs ?? 2000;
  const wait = options.sleep ?? sleep;
  const random = options.random ?? Math.random;
  const retryable = options.isRetryable ?? isTransient;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt + 1 >= attempts || !retryable(error)) throw error;
      const delay = Math.floor(random() * Math.min(cap, base * 2 ** attempt));
      options.logger?.debug('retry', {
        label: options.label,
        attempt: attempt + 1,
        delayMs: delay,
        error: (error as { name?: string }).name ?? 'Error',
      });
      await wait(delay);
    }
  }
}

/** Run `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  await Promise.all(workers);
  return results;
}
