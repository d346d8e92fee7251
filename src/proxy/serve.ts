/**
 * `egg proxy serve`: builds the proxy from configuration and one identity (one backend: the
 * vault's store and keyring for provider keys, the token store for revocation and spend,
 * the signer's public key for verification, every AWS call signed alike) and listens. Request lines go to `log` (stdout in the CLI);
 * operational events to `logger` (stderr).
 *
 * On the local backend the stores are SQLite connections on `vault.db`, opened so that a
 * locked vault never holds the event loop: the token store waits for a lock on a timer
 * (`lockWaitMs`), the vault's store for a few ms at most. A vault this process cannot
 * write is not opened at all: the proxy starts, answers 503 and says why (sqlite-file.ts).
 */
import type { KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { EggConfig } from '../config.js';
import { StoreUnusable } from '../errors.js';
import type { Backend, Identity } from '../backends/backend.js';
import { openLocalSigner, VAULT_FILE } from '../backends/local.js';
import { openBackend } from '../backends/open-backend.js';
import { type Logger, nullLogger } from '../log.js';
import { readOnlyReason } from '../stores/sqlite-file.js';
import type { TokenStore } from '../tokens/token-store.js';
import { TokenVerifier } from '../tokens/verifier.js';
import { Vault } from '../vault/vault.js';
import { type KeySource, ProviderKeys } from './provider-keys.js';
import { Alerts } from '../alerts/alerts.js';
import { WebhookSender } from '../alerts/webhook.js';
import { isUsageStore } from '../tokens/usage-store.js';
import { ClientLimits } from './client-limits.js';
import { RateLimiter } from './rate.js';
import { UsageMeter } from './usage-meter.js';
import { RevocationWatcher } from './revocation.js';
import { createProxyServer } from './server.js';
import { readTlsFiles, type TlsFiles } from './tls.js';

/** The local vault's busy timeout in the proxy: the longest a provider-key read may block. */
const VAULT_BUSY_MS = 5;

export interface ServeOptions {
  host?: string;
  port?: number;
  /** One JSON line per request. */
  log: (line: string) => void;
  logger?: Logger;
  /** How long one vault read of a provider key serves requests (0: read the vault on every request). */
  keyTtlMs?: number;
  /** Keep the decrypted key for `keyTtlMs` (the opt-in `--key-cache`) rather than sealed. */
  plaintextKeys?: boolean;
  /** Local vault: how long a request waits for another process's lock before 503 (default 500 ms). */
  lockWaitMs?: number;
  pollMs?: number;
  maxStaleMs?: number;
  upstreamTimeoutMs?: number;
  /** On close, how long requests in flight may take before their connections are cut (default 2 s). */
  graceMs?: number;
  /** Count usage and run the anomaly rules where the store keeps usage (default true). */
  usage?: boolean;
  /** Serve HTTPS with these files (tls.ts); plain HTTP without. */
  tls?: TlsFiles;
}

export interface RunningProxy {
  url: string;
  close(): Promise<void>;
}

/**
 * Open the backend as `identity` (its actor is the proxy's in the audit trail) and listen.
 * A local vault this process cannot write is not opened: the proxy answers 503 and says why.
 */
export async function serveProxy(
  config: EggConfig,
  identity: Identity,
  options: ServeOptions,
): Promise<RunningProxy> {
  const logger = options.logger ?? nullLogger;
  // Checked before anything is opened: a bad file is one sentence naming it.
  const tls = options.tls === undefined ? undefined : readTlsFiles(options.tls);
  const readOnly = config.backend === 'local' ? readOnlyReason(join(config.home, VAULT_FILE)) : undefined;
  let publicKey: KeyObject;
  let state: ProxyState;
  if (readOnly === undefined) {
    state = await openState(config, identity, options, logger);
    try {
      publicKey = await (await state.backend!.signer()).publicKey();
    } catch (error) {
      await state.close();
      throw error;
    }
  } else {
    publicKey = await openLocalSigner(config.home, false).publicKey();
    state = closedState(
      new StoreUnusable(
        `${readOnly}: the proxy cannot reserve spend in vault.db, nor share its WAL index (vault.db-shm) safely with other processes`,
        `give this user write access again (chmod 700 ${config.home}; chmod 600 ${join(config.home, VAULT_FILE)}*), then restart the proxy`,
      ),
    );
  }
  const revocations = new RevocationWatcher({
    store: state.tokens,
    logger,
    ...(options.pollMs === undefined ? {} : { intervalMs: options.pollMs }),
    ...(options.maxStaleMs === undefined ? {} : { maxStaleMs: options.maxStaleMs }),
  });
  if (state.unusable === undefined) revocations.start();
  else revocations.failClosed(state.unusable);
  state.usage?.start();
  const proxyOptions = {
    ...(state.usage === undefined ? {} : { usage: state.usage }),
    ...(state.clients === undefined ? {} : { clients: state.clients }),
    verifier: new TokenVerifier({ publicKey }),
    revocations,
    rate: new RateLimiter(),
    spend: state.tokens,
    keys: state.keys,
    log: options.log,
    logger,
    ...(options.upstreamTimeoutMs === undefined ? {} : { upstreamTimeoutMs: options.upstreamTimeoutMs }),
  };
  const server = tls === undefined ? createProxyServer(proxyOptions) : createProxyServer(proxyOptions, tls);
  // OpenSSL holds its own copy of the key now.
  tls?.key.fill(0);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8787, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://${host}:${address.port}`,
    close: async () => {
      revocations.close();
      // Let requests in flight finish for a moment (a long SSE stream is cut after it). Cut
      // connections take their upstream requests with them, and the server's close destroys
      // the upstream pools (server.ts).
      const cut = setTimeout(() => server.closeAllConnections(), options.graceMs ?? 2000);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      clearTimeout(cut);
      await state.close();
    },
  };
}

/** What the proxy reads and writes: revocation and spend, and the provider keys. */
interface ProxyState {
  /** The backend everything was opened on (none when the store could not be opened safely). */
  backend?: Backend;
  tokens: Pick<
    TokenStore,
    'revocationVersion' | 'revocationState' | 'accountRevocation' | 'reserveSpend' | 'adjustSpend'
  >;
  keys: KeySource;
  /** Usage counting, anomaly rules and alerts, where the store keeps usage (SQLite). */
  usage?: UsageMeter;
  /** Tokens' client limits (client-limits.ts), shared through `usage` when there is one. */
  clients?: ClientLimits;
  /** Set when the store could not be opened safely: every request is refused. */
  unusable?: StoreUnusable;
  close(): Promise<void>;
}

async function openState(
  config: EggConfig,
  identity: Identity,
  options: ServeOptions,
  logger: Logger,
): Promise<ProxyState> {
  const backend = await openBackend(config, identity, {
    logger,
    busyTimeoutMs: VAULT_BUSY_MS,
    lockWaitMs: options.lockWaitMs ?? 500,
  });
  let tokens: TokenStore;
  try {
    tokens = await backend.tokenStore();
  } catch (error) {
    await backend.close();
    throw error;
  }
  const vaults = new Map<string, Vault>();
  const keys = new ProviderKeys({
    vault: (namespace) => {
      let vault = vaults.get(namespace);
      if (vault === undefined) {
        vault = new Vault({
          store: backend.store,
          keyring: backend.keyring,
          sealing: backend.sealing,
          namespace,
          actor: backend.actor,
          logger,
          rotation: config.rotation,
        });
        vaults.set(namespace, vault);
      }
      return vault;
    },
    ...(options.keyTtlMs === undefined ? {} : { ttlMs: options.keyTtlMs }),
    ...(options.plaintextKeys === undefined ? {} : { plaintext: options.plaintextKeys }),
  });
  const aws = options.usage !== false ? await backend.alertPublisher?.() : undefined;
  const clients = new ClientLimits();
  const usage =
    options.usage !== false && isUsageStore(tokens)
      ? new UsageMeter({
          store: tokens,
          clients,
          alerts: new Alerts({
            store: tokens,
            keyring: backend.keyring,
            audit: backend.store,
            actor: backend.actor,
            sender: new WebhookSender({ logger }),
            ...(aws === undefined ? {} : { aws }),
            logger,
          }),
          logger,
        })
      : undefined;
  return {
    backend,
    tokens,
    keys,
    ...(usage === undefined ? {} : { usage }),
    clients,
    close: async () => {
      // What was counted since the last batch goes to the store before it closes.
      await usage?.close();
      keys.close();
      await backend.close();
    },
  };
}

/** Nothing opened: every read fails with `error` (the watcher refuses before any is made). */
function closedState(error: StoreUnusable): ProxyState {
  const fail = () => {
    throw error;
  };
  return {
    tokens: {
      revocationVersion: async () => fail(),
      revocationState: async () => fail(),
      accountRevocation: async () => fail(),
      reserveSpend: fail,
      adjustSpend: async () => fail(),
    },
    keys: { lease: fail, close: () => {} },
    unusable: error,
    close: async () => {},
  };
}
