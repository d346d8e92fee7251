/**
 * The proxy's caps on one request (DESIGN, Host-bound tokens): the declared body size, the
 * token's rate (429 with `Retry-After`) and its spend (402). The counting lives elsewhere
 * (rate.ts, the token store's spend reservation); here is what each outcome answers.
 */
import type { SpendResult } from '../tokens/token-store.js';
import { REFUSALS, type Refusal } from './refusals.js';

/**
 * Whether a request that declares `contentLength` (its header, absent for none) may be
 * forwarded under `maxBody`. A length that is not a number never is (framing.ts refuses
 * those before this; the check does not rely on it).
 */
export function declaredBodyAllowed(contentLength: string | undefined, maxBody: number): boolean {
  const declared = Number(contentLength ?? 0);
  return declared <= maxBody;
}

/** The 429 of a token over its rate, saying when to try again. */
export function rateRefusal(retryAfterSeconds: number, cors: Readonly<Record<string, string>>): Refusal {
  return {
    status: 429,
    code: 'rate_limited',
    message: "the token's rate cap is reached",
    headers: { ...cors, 'retry-after': String(retryAfterSeconds) },
  };
}

/**
 * The 429 of a token throttled by an anomaly rule (usage-meter.ts), over its lowered rate:
 * its owner was alerted, and the throttle ends on its own or when lifted.
 */
export function throttleRefusal(retryAfterSeconds: number, cors: Readonly<Record<string, string>>): Refusal {
  return {
    status: 429,
    code: 'token_throttled',
    message: 'the token is throttled after unusual use; its owner was alerted',
    headers: { ...cors, 'retry-after': String(retryAfterSeconds) },
  };
}

/**
 * The answer to a refused spend reservation: 402 at the spend cap; 401 otherwise, since no
 * live record took it (never minted here, another digest, marked by a kill switch).
 */
export function spendRefusal(
  result: SpendResult & { ok: false },
  cors: Readonly<Record<string, string>>,
): Refusal {
  return result.reason === 'spend-cap' ? { ...REFUSALS.spend, headers: cors } : REFUSALS.token;
}
