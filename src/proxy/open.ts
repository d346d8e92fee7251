/**
 * `egg proxy serve`: builds the proxy from configuration (the vault's store and keyring
 * for provider keys, the token store for revocation and spend, the signer's public key
 * for verification) and listens. Request lines go to `log` (stdout in the CLI);
 * operational events to `logger` (stderr).
 */
import type { AddressInfo } from 'node:net';
import type { EggConfig } from '../config.js';
import { type Logger, nullLogger } from '../log.js';
import { openBackend } from '../open.js';
import { openSigner, openTokenStore } from '../tokens/open.js';
import { TokenVerifier } from '../tokens/verifier.js';
import { Vault } from '../vault/vault.js';
import { ProviderKeys } from './provider-keys.js';
import { RateLimiter } from './rate.js';
import { RevocationWatcher } from './revocation.js';
import { createProxyServer } from './server.js';
import { readTlsFiles, type TlsFiles } from './tls.js';

export interface ServeOptions {
  host?: string;
  port?: number;
  /** One JSON line per request. */
  log: (line: string) => void;
  logger?: Logger;
  /** How long a decrypted provider key is kept (0: read the vault on every request). */
  keyTtlMs?: number;
  pollMs?: number;
  maxStaleMs?: number;
  upstreamTimeoutMs?: number;
  actor?: string;
  /** On close, how long requests in flight may take before their connections are cut (default 2 s). */
  graceMs?: number;
  /** Serve HTTPS with these files (tls.ts); plain HTTP without. */
  tls?: TlsFiles;
}

export interface RunningProxy {
  url: string;
  close(): Promise<void>;
}

export async function serveProxy(config: EggConfig, options: ServeOptions): Promise<RunningProxy> {
  const logger = options.logger ?? nullLogger;
  // Checked before anything is opened: a bad file is one sentence naming it.
  const tls = options.tls === undefined ? undefined : readTlsFiles(options.tls);
  const signer = await openSigner(config, { logger });
  let publicKey: Awaited<ReturnType<typeof signer.publicKey>>;
  try {
    publicKey = await signer.publicKey();
  } finally {
    signer.close();
  }
  const [backend, tokens] = await Promise.all([
    openBackend(config, { logger }),
    openTokenStore(config, { logger }),
  ]);
  const actor = options.actor ?? 'proxy';
  const vaults = new Map<string, Vault>();
  const keys = new ProviderKeys({
    store: backend.store,
    vault: (namespace) => {
      let vault = vaults.get(namespace);
      if (vault === undefined) {
        vault = new Vault({ ...backend, namespace, actor, logger, rotation: config.rotation });
        vaults.set(namespace, vault);
      }
      return vault;
    },
    ...(options.keyTtlMs === undefined ? {} : { ttlMs: options.keyTtlMs }),
  });
  const revocations = new RevocationWatcher({
    store: tokens,
    logger,
    ...(options.pollMs === undefined ? {} : { intervalMs: options.pollMs }),
    ...(options.maxStaleMs === undefined ? {} : { maxStaleMs: options.maxStaleMs }),
  });
  revocations.start();
  const proxyOptions = {
    verifier: new TokenVerifier({ publicKey }),
    revocations,
    rate: new RateLimiter(),
    spend: tokens,
    keys,
    log: options.log,
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
      keys.close();
      backend.keyring.close();
      await Promise.all([backend.store.close(), tokens.close()]);
    },
  };
}
