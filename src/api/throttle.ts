/**
 * The API's limit per caller (issue 16, "throttling per `sub`"): at most `burst` calls in
 * each window of `burst / rps` seconds, per verified caller (its principal, `<iss>|<sub>`),
 * counted in the store every instance of the API shares (SQLite for `egg api serve`,
 * DynamoDB for the Lambdas), so a caller spread over many instances meets one limit.
 *
 * Why a fixed window: it costs one atomic write a call (an `ADD` to the counter of the
 * caller's current window, which answers with the count after it), and nothing else. A token
 * bucket or a sliding window needs the state read and written back, or two writes, on every
 * call; DynamoDB's update expressions cannot compute a refill (no multiply, no min). The price
 * is the window's edge: a caller may spend a burst at the end of one window and another at
 * the start of the next, so up to `2 × burst` calls in a span of one window, and `rps` a
 * second over any longer span. That is exact enough to stop one caller from spending the
 * stage's budget, which is what the limit is for.
 *
 * Every call counts, refused ones too (a caller hammering through its 429s does not get a
 * fresh window sooner). The first refusal of a window is recorded in the service's audit
 * trail; the rest of that window are counted in the store, not recorded one by one, and the
 * caller's next recorded refusal says how many there were (`markRefused` keeps the last
 * refused window). So a flood of refusals writes at most one audit record a window.
 */
import { EggError } from '../errors.js';
import type { CallCountStore } from '../stores/store.js';

/** The limit: `rps` calls a second on average, `burst` at once. */
export interface CallLimit {
  rps: number;
  burst: number;
}

/** `egg api serve`'s and the Lambda's limit unless configured. */
export const DEFAULT_CALL_LIMIT: CallLimit = { rps: 10, burst: 20 };

/** How long counters and marks outlive their window: the next refusal record can still count the last. */
export const CALL_COUNT_KEEP_SECONDS = 86_400;

/** A call over the limit: when to try again, and whether (and what) to record. */
export interface Refusal {
  /** Whole seconds until the window ends (at least 1). */
  retryAfter: number;
  /** When the window began. */
  windowStart: Date;
  /**
   * The first refusal of its window, to be recorded: with the refusals of the caller's last
   * refused window that no record counted yet (undefined when there was none, or its counter
   * is gone).
   */
  record?: { earlier?: { windowStart: Date; unrecorded: number } };
}

/** Checks `limit` and says it in errors: whole numbers ≥ 1. */
export function assertCallLimit(limit: CallLimit): CallLimit {
  for (const [name, value] of Object.entries(limit))
    if (!Number.isSafeInteger(value) || (value as number) < 1)
      throw new EggError('ERR_INVALID_CONFIG', `the limit per caller's ${name} must be a whole number ≥ 1`, {
        hint: 'e.g. --sub-rps 10 --sub-burst 20',
      });
  return limit;
}

export class CallLimiter {
  readonly limit: CallLimit;
  /** The window's length in milliseconds: `burst / rps` seconds, rounded up. */
  readonly windowMs: number;
  readonly #store: CallCountStore;
  readonly #clock: () => Date;

  constructor(store: CallCountStore, limit: CallLimit, clock: () => Date = () => new Date()) {
    this.limit = assertCallLimit(limit);
    this.windowMs = Math.ceil((limit.burst * 1000) / limit.rps);
    this.#store = store;
    this.#clock = clock;
  }

  /**
   * Count one call of `principal`: undefined when it is within the limit, else the refusal.
   * A store that cannot count throws (the API answers 503): no count, no call.
   */
  async admit(principal: string): Promise<Refusal | undefined> {
    const nowMs = this.#clock().getTime();
    const window = Math.floor(nowMs / this.windowMs);
    const expiresAt = this.#expiry(window);
    const count = await this.#store.countCall(principal, window, expiresAt, Math.floor(nowMs / 1000));
    if (!Number.isSafeInteger(count) || count < 1)
      throw new EggError('ERR_STORE_UNAVAILABLE', 'the store did not confirm the caller’s call count', {
        hint: 'try again',
      });
    if (count <= this.limit.burst) return undefined;
    const end = (window + 1) * this.windowMs;
    const refusal: Refusal = {
      retryAfter: Math.max(1, Math.ceil((end - nowMs) / 1000)),
      windowStart: new Date(window * this.windowMs),
    };
    if (count !== this.limit.burst + 1) return refusal;
    const before = await this.#store.markRefused(principal, window, expiresAt);
    if (before === undefined || before >= window) return { ...refusal, record: {} };
    // That window's first refusal was recorded; the others were not.
    const unrecorded = (await this.#store.callCount(principal, before)) - this.limit.burst - 1;
    return {
      ...refusal,
      record:
        unrecorded > 0 ? { earlier: { windowStart: new Date(before * this.windowMs), unrecorded } } : {},
    };
  }

  #expiry(window: number): number {
    return Math.ceil(((window + 1) * this.windowMs) / 1000) + CALL_COUNT_KEEP_SECONDS;
  }
}

/**
 * The limit the Lambda runs with: `EGG_API_SUB_RPS` and `EGG_API_SUB_BURST` (infra/service.ts
 * sets both), `DEFAULT_CALL_LIMIT` when neither is set. One without the other, or a value that
 * is not a whole number ≥ 1, is refused: a deployment never runs with a limit it did not ask for.
 */
export function callLimitFromEnv(env: NodeJS.ProcessEnv): CallLimit {
  const rps = env.EGG_API_SUB_RPS ?? '';
  const burst = env.EGG_API_SUB_BURST ?? '';
  if (rps === '' && burst === '') return DEFAULT_CALL_LIMIT;
  if (rps === '' || burst === '')
    throw new EggError('ERR_INVALID_CONFIG', 'EGG_API_SUB_RPS and EGG_API_SUB_BURST go together', {
      hint: 'infra/ sets both from --service-sub-rate and --service-sub-burst',
    });
  const whole = (text: string) => (/^[0-9]{1,9}$/.test(text) ? Number(text) : Number.NaN);
  return assertCallLimit({ rps: whole(rps), burst: whole(burst) });
}
