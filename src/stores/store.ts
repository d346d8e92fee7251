/**
 * The store port: one small interface over SQLite (the embedded default) and DynamoDB.
 * Stores hold ciphertext, wrapped keys and metadata only; they never see plaintext.
 * Every write is conditional, so concurrent writers cannot silently overwrite each other.
 */

/** A secret as stored: never plaintext, never an unwrapped key. */
export interface SecretItem {
  namespace: string;
  name: string;
  ciphertext: Buffer;
  iv: Buffer;
  tag: Buffer;
  wrappedKey: Buffer;
  /** The wrapping key's id (a KMS key ARN, a namespace KEK id, a local KEK fingerprint). */
  keyId: string;
  /** Bumps on every set. */
  rev: number;
  /** Bumps on every data-key rotation. */
  gen: number;
  createdAt: string;
  updatedAt: string;
  /** Proxy metadata: the pinned upstream origin and the injection header template. */
  upstream?: string;
  inject?: string;
}

/** Under what condition a write may happen; a failed condition is `false`, not an error. */
export type WriteCondition =
  | { kind: 'absent' }
  /** The item still has this `rev` (a set racing another set loses and retries). */
  | { kind: 'rev'; rev: number }
  /** The item still has this `rev` and `gen` (a rotation that lost a race is skipped). */
  | { kind: 'rev-gen'; rev: number; gen: number };

/** A namespace key-encryption key for the `kms-hierarchical` keyring, wrapped by KMS. */
export interface NamespaceKeyItem {
  namespace: string;
  kekId: string;
  /** The KMS ciphertext blob of the KEK. */
  wrapped: Buffer;
  kmsKeyId: string;
  createdAt: string;
}

/** One audit record, hash-chained to the one before it in the same namespace. */
export interface AuditRecord {
  namespace: string;
  seq: number;
  time: string;
  action: string;
  /** Secret names or token ids the action touched. */
  targets: string[];
  actor: string;
  outcome: string;
  /** Hash of the previous record (`seq - 1`), or 64 zeros for the first. */
  prev: string;
  hash: string;
}

/**
 * A signed checkpoint of a namespace's audit trail: the anchor key's holder (the rotator)
 * saw the record `seq` with this `hash`. Stored apart from the records, where readers cannot
 * write (src/vault/anchor.ts says what is signed).
 */
export interface AuditCheckpoint {
  namespace: string;
  seq: number;
  /** The hash of record `seq`. */
  hash: string;
  /** When it was signed (ISO 8601). */
  time: string;
  /** The id of the key that signed it (`ed25519:…`). */
  kid: string;
  /** The Ed25519 signature, base64url. */
  signature: string;
}

export interface SecretStore {
  readonly kind: 'sqlite' | 'dynamodb';
  /** The named items that exist, in no particular order; `names` undefined means every secret. */
  getSecrets(namespace: string, names?: readonly string[]): Promise<SecretItem[]>;
  /** Write `item` if `condition` holds; `false` when it does not. */
  putSecret(item: SecretItem, condition: WriteCondition): Promise<boolean>;
  /** Delete if present; `false` when there was nothing to delete. */
  deleteSecret(namespace: string, name: string): Promise<boolean>;
  getNamespaceKey(namespace: string): Promise<NamespaceKeyItem | undefined>;
  /** Create the namespace KEK if none exists yet; `false` when another writer got there first. */
  putNamespaceKey(item: NamespaceKeyItem): Promise<boolean>;
  /**
   * Append one record at the head of the namespace's chain, atomically: `build` receives
   * the current head (or undefined) and returns the next record; on a lost race the store
   * calls it again with the new head.
   */
  appendAudit(namespace: string, build: (head: AuditRecord | undefined) => AuditRecord): Promise<AuditRecord>;
  /** Optional: fetch what the next append needs (the chain's head), overlapped with item reads. */
  warmAudit?(namespace: string): Promise<void>;
  /** The namespace's records in `seq` order; with `afterSeq`, only those after it (a follower's cursor). */
  readAudit(namespace: string, options?: { afterSeq?: number }): Promise<AuditRecord[]>;
  /** Store a checkpoint unless one exists at its `seq` already; `false` when one does. */
  putCheckpoint(checkpoint: AuditCheckpoint): Promise<boolean>;
  /** The namespace's checkpoints in `seq` order; with `latest`, only the newest (or none). */
  readCheckpoints(namespace: string, options?: { latest?: boolean }): Promise<AuditCheckpoint[]>;
  /**
   * Optional: erase from the store's own files the old wrapped keys and ciphertexts that
   * earlier writes replaced or deleted, so "the old key is gone" holds on disk. SQLite does
   * (secure_delete and a WAL checkpoint); DynamoDB has nothing to do here: the old items it
   * keeps are point-in-time recovery's (docs/local-vault.md).
   */
  eraseFreed?(): Promise<void>;
  close(): Promise<void>;
}
