/**
 * The SQLite store (`node:sqlite`): the embedded default, one file under `EGG_HOME`.
 * WAL mode and a busy timeout let several processes share it; conditional writes are
 * `UPDATE … WHERE rev = ? AND gen = ?` checked by the changed-row count. The audit table
 * and its checkpoints refuse UPDATE and DELETE through triggers (which stop tools and
 * mistakes, not the file's owner: SECURITY.md).
 *
 * Old key material is erased (issue 9, item 12): `secure_delete` zeroes what a write frees
 * inside the file, and `eraseFreed()` checkpoints the WAL and truncates it, so the old
 * frames go too. The `vault_meta` table holds the key check value that binds the file to
 * its KEK; src/local-vault.ts decides what to do with it (docs/local-vault.md).
 */
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { EggError, errorLabel } from '../errors.js';
import { assertPrivateFile, ensurePrivateFile } from '../home.js';
import { type Logger, nullLogger } from '../log.js';
import { explainingErrors } from './sqlite-errors.js';
import type {
  AuditCheckpoint,
  AuditRecord,
  CallCountStore,
  MemberRecord,
  MemberRole,
  MemberStore,
  NamespaceCount,
  NamespaceKeyItem,
  SecretItem,
  SecretStore,
  SecretWrite,
  WriteCondition,
} from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS secrets (
  namespace TEXT NOT NULL, name TEXT NOT NULL,
  ciphertext BLOB NOT NULL, iv BLOB NOT NULL, tag BLOB NOT NULL, wrapped_key BLOB NOT NULL, key_id TEXT NOT NULL,
  rev INTEGER NOT NULL, gen INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  upstream TEXT, inject TEXT,
  PRIMARY KEY (namespace, name)
) STRICT;
CREATE TABLE IF NOT EXISTS namespace_keys (
  namespace TEXT PRIMARY KEY, kek_id TEXT NOT NULL, wrapped BLOB NOT NULL, kms_key_id TEXT NOT NULL, created_at TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS audit (
  namespace TEXT NOT NULL, seq INTEGER NOT NULL, time TEXT NOT NULL, action TEXT NOT NULL, targets TEXT NOT NULL,
  actor TEXT NOT NULL, outcome TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL,
  PRIMARY KEY (namespace, seq)
) STRICT;
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TABLE IF NOT EXISTS vault_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
`;

/**
 * Namespaces that exist without a secret: marked before their last secret is removed, so
 * an emptied namespace still exists (docs/namespaces.md).
 */
const NAMESPACE_SCHEMA = `
CREATE TABLE IF NOT EXISTS namespaces (namespace TEXT PRIMARY KEY, created_at TEXT NOT NULL) STRICT;
`;

/**
 * Earlier versions of secrets (issue 12, item 1): each the item as it was when a set
 * replaced it, under its own data key; `rev` is its place in the secret's history.
 * `namespace_settings` says how many a namespace keeps.
 */
const VERSION_SCHEMA = `
CREATE TABLE IF NOT EXISTS secret_versions (
  namespace TEXT NOT NULL, name TEXT NOT NULL,
  ciphertext BLOB NOT NULL, iv BLOB NOT NULL, tag BLOB NOT NULL, wrapped_key BLOB NOT NULL, key_id TEXT NOT NULL,
  rev INTEGER NOT NULL, gen INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  upstream TEXT, inject TEXT, set_by TEXT, expires TEXT,
  PRIMARY KEY (namespace, name, rev)
) STRICT;
CREATE TABLE IF NOT EXISTS namespace_settings (namespace TEXT PRIMARY KEY, versions_kept INTEGER NOT NULL) STRICT;
`;

/** Signed audit checkpoints (src/vault/anchor.ts): one per namespace and seq, never changed. */
const CHECKPOINT_SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  namespace TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, time TEXT NOT NULL, kid TEXT NOT NULL,
  signature TEXT NOT NULL,
  PRIMARY KEY (namespace, seq)
) STRICT;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
`;

/**
 * Members of namespaces (the service mode, src/api/): at most one `owner` per namespace, and
 * an index by principal for "my namespaces".
 */
const MEMBER_SCHEMA = `
CREATE TABLE IF NOT EXISTS members (
  namespace TEXT NOT NULL, principal TEXT NOT NULL, role TEXT NOT NULL, added_by TEXT NOT NULL, added_at TEXT NOT NULL,
  PRIMARY KEY (namespace, principal)
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS members_one_owner ON members (namespace) WHERE role = 'owner';
CREATE INDEX IF NOT EXISTS members_by_principal ON members (principal, namespace);
`;

/**
 * The service API's call counts (src/api/throttle.ts): one row per caller and window, and
 * each caller's last refused window. Expired rows are deleted when a caller opens a window.
 */
const CALL_SCHEMA = `
CREATE TABLE IF NOT EXISTS call_counts (
  caller TEXT NOT NULL, slot INTEGER NOT NULL, count INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  PRIMARY KEY (caller, slot)
) STRICT;
CREATE INDEX IF NOT EXISTS call_counts_expiry ON call_counts (expires_at);
CREATE TABLE IF NOT EXISTS call_refusals (
  caller TEXT PRIMARY KEY, slot INTEGER NOT NULL, expires_at INTEGER NOT NULL
) STRICT;
`;

type Row = Record<string, SQLInputValue>;

/** What vault.db holds, counted for the local vault's checks at open; never a value. */
export interface VaultContents {
  /** The key check value of the KEK the vault was created with (none in a vault from egg 0.1.0, or in a new file). */
  keyCheck: Buffer | undefined;
  secrets: number;
  /** How many secrets each wrapping key id wraps. */
  keyIds: Map<string, number>;
  audit: number;
  /** Token records, revocations and kill-switch heads (src/tokens/sqlite-token-store.ts). */
  tokens: number;
}

/** SQLite's primary result codes that mean the file is not (or no longer) a sound database. */

/** How long erasing waits for another connection's transaction before leaving it for later. */
const ERASE_WAIT_MS = 100;

export class SqliteStore implements SecretStore, MemberStore, CallCountStore {
  readonly kind = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #logger: Logger;
  /** A write replaced or deleted an item since the last erasure. */
  #freed = false;

  /**
   * Opens the vault file at `path`, creating it (mode 0600) unless `create` is false. A
   * file SQLite cannot read as a database is `ERR_VAULT_DAMAGED`, never a raw SQLite error.
   * `busyTimeoutMs`: how long a call may wait for another process's lock once open, blocking
   * the event loop (SQLite's busy handler sleeps): 10 s by default, a few ms in the proxy
   * (issue 9 item 4).
   */
  constructor(path: string, options: { create?: boolean; logger?: Logger; busyTimeoutMs?: number } = {}) {
    if (options.create === false) assertPrivateFile(path);
    else ensurePrivateFile(path);
    this.#path = path;
    this.#logger = options.logger ?? nullLogger;
    this.#db = explainingErrors(new DatabaseSync(path), path);
    try {
      this.#db.exec(
        'PRAGMA busy_timeout = 10000; PRAGMA secure_delete = ON; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;',
      );
      this.#db.exec(SCHEMA);
      this.#db.exec(CHECKPOINT_SCHEMA);
      this.#db.exec(NAMESPACE_SCHEMA);
      this.#db.exec(VERSION_SCHEMA);
      // Who set each value and when it expires arrived with versions, and the sealed mark with
      // sealed provider keys: a vault from before gains the columns.
      addColumn(this.#db, 'secrets', 'set_by', 'TEXT');
      addColumn(this.#db, 'secrets', 'expires', 'TEXT');
      addColumn(this.#db, 'secrets', 'sealed', 'INTEGER');
      addColumn(this.#db, 'secret_versions', 'sealed', 'INTEGER');
      // A provider key's price table arrived with spend in real units (issue 10 item 6).
      addColumn(this.#db, 'secrets', 'price', 'TEXT');
      addColumn(this.#db, 'secret_versions', 'price', 'TEXT');
      this.#db.exec(MEMBER_SCHEMA);
      this.#db.exec(CALL_SCHEMA);
      if (options.busyTimeoutMs !== undefined)
        this.#db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs))}`);
    } catch (error) {
      // Already an ERR_VAULT_DAMAGED (or other explained) error: #db explains its own failures.
      this.#db.close();
      throw error;
    }
  }

  async getSecrets(namespace: string, names?: readonly string[]): Promise<SecretItem[]> {
    if (names === undefined) {
      return this.#db
        .prepare('SELECT * FROM secrets WHERE namespace = ? ORDER BY name')
        .all(namespace)
        .map((row) => toSecret(row as Row));
    }
    if (names.length === 0) return [];
    const get = this.#db.prepare('SELECT * FROM secrets WHERE namespace = ? AND name = ?');
    const items: SecretItem[] = [];
    this.#db.exec('BEGIN');
    try {
      for (const name of new Set(names)) {
        const row = get.get(namespace, name);
        if (row !== undefined) items.push(toSecret(row as Row));
      }
    } finally {
      this.#db.exec('COMMIT');
    }
    return items;
  }

  async putSecret(item: SecretItem, condition: WriteCondition): Promise<boolean> {
    return this.#write(item, condition);
  }

  /** Every write in one transaction: the first failed condition rolls them all back. */
  async putSecrets(writes: readonly SecretWrite[]): Promise<boolean> {
    if (writes.length === 0) return true;
    const freed = this.#freed;
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const { item, condition, keep, drop } of writes) {
        if (!this.#write(item, condition) || (keep !== undefined && !this.#keepVersion(keep))) {
          this.#db.exec('ROLLBACK');
          this.#freed = freed;
          return false;
        }
        this.#dropVersions(item.namespace, item.name, drop ?? []);
      }
      this.#db.exec('COMMIT');
      return true;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      this.#freed = freed;
      throw error;
    }
  }

  async hasNamespace(namespace: string): Promise<boolean> {
    const row = this.#db
      .prepare(
        `SELECT EXISTS (SELECT 1 FROM secrets WHERE namespace = ?1)
             OR EXISTS (SELECT 1 FROM namespace_keys WHERE namespace = ?1)
             OR EXISTS (SELECT 1 FROM namespaces WHERE namespace = ?1) AS found`,
      )
      .get(namespace) as Row;
    return Number(row.found) === 1;
  }

  async markNamespace(namespace: string): Promise<void> {
    this.#db
      .prepare('INSERT INTO namespaces (namespace, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING')
      .run(namespace, new Date().toISOString());
  }

  async listNamespaces(): Promise<NamespaceCount[]> {
    return this.#db
      .prepare(
        `SELECT n.namespace AS namespace, (SELECT count(*) FROM secrets s WHERE s.namespace = n.namespace) AS secrets
         FROM (SELECT namespace FROM secrets UNION SELECT namespace FROM namespace_keys UNION SELECT namespace FROM namespaces) n
         ORDER BY n.namespace`,
      )
      .all()
      .map((row) => ({ namespace: String(row.namespace), secrets: Number(row.secrets) }));
  }

  #write(item: SecretItem, condition: WriteCondition): boolean {
    const values = versionValues(item).slice(2);
    if (condition.kind === 'absent') {
      const result = this.#db
        .prepare(
          `INSERT INTO secrets (namespace, name, ciphertext, iv, tag, wrapped_key, key_id, rev, gen, created_at, updated_at, upstream, inject, set_by, expires, sealed, price)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        )
        .run(item.namespace, item.name, ...values);
      return result.changes === 1;
    }
    const where = condition.kind === 'rev' ? 'rev = ?' : 'rev = ? AND gen = ?';
    const params = condition.kind === 'rev' ? [condition.rev] : [condition.rev, condition.gen];
    const result = this.#db
      .prepare(
        `UPDATE secrets SET ciphertext = ?, iv = ?, tag = ?, wrapped_key = ?, key_id = ?, rev = ?, gen = ?,
           created_at = ?, updated_at = ?, upstream = ?, inject = ?, set_by = ?, expires = ?, sealed = ?, price = ?
         WHERE namespace = ? AND name = ? AND ${where}`,
      )
      .run(...values, item.namespace, item.name, ...params);
    if (result.changes === 1) this.#freed = true;
    return result.changes === 1;
  }

  /** Keep `item` as a version of its secret; `false` when that rev is kept already. */
  #keepVersion(item: SecretItem): boolean {
    const result = this.#db
      .prepare(
        `INSERT INTO secret_versions (namespace, name, ciphertext, iv, tag, wrapped_key, key_id, rev, gen, created_at, updated_at, upstream, inject, set_by, expires, sealed, price)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .run(...versionValues(item));
    return result.changes === 1;
  }

  #dropVersions(namespace: string, name: string, revs: readonly number[]): void {
    const drop = this.#db.prepare('DELETE FROM secret_versions WHERE namespace = ? AND name = ? AND rev = ?');
    for (const rev of revs) if (drop.run(namespace, name, rev).changes === 1) this.#freed = true;
  }

  /** The secret and its versions in one transaction. */
  async deleteSecret(namespace: string, name: string): Promise<boolean> {
    return this.withWriteLock(() => {
      const deleted =
        this.#db.prepare('DELETE FROM secrets WHERE namespace = ? AND name = ?').run(namespace, name)
          .changes === 1;
      const versions = this.#db
        .prepare('DELETE FROM secret_versions WHERE namespace = ? AND name = ?')
        .run(namespace, name).changes;
      if (deleted || versions > 0) this.#freed = true;
      return deleted;
    });
  }

  async getVersions(namespace: string, name: string): Promise<SecretItem[]> {
    return this.#db
      .prepare('SELECT * FROM secret_versions WHERE namespace = ? AND name = ? ORDER BY rev')
      .all(namespace, name)
      .map((row) => toSecret(row as Row));
  }

  async versionRevs(namespace: string, names?: readonly string[]): Promise<Map<string, number[]>> {
    const wanted = names === undefined ? undefined : new Set(names);
    const revs = new Map<string, number[]>();
    for (const row of this.#db
      .prepare('SELECT name, rev FROM secret_versions WHERE namespace = ? ORDER BY name, rev')
      .all(namespace) as Row[]) {
      const name = String(row.name);
      if (wanted !== undefined && !wanted.has(name)) continue;
      revs.set(name, [...(revs.get(name) ?? []), Number(row.rev)]);
    }
    return revs;
  }

  /** A rotation changes only the sealed value, its data key and `gen`. */
  async putVersion(item: SecretItem, gen: number): Promise<boolean> {
    const result = this.#db
      .prepare(
        `UPDATE secret_versions SET ciphertext = ?, iv = ?, tag = ?, wrapped_key = ?, key_id = ?, gen = ?, sealed = ?
         WHERE namespace = ? AND name = ? AND rev = ? AND gen = ?`,
      )
      .run(
        item.ciphertext,
        item.iv,
        item.tag,
        item.wrappedKey,
        item.keyId,
        item.gen,
        item.sealed ? 1 : null,
        item.namespace,
        item.name,
        item.rev,
        gen,
      );
    if (result.changes === 1) this.#freed = true;
    return result.changes === 1;
  }

  async getVersionsKept(namespace: string): Promise<number | undefined> {
    const row = this.#db
      .prepare('SELECT versions_kept FROM namespace_settings WHERE namespace = ?')
      .get(namespace) as Row | undefined;
    return row === undefined ? undefined : Number(row.versions_kept);
  }

  async setVersionsKept(namespace: string, count: number): Promise<void> {
    this.withWriteLock(() => {
      this.#db
        .prepare(
          'INSERT INTO namespace_settings (namespace, versions_kept) VALUES (?, ?) ON CONFLICT (namespace) DO UPDATE SET versions_kept = excluded.versions_kept',
        )
        .run(namespace, count);
      this.#db
        .prepare('INSERT INTO namespaces (namespace, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING')
        .run(namespace, new Date().toISOString());
    });
  }

  /**
   * Erase the old wrapped keys and ciphertexts that writes since the last erasure replaced
   * or deleted. `secure_delete` has already zeroed them in the pages those writes produced;
   * the older page images still sit in the WAL (and, until a checkpoint, in vault.db), so
   * checkpoint everything into vault.db and truncate the WAL to nothing. A checkpoint cannot
   * pass a reader's snapshot: when another connection is inside a transaction, it waits
   * briefly, logs `vault.erase_blocked` and tries again on the next call and at `close()`.
   */
  async eraseFreed(): Promise<void> {
    if (this.#freed) this.#erase();
  }

  #erase(): void {
    const { timeout } = this.#db.prepare('PRAGMA busy_timeout').get() as { timeout: number };
    try {
      this.#db.exec(`PRAGMA busy_timeout = ${ERASE_WAIT_MS}`);
      // PRAGMA wal_checkpoint(TRUNCATE): https://sqlite.org/pragma.html#pragma_wal_checkpoint
      const { busy } = this.#db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get() as { busy: number };
      if (busy === 0) this.#freed = false;
      else this.#logger.warn('vault.erase_blocked', { vault: this.#path });
    } catch (error) {
      this.#logger.warn('vault.erase_failed', { vault: this.#path, error: errorLabel(error) });
    } finally {
      this.#db.exec(`PRAGMA busy_timeout = ${Math.trunc(timeout)}`);
    }
  }

  /** What the file holds, read in one transaction (src/local-vault.ts checks it at open). */
  contents(): VaultContents {
    const own = !this.#db.isTransaction;
    if (own) this.#db.exec('BEGIN');
    try {
      const keyIds = new Map<string, number>();
      for (const row of this.#db
        .prepare('SELECT key_id, count(*) AS n FROM secrets GROUP BY key_id')
        .all() as Row[])
        keyIds.set(String(row.key_id), Number(row.n));
      const count = (table: string) =>
        Number((this.#db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as Row).n);
      const tables = new Set(
        (this.#db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Row[]).map((row) =>
          String(row.name),
        ),
      );
      const tokens = ['tokens', 'token_revocations', 'token_heads']
        .filter((table) => tables.has(table))
        .reduce((sum, table) => sum + count(table), 0);
      return {
        keyCheck: this.keyCheck(),
        secrets: [...keyIds.values()].reduce((sum, n) => sum + n, 0),
        keyIds,
        audit: count('audit'),
        tokens,
      };
    } finally {
      if (own) this.#db.exec('COMMIT');
    }
  }

  /** Run `use` holding SQLite's write lock (`BEGIN IMMEDIATE`); commit when it returns, roll back when it throws. */
  withWriteLock<T>(use: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = use();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  /** The key check value recorded at creation, if any (the one row every open reads). */
  keyCheck(): Buffer | undefined {
    const row = this.#db.prepare("SELECT value FROM vault_meta WHERE name = 'key_check'").get() as
      Row | undefined;
    return row === undefined ? undefined : Buffer.from(row.value as Uint8Array);
  }

  /** Record the key check value of the vault's KEK; fails if one is already there. */
  setKeyCheck(value: Buffer): void {
    this.#db.prepare("INSERT INTO vault_meta (name, value) VALUES ('key_check', ?)").run(value);
  }

  /** SQLite's `quick_check`: `['ok']`, or what it found wrong (https://sqlite.org/pragma.html#pragma_quick_check). */
  quickCheck(): string[] {
    return (this.#db.prepare('PRAGMA quick_check').all() as Row[]).map((row) => String(row.quick_check));
  }

  async getNamespaceKey(namespace: string): Promise<NamespaceKeyItem | undefined> {
    const row = this.#db.prepare('SELECT * FROM namespace_keys WHERE namespace = ?').get(namespace) as
      Row | undefined;
    if (row === undefined) return undefined;
    return {
      namespace: String(row.namespace),
      kekId: String(row.kek_id),
      wrapped: Buffer.from(row.wrapped as Uint8Array),
      kmsKeyId: String(row.kms_key_id),
      createdAt: String(row.created_at),
    };
  }

  async putNamespaceKey(item: NamespaceKeyItem): Promise<boolean> {
    const result = this.#db
      .prepare(
        'INSERT INTO namespace_keys (namespace, kek_id, wrapped, kms_key_id, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      )
      .run(item.namespace, item.kekId, item.wrapped, item.kmsKeyId, item.createdAt);
    return result.changes === 1;
  }

  async appendAudit(
    namespace: string,
    build: (head: AuditRecord | undefined) => AuditRecord,
  ): Promise<AuditRecord> {
    // BEGIN IMMEDIATE takes the write lock up front, so the head we read is still the head when we insert.
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const row = this.#db
        .prepare('SELECT * FROM audit WHERE namespace = ? ORDER BY seq DESC LIMIT 1')
        .get(namespace) as Row | undefined;
      const record = build(row === undefined ? undefined : toAudit(row));
      this.#db
        .prepare(
          'INSERT INTO audit (namespace, seq, time, action, targets, actor, outcome, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          record.namespace,
          record.seq,
          record.time,
          record.action,
          JSON.stringify(record.targets),
          record.actor,
          record.outcome,
          record.prev,
          record.hash,
        );
      this.#db.exec('COMMIT');
      return record;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  async readAudit(namespace: string, options: { afterSeq?: number } = {}): Promise<AuditRecord[]> {
    return this.#db
      .prepare('SELECT * FROM audit WHERE namespace = ? AND seq > ? ORDER BY seq')
      .all(namespace, options.afterSeq ?? 0)
      .map((row) => toAudit(row as Row));
  }

  async putCheckpoint(checkpoint: AuditCheckpoint): Promise<boolean> {
    const result = this.#db
      .prepare(
        'INSERT INTO audit_checkpoints (namespace, seq, hash, time, kid, signature) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      )
      .run(
        checkpoint.namespace,
        checkpoint.seq,
        checkpoint.hash,
        checkpoint.time,
        checkpoint.kid,
        checkpoint.signature,
      );
    return result.changes === 1;
  }

  async readCheckpoints(namespace: string, options: { latest?: boolean } = {}): Promise<AuditCheckpoint[]> {
    const sql = options.latest
      ? 'SELECT * FROM audit_checkpoints WHERE namespace = ? ORDER BY seq DESC LIMIT 1'
      : 'SELECT * FROM audit_checkpoints WHERE namespace = ? ORDER BY seq';
    return this.#db
      .prepare(sql)
      .all(namespace)
      .map((row) => ({
        namespace: String(row.namespace),
        seq: Number(row.seq),
        hash: String(row.hash),
        time: String(row.time),
        kid: String(row.kid),
        signature: String(row.signature),
      }));
  }

  async claimNamespace(owner: MemberRecord): Promise<boolean> {
    if (owner.role !== 'owner') throw new TypeError('a namespace is claimed by its owner');
    const result = this.#db
      .prepare(
        `INSERT INTO members (namespace, principal, role, added_by, added_at)
         SELECT ?1, ?2, 'owner', ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM members WHERE namespace = ?1)`,
      )
      .run(owner.namespace, owner.principal, owner.addedBy, owner.addedAt);
    return result.changes === 1;
  }

  async listMembers(namespace: string): Promise<MemberRecord[]> {
    return this.#db
      .prepare('SELECT * FROM members WHERE namespace = ? ORDER BY principal')
      .all(namespace)
      .map((row) => toMember(row as Row));
  }

  async putMember(record: MemberRecord): Promise<void> {
    if (record.role === 'owner') throw new TypeError('the owner is set by claimNamespace only');
    // The owner's row is never replaced: the WHERE of the upsert leaves it as it is.
    const result = this.#db
      .prepare(
        `INSERT INTO members (namespace, principal, role, added_by, added_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (namespace, principal) DO UPDATE SET role = excluded.role, added_by = excluded.added_by,
           added_at = excluded.added_at WHERE members.role <> 'owner'`,
      )
      .run(record.namespace, record.principal, record.role, record.addedBy, record.addedAt);
    if (result.changes !== 1) throw new TypeError('the owner is set by claimNamespace only');
  }

  async deleteMember(namespace: string, principal: string): Promise<boolean> {
    return (
      this.#db
        .prepare("DELETE FROM members WHERE namespace = ? AND principal = ? AND role <> 'owner'")
        .run(namespace, principal).changes === 1
    );
  }

  async listMemberships(principal: string): Promise<MemberRecord[]> {
    return this.#db
      .prepare('SELECT * FROM members WHERE principal = ? ORDER BY namespace')
      .all(principal)
      .map((row) => toMember(row as Row));
  }

  async countCall(caller: string, window: number, expiresAt: number, now: number): Promise<number> {
    const row = this.#db
      .prepare(
        `INSERT INTO call_counts (caller, slot, count, expires_at) VALUES (?, ?, 1, ?)
         ON CONFLICT (caller, slot) DO UPDATE SET count = count + 1 RETURNING count`,
      )
      .get(caller, window, expiresAt) as Row;
    const count = Number(row.count);
    // A caller's first call of a window: time to drop every counter and mark that has expired.
    if (count === 1) {
      this.#db.prepare('DELETE FROM call_counts WHERE expires_at < ?').run(now);
      this.#db.prepare('DELETE FROM call_refusals WHERE expires_at < ?').run(now);
    }
    return count;
  }

  async callCount(caller: string, window: number): Promise<number> {
    const row = this.#db
      .prepare('SELECT count FROM call_counts WHERE caller = ? AND slot = ?')
      .get(caller, window) as Row | undefined;
    return row === undefined ? 0 : Number(row.count);
  }

  async markRefused(caller: string, window: number, expiresAt: number): Promise<number | undefined> {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const row = this.#db.prepare('SELECT slot FROM call_refusals WHERE caller = ?').get(caller) as
        Row | undefined;
      const before = row === undefined ? undefined : Number(row.slot);
      if (before !== undefined && before >= window) {
        this.#db.exec('COMMIT');
        return undefined;
      }
      this.#db
        .prepare(
          `INSERT INTO call_refusals (caller, slot, expires_at) VALUES (?, ?, ?)
           ON CONFLICT (caller) DO UPDATE SET slot = excluded.slot, expires_at = excluded.expires_at`,
        )
        .run(caller, window, expiresAt);
      this.#db.exec('COMMIT');
      return before;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  async close(): Promise<void> {
    if (!this.#db.isOpen) return;
    if (this.#freed) this.#erase();
    this.#db.close();
  }
}

function toSecret(row: Row): SecretItem {
  const item: SecretItem = {
    namespace: String(row.namespace),
    name: String(row.name),
    ciphertext: Buffer.from(row.ciphertext as Uint8Array),
    iv: Buffer.from(row.iv as Uint8Array),
    tag: Buffer.from(row.tag as Uint8Array),
    wrappedKey: Buffer.from(row.wrapped_key as Uint8Array),
    keyId: String(row.key_id),
    rev: Number(row.rev),
    gen: Number(row.gen),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
  if (typeof row.upstream === 'string') item.upstream = row.upstream;
  if (typeof row.inject === 'string') item.inject = row.inject;
  if (typeof row.set_by === 'string') item.setBy = row.set_by;
  if (typeof row.expires === 'string') item.expires = row.expires;
  if (Number(row.sealed) === 1) item.sealed = true;
  if (typeof row.price === 'string') item.price = row.price;
  return item;
}

/** An item's values in column order (`secrets` and `secret_versions` share it). */
function versionValues(item: SecretItem): SQLInputValue[] {
  return [
    item.namespace,
    item.name,
    item.ciphertext,
    item.iv,
    item.tag,
    item.wrappedKey,
    item.keyId,
    item.rev,
    item.gen,
    item.createdAt,
    item.updatedAt,
    item.upstream ?? null,
    item.inject ?? null,
    item.setBy ?? null,
    item.expires ?? null,
    item.sealed ? 1 : null,
    item.price ?? null,
  ];
}

/**
 * Add `column` to a table made before it existed. Two processes opening one old (or one
 * new) vault at once may both try: the loser's "duplicate column" means the column is there.
 */
function addColumn(
  db: DatabaseSync,
  table: 'secrets' | 'secret_versions',
  column: 'set_by' | 'expires' | 'sealed' | 'price',
  type: 'TEXT' | 'INTEGER',
): void {
  const columns = db.prepare(`PRAGMA table_info(${table})`).all();
  if (columns.some((existing) => existing.name === column)) return;
  try {
    db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
  } catch (error) {
    if (!/duplicate column name/i.test((error as Error).message)) throw error;
  }
}

function toMember(row: Row): MemberRecord {
  return {
    namespace: String(row.namespace),
    principal: String(row.principal),
    role: String(row.role) as MemberRole,
    addedBy: String(row.added_by),
    addedAt: String(row.added_at),
  };
}

function toAudit(row: Row): AuditRecord {
  let targets: unknown;
  try {
    targets = JSON.parse(String(row.targets));
  } catch {
    targets = undefined;
  }
  if (!Array.isArray(targets))
    throw new EggError('ERR_AUDIT_BROKEN', `audit record ${String(row.seq)} is damaged`);
  return {
    namespace: String(row.namespace),
    seq: Number(row.seq),
    time: String(row.time),
    action: String(row.action),
    targets: targets.map(String),
    actor: String(row.actor),
    outcome: String(row.outcome),
    prev: String(row.prev),
    hash: String(row.hash),
  };
}
