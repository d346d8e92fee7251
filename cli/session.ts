/**
 * `openSession`, for the CLI's commands: the configured namespace's vault, tokens and
 * namespaces wherever the vault is. Here, above all of src/, because it joins the composition
 * root (src/backends/open-backend.ts) with two edges beside which the root sits below: the
 * API's remote vault (src/api/remote.ts) and the rotator's anchor key.
 */
import type { VaultSession } from '../src/backends/vault-port.js';
import type { BackendOptions, Identity } from '../src/backends/backend.js';
import { openBackend, tokensOn, vaultOn } from '../src/backends/open-backend.js';
import type { EggConfig } from '../src/config.js';

/**
 * The configured namespace's vault, tokens and namespaces for one command, wherever the vault
 * is: on the backend opened for `identity`, or, with the api backend, on the API's server
 * (the caller is then the bearer's subject, and `identity` is not used).
 */
export async function openSession(
  config: EggConfig,
  identity: Identity,
  options: BackendOptions = {},
): Promise<VaultSession> {
  if (config.backend === 'api') {
    const { openApiSession } = await import('../src/api/remote.js');
    return openApiSession(config);
  }
  const backend = await openBackend(config, identity, options);
  const vault = vaultOn(backend, config, options.logger);
  return {
    kind: backend.kind,
    vault,
    // Loaded on use: only `egg secrets seal` seals.
    sealing: {
      publicKey: async () =>
        (await import('../src/backends/sealed-keys.js')).sealingPublicKey(backend, config.namespace),
      put: async (input) =>
        (await import('../src/backends/sealed-keys.js')).putSealedProviderKey(backend, {
          namespace: config.namespace,
          ...input,
        }),
    },
    tokens: () => tokensOn(backend, config.namespace),
    namespaces: () => backend.store.listNamespaces(),
    verifyAudit: async () => {
      const { readAnchorKey } = await import('../src/rotator/anchor-key.js');
      return vault.verifyAudit({ anchorKey: () => readAnchorKey(backend) });
    },
    close: () => backend.close(),
  };
}
