/**
 * `egg console`: opens the backend as the CLI does (one identity, the configured namespace),
 * listens on 127.0.0.1 only, and returns the one-time URL to print. The page's script and
 * style come from assets.ts, built into the bundle; nothing is fetched at run time.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Backend, Identity } from '../backends/backend.js';
import { openBackend, tokensOn, vaultOn } from '../backends/open-backend.js';
import { putSealedProviderKey, sealingPublicKey } from '../backends/sealed-keys.js';
import type { EggConfig } from '../config.js';
import { EggError } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import { readAnchorKey } from '../rotator/anchor-key.js';
import { isUsageStore } from '../tokens/usage-store.js';
import { ConsoleApi } from './api.js';
import { ConsoleGate } from './gate.js';
import { type ConsoleAssets, consoleHandler } from './server.js';

export interface ConsoleServeOptions {
  /** 0 for any free port. */
  port: number;
  logger?: Logger;
  /** The page's files; the bundled ones by default. */
  assets?: () => Promise<ConsoleAssets>;
}

export interface RunningConsole {
  /** `http://127.0.0.1:<port>/?secret=…`: print it once, open it once. */
  url: string;
  /** `http://127.0.0.1:<port>`. */
  origin: string;
  close(): Promise<void>;
}

export async function serveConsole(
  config: EggConfig,
  identity: Identity,
  options: ConsoleServeOptions,
): Promise<RunningConsole> {
  const logger = options.logger ?? nullLogger;
  const backend = await openBackend(config, identity, { logger });
  try {
    const api = await consoleApi(config, backend, logger);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new EggError(
            'ERR_CONFLICT',
            `cannot listen on 127.0.0.1:${options.port}: ${error.code ?? 'error'}`,
            {
              cause: error,
              hint: 'choose another --port, or 0 for any free one',
            },
          ),
        ),
      );
      server.listen({ port: options.port, host: '127.0.0.1', exclusive: true }, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const gate = new ConsoleGate(port);
    const assets = options.assets ?? (async () => (await import('./assets.js')).consoleAssets());
    server.on('request', consoleHandler({ gate, api, assets, logger }));
    return {
      url: gate.oneTimeUrl(),
      origin: `http://127.0.0.1:${port}`,
      close: async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await backend.close();
      },
    };
  } catch (error) {
    await backend.close();
    throw error;
  }
}

async function consoleApi(config: EggConfig, backend: Backend, logger: Logger): Promise<ConsoleApi> {
  const vault = vaultOn(backend, config, logger);
  const tokenStore = await backend.tokenStore();
  return new ConsoleApi({
    namespace: config.namespace,
    backend: backend.kind,
    actor: backend.actor,
    tokens: await tokensOn(backend, config.namespace),
    vault,
    usage: isUsageStore(tokenStore) ? tokenStore : undefined,
    verifyAudit: () => vault.verifyAudit({ anchorKey: () => readAnchorKey(backend) }),
    sealing: {
      publicKey: () => sealingPublicKey(backend, config.namespace),
      put: (input) => putSealedProviderKey(backend, { namespace: config.namespace, ...input }),
    },
  });
}
