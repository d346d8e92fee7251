/**
 * Builds a vault from configuration: SQLite and the local keyring for the embedded
 * default, DynamoDB and KMS for `aws`. The AWS SDK is imported only on the `aws` path,
 * so local commands never pay for loading it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { osActor } from './actor.js';
import type { EggConfig } from './config.js';
import { EggError } from './errors.js';
import type { Keyring } from './keyrings/keyring.js';
import { openLocalVault } from './local-vault.js';
import { type Logger, nullLogger } from './log.js';
import { SESSION_FILE } from './login/files.js';
import type { SecretStore } from './stores/store.js';
import { Vault } from './vault/vault.js';

export { KEK_FILE, VAULT_FILE } from './local-vault.js';

export interface Backend {
  store: SecretStore;
  keyring: Keyring;
}

export interface OpenOptions {
  logger?: Logger;
  /** Create the local vault if it does not exist (set, init); read commands do not. */
  create?: boolean;
  actor?: string;
  /** Local vault: how long a call may block waiting for another process's lock (sqlite.ts). */
  busyTimeoutMs?: number;
}

/**
 * The local store and keyring under `home`, checked to belong together (src/local-vault.ts);
 * with `create`, made when neither exists yet, never over existing data.
 */
export function openLocalBackend(
  home: string,
  create: boolean,
  logger?: Logger,
  busyTimeoutMs?: number,
): Backend {
  return openLocalVault(home, {
    create,
    ...(logger === undefined ? {} : { logger }),
    ...(busyTimeoutMs === undefined ? {} : { busyTimeoutMs }),
  });
}

/**
 * Refuse a keyring the backend does not have: the local backend has only the local KEK,
 * and used to ignore `EGG_KEYRING=kms` silently while `egg doctor` printed "kms".
 */
export function assertKeyringFits(config: EggConfig): void {
  if (config.backend === 'local' && config.keyring !== 'local') {
    throw new EggError(
      'ERR_INVALID_CONFIG',
      `the local backend has only the local keyring; "${config.keyring}" needs --backend aws`,
      { hint: 'unset EGG_KEYRING (or "keyring" in .egg.json or the user config), or use --backend aws' },
    );
  }
}

export async function openBackend(config: EggConfig, options: OpenOptions = {}): Promise<Backend> {
  assertKeyringFits(config);
  if (config.backend === 'local') {
    return openLocalBackend(config.home, options.create ?? false, options.logger, options.busyTimeoutMs);
  }
  const { openAwsBackend } = await import('./aws/backend.js');
  const logger = options.logger ?? nullLogger;
  const credentials = await loginCredentials(config, logger);
  return openAwsBackend(config, { logger, ...(credentials === undefined ? {} : { credentials }) });
}

/** Variables that configure the SDK's own credential chain; any of them wins over a login. */
const AMBIENT_CREDENTIALS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_PROFILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
];

/**
 * The `egg login` session's credentials (refreshed before they expire) when there is a
 * session and the environment names no other credentials; otherwise the SDK's default chain.
 * The login modules (and jose) load only when a session file exists.
 */
export async function loginCredentials(config: EggConfig, logger: Logger) {
  if (AMBIENT_CREDENTIALS.some((name) => process.env[name])) return undefined;
  if (!existsSync(join(config.home, SESSION_FILE))) return undefined;
  const { loginCredentialsProvider } = await import('./login/login.js');
  return loginCredentialsProvider(config.home, { logger });
}

/** Open the configured vault; call `close()` when done to wipe keys and close the store. */
export async function openVault(
  config: EggConfig,
  options: OpenOptions = {},
): Promise<{ vault: Vault; close: () => Promise<void> }> {
  const backend = await openBackend(config, options);
  const vault = new Vault({
    store: backend.store,
    keyring: backend.keyring,
    namespace: config.namespace,
    actor: options.actor ?? osActor(),
    logger: options.logger ?? nullLogger,
    rotation: config.rotation,
  });
  return {
    vault,
    close: async () => {
      backend.keyring.close();
      await backend.store.close();
    },
  };
}
