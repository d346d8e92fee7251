/**
 * Versions of secrets through the vault (issue 12, item 1), on both backends: the local
 * vault (SQLite, local KEK) and DynamoDB Local with moto's KMS. Every set keeps the value it
 * replaces under its own data key, and drops what the namespace no longer keeps; history
 * shows no value; reading an old version rotates its data key; rollback is a new rev; rm
 * leaves nothing; and the canary value is never in the audit trail or an item in plaintext.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoDbClient, createKmsClient } from '../../src/aws/clients.js';
import { openLocalBackend } from '../../src/backends/local.js';
import type { Keyring } from '../../src/keyrings/keyring.js';
import { KmsKeyring } from '../../src/keyrings/kms.js';
import { DynamoDbStore } from '../../src/stores/dynamodb.js';
import type { SecretItem, SecretStore } from '../../src/stores/store.js';
import { Vault } from '../../src/vault/vault.js';
import { createTestKmsKey, createTestTable } from '../support/aws.js';

interface Backend {
  store: SecretStore;
  keyring: Keyring;
  close(): Promise<void>;
}

let nsCounter = 0;
const freshNamespace = () => `v${++nsCounter}-${randomBytes(3).toString('hex')}/web`;

/** A value no test ever prints: if it shows up anywhere but a decrypted read, something leaked. */
const CANARY = `canary-${randomBytes(12).toString('hex')}`;

/** Every byte of every field of `items`, as one string to search for the canary. */
function itemBytes(items: readonly SecretItem[]): string {
  return items
    .map((item) =>
      [item.ciphertext, item.iv, item.tag, item.wrappedKey]
        .map((b) => b.toString('latin1'))
        .concat(JSON.stringify({ ...item, ciphertext: 0, iv: 0, tag: 0, wrappedKey: 0 }))
        .join('|'),
    )
    .join('\n');
}

const backends: [string, () => Promise<Backend>][] = [
  [
    'the local vault (SQLite)',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'egg-versions-'));
      const backend = openLocalBackend(join(dir, 'home'), { create: true });
      return {
        store: backend.store,
        keyring: backend.keyring,
        close: async () => {
          await backend.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    'DynamoDB Local with KMS',
    async () => {
      const [table, keyId] = await Promise.all([createTestTable('egg-versions'), createTestKmsKey()]);
      const store = new DynamoDbStore({ client: await createDynamoDbClient(), table, ownsClient: true });
      const keyring = new KmsKeyring({ client: await createKmsClient(), keyId, ownsClient: true });
      return {
        store,
        keyring,
        close: async () => {
          keyring.close();
          await store.close();
        },
      };
    },
  ],
];

describe.each(backends)('versions on %s', (_label, open) => {
  let backend: Backend;
  const vault = (namespace: string, actor = 'user:alice') =>
    new Vault({ store: backend.store, keyring: backend.keyring, namespace, actor });
  beforeAll(async () => {
    backend = await open();
  });
  afterAll(async () => backend?.close());

  it('keeps each replaced value: history shows rev, time, actor and size, and get --rev reads it back', async () => {
    const ns = freshNamespace();
    await vault(ns, 'user:alice').set('DB_PASSWORD', Buffer.from('first'));
    await vault(ns, 'user:bob').set('DB_PASSWORD', Buffer.from('second!'));
    await vault(ns, 'user:carol').set('DB_PASSWORD', Buffer.from(CANARY));
    const history = await vault(ns).history('DB_PASSWORD');
    expect(history.map(({ rev, actor, size, current }) => ({ rev, actor, size, current }))).toEqual([
      { rev: 3, actor: 'user:carol', size: CANARY.length, current: true },
      { rev: 2, actor: 'user:bob', size: 7, current: false },
      { rev: 1, actor: 'user:alice', size: 5, current: false },
    ]);
    for (const line of history) expect(Date.parse(line.time)).not.toBeNaN();
    expect(JSON.stringify(history)).not.toContain(CANARY);
    const old = await vault(ns).getVersion('DB_PASSWORD', 1);
    expect([old.value.toString(), old.rev]).toEqual(['first', 1]);
    expect((await vault(ns).getVersion('DB_PASSWORD', 3)).value.toString()).toBe(CANARY);
    expect((await vault(ns).get('DB_PASSWORD')).value.toString()).toBe(CANARY);
  });

  it('re-encrypts an old version under a fresh data key when it is read', async () => {
    const ns = freshNamespace();
    await vault(ns).set('TOKEN', Buffer.from('one'));
    await vault(ns).set('TOKEN', Buffer.from('two'));
    const [before] = await backend.store.getVersions(ns, 'TOKEN');
    const read = await vault(ns).getVersion('TOKEN', 1);
    expect(read.gen).toBe(before?.gen);
    const [after] = await backend.store.getVersions(ns, 'TOKEN');
    expect(after?.gen).toBe((before?.gen ?? 0) + 1);
    expect(after?.wrappedKey.equals(before?.wrappedKey ?? Buffer.alloc(0))).toBe(false);
    expect(after?.iv.equals(before?.iv ?? Buffer.alloc(0))).toBe(false);
    expect((await vault(ns).getVersion('TOKEN', 1)).value.toString()).toBe('one');
  });

  it('keeps 10 earlier versions by default and deletes older ones from the store', async () => {
    const ns = freshNamespace();
    for (let i = 1; i <= 13; i++) await vault(ns).set('ROTATED', Buffer.from(`value-${i}`));
    expect((await backend.store.versionRevs(ns)).get('ROTATED')).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    await expect(vault(ns).getVersion('ROTATED', 2)).rejects.toMatchObject({
      code: 'ERR_SECRET_NOT_FOUND',
      message: `ROTATED has no rev 2 in ${ns}`,
    });
  });

  it('keeps what the namespace says: fewer from the next set on, or none', async () => {
    const ns = freshNamespace();
    for (let i = 1; i <= 5; i++) await vault(ns).set('KEY', Buffer.from(`value-${i}`));
    await vault(ns).setVersionsKept(2);
    expect(await vault(ns).versionsKept()).toBe(2);
    await vault(ns).set('KEY', Buffer.from('value-6'));
    expect((await backend.store.versionRevs(ns)).get('KEY')).toEqual([4, 5]);
    await vault(ns).setVersionsKept(0);
    await vault(ns).set('KEY', Buffer.from('value-7'));
    expect(await backend.store.versionRevs(ns)).toEqual(new Map());
    expect((await vault(ns).history('KEY')).map((line) => line.rev)).toEqual([7]);
    await expect(vault(ns).setVersionsKept(51)).rejects.toMatchObject({
      code: 'ERR_USAGE',
      message: 'a namespace keeps 0 to 50 earlier versions of each secret, not 51',
    });
    const trail = await vault(ns).auditTrail();
    expect(trail.filter((r) => r.action === 'keep-versions').map((r) => r.targets)).toEqual([['2'], ['0']]);
  });

  it('rolls back to an old version as a new rev, audited, and keeps the value it replaced', async () => {
    const ns = freshNamespace();
    await vault(ns).set('API_KEY', Buffer.from('good'));
    await vault(ns).set('API_KEY', Buffer.from(CANARY));
    const meta = await vault(ns, 'user:dave').rollback('API_KEY', 1);
    expect(meta.rev).toBe(3);
    expect((await vault(ns).get('API_KEY')).value.toString()).toBe('good');
    expect((await vault(ns).getVersion('API_KEY', 2)).value.toString()).toBe(CANARY);
    expect((await vault(ns).history('API_KEY')).map((line) => [line.rev, line.actor])).toEqual([
      [3, 'user:dave'],
      [2, 'user:alice'],
      [1, 'user:alice'],
    ]);
    await expect(vault(ns).rollback('API_KEY', 3)).rejects.toMatchObject({
      code: 'ERR_USAGE',
      message: 'rev 3 is already the current value of API_KEY',
    });
    await expect(vault(ns).rollback('API_KEY', 9)).rejects.toMatchObject({ code: 'ERR_SECRET_NOT_FOUND' });
    const trail = await vault(ns).auditTrail();
    expect(trail.filter((r) => r.action === 'rollback').map((r) => [r.actor, r.targets, r.outcome])).toEqual([
      ['user:dave', ['API_KEY@1'], 'ok'],
      ['user:alice', ['API_KEY@3'], 'usage'],
      ['user:alice', ['API_KEY@9'], 'secret-not-found'],
    ]);
    expect(trail.filter((r) => r.action === 'set')).toHaveLength(2);
    expect(JSON.stringify(trail)).not.toContain(CANARY);
    expect(await vault(ns).verifyAudit()).toMatchObject({ ok: true });
  });

  it('removes every version with the secret; a new one starts its history afresh', async () => {
    const ns = freshNamespace();
    for (let i = 1; i <= 3; i++) await vault(ns).set('GONE', Buffer.from(`${CANARY}-${i}`));
    await vault(ns).remove('GONE');
    expect(await backend.store.getVersions(ns, 'GONE')).toEqual([]);
    await expect(vault(ns).history('GONE')).rejects.toMatchObject({ code: 'ERR_SECRET_NOT_FOUND' });
    await vault(ns).set('GONE', Buffer.from('new'));
    expect((await vault(ns).history('GONE')).map((line) => line.rev)).toEqual([1]);
  });

  it('imports a changed value keeping the one it replaces; an unchanged one gains no version', async () => {
    const ns = freshNamespace();
    await vault(ns).set('CHANGED', Buffer.from('old'));
    await vault(ns).set('SAME', Buffer.from('same'));
    const plan = await vault(ns, 'user:ci').import([
      { name: 'CHANGED', value: Buffer.from(CANARY) },
      { name: 'SAME', value: Buffer.from('same') },
      { name: 'ADDED', value: Buffer.from('added') },
    ]);
    expect(plan).toEqual({ added: ['ADDED'], changed: ['CHANGED'], unchanged: ['SAME'] });
    expect(await backend.store.versionRevs(ns)).toEqual(new Map([['CHANGED', [1]]]));
    expect((await vault(ns).getVersion('CHANGED', 1)).value.toString()).toBe('old');
    expect((await vault(ns).history('CHANGED')).map((line) => [line.rev, line.actor])).toEqual([
      [2, 'user:ci'],
      [1, 'user:alice'],
    ]);
    expect((await vault(ns).history('SAME')).map((line) => [line.rev, line.actor])).toEqual([
      [1, 'user:alice'],
    ]);
  });

  it('loses no rev when writers race: every set is the current value or a kept version', async () => {
    const ns = freshNamespace();
    const writers = [vault(ns, 'user:a'), vault(ns, 'user:b'), vault(ns, 'user:c')];
    await Promise.all(
      writers.map(async (writer, w) => {
        for (let i = 0; i < 3; i++) await writer.set('RACED', Buffer.from(`w${w}-${i}`));
      }),
    );
    const history = await vault(ns).history('RACED');
    expect(history.map((line) => line.rev)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1]);
    const values = await Promise.all(
      history.map(async (line) => (await vault(ns).getVersion('RACED', line.rev)).value.toString()),
    );
    expect(new Set(values).size).toBe(9);
  });

  it('keeps an expiry with its value: through rotations, in its version, and not into the next value', async () => {
    const ns = freshNamespace();
    const expires = '2030-01-01T00:00:00.000Z';
    const meta = await vault(ns).set('LEASED', Buffer.from('one'), { expires });
    expect(meta.expires).toBe(expires);
    expect((await vault(ns).get('LEASED')).expires).toBe(expires);
    expect((await vault(ns).get('LEASED')).expires).toBe(expires);
    expect((await vault(ns).list()).map((m) => [m.name, m.expires])).toEqual([['LEASED', expires]]);
    await vault(ns).set('LEASED', Buffer.from('two'));
    const current = await vault(ns).get('LEASED');
    expect(current).not.toHaveProperty('expires');
    expect((await vault(ns).getVersion('LEASED', 1)).expires).toBe(expires);
    await vault(ns).import([{ name: 'LEASED', value: Buffer.from('two') }]);
    await vault(ns).set('LEASED', Buffer.from('three'), { expires });
    await vault(ns).import([{ name: 'LEASED', value: Buffer.from('four') }]);
    expect(await vault(ns).get('LEASED')).not.toHaveProperty('expires');
  });

  it('never holds the canary in plaintext: not in an item, a version, or the audit trail', async () => {
    const ns = freshNamespace();
    await vault(ns).set('CANARY', Buffer.from(CANARY));
    await vault(ns).set('CANARY', Buffer.from('next'));
    await vault(ns).getVersion('CANARY', 1);
    await vault(ns).rollback('CANARY', 1);
    const stored = [
      ...(await backend.store.getSecrets(ns)),
      ...(await backend.store.getVersions(ns, 'CANARY')),
    ];
    expect(stored).toHaveLength(3);
    expect(itemBytes(stored)).not.toContain(CANARY);
    expect(JSON.stringify(await vault(ns).auditTrail())).not.toContain(CANARY);
  });
});
