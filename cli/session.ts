/**
 * `openSession`, for the CLI's commands: the configured namespace's vault, tokens, alerts,
 * rule settings and namespaces wherever the vault is. Here, above all of src/, because it
 * joins the composition root (src/backends/open-backend.ts) with edges beside which the root
 * sits below: the API's remote vault (src/api/remote.ts), the rotator's anchor key and the
 * proxy's anomaly rule settings.
 */
import type { AlertsPort, RuleSettingsPort, VaultSession } from '../src/backends/vault-port.js';
import type { Backend, BackendOptions, Identity } from '../src/backends/backend.js';
import { alertsOn, anchorOn, openBackend, tokensOn, usageOn, vaultOn } from '../src/backends/open-backend.js';
import type { EggConfig } from '../src/config.js';
import type { Logger } from '../src/log.js';

/** What to do when no anchor key is set on this side (the direct mode's). */
export const ANCHOR_HINT =
  "set EGG_ANCHOR_KEY_ID to the stack's AnchorKeyArn output; only a role allowed kms:Sign on it (the rotator's) can sign";

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
    checkpoint: async () => vault.checkpoint(await anchorOn(backend, vault, ANCHOR_HINT)),
    alerts: () => localAlerts(backend, config.namespace, options.logger),
    ruleSettings: () => ruleSettingsOn(backend, config.namespace),
    close: () => backend.close(),
  };
}

/** The alerts of `namespace` on `backend`, acting as its actor. */
async function localAlerts(backend: Backend, namespace: string, logger?: Logger): Promise<AlertsPort> {
  const alerts = await alertsOn(backend, logger);
  return {
    addWebhook: (url, shape) => alerts.addWebhook(namespace, url, shape),
    addSnsTopic: (arn) => alerts.addSnsTopic(namespace, arn),
    addEventBus: (bus) => alerts.addEventBus(namespace, bus),
    removeChannel: (id) => alerts.removeChannel(namespace, id),
    list: (limit) => alerts.list(namespace, limit),
    test: () => alerts.test(namespace),
  };
}

/** The anomaly rule settings of `namespace` on `backend`, changed as its actor. */
async function ruleSettingsOn(backend: Backend, namespace: string): Promise<RuleSettingsPort> {
  const { AnomalyRuleSettings, assertRuleTarget } = await import('../src/proxy/rule-settings.js');
  const settings = new AnomalyRuleSettings({
    store: await usageOn(backend),
    audit: backend.store,
    actor: backend.actor,
  });
  return {
    list: () => settings.list(namespace),
    change: (rule, change) => settings.change(namespace, assertRuleTarget(rule), change),
  };
}
