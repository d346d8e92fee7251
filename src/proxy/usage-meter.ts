/**
 * Per-token usage counting in the proxy (issue 10): each request adds to counters in memory
 * (a map lookup and a few additions, nothing awaited), and once a second the counts go to
 * the store in one batch (usage-store.ts: one transaction on SQLite), never one write per
 * request. The batch answers with each token's totals in the window from every proxy, the
 * anomaly rules read them (anomaly-rules.ts), and a rule that fires throttles the token
 * through the store; the proxy whose conditional write set the throttle raises the one alert.
 *
 * A burst does not wait for the next batch: when a token's counts reach a rule's threshold
 * (its refusals the refusal-burst threshold, its requests the rate-spike threshold of its
 * last totals, a client refused past `--max-clients`), counting the window's totals from
 * every proxy as of the last batch, the batch goes at once, so the alert comes sooner. Each
 * crossing happens once per token and window, and batches still run one at a time.
 *
 * Memory is bounded: at most `maxTokens` tokens are counted between two batches (the ids of
 * refused tokens come from requests, unverified); past it, new ids wait for the next batch.
 * A batch the store refuses is kept for the next one, within the same bound.
 *
 * With client limits (client-limits.ts), the batch also carries the client addresses each
 * token admitted here since the last one, and brings back the window's set from every proxy.
 *
 * Each namespace's rule settings (`egg alerts rules set`, rule-settings.ts) are read with the
 * batch that needs them and kept for `RULES_REFRESH_MS`: a change reaches every proxy within
 * that. A failed read keeps the settings last read (the defaults, before any).
 */
import { errorLabel } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import {
  emptyCounts,
  USAGE_FIELDS,
  type UsageCounts,
  type UsageStore,
  type UsageTotals,
  type UsageWindow,
  windowOf,
} from '../tokens/usage-store.js';
import {
  type AnomalyRules,
  DEFAULT_RULES,
  findAnomalies,
  type Finding,
  rateSpikeThreshold,
  throttleFor,
} from './anomaly-rules.js';
import type { ClientLimits } from './client-limits.js';
import { rulesWith } from './rule-settings.js';

/** How long a namespace's rule settings are used before they are read again. */
export const RULES_REFRESH_MS = 5000;

/** What raises an alert (alerts/alerts.ts). */
export interface AlertRaiser {
  raise(alert: {
    namespace: string;
    tokenId: string;
    rule: string;
    figures: Record<string, number>;
    throttle?: { rps: number; until: string };
  }): Promise<unknown>;
}

export interface UsageMeterOptions {
  store: Pick<UsageStore, 'addUsage' | 'setThrottle' | 'ruleOverrides'>;
  alerts?: AlertRaiser;
  /** The proxy's client limits, whose addresses go to the store with each batch. */
  clients?: Pick<ClientLimits, 'drain' | 'learn'>;
  /** The rules before a namespace's own settings: default DEFAULT_RULES. */
  rules?: AnomalyRules;
  /** How long a namespace's rule settings are used before they are read again: default RULES_REFRESH_MS. */
  rulesRefreshMs?: number;
  /** How often counts go to the store: default 1 s. */
  flushMs?: number;
  maxTokens?: number;
  clock?: () => number;
  logger?: Logger;
}

interface Pending extends UsageCounts {
  namespace: string;
  id: string;
}

export class UsageMeter {
  readonly #store: UsageMeterOptions['store'];
  readonly #alerts: AlertRaiser | undefined;
  readonly #clients: UsageMeterOptions['clients'];
  readonly #rules: AnomalyRules;
  readonly #flushMs: number;
  readonly #rulesRefreshMs: number;
  readonly #maxTokens: number;
  readonly #clock: () => number;
  readonly #logger: Logger;
  #pending = new Map<string, Pending>();
  /** Tokens this proxy knows are throttled, and until when (seconds): no second write, no second alert. */
  readonly #throttled = new Map<string, number>();
  /** Each namespace's rules and when they were read (ms). */
  readonly #namespaceRules = new Map<string, { rules: AnomalyRules; readAt: number }>();
  /** Each token's window totals as of the last batch: where its next crossing is. */
  readonly #seen = new Map<string, { refused: number; requests: number; spikeAt: number | undefined }>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  /** An early batch is asked for: at the next turn, or after the batch under way. */
  #soon = false;
  #again = false;
  #failing = false;

  constructor(options: UsageMeterOptions) {
    this.#store = options.store;
    this.#alerts = options.alerts;
    this.#clients = options.clients;
    this.#rules = options.rules ?? DEFAULT_RULES;
    this.#flushMs = options.flushMs ?? 1000;
    this.#rulesRefreshMs = options.rulesRefreshMs ?? RULES_REFRESH_MS;
    this.#maxTokens = options.maxTokens ?? 10_000;
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger ?? nullLogger;
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.flush(), this.#flushMs);
    this.#timer.unref();
  }

  /** Stop the timer and send what is counted. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /**
   * Count one request naming token `id` of `namespace`: `verified` when its signature held
   * (otherwise only its refusal is counted), its status, the refusal code the proxy answered
   * with (refusals.ts), the spend it reserved and its bytes.
   */
  record(
    namespace: string,
    id: string,
    verified: boolean,
    status: number,
    code: string | undefined,
    spend: number,
    bytesIn: number,
    bytesOut: number,
  ): void {
    const key = `${namespace}\n${id}`;
    let c = this.#pending.get(key);
    if (c === undefined) {
      if (this.#pending.size >= this.#maxTokens) return;
      c = { namespace, id, ...emptyCounts() };
      this.#pending.set(key, c);
    }
    if (verified) {
      c.requests++;
      if (status >= 500) c.serverErrors++;
      else if (status >= 400) c.clientErrors++;
    }
    if (code === 'token_invalid') c.invalidToken++;
    else if (code === 'origin_not_allowed') c.refusedOrigin++;
    else if (code === 'rate_limited' || code === 'client_rate_limited') c.rateLimited++;
    else if (code === 'token_throttled') c.throttled++;
    c.spend += spend;
    c.bytesIn += bytesIn;
    c.bytesOut += bytesOut;
    if (code !== undefined || verified) this.#watch(key, c, code);
  }

  /** Send the batch at once when this request takes the token to a rule's threshold. */
  #watch(key: string, c: Pending, code: string | undefined): void {
    const rules = this.#namespaceRules.get(c.namespace)?.rules ?? this.#rules;
    const seen = this.#seen.get(key);
    const refused = (seen?.refused ?? 0) + c.invalidToken + c.refusedOrigin;
    const requests = (seen?.requests ?? 0) + c.requests;
    if (
      (code === 'too_many_clients' && rules.clientFanout !== false) ||
      (rules.refusalBurst !== false && refused === rules.refusalBurst.threshold) ||
      (seen?.spikeAt !== undefined && requests === seen.spikeAt)
    )
      this.#flushSoon();
  }

  #flushSoon(): void {
    if (this.#flushing !== undefined) {
      this.#again = true;
      return;
    }
    if (this.#soon) return;
    this.#soon = true;
    setImmediate(() => {
      this.#soon = false;
      void this.flush();
    });
  }

  /** Send the counts to the store and act on what the rules find (one batch at a time). */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
      if (this.#again) {
        this.#again = false;
        void this.flush();
      }
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const reports = this.#clients?.drain() ?? [];
    if (this.#pending.size === 0 && reports.length === 0) return;
    const pending = this.#pending;
    this.#pending = new Map();
    const now = Math.floor(this.#clock() / 1000);
    const window = windowOf(now);
    const deltas = new Map<string, UsageWindow>();
    for (const [key, p] of pending)
      deltas.set(
        `${key}
${window}`,
        { ...p, window },
      );
    // Each token's clients go with its counts of the same window (a window that has turned
    // since gets a delta of its own), and its limit with them to the rules.
    const limits = new Map<string, { max: number; refused: number }>();
    for (const r of reports) {
      const key = `${r.namespace}
${r.id}
${r.window}`;
      limits.set(key, { max: r.maxClients, refused: r.refused });
      const delta = deltas.get(key);
      if (delta === undefined)
        deltas.set(key, {
          namespace: r.namespace,
          id: r.id,
          window: r.window,
          ...emptyCounts(),
          clients: r.clients,
        });
      else delta.clients = r.clients;
    }
    let totals: UsageTotals[];
    try {
      totals = await this.#store.addUsage([...deltas.values()]);
      if (this.#failing) this.#logger.info('usage.flush.recovered', {});
      this.#failing = false;
    } catch (error) {
      this.#keep(pending);
      if (!this.#failing) this.#logger.warn('usage.flush.failed', { error: errorLabel(error) });
      this.#failing = true;
      return;
    }
    if (this.#seen.size > this.#maxTokens) this.#seen.clear();
    for (const t of totals) {
      if (t.window === window) this.#remember(t, await this.#rulesOf(t.namespace));
      if (t.clients !== undefined) this.#clients?.learn(t.namespace, t.id, t.window, t.clients);
      const rules = await this.#rulesOf(t.namespace);
      const clients = limits.get(`${t.namespace}
${t.id}
${t.window}`);
      for (const finding of findAnomalies(t, rules, now, clients)) await this.#act(finding, t, rules, now);
    }
  }

  /** Where the token's next crossings are (#watch), from its window's totals. */
  #remember(t: UsageTotals, rules: AnomalyRules): void {
    const spikeAt = rateSpikeThreshold(t, rules);
    this.#seen.set(`${t.namespace}\n${t.id}`, {
      refused: t.counts.invalidToken + t.counts.refusedOrigin,
      requests: t.counts.requests,
      spikeAt,
    });
  }

  /** The namespace's rules: its settings over the base, read again after RULES_REFRESH_MS. */
  async #rulesOf(namespace: string): Promise<AnomalyRules> {
    const known = this.#namespaceRules.get(namespace);
    const nowMs = this.#clock();
    if (known !== undefined && nowMs - known.readAt < this.#rulesRefreshMs) return known.rules;
    let rules = known?.rules ?? this.#rules;
    try {
      rules = rulesWith(this.#rules, await this.#store.ruleOverrides(namespace));
    } catch (error) {
      this.#logger.warn('usage.rules.failed', { namespace, error: errorLabel(error) });
    }
    if (this.#namespaceRules.size >= this.#maxTokens) this.#namespaceRules.clear();
    this.#namespaceRules.set(namespace, { rules, readAt: nowMs });
    return rules;
  }

  /** Throttle the token (once, through the store) and raise the alert if this proxy set it. */
  async #act(finding: Finding, t: UsageTotals, rules: AnomalyRules, now: number): Promise<void> {
    const key = `${t.namespace}\n${t.id}`;
    if ((this.#throttled.get(key) ?? 0) > now) return;
    const throttle = throttleFor(finding.rule, t.rps, rules, now);
    try {
      const set = await this.#store.setThrottle(t.namespace, t.id, throttle);
      this.#throttled.set(key, throttle.until);
      if (this.#throttled.size > this.#maxTokens) this.#forgetThrottles(now);
      if (!set) return;
      this.#logger.warn('token.throttled', { namespace: t.namespace, token: t.id, rule: finding.rule });
      await this.#alerts?.raise({
        ...finding,
        throttle: { rps: throttle.rps, until: new Date(throttle.until * 1000).toISOString() },
      });
    } catch (error) {
      this.#logger.warn('token.throttle.failed', {
        namespace: t.namespace,
        token: t.id,
        error: errorLabel(error),
      });
    }
  }

  /** Put a refused batch back under the counts since, within the bound. */
  #keep(batch: Map<string, Pending>): void {
    for (const [key, old] of batch) {
      const c = this.#pending.get(key);
      if (c === undefined) {
        if (this.#pending.size < this.#maxTokens) this.#pending.set(key, old);
      } else for (const f of USAGE_FIELDS) c[f] += old[f];
    }
  }

  #forgetThrottles(now: number): void {
    for (const [key, until] of this.#throttled) if (until <= now) this.#throttled.delete(key);
  }
}
