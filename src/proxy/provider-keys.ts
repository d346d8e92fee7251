/**
 * Provider keys for the proxy's hot path. A vault read decrypts, rotates the data key and
 * appends an audit record: right for a person, too slow and too noisy per proxied request.
 * So a decrypted key is kept in a Buffer for `ttlMs` (default 60 s; 0 = read the vault on
 * every request) and wiped when it leaves the cache and no request holds it. Each request
 * takes a lease and releases it once its upstream request is written, which wipes the
 * Buffer when the cache is off. Concurrent misses share one read.
 */
import { wipe } from '../crypto/wipe.js';
import { EggError } from '../errors.js';
import type { SecretStore } from '../stores/store.js';
import { DEFAULT_INJECT, type InjectTemplate, parseInject, parseUpstream } from '../tokens/upstream.js';
import type { Vault } from '../vault/vault.js';

export interface KeyLease {
  /** The key bytes; valid until `release()`. */
  readonly value: Buffer;
  readonly upstream: string;
  readonly inject: InjectTemplate;
  release(): void;
}

export interface KeySource {
  /** A lease on the key; a cached key is leased at once, without a promise. */
  lease(namespace: string, name: string): KeyLease | Promise<KeyLease>;
  close(): void;
}

interface Entry {
  value: Buffer;
  upstream: string;
  inject: InjectTemplate;
  expiresAt: number;
  leases: number;
  evicted: boolean;
}

export interface ProviderKeysOptions {
  store: Pick<SecretStore, 'getSecrets'>;
  vault: (namespace: string) => Pick<Vault, 'get'>;
  ttlMs?: number;
  clock?: () => number;
}

export class ProviderKeys implements KeySource {
  readonly #store: ProviderKeysOptions['store'];
  readonly #vault: ProviderKeysOptions['vault'];
  readonly #ttlMs: number;
  readonly #clock: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<Entry>>();

  constructor(options: ProviderKeysOptions) {
    this.#store = options.store;
    this.#vault = options.vault;
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#clock = options.clock ?? Date.now;
  }

  lease(namespace: string, name: string): KeyLease | Promise<KeyLease> {
    const id = `${namespace}\n${name}`;
    const entry = this.#entries.get(id);
    if (entry !== undefined) {
      if (entry.expiresAt > this.#clock()) return this.#hold(entry);
      this.#evict(id, entry);
    }
    return this.#leaseMiss(id, namespace, name);
  }

  async #leaseMiss(id: string, namespace: string, name: string): Promise<KeyLease> {
    let entry: Entry;
    if (this.#ttlMs === 0) entry = await this.#read(namespace, name);
    else {
      let pending = this.#pending.get(id);
      if (pending === undefined) {
        pending = this.#read(namespace, name).finally(() => this.#pending.delete(id));
        this.#pending.set(id, pending);
        const fresh = await pending;
        this.#entries.set(id, fresh);
        entry = fresh;
      } else entry = await pending;
    }
    return this.#hold(entry);
  }

  #hold(held: Entry): KeyLease {
    held.leases++;
    let released = false;
    return {
      value: held.value,
      upstream: held.upstream,
      inject: held.inject,
      release: () => {
        if (released) return;
        released = true;
        held.leases--;
        if (this.#ttlMs === 0) held.evicted = true;
        if (held.evicted && held.leases === 0) wipe(held.value);
      },
    };
  }

  /** Wipe every cached key. */
  close(): void {
    for (const [id, entry] of this.#entries) this.#evict(id, entry);
  }

  #evict(id: string, entry: Entry): void {
    if (this.#entries.get(id) === entry) this.#entries.delete(id);
    entry.evicted = true;
    if (entry.leases === 0) wipe(entry.value);
  }

  async #read(namespace: string, name: string): Promise<Entry> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const [item] = await this.#store.getSecrets(namespace, [name]);
      if (item?.upstream === undefined) {
        throw new EggError(
          'ERR_SECRET_NOT_FOUND',
          'the provider key of this token is gone or has no upstream',
        );
      }
      const secret = await this.#vault(namespace).get(name);
      // A set between the two reads: the metadata and the value must be of one revision.
      if (secret.rev !== item.rev) {
        wipe(secret.value);
        continue;
      }
      return {
        value: secret.value,
        upstream: parseUpstream(item.upstream),
        inject: parseInject(item.inject ?? DEFAULT_INJECT),
        expiresAt: this.#clock() + this.#ttlMs,
        leases: 0,
        evicted: false,
      };
    }
    throw new EggError('ERR_CONFLICT', 'the provider key kept changing while it was read');
  }
}
