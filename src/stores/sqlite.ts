/**
 * The SQLite store (`node:sqlite`): the embedded default, one file under `EGG_HOME`.
 * WAL mode and a busy timeout let several processes share it; conditional writes are
 * `UPDATE … WHERE rev = ? AND gen = ?` checked by the changed-row count. The audit table
 * refuses UPDATE and DELETE through triggers.
 */
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { EggError } from '../errors.js';
import { ensurePrivateFile } from '../home.js';
import type { AuditRecord, NamespaceKeyItem, SecretItem, SecretStore, WriteCondition } from './store.js';

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
`;

type Row = Record<string, SQLInputValue>;

export class SqliteStore implements SecretStore {
  readonly kind = 'sqlite' as const;
  readonly #db: DatabaseSync;

  /**
   * Opens (creating if needed, mode 0600) the vault file at `path`. `busyTimeoutMs`: how long
   * a call may wait for another process's lock once open, blocking the event loop (SQLite's
   * busy handler sleeps): 10 s by default, a few ms in the proxy (issue 9 item 4).
   */
  constructor(path: string, options: { busyTimeoutMs?: number } = {}) {
    ensurePrivateFile(path);
    this.#db = new DatabaseSync(path);
    this.#db.exec('PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
    this.#db.exec(SCHEMA);
    if (options.busyTimeoutMs !== undefined)
      this.#db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs))}`);
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
    const values = [
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
    ];
    if (condition.kind === 'absent') {
      const result = this.#db
        .prepare(
          `INSERT INTO secrets (namespace, name, ciphertext, iv, tag, wrapped_key, key_id, rev, gen, created_at, updated_at, upstream, inject)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        )
        .run(item.namespace, item.name, ...values);
      return result.changes === 1;
    }
    const where = condition.kind === 'rev' ? 'rev = ?' : 'rev = ? AND gen = ?';
    const params = condition.kind === 'rev' ? [condition.rev] : [condition.rev, condition.gen];
    const result = this.#db
      .prepare(
        `UPDATE secrets SET ciphertext = ?, iv = ?, tag = ?, wrapped_key = ?, key_id = ?, rev = ?, gen = ?,
           created_at = ?, updated_at = ?, upstream = ?, inject = ?
         WHERE namespace = ? AND name = ? AND ${where}`,
      )
      .run(...values, item.namespace, item.name, ...params);
    return result.changes === 1;
  }

  async deleteSecret(namespace: string, name: string): Promise<boolean> {
    return (
      this.#db.prepare('DELETE FROM secrets WHERE namespace = ? AND name = ?').run(namespace, name)
        .changes === 1
    );
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

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
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
  return item;
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
