/**
 * Anomaly rules (issue 10, docs/alerts.md): pure checks of one token's usage totals in the
 * current window (from every proxy, usage-store.ts), with defaults that need no set-up.
 * A rule that fires throttles the token and raises one alert (usage-meter.ts).
 *
 * - `refusal-burst`: requests naming the token's id refused as invalid (a bad signature,
 *   expired, revoked) or from an origin it does not allow: someone holds the token, or its
 *   id, and is trying it where it does not work.
 * - `rate-spike`: far more requests in the window than the token's own recent baseline
 *   (the mean of its active windows in the hour before); armed once it has a baseline.
 * - `client-fanout`: a token minted with `--max-clients` refused new client addresses past
 *   it in the window, or the proxies together admitted more than it allows
 *   (client-limits.ts): the token is being shared, or was leaked and is used from many places.
 * - `spend-velocity`: at the spend rate of this window, the cap would be gone long before
 *   the token expires.
 */
import type { UsageTotals } from '../tokens/usage-store.js';
import { USAGE_WINDOW_SECONDS } from '../tokens/usage-store.js';

export type RuleName = 'refusal-burst' | 'rate-spike' | 'client-fanout' | 'spend-velocity';

export interface AnomalyRules {
  /** Refused requests (invalid token + refused origin) in one window that fire. */
  refusalBurst: { threshold: number } | false;
  /** Fires at `factor` × the baseline's requests per window, and never below `floor`. */
  rateSpike: { factor: number; floor: number; minWindows: number } | false;
  /** New client addresses refused past `--max-clients` (at one proxy, between two batches) that fire. */
  clientFanout: { threshold: number } | false;
  /**
   * Fires once `minSpentFraction` of the cap is spent and, at this window's rate, the rest
   * would last less than `lifeFraction` of the token's remaining life.
   */
  spendVelocity: { lifeFraction: number; minSpentFraction: number } | false;
  /** What a firing rule does: the token's rate becomes `rpsFraction` of its own (at least 1 r/s), for `seconds`. */
  throttle: { rpsFraction: number; seconds: number };
}

export const DEFAULT_RULES: AnomalyRules = {
  refusalBurst: { threshold: 20 },
  rateSpike: { factor: 10, floor: 60, minWindows: 3 },
  clientFanout: { threshold: 1 },
  spendVelocity: { lifeFraction: 0.25, minSpentFraction: 0.1 },
  throttle: { rpsFraction: 0.1, seconds: 900 },
};

/** A rule that fired for one token, with the figures that made it fire. */
export interface Finding {
  namespace: string;
  tokenId: string;
  rule: RuleName;
  figures: Record<string, number>;
}

/**
 * The rules that fire on `t` at `now` (seconds), in the order above. `clients`: for a token
 * with client limits, its `--max-clients` and the new addresses this proxy refused since
 * the last batch (the window's distinct addresses, from every proxy, are `t.clients`).
 */
export function findAnomalies(
  t: UsageTotals,
  rules: AnomalyRules,
  now: number,
  clients?: { max: number; refused: number },
): Finding[] {
  const found: Finding[] = [];
  const finding = (rule: RuleName, figures: Record<string, number>) =>
    found.push({ namespace: t.namespace, tokenId: t.id, rule, figures });
  const c = t.counts;
  if (rules.refusalBurst !== false) {
    const refused = c.invalidToken + c.refusedOrigin;
    if (refused >= rules.refusalBurst.threshold)
      finding('refusal-burst', {
        invalidToken: c.invalidToken,
        refusedOrigin: c.refusedOrigin,
        threshold: rules.refusalBurst.threshold,
        windowSeconds: USAGE_WINDOW_SECONDS,
      });
  }
  const threshold = rateSpikeThreshold(t, rules);
  if (threshold !== undefined) {
    const baseline = t.baseline.requests / t.baseline.windows;
    if (c.requests >= threshold)
      finding('rate-spike', {
        requests: c.requests,
        baselinePerWindow: Math.round(baseline * 100) / 100,
        threshold,
        windowSeconds: USAGE_WINDOW_SECONDS,
      });
  }
  if (rules.clientFanout !== false && clients !== undefined) {
    const distinct = t.clients?.length ?? 0;
    if (clients.refused >= rules.clientFanout.threshold || distinct > clients.max)
      finding('client-fanout', {
        distinctClients: distinct,
        maxClients: clients.max,
        refusedClients: clients.refused,
        windowSeconds: USAGE_WINDOW_SECONDS,
      });
  }
  if (rules.spendVelocity !== false && c.spend > 0 && t.cap > 0) {
    const elapsed = Math.max(1, now - t.window);
    const perSecond = c.spend / elapsed;
    const left = Math.max(0, t.cap - t.spent);
    const lastsSeconds = left / perSecond;
    const lifeSeconds = t.exp - now;
    if (
      t.spent >= rules.spendVelocity.minSpentFraction * t.cap &&
      lifeSeconds > 0 &&
      lastsSeconds < rules.spendVelocity.lifeFraction * lifeSeconds
    )
      finding('spend-velocity', {
        spent: t.spent,
        cap: t.cap,
        spendPerMinute: Math.round(perSecond * 60),
        capLastsSeconds: Math.floor(lastsSeconds),
        expiresInSeconds: lifeSeconds,
      });
  }
  return found;
}

/** The requests in a window at which `rate-spike` fires on `t`; undefined while it is not armed. */
export function rateSpikeThreshold(
  t: Pick<UsageTotals, 'baseline'>,
  rules: Pick<AnomalyRules, 'rateSpike'>,
): number | undefined {
  const spike = rules.rateSpike;
  if (spike === false || t.baseline.windows < spike.minWindows) return undefined;
  return Math.max(spike.floor, Math.ceil(spike.factor * (t.baseline.requests / t.baseline.windows)));
}

/** The throttle a finding sets on a token of `rps`. */
export function throttleFor(
  rule: RuleName,
  rps: number,
  rules: AnomalyRules,
  now: number,
): { rule: RuleName; rps: number; since: number; until: number } {
  return {
    rule,
    rps: Math.max(1, Math.floor(rps * rules.throttle.rpsFraction)),
    since: now,
    until: now + rules.throttle.seconds,
  };
}
