/**
 * The `kms-hierarchical` keyring (the AWS Encryption SDK's hierarchical keyring idea): each
 * namespace has a key-encryption key that is itself a KMS data key, with the encryption
 * context `{namespace, purpose: 'egg/namespace-kek'}`, stored wrapped in the table
 * (`K#namespace`). Data keys come from the CSPRNG and are wrapped with AES-256-KW under it.
 *
 * The unwrapped KEK is cached per namespace for the life of the keyring (one per process),
 * as a promise, so concurrent callers share one KMS call: at most one KMS call per
 * namespace per process, instead of two per secret. `close()` wipes the cache.
 */
import { createHash, randomBytes } from 'node:crypto';
import { KEY_BYTES } from '../crypto/aead.js';
import { unwrapKey, wrapKey } from '../crypto/key-wrap.js';
import { wipe } from '../crypto/wipe.js';
import { DecryptionFailed, EggError } from '../errors.js';
import type { NamespaceKeyItem, SecretStore } from '../stores/store.js';
import type { DataKey, KeyContext, Keyring } from './keyring.js';
import { KmsCalls, type KmsOptions } from './kms.js';

export const KEK_PURPOSE = 'egg/namespace-kek';
const KEY_ID_PREFIX = 'hkek:';

export interface KmsHierarchicalOptions extends KmsOptions {
  /** Where the wrapped namespace KEKs live (the same table as the secrets). */
  store: SecretStore;
  clock?: () => Date;
}

interface NamespaceKek {
  kek: Buffer;
  kekId: string;
}

export class KmsHierarchicalKeyring implements Keyring {
  readonly kind = 'kms-hierarchical' as const;
  readonly #kms: KmsCalls;
  readonly #store: SecretStore;
  readonly #clock: () => Date;
  readonly #keks = new Map<string, Promise<NamespaceKek | undefined>>();
  /** Every KEK we hold in the clear, to wipe on close. */
  readonly #held: Buffer[] = [];
  #closed = false;

  constructor(options: KmsHierarchicalOptions) {
    this.#kms = new KmsCalls(options);
    this.#store = options.store;
    this.#clock = options.clock ?? (() => new Date());
  }

  /** Unwrap the namespace's KEK ahead of the first key, if it has one; never creates one (a read stays a read). */
  async warm(namespace: string): Promise<void> {
    await this.#kek(namespace, false);
  }

  async generate(context: KeyContext): Promise<DataKey> {
    const { kek, kekId } = (await this.#kek(context.namespace, true)) as NamespaceKek;
    const plaintext = randomBytes(KEY_BYTES);
    return { plaintext, wrapped: wrapKey(kek, plaintext), keyId: `${KEY_ID_PREFIX}${kekId}` };
  }

  async unwrap(wrapped: Buffer, keyId: string, context: KeyContext): Promise<Buffer> {
    const what = `secret ${context.secret}`;
    if (!keyId.startsWith(KEY_ID_PREFIX)) throw new DecryptionFailed(what);
    const namespaceKek = await this.#kek(context.namespace, false);
    if (namespaceKek === undefined || keyId !== `${KEY_ID_PREFIX}${namespaceKek.kekId}`) {
      throw new DecryptionFailed(what);
    }
    const key = unwrapKey(namespaceKek.kek, wrapped, what);
    if (key.length !== KEY_BYTES) {
      wipe(key);
      throw new DecryptionFailed(what);
    }
    return key;
  }

  close(): void {
    this.#closed = true;
    wipe(...this.#held);
    this.#held.length = 0;
    this.#keks.clear();
    this.#kms.close();
  }

  /**
   * The namespace's KEK: cached, or loaded once and shared by concurrent callers. Undefined
   * when it has none and `create` is off. A failed or empty load is forgotten, so the next
   * call tries again.
   */
  async #kek(namespace: string, create: boolean): Promise<NamespaceKek | undefined> {
    for (;;) {
      if (this.#closed) throw new TypeError('the keyring is closed');
      const pending = this.#keks.get(namespace) ?? this.#track(namespace, this.#load(namespace, create));
      const kek = await pending;
      if (kek !== undefined || !create) return kek;
      // Someone only warmed a namespace without a KEK; go round to create it (once, shared).
      if (this.#keks.get(namespace) === pending) this.#keks.delete(namespace);
    }
  }

  #track(namespace: string, loading: Promise<NamespaceKek | undefined>): Promise<NamespaceKek | undefined> {
    this.#keks.set(namespace, loading);
    const forget = () => {
      if (this.#keks.get(namespace) === loading) this.#keks.delete(namespace);
    };
    loading.then((kek) => kek === undefined && forget(), forget);
    return loading;
  }

  /** Read the stored KEK, or create it when `create`; on a lost creation race, use the winner's. */
  async #load(namespace: string, create: boolean): Promise<NamespaceKek | undefined> {
    const existing = await this.#store.getNamespaceKey(namespace);
    if (existing !== undefined) return this.#open(existing);
    if (!create) return undefined;
    const fresh = await this.#kms.generateDataKey(kekContext(namespace), namespace);
    const kekId = fingerprint(namespace, fresh.plaintext);
    let created: boolean;
    try {
      created = await this.#store.putNamespaceKey({
        namespace,
        kekId,
        wrapped: fresh.wrapped,
        kmsKeyId: fresh.keyId,
        createdAt: this.#clock().toISOString(),
      });
    } catch (error) {
      wipe(fresh.plaintext);
      throw error;
    }
    if (created) return this.#keep(fresh.plaintext, kekId);
    wipe(fresh.plaintext);
    const winner = await this.#store.getNamespaceKey(namespace);
    if (winner === undefined) {
      throw new EggError(
        'ERR_CONFLICT',
        `the key of namespace ${namespace} vanished while it was being created`,
        {
          hint: 'try again',
        },
      );
    }
    return this.#open(winner);
  }

  async #open(item: NamespaceKeyItem): Promise<NamespaceKek> {
    const what = `the key of namespace ${item.namespace}`;
    const kek = await this.#kms.decrypt(item.wrapped, kekContext(item.namespace), item.namespace, what);
    // The id is a fingerprint of the key: an item whose id and key don't belong together was tampered with.
    if (fingerprint(item.namespace, kek) !== item.kekId) {
      wipe(kek);
      throw new DecryptionFailed(what);
    }
    return this.#keep(kek, item.kekId);
  }

  #keep(kek: Buffer, kekId: string): NamespaceKek {
    if (this.#closed) {
      wipe(kek);
      throw new TypeError('the keyring is closed');
    }
    this.#held.push(kek);
    return { kek, kekId };
  }
}

function kekContext(namespace: string): Record<string, string> {
  return { namespace, purpose: KEK_PURPOSE };
}

/** A public id for a KEK: a hash of the key under a fixed label, never the key. */
function fingerprint(namespace: string, kek: Buffer): string {
  return createHash('sha256')
    .update('egg/hkek-id')
    .update(namespace)
    .update('\0')
    .update(kek)
    .digest('hex')
    .slice(0, 24);
}
