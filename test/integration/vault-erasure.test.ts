/**
 * Old keys really gone (issue 9, item 12): after a rotation, a `set` over a value or an
 * `rm`, no byte of the old wrapped data key or the old ciphertext remains in vault.db,
 * vault.db-wal or vault.db-shm, even while another connection (the proxy, another egg)
 * keeps the file open. The raw bytes of the files are searched, on a real SQLite file.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decrypt, itemAad } from '../../src/crypto/aead.js';
import type { LogFields, Logger } from '../../src/log.js';
import type { Backend } from '../../src/backends/backend.js';
import { openLocalBackend } from '../../src/backends/local.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import type { SecretItem } from '../../src/stores/store.js';
import { Vault } from '../../src/vault/vault.js';

const NS = 'acme/web';

let dir: string;
let home: string;
let vaultDb: string;
let backend: Backend;
let vault: Vault;
let others: { close(): unknown }[];
let warnings: { event: string; fields: LogFields | undefined }[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'egg-erasure-'));
  home = join(dir, 'home');
  vaultDb = join(home, 'vault.db');
  warnings = [];
  const logger: Logger = { debug() {}, info() {}, warn: (event, fields) => warnings.push({ event, fields }) };
  backend = openLocalBackend(home, { create: true, logger });
  vault = new Vault({ ...backend, namespace: NS, actor: 'test' });
  others = [];
});
afterEach(async () => {
  for (const other of others) await other.close();
  backend.keyring.close();
  await backend.store.close();
  rmSync(dir, { recursive: true, force: true });
});

const stored = async (name: string): Promise<SecretItem> => {
  const [item] = await backend.store.getSecrets(NS, [name]);
  if (item === undefined) throw new Error(`${name} is not stored`);
  return item;
};

/** Another process's connection, as the proxy holds one: it has read, and stays open. */
async function anotherConnection(): Promise<void> {
  const other = new SqliteStore(vaultDb);
  others.push(other);
  await other.getSecrets(NS);
}

/**
 * Pieces of `items`' wrapped keys and ciphertexts found in the vault's files. A ciphertext
 * longer than a page is split across overflow pages, so it is searched in 32-byte slices.
 */
function remnants(items: SecretItem[]): string[] {
  const files = ['', '-wal', '-shm']
    .map((suffix) => `${vaultDb}${suffix}`)
    .filter((path) => existsSync(path))
    .map((path) => ({ path, bytes: readFileSync(path) }));
  const found: string[] = [];
  for (const item of items) {
    const needles: [string, Buffer][] = [[`wrapped key of ${item.name} gen ${item.gen}`, item.wrappedKey]];
    for (let at = 0; at < item.ciphertext.length; at += 512) {
      const end = Math.min(at + 32, item.ciphertext.length);
      needles.push([
        `ciphertext of ${item.name} gen ${item.gen} at ${at}`,
        item.ciphertext.subarray(at, end),
      ]);
    }
    for (const { path, bytes } of files) {
      for (const [what, needle] of needles) if (bytes.includes(needle)) found.push(`${what} in ${path}`);
    }
  }
  return found;
}

describe('old key material is erased from the SQLite files', () => {
  it('leaves no old wrapped key or ciphertext after a read and an rm while another connection is open', async () => {
    await vault.set('API_KEY', Buffer.from(`sk_live_${randomBytes(24).toString('hex')}`));
    await vault.set('KEEP', Buffer.from('stays'));
    await anotherConnection();
    const first = await stored('API_KEY');
    await vault.get('API_KEY');
    const second = await stored('API_KEY');
    expect(second.gen).toBe(first.gen + 1);
    expect(remnants([first])).toEqual([]);

    await vault.set('API_KEY', Buffer.from('a longer value than the one before, set over it'));
    const third = await stored('API_KEY');
    expect(remnants([first])).toEqual([]);
    // The value a set replaces is kept as a version (docs/versions.md), until rm.
    expect(remnants([second])).not.toEqual([]);

    await vault.remove('API_KEY');
    expect(remnants([first, second, third])).toEqual([]);
    expect((await vault.get('KEEP')).value.toString()).toBe('stays');
    expect(warnings).toEqual([]);
  });

  it('leaves no replaced value when the namespace keeps no versions, nor a version it drops', async () => {
    await vault.set('API_KEY', Buffer.from(`sk_live_${randomBytes(24).toString('hex')}`));
    await vault.set('KEEP', Buffer.from('stays'));
    await anotherConnection();
    const first = await stored('API_KEY');
    await vault.set('API_KEY', Buffer.from(`sk_live_${randomBytes(24).toString('hex')}`));
    expect(remnants([first])).not.toEqual([]);
    await vault.setVersionsKept(0);
    await vault.set('API_KEY', Buffer.from(`sk_live_${randomBytes(24).toString('hex')}`));
    expect(remnants([first])).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('erases every overflow page of a 64 KiB secret on rm', async () => {
    await vault.set('BLOB', randomBytes(64 * 1024));
    await vault.set('KEEP', Buffer.from('stays'));
    await anotherConnection();
    const blob = await stored('BLOB');
    await vault.remove('BLOB');
    expect(remnants([blob])).toEqual([]);
  });

  it('rotates to a new data key: the old one does not open what is stored now', async () => {
    await vault.set('API_KEY', Buffer.from('value'));
    const first = await stored('API_KEY');
    const oldKey = await backend.keyring.unwrap(first.wrappedKey, first.keyId, {
      namespace: NS,
      secret: 'API_KEY',
    });
    await vault.get('API_KEY');
    const now = await stored('API_KEY');
    expect(() => decrypt(oldKey, now, itemAad(now), 'secret API_KEY')).toThrow(
      expect.objectContaining({ code: 'ERR_DECRYPTION_FAILED' }),
    );
    oldKey.fill(0);
  });

  it('says when a reader blocks the erasure, and erases once the reader is done', async () => {
    await vault.set('API_KEY', Buffer.from('value'));
    await vault.set('KEEP', Buffer.from('stays'));
    const reader = new DatabaseSync(vaultDb);
    others.push(reader);
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM secrets').get();
    const item = await stored('API_KEY');

    await vault.remove('API_KEY');
    expect(warnings).toEqual([{ event: 'vault.erase_blocked', fields: { vault: vaultDb } }]);
    // Honest: while a reader's snapshot still needs them, the old pages stay on disk.
    expect(remnants([item])).not.toEqual([]);

    reader.exec('COMMIT');
    await backend.store.close();
    expect(remnants([item])).toEqual([]);
    expect(warnings).toHaveLength(1);
  });
});
