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
 * node:sqlite is synchronous: a write waits for the lock on the event loop. The busy
 * timeout is short (the proxy fails closed rather than stall every request behind it).
 */
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { EggError } from '../errors.js';
import { ensurePrivateFile } from '../home.js';
import type { RevocationState, SpendResult, TokenRecord, TokenStore } from './token-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tokens (
  namespace TEXT NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, origins TEXT NOT NULL,
  rps INTEGER NOT NULL, burst INTEGER NOT NULL, spend INTEGER NOT NULL, cost INTEGER NOT NULL,
  iat INTEGER NOT NULL, exp INTEGER NOT NULL, tags TEXT NOT NULL, actor TEXT NOT NULL,
  digest TEXT NOT NULL DEFAULT '', spent INTEGER NOT NULL DEFAULT 0,
  allow_no_origin INTEGER NOT NULL DEFAULT 0, killed_at INTEGER NOT NULL DEFAULT -1,
  PRIMARY KEY (namespace, id)
) STRICT;
CREATE TABLE IF NOT EXISTS token_revocations (
  namespace TEXT NOT NULL, id TEXT NOT NULL, exp INTEGER NOT NULL, PRIMARY KEY (namespace, id)
) STRICT;
CREATE TABLE IF NOT EXISTS token_heads (
  namespace TEXT PRIMARY KEY, version INTEGER NOT NULL, not_before INTEGER NOT NULL
) STRICT;
`;

type Row = Record<string, SQLInputValue>;

/** Columns added to `tokens` since its first version, in order (see #migrate). */
const ADDED_COLUMNS: readonly (readonly [string, string])[] = [
  ['digest', "TEXT NOT NULL DEFAULT ''"],
  ['spent', 'INTEGER NOT NULL DEFAULT 0'],
  ['allow_no_origin', 'INTEGER NOT NULL DEFAULT 0'],
  ['killed_at', 'INTEGER NOT NULL DEFAULT -1'],
];

const RESERVED: SpendResult = Object.freeze({ ok: true });

export class SqliteTokenStore implements TokenStore {
  readonly kind = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #reserve;
  readonly #spentOf;
  readonly #head;

  constructor(path: string, options: { busyTimeoutMs?: number } = {}) {
    ensurePrivateFile(path);
    this.#db = new DatabaseSync(path);
    this.#db.exec(
      `PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 2000)}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;`,
    );
    this.#db.exec(SCHEMA);
    this.#migrate();
    // Add to the counter only on the token's own row, unmarked, and only while it stays within the cap.
    this.#reserve = this.#db.prepare(
      'UPDATE tokens SET spent = spent + ?1 WHERE namespace = ?2 AND id = ?3 AND digest = ?4 AND killed_at = 0 AND spent + ?1 <= ?5',
    );
    this.#spentOf = this.#db.prepare(
      'SELECT spent, killed_at FROM tokens WHERE namespace = ? AND id = ? AND digest = ?',
    );
    this.#head = this.#db.prepare('SELECT version, not_before FROM token_heads WHERE namespace = ?');
  }

  async putToken(r: TokenRecord): Promise<void> {
    this.#run(() =>
      this.#db
        .prepare(
          `INSERT INTO tokens (namespace, id, digest, key, origins, rps, burst, spend, cost, iat, exp, tags, actor, allow_no_origin, killed_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
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
        ),
    );
  }

  async listTokens(namespace: string) {
    const rows = this.#run(() =>
      this.#db
        .prepare(
          `SELECT t.*, (r.id IS NOT NULL OR t.killed_at != 0) AS revoked FROM tokens t
           LEFT JOIN token_revocations r ON r.namespace = t.namespace AND r.id = t.id
           WHERE t.namespace = ? ORDER BY t.iat, t.id`,
        )
        .all(namespace),
    ) as Row[];
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
      revoked: Number(row.revoked) === 1,
      spent: Number(row.spent),
    }));
  }

  async revoke(namespace: string, entries: readonly { id: string; exp: number }[]): Promise<void> {
    this.#transaction(() => {
      const put = this.#db.prepare(
        'INSERT INTO token_revocations (namespace, id, exp) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      );
      for (const { id, exp } of entries) put.run(namespace, id, exp);
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

  async revocationVersion(namespace: string) {
    const row = this.#run(() => this.#head.get(namespace)) as Row | undefined;
    return { version: Number(row?.version ?? 0), notBefore: Number(row?.not_before ?? 0) };
  }

  async revocationState(namespace: string): Promise<RevocationState> {
    // One read transaction: the head and the entries it counts, from the same snapshot.
    return this.#transaction(() => {
      const head = this.#head.get(namespace) as Row | undefined;
      const rows = this.#db
        .prepare('SELECT id, exp FROM token_revocations WHERE namespace = ?')
        .all(namespace) as Row[];
      return {
        version: Number(head?.version ?? 0),
        notBefore: Number(head?.not_before ?? 0),
        revoked: new Map(rows.map((row) => [String(row.id), Number(row.exp)])),
      };
    }, 'BEGIN');
  }

  /** Synchronous, like node:sqlite itself: it throws ERR_STORE_UNAVAILABLE rather than reject. */
  reserveSpend(namespace: string, id: string, digest: string, cost: number, cap: number): SpendResult {
    // Rows from before digests were recorded hold '': they validate no token.
    if (digest === '') return { ok: false, reason: 'unknown-token' };
    let changes: number | bigint;
    try {
      ({ changes } = this.#reserve.run(cost, namespace, id, digest, cap));
    } catch (error) {
      throw unavailable(error);
    }
    if (Number(changes) === 1) return RESERVED;
    // Refused: only now tell "no such token here" from "cap reached" (the refusal path alone reads twice).
    const current = this.#run(() => this.#spentOf.get(namespace, id, digest)) as Row | undefined;
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
        (this.#db.prepare('PRAGMA table_info(tokens)').all() as Row[]).map((c) => String(c.name)),
      );
      return ADDED_COLUMNS.filter(([name]) => !present.has(name));
    };
    if (missing().length === 0) return;
    this.#transaction(() => {
      for (const [name, type] of missing()) this.#db.exec(`ALTER TABLE tokens ADD COLUMN ${name} ${type}`);
    });
  }

  #bump(namespace: string, notBefore: number): void {
    this.#db
      .prepare(
        `INSERT INTO token_heads (namespace, version, not_before) VALUES (?, 1, ?)
         ON CONFLICT (namespace) DO UPDATE SET version = version + 1, not_before = MAX(not_before, excluded.not_before)`,
      )
      .run(namespace, notBefore);
  }

  #transaction<T>(fn: () => T, begin = 'BEGIN IMMEDIATE'): T {
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

  /** A locked, closed or broken database becomes ERR_STORE_UNAVAILABLE (callers fail closed). */
  #run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw unavailable(error);
    }
  }
}

function unavailable(cause: unknown): EggError {
  return new EggError(
    'ERR_STORE_UNAVAILABLE',
    'the token tables of the local vault cannot be used right now',
    {
      cause,
      hint: 'another process may hold the vault locked; try again',
    },
  );
}
