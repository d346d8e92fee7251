/**
 * Provider keys for the proxy's hot path. A vault read decrypts, rotates the data key and
 * appends an audit record: right for a person, too slow and too noisy per proxied request.
 * So what one read returns is reused for `ttlMs` (default 60 s; 0 = read the vault on
 * every request), and concurrent misses share one read.
 *
 * What is kept between requests is not the key (PRODUCT, request flow: "wipe the key once
 * the upstream response starts"; issue 9 item 5). The value is sealed at once under a cache
 * key made for this process (`MemorySeal`: AES-256-CTR, random key only in memory, wiped at
 * close) and the plaintext the vault returned is wiped. Each request opens the entry into a
 * Buffer of its own (about 1 µs), which `release()` wipes once the upstream request is
 * written. The stored wrapped DEK and ciphertext are not
 * what is cached: the vault's read rotated them (DESIGN, Crypto), so the product says
 * that key is gone. `plaintext: true` (`--key-cache SECONDS`) keeps today's opt-in cache
 * of the decrypted key instead. docs/tokens.md says what each defends against.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MemorySeal, type MemorySealed } from '../crypto/memory-seal.js';
import { wipe } from '../crypto/wipe.js';
import { EggError } from '../errors.js';
import { isSqliteLocked } from '../stores/sqlite-file.js';
import { parsePrice, type PriceTable } from '../tokens/price.js';
import { DEFAULT_INJECT, type InjectTemplate, parseInject, parseUpstream } from '../tokens/upstream.js';
import type { PulledSecret } from '../vault/vault.js';

export interface KeyLease {
  /** The key bytes; valid until `release()`. */
  readonly value: Buffer;
  readonly upstream: string;
  readonly inject: InjectTemplate;
  /** The key's price table: its requests spend real units (usage-cost.ts). Absent: per request. */
  readonly price?: PriceTable | undefined;
  release(): void;
}

export interface KeySource {
  /** A lease on the key; a cached key is leased at once, without a promise. */
  lease(namespace: string, name: string): KeyLease | Promise<KeyLease>;
  /**
   * The price table of a key the cache holds (null: held, unpriced), or undefined when it is
   * not held: no vault read, no key opened.
   */
  priceOf?(namespace: string, name: string): PriceTable | null | undefined;
  close(): void;
}

/** The vault as the proxy reads it: one pinned provider key, with its upstream and template. */
export interface ProviderKeyVault {
  get(name: string, options: { pinned: true }): Promise<PulledSecret>;
}

interface Entry {
  upstream: string;
  inject: InjectTemplate;
  price: PriceTable | undefined;
  expiresAt: number;
  /** The default: the value sealed under the cache key. */
  sealed: MemorySealed | undefined;
  /** Only with `plaintext: true` (or a TTL of 0, for the one request it serves). */
  plaintext: Buffer | undefined;
  leases: number;
  evicted: boolean;
}

export interface ProviderKeysOptions {
  vault: (namespace: string) => ProviderKeyVault;
  /** How long one vault read serves requests (0: read the vault on every request). */
  ttlMs?: number;
  /** Keep the decrypted key in memory for `ttlMs` (the opt-in `--key-cache`), not sealed. */
  plaintext?: boolean;
  /**
   * Longest a read waits, without blocking, for a vault another process holds locked
   * (default 500 ms, as the token store): then ERR_STORE_UNAVAILABLE, answered 503.
   */
  lockWaitMs?: number;
  clock?: () => number;
}

export class ProviderKeys implements KeySource {
  readonly #vault: ProviderKeysOptions['vault'];
  readonly #ttlMs: number;
  readonly #plaintext: boolean;
  readonly #clock: () => number;
  readonly #lockWaitMs: number;
  /** The per-process cache key: random, never written anywhere, wiped at close. */
  readonly #seal = new MemorySeal();
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<Entry>>();
  #closed = false;

  constructor(options: ProviderKeysOptions) {
    this.#vault = options.vault;
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#plaintext = options.plaintext ?? false;
    this.#clock = options.clock ?? Date.now;
    this.#lockWaitMs = options.lockWaitMs ?? 500;
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

  priceOf(namespace: string, name: string): PriceTable | null | undefined {
    const entry = this.#entries.get(`${namespace}\n${name}`);
    if (entry === undefined || entry.expiresAt <= this.#clock()) return undefined;
    return entry.price ?? null;
  }

  /**
   * Every Buffer the cache holds for a key (diagnostics and tests): with the default
   * sealed cache, none of them is the key.
   */
  heldBuffers(namespace: string, name: string): readonly Buffer[] {
    const entry = this.#entries.get(`${namespace}\n${name}`);
    if (entry === undefined) return [];
    if (entry.plaintext !== undefined) return [entry.plaintext];
    return entry.sealed === undefined ? [] : [entry.sealed.nonce, entry.sealed.ciphertext];
  }

  /** Wipe every cached key and the cache key itself. */
  close(): void {
    this.#closed = true;
    for (const [id, entry] of this.#entries) this.#evict(id, entry);
    this.#seal.close();
  }

  async #leaseMiss(id: string, namespace: string, name: string): Promise<KeyLease> {
    if (this.#ttlMs === 0) {
      const entry = await this.#read(namespace, name, true);
      entry.evicted = true;
      return this.#hold(entry);
    }
    let pending = this.#pending.get(id);
    if (pending === undefined) {
      pending = this.#read(namespace, name, this.#plaintext).finally(() => this.#pending.delete(id));
      this.#pending.set(id, pending);
      this.#entries.set(id, await pending);
    }
    return this.#hold(await pending);
  }

  #hold(held: Entry): KeyLease {
    // A sealed entry is opened into a Buffer of this request's own, wiped on release.
    const value = held.plaintext ?? this.#seal.open(held.sealed as MemorySealed);
    const shared = held.plaintext !== undefined;
    if (shared) held.leases++;
    let released = false;
    return {
      value,
      upstream: held.upstream,
      inject: held.inject,
      price: held.price,
      release: () => {
        if (released) return;
        released = true;
        if (!shared) return wipe(value);
        held.leases--;
        if (held.evicted && held.leases === 0) wipe(value);
      },
    };
  }

  #evict(id: string, entry: Entry): void {
    if (this.#entries.get(id) === entry) this.#entries.delete(id);
    entry.evicted = true;
    if (entry.leases === 0) wipe(entry.plaintext);
  }

  /** One audited vault read (it rotates the data key); the value sealed unless `keepPlaintext`. */
  async #read(namespace: string, name: string, keepPlaintext: boolean): Promise<Entry> {
    const secret = await this.#readUnlocked(namespace, name);
    try {
      if (this.#closed) throw new EggError('ERR_STORE_UNAVAILABLE', 'the proxy is shutting down');
      if (secret.upstream === undefined) {
        throw new EggError('ERR_SECRET_NOT_FOUND', 'the provider key of this token has no pinned upstream');
      }
      const entry: Entry = {
        upstream: parseUpstream(secret.upstream),
        inject: parseInject(secret.inject ?? DEFAULT_INJECT),
        price: secret.price === undefined ? undefined : parsePrice(secret.price),
        expiresAt: this.#clock() + this.#ttlMs,
        sealed: undefined,
        plaintext: undefined,
        leases: 0,
        evicted: false,
      };
      if (keepPlaintext) {
        entry.plaintext = secret.value;
        return entry;
      }
      entry.sealed = this.#seal.seal(secret.value);
      wipe(secret.value);
      return entry;
    } catch (error) {
      wipe(secret.value);
      throw error;
    }
  }

  /**
   * The vault read, tried again on a timer (1, 2, 4 … 32 ms apart) while another process
   * holds the vault locked: the proxy's connection blocks at most a few ms on a lock, and
   * the request reaching here has already reserved its spend. Nothing is written by a read
   * that failed on the lock, so trying it again repeats nothing.
   */
  async #readUnlocked(namespace: string, name: string): Promise<PulledSecret> {
    const deadline = performance.now() + this.#lockWaitMs;
    for (let delay = 1; ; delay = Math.min(delay * 2, 32)) {
      try {
        return await this.#vault(namespace).get(name, { pinned: true });
      } catch (error) {
        const left = deadline - performance.now();
        if (!isSqliteLocked(error) || this.#closed) throw error;
        if (left <= 0) {
          throw new EggError('ERR_STORE_UNAVAILABLE', 'another process kept the vault locked', {
            cause: error,
          });
        }
        await sleep(Math.min(delay, left));
      }
    }
  }
}
