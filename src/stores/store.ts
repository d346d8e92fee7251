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
  /** A provider key's price table (tokens/price.ts, canonical form): its tokens spend real units. */
  price?: string;
  /** Who set this value (the actor of the `set`, `import` or `rollback`); absent on items from before versions. */
  setBy?: string;
  /**
   * Arrived sealed (docs/sealed-keys.md) and not read since: `keyId` is the sealing key's
   * kid, `wrappedKey` its RSA-OAEP block, and the AAD `egg-seal:v1:<namespace>/<name>`. The
   * first read unseals it and its rotation writes it under the keyring, without this mark.
   */
  sealed?: true;
  /** When this value expires (ISO 8601; src/expiry.ts); absent: never. Not DynamoDB's TTL attribute. */
  expires?: string;
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

/** One write of a batch: `putSecrets` applies all of them or none. */
export interface SecretWrite {
  item: SecretItem;
  condition: WriteCondition;
  /**
   * The version `item` replaces, kept as it was (under its own data key) beside it, in the
   * same transaction; refused (the batch fails) if a version with its `rev` is kept already.
   */
  keep?: SecretItem;
  /** Revs of the secret's kept versions to delete in the same transaction (beyond what its namespace keeps). */
  drop?: readonly number[];
  /** The item as read that `item` replaces: a store that writes a batch item by item puts it back if the batch fails. */
  previous?: SecretItem;
}

/** How many earlier versions of each secret a namespace keeps unless it says otherwise. */
export const DEFAULT_VERSIONS_KEPT = 10;
/** The most a namespace may keep: `rm` deletes a secret and all its versions in one transaction. */
export const MAX_VERSIONS_KEPT = 50;

/** A namespace and how many secrets it holds. */
export interface NamespaceCount {
  namespace: string;
  secrets: number;
}

export interface SecretStore {
  readonly kind: 'sqlite' | 'dynamodb';
  /** The named items that exist, in no particular order; `names` undefined means every secret. */
  getSecrets(namespace: string, names?: readonly string[]): Promise<SecretItem[]>;
  /** Write `item` if `condition` holds; `false` when it does not. */
  putSecret(item: SecretItem, condition: WriteCondition): Promise<boolean>;
  /**
   * Apply every write if every condition holds, else none: `false` when one condition
   * failed. SQLite: one transaction. DynamoDB: item by item (no transaction, which the
   * grant roles may not write), what was written put back when one fails; readers may see
   * a batch half-written meanwhile.
   */
  putSecrets(writes: readonly SecretWrite[]): Promise<boolean>;
  /**
   * Whether `namespace` exists: it holds a secret, its namespace KEK, or the marker that
   * `markNamespace` writes (docs/namespaces.md). An audit record alone does not count.
   */
  hasNamespace(namespace: string): Promise<boolean>;
  /** Record that `namespace` exists, so it still does once its last secret is removed. Idempotent. */
  markNamespace(namespace: string): Promise<void>;
  /**
   * Every namespace that exists, with its secret count, sorted by name. DynamoDB scans the
   * table: a role confined to its namespaces may not (`ERR_ACCESS_DENIED`).
   */
  listNamespaces(): Promise<NamespaceCount[]>;
  /** Delete the secret and every kept version of it, at once; `false` when there was nothing to delete. */
  deleteSecret(namespace: string, name: string): Promise<boolean>;
  /** The kept (earlier) versions of `name`, by `rev`, oldest first; the current item is not among them. */
  getVersions(namespace: string, name: string): Promise<SecretItem[]>;
  /** The revs of the kept versions of `names` (every secret when undefined), oldest first; a name without any is absent. */
  versionRevs(namespace: string, names?: readonly string[]): Promise<Map<string, number[]>>;
  /** Replace the kept version `item.rev` if its `gen` is still `gen` (its rotation after a read); `false` otherwise. */
  putVersion(item: SecretItem, gen: number): Promise<boolean>;
  /** How many earlier versions the namespace keeps, if it was ever set (`setVersionsKept`). */
  getVersionsKept(namespace: string): Promise<number | undefined>;
  /** Set how many earlier versions the namespace keeps; this also marks the namespace (`markNamespace`). */
  setVersionsKept(namespace: string, count: number): Promise<void>;
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

/**
 * A member's role in a namespace (the service mode, issue 16): `read` reads secrets, lists
 * them and sees the audit trail and the members; `write` also sets, removes and mints; `admin`
 * also adds and removes members. `owner` is `admin` held by the namespace's creator, once per
 * namespace, and no one can remove or demote it.
 */
export type MemberRole = 'read' | 'write' | 'admin' | 'owner';

export const MEMBER_ROLES: readonly MemberRole[] = ['read', 'write', 'admin', 'owner'];

/** One member of a namespace: a principal (`<issuer>|<sub>`, src/api/principal.ts) and its role. */
export interface MemberRecord {
  namespace: string;
  principal: string;
  role: MemberRole;
  /** The principal who added it (for the owner, itself). */
  addedBy: string;
  addedAt: string;
}

/**
 * The membership port beside `SecretStore`: who may use a namespace through the API. The
 * SQLite and DynamoDB stores implement both; the API refuses a store that does not.
 */
export interface MemberStore {
  /**
   * Make `owner` (role `owner`) the namespace's first member, only if it has none yet;
   * `false` when someone holds it already.
   */
  claimNamespace(owner: MemberRecord): Promise<boolean>;
  /** The namespace's members, the owner among them, sorted by principal. */
  listMembers(namespace: string): Promise<MemberRecord[]>;
  /** Add a member or change its role; never the owner (a TypeError: the API checks first). */
  putMember(record: MemberRecord): Promise<void>;
  /** Remove a member other than the owner; `false` when it was not one. */
  deleteMember(namespace: string, principal: string): Promise<boolean>;
  /** Every namespace `principal` is a member of (its records), sorted by namespace. */
  listMemberships(principal: string): Promise<MemberRecord[]>;
}

export function isMemberStore(store: object): store is MemberStore {
  return typeof (store as Partial<MemberStore>).claimNamespace === 'function';
}

/**
 * Call counts of the service API's callers (src/api/throttle.ts): one counter per caller
 * (a principal) and window, shared by every instance of the API because it lives in the
 * store they share. Counters and marks carry an expiry (epoch seconds) after which the store
 * may drop them (DynamoDB's TTL; SQLite deletes them itself).
 */
export interface CallCountStore {
  /**
   * Add one to `caller`'s counter of `window` (created at 1, kept until `expiresAt`): the count
   * after. `now` (epoch seconds, the caller's clock) says what has expired, for a store that
   * drops expired counters itself.
   */
  countCall(caller: string, window: number, expiresAt: number, now: number): Promise<number>;
  /** The count of `caller`'s `window`: 0 when it has none (or it was dropped). */
  callCount(caller: string, window: number): Promise<number>;
  /**
   * Mark `window` as the last in which `caller` was refused, if it is later than the mark:
   * the window marked before (undefined when none, or when the mark was already as late).
   */
  markRefused(caller: string, window: number, expiresAt: number): Promise<number | undefined>;
}

export function isCallCountStore(store: object): store is CallCountStore {
  return typeof (store as Partial<CallCountStore>).countCall === 'function';
}
