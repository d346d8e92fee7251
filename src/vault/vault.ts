/**
 * The vault: set, get, list, rm and pull over any store and keyring, with per-read
 * data-key rotation (DESIGN, Crypto) and an audit record for every call.
 *
 * Rotation after a read is a conditional write on the `rev` and `gen` that were read: a
 * lost race means someone already replaced the item, so the rotation is skipped, never
 * forced. A `set` is conditional on `rev` and retried, so a concurrent set is never lost.
 * Every write uses a data key generated for it alone; plaintext keys are wiped after use.
 */
import { randomInt, timingSafeEqual } from 'node:crypto';
import { closest } from '../closest.js';
import { decrypt, encrypt, itemAad } from '../crypto/aead.js';
import type { RotationStrategy } from '../config.js';
import { type SealedKey, sealAad, sealedParts } from '../crypto/seal.js';
import { wipe } from '../crypto/wipe.js';
import { EggError, errorLabel } from '../errors.js';
import type { DataKey, Keyring } from '../keyrings/keyring.js';
import type { SealingKey } from '../keyrings/sealing.js';
import { type Logger, nullLogger } from '../log.js';
import { assertNamespace, assertSecretName, assertValue } from '../names.js';
import { mapLimit, sleep } from '../retry.js';
import type {
  AuditCheckpoint,
  AuditRecord,
  SecretItem,
  SecretStore,
  SecretWrite,
  WriteCondition,
} from '../stores/store.js';
import { DEFAULT_VERSIONS_KEPT, MAX_VERSIONS_KEPT } from '../stores/store.js';
import {
  type AnchorKey,
  type CheckpointSigner,
  isSignedBy,
  signCheckpoint,
  type TrailVerdict,
  verifyAnchors,
} from './anchor.js';
import { type AuditEntry, type AuditVerdict, chainRecord, hashRecord, verifyChain } from './audit.js';
import { assertProviderKey } from './provider-key.js';

/** `inline`: the reader re-encrypts after each read. `deferred`: a trusted rotator does (issue: read-only CI roles). */
export type { RotationStrategy } from '../config.js';

export interface VaultOptions {
  store: SecretStore;
  keyring: Keyring;
  namespace: string;
  /** Who is acting, for the audit trail: an OS user, an OIDC subject, a caller ARN. */
  actor: string;
  clock?: () => Date;
  logger?: Logger;
  /** Most secrets decrypted or rotated at once in a pull. */
  concurrency?: number;
  rotation?: RotationStrategy;
  /** The key that seals provider keys (docs/sealed-keys.md): needed to store or read one. */
  sealing?: SealingKey;
}

/** What `list` shows: everything but the value and the key material. */
export interface SecretMeta {
  name: string;
  rev: number;
  gen: number;
  keyId: string;
  createdAt: string;
  updatedAt: string;
  upstream?: string;
  inject?: string;
  /** A provider key's price table (tokens/price.ts): its tokens spend real units. */
  price?: string;
  /** Stored sealed and not read since (docs/sealed-keys.md). */
  sealed?: true;
  expires?: string;
}

/** One line of `egg secrets history`: never the value. */
export interface SecretVersion {
  rev: number;
  /** When this value was set (ISO 8601). */
  time: string;
  /** Who set it; `unknown` for values set before versions were kept. */
  actor: string;
  /** The value's length in bytes. */
  size: number;
  current: boolean;
}

/** Makes the item a write stores, from the current one (or none) and its next rev, gen and times. */
type ItemBuilder = (
  current: SecretItem | undefined,
  stamp: { rev: number; gen: number; times: Pick<SecretItem, 'createdAt' | 'updatedAt' | 'setBy'> },
) => Promise<SecretItem>;

export interface PulledSecret {
  name: string;
  /** The plaintext; the caller wipes it when done. */
  value: Buffer;
  rev: number;
  /** The generation that was read (the rotation writes `gen + 1`). */
  gen: number;
  /** Proxy metadata, from the same read as the value. */
  upstream?: string;
  inject?: string;
  price?: string;
  /** When this value expires (the caller decides what an expired read means). */
  expires?: string;
}

/** What happened to each read item's data key: replaced, lost a race, failed, or left to the rotator. */
export interface RotationCounts {
  rotated: number;
  skipped: number;
  failed: number;
  deferred: number;
}

export interface PullResult {
  secrets: PulledSecret[];
  /** Requested names that do not exist (only with `allowMissing`). */
  missing: string[];
  rotation: RotationCounts;
  /** The read record this pull appended: the head of the audit trail as this reader saw it. */
  audit: AuditRecord;
}

/** An item decrypted in memory, with the data key its rotation will use (none when deferred). */
interface Opened {
  item: SecretItem;
  value: Buffer;
  fresh: DataKey | undefined;
}

export interface SetOptions {
  upstream?: string;
  inject?: string;
  /** A price table in canonical form (tokens/price.ts); kept from the current item when absent. */
  price?: string;
  /** When the new value expires (ISO 8601, src/expiry.ts). A value set without one never does. */
  expires?: string;
}

/** One secret of an import: its name and value (the caller wipes the value). */
export interface ImportEntry {
  name: string;
  value: Uint8Array;
}

/** What an import did, or would do (`dryRun`): names only, each list sorted. */
export interface ImportPlan {
  added: string[];
  changed: string[];
  /** Already held this value: the value stays, its data key is replaced (it was read to compare). */
  unchanged: string[];
}

const SET_ATTEMPTS = 25;

export class Vault {
  readonly namespace: string;
  readonly #store: SecretStore;
  readonly #keyring: Keyring;
  readonly #actor: string;
  readonly #clock: () => Date;
  readonly #logger: Logger;
  readonly #concurrency: number;
  readonly #rotation: RotationStrategy;
  readonly #sealing: SealingKey | undefined;

  constructor(options: VaultOptions) {
    assertNamespace(options.namespace);
    this.namespace = options.namespace;
    this.#store = options.store;
    this.#keyring = options.keyring;
    this.#actor = options.actor;
    this.#clock = options.clock ?? (() => new Date());
    this.#logger = options.logger ?? nullLogger;
    this.#concurrency = options.concurrency ?? 128;
    this.#rotation = options.rotation ?? 'inline';
    this.#sealing = options.sealing;
  }

  /**
   * Store `value` under `name`, replacing any previous value (a new `rev` and a fresh data
   * key). The value it replaces is kept as a version, in the same conditional write.
   */
  async set(name: string, value: Uint8Array, options: SetOptions = {}): Promise<SecretMeta> {
    assertSecretName(name);
    assertValue(value);
    const item = await this.#replace(name, this.#valueItem(name, value, options));
    await this.#audit({ action: 'set', targets: [name], outcome: 'ok' });
    return toMeta(item);
  }

  /** What `set` writes: `value` under a fresh data key, keeping the current provider metadata. */
  #valueItem(name: string, value: Uint8Array, options: SetOptions): ItemBuilder {
    return async (current, stamp) => {
      const meta: SetOptions = {};
      const upstream = options.upstream ?? current?.upstream;
      const inject = options.inject ?? current?.inject;
      // A provider key (one with an upstream, given now or kept) must be sendable as it is.
      if (upstream !== undefined) assertProviderKey(name, value);
      if (upstream !== undefined) meta.upstream = upstream;
      if (inject !== undefined) meta.inject = inject;
      const price = options.price ?? current?.price;
      if (price !== undefined && upstream !== undefined) meta.price = price;
      const key = await this.#keyring.generate(this.#context(name));
      return this.#encrypt(name, value, stamp.rev, stamp.gen, key, {
        ...stamp.times,
        ...(options.expires === undefined ? {} : { expires: options.expires }),
        ...meta,
      });
    };
  }

  /**
   * Store a provider key sealed on its owner's side (docs/sealed-keys.md) as it is, without
   * unsealing it: nothing in this process holds its plaintext. `sealed` is a parsed blob
   * (`parseSealed`), `upstream` and `inject` canonical (src/vault/sealed-keys.ts checks both).
   * Refused when it was sealed to another key than this vault's sealing key. Its first read
   * unseals it, and that read's rotation moves it under the keyring.
   */
  async putSealed(
    name: string,
    sealed: SealedKey,
    options: { upstream: string; inject?: string | undefined; price?: string | undefined },
  ): Promise<SecretMeta> {
    assertSecretName(name);
    const { kid } = await this.#sealingKey().publicKey();
    if (sealed.kid !== kid)
      throw new EggError(
        'ERR_INVALID_VALUE',
        `the key for ${name} was sealed to the sealing key ${sealed.kid}, not to this vault's (${kid}); nothing was stored`,
        { hint: 'seal it again with the key `egg secrets seal --public-key` prints' },
      );
    const parts = sealedParts(sealed);
    const item = await this.#replace(name, async (_current, stamp) => ({
      namespace: this.namespace,
      name,
      ...parts,
      keyId: sealed.kid,
      rev: stamp.rev,
      gen: stamp.gen,
      ...stamp.times,
      upstream: options.upstream,
      ...(options.inject === undefined ? {} : { inject: options.inject }),
      ...(options.price === undefined ? {} : { price: options.price }),
      sealed: true,
    }));
    await this.#audit({ action: 'set-sealed', targets: [name], outcome: 'ok' });
    return toMeta(item);
  }

  /**
   * Write the item `build` makes from the current one (or none) as the next rev of `name`,
   * keeping the one it replaces and dropping the versions past what the namespace keeps: one
   * transaction, conditional on the `rev` read, and built again when another writer got
   * there first, so a concurrent write is never lost. Not audited: the caller records why.
   */
  async #replace(name: string, build: ItemBuilder): Promise<SecretItem> {
    for (let attempt = 0; attempt < SET_ATTEMPTS; attempt++) {
      const [[current], revs, kept] = await Promise.all([
        this.#store.getSecrets(this.namespace, [name]),
        this.#store.versionRevs(this.namespace, [name]),
        this.versionsKept(),
      ]);
      const now = this.#clock().toISOString();
      const rev = (current?.rev ?? 0) + 1;
      const gen = (current?.gen ?? 0) + 1;
      const item = await build(current, {
        rev,
        gen,
        times: { createdAt: current?.createdAt ?? now, updatedAt: now, setBy: this.#actor },
      });
      const write: SecretWrite =
        current === undefined
          ? { item, condition: { kind: 'absent' }, drop: revs.get(name) ?? [] }
          : {
              item,
              condition: { kind: 'rev', rev: current.rev },
              ...versionChanges(current, revs.get(name), kept),
            };
      if (await this.#store.putSecrets([write])) {
        if (current !== undefined) await this.#store.eraseFreed?.();
        this.#logger.debug('secret.set', { namespace: this.namespace, name, rev, gen });
        return item;
      }
      // Another writer changed it between our read and our write: read again.
      await sleep(randomInt(0, Math.min(200, 5 * 2 ** attempt) + 1));
    }
    throw new EggError('ERR_CONFLICT', `could not set ${name}: it kept changing under us; try again`);
  }

  /** How many earlier versions of each secret this namespace keeps (`DEFAULT_VERSIONS_KEPT` unless set). */
  async versionsKept(): Promise<number> {
    return (await this.#store.getVersionsKept(this.namespace)) ?? DEFAULT_VERSIONS_KEPT;
  }

  /**
   * Keep `count` earlier versions of each secret from now on (0 to `MAX_VERSIONS_KEPT`).
   * Each secret drops the versions past it at its next set; audited.
   */
  async setVersionsKept(count: number): Promise<void> {
    if (!Number.isSafeInteger(count) || count < 0 || count > MAX_VERSIONS_KEPT)
      throw new EggError(
        'ERR_USAGE',
        `a namespace keeps 0 to ${MAX_VERSIONS_KEPT} earlier versions of each secret, not ${String(count)}`,
      );
    await this.#store.setVersionsKept(this.namespace, count);
    await this.#audit({ action: 'keep-versions', targets: [String(count)], outcome: 'ok' });
  }

  /** Every version of `name` the vault holds, newest first: rev, time, actor and size, never a value. Audited. */
  async history(name: string): Promise<SecretVersion[]> {
    assertSecretName(name);
    const [[current], versions] = await Promise.all([
      this.#store.getSecrets(this.namespace, [name]),
      this.#store.getVersions(this.namespace, name),
    ]);
    if (current === undefined) {
      await this.#audit({ action: 'history', targets: [name], outcome: 'not-found' });
      throw await this.#secretNotFound([name]);
    }
    await this.#audit({ action: 'history', targets: [name], outcome: 'ok' });
    const line = (item: SecretItem, isCurrent: boolean): SecretVersion => ({
      rev: item.rev,
      time: item.updatedAt,
      actor: item.setBy ?? 'unknown',
      size: item.ciphertext.byteLength,
      current: isCurrent,
    });
    return [line(current, true), ...versions.map((item) => line(item, false)).reverse()];
  }

  /**
   * Read version `rev` of `name`: the current one reads as `get` does; an earlier one is
   * decrypted and, under inline rotation, re-encrypted under a fresh data key (conditional
   * on the `gen` read), as every read is. Audited as a read of `NAME@rev`.
   */
  async getVersion(name: string, rev: number): Promise<PulledSecret> {
    assertSecretName(name);
    const [current] = await this.#store.getSecrets(this.namespace, [name]);
    if (current?.rev === rev) return this.get(name);
    const target = `${name}@${rev}`;
    let secret: PulledSecret;
    try {
      secret = await this.#readVersion(name, rev, current);
    } catch (error) {
      await this.#audit({ action: 'read', targets: [target], outcome: outcomeOf(error) }).catch(
        () => undefined,
      );
      throw error;
    }
    await this.#audit({ action: 'read', targets: [target], outcome: 'ok' }).catch((error) => {
      wipe(secret.value);
      throw error;
    });
    return secret;
  }

  /**
   * Make version `rev` of `name` the current value again, as a new rev (the current value is
   * kept as a version, like any set). Audited as `rollback` of `NAME@rev`.
   */
  async rollback(name: string, rev: number): Promise<SecretMeta> {
    assertSecretName(name);
    const target = `${name}@${rev}`;
    try {
      const [current] = await this.#store.getSecrets(this.namespace, [name]);
      if (current?.rev === rev)
        throw new EggError('ERR_USAGE', `rev ${rev} is already the current value of ${name}`, {
          hint: `see its versions with \`egg secrets history ${name}\``,
        });
      const old = await this.#readVersion(name, rev, current);
      let item: SecretItem;
      try {
        item = await this.#replace(name, this.#valueItem(name, old.value, {}));
      } finally {
        wipe(old.value);
      }
      await this.#audit({ action: 'rollback', targets: [target], outcome: 'ok' });
      return toMeta(item);
    } catch (error) {
      await this.#audit({ action: 'rollback', targets: [target], outcome: outcomeOf(error) }).catch(
        () => undefined,
      );
      throw error;
    }
  }

  /** Decrypt the kept version `rev` of `name` (rotating it under inline rotation); not audited. */
  async #readVersion(name: string, rev: number, current: SecretItem | undefined): Promise<PulledSecret> {
    if (current === undefined) throw await this.#secretNotFound([name]);
    const version = (await this.#store.getVersions(this.namespace, name)).find((item) => item.rev === rev);
    if (version === undefined)
      throw new EggError('ERR_SECRET_NOT_FOUND', `${name} has no rev ${rev} in ${this.namespace}`, {
        hint: `see the versions kept with \`egg secrets history ${name}\``,
      });
    const [opened] = await this.#openAll([version], this.#rotation === 'inline');
    const { item, value, fresh } = opened as Opened;
    if (fresh !== undefined) {
      try {
        const next = await this.#encrypt(item.name, value, item.rev, item.gen + 1, fresh, restOf(item));
        if (await this.#store.putVersion(next, item.gen)) await this.#store.eraseFreed?.();
      } catch (error) {
        this.#logger.warn('rotation.failed', {
          namespace: this.namespace,
          name: item.name,
          rev,
          error: errorLabel(error),
        });
      }
    }
    return { name, value, rev: item.rev, gen: item.gen, ...proxyOf(item) };
  }

  /** The sealing key, which only a vault that stores or reads sealed keys is given. */
  #sealingKey(): SealingKey {
    if (this.#sealing === undefined)
      throw new EggError(
        'ERR_INVALID_CONFIG',
        'this vault was opened without a sealing key, which sealed provider keys need',
      );
    return this.#sealing;
  }

  /**
   * Read one secret (and rotate its data key). `pinned`: only a provider key pinned to an
   * upstream (the proxy's read); any other secret is not found, and is not decrypted.
   */
  async get(name: string, options: { pinned?: boolean } = {}): Promise<PulledSecret> {
    const { secrets } = await this.pull([name], options);
    return secrets[0] as PulledSecret;
  }

  /**
   * Read `names` (every secret when undefined), decrypting in parallel with bounded
   * concurrency, record the read, then rotate each item's data key.
   */
  async pull(
    names?: readonly string[],
    options: { allowMissing?: boolean; pinned?: boolean } = {},
  ): Promise<PullResult> {
    if (names !== undefined) for (const name of names) assertSecretName(name);
    const loaded = await this.#load(names);
    const items = options.pinned ? loaded.filter((item) => item.upstream !== undefined) : loaded;
    const found = new Set(items.map((item) => item.name));
    const missing = names === undefined ? [] : [...new Set(names)].filter((name) => !found.has(name));
    // Nothing found: a mistyped namespace must not read as an empty one (the proxy's pinned read is left as it was).
    const empty = names === undefined ? items.length === 0 : missing.length > 0 && !options.allowMissing;
    if (empty && !options.pinned && !(await this.#store.hasNamespace(this.namespace))) {
      await this.#audit({ action: 'read', targets: missing, outcome: 'namespace-not-found' });
      throw await this.#namespaceNotFound();
    }
    if (missing.length > 0 && !options.allowMissing) {
      await this.#audit({ action: 'read', targets: missing, outcome: 'not-found' });
      throw await this.#secretNotFound(missing, !options.pinned);
    }

    let opened: Opened[];
    try {
      opened = await this.#openAll(items, this.#rotation === 'inline');
    } catch (error) {
      await this.#audit({
        action: 'read',
        targets: items.map((item) => item.name),
        outcome: outcomeOf(error),
      }).catch(() => undefined);
      throw error;
    }

    const secrets = opened
      .map(({ item, value }) => {
        const secret: PulledSecret = {
          name: item.name,
          value,
          rev: item.rev,
          gen: item.gen,
          ...proxyOf(item),
        };
        return secret;
      })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const [rotation, audit] = await Promise.all([
      this.#rotateAll(opened),
      this.#audit({ action: 'read', targets: secrets.map((s) => s.name), outcome: 'ok' }).catch((error) => {
        for (const secret of secrets) wipe(secret.value);
        throw error;
      }),
    ]);
    return { secrets, missing, rotation, audit };
  }

  /**
   * Store every entry, or none (`egg secrets import`): one transaction on SQLite; on
   * DynamoDB item by item, what was written put back if one write fails (`putSecrets`:
   * readers may see it half-done, and a re-run finishes one cut short). The secrets that exist are read to compare; each one
   * written gets a data key of its own: a new value a new `rev`, an unchanged value only a
   * new data key (the read's rotation), all conditional on what was read, so a concurrent
   * write makes the whole import read again. One audit record, `import`, names them all.
   * With `dryRun` nothing is written: the comparison is a read (audited and rotated as one).
   */
  async import(entries: readonly ImportEntry[], options: { dryRun?: boolean } = {}): Promise<ImportPlan> {
    const names = entries.map((entry) => entry.name);
    const seen = new Set<string>();
    for (const { name, value } of entries) {
      assertSecretName(name);
      assertValue(value);
      if (seen.has(name))
        throw new EggError('ERR_USAGE', `${name} is given twice; an import sets each secret once`);
      seen.add(name);
    }
    const byName = new Map(entries.map((entry) => [entry.name, entry.value]));
    if (options.dryRun) {
      const { secrets } = await this.pull(names, { allowMissing: true });
      try {
        return planOf(names, new Map(secrets.map((s) => [s.name, s.value])), byName);
      } finally {
        for (const secret of secrets) wipe(secret.value);
      }
    }
    const targets = [...names].sort();
    try {
      for (let attempt = 0; attempt < SET_ATTEMPTS; attempt++) {
        const [items, revs, kept] = await Promise.all([
          this.#load(names),
          this.#store.versionRevs(this.namespace, names),
          this.versionsKept(),
        ]);
        const opened = await this.#openAll(items, true);
        const plan = planOf(names, new Map(opened.map(({ item, value }) => [item.name, value])), byName);
        let writes: SecretWrite[];
        try {
          writes = await this.#importWrites(opened, plan.added, byName, { revs, kept });
        } finally {
          for (const { value } of opened) wipe(value);
        }
        if (await this.#store.putSecrets(writes)) {
          if (opened.length > 0) await this.#store.eraseFreed?.();
          await this.#audit({ action: 'import', targets, outcome: 'ok' });
          this.#logger.debug('secret.import', { namespace: this.namespace, count: writes.length });
          return plan;
        }
        // Another writer changed one of them between our read and our write: read again.
        await sleep(randomInt(0, Math.min(200, 5 * 2 ** attempt) + 1));
      }
    } catch (error) {
      await this.#audit({ action: 'import', targets, outcome: outcomeOf(error) }).catch(() => undefined);
      throw error;
    }
    await this.#audit({ action: 'import', targets, outcome: 'conflict' });
    throw new EggError('ERR_CONFLICT', 'could not import: the secrets kept changing under us; try again');
  }

  /** The writes of an import: each opened item under its fresh key (a new `rev` when its value changes), each new one under a key of its own. */
  async #importWrites(
    opened: readonly Opened[],
    added: readonly string[],
    values: ReadonlyMap<string, Uint8Array>,
    history: { revs: ReadonlyMap<string, readonly number[]>; kept: number },
  ): Promise<SecretWrite[]> {
    const now = this.#clock().toISOString();
    const writes: SecretWrite[] = [];
    const fresh = opened.map(({ fresh }) => fresh);
    try {
      for (const { item, value: old } of opened) {
        const value = values.get(item.name) as Uint8Array;
        const same = sameBytes(old, value);
        if (!same && item.upstream !== undefined) assertProviderKey(item.name, value);
        const key = fresh.shift() as DataKey;
        const next = await this.#encrypt(
          item.name,
          value,
          same ? item.rev : item.rev + 1,
          item.gen + 1,
          key,
          same ? restOf(item) : { ...withoutExpiry(restOf(item)), updatedAt: now, setBy: this.#actor },
        );
        const condition: WriteCondition = { kind: 'rev-gen', rev: item.rev, gen: item.gen };
        // A changed value keeps the one it replaces, as a set does; an unchanged one was only rotated.
        writes.push(
          same
            ? { item: next, condition, previous: item }
            : {
                item: next,
                condition,
                previous: item,
                ...versionChanges(item, history.revs.get(item.name), history.kept),
              },
        );
      }
    } finally {
      for (const key of fresh) wipe(key?.plaintext);
    }
    const created = await mapLimit(added, this.#concurrency, async (name) =>
      this.#encrypt(
        name,
        values.get(name) as Uint8Array,
        1,
        1,
        await this.#keyring.generate(this.#context(name)),
        { createdAt: now, updatedAt: now, setBy: this.#actor },
      ),
    );
    for (const item of created)
      writes.push({ item, condition: { kind: 'absent' }, drop: history.revs.get(item.name) ?? [] });
    return writes;
  }

  /**
   * The deferred rotator's pass (DESIGN, Crypto): re-encrypt `names` (every secret when
   * undefined) under fresh data keys, each write conditional on the `rev` and `gen` read, and
   * record it. A name that no longer exists is nothing to rotate. Values never leave here.
   */
  async rotate(names?: readonly string[]): Promise<RotationCounts> {
    if (names !== undefined) for (const name of names) assertSecretName(name);
    const items = await this.#load(names);
    if (items.length === 0) return { rotated: 0, skipped: 0, failed: 0, deferred: 0 };
    let opened: Opened[];
    try {
      opened = await this.#openAll(items, true);
    } catch (error) {
      await this.#audit({
        action: 'rotate',
        targets: items.map((item) => item.name),
        outcome: outcomeOf(error),
      }).catch(() => undefined);
      throw error;
    }
    try {
      const counts = await this.#rotateAll(opened);
      await this.#audit({
        action: 'rotate',
        targets: opened.map(({ item }) => item.name).sort(),
        outcome: counts.failed === 0 ? 'ok' : 'partial',
      });
      return counts;
    } finally {
      for (const { value } of opened) wipe(value);
    }
  }

  /** Every secret's metadata, sorted by name. Decrypts nothing. */
  async list(): Promise<SecretMeta[]> {
    const items = await this.#store.getSecrets(this.namespace);
    await this.#audit({ action: 'list', targets: [], outcome: 'ok' });
    return items.map(toMeta).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async remove(name: string): Promise<void> {
    assertSecretName(name);
    const removed = await this.#store.deleteSecret(this.namespace, name);
    // The namespace outlives its last secret (docs/namespaces.md).
    if (removed) await Promise.all([this.#store.eraseFreed?.(), this.#store.markNamespace(this.namespace)]);
    await this.#audit({ action: 'remove', targets: [name], outcome: removed ? 'ok' : 'not-found' });
    if (!removed) {
      throw new EggError('ERR_SECRET_NOT_FOUND', `secret not found in ${this.namespace}: ${name}`, {
        hint: 'see what exists with `egg secrets list`',
      });
    }
  }

  /** The namespace's audit records in order; with `afterSeq`, only those after it (a follower's cursor). */
  async auditTrail(options: { afterSeq?: number } = {}): Promise<AuditRecord[]> {
    return this.#store.readAudit(this.namespace, options);
  }

  /** The trail's signed checkpoints in `seq` order; with `latest`, only the newest. */
  async checkpoints(options: { latest?: boolean } = {}): Promise<AuditCheckpoint[]> {
    return this.#store.readCheckpoints(this.namespace, options);
  }

  /**
   * Check the trail against its checkpoints (anchor.ts): the chain links, and no checkpoint
   * anchors a record that is gone or different. `anchorKey` is asked for only when there
   * are checkpoints; without it, a trail with checkpoints fails.
   */
  async verifyAudit(options: { anchorKey?: () => Promise<AnchorKey> } = {}): Promise<TrailVerdict> {
    const [records, checkpoints] = await Promise.all([
      this.#store.readAudit(this.namespace),
      this.#store.readCheckpoints(this.namespace),
    ]);
    const key = checkpoints.length > 0 ? await options.anchorKey?.() : undefined;
    return verifyAnchors(records, checkpoints, key);
  }

  /**
   * Anchor the trail's head: sign a checkpoint of it with `signer` (the anchor key, which
   * readers do not hold) and store it. It vouches only for what it checked: the newest
   * checkpoint must be this key's and still match its record, and every record since must
   * link to it; otherwise it signs nothing and throws `ERR_AUDIT_BROKEN`. Resolves to the
   * newest checkpoint (`created` when this call signed it), or undefined for an empty trail.
   */
  async checkpoint(
    signer: CheckpointSigner,
  ): Promise<{ checkpoint: AuditCheckpoint; created: boolean } | undefined> {
    const namespace = this.namespace;
    const refuse = (why: string) =>
      new EggError('ERR_AUDIT_BROKEN', `refusing to anchor the audit trail of ${namespace}: ${why}`, {
        hint: 'run `egg audit verify`, and find out who changed the trail before anchoring it',
      });
    const [[last], key] = await Promise.all([
      this.#store.readCheckpoints(namespace, { latest: true }),
      signer.kid().then(async (kid) => ({ kid, publicKey: await signer.publicKey() })),
    ]);
    if (last !== undefined && !isSignedBy(last, key))
      throw new EggError(
        'ERR_AUDIT_BROKEN',
        `refusing to anchor the audit trail of ${namespace}: its newest checkpoint (record ${last.seq}) is not signed by the anchor key ${key.kid}`,
        {
          hint: 'restore the key that signed it from your backup of EGG_HOME/anchor-key (on aws: set EGG_ANCHOR_KEY_ID to it), or find out who wrote that checkpoint',
        },
      );
    const records = await this.#store.readAudit(namespace, {
      afterSeq: last === undefined ? 0 : last.seq - 1,
    });
    let chain: AuditVerdict;
    if (last === undefined) chain = verifyChain(records);
    else {
      const [anchored, ...since] = records;
      if (anchored?.seq !== last.seq)
        throw refuse(`record ${last.seq}, which its newest checkpoint anchors, is gone`);
      const { hash, ...body } = anchored;
      if (hash !== last.hash || hashRecord(body) !== hash)
        throw refuse(`record ${last.seq} differs from the one its newest checkpoint anchors`);
      chain = verifyChain(since, last);
    }
    if (!chain.ok) throw refuse(chain.reason);
    const head = records.at(-1);
    if (head === undefined) return undefined;
    if (last !== undefined && head.seq === last.seq) return { checkpoint: last, created: false };
    const checkpoint = await signCheckpoint(head, signer, this.#clock());
    if (await this.#store.putCheckpoint(checkpoint)) {
      this.#logger.debug('audit.checkpoint', { namespace, seq: checkpoint.seq });
      return { checkpoint, created: true };
    }
    // Another anchor signed this record first: its checkpoint stands.
    const [winner] = await this.#store.readCheckpoints(namespace, { latest: true });
    return { checkpoint: winner ?? checkpoint, created: false };
  }

  /** `ERR_SECRET_NOT_FOUND` for `missing`, with the closest name when one is missing (and `suggest`). */
  async #secretNotFound(missing: readonly string[], suggest = true): Promise<EggError> {
    const [first] = missing;
    const suggestion =
      missing.length === 1 && first !== undefined && suggest
        ? closest(
            first,
            (await this.#store.getSecrets(this.namespace)).map((item) => item.name),
          )
        : undefined;
    return new EggError(
      'ERR_SECRET_NOT_FOUND',
      `${missing.length === 1 ? 'secret' : 'secrets'} not found in ${this.namespace}: ${missing.join(', ')}`,
      {
        hint:
          suggestion === undefined
            ? 'see what exists with `egg secrets list`'
            : `did you mean ${suggestion}?`,
      },
    );
  }

  /**
   * `ERR_NAMESPACE_NOT_FOUND` with the closest namespace that exists. Where the role may not
   * list namespaces (a DynamoDB Scan), the hint says so rather than guess.
   */
  async #namespaceNotFound(): Promise<EggError> {
    let hint: string;
    try {
      const near = closest(
        this.namespace,
        (await this.#store.listNamespaces()).map((n) => n.namespace),
      );
      hint = near === undefined ? 'see which exist with `egg namespaces`' : `did you mean ${near}?`;
    } catch (error) {
      if (!(error instanceof EggError) || error.code !== 'ERR_ACCESS_DENIED') throw error;
      hint = `${error.message}, nor suggest one; check the name given with -n, EGG_NAMESPACE or .egg.json`;
    }
    return new EggError('ERR_NAMESPACE_NOT_FOUND', `namespace ${this.namespace} does not exist`, { hint });
  }

  /**
   * The named items (every secret when undefined). While they load, warm the keyring (the
   * hierarchical keyring fetches its namespace KEK) and the audit chain's head: each saves a
   * round trip on the critical path.
   */
  async #load(names: readonly string[] | undefined): Promise<SecretItem[]> {
    const [items] = await Promise.all([
      this.#store.getSecrets(this.namespace, names),
      this.#keyring.warm?.(this.namespace),
      this.#store.warmAudit?.(this.namespace),
    ]);
    return items;
  }

  /**
   * Unwrap and decrypt `items` with bounded concurrency, fetching each one's next data key
   * alongside the unwrap when `withFresh` (one round trip, not two). On any failure every
   * value and key opened so far is wiped before the error is thrown.
   */
  async #openAll(items: readonly SecretItem[], withFresh: boolean): Promise<Opened[]> {
    const opened: Opened[] = [];
    try {
      await mapLimit(items, this.#concurrency, async (item) => {
        const context = this.#context(item.name);
        // A sealed item's data key is the sealing key's to unwrap, under its own AAD (seal.ts).
        const what = item.sealed ? `the sealed provider key ${item.name}` : `secret ${item.name}`;
        const [dek, fresh] = await settleAll(
          item.sealed
            ? this.#sealingKey().unwrap(item.wrappedKey, item.keyId, what)
            : this.#keyring.unwrap(item.wrappedKey, item.keyId, context),
          withFresh ? this.#keyring.generate(context) : Promise.resolve(undefined),
        );
        try {
          const aad = item.sealed ? sealAad(this.namespace, item.name) : itemAad(item);
          const value = openItem(dek, item, aad, what);
          opened.push({ item, value, fresh });
        } catch (error) {
          wipe(fresh?.plaintext);
          throw error;
        } finally {
          wipe(dek);
        }
      });
    } catch (error) {
      for (const { value, fresh } of opened) wipe(value, fresh?.plaintext);
      throw error;
    }
    return opened;
  }

  /** Re-encrypt each opened item under its fresh data key, conditional on the `rev` and `gen` read. */
  async #rotateAll(opened: Opened[]): Promise<RotationCounts> {
    const rotation = { rotated: 0, skipped: 0, failed: 0, deferred: 0 };
    await mapLimit(opened, this.#concurrency, async ({ item, value, fresh }) => {
      if (fresh === undefined) {
        rotation.deferred++;
        return;
      }
      try {
        const next = await this.#encrypt(item.name, value, item.rev, item.gen + 1, fresh, restOf(item));
        const written = await this.#store.putSecret(next, { kind: 'rev-gen', rev: item.rev, gen: item.gen });
        if (written) rotation.rotated++;
        else rotation.skipped++;
      } catch (error) {
        rotation.failed++;
        this.#logger.warn('rotation.failed', {
          namespace: this.namespace,
          name: item.name,
          error: errorLabel(error),
        });
      }
    });
    // The replaced data keys are gone from the store's files too, not only from the items.
    if (rotation.rotated > 0) await this.#store.eraseFreed?.();
    return rotation;
  }

  /** Seal `value` under `key` (wiping it) into a complete item. */
  async #encrypt(
    name: string,
    value: Uint8Array,
    rev: number,
    gen: number,
    key: DataKey,
    rest: Pick<SecretItem, 'createdAt' | 'updatedAt' | 'setBy'> & SetOptions,
  ): Promise<SecretItem> {
    try {
      const binding = { namespace: this.namespace, name, rev, gen, ...proxyBinding(rest) };
      const sealed = encrypt(key.plaintext, value, itemAad(binding));
      return {
        namespace: this.namespace,
        name,
        ...sealed,
        wrappedKey: key.wrapped,
        keyId: key.keyId,
        rev,
        gen,
        ...rest,
      };
    } finally {
      wipe(key.plaintext);
    }
  }

  #context(name: string) {
    return { namespace: this.namespace, secret: name };
  }

  async #audit(entry: Omit<AuditEntry, 'actor'>): Promise<AuditRecord> {
    return this.#store.appendAudit(this.namespace, (head) =>
      chainRecord(this.namespace, head, { ...entry, actor: this.#actor }, this.#clock()),
    );
  }
}

function toMeta(item: SecretItem): SecretMeta {
  const meta: SecretMeta = {
    name: item.name,
    rev: item.rev,
    gen: item.gen,
    keyId: item.keyId,
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
  };
  if (item.upstream !== undefined) meta.upstream = item.upstream;
  if (item.inject !== undefined) meta.inject = item.inject;
  if (item.price !== undefined) meta.price = item.price;
  if (item.sealed) meta.sealed = true;
  if (item.expires !== undefined) meta.expires = item.expires;
  return meta;
}

/** The proxy metadata and expiry of `item`, for a `PulledSecret` (or a rotation of it). */
/**
 * Decrypt `item` under `aad`. A provider key that fails, but opens under the AAD of before
 * its proxy metadata was bound (`egg/secret/v1`), is refused with the way out: its upstream
 * may have been rewritten since, and nothing here can tell, so it is never used.
 */
function openItem(dek: Buffer, item: SecretItem, aad: Buffer, what: string): Buffer {
  try {
    return decrypt(dek, item, aad, what);
  } catch (error) {
    if (item.sealed || Object.keys(proxyBinding(item)).length === 0) throw error;
    let legacy: Buffer;
    try {
      legacy = decrypt(
        dek,
        item,
        itemAad({ namespace: item.namespace, name: item.name, rev: item.rev, gen: item.gen }),
        what,
      );
    } catch {
      throw error;
    }
    wipe(legacy);
    throw new EggError(
      'ERR_DECRYPTION_FAILED',
      `the provider key ${item.name} was stored before its upstream was bound to it, so it cannot be trusted to go to ${JSON.stringify(item.upstream ?? '')}`,
      { hint: `store it again: egg secrets set ${item.name} --upstream URL (or egg secrets seal)` },
    );
  }
}

/** What of a provider key's proxy metadata its AAD binds (crypto/aead.ts): each present one. */
function proxyBinding(source: Pick<SetOptions, 'upstream' | 'inject' | 'price'>) {
  return {
    ...(source.upstream === undefined ? {} : { upstream: source.upstream }),
    ...(source.inject === undefined ? {} : { inject: source.inject }),
    ...(source.price === undefined ? {} : { price: source.price }),
  };
}

function proxyOf(item: SecretItem): Pick<PulledSecret, 'upstream' | 'inject' | 'price' | 'expires'> {
  return {
    ...(item.upstream === undefined ? {} : { upstream: item.upstream }),
    ...(item.inject === undefined ? {} : { inject: item.inject }),
    ...(item.price === undefined ? {} : { price: item.price }),
    ...(item.expires === undefined ? {} : { expires: item.expires }),
  };
}

/** A changed value does not inherit the expiry of the one it replaces. */
function withoutExpiry<T extends { expires?: string }>(rest: T): Omit<T, 'expires'> {
  const { expires: _expires, ...kept } = rest;
  return kept;
}

/** What a rotation carries over unchanged: everything but the sealed value, its key, and `gen`. */
function restOf(item: SecretItem): Pick<SecretItem, 'createdAt' | 'updatedAt' | 'setBy'> & SetOptions {
  return {
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
    ...(item.setBy === undefined ? {} : { setBy: item.setBy }),
    ...proxyOf(item),
  };
}

/**
 * What replacing `current` does to its secret's history: keep `current` as a version, and
 * drop the kept versions (`revs`) past the newest `kept` (with `current` among them). With
 * `kept` 0, nothing is kept and every version goes.
 */
export function versionChanges(
  current: SecretItem,
  revs: readonly number[] = [],
  kept: number,
): Pick<SecretWrite, 'keep' | 'drop'> {
  if (kept <= 0) return { drop: [...revs] };
  const newest = [...revs].sort((a, b) => b - a).slice(0, kept - 1);
  return { keep: current, drop: revs.filter((rev) => !newest.includes(rev)) };
}

/** Which of `names` are new, changed or unchanged, given the current values. */
function planOf(
  names: readonly string[],
  current: ReadonlyMap<string, Uint8Array>,
  next: ReadonlyMap<string, Uint8Array>,
): ImportPlan {
  const plan: ImportPlan = { added: [], changed: [], unchanged: [] };
  for (const name of names) {
    const old = current.get(name);
    if (old === undefined) plan.added.push(name);
    else if (sameBytes(old, next.get(name) as Uint8Array)) plan.unchanged.push(name);
    else plan.changed.push(name);
  }
  for (const list of Object.values(plan)) list.sort();
  return plan;
}

/** Equal bytes, compared in constant time for equal lengths (values are secrets). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

function outcomeOf(error: unknown): string {
  return error instanceof EggError
    ? error.code.replace(/^ERR_/, '').toLowerCase().replaceAll('_', '-')
    : 'error';
}

/** Like Promise.all for two, but waits for both and wipes the other's key when one fails. */
async function settleAll(
  a: Promise<Buffer>,
  b: Promise<DataKey | undefined>,
): Promise<[Buffer, DataKey | undefined]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'fulfilled' && rb.status === 'fulfilled') return [ra.value, rb.value];
  if (ra.status === 'fulfilled') wipe(ra.value);
  if (rb.status === 'fulfilled') wipe(rb.value?.plaintext);
  throw ra.status === 'rejected' ? ra.reason : (rb as PromiseRejectedResult).reason;
}
