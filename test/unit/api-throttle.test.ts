/**
 * The limit per caller's arithmetic (src/api/throttle.ts) over an in-memory count store, and
 * the Lambda's reading of it from the environment: a deployment never runs with a limit it
 * did not ask for, nor with none when the store does not answer with a count.
 */
import { describe, expect, it } from 'vitest';
import { CallLimiter, callLimitFromEnv, DEFAULT_CALL_LIMIT } from '../../src/api/throttle.js';
import { isEggError } from '../../src/errors.js';
import type { CallCountStore } from '../../src/stores/store.js';

function memoryStore(): CallCountStore & { counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const marks = new Map<string, number>();
  return {
    counts,
    countCall: async (caller, window) => {
      const key = `${caller} ${window}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      return counts.get(key) as number;
    },
    callCount: async (caller, window) => counts.get(`${caller} ${window}`) ?? 0,
    markRefused: async (caller, window) => {
      const before = marks.get(caller);
      if (before !== undefined && before >= window) return undefined;
      marks.set(caller, window);
      return before;
    },
  };
}

describe('CallLimiter', () => {
  it('admits a burst a window, then refuses with Retry-After in whole seconds until the window ends', async () => {
    // 3 a second, 4 at once: windows of 1334 ms.
    let now = 1334 * 1000 + 100;
    const limiter = new CallLimiter(memoryStore(), { rps: 3, burst: 4 }, () => new Date(now));
    expect(limiter.windowMs).toBe(1334);
    for (let i = 0; i < 4; i++) expect(await limiter.admit('p')).toBeUndefined();
    const refused = await limiter.admit('p');
    expect(refused).toMatchObject({ retryAfter: 2, windowStart: new Date(1334 * 1000), record: {} });
    // Only the first refusal of a window is to be recorded.
    expect((await limiter.admit('p'))?.record).toBeUndefined();
    // Another caller has its own count.
    expect(await limiter.admit('q')).toBeUndefined();
    now += 1000;
    expect((await limiter.admit('p'))?.retryAfter).toBe(1);
    now += 334;
    expect(await limiter.admit('p')).toBeUndefined();
  });

  it('counts the unrecorded refusals of the last refused window in the next record', async () => {
    let now = 10_000;
    const limiter = new CallLimiter(memoryStore(), { rps: 1, burst: 2 }, () => new Date(now));
    for (let i = 0; i < 2 + 7; i++) await limiter.admit('p');
    now += 2000 * 5;
    for (let i = 0; i < 2; i++) expect(await limiter.admit('p')).toBeUndefined();
    expect((await limiter.admit('p'))?.record).toEqual({
      earlier: { windowStart: new Date(10_000), unrecorded: 6 },
    });
  });

  it('fails closed when the store answers no count', async () => {
    const store = { ...memoryStore(), countCall: async () => Number.NaN };
    await expect(new CallLimiter(store, DEFAULT_CALL_LIMIT).admit('p')).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
    });
  });

  it('refuses a limit that is not a whole number ≥ 1', () => {
    for (const limit of [
      { rps: 0, burst: 1 },
      { rps: 1, burst: 1.5 },
    ])
      expect(() => new CallLimiter(memoryStore(), limit)).toThrow(/whole number ≥ 1/);
  });
});

describe('callLimitFromEnv (the Lambda)', () => {
  const code = (env: NodeJS.ProcessEnv) => {
    try {
      callLimitFromEnv(env);
    } catch (error) {
      return isEggError(error) ? error.code : String(error);
    }
    return undefined;
  };

  it('reads both, or takes the default when neither is set', () => {
    expect(callLimitFromEnv({ EGG_API_SUB_RPS: '5', EGG_API_SUB_BURST: '12' })).toEqual({
      rps: 5,
      burst: 12,
    });
    expect(callLimitFromEnv({})).toEqual(DEFAULT_CALL_LIMIT);
  });

  it('refuses one without the other, and a value that is not a whole number ≥ 1', () => {
    expect(code({ EGG_API_SUB_RPS: '5' })).toBe('ERR_INVALID_CONFIG');
    expect(code({ EGG_API_SUB_BURST: '5' })).toBe('ERR_INVALID_CONFIG');
    expect(code({ EGG_API_SUB_RPS: '0', EGG_API_SUB_BURST: '5' })).toBe('ERR_INVALID_CONFIG');
    expect(code({ EGG_API_SUB_RPS: '5', EGG_API_SUB_BURST: '2.5' })).toBe('ERR_INVALID_CONFIG');
    expect(code({ EGG_API_SUB_RPS: 'ten', EGG_API_SUB_BURST: '5' })).toBe('ERR_INVALID_CONFIG');
  });
});
