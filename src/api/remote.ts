/**
 * The api backend's side of the vault port (src/backends/vault-port.ts): a namespace's vault
 * and tokens on the API's server, each method one call (docs/service.md). Values travel in
 * base64 and are wiped here as they are in the library: a value read is the caller's to wipe,
 * the JSON that carried it is dropped at once. The server audits every call; nothing here
 * writes a record, and nothing here opens a store or a keyring.
 */
import type { EggConfig } from '../config.js';
import { closest } from '../closest.js';
import type { SealingPublicKey } from '../crypto/seal.js';
import { EggError, isEggError } from '../errors.js';
import type { AuditCheckpoint, AuditRecord } from '../stores/store.js';
import type {
  MintedToken,
  MintInput,
  RotatedToken,
  TokenListEntry,
  TokenUsageReport,
} from '../tokens/tokens.js';
import type { WebhookShape } from '../alerts/alerts.js';
import { newWebhookSecret } from '../alerts/channel-secret.js';
import { wipe } from '../crypto/wipe.js';
import type {
  AlertChannelView,
  AlertsPort,
  NamespaceSummary,
  RuleSettingsView,
  RevokeResult,
  SealingPort,
  TokensPort,
  VaultPort,
  VaultSession,
} from '../backends/vault-port.js';
import type { TrailVerdict } from '../vault/anchor.js';
import type {
  ImportEntry,
  ImportPlan,
  PulledSecret,
  PullResult,
  SecretMeta,
  SecretVersion,
  SetOptions,
} from '../vault/vault.js';
import { ApiClient, namespacePath } from './client.js';
import { MAX_BODY_BYTES } from './routes.js';

/** A secret as the API sends it: its value in base64. */
type SecretJson = Omit<PulledSecret, 'value'> & { value: string };

/** The session of the api backend: the configured namespace on the API at `config.apiUrl`. */
export async function openApiSession(config: EggConfig): Promise<VaultSession> {
  const client = await ApiClient.connect(config);
  const namespace = new RemoteNamespace(client, config.namespace);
  return {
    kind: 'api',
    vault: new ApiVault(namespace),
    sealing: new ApiSealing(namespace),
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

  /**
   * A write that, on a namespace that does not exist, claims it and is sent again, as the
   * local vault makes one. A namespace that exists and is not the caller's is refused as a
   * missing one, never as taken.
   */
  async write(method: string, tail: string, body?: unknown): Promise<unknown> {
    try {
      return await this.call(method, tail, body);
    } catch (error) {
      if (!isEggError(error) || error.code !== 'ERR_NAMESPACE_NOT_FOUND') throw error;
      if (!(await this.create())) throw error;
      return await this.call(method, tail, body);
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

  /** Store a value; the first write to a namespace that does not exist claims it. */
  async set(name: string, value: Uint8Array, options: SetOptions = {}): Promise<SecretMeta> {
    const body = { value: Buffer.from(value).toString('base64'), ...options };
    try {
      return (await this.#ns.write('PUT', `/secrets/${encodeURIComponent(name)}`, body)) as SecretMeta;
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

  async rollback(name: string, rev: number): Promise<SecretMeta> {
    return (await this.#ns.call('POST', `/secrets/${encodeURIComponent(name)}/rollback`, {
      rev,
    })) as SecretMeta;
  }

  /**
   * Every entry or none, in one request: an import larger than the API takes in one body is
   * refused here, before anything is sent, never split (a split import could stop half-done).
   * A real one claims a namespace that does not exist, as `set` does; a dry run does not.
   */
  async import(entries: readonly ImportEntry[], options: { dryRun?: boolean } = {}): Promise<ImportPlan> {
    const secrets = entries.map(({ name, value }) => ({
      name,
      value: Buffer.from(value).toString('base64'),
    }));
    const dryRun = options.dryRun === true;
    const body = { secrets, dryRun };
    try {
      const bytes = Buffer.byteLength(JSON.stringify(body));
      if (bytes > MAX_BODY_BYTES)
        throw new EggError(
          'ERR_USAGE',
          `the import is ${bytes} bytes as the API's JSON, more than the ${MAX_BODY_BYTES} it takes in one request; nothing was imported`,
          { hint: 'split the file into smaller imports (each one is all or nothing)' },
        );
      return (await (dryRun
        ? this.#ns.call('POST', '/import', body)
        : this.#ns.write('POST', '/import', body))) as ImportPlan;
    } finally {
      for (const secret of secrets) secret.value = '';
    }
  }

  async versionsKept(): Promise<number> {
    return ((await this.#ns.call('GET', '/keep')) as { versionsKept: number }).versionsKept;
  }

  async setVersionsKept(count: number): Promise<void> {
    await this.#ns.call('POST', '/keep', { count });
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

  async killSwitch(): Promise<{ notBefore: string }> {
    return (await this.#ns.call('POST', '/tokens/killswitch')) as { notBefore: string };
  }

  async usage(ids: readonly string[], sinceSeconds: number): Promise<TokenUsageReport> {
    const query = ids.length === 0 ? '' : `&ids=${ids.map(encodeURIComponent).join(',')}`;
    return (await this.#ns.call('GET', `/tokens/usage?since=${sinceSeconds}${query}`)) as TokenUsageReport;
  }

  async unthrottle(ids: readonly string[]): Promise<string[]> {
    return ((await this.#ns.call('POST', '/tokens/unthrottle', { ids })) as { lifted: string[] }).lifted;
  }
}

/** Sealed provider keys on the API: the key is sealed in this process, and only the blob is sent. */
export class ApiSealing implements SealingPort {
  readonly #ns: RemoteNamespace;

  constructor(namespace: RemoteNamespace) {
    this.#ns = namespace;
  }

  /** With `create` (a key about to be sealed and stored), a namespace that does not exist is claimed, as a write claims it. */
  async publicKey(options: { create?: boolean } = {}): Promise<SealingPublicKey> {
    const answer =
      options.create === true ? this.#ns.write('GET', '/sealing-key') : this.#ns.call('GET', '/sealing-key');
    return (await answer) as SealingPublicKey;
  }

  async put(input: {
    name: string;
    sealed: unknown;
    upstream: string;
    inject?: string | undefined;
  }): Promise<SecretMeta> {
    const { name, ...body } = input;
    return (await this.#ns.write('POST', `/secrets/${encodeURIComponent(name)}/seal`, body)) as SecretMeta;
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
