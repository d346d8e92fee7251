/**
 * The local backend: the SQLite vault and the local keyring under `EGG_HOME`
 * (src/local-vault.ts), the token store on the same `vault.db`, and the Ed25519 seeds
 * `signing-key` and `anchor-key` beside them. It imports no AWS code, so the Action's post
 * bundle and every local command stay small.
 */
import { join } from 'node:path';
import { EggError } from '../errors.js';
import { ensureHome, readKeyFile, readOrCreateKey } from '../home.js';
import { LocalSealingKey } from '../keyrings/sealing.js';
import { openLocalVault, VAULT_FILE } from '../local-vault.js';
import { LocalSigner, SIGNING_KEY_FILE, type TokenSigner } from '../tokens/signer.js';
import type { TokenStore } from '../tokens/token-store.js';
import type { Backend, BackendOptions, Identity } from './backend.js';
import { osUserIdentity } from './identity.js';

export { KEK_FILE, VAULT_FILE } from '../local-vault.js';

/** The audit anchor's seed (src/rotator/anchor-key.ts says whose key it is). */
export const ANCHOR_KEY_FILE = 'anchor-key';

/**
 * The local vault under `home`, its kek and vault.db checked to belong together; with
 * `create`, made when neither exists yet, never over existing data.
 * @example
 * const backend = openLocalBackend(home, { create: true });
 * try { … new Vault({ ...backend, namespace }) … } finally { await backend.close(); }
 */
export function openLocalBackend(
  home: string,
  options: BackendOptions = {},
  identity: Identity = osUserIdentity(),
): Backend {
  const { store, keyring } = openLocalVault(home, {
    create: options.create ?? false,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
  });
  let tokens: Promise<TokenStore> | undefined;
  const sealing = new LocalSealingKey(home);
  return {
    kind: 'local',
    store,
    keyring,
    sealing,
    actor: identity.actor,
    tokenStore: () => (tokens ??= openLocalTokenStore(home, options.lockWaitMs)),
    // A LocalSigner holds a KeyObject and nothing to close: no need to remember it.
    signer: async ({ create = false } = {}) => openLocalSigner(home, create),
    anchorSigner: async ({ create = false } = {}) => openLocalAnchorSigner(home, create),
    close: async () => {
      keyring.close();
      sealing.close();
      const opened = await tokens?.catch(() => undefined);
      await Promise.all([store.close(), opened?.close()]);
    },
  };
}

async function openLocalTokenStore(home: string, lockWaitMs: number | undefined): Promise<TokenStore> {
  const { SqliteTokenStore } = await import('../tokens/sqlite-token-store.js');
  return new SqliteTokenStore(join(home, VAULT_FILE), lockWaitMs === undefined ? {} : { lockWaitMs });
}

/** `EGG_HOME/signing-key`, created on the first mint (`create`), like the KEK. */
export function openLocalSigner(home: string, create: boolean): TokenSigner {
  return seedSigner(home, SIGNING_KEY_FILE, create, 'there is no token signing key', {
    hint: 'mint a token first (`egg tokens mint …` creates the key), or point EGG_HOME at the vault that minted them',
  });
}

/** `EGG_HOME/anchor-key`, created by the first checkpoint (`create`). */
function openLocalAnchorSigner(home: string, create: boolean): TokenSigner {
  return seedSigner(home, ANCHOR_KEY_FILE, create, 'there is no audit anchor key', {
    hint: 'restore it from your backup of EGG_HOME: without it the checkpoints cannot be checked',
  });
}

/** A signer with the 32-byte seed `EGG_HOME/<file>`, made when `create`; else ERR_NOT_INITIALIZED saying what is missing. */
function seedSigner(
  home: string,
  file: string,
  create: boolean,
  missing: string,
  { hint }: { hint: string },
): TokenSigner {
  ensureHome(home, { create });
  const path = join(home, file);
  if (create) return new LocalSigner(readOrCreateKey(path, 32));
  try {
    return new LocalSigner(readKeyFile(path, 32));
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_NOT_INITIALIZED')
      throw new EggError('ERR_NOT_INITIALIZED', `${missing} at ${path}`, { cause: error, hint });
    throw error;
  }
}
