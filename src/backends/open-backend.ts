/**
 * The composition root (STYLE, Composition): `openBackend(config, identity)` turns
 * configuration and one identity into every adapter that identity uses: SQLite and the local
 * keyring for the embedded default, DynamoDB and KMS for `aws`. `openSession` gives the
 * commands a vault port (vault-port.ts) on any of those or, for `api`, on the API's server,
 * where this process opens no store and no keyring. Every edge asks it: the CLI,
 * the Action (main and post), the proxy, the rotator and the test harnesses. The AWS SDK is
 * imported only on the `aws` path, so local commands never pay for loading it.
 */
import type { Alerts } from '../alerts/alerts.js';
import type { EggConfig } from '../config.js';
import { EggError } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import type { TokenSigner } from '../tokens/signer.js';
import type { Tokens } from '../tokens/tokens.js';
import { isUsageStore, type UsageStore } from '../tokens/usage-store.js';
import { Vault } from '../vault/vault.js';
import type { Backend, BackendOptions, Identity } from './backend.js';
import { openLocalBackend } from './local.js';

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

/**
 * Every adapter of the configured backend for `identity`; `close()` when done.
 * @example
 * const backend = await openBackend(config, await cliIdentity(config, logger), { logger });
 * try { await vaultOn(backend, config).get('API_KEY'); } finally { await backend.close(); }
 */
export async function openBackend(
  config: EggConfig,
  identity: Identity,
  options: BackendOptions = {},
): Promise<Backend> {
  assertKeyringFits(config);
  if (config.backend === 'api')
    throw new EggError(
      'ERR_USAGE',
      'this needs a vault of its own, and the api backend keeps the vault on the API’s server',
      { hint: 'use --backend local or aws for it' },
    );
  if (config.backend === 'local') return openLocalBackend(config.home, options, identity);
  const { openAwsBackend } = await import('./aws.js');
  return openAwsBackend(config, identity, options);
}

/** The vault of `config.namespace` on `backend`, acting as the backend's identity. */
export function vaultOn(backend: Backend, config: EggConfig, logger: Logger = nullLogger): Vault {
  return new Vault({
    store: backend.store,
    keyring: backend.keyring,
    sealing: backend.sealing,
    namespace: config.namespace,
    actor: backend.actor,
    logger,
    rotation: config.rotation,
  });
}

/**
 * Minting, listing and revocation for `namespace` on `backend`. The signing key is opened
 * (and, locally, created) only when a token is minted.
 */
export async function tokensOn(backend: Backend, namespace: string): Promise<Tokens> {
  // Loaded here, not above: token verification brings jose, which no secrets command needs.
  const { Tokens } = await import('../tokens/tokens.js');
  let signer: Promise<TokenSigner> | undefined;
  const open = () => (signer ??= backend.signer({ create: true }));
  return new Tokens({
    namespace,
    signer: {
      kind: backend.kind === 'local' ? 'local' : 'kms',
      kid: async () => (await open()).kid(),
      sign: async (data) => (await open()).sign(data),
      publicKey: async () => (await open()).publicKey(),
      close: () => {},
    },
    tokens: await backend.tokenStore(),
    secrets: backend.store,
    actor: backend.actor,
  });
}

/**
 * The anchor key's signer for `vault`'s checkpoints on `backend`: `EGG_HOME/anchor-key`, or
 * the KMS key `EGG_ANCHOR_KEY_ID`. The local key is created only for a trail with no
 * checkpoint yet: a new key over existing checkpoints would orphan them. `ERR_INVALID_CONFIG`
 * with `hint` when no anchor key is set.
 */
export async function anchorOn(backend: Backend, vault: Vault, hint: string): Promise<TokenSigner> {
  const signer = await backend.anchorSigner({
    create: backend.kind === 'local' && (await vault.checkpoints({ latest: true })).length === 0,
  });
  if (signer === undefined)
    throw new EggError('ERR_INVALID_CONFIG', 'no anchor key is set to sign audit checkpoints with', { hint });
  return signer;
}

/** A vault on a backend opened for it; `close()` closes the backend. */
export async function openVault(
  config: EggConfig,
  identity: Identity,
  options: BackendOptions = {},
): Promise<{ vault: Vault; close: () => Promise<void> }> {
  const backend = await openBackend(config, identity, options);
  return { vault: vaultOn(backend, config, options.logger), close: () => backend.close() };
}

/** `tokensOn` a backend opened for it; `close()` closes the backend. */
export async function openTokens(
  config: EggConfig,
  identity: Identity,
  options: BackendOptions = {},
): Promise<{ tokens: Tokens; close: () => Promise<void> }> {
  const backend = await openBackend(config, identity, options);
  try {
    return { tokens: await tokensOn(backend, config.namespace), close: () => backend.close() };
  } catch (error) {
    await backend.close();
    throw error;
  }
}

/**
 * The backend's usage store (usage counters, throttles, alert channels and alerts): its
 * token store, SQLite or DynamoDB.
 */
export async function usageOn(backend: Backend): Promise<UsageStore> {
  const store = await backend.tokenStore();
  if (!isUsageStore(store)) throw new TypeError(`the ${store.kind} token store keeps no usage`);
  return store;
}

/** Alert channels and alerts of the backend (alerts/alerts.ts), acting as its actor. */
export async function alertsOn(backend: Backend, logger: Logger = nullLogger): Promise<Alerts> {
  const [{ Alerts }, { WebhookSender }] = await Promise.all([
    import('../alerts/alerts.js'),
    import('../alerts/webhook.js'),
  ]);
  return new Alerts({
    store: await usageOn(backend),
    keyring: backend.keyring,
    audit: backend.store,
    actor: backend.actor,
    // Commands wait for their deliveries (`egg alerts test`): three attempts, not six.
    sender: new WebhookSender({ logger, attempts: 3 }),
    ...(backend.alertPublisher === undefined ? {} : { aws: await backend.alertPublisher() }),
    logger,
  });
}
