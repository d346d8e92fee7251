/**
 * An in-process proxy for tests, built from the library parts (as `serveProxy` builds
 * them) so a test can break the token store, read the request log, or run several
 * proxies on one store. Backends: the local SQLite vault, or DynamoDB Local with moto's
 * KMS for the vault and either the local signer or a KMS signer.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createDynamoDbClient } from '../../src/aws/clients.js';
import { openAwsBackend } from '../../src/backends/aws.js';
import type { EggConfig } from '../../src/config.js';
import { EggError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { openLocalBackend, VAULT_FILE } from '../../src/backends/local.js';
import { ProviderKeys } from '../../src/proxy/provider-keys.js';
import { Alerts } from '../../src/alerts/alerts.js';
import { WebhookSender } from '../../src/alerts/webhook.js';
import type { AnomalyRules } from '../../src/proxy/anomaly-rules.js';
import { RateLimiter } from '../../src/proxy/rate.js';
import { UsageMeter } from '../../src/proxy/usage-meter.js';
import { ClientLimits } from '../../src/proxy/client-limits.js';
import { isUsageStore } from '../../src/tokens/usage-store.js';
import { DEFAULT_POLL_MS, RevocationWatcher } from '../../src/proxy/revocation.js';
import { createProxyServer } from '../../src/proxy/server.js';
import type { SealingKey } from '../../src/keyrings/sealing.js';
import type { SecretStore } from '../../src/stores/store.js';
import { DynamoDbTokenStore } from '../../src/tokens/dynamodb-token-store.js';
import { LocalSigner, type TokenSigner } from '../../src/tokens/signer.js';
import { SqliteTokenStore } from '../../src/tokens/sqlite-token-store.js';
import type { TokenStore } from '../../src/tokens/token-store.js';
import { type MintInput, Tokens } from '../../src/tokens/tokens.js';
import { TokenVerifier } from '../../src/tokens/verifier.js';
import { Vault } from '../../src/vault/vault.js';
import { createTestKmsKey, createTestTable } from './aws.js';
import { type FakeUpstream, startFakeUpstream } from './fake-upstream.js';
import { send } from './proxy-http.js';

export const NAMESPACE = 'acme/web';
export const KEY_NAME = 'OPENAI_KEY';
export const APP_ORIGIN = 'https://app.example.com';

/** A token store whose every call fails while `down` is set (a lost network, a dead table). */
export class SwitchableTokenStore implements TokenStore {
  /** Every call fails. */
  down = false;
  /** Only the revocation polls fail (spend still works): the stale-state bound alone. */
  pollsDown = false;
  calls = 0;
  /** Spend reservations begun (each before it reaches the store). */
  spendCalls = 0;
  constructor(readonly inner: TokenStore) {}
  get kind() {
    return this.inner.kind;
  }
  #gate() {
    this.calls++;
    if (this.down) throw new EggError('ERR_STORE_UNAVAILABLE', 'the token store is down (test)');
  }
  putToken: TokenStore['putToken'] = async (...a) => (this.#gate(), this.inner.putToken(...a));
  listTokens: TokenStore['listTokens'] = async (...a) => (this.#gate(), this.inner.listTokens(...a));
  revoke: TokenStore['revoke'] = async (...a) => (this.#gate(), this.inner.revoke(...a));
  killSwitch: TokenStore['killSwitch'] = async (...a) => (this.#gate(), this.inner.killSwitch(...a));
  accountKillSwitch: TokenStore['accountKillSwitch'] = async (...a) => (
    this.#gate(),
    this.inner.accountKillSwitch(...a)
  );
  accountRevocation: TokenStore['accountRevocation'] = async () => (
    this.#poll(),
    this.inner.accountRevocation()
  );
  #poll() {
    this.#gate();
    if (this.pollsDown) throw new EggError('ERR_STORE_UNAVAILABLE', 'revocation state is unreachable (test)');
  }
  revocationVersion: TokenStore['revocationVersion'] = async (...a) => (
    this.#poll(),
    this.inner.revocationVersion(...a)
  );
  revocationState: TokenStore['revocationState'] = async (...a) => (
    this.#poll(),
    this.inner.revocationState(...a)
  );
  reserveSpend: TokenStore['reserveSpend'] = async (...a) => (
    this.spendCalls++,
    this.#gate(),
    this.inner.reserveSpend(...a)
  );
  adjustSpend: TokenStore['adjustSpend'] = async (...a) => (this.#gate(), this.inner.adjustSpend(...a));
  close = () => this.inner.close();
}

/** The shared data several proxies (and the minting side) use: one vault, one token store. */
export interface ProxyWorld {
  backend: 'sqlite' | 'dynamodb';
  /** The keyring of the vault (alert channel secrets are sealed with it). */
  keyring: import('../../src/keyrings/keyring.js').Keyring;
  /** SQLite: the vault file every connection opens. */
  vaultPath?: string;
  /** DynamoDB: the table and the vault's KMS key, for a process that opens the backend itself (the Action). */
  aws?: { table: string; kmsKeyId: string };
  /** The key that seals provider keys: the local key pair, or the `sealing` option's. */
  sealing: SealingKey;
  secrets: SecretStore;
  vault: Vault;
  /** Mints and revokes, as the CLI does. */
  tokens: Tokens;
  signer: TokenSigner;
  /** Opens another connection to the token store (another "process"). */
  openTokenStore(options?: { lockWaitMs?: number }): Promise<TokenStore>;
  newVault(namespace: string): Vault;
  /**
   * Mint a token for KEY_NAME bound to APP_ORIGIN. Minted `allowNoOrigin` unless `over` says
   * otherwise: most tests speak as a non-browser client and send no `Origin`; the origin tests
   * (proxy-origin.test.ts) mint web-only tokens explicitly.
   */
  mint(over?: Partial<MintInput>): Promise<string>;
  close(): Promise<void>;
}

export async function createWorld(
  backend: 'sqlite' | 'dynamodb',
  options: { signer?: TokenSigner; sealing?: SealingKey } = {},
): Promise<ProxyWorld> {
  const signer = options.signer ?? new LocalSigner(randomBytes(32));
  const cleanups: (() => Promise<void> | void)[] = [];
  let secrets: SecretStore;
  let keyring: import('../../src/keyrings/keyring.js').Keyring;
  let sealing: SealingKey;
  let openTokenStore: ProxyWorld['openTokenStore'];
  let vaultPath: string | undefined;
  let awsNames: ProxyWorld['aws'];
  if (backend === 'sqlite') {
    const base = mkdtempSync(join(tmpdir(), 'egg-proxy-'));
    vaultPath = join(base, 'home', VAULT_FILE);
    cleanups.push(() => rmSync(base, { recursive: true, force: true }));
    const local = openLocalBackend(join(base, 'home'), { create: true });
    secrets = local.store;
    keyring = local.keyring;
    sealing = local.sealing;
    cleanups.push(() => local.close());
    openTokenStore = async (options = {}) =>
      new SqliteTokenStore(join(base, 'home', VAULT_FILE), { lockWaitMs: 500, ...options });
  } else {
    const table = await createTestTable('egg-proxy');
    const kmsKeyId = await createTestKmsKey();
    const config: EggConfig = {
      backend: 'aws',
      home: '',
      namespace: NAMESPACE,
      keyring: 'kms',
      rotation: 'inline',
      table,
      kmsKeyId,
    };
    awsNames = { table, kmsKeyId };
    const aws = await openAwsBackend(config, { actor: 'test' });
    secrets = aws.store;
    keyring = aws.keyring;
    sealing = options.sealing ?? aws.sealing;
    cleanups.push(() => aws.close());
    // Each proxy a process of its own: its own client.
    openTokenStore = async () =>
      new DynamoDbTokenStore({ client: await createDynamoDbClient(), table, ownsClient: true });
  }
  const mintStore = await openTokenStore();
  const newVault = (namespace: string) =>
    new Vault({ store: secrets, keyring, sealing, namespace, actor: 'test' });
  const tokens = new Tokens({ namespace: NAMESPACE, signer, tokens: mintStore, secrets, actor: 'test' });
  return {
    backend,
    keyring,
    ...(vaultPath === undefined ? {} : { vaultPath }),
    ...(awsNames === undefined ? {} : { aws: awsNames }),
    sealing,
    secrets,
    vault: newVault(NAMESPACE),
    tokens,
    signer,
    openTokenStore,
    newVault,
    mint: async (over = {}) =>
      (
        await tokens.mint({
          key: KEY_NAME,
          origins: [APP_ORIGIN],
          allowNoOrigin: true,
          ttlSeconds: 600,
          rps: 1000,
          burst: 1000,
          spend: 1_000_000,
          ...over,
        })
      ).token,
    close: async () => {
      await mintStore.close();
      for (const cleanup of cleanups.reverse()) await cleanup();
    },
  };
}

export interface TestProxy {
  url: string;
  /** Usage counting, rules and alerts, when started with `usage`. */
  meter?: UsageMeter;
  alerts?: Alerts;
  sender?: WebhookSender;
  logs: string[];
  store: SwitchableTokenStore;
  watcher: RevocationWatcher;
  server: Server;
  close(): Promise<void>;
}

export async function startTestProxy(
  world: ProxyWorld,
  options: {
    pollMs?: number;
    maxStaleMs?: number;
    keyTtlMs?: number;
    upstreamTimeoutMs?: number;
    clock?: () => number;
    cacheSize?: number;
    /** SQLite: how long a request waits for another connection's lock. */
    lockWaitMs?: number;
    logger?: Logger;
    /** Count usage and run the anomaly rules (flushing every `flushMs`), alerting through `sender`. */
    usage?: {
      flushMs?: number;
      rules?: AnomalyRules;
      rulesRefreshMs?: number;
      sender?: WebhookSender;
      /** The meter's clock (the window a flush counts in): default `Date.now`. */
      clock?: () => number;
    };
  } = {},
): Promise<TestProxy> {
  const store = new SwitchableTokenStore(
    await world.openTokenStore(options.lockWaitMs === undefined ? {} : { lockWaitMs: options.lockWaitMs }),
  );
  const logs: string[] = [];
  const watcher = new RevocationWatcher({
    store,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    intervalMs: options.pollMs ?? DEFAULT_POLL_MS,
    ...(options.maxStaleMs === undefined ? {} : { maxStaleMs: options.maxStaleMs }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  watcher.start();
  const vaults = new Map<string, Vault>();
  const keys = new ProviderKeys({
    vault: (ns) => vaults.get(ns) ?? (vaults.set(ns, world.newVault(ns)).get(ns) as Vault),
    ...(options.keyTtlMs === undefined ? {} : { ttlMs: options.keyTtlMs }),
  });
  // The meter's clock when it has one: both must agree on the window.
  const clientClock = options.usage?.clock ?? options.clock;
  const clients = new ClientLimits(clientClock === undefined ? {} : { clock: clientClock });
  let meter: UsageMeter | undefined;
  let alerts: Alerts | undefined;
  const sender = options.usage?.sender ?? new WebhookSender({ backoffMs: 50 });
  if (options.usage !== undefined) {
    if (!isUsageStore(store.inner))
      throw new TypeError('usage counting needs a token store that keeps usage');
    alerts = new Alerts({
      store: store.inner,
      keyring: world.keyring,
      audit: world.secrets,
      actor: 'proxy',
      sender,
    });
    meter = new UsageMeter({
      store: store.inner,
      alerts,
      clients,
      ...(options.usage.flushMs === undefined ? {} : { flushMs: options.usage.flushMs }),
      ...(options.usage.rules === undefined ? {} : { rules: options.usage.rules }),
      ...(options.usage.rulesRefreshMs === undefined ? {} : { rulesRefreshMs: options.usage.rulesRefreshMs }),
      ...(options.usage.clock === undefined ? {} : { clock: options.usage.clock }),
    });
    meter.start();
  }
  const server = createProxyServer({
    ...(meter === undefined ? {} : { usage: meter }),
    clients,
    verifier: new TokenVerifier({
      publicKey: await world.signer.publicKey(),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.cacheSize === undefined ? {} : { cacheSize: options.cacheSize }),
    }),
    revocations: watcher,
    rate: new RateLimiter(options.clock === undefined ? {} : { clock: options.clock }),
    spend: store,
    keys,
    log: (line) => logs.push(line),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.upstreamTimeoutMs === undefined ? {} : { upstreamTimeoutMs: options.upstreamTimeoutMs }),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ...(meter === undefined ? {} : { meter, sender }),
    ...(alerts === undefined ? {} : { alerts }),
    logs,
    store,
    watcher,
    server,
    close: async () => {
      watcher.close();
      await meter?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      keys.close();
      await store.close();
    },
  };
}

/** What `useProxyRig` sets up: its fields are there from the calling describe's beforeAll on. */
export interface ProxyRig {
  upstream: FakeUpstream;
  world: ProxyWorld;
  proxy: TestProxy;
  /** The status of a request with `token`, sent from APP_ORIGIN. */
  call(token: string): Promise<number>;
  /** Move the proxy's clock `seconds` ahead, and let it read the store as of then (else its state is stale). */
  advance(seconds: number): Promise<void>;
}

/**
 * The set-up most proxy tests share, as hooks of the calling describe: a loopback upstream,
 * a world on `backend` whose KEY_NAME (the value `key`) is for that upstream, and one proxy
 * on the world, whose clock runs with the wall clock until `advance` moves it. `signer`
 * gives the key the proxy verifies with when it is not the world's own.
 */
export function useProxyRig(
  backend: 'sqlite' | 'dynamodb',
  key: string,
  options: { signer?: (world: ProxyWorld) => TokenSigner } = {},
): ProxyRig {
  /** How far ahead of the wall clock the proxy's clock runs. */
  let offsetMs = 0;
  const rig = {
    call: async (token: string) =>
      (await send(rig.proxy.url, { token, headers: { origin: APP_ORIGIN } })).status,
    advance: async (seconds: number) => {
      offsetMs += seconds * 1000;
      await rig.proxy.watcher.pollNow();
    },
  } as ProxyRig;
  beforeAll(async () => {
    rig.upstream = await startFakeUpstream();
    rig.world = await createWorld(backend);
    await rig.world.vault.set(KEY_NAME, Buffer.from(key), { upstream: rig.upstream.url });
    const signer = options.signer?.(rig.world) ?? rig.world.signer;
    rig.proxy = await startTestProxy({ ...rig.world, signer }, { clock: () => Date.now() + offsetMs });
  });
  afterAll(async () => {
    await rig.proxy?.close();
    await rig.world?.close();
    await rig.upstream?.close();
  });
  return rig;
}
