/**
 * The local vault's two files under `EGG_HOME`, `vault.db` and `kek`, and the rule that
 * keeps them together: never create a key or a vault over existing data, and never open a
 * pair that does not belong together (issue 9, item 10; docs/local-vault.md).
 *
 * vault.db records the key check value of the KEK it was created with
 * (src/keyrings/local.ts). At every open:
 *
 * | kek     | vault.db                                          | outcome |
 * | ------- | ------------------------------------------------- | ------- |
 * | any     | not a sound SQLite file                           | `ERR_VAULT_DAMAGED` |
 * | present | its key check value matches                       | open |
 * | present | another key check value                           | `ERR_VAULT_KEY_MISMATCH` |
 * | present | no check value, but records (made by egg 0.1.0)   | bind when kek wraps every secret; open unbound, with a warning, when it wraps some; `ERR_VAULT_KEY_MISMATCH` when none |
 * | present | missing, empty, or a bare schema                  | `ERR_VAULT_MISSING` |
 * | missing | a check value or any record                       | `ERR_VAULT_KEY_MISSING` |
 * | missing | missing or empty                                  | create both when asked to, else `ERR_NOT_INITIALIZED` |
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { EggError, isEggError } from './errors.js';
import { createKeyFile, ensureHome, exists, readKeyFile } from './home.js';
import { LocalKeyring } from './keyrings/local.js';
import { type Logger, nullLogger } from './log.js';
import { SqliteStore, type VaultContents } from './stores/sqlite.js';

export const VAULT_FILE = 'vault.db';
export const KEK_FILE = 'kek';

const KEK_BYTES = 32;

export interface LocalVault {
  store: SqliteStore;
  keyring: LocalKeyring;
}

interface Paths {
  home: string;
  kek: string;
  vault: string;
}

/**
 * Open the vault under `home`, checking that its kek and vault.db belong together; with
 * `create`, make both when neither holds anything yet (`egg init`, `egg secrets set`).
 */
export function openLocalVault(
  home: string,
  options: { create: boolean; logger?: Logger; busyTimeoutMs?: number },
): LocalVault {
  ensureHome(home, { create: options.create });
  const paths: Paths = { home, kek: join(home, KEK_FILE), vault: join(home, VAULT_FILE) };
  if (!exists(paths.vault)) {
    if (exists(paths.kek)) throw vaultMissing(paths, 'is missing');
    if (!options.create) throw notInitialized(home);
  }
  const store = openStore(paths, options.create, options.logger ?? nullLogger, options.busyTimeoutMs);
  try {
    return { store, keyring: bindKey(store, paths, options.create, options.logger ?? nullLogger) };
  } catch (error) {
    void store.close();
    throw withWayOut(error, paths);
  }
}

function openStore(paths: Paths, create: boolean, logger: Logger, busyTimeoutMs?: number): SqliteStore {
  try {
    return new SqliteStore(paths.vault, {
      create,
      logger,
      ...(busyTimeoutMs === undefined ? {} : { busyTimeoutMs }),
    });
  } catch (error) {
    // Deleted between the look and the open.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw exists(paths.kek) ? vaultMissing(paths, 'is missing') : notInitialized(paths.home);
    }
    throw withWayOut(error, paths);
  }
}

/** The store names the damaged file; the way out involves kek too. */
function withWayOut(error: unknown, paths: Paths): unknown {
  if (!isEggError(error, 'ERR_VAULT_DAMAGED')) return error;
  return new EggError('ERR_VAULT_DAMAGED', error.message, {
    cause: error,
    hint: `restore ${paths.vault} from your backup, or move it and ${paths.kek} away and run \`egg init\` to start over`,
  });
}

/** The keyring for `store`: its kek after checking it, or (creating) a new kek bound to the empty store. */
function bindKey(store: SqliteStore, paths: Paths, create: boolean, logger: Logger): LocalKeyring {
  // A second pass only when another process created kek between our look and our lock.
  for (let pass = 0; pass < 3; pass++) {
    if (exists(paths.kek)) {
      const keyring = new LocalKeyring(readKeyFile(paths.kek, KEK_BYTES));
      try {
        checkKey(store, paths, keyring, logger);
        return keyring;
      } catch (error) {
        keyring.close();
        throw error;
      }
    }
    const contents = store.contents();
    if (!isEmpty(contents)) throw keyMissing(paths, contents);
    if (!create) throw notInitialized(paths.home);
    const created = store.withWriteLock(() => createKey(store, paths));
    if (created !== undefined) return created;
  }
  throw new EggError(
    'ERR_CONFLICT',
    `${paths.kek} kept appearing and disappearing while the vault was opened`,
    {
      hint: 'make sure no other program is moving files in EGG_HOME, then try again',
    },
  );
}

/**
 * Inside the write lock, with vault.db empty: a new kek, then its key check value, both
 * before the commit. Racing creators serialize on the lock and the loser finds kek there.
 * A crash between the two leaves kek beside an empty vault.db, which the next open refuses
 * (`ERR_VAULT_MISSING`, recovery in docs/local-vault.md): never a vault under a key nobody kept.
 */
function createKey(store: SqliteStore, paths: Paths): LocalKeyring | undefined {
  if (exists(paths.kek)) return undefined;
  const contents = store.contents();
  if (!isEmpty(contents)) throw keyMissing(paths, contents);
  const kek = randomBytes(KEK_BYTES);
  const keyring = new LocalKeyring(kek);
  try {
    if (!createKeyFile(paths.kek, kek)) {
      keyring.close();
      return undefined;
    }
    try {
      store.setKeyCheck(keyring.keyCheckValue());
    } catch (error) {
      // Nothing was ever made with this key, and the rollback leaves vault.db empty: unmake it.
      rmSync(paths.kek, { force: true });
      throw error;
    }
    return keyring;
  } catch (error) {
    keyring.close();
    throw error;
  }
}

/** Refuse `keyring` unless it is the key `store` was created with (or, for a vault from egg 0.1.0, the key of its secrets). */
function checkKey(store: SqliteStore, paths: Paths, keyring: LocalKeyring, logger: Logger): void {
  // No check value: decide under the write lock, so a creator's commit in progress is seen.
  const stored = store.keyCheck() ?? store.withWriteLock(() => adoptKey(store, paths, keyring, logger));
  if (stored !== undefined && !sameKey(stored, keyring)) throw keyMismatch(paths);
}

/**
 * A vault.db with no key check value: made by egg 0.1.0 (which wrote none), or recreated
 * under the user's feet. Bind it to `keyring` when every secret is wrapped by it (the
 * items' key ids are fingerprints of the KEK); open it unbound when only some are (a vault
 * that egg 0.1.0 split across two keys: binding would lock the other half out for good).
 */
function adoptKey(
  store: SqliteStore,
  paths: Paths,
  keyring: LocalKeyring,
  logger: Logger,
): Buffer | undefined {
  const contents = store.contents();
  if (contents.keyCheck !== undefined) return contents.keyCheck;
  if (isEmpty(contents)) throw vaultMissing(paths, 'is empty');
  const wrapped = contents.keyIds.get(keyring.keyId) ?? 0;
  if (contents.secrets > 0 && wrapped === 0) {
    throw keyMismatch(paths, `: none of its ${plural(contents.secrets, 'secret')} are wrapped by it`);
  }
  if (wrapped < contents.secrets) {
    logger.warn('vault.mixed_keys', {
      vault: paths.vault,
      secrets: contents.secrets,
      otherKey: contents.secrets - wrapped,
    });
    return undefined;
  }
  const keyCheck = keyring.keyCheckValue();
  store.setKeyCheck(keyCheck);
  return keyCheck;
}

function sameKey(stored: Buffer, keyring: LocalKeyring): boolean {
  const mine = keyring.keyCheckValue();
  return stored.length === mine.length && timingSafeEqual(stored, mine);
}

const isEmpty = (c: VaultContents) =>
  c.keyCheck === undefined && c.secrets === 0 && c.audit === 0 && c.tokens === 0;

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

function notInitialized(home: string): EggError {
  return new EggError('ERR_NOT_INITIALIZED', `there is no vault at ${home}`, {
    hint: 'run `egg init` (or `egg secrets set NAME`) to create one, or set EGG_HOME',
  });
}

function vaultMissing(paths: Paths, state: 'is missing' | 'is empty'): EggError {
  return new EggError('ERR_VAULT_MISSING', `${paths.vault} ${state} but ${paths.kek} exists`, {
    hint: `restore ${paths.vault} from your backup; only if nothing was ever stored with this key, move ${paths.kek} away and run \`egg init\``,
  });
}

function keyMissing(paths: Paths, contents: VaultContents): EggError {
  const what =
    contents.secrets > 0
      ? `holds ${plural(contents.secrets, 'secret')} encrypted under it`
      : contents.audit > 0
        ? `holds ${plural(contents.audit, 'audit record')} made with it`
        : contents.tokens > 0
          ? `holds ${plural(contents.tokens, 'token record')} made with it`
          : 'was created with it';
  return new EggError('ERR_VAULT_KEY_MISSING', `${paths.kek} is missing but ${paths.vault} ${what}`, {
    hint: `restore ${paths.kek} from your backup, or move ${paths.vault} away and run \`egg init\` to start over`,
  });
}

function keyMismatch(paths: Paths, detail = ''): EggError {
  return new EggError(
    'ERR_VAULT_KEY_MISMATCH',
    `${paths.kek} is not the key ${paths.vault} was created with${detail}`,
    {
      hint: 'restore the kek backed up with this vault.db; `egg doctor` checks the pair',
    },
  );
}
