/**
 * The load of the concurrency storm (test/integration/storm.test.ts), shared by the test and
 * by storm-worker.ts, which runs it in separate processes. Writers set unique, predictable
 * values; readers get; the recorders hash every data key the vault is handed (before it is
 * wiped) and the IV and wrapped key of every item written. No vitest here: workers run bare.
 */
import { createHash } from 'node:crypto';
import type { DataKey, KeyContext, Keyring } from '../../src/keyrings/keyring.js';
import type { SecretItem, SecretStore, WriteCondition } from '../../src/stores/store.js';
import type { Vault } from '../../src/vault/vault.js';

export const SECRETS = ['ALPHA', 'BRAVO', 'CHARLIE', 'DELTA', 'ECHO'];
export const NAMESPACE = 'storm/test';

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The value writer `w` of group `group` sets on its `j`th set. */
export const writerValue = (group: string, w: number, j: number, name: string) =>
  `${name}:${group}:w${w}:${j}`;
export const writerSecret = (w: number, j: number) => SECRETS[(w + j * 3) % SECRETS.length] as string;
export const readerSecret = (r: number, j: number) => SECRETS[(r + j) % SECRETS.length] as string;

export interface Recorded {
  deks: string[];
  written: { iv: string; wrappedKey: string }[];
}

export interface LoadOutcome extends Recorded {
  acked: { name: string; rev: number; value: string }[];
  reads: { name: string; value: string }[];
  errors: string[];
}

/** Every data key the vault is handed, hashed before the vault wipes it. */
export class RecordingKeyring implements Keyring {
  readonly kind: Keyring['kind'];
  readonly inner: Keyring;
  readonly record: Recorded;
  constructor(inner: Keyring, record: Recorded) {
    this.kind = inner.kind;
    this.inner = inner;
    this.record = record;
  }
  async generate(context: KeyContext): Promise<DataKey> {
    const key = await this.inner.generate(context);
    this.record.deks.push(sha256(key.plaintext));
    return key;
  }
  unwrap(wrapped: Buffer, keyId: string, context: KeyContext): Promise<Buffer> {
    return this.inner.unwrap(wrapped, keyId, context);
  }
  async warm(namespace: string): Promise<void> {
    await this.inner.warm?.(namespace);
  }
  close(): void {
    this.inner.close();
  }
}

/** Records the IV and wrapped key of every item written. */
export class RecordingStore implements SecretStore {
  readonly kind: SecretStore['kind'];
  readonly inner: SecretStore;
  readonly record: Recorded;
  constructor(inner: SecretStore, record: Recorded) {
    this.kind = inner.kind;
    this.inner = inner;
    this.record = record;
  }
  getSecrets(namespace: string, names?: readonly string[]) {
    return this.inner.getSecrets(namespace, names);
  }
  async putSecret(item: SecretItem, condition: WriteCondition) {
    const ok = await this.inner.putSecret(item, condition);
    if (ok) this.record.written.push({ iv: sha256(item.iv), wrappedKey: sha256(item.wrappedKey) });
    return ok;
  }
  async putSecrets(writes: Parameters<SecretStore['putSecrets']>[0]) {
    const ok = await this.inner.putSecrets(writes);
    if (ok)
      for (const { item } of writes)
        this.record.written.push({ iv: sha256(item.iv), wrappedKey: sha256(item.wrappedKey) });
    return ok;
  }
  hasNamespace(namespace: string) {
    return this.inner.hasNamespace(namespace);
  }
  markNamespace(namespace: string) {
    return this.inner.markNamespace(namespace);
  }
  listNamespaces() {
    return this.inner.listNamespaces();
  }
  deleteSecret(namespace: string, name: string) {
    return this.inner.deleteSecret(namespace, name);
  }
  getVersions(namespace: string, name: string) {
    return this.inner.getVersions(namespace, name);
  }
  versionRevs(namespace: string, names?: readonly string[]) {
    return this.inner.versionRevs(namespace, names);
  }
  async putVersion(item: SecretItem, gen: number) {
    const ok = await this.inner.putVersion(item, gen);
    if (ok) this.record.written.push({ iv: sha256(item.iv), wrappedKey: sha256(item.wrappedKey) });
    return ok;
  }
  getVersionsKept(namespace: string) {
    return this.inner.getVersionsKept(namespace);
  }
  setVersionsKept(namespace: string, count: number) {
    return this.inner.setVersionsKept(namespace, count);
  }
  getNamespaceKey(namespace: string) {
    return this.inner.getNamespaceKey(namespace);
  }
  putNamespaceKey(...args: Parameters<SecretStore['putNamespaceKey']>) {
    return this.inner.putNamespaceKey(...args);
  }
  appendAudit(...args: Parameters<SecretStore['appendAudit']>) {
    return this.inner.appendAudit(...args);
  }
  readAudit(namespace: string, options?: { afterSeq?: number }) {
    return this.inner.readAudit(namespace, options);
  }
  putCheckpoint(...args: Parameters<SecretStore['putCheckpoint']>) {
    return this.inner.putCheckpoint(...args);
  }
  readCheckpoints(...args: Parameters<SecretStore['readCheckpoints']>) {
    return this.inner.readCheckpoints(...args);
  }
  close() {
    return this.inner.close();
  }
}

/** `writers` writers and `readers` readers at once; vault `i % vaults.length` serves each. */
export async function runLoad(
  vaults: readonly Vault[],
  options: { group: string; writers: number; readers: number; setsPerWriter: number; readsPerReader: number },
  record: Recorded,
): Promise<LoadOutcome> {
  const outcome: LoadOutcome = { ...record, acked: [], reads: [], errors: [] };
  const vaultFor = (i: number) => vaults[i % vaults.length] as Vault;
  const fail = (error: unknown) =>
    outcome.errors.push(`${(error as { code?: string }).code ?? 'Error'}: ${(error as Error).message}`);
  const writer = async (w: number) => {
    for (let j = 0; j < options.setsPerWriter; j++) {
      const name = writerSecret(w, j);
      const value = writerValue(options.group, w, j, name);
      try {
        const meta = await vaultFor(w).set(name, Buffer.from(value));
        outcome.acked.push({ name, rev: meta.rev, value });
      } catch (error) {
        fail(error);
      }
    }
  };
  const reader = async (r: number) => {
    for (let j = 0; j < options.readsPerReader; j++) {
      const name = readerSecret(r, j);
      try {
        const secret = await vaultFor(r + 1).get(name);
        outcome.reads.push({ name, value: secret.value.toString() });
        secret.value.fill(0);
      } catch (error) {
        fail(error);
      }
    }
  };
  await Promise.all([
    ...Array.from({ length: options.writers }, (_, w) => writer(w)),
    ...Array.from({ length: options.readers }, (_, r) => reader(r)),
  ]);
  return outcome;
}
