/**
 * The provider key in the proxy's memory (issue 9 item 5): by default no plaintext is
 * cached; an entry is the value sealed under a per-process key, opened into a fresh Buffer
 * per request and wiped once that request's upstream request is written. Real vault, real
 * SQLite store, real AES-GCM.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { openLocalBackend } from '../../src/backends/local.js';
import { ProviderKeys } from '../../src/proxy/provider-keys.js';
import type { SecretItem, SecretStore } from '../../src/stores/store.js';
import { type PulledSecret, Vault } from '../../src/vault/vault.js';

const NS = 'acme/web';
const KEY = Buffer.from('sk-unit-canary-5f1e2d3c4b5a6978-DO-NOT-LEAK');
const UPSTREAM = 'https://api.example.com';
const zeros = (n: number) => Buffer.alloc(n);

describe('provider keys (proxy hot path)', () => {
  let dir: string;
  let backend: Backend;
  /** Every getSecrets call the vault makes, and every plaintext Buffer it handed out. */
  let storeReads: string[][];
  let handedOut: Buffer[];
  let vault: Vault;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'egg-keys-'));
    backend = openLocalBackend(join(dir, 'home'), { create: true });
    storeReads = [];
    handedOut = [];
    const inner = backend.store;
    const store: SecretStore = {
      kind: inner.kind,
      getSecrets: async (namespace, names) => {
        storeReads.push([...(names ?? ['*'])]);
        return inner.getSecrets(namespace, names);
      },
      putSecret: (item, condition) => inner.putSecret(item, condition),
      putSecrets: (writes) => inner.putSecrets(writes),
      hasNamespace: (namespace) => inner.hasNamespace(namespace),
      markNamespace: (namespace) => inner.markNamespace(namespace),
      listNamespaces: () => inner.listNamespaces(),
      deleteSecret: (namespace, name) => inner.deleteSecret(namespace, name),
      getVersions: (namespace, name) => inner.getVersions(namespace, name),
      versionRevs: (namespace, names) => inner.versionRevs(namespace, names),
      putVersion: (item, gen) => inner.putVersion(item, gen),
      getVersionsKept: (namespace) => inner.getVersionsKept(namespace),
      setVersionsKept: (namespace, count) => inner.setVersionsKept(namespace, count),
      getNamespaceKey: (namespace) => inner.getNamespaceKey(namespace),
      putNamespaceKey: (item) => inner.putNamespaceKey(item),
      appendAudit: (namespace, build) => inner.appendAudit(namespace, build),
      readAudit: (namespace, options) => inner.readAudit(namespace, options),
      putCheckpoint: (checkpoint) => inner.putCheckpoint(checkpoint),
      readCheckpoints: (namespace, options) => inner.readCheckpoints(namespace, options),
      close: () => inner.close(),
    };
    vault = new Vault({ store, keyring: backend.keyring, namespace: NS, actor: 'proxy' });
    await vault.set('OPENAI_KEY', KEY, { upstream: UPSTREAM });
    await vault.set('PLAIN', Buffer.from('not-a-provider-key'));
    storeReads.length = 0;
  });
  afterEach(async () => {
    backend.keyring.close();
    await backend.store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The vault as the proxy sees it, recording the plaintext Buffers it returns. */
  const recordingVault = () => ({
    get: async (name: string, options?: { pinned?: boolean }): Promise<PulledSecret> => {
      const secret = await vault.get(name, options);
      handedOut.push(secret.value);
      return secret;
    },
  });
  const stored = async (): Promise<SecretItem> => (await backend.store.getSecrets(NS, ['OPENAI_KEY']))[0]!;

  it("wipes each request's key Buffer once it is released (no plaintext cache by default)", async () => {
    const keys = new ProviderKeys({ vault: recordingVault });
    const first = await keys.lease(NS, 'OPENAI_KEY');
    expect(first.value.equals(KEY)).toBe(true);
    expect(first.upstream).toBe(UPSTREAM);
    expect(first.inject).toEqual({ name: 'authorization', prefix: 'Bearer ', suffix: '' });
    first.release();
    expect(first.value.equals(zeros(KEY.length))).toBe(true);

    // A cache hit: a fresh Buffer of its own, wiped on release like the first.
    const second = await keys.lease(NS, 'OPENAI_KEY');
    expect(second.value).not.toBe(first.value);
    expect(second.value.equals(KEY)).toBe(true);
    second.release();
    expect(second.value.equals(zeros(KEY.length))).toBe(true);
    keys.close();
  });

  it('holds no plaintext between requests: the entry is sealed under a per-process key, not the stored ciphertext', async () => {
    const before = await stored();
    const keys = new ProviderKeys({ vault: recordingVault });
    const lease = await keys.lease(NS, 'OPENAI_KEY');
    lease.release();
    // The read rotated the data key: the item now holds another ciphertext.
    const after = await stored();
    expect(after.gen).toBe(before.gen + 1);

    const held = keys.heldBuffers(NS, 'OPENAI_KEY');
    expect(held.length).toBeGreaterThan(0);
    for (const buffer of held) {
      expect(buffer.includes(KEY)).toBe(false);
      for (const item of [before, after]) {
        expect(buffer.equals(item.ciphertext)).toBe(false);
        expect(buffer.includes(item.ciphertext)).toBe(false);
        expect(buffer.includes(item.wrappedKey)).toBe(false);
      }
    }
    // The plaintext the vault returned was wiped once sealed.
    expect(handedOut).toHaveLength(1);
    expect(handedOut[0]!.equals(zeros(KEY.length))).toBe(true);
    keys.close();
    expect(keys.heldBuffers(NS, 'OPENAI_KEY')).toEqual([]);
  });

  it('reads the vault once per key per TTL, in one store read with the upstream (issue 13 item 11)', async () => {
    let now = 1_000_000;
    const keys = new ProviderKeys({ vault: recordingVault, ttlMs: 60_000, clock: () => now });
    const leases = await Promise.all([1, 2, 3].map(() => keys.lease(NS, 'OPENAI_KEY')));
    for (const lease of leases) lease.release();
    (await keys.lease(NS, 'OPENAI_KEY')).release();
    expect(storeReads).toEqual([['OPENAI_KEY']]);

    await vault.set('OPENAI_KEY', Buffer.from('sk-second-value'));
    storeReads.length = 0;
    now += 60_001;
    const fresh = await keys.lease(NS, 'OPENAI_KEY');
    expect(fresh.value.toString()).toBe('sk-second-value');
    expect(fresh.upstream).toBe(UPSTREAM);
    fresh.release();
    expect(storeReads).toEqual([['OPENAI_KEY']]);
    const reads = (await vault.auditTrail()).filter((r) => r.action === 'read' && r.actor === 'proxy');
    expect(reads.map((r) => r.outcome)).toEqual(['ok', 'ok']);
    keys.close();
  });

  it('reads the vault on every request with a TTL of 0 (--key-cache 0), wiping every Buffer', async () => {
    const keys = new ProviderKeys({ vault: recordingVault, ttlMs: 0 });
    for (let i = 0; i < 2; i++) {
      const lease = await keys.lease(NS, 'OPENAI_KEY');
      expect(lease.value.equals(KEY)).toBe(true);
      lease.release();
      expect(lease.value.equals(zeros(KEY.length))).toBe(true);
    }
    expect(storeReads).toHaveLength(2);
    expect(keys.heldBuffers(NS, 'OPENAI_KEY')).toEqual([]);
    for (const buffer of handedOut) expect(buffer.equals(zeros(KEY.length))).toBe(true);
  });

  it('keeps the decrypted key in memory only when asked to (--key-cache SECONDS), and wipes it at close', async () => {
    const keys = new ProviderKeys({ vault: recordingVault, plaintext: true });
    const first = await keys.lease(NS, 'OPENAI_KEY');
    first.release();
    const second = await keys.lease(NS, 'OPENAI_KEY');
    expect(second.value).toBe(first.value);
    expect(keys.heldBuffers(NS, 'OPENAI_KEY').some((b) => b.equals(KEY))).toBe(true);
    second.release();
    keys.close();
    expect(first.value.equals(zeros(KEY.length))).toBe(true);
  });

  it('refuses a secret without a pinned upstream without decrypting it', async () => {
    const keys = new ProviderKeys({ vault: recordingVault });
    await expect(keys.lease(NS, 'PLAIN')).rejects.toMatchObject({ code: 'ERR_SECRET_NOT_FOUND' });
    expect(handedOut).toEqual([]);
    const last = (await vault.auditTrail()).at(-1)!;
    expect([last.action, last.targets, last.outcome]).toEqual(['read', ['PLAIN'], 'not-found']);
    const [plain] = await backend.store.getSecrets(NS, ['PLAIN']);
    expect(plain!.gen).toBe(1);
    keys.close();
  });
});

describe('provider keys under a vault another process holds locked (issue 9 item 4)', () => {
  let dir: string;
  let home: string;
  let lock: DatabaseSync;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'egg-keys-locked-'));
    home = join(dir, 'home');
    const setup = openLocalBackend(home, { create: true });
    await new Vault({ ...setup, namespace: NS, actor: 'set' }).set('OPENAI_KEY', KEY, { upstream: UPSTREAM });
    setup.keyring.close();
    await setup.store.close();
    lock = new DatabaseSync(join(home, 'vault.db'));
  });
  afterEach(() => {
    if (lock.isTransaction) lock.exec('ROLLBACK');
    lock.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The proxy's own connection: it may block at most 5 ms on a lock (src/proxy/serve.ts). */
  const proxyKeys = (lockWaitMs?: number) => {
    const backend = openLocalBackend(home, { busyTimeoutMs: 5 });
    const vault = new Vault({ ...backend, namespace: NS, actor: 'proxy' });
    const keys = new ProviderKeys({
      vault: () => vault,
      ...(lockWaitMs === undefined ? {} : { lockWaitMs }),
    });
    return {
      keys,
      close: async () => {
        keys.close();
        backend.keyring.close();
        await backend.store.close();
      },
    };
  };

  it('waits for the lock without blocking, instead of failing a request whose spend is already reserved', async () => {
    const { keys, close } = proxyKeys();
    lock.exec('BEGIN EXCLUSIVE');
    const events: string[] = [];
    const leasing = Promise.resolve(keys.lease(NS, 'OPENAI_KEY')).then(
      (lease) => {
        events.push(`leased ${lease.value.equals(KEY)}`);
        lease.release();
      },
      (error: unknown) => events.push(`failed ${(error as Error).message}`),
    );
    // The event loop is free while the lease waits: this timer runs, and releases the lock.
    const unlock = setTimeout(() => {
      events.push('unlocked');
      lock.exec('ROLLBACK');
    }, 30);
    await leasing;
    clearTimeout(unlock);
    expect(events).toEqual(['unlocked', 'leased true']);
    await close();
  });

  it('gives up with ERR_STORE_UNAVAILABLE (503) when the lock outlasts its wait', async () => {
    const { keys, close } = proxyKeys(50);
    lock.exec('BEGIN EXCLUSIVE');
    await expect(Promise.resolve(keys.lease(NS, 'OPENAI_KEY'))).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
    });
    lock.exec('ROLLBACK');
    await close();
  });
});
