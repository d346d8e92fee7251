/**
 * Rate caps: one token bucket per token id (`burst` deep, refilled at `rps` a second),
 * in this process. Several proxies each keep their own buckets, so N proxies let a token
 * through at up to N × rps (docs/tokens.md); spend, which costs money, is shared and exact.
 */

export type RateVerdict = { ok: true } | { ok: false; retryAfterSeconds: number };

const ALLOWED: RateVerdict = Object.freeze({ ok: true });

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #clock: () => number;
  readonly #maxBuckets: number;

  constructor(options: { clock?: () => number; maxBuckets?: number } = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#maxBuckets = options.maxBuckets ?? 100_000;
  }

  /** Take one request from the token's bucket. */
  take(id: string, rps: number, burst: number): RateVerdict {
    const now = this.#clock();
    let bucket = this.#buckets.get(id);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxBuckets) this.#sweep(now);
      bucket = { tokens: burst, at: now };
      this.#buckets.set(id, bucket);
    } else {
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rps);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return ALLOWED;
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / rps)) };
  }

  /** Drop buckets idle long enough to be full again (nothing is lost by forgetting them). */
  #sweep(now: number): void {
    for (const [id, bucket] of this.#buckets) if (now - bucket.at > 60_000) this.#buckets.delete(id);
    // Still full of busy tokens: drop the oldest half rather than grow without bound.
    if (this.#buckets.size >= this.#maxBuckets) {
      let n = Math.floor(this.#maxBuckets / 2);
      for (const id of this.#buckets.keys()) {
        if (n-- <= 0) break;
        this.#buckets.delete(id);
      }
    }
  }
}
