/**
 * The SQLite side of the usage port (usage-store.ts): its tables and statements, run by
 * `SqliteTokenStore` inside its own lock handling and transactions (every method here is
 * synchronous and must be called through it).
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import {
  type AlertChannelRecord,
  type AlertRecord,
  channelKind,
  emptyCounts,
  type RuleOverrides,
  type Throttle,
  USAGE_FIELDS,
  USAGE_KEEP_SECONDS,
  USAGE_WINDOW_SECONDS,
  type UsageCounts,
  type UsageTotals,
  type UsageWindow,
} from './usage-store.js';

/** Column of each counter. */
const COLUMNS: Record<keyof UsageCounts, string> = {
  requests: 'requests',
  clientErrors: 'client_errors',
  serverErrors: 'server_errors',
  refusedOrigin: 'refused_origin',
  invalidToken: 'invalid_token',
  rateLimited: 'rate_limited',
  throttled: 'throttled',
  spend: 'spend',
  bytesIn: 'bytes_in',
  bytesOut: 'bytes_out',
};
const COUNTER_COLUMNS = USAGE_FIELDS.map((f) => COLUMNS[f]);

export const USAGE_SCHEMA = `
CREATE TABLE IF NOT EXISTS token_usage (
  namespace TEXT NOT NULL, id TEXT NOT NULL, window INTEGER NOT NULL,
  ${COUNTER_COLUMNS.map((c) => `${c} INTEGER NOT NULL DEFAULT 0`).join(', ')},
  PRIMARY KEY (namespace, id, window)
) STRICT;
CREATE TABLE IF NOT EXISTS token_clients (
  namespace TEXT NOT NULL, id TEXT NOT NULL, window INTEGER NOT NULL, client TEXT NOT NULL,
  PRIMARY KEY (namespace, id, window, client)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS token_throttles (
  namespace TEXT NOT NULL, id TEXT NOT NULL, rule TEXT NOT NULL, rps INTEGER NOT NULL,
  since INTEGER NOT NULL, until INTEGER NOT NULL, PRIMARY KEY (namespace, id)
) STRICT;
CREATE TABLE IF NOT EXISTS alert_channels (
  namespace TEXT NOT NULL, id TEXT NOT NULL, url TEXT NOT NULL, sealed TEXT NOT NULL,
  created_at TEXT NOT NULL, kind TEXT NOT NULL DEFAULT 'webhook', PRIMARY KEY (namespace, id)
) STRICT;
CREATE TABLE IF NOT EXISTS alert_rules (
  namespace TEXT NOT NULL PRIMARY KEY, overrides TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS token_alerts (
  namespace TEXT NOT NULL, id TEXT NOT NULL, token_id TEXT NOT NULL, rule TEXT NOT NULL,
  figures TEXT NOT NULL, time TEXT NOT NULL, PRIMARY KEY (namespace, id)
) STRICT;
`;

type Row = Record<string, SQLInputValue>;

/** How often, at most, windows older than a day are deleted. */
const PRUNE_EVERY_SECONDS = 600;

export class SqliteUsage {
  readonly #db: DatabaseSync;
  readonly #add: StatementSync;
  readonly #record: StatementSync;
  readonly #baseline: StatementSync;
  readonly #addClient: StatementSync;
  readonly #clients: StatementSync;
  #prunedAt = 0;

  constructor(db: DatabaseSync) {
    this.#db = db;
    const params = COUNTER_COLUMNS.map((_, i) => `?${i + 4}`).join(', ');
    // Only onto a token recorded in its namespace (the SELECT finds no row otherwise); the
    // WHERE also keeps SQLite's upsert parser unambiguous (sqlite.org/lang_upsert.html).
    this.#add = db.prepare(
      `INSERT INTO token_usage (namespace, id, window, ${COUNTER_COLUMNS.join(', ')})
       SELECT ?1, ?2, ?3, ${params} FROM tokens WHERE namespace = ?1 AND id = ?2
       ON CONFLICT (namespace, id, window) DO UPDATE SET
       ${COUNTER_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}
       RETURNING ${COUNTER_COLUMNS.join(', ')}`,
    );
    this.#addClient = db.prepare(
      'INSERT INTO token_clients (namespace, id, window, client) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    );
    this.#clients = db.prepare(
      'SELECT client FROM token_clients WHERE namespace = ? AND id = ? AND window = ? ORDER BY client',
    );
    this.#record = db.prepare('SELECT rps, spend, spent, exp FROM tokens WHERE namespace = ? AND id = ?');
    this.#baseline = db.prepare(
      `SELECT COUNT(*) AS windows, COALESCE(SUM(requests), 0) AS requests FROM token_usage
       WHERE namespace = ? AND id = ? AND window >= ? AND window < ? AND requests > 0`,
    );
  }

  add(deltas: readonly UsageWindow[]): UsageTotals[] {
    const totals: UsageTotals[] = [];
    for (const d of deltas) {
      const row = this.#add.get(d.namespace, d.id, d.window, ...USAGE_FIELDS.map((f) => d[f])) as
        Row | undefined;
      if (row === undefined) continue;
      for (const client of d.clients ?? []) this.#addClient.run(d.namespace, d.id, d.window, client);
      const record = this.#record.get(d.namespace, d.id) as Row;
      const baseline = this.#baseline.get(d.namespace, d.id, d.window - 3600, d.window) as Row;
      totals.push({
        namespace: d.namespace,
        id: d.id,
        window: d.window,
        counts: countsOf(row),
        baseline: { windows: Number(baseline.windows), requests: Number(baseline.requests) },
        rps: Number(record.rps),
        cap: Number(record.spend),
        spent: Number(record.spent),
        exp: Number(record.exp),
        ...(d.clients === undefined
          ? {}
          : {
              clients: (this.#clients.all(d.namespace, d.id, d.window) as Row[]).map((r) => String(r.client)),
            }),
      });
    }
    const now = deltas[0]?.window ?? 0;
    if (now - this.#prunedAt >= PRUNE_EVERY_SECONDS) {
      this.#prunedAt = now;
      this.#db.prepare('DELETE FROM token_usage WHERE window < ?').run(now - USAGE_KEEP_SECONDS);
      this.#db.prepare('DELETE FROM token_clients WHERE window < ?').run(now - USAGE_KEEP_SECONDS);
    }
    return totals;
  }

  read(namespace: string, ids: readonly string[], since: number): UsageWindow[] {
    const from = since - (since % USAGE_WINDOW_SECONDS);
    const rows = this.#db
      .prepare(
        `SELECT * FROM token_usage WHERE namespace = ? AND window >= ?
         ${ids.length === 0 ? '' : `AND id IN (${ids.map(() => '?').join(', ')})`} ORDER BY id, window`,
      )
      .all(namespace, from, ...ids) as Row[];
    return rows.map((row) => ({
      namespace,
      id: String(row.id),
      window: Number(row.window),
      ...countsOf(row),
    }));
  }

  setThrottle(namespace: string, id: string, t: Throttle): boolean {
    const result = this.#db
      .prepare(
        `INSERT INTO token_throttles (namespace, id, rule, rps, since, until) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (namespace, id) DO UPDATE SET rule = excluded.rule, rps = excluded.rps,
         since = excluded.since, until = excluded.until WHERE token_throttles.until <= excluded.since`,
      )
      .run(namespace, id, t.rule, t.rps, t.since, t.until);
    return Number(result.changes) === 1;
  }

  liftThrottle(namespace: string, id: string, now: number): boolean {
    const result = this.#db
      .prepare('UPDATE token_throttles SET until = ?3 WHERE namespace = ?1 AND id = ?2 AND until > ?3')
      .run(namespace, id, now);
    return Number(result.changes) === 1;
  }

  throttles(namespace: string): Map<string, Throttle> {
    const rows = this.#db
      .prepare('SELECT id, rule, rps, since, until FROM token_throttles WHERE namespace = ?')
      .all(namespace) as Row[];
    return new Map(
      rows.map((r) => [
        String(r.id),
        { rule: String(r.rule), rps: Number(r.rps), since: Number(r.since), until: Number(r.until) },
      ]),
    );
  }

  putChannel(c: AlertChannelRecord): void {
    this.#db
      .prepare(
        'INSERT INTO alert_channels (namespace, id, kind, url, sealed, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(c.namespace, c.id, c.kind, c.url, c.sealed, c.createdAt);
  }

  removeChannel(namespace: string, id: string): boolean {
    const result = this.#db
      .prepare('DELETE FROM alert_channels WHERE namespace = ? AND id = ?')
      .run(namespace, id);
    return Number(result.changes) === 1;
  }

  ruleOverrides(namespace: string): RuleOverrides {
    const row = this.#db.prepare('SELECT overrides FROM alert_rules WHERE namespace = ?').get(namespace) as
      Row | undefined;
    return row === undefined ? {} : (JSON.parse(String(row.overrides)) as RuleOverrides);
  }

  putRuleOverrides(namespace: string, overrides: RuleOverrides): void {
    this.#db
      .prepare(
        `INSERT INTO alert_rules (namespace, overrides) VALUES (?, ?)
         ON CONFLICT (namespace) DO UPDATE SET overrides = excluded.overrides`,
      )
      .run(namespace, JSON.stringify(overrides));
  }

  channels(namespace: string): AlertChannelRecord[] {
    const rows = this.#db
      .prepare('SELECT * FROM alert_channels WHERE namespace = ? ORDER BY created_at, id')
      .all(namespace) as Row[];
    return rows.map((r) => ({
      namespace,
      id: String(r.id),
      kind: channelKind(String(r.kind)),
      url: String(r.url),
      sealed: String(r.sealed),
      createdAt: String(r.created_at),
    }));
  }

  recordAlert(a: AlertRecord): void {
    this.#db
      .prepare(
        'INSERT INTO token_alerts (namespace, id, token_id, rule, figures, time) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(a.namespace, a.id, a.tokenId, a.rule, JSON.stringify(a.figures), a.time);
  }

  alerts(namespace: string, limit: number): AlertRecord[] {
    const rows = this.#db
      .prepare('SELECT * FROM token_alerts WHERE namespace = ? ORDER BY time DESC, id LIMIT ?')
      .all(namespace, limit) as Row[];
    return rows.map((r) => ({
      namespace,
      id: String(r.id),
      tokenId: String(r.token_id),
      rule: String(r.rule),
      figures: JSON.parse(String(r.figures)) as Record<string, number>,
      time: String(r.time),
    }));
  }
}

function countsOf(row: Row): UsageCounts {
  const counts = emptyCounts();
  for (const f of USAGE_FIELDS) counts[f] = Number(row[COLUMNS[f]] ?? 0);
  return counts;
}
