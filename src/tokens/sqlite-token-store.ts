/**
 * The SQLite token store: tables beside the secrets in the vault file. Every proxy
 * process opens its own connection; WAL lets them read while one writes. The spend
 * reservation is one conditional `UPDATE` of the token's row (`… WHERE digest = ? AND
 * spent + cost <= cap`), atomic under SQLite's write lock, so caps are exact across
 * processes and a token without its row is refused by the same statement. A row validates
 * a token only while `killed_at = 0`, as minting writes it: the kill switch sets it to its
 * epoch on every row of the namespace in the transaction that moves the epoch, and rows
 * from before the column hold -1 (fail closed: those tokens must be minted again).
 *
 * node:sqlite is synchronous, and SQLite's busy timeout waits for a lock by sleeping on the
 * event loop: one locked vault would stall every request (issue 9 item 4). So the busy
 * timeout is 0 once the tables are set up: a call that finds the vault locked is tried
 * again on a timer, without blocking, for at most `lockWaitMs`, and then fails with
 * ERR_STORE_UNAVAILABLE (the proxy answers 503 with Retry-After). Spend reservations are
 * group-committed: those of one event-loop turn share one write transaction.
 *
 * The file under the connection is checked on every revocation read and before a batch of
 * reservations (at most every 10 ms: sqlite-file.ts): once it was deleted or replaced, every call fails with
 * `StoreUnusable` for the life of this object.
 */
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { EggError, StoreUnusable } from '../errors.js';
import { ensurePrivateFile } from '../home.js';
import { isSqliteLocked as isLocked, SqliteFileIdentity } from '../stores/sqlite-file.js';
import { SqliteUsage, USAGE_SCHEMA } from './sqlite-usage.js';
import {
  addEntry,
  type RevocationEntry,
  type RevocationState,
  type SpendResult,
  type TokenRecord,
  type TokenStore,
} from './token-store.js';
import type {
  AlertChannelRecord,
  AlertRecord,
  RuleOverrides,
  Throttle,
  UsageStore,
  UsageWindow,
} from './usage-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tokens (
  namespace TEXT NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, origins TEXT NOT NULL,
  rps INTEGER NOT NULL, burst INTEGER NOT NULL, spend INTEGER NOT NULL, cost INTEGER NOT NULL,
  iat INTEGER NOT NULL, exp INTEGER NOT NULL, tags TEXT NOT NULL, actor TEXT NOT NULL,
  digest TEXT NOT NULL DEFAULT '', spent INTEGER NOT NULL DEFAULT 0,
  allow_no_origin INTEGER NOT NULL DEFAULT 0, killed_at INTEGER NOT NULL DEFAULT -1,
  max_clients INTEGER NOT NULL DEFAULT 0, client_rps INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (namespace, id)
) STRICT;
CREATE TABLE IF NOT EXISTS token_revocations (
  namespace TEXT NOT NULL, id TEXT NOT NULL, exp INTEGER NOT NULL, at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (namespace, id)
) STRICT;
CREATE TABLE IF NOT EXISTS token_heads (
  namespace TEXT PRIMARY KEY, version INTEGER NOT NULL, not_before INTEGER NOT NULL
) STRICT;
${USAGE_SCHEMA}`;

type Row = Record<string, SQLInputValue>;

/** Columns added since the tables' first version, in order (see #migrate). */
const ADDED_COLUMNS: readonly (readonly [table: string, column: string, type: string])[] = [
  ['tokens', 'digest', "TEXT NOT NULL DEFAULT ''"],
  ['tokens', 'spent', 'INTEGER NOT NULL DEFAULT 0'],
  ['tokens', 'allow_no_origin', 'INTEGER NOT NULL DEFAULT 0'],
  ['tokens', 'killed_at', 'INTEGER NOT NULL DEFAULT -1'],
  // `--max-clients` and `--client-rps`; 0 is none.
  ['tokens', 'max_clients', 'INTEGER NOT NULL DEFAULT 0'],
  ['tokens', 'client_rps', 'INTEGER NOT NULL DEFAULT 0'],
  // When a revocation takes effect (seconds); 0, as every entry before it, is at once.
  ['token_revocations', 'at', 'INTEGER NOT NULL DEFAULT 0'],
  // What an alert channel sends (usage-store.ts ChannelKind); every channel before it was a webhook.
  ['alert_channels', 'kind', "TEXT NOT NULL DEFAULT 'webhook'"],
];

/** The account-wide head's row in `token_heads`: `#` never occurs in a namespace (names.ts). */
const ACCOUNT_HEAD = '#account';

const RESERVED: SpendResult = Object.freeze({ ok: true });

/** How often, at most, a batch of spend reservations checks the file under it. */
const FILE_CHECK_MS = 10;

interface PendingReservation {
  namespace: string;
  id: string;
  digest: string;
  cost: number;
  /** The cap; undefined for an adjustment (adjustSpend), which has none. */
  cap: number | undefined;
  resolve: (result: SpendResult) => void;
  reject: (error: unknown) => void;
}

export interface SqliteTokenStoreOptions {
  /** Longest a call waits for another connection's lock, without blocking: default 2 s. */
  lockWaitMs?: number;
}

export class SqliteTokenStore implements TokenStore, UsageStore {
  readonly kind = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #lockWaitMs: number;
  readonly #file: SqliteFileIdentity;
  #unusable: StoreUnusable | undefined;
  readonly #reserve;
  readonly #spentOf;
  readonly #adjust;
  readonly #head;
  /** Reservations waiting for this turn's group commit (reserveSpend). */
  #batch: PendingReservation[] = [];
  #fileCheckedAt = -Infinity;
  /** Usage counters, throttles and alerts (sqlite-usage.ts), on this connection. */
  readonly #usage: SqliteUsage;

  constructor(path: string, options: SqliteTokenStoreOptions = {}) {
    this.#lockWaitMs = options.lockWaitMs ?? 2000;
    ensurePrivateFile(path);
    const before = SqliteFileIdentity.record(path);
    this.#db = new DatabaseSync(path);
    // Setting up (once, before any request) may wait for the lock as SQLite does; after it, never.
    this.#db.exec('PRAGMA busy_timeout = 2000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
    this.#db.exec(SCHEMA);
    this.#migrate();
    this.#db.exec('PRAGMA busy_timeout = 0');
    // The WAL files exist now; a file swapped between the check and the open is refused.
    this.#file = SqliteFileIdentity.record(path);
    if (!this.#file.sameFile(before)) {
      this.#db.close();
      throw replaced(`${path} was replaced while it was being opened`);
    }
    // Add to the counter only on the token's own row, unmarked, and only while it stays within the cap.
    this.#reserve = this.#db.prepare(
      'UPDATE tokens SET spent = spent + ?1 WHERE namespace = ?2 AND id = ?3 AND digest = ?4 AND killed_at = 0 AND spent + ?1 <= ?5',
    );
    this.#adjust = this.#db.prepare(
      'UPDATE tokens SET spent = spent + ?1 WHERE namespace = ?2 AND id = ?3 AND digest = ?4 AND spent + ?1 >= 0',
    );
    this.#spentOf = this.#db.prepare(
      'SELECT spent, killed_at FROM tokens WHERE namespace = ? AND id = ? AND digest = ?',
    );
    this.#head = this.#db.prepare('SELECT version, not_before FROM token_heads WHERE namespace = ?');
    this.#usage = new SqliteUsage(this.#db);
  }

  async putToken(r: TokenRecord): Promise<void> {
    await this.#run(() =>
      this.#db
        .prepare(
          `INSERT INTO tokens (namespace, id, digest, key, origins, rps, burst, spend, cost, iat, exp, tags, actor, allow_no_origin, killed_at, max_clients, client_rps)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
        )
        .run(
          r.namespace,
          r.id,
          r.digest,
          r.key,
          JSON.stringify(r.origins),
          r.rps,
          r.burst,
          r.spend,
          r.cost,
          r.iat,
          r.exp,
          JSON.stringify(r.tags),
          r.actor,
          r.allowNoOrigin ? 1 : 0,
          r.maxClients ?? 0,
          r.clientRps ?? 0,
        ),
    );
  }

  async listTokens(namespace: string) {
    const rows = (await this.#run(() =>
      this.#db
        .prepare(
          `SELECT t.*, ((r.id IS NOT NULL AND r.at = 0) OR t.killed_at != 0) AS revoked, r.at AS revoke_at FROM tokens t
           LEFT JOIN token_revocations r ON r.namespace = t.namespace AND r.id = t.id
           WHERE t.namespace = ? ORDER BY t.iat, t.id`,
        )
        .all(namespace),
    )) as Row[];
    return rows.map((row) => ({
      id: String(row.id),
      digest: String(row.digest),
      namespace: String(row.namespace),
      key: String(row.key),
      origins: JSON.parse(String(row.origins)) as string[],
      rps: Number(row.rps),
      burst: Number(row.burst),
      spend: Number(row.spend),
      cost: Number(row.cost),
      iat: Number(row.iat),
      exp: Number(row.exp),
      tags: JSON.parse(String(row.tags)) as Record<string, string>,
      actor: String(row.actor),
      allowNoOrigin: Number(row.allow_no_origin) === 1,
      ...(Number(row.max_clients) > 0 ? { maxClients: Number(row.max_clients) } : {}),
      ...(Number(row.client_rps) > 0 ? { clientRps: Number(row.client_rps) } : {}),
      revoked: Number(row.revoked) === 1,
      ...(Number(row.revoke_at ?? 0) > 0 ? { revokeAt: Number(row.revoke_at) } : {}),
      spent: Number(row.spent),
    }));
  }

  async revoke(namespace: string, entries: readonly RevocationEntry[]): Promise<void> {
    await this.#transaction(() => {
      // Again for an id: its revocation only moves earlier (0, at once, is the earliest).
      const put = this.#db.prepare(
        'INSERT INTO token_revocations (namespace, id, exp, at) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET at = MIN(at, excluded.at)',
      );
      for (const { id, exp, at } of entries) put.run(namespace, id, exp, at ?? 0);
      this.#bump(namespace, 0);
    });
  }

  async killSwitch(namespace: string, notBefore: number): Promise<number> {
    // One write transaction: a mint that commits before it is marked; one that commits after
    // read the new epoch (Tokens.mint reads it first) or is dated before it and void by it.
    return this.#transaction(() => {
      this.#bump(namespace, notBefore);
      const epoch = Number((this.#head.get(namespace) as Row).not_before);
      this.#db
        .prepare('UPDATE tokens SET killed_at = ? WHERE namespace = ? AND killed_at = 0')
        .run(epoch, namespace);
      return epoch;
    });
  }

  async accountKillSwitch(notBefore: number): Promise<number> {
    return this.#transaction(() => {
      // Past the epoch in force, always: tokens minted since it are dated at it (tokens.ts).
      const current = Number((this.#head.get(ACCOUNT_HEAD) as Row | undefined)?.not_before ?? 0);
      this.#bump(ACCOUNT_HEAD, Math.max(notBefore, current + 1));
      return Number((this.#head.get(ACCOUNT_HEAD) as Row).not_before);
    });
  }

  async accountRevocation() {
    return this.revocationVersion(ACCOUNT_HEAD);
  }

  async revocationVersion(namespace: string) {
    this.#checkFile();
    const row = (await this.#run(() => this.#head.get(namespace))) as Row | undefined;
    return { version: Number(row?.version ?? 0), notBefore: Number(row?.not_before ?? 0) };
  }

  async revocationState(namespace: string): Promise<RevocationState> {
    this.#checkFile();
    // One read transaction: the head and the entries it counts, from the same snapshot.
    return this.#transaction(() => {
      const head = this.#head.get(namespace) as Row | undefined;
      const rows = this.#db
        .prepare('SELECT id, exp, at FROM token_revocations WHERE namespace = ?')
        .all(namespace) as Row[];
      const state: RevocationState = {
        version: Number(head?.version ?? 0),
        notBefore: Number(head?.not_before ?? 0),
        revoked: new Map(),
        throttles: this.#usage.throttles(namespace),
      };
      for (const row of rows) addEntry(state, String(row.id), Number(row.exp), Number(row.at));
      return state;
    }, 'BEGIN');
  }

  async addUsage(deltas: readonly UsageWindow[]) {
    if (deltas.length === 0) return [];
    this.#checkFile();
    return this.#transaction(() => this.#usage.add(deltas));
  }

  async readUsage(namespace: string, ids: readonly string[], since: number) {
    return this.#run(() => this.#usage.read(namespace, ids, since));
  }

  async setThrottle(namespace: string, id: string, throttle: Throttle): Promise<boolean> {
    // With the head's bump, in one transaction: every proxy's next poll reads it.
    return this.#transaction(() => {
      const set = this.#usage.setThrottle(namespace, id, throttle);
      if (set) this.#bump(namespace, 0);
      return set;
    });
  }

  async liftThrottle(namespace: string, id: string, now: number): Promise<boolean> {
    return this.#transaction(() => {
      const lifted = this.#usage.liftThrottle(namespace, id, now);
      if (lifted) this.#bump(namespace, 0);
      return lifted;
    });
  }

  async throttles(namespace: string): Promise<Map<string, Throttle>> {
    return this.#run(() => this.#usage.throttles(namespace));
  }

  async putAlertChannel(channel: AlertChannelRecord): Promise<void> {
    await this.#run(() => this.#usage.putChannel(channel));
  }

  async removeAlertChannel(namespace: string, id: string): Promise<boolean> {
    return this.#run(() => this.#usage.removeChannel(namespace, id));
  }

  async ruleOverrides(namespace: string): Promise<RuleOverrides> {
    return this.#run(() => this.#usage.ruleOverrides(namespace));
  }

  async putRuleOverrides(namespace: string, overrides: RuleOverrides): Promise<void> {
    await this.#run(() => this.#usage.putRuleOverrides(namespace, overrides));
  }

  async alertChannels(namespace: string): Promise<AlertChannelRecord[]> {
    return this.#run(() => this.#usage.channels(namespace));
  }

  async recordAlert(alert: AlertRecord): Promise<void> {
    await this.#run(() => this.#usage.recordAlert(alert));
  }

  async alerts(namespace: string, limit: number): Promise<AlertRecord[]> {
    return this.#run(() => this.#usage.alerts(namespace, limit));
  }

  /**
   * Reservations made in one turn of the event loop are committed together, in one write
   * transaction at the next `setImmediate` (group commit): each is still its own conditional
   * `UPDATE`, so caps stay exact, but a proxy under load pays SQLite's commit (most of a
   * write's cost: a WAL frame and its syscalls) once per batch rather than once per request.
   * A batch that finds the vault locked is tried again, whole, without blocking; one that
   * cannot commit fails every reservation in it with ERR_STORE_UNAVAILABLE (503), none half
   * applied.
   */
  reserveSpend(
    namespace: string,
    id: string,
    digest: string,
    cost: number,
    cap: number,
  ): SpendResult | Promise<SpendResult> {
    // Rows from before digests were recorded hold '': they validate no token.
    if (digest === '') return { ok: false, reason: 'unknown-token' };
    if (this.#unusable !== undefined) return Promise.reject(this.#unusable);
    return new Promise((resolve, reject) => {
      this.#batch.push({ namespace, id, digest, cost, cap, resolve, reject });
      if (this.#batch.length === 1) setImmediate(() => void this.#commitBatch());
    });
  }

  adjustSpend(namespace: string, id: string, digest: string, delta: number): Promise<void> {
    if (this.#unusable !== undefined) return Promise.reject(this.#unusable);
    return new Promise((resolve, reject) => {
      this.#batch.push({
        namespace,
        id,
        digest,
        cost: delta,
        cap: undefined,
        resolve: () => resolve(),
        reject,
      });
      if (this.#batch.length === 1) setImmediate(() => void this.#commitBatch());
    });
  }

  async #commitBatch(): Promise<void> {
    const batch = this.#batch;
    this.#batch = [];
    let results: SpendResult[];
    try {
      // Before a batch (at most every FILE_CHECK_MS under load, as its three lstat calls cost
      // more than the batch's write), so spend stops landing in a vault.db no one else reads.
      const now = performance.now();
      if (now - this.#fileCheckedAt >= FILE_CHECK_MS) {
        this.#fileCheckedAt = now;
        this.#checkFile();
      }
      results = await this.#transaction(() =>
        batch.map((r) =>
          r.cap === undefined
            ? (this.#adjust.run(r.cost, r.namespace, r.id, r.digest), RESERVED)
            : this.#reserveNow(r.namespace, r.id, r.digest, r.cost, r.cap),
        ),
      );
    } catch (error) {
      let failure = error;
      try {
        this.#checkFile();
      } catch (unusable) {
        failure = unusable;
      }
      for (const r of batch) r.reject(failure);
      return;
    }
    batch.forEach((r, i) => r.resolve(results[i] as SpendResult));
  }

  #reserveNow(namespace: string, id: string, digest: string, cost: number, cap: number): SpendResult {
    if (Number(this.#reserve.run(cost, namespace, id, digest, cap).changes) === 1) return RESERVED;
    // Refused: only now tell "no such token here" from "cap reached" (the refusal path alone reads twice).
    const current = this.#spentOf.get(namespace, id, digest) as Row | undefined;
    if (current === undefined) return { ok: false, reason: 'unknown-token' };
    const killedAt = Number(current.killed_at);
    if (killedAt < 0) return { ok: false, reason: 'unknown-token' };
    if (killedAt > 0) return { ok: false, reason: 'revoked' };
    return { ok: false, reason: 'spend-cap', spent: Number(current.spent) };
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }

  /**
   * Vault files from before token records carried these columns: add them. Rows without a
   * digest, or from before `killed_at` (-1), never validate a token: an earlier kill switch
   * did not mark them, so whether one outlived it cannot be told (those tokens must be
   * minted again). Rows from before `allow_no_origin` were minted without it.
   */
  #migrate(): void {
    const missing = () => {
      const present = new Set(
        [...new Set(ADDED_COLUMNS.map(([table]) => table))].flatMap((table) =>
          (this.#db.prepare(`PRAGMA table_info(${table})`).all() as Row[]).map(
            (c) => `${table}.${String(c.name)}`,
          ),
        ),
      );
      return ADDED_COLUMNS.filter(([table, name]) => !present.has(`${table}.${name}`));
    };
    if (missing().length === 0) return;
    // At open, before the busy timeout drops to 0: a plain synchronous transaction.
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const [table, name, type] of missing())
        this.#db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${type}`);
      this.#db.exec('COMMIT');
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw unavailable(error);
    }
  }

  #bump(namespace: string, notBefore: number): void {
    this.#db
      .prepare(
        `INSERT INTO token_heads (namespace, version, not_before) VALUES (?, 1, ?)
         ON CONFLICT (namespace) DO UPDATE SET version = version + 1, not_before = MAX(not_before, excluded.not_before)`,
      )
      .run(namespace, notBefore);
  }

  /** `fn` in one transaction; a lost lock rolls it back, and the whole of it is tried again. */
  #transaction<T>(fn: () => T, begin = 'BEGIN IMMEDIATE'): Promise<T> {
    return this.#run(() => {
      this.#db.exec(begin);
      try {
        const result = fn();
        this.#db.exec('COMMIT');
        return result;
      } catch (error) {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  /**
   * `fn` now, and again on a timer while another connection holds the lock (1, 2, 4 … 32 ms
   * apart, for at most `lockWaitMs`): the event loop is never held. A locked, closed or
   * broken database becomes ERR_STORE_UNAVAILABLE (callers fail closed).
   */
  async #run<T>(fn: () => T, locked?: unknown): Promise<T> {
    if (this.#unusable !== undefined) throw this.#unusable;
    const deadline = performance.now() + this.#lockWaitMs;
    let error = locked;
    for (let delay = 1; ; delay = Math.min(delay * 2, 32)) {
      if (error === undefined) {
        try {
          return fn();
        } catch (thrown) {
          if (!isLocked(thrown)) throw unavailable(thrown);
          error = thrown;
        }
      }
      const left = deadline - performance.now();
      if (left <= 0) throw unavailable(error);
      await sleep(Math.min(delay, left));
      if (this.#unusable !== undefined) throw this.#unusable;
      error = undefined;
    }
  }

  /** Fail closed for good once the file under the connection is no longer the vault (sqlite-file.ts). */
  #checkFile(): void {
    if (this.#unusable !== undefined) throw this.#unusable;
    const change = this.#file.changed();
    if (change === undefined) return;
    this.#unusable = replaced(`${change} after this process opened it`);
    throw this.#unusable;
  }
}

function replaced(what: string): StoreUnusable {
  return new StoreUnusable(
    `${what}: this process would keep reading revocations and writing spend that no other process sees`,
    'restart the proxy (egg proxy serve) so that it opens the vault that is there now',
  );
}

function unavailable(cause: unknown): EggError {
  return new EggError(
    'ERR_STORE_UNAVAILABLE',
    'the token tables of the local vault cannot be used right now',
    {
      cause,
      hint: isLocked(cause)
        ? 'another process holds the vault locked; try again once it is done'
        : 'another process may hold the vault locked; try again',
    },
  );
}
