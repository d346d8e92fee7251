/**
 * The usage port (issue 10): per-token counters in windows of a minute, the throttles that
 * anomaly rules set, the alert channels of a namespace and the alerts raised. Kept apart
 * from `TokenStore` so that stays small; both token stores implement it (sqlite-usage.ts,
 * dynamodb-usage.ts), and one conformance suite runs over both.
 *
 * Counters are written in batches (the proxy adds a second's worth of requests in one call,
 * never one write per request), and only onto tokens that have a record in the namespace:
 * a request naming an id nobody minted adds nothing, so a flood of made-up ids cannot grow
 * the store. Throttles ride on the revocation head: setting one bumps the namespace's
 * version, so every proxy sees it at its next poll, as it sees a revocation.
 */

/** The length of one usage window, in seconds. */
export const USAGE_WINDOW_SECONDS = 60;

/** How long usage windows are kept (a token lives at most a day). */
export const USAGE_KEEP_SECONDS = 86_400;

/** What is counted per token and window. Requests carry a verified token; the others may not. */
export interface UsageCounts {
  /** Requests with a verified token (every outcome). */
  requests: number;
  clientErrors: number;
  serverErrors: number;
  /** 403: an Origin the token does not allow. */
  refusedOrigin: number;
  /** 401s naming the token's id: a bad signature, expired, revoked, or no live record. */
  invalidToken: number;
  rateLimited: number;
  throttled: number;
  spend: number;
  bytesIn: number;
  bytesOut: number;
}

export const USAGE_FIELDS = [
  'requests',
  'clientErrors',
  'serverErrors',
  'refusedOrigin',
  'invalidToken',
  'rateLimited',
  'throttled',
  'spend',
  'bytesIn',
  'bytesOut',
] as const satisfies readonly (keyof UsageCounts)[];

export function emptyCounts(): UsageCounts {
  return {
    requests: 0,
    clientErrors: 0,
    serverErrors: 0,
    refusedOrigin: 0,
    invalidToken: 0,
    rateLimited: 0,
    throttled: 0,
    spend: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
}

/** One token's counts in one window (`window`: its first second since the epoch). */
export interface UsageWindow extends UsageCounts {
  namespace: string;
  id: string;
  window: number;
  /**
   * A token with client limits (proxy/client-limits.ts): the digests of client addresses to
   * add to the window's set (possibly none); the totals then carry the whole set.
   */
  clients?: readonly string[];
}

/**
 * After a batch: one token's totals in the window (from every proxy), its recent history
 * and its record's caps, which is what the anomaly rules read.
 */
export interface UsageTotals {
  namespace: string;
  id: string;
  window: number;
  counts: UsageCounts;
  /** The hour before `window`: how many windows had requests, and their requests in all. */
  baseline: { windows: number; requests: number };
  rps: number;
  /** The spend cap, the spend so far, and the expiry (seconds). */
  cap: number;
  spent: number;
  exp: number;
  /** The window's client address digests from every proxy, when the delta carried `clients`. */
  clients?: string[];
}

/** A lower rate for a bounded time, set by an anomaly rule (or lifted by the owner). */
export interface Throttle {
  rule: string;
  rps: number;
  /** Seconds since the epoch. */
  since: number;
  until: number;
}

/**
 * What a channel sends and where: `webhook` posts the signed JSON body to `url`, `slack` the
 * same alert in the shape of Slack's incoming webhooks (also signed), `sns` publishes to the
 * topic ARN in `url`, `eventbridge` puts an event on the bus named in `url`.
 */
export const CHANNEL_KINDS = ['webhook', 'slack', 'sns', 'eventbridge'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

/**
 * A channel as stored. A webhook's HMAC secret is kept only sealed (alerts/channel-secret.ts);
 * SNS and EventBridge channels have none (`sealed` empty): AWS authenticates the publisher.
 */
export interface AlertChannelRecord {
  namespace: string;
  id: string;
  kind: ChannelKind;
  url: string;
  sealed: string;
  createdAt: string;
}

/** A stored kind, as this version reads it: rows from before kinds are webhooks. */
export function channelKind(stored: string | undefined): ChannelKind {
  return (CHANNEL_KINDS as readonly string[]).includes(stored ?? '') ? (stored as ChannelKind) : 'webhook';
}

/** An alert as raised and kept: names, ids and figures, never a token, a key or a body. */
export interface AlertRecord {
  namespace: string;
  id: string;
  tokenId: string;
  rule: string;
  figures: Record<string, number>;
  time: string;
}

/**
 * A namespace's changes to the anomaly rules' defaults (proxy/rule-settings.ts), by rule:
 * turned off, and settings by their command-line name. Absent: the defaults.
 */
export type RuleOverrides = Record<string, { off?: true; settings?: Record<string, number> }>;

export interface UsageStore {
  /**
   * Add `deltas` (each to its token and window), in one transaction, onto tokens recorded in
   * their namespace; the others are dropped. Returns the totals of every token that took one.
   * A delta's `clients` join its window's set of client addresses (a set: each once).
   */
  addUsage(deltas: readonly UsageWindow[]): Promise<UsageTotals[]>;
  /** The windows of `ids` (every token when empty) that start at or after `since` (seconds). */
  readUsage(namespace: string, ids: readonly string[], since: number): Promise<UsageWindow[]>;
  /**
   * Throttle token `id` unless a throttle is in force at `throttle.since`; true when this call
   * set it (so one anomaly raises one alert, whichever proxy saw it first).
   */
  setThrottle(namespace: string, id: string, throttle: Throttle): Promise<boolean>;
  /**
   * End the throttle of token `id` at `now` (seconds); true when one was in force. Bumps the
   * revocation head, so every proxy lifts it at its next poll.
   */
  liftThrottle(namespace: string, id: string, now: number): Promise<boolean>;
  /** The throttles of the namespace, in force or not (readers compare `until` with their clock). */
  throttles(namespace: string): Promise<Map<string, Throttle>>;
  putAlertChannel(channel: AlertChannelRecord): Promise<void>;
  /** Remove a channel, its sealed secret with it; true when it was there. */
  removeAlertChannel(namespace: string, id: string): Promise<boolean>;
  alertChannels(namespace: string): Promise<AlertChannelRecord[]>;
  /** The namespace's rule overrides ({} when none). */
  ruleOverrides(namespace: string): Promise<RuleOverrides>;
  putRuleOverrides(namespace: string, overrides: RuleOverrides): Promise<void>;
  recordAlert(alert: AlertRecord): Promise<void>;
  /** The newest `limit` alerts of the namespace, newest first. */
  alerts(namespace: string, limit: number): Promise<AlertRecord[]>;
}

export function isUsageStore(store: object): store is UsageStore {
  return typeof (store as Partial<UsageStore>).addUsage === 'function';
}

/** The window `seconds` falls in. */
export function windowOf(seconds: number): number {
  return seconds - (seconds % USAGE_WINDOW_SECONDS);
}

/** A throttle as shown to its owner, when it is in force at `now` (seconds): `{ throttle }`, else nothing. */
export function throttleShown(
  throttle: Throttle | undefined,
  now: number,
): { throttle?: { rule: string; rps: number; until: string } } {
  if (throttle === undefined || throttle.until <= now) return {};
  return {
    throttle: {
      rule: throttle.rule,
      rps: throttle.rps,
      until: new Date(throttle.until * 1000).toISOString(),
    },
  };
}

/** One token's counts over every window read, oldest to newest summed. */
export function sumUsage(windows: readonly UsageWindow[]): Map<string, UsageCounts> {
  const sums = new Map<string, UsageCounts>();
  for (const w of windows) {
    let sum = sums.get(w.id);
    if (sum === undefined) sums.set(w.id, (sum = emptyCounts()));
    for (const f of USAGE_FIELDS) sum[f] += w[f];
  }
  return sums;
}

/** One token's usage as its owner sees it: its counts over the windows read, and its throttle. */
export type TokenUsage = { id: string } & UsageCounts & ReturnType<typeof throttleShown>;

/** What `egg tokens usage` shows, and each refresh of `--watch`. */
export interface UsageReport {
  namespace: string;
  /** The first window read from, and when the report was read (ISO 8601). */
  since: string;
  at: string;
  tokens: TokenUsage[];
}

/**
 * The usage of `ids` (every token with usage when empty) in `namespace` over the
 * `sinceSeconds` before `now` (seconds), with the throttles in force.
 */
export async function readUsageReport(
  store: Pick<UsageStore, 'readUsage' | 'throttles'>,
  namespace: string,
  ids: readonly string[],
  sinceSeconds: number,
  now: number,
): Promise<UsageReport> {
  const sums = sumUsage(await store.readUsage(namespace, ids, now - sinceSeconds));
  const throttles = await store.throttles(namespace);
  return {
    namespace,
    since: new Date((now - sinceSeconds) * 1000).toISOString(),
    at: new Date(now * 1000).toISOString(),
    tokens: [...sums].map(([id, counts]) => ({ id, ...counts, ...throttleShown(throttles.get(id), now) })),
  };
}
