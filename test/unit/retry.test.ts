/**
 * Retries: capped exponential backoff with full jitter, and a per-error decision. An access
 * denial or a failed decryption must never be retried (retrying one only hammers IAM/KMS
 * and delays the clear error); throttling, 5xx and dropped connections must be.
 */
import { describe, expect, it } from 'vitest';
import { DecryptionFailed, EggError } from '../../src/errors.js';
import type { LogFields, Logger } from '../../src/log.js';
import { isTransient, mapLimit, retry } from '../../src/retry.js';

const awsError = (name: string, status: number) =>
  Object.assign(new Error(`${name} from AWS`), { name, $metadata: { httpStatusCode: status } });
const sysError = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

/** Fails `failures` times with `error`, then returns 'ok'; records attempts. */
function flaky(failures: number, error: unknown) {
  const attempts: number[] = [];
  return {
    attempts,
    fn: async (attempt: number) => {
      attempts.push(attempt);
      if (attempts.length <= failures) throw error;
      return 'ok';
    },
  };
}

describe('retry', () => {
  it.each([
    ['ThrottlingException', awsError('ThrottlingException', 400)],
    ['ProvisionedThroughputExceededException', awsError('ProvisionedThroughputExceededException', 400)],
    ['KMSInternalException', awsError('KMSInternalException', 500)],
    ['an unnamed 503', awsError('UnknownError', 503)],
    ['ECONNRESET', sysError('ECONNRESET')],
    ['ECONNREFUSED', sysError('ECONNREFUSED')],
    ['SQLITE_BUSY', Object.assign(new Error('database is locked'), { errcode: 5 })],
  ])('retries %s', async (_name, error) => {
    expect(isTransient(error)).toBe(true);
    const { fn, attempts } = flaky(2, error);
    await expect(retry(fn, { label: 'test', sleep: async () => {} })).resolves.toBe('ok');
    expect(attempts).toEqual([0, 1, 2]);
  });

  it.each([
    ['an access denial', awsError('AccessDeniedException', 400)],
    ['a KMS ciphertext refusal', awsError('InvalidCiphertextException', 400)],
    ['a failed condition', awsError('ConditionalCheckFailedException', 400)],
    ['a validation error', awsError('ValidationException', 400)],
    ['a missing table', awsError('ResourceNotFoundException', 400)],
    [
      'an EggError, even one wrapping a transient cause',
      new EggError('ERR_ACCESS_DENIED', 'denied', { cause: sysError('ECONNRESET') }),
    ],
    ['a failed decryption', new DecryptionFailed('secret X')],
    ['a plain Error', new Error('bug')],
    ['a thrown string', 'oops'],
  ])('never retries %s', async (_name, error) => {
    expect(isTransient(error)).toBe(false);
    const slept: number[] = [];
    const { fn, attempts } = flaky(1, error);
    await expect(retry(fn, { label: 'test', sleep: async (ms) => void slept.push(ms) })).rejects.toBe(error);
    expect([attempts, slept]).toEqual([[0], []]);
  });

  it('sleeps random(0, min(cap, base * 2^attempt)): full jitter, capped', async () => {
    const error = awsError('ThrottlingException', 400);
    const run = async (random: number) => {
      const slept: number[] = [];
      const { fn } = flaky(Number.POSITIVE_INFINITY, error);
      await expect(
        retry(fn, {
          label: 't',
          attempts: 8,
          baseMs: 10,
          capMs: 300,
          random: () => random,
          sleep: async (ms) => void slept.push(ms),
        }),
      ).rejects.toBe(error);
      return slept;
    };
    // The upper bounds (random just under 1): 10, 20, 40, 80, 160, then the 300 ms cap.
    expect(await run(0.9999999)).toEqual([9, 19, 39, 79, 159, 299, 299]);
    expect(await run(0.5)).toEqual([5, 10, 20, 40, 80, 150, 150]);
    expect(await run(0)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });

  it('gives up after `attempts` tries with the last error', async () => {
    const error = sysError('ETIMEDOUT');
    const { fn, attempts } = flaky(10, error);
    await expect(retry(fn, { label: 't', attempts: 3, sleep: async () => {} })).rejects.toBe(error);
    expect(attempts).toEqual([0, 1, 2]);
  });

  it('defaults to 6 attempts, base 25 ms, cap 2 s', async () => {
    const slept: number[] = [];
    const { fn, attempts } = flaky(10, awsError('ThrottlingException', 400));
    await expect(
      retry(fn, { label: 't', random: () => 0.9999999, sleep: async (ms) => void slept.push(ms) }),
    ).rejects.toThrow();
    expect([attempts.length, slept]).toEqual([6, [24, 49, 99, 199, 399]]);
  });

  it('logs each retry with its label, attempt, delay and error name, never the message', async () => {
    const lines: [string, LogFields | undefined][] = [];
    const logger: Logger = { debug: (e, f) => lines.push([e, f]), info() {}, warn() {} };
    const { fn } = flaky(1, awsError('ThrottlingException', 400));
    await retry(fn, { label: 'dynamodb.Query', logger, random: () => 0.5, sleep: async () => {} });
    expect(lines).toEqual([
      ['retry', { label: 'dynamodb.Query', attempt: 1, delayMs: 12, error: 'ThrottlingException' }],
    ]);
  });

  it('lets the caller decide what is retryable', async () => {
    const { fn, attempts } = flaky(2, new Error('custom'));
    await retry(fn, { label: 't', isRetryable: () => true, sleep: async () => {} });
    expect(attempts).toHaveLength(3);
  });
});

describe('mapLimit', () => {
  it('keeps input order and never runs more than `limit` at once', async () => {
    let running = 0;
    let peak = 0;
    const result = await mapLimit([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, n));
      running--;
      return n * 10;
    });
    expect(result).toEqual([50, 10, 40, 20, 30, 0, 60]);
    expect(peak).toBe(3);
  });

  it('rejects with the first failure and starts nothing new after it', async () => {
    const started: number[] = [];
    await expect(
      mapLimit([1, 2, 3, 4, 5], 1, async (n) => {
        started.push(n);
        if (n === 2) throw new Error('two');
        return n;
      }),
    ).rejects.toThrow('two');
    expect(started).toEqual([1, 2]);
  });

  it('handles an empty list', async () => {
    expect(await mapLimit([], 4, async (n: number) => n)).toEqual([]);
  });
});
