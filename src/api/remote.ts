/**
 * The api backend's side of the vault port (src/backends/vault-port.ts): a namespace's vault
 * and tokens on the API's server, each method one call (docs/service.md). Values travel in
 * base64 and are wiped here as they are in the library: a value read is the caller's to wipe,
 * the JSON that carried it is dropped at once. The server audits every call; nothing here
 * writes a record, and nothing here opens a store or a keyring.
 */
import type { EggConfig } from '../config.js';
import { closest } from '../closest.js';
import { EggError, isEggError } from '../errors.js';
import type { AuditCheckpoint, AuditRecord } from '../stores/store.js';
import type { MintedToken, MintInput, RotatedToken, TokenListEntry } from '../tokens/tokens.js';
import type { WebhookShape } from '../alerts/alerts.js';
import { newWebhookSecret } from '../alerts/channel-secret.js';
import { wipe } from '../crypto/wipe.js';
import type {
  AlertChannelView,
  AlertsPort,
  NamespaceSummary,
  RuleSettingsView,
  RevokeResult,
  TokensPort,
  VaultPort,
  VaultSession,
} from '../backends/vault-port.js';
import type { TrailVerdict } from '../vault/anchor.js';
import type { PulledSecret, PullResult, SecretMeta, SecretVersion, SetOptions } from '../vault/vault.js';
import { ApiClient, namespacePath } from './client.js';

/** A secret as the API sends it: its value in base64. */
type SecretJson = Omit<PulledSecret, 'value'> & { value: string };

/** The session of the api backend: the configured namespace on the API at `config.apiUrl`. */
export async function openApiSession(config: EggConfig): Promise<VaultSession> {
  const client = await ApiClient.connect(config);
  const namespace = new RemoteNamespace(client, config.namespace);
  return {
    kind: 'api',
    vault: new ApiVault(namespace),
    tokens: async () => new ApiTokens(namespace),
    namespaces: () => listNamespaces(client),
    verifyAudit: async () => (await namespace.call('GET', '/audit/verify')) as TrailVerdict,
    checkpoint: async () => {
      const answer = (await namespace.call('POST', '/audit/checkpoint')) as
        (AuditCheckpoint & { created: boolean }) | { created: false; empty: true };
      if ('empty' in answer) return undefined;
      const { created, ...checkpoint } = answer;
      return { checkpoint, created };
    },
    alerts: async () => new ApiAlerts(namespace),
    ruleSettings: async () => ({
      list: async () =>
        ((await namespace.call('GET', '/alerts/rules')) as { rules: RuleSettingsView[] }).rules,
      change: async (rule, change) =>
        (
          (await namespace.call('POST', '/alerts/rules', { rule, ...change })) as {
            rules: RuleSettingsView[];
          }
        ).rules,
    }),
    close: async () => {},
  };
}

async function listNamespaces(client: ApiClient): Promise<NamespaceSummary[]> {
  const { namespaces } = (await client.request('GET', '/v1/namespaces')) as {
    namespaces: NamespaceSummary[];
  };
  return namespaces;
}

/** The vault of `namespace` on the API at `url` (checked by the caller) with the bearer `token`: the Action's. */
export function apiVault(url: string, token: string, namespace: string): ApiVault {
  return new ApiVault(new RemoteNamespace(new ApiClient(url, token), namespace));
}

/** The tokens of `namespace` on the API at `url` (checked by the caller) with the bearer `token`: the Action's. */
export function apiTokens(url: string, token: string, namespace: string): ApiTokens {
  return new ApiTokens(new RemoteNamespace(new ApiClient(url, token), namespace));
}

/** Calls on one namespace; a namespace the caller cannot see gets the hint of a close one it can. */
class RemoteNamespace {
  constructor(
    readonly client: ApiClient,
    readonly namespace: string,
  ) {}

  async call(method: string, tail: string, body?: unknown): Promise<unknown> {
    try {
      return await this.client.request(method, `${namespacePath(this.namespace)}${tail}`, body);
    } catch (error) {
      throw await this.#withSuggestion(error);
    }
  }

  /** Claim the namespace (its owner is the caller); false when it is taken. */
  async create(): Promise<boolean> {
    try {
      await this.client.request('PUT', namespacePath(this.namespace));
      return true;
    } catch (error) {
      if (isEggError(error) && error.code === 'ERR_CONFLICT') return false;
      throw error;
    }
  }

  async #withSuggestion(error: unknown): Promise<unknown> {
    if (!isEggError(error) || error.code !== 'ERR_NAMESPACE_NOT_FOUND') return error;
    const mine = await listNamespaces(this.client).catch(() => []);
    const near = closest(
      this.namespace,
      mine.map((n) => n.namespace),
    );
    if (near === undefined) return error;
    return new EggError(error.code, error.message, { cause: error, hint: `did you mean ${near}?` });
  }
}

export class ApiVault implements VaultPort {
  readonly #ns: RemoteNamespace;

  constructor(namespace: RemoteNamespace) {
    this.#ns = namespace;
  }

  /**
   * Store a value; the first write to a namespace that does not exist claims it, as the
   * local vault makes one. A namespace that exists and is not the caller's is refused as a
   * missing one, never as taken.
   */
  async set(name: string, value: Uint8Array, options: SetOptions = {}): Promise<SecretMeta> {
    const body = { value: Buffer.from(value).toString('base64'), ...options };
    const path = `/secrets/${encodeURIComponent(name)}`;
    try {
      return (await this.#ns.call('PUT', path, body)) as SecretMeta;
    } catch (error) {
      if (!isEggError(error) || error.code !== 'ERR_NAMESPACE_NOT_FOUND') throw error;
      if (!(await this.#ns.create())) throw error;
      return (await this.#ns.call('PUT', path, body)) as SecretMeta;
    } finally {
      body.value = '';
    }
  }

  async get(name: string): Promise<PulledSecret> {
    return pulled((await this.#ns.call('GET', `/secrets/${encodeURIComponent(name)}`)) as SecretJson);
  }

  async getVersion(name: string, rev: number): Promise<PulledSecret> {
    const path = `/secrets/${encodeURIComponent(name)}?rev=${rev}`;
    return pulled((await this.#ns.call('GET', path)) as SecretJson);
  }

  async list(): Promise<SecretMeta[]> {
    return ((await this.#ns.call('GET', '/secrets')) as { secrets: SecretMeta[] }).secrets;
  }

  async remove(name: string): Promise<void> {
    await this.#ns.call('DELETE', `/secrets/${encodeURIComponent(name)}`);
  }

  async pull(names?: readonly string[]): Promise<PullResult> {
    const answer = (await this.#ns.call('POST', '/pull', names === undefined ? {} : { names })) as Omit<
      PullResult,
      'secrets'
    > & { secrets: SecretJson[] };
    return { ...answer, secrets: answer.secrets.map(pulled) };
  }

  async history(name: string): Promise<SecretVersion[]> {
    const path = `/secrets/${encodeURIComponent(name)}/history`;
    return ((await this.#ns.call('GET', path)) as { versions: SecretVersion[] }).versions;
  }

  async auditTrail(): Promise<AuditRecord[]> {
    return ((await this.#ns.call('GET', '/audit')) as { records: AuditRecord[] }).records;
  }
}

export class ApiTokens implements TokensPort {
  readonly #ns: RemoteNamespace;

  constructor(namespace: RemoteNamespace) {
    this.#ns = namespace;
  }

  async mint(input: MintInput): Promise<MintedToken> {
    return (await this.#ns.call('POST', '/tokens', input)) as MintedToken;
  }

  async list(): Promise<TokenListEntry[]> {
    return ((await this.#ns.call('GET', '/tokens')) as { tokens: TokenListEntry[] }).tokens;
  }

  async revoke(ids: readonly string[], tags: Record<string, string>): Promise<RevokeResult> {
    return (await this.#ns.call('POST', '/tokens/revoke', { ids, tags })) as RevokeResult;
  }

  async rotate(id: string, graceSeconds: number): Promise<RotatedToken> {
    return (await this.#ns.call('POST', '/tokens/rotate', { id, graceSeconds })) as RotatedToken;
  }
}

/**
 * The alerts of a namespace on the API, which keeps the channels and delivers the alerts. A
 * webhook's secret is made here and sent once: the API seals it and never sends it back, so
 * no answer, and no log of one, ever holds it.
 */
class ApiAlerts implements AlertsPort {
  readonly #ns: RemoteNamespace;

  constructor(namespace: RemoteNamespace) {
    this.#ns = namespace;
  }

  async addWebhook(url: string, shape: WebhookShape): Promise<AlertChannelView & { secret: string }> {
    const secret = newWebhookSecret();
    const body = { webhook: url, shape, secret: secret.toString() };
    try {
      const channel = (await this.#ns.call('POST', '/alerts', body)) as AlertChannelView;
      return { ...channel, secret: body.secret };
    } finally {
      wipe(secret);
    }
  }

  async addSnsTopic(arn: string): Promise<AlertChannelView> {
    return (await this.#ns.call('POST', '/alerts', { snsTopic: arn })) as AlertChannelView;
  }

  async addEventBus(bus?: string): Promise<AlertChannelView> {
    const body = bus === undefined ? { eventBridge: true } : { eventBridge: true, eventBus: bus };
    return (await this.#ns.call('POST', '/alerts', body)) as AlertChannelView;
  }

  async removeChannel(id: string): Promise<{ id: string }> {
    return (await this.#ns.call('POST', '/alerts/remove', { id })) as { id: string };
  }

  async list(limit: number) {
    return (await this.#ns.call('GET', `/alerts?limit=${limit}`)) as Awaited<ReturnType<AlertsPort['list']>>;
  }

  async test() {
    return (
      (await this.#ns.call('POST', '/alerts/test')) as { results: Awaited<ReturnType<AlertsPort['test']>> }
    ).results;
  }
}

/** A secret from its JSON: the value decoded into a buffer the caller wipes. */
function pulled(json: SecretJson): PulledSecret {
  const { value, ...meta } = json;
  return { ...meta, value: Buffer.from(value, 'base64') };
}
