/**
 * The local vault's two files (vault.db and kek) on a real SQLite file: every way one of
 * them can go missing, be replaced or be damaged is refused at open with one sentence
 * naming the file and the way out, and nothing is ever created over existing data
 * (issue 9, item 10). docs/local-vault.md describes the states.
 */
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { keyCheckValue, LocalKeyring } from '../../src/keyrings/local.js';
import type { LogFields, Logger } from '../../src/log.js';
import type { Backend } from '../../src/backends/backend.js';
import { openLocalBackend } from '../../src/backends/local.js';
import { openBackend } from '../../src/backends/open-backend.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import { Vault } from '../../src/vault/vault.js';

const NS = 'acme/web';

let dir: string;
let home: string;
let kek: string;
let vaultDb: string;
const opened: Backend[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'egg-damage-'));
  home = join(dir, 'home');
  kek = join(home, 'kek');
  vaultDb = join(home, 'vault.db');
});
afterEach(async () => {
  for (const backend of opened.splice(0)) {
    backend.keyring.close();
    await backend.store.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

function open(create: boolean, logger?: Logger): Backend {
  const backend = openLocalBackend(home, { create, logger });
  opened.push(backend);
  return backend;
}

async function close(backend: Backend): Promise<void> {
  opened.splice(opened.indexOf(backend), 1);
  backend.keyring.close();
  await backend.store.close();
}

/** A vault with `names` set, closed again (the WAL folded into vault.db). */
async function vaultWith(...names: string[]): Promise<void> {
  const backend = open(true);
  const vault = new Vault({ ...backend, namespace: NS, actor: 'test' });
  for (const name of names) await vault.set(name, Buffer.from(`value of ${name}`));
  await close(backend);
}

const removeVaultFiles = () => {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${vaultDb}${suffix}`, { force: true });
};

const refusal = (code: string, message: string) => expect.objectContaining({ code, message });

const recorder = () => {
  const lines: { event: string; fields: LogFields | undefined }[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (event, fields) => lines.push({ event, fields }),
  };
  return { lines, logger };
};

describe('a missing kek', () => {
  it('refuses `secrets set` with kek deleted instead of making a new key', async () => {
    await vaultWith('API_KEY', 'DB_URL', 'TOKEN');
    rmSync(kek);
    const before = readFileSync(vaultDb);
    const error = refusal(
      'ERR_VAULT_KEY_MISSING',
      `${kek} is missing but ${vaultDb} holds 3 secrets encrypted under it`,
    );
    expect(() => open(true)).toThrow(error);
    expect(() => open(false)).toThrow(error);
    expect(existsSync(kek)).toBe(false);
    expect(readFileSync(vaultDb).equals(before)).toBe(true);
  });

  it('says how to get out: restore kek, or start over', async () => {
    await vaultWith('API_KEY');
    rmSync(kek);
    expect(() => open(true)).toThrow(
      expect.objectContaining({
        hint: `restore ${kek} from your backup, or move ${vaultDb} away and run \`egg init\` to start over`,
      }),
    );
  });

  it('refuses a vault that holds only audit records made with the lost kek', async () => {
    const backend = open(true);
    await new Vault({ ...backend, namespace: NS, actor: 'test' }).list();
    await close(backend);
    rmSync(kek);
    expect(() => open(true)).toThrow(
      refusal('ERR_VAULT_KEY_MISSING', `${kek} is missing but ${vaultDb} holds 1 audit record made with it`),
    );
    expect(existsSync(kek)).toBe(false);
  });

  it('refuses a vault that holds nothing but the check value of the lost kek', async () => {
    await close(open(true));
    rmSync(kek);
    expect(() => open(true)).toThrow(
      refusal('ERR_VAULT_KEY_MISSING', `${kek} is missing but ${vaultDb} was created with it`),
    );
    expect(existsSync(kek)).toBe(false);
  });
});

describe('a kek that is not the vault’s', () => {
  it('refuses a replaced kek at open, before any secret is touched', async () => {
    await vaultWith('API_KEY');
    writeFileSync(kek, randomBytes(32), { mode: 0o600 });
    expect(() => open(false)).toThrow(
      refusal('ERR_VAULT_KEY_MISMATCH', `${kek} is not the key ${vaultDb} was created with`),
    );
    expect(() => open(true)).toThrow(expect.objectContaining({ code: 'ERR_VAULT_KEY_MISMATCH' }));
  });

  it('refuses the right kek with a vault.db swapped in from another vault', async () => {
    await vaultWith('API_KEY');
    const other = join(dir, 'other');
    const otherBackend = openLocalBackend(other, { create: true });
    await new Vault({ ...otherBackend, namespace: NS, actor: 'test' }).set('X', Buffer.from('x'));
    otherBackend.keyring.close();
    await otherBackend.store.close();
    removeVaultFiles();
    writeFileSync(vaultDb, readFileSync(join(other, 'vault.db')), { mode: 0o600 });
    expect(() => open(false)).toThrow(
      refusal('ERR_VAULT_KEY_MISMATCH', `${kek} is not the key ${vaultDb} was created with`),
    );
  });
});

describe('a missing, empty or damaged vault.db', () => {
  it('refuses to create a new vault.db when kek exists (vault.db deleted)', async () => {
    await vaultWith('API_KEY');
    removeVaultFiles();
    const error = refusal('ERR_VAULT_MISSING', `${vaultDb} is missing but ${kek} exists`);
    expect(() => open(true)).toThrow(error);
    expect(() => open(false)).toThrow(error);
    expect(existsSync(vaultDb)).toBe(false);
    expect(() => open(true)).toThrow(
      expect.objectContaining({
        hint: `restore ${vaultDb} from your backup; only if nothing was ever stored with this key, move ${kek} away and run \`egg init\``,
      }),
    );
  });

  it('refuses a vault.db truncated to 0 bytes instead of taking it for a new vault', async () => {
    await vaultWith('API_KEY');
    removeVaultFiles();
    writeFileSync(vaultDb, '', { mode: 0o600 });
    const error = refusal('ERR_VAULT_MISSING', `${vaultDb} is empty but ${kek} exists`);
    expect(() => open(false)).toThrow(error);
    expect(() => open(true)).toThrow(error);
  });

  it('refuses a vault.db truncated to half its size', async () => {
    await vaultWith(...Array.from({ length: 40 }, (_, i) => `SECRET_${i}`));
    truncateSync(vaultDb, Math.floor(statSync(vaultDb).size / 2));
    const error = refusal(
      'ERR_VAULT_DAMAGED',
      `${vaultDb} is damaged: SQLite reports "database disk image is malformed"`,
    );
    expect(() => open(false)).toThrow(error);
    expect(() => open(true)).toThrow(error);
    expect(() => open(false)).toThrow(
      expect.objectContaining({
        hint: `restore ${vaultDb} from your backup, or move it and ${kek} away and run \`egg init\` to start over`,
      }),
    );
  });

  it('refuses a vault.db replaced with garbage', async () => {
    await vaultWith('API_KEY');
    removeVaultFiles();
    writeFileSync(vaultDb, randomBytes(8192), { mode: 0o600 });
    expect(() => open(false)).toThrow(
      refusal('ERR_VAULT_DAMAGED', `${vaultDb} is damaged: SQLite reports "file is not a database"`),
    );
  });

  it('refuses a vault recreated under the user’s feet (a schema, no key check value, no data)', async () => {
    await vaultWith('API_KEY');
    removeVaultFiles();
    // What any process that opens the path as a store (an older egg, a token store) leaves.
    await new SqliteStore(vaultDb).close();
    const error = refusal('ERR_VAULT_MISSING', `${vaultDb} is empty but ${kek} exists`);
    expect(() => open(false)).toThrow(error);
    expect(() => open(true)).toThrow(error);
  });
});

describe('creating a vault', () => {
  it('creates kek and vault.db together, binding them with the key check value', async () => {
    const backend = open(true);
    expect(statSync(kek).mode & 0o777).toBe(0o600);
    expect(statSync(vaultDb).mode & 0o777).toBe(0o600);
    await close(backend);
    const db = new DatabaseSync(vaultDb);
    const row = db.prepare("SELECT value FROM vault_meta WHERE name = 'key_check'").get() as {
      value: Uint8Array;
    };
    db.close();
    expect(Buffer.from(row.value)).toEqual(keyCheckValue(readFileSync(kek)));
  });

  it('is idempotent when kek and vault.db match (egg init twice)', async () => {
    await vaultWith('API_KEY');
    const key = readFileSync(kek);
    const backend = open(true);
    expect(readFileSync(kek).equals(key)).toBe(true);
    const vault = new Vault({ ...backend, namespace: NS, actor: 'test' });
    expect((await vault.get('API_KEY')).value.toString()).toBe('value of API_KEY');
  });

  it('does not create anything for a read when there is no vault', () => {
    rmSync(home, { recursive: true, force: true });
    expect(() => open(false)).toThrow(refusal('ERR_NOT_INITIALIZED', `there is no vault at ${home}`));
    expect(existsSync(home)).toBe(false);
  });

  it('does not create a vault for a read in an EGG_HOME that has neither file', async () => {
    await close(open(true));
    rmSync(kek);
    removeVaultFiles();
    expect(() => open(false)).toThrow(refusal('ERR_NOT_INITIALIZED', `there is no vault at ${home}`));
    expect(existsSync(vaultDb)).toBe(false);
  });
});

describe('a vault made before key check values', () => {
  /** What egg 0.1.0 wrote: kek, and vault.db without the vault_meta table. */
  async function legacyVault(key: Buffer, sets: [name: string, key: Buffer][]): Promise<void> {
    mkdirSync(home, { mode: 0o700 });
    writeFileSync(kek, key, { mode: 0o600 });
    const store = new SqliteStore(vaultDb);
    for (const [name, key] of sets) {
      const keyring = new LocalKeyring(Buffer.from(key));
      await new Vault({ store, keyring, namespace: NS, actor: 'egg 0.1.0' }).set(name, Buffer.from(name));
      keyring.close();
    }
    await store.close();
    const db = new DatabaseSync(vaultDb);
    db.exec('DROP TABLE vault_meta');
    db.close();
  }
  const storedCheck = () => {
    const db = new DatabaseSync(vaultDb);
    const row = db.prepare("SELECT value FROM vault_meta WHERE name = 'key_check'").get() as
      { value: Uint8Array } | undefined;
    db.close();
    return row === undefined ? undefined : Buffer.from(row.value);
  };

  it('adopts the check value when every secret is wrapped by kek', async () => {
    const key = randomBytes(32);
    await legacyVault(key, [
      ['API_KEY', key],
      ['DB_URL', key],
    ]);
    const backend = open(false);
    const vault = new Vault({ ...backend, namespace: NS, actor: 'test' });
    expect((await vault.get('DB_URL')).value.toString()).toBe('DB_URL');
    expect(storedCheck()).toEqual(keyCheckValue(key));
  });

  it('refuses a kek that wraps none of the secrets', async () => {
    await legacyVault(randomBytes(32), [
      ['API_KEY', randomBytes(32)],
      ['DB_URL', randomBytes(32)],
    ]);
    expect(() => open(false)).toThrow(
      refusal(
        'ERR_VAULT_KEY_MISMATCH',
        `${kek} is not the key ${vaultDb} was created with: none of its 2 secrets are wrapped by it`,
      ),
    );
    expect(storedCheck()).toBeUndefined();
  });

  it('opens a vault split across two keys without binding it to either, and says so', async () => {
    const key = randomBytes(32);
    const lost = randomBytes(32);
    await legacyVault(key, [
      ['OLD', lost],
      ['NEW', key],
    ]);
    const { lines, logger } = recorder();
    const backend = open(false, logger);
    expect(lines).toEqual([
      { event: 'vault.mixed_keys', fields: { vault: vaultDb, secrets: 2, otherKey: 1 } },
    ]);
    const vault = new Vault({ ...backend, namespace: NS, actor: 'test' });
    expect((await vault.get('NEW')).value.toString()).toBe('NEW');
    await expect(vault.get('OLD')).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
    // Not bound: restoring the other kek must still open the rest.
    expect(storedCheck()).toBeUndefined();
  });
});

describe('the keyring the local backend uses', () => {
  it.each(['kms', 'kms-hierarchical'])('refuses EGG_KEYRING=%s instead of ignoring it', async (keyring) => {
    await vaultWith('API_KEY');
    const config = resolveConfig({ env: { EGG_HOME: home, EGG_KEYRING: keyring }, cwd: dir });
    await expect(openBackend(config, { actor: 'test' })).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message: `the local backend has only the local keyring; "${keyring}" needs --backend aws`,
    });
  });
});
