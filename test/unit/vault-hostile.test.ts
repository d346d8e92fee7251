import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EggError } from '../../src/errors.js';
import { LocalKeyring } from '../../src/keyrings/local.js';
import type { Backend } from '../../src/backends/backend.js';
import { openLocalBackend } from '../../src/backends/local.js';
import { Vault } from '../../src/vault/vault.js';

const VALUE = 'hostile-canary-5b1d0e';
const DECRYPT_FAILED =
  'could not decrypt secret API_KEY: the item is corrupt, was moved, or the key is wrong';

describe('the vault under hostile input', () => {
  let dir: string;
  let home: string;
  let backend: Backend;
  let vault: Vault;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'egg-hostile-'));
    home = join(dir, 'home');
    backend = openLocalBackend(home, { create: true });
    vault = new Vault({ ...backend, namespace: 'acme/web', actor: 'test' });
    await vault.set('API_KEY', Buffer.from(VALUE));
  });
  afterEach(async () => {
    await backend.store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Rewrite one column of the stored item behind the vault's back. */
  const tamper = (column: string, change: (bytes: Buffer) => Buffer) => {
    const db = new DatabaseSync(join(home, 'vault.db'));
    const row = db.prepare(`SELECT ${column} AS v FROM secrets WHERE name = 'API_KEY'`).get() as {
      v: Uint8Array;
    };
    db.prepare(`UPDATE secrets SET ${column} = ? WHERE name = 'API_KEY'`).run(change(Buffer.from(row.v)));
    db.close();
  };
  const flip = (bytes: Buffer) => {
    const copy = Buffer.from(bytes);
    copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 1;
    return copy;
  };
  const stored = async () => {
    const [item] = await backend.store.getSecrets('acme/web', ['API_KEY']);
    return item;
  };

  it.each([
    ['ciphertext', flip],
    ['tag', flip],
    ['iv', flip],
    ['wrapped_key', flip],
    ['wrapped_key', (b: Buffer) => b.subarray(0, 16)],
    ['tag', (b: Buffer) => b.subarray(0, 8)],
  ])('refuses a corrupted %s with the one decryption error and writes nothing', async (column, change) => {
    tamper(column, change);
    const before = await stored();
    const error = await vault.get('API_KEY').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EggError);
    expect(error).toMatchObject({ code: 'ERR_DECRYPTION_FAILED', message: DECRYPT_FAILED });
    expect(String((error as Error).message)).not.toContain(VALUE);
    expect(await stored()).toEqual(before);
    const audit = await vault.auditTrail();
    expect(audit.at(-1)).toMatchObject({
      action: 'read',
      targets: ['API_KEY'],
      outcome: 'decryption-failed',
    });
  });

  it('refuses an item copied under another name', async () => {
    const db = new DatabaseSync(join(home, 'vault.db'));
    db.exec(
      "INSERT INTO secrets SELECT namespace, 'STOLEN', ciphertext, iv, tag, wrapped_key, key_id, rev, gen, created_at, updated_at, upstream, inject, sealed FROM secrets WHERE name = 'API_KEY'",
    );
    db.close();
    await expect(vault.get('STOLEN')).rejects.toMatchObject({
      code: 'ERR_DECRYPTION_FAILED',
      message: 'could not decrypt secret STOLEN: the item is corrupt, was moved, or the key is wrong',
    });
  });

  it('refuses an item copied into another namespace', async () => {
    const db = new DatabaseSync(join(home, 'vault.db'));
    db.exec(
      "INSERT INTO secrets SELECT 'acme/other', name, ciphertext, iv, tag, wrapped_key, key_id, rev, gen, created_at, updated_at, upstream, inject, sealed FROM secrets WHERE name = 'API_KEY'",
    );
    db.close();
    const other = new Vault({ ...backend, namespace: 'acme/other', actor: 'test' });
    await expect(other.get('API_KEY')).rejects.toMatchObject({
      code: 'ERR_DECRYPTION_FAILED',
      message: DECRYPT_FAILED,
    });
  });

  it('refuses an old revision replayed over a newer one', async () => {
    const old = await stored();
    await vault.set('API_KEY', Buffer.from('newer'));
    const db = new DatabaseSync(join(home, 'vault.db'));
    db.prepare(
      "UPDATE secrets SET ciphertext = ?, iv = ?, tag = ?, wrapped_key = ? WHERE name = 'API_KEY'",
    ).run(old!.ciphertext, old!.iv, old!.tag, old!.wrappedKey);
    db.close();
    await expect(vault.get('API_KEY')).rejects.toMatchObject({
      code: 'ERR_DECRYPTION_FAILED',
      message: DECRYPT_FAILED,
    });
  });

  it('refuses to decrypt with the wrong key-encryption key', async () => {
    const wrong = new Vault({
      store: backend.store,
      keyring: new LocalKeyring(randomBytes(32)),
      namespace: 'acme/web',
      actor: 'test',
    });
    const before = await stored();
    await expect(wrong.get('API_KEY')).rejects.toMatchObject({
      code: 'ERR_DECRYPTION_FAILED',
      message: DECRYPT_FAILED,
    });
    expect(await stored()).toEqual(before);
  });

  it('refuses a damaged key file instead of using it', async () => {
    await backend.store.close();
    writeFileSync(join(home, 'kek'), 'short', { mode: 0o600 });
    expect(() => openLocalBackend(home)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_CONFIG',
        message: `the key file ${join(home, 'kek')} is damaged (expected 32 bytes)`,
      }),
    );
    backend = openLocalBackend(join(dir, 'fresh'), { create: true });
  });

  it.each([
    ['', 'invalid secret name ""'],
    ['1ABC', 'invalid secret name "1ABC"'],
    ['A-B', 'invalid secret name "A-B"'],
    ['A'.repeat(129), `invalid secret name "${'A'.repeat(80)}…"`],
    ['ÄPI', 'invalid secret name "ÄPI"'],
    ['A\nB', 'invalid secret name "A\\nB"'],
  ])('refuses the secret name %j and writes nothing', async (name, message) => {
    await expect(vault.set(name, Buffer.from(VALUE))).rejects.toMatchObject({
      code: 'ERR_INVALID_NAME',
      message,
    });
    expect((await vault.list()).map((m) => m.name)).toEqual(['API_KEY']);
  });

  it.each(['', 'UPPER', 'a/b/c/d', 'a//b', '../x', 'a/./b', 'a b', 'ns\u0000'])(
    'refuses the namespace %j',
    (namespace) => {
      expect(() => new Vault({ ...backend, namespace, actor: 'test' })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_NAMESPACE' }),
      );
    },
  );

  it('refuses a value over 64 KiB and keeps the old one', async () => {
    const big = Buffer.alloc(64 * 1024 + 1, 0x41);
    await expect(vault.set('API_KEY', big)).rejects.toMatchObject({
      code: 'ERR_INVALID_VALUE',
      message: 'the value is 65537 bytes; values are at most 65536 bytes (64 KiB)',
    });
    expect((await vault.get('API_KEY')).value.toString()).toBe(VALUE);
  });

  it('accepts exactly 64 KiB and binary bytes, round-tripping them', async () => {
    const value = randomBytes(64 * 1024);
    await vault.set('BLOB', value);
    expect((await vault.get('BLOB')).value.equals(value)).toBe(true);
    expect((await vault.get('BLOB')).value.equals(value)).toBe(true);
  });
});
