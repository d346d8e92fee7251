/**
 * What the secrets, tokens, audit, alerts and namespaces commands ask of a vault, whichever backend
 * holds it: the `Vault` and `Tokens` of a local or aws backend satisfy these as they are, and
 * the api backend's remote ones (src/api/remote.ts) call the API for each. `openSession`
 * (cli/session.ts) chooses; a command never asks which backend it has. Types only.
 */
import type { WebhookShape } from '../alerts/alerts.js';
import type { Delivery } from '../alerts/webhook.js';
import type { BackendKind } from '../config.js';
import type { SealingPublicKey } from '../crypto/seal.js';
import type { AuditCheckpoint, AuditRecord } from '../stores/store.js';
import type { AlertRecord, ChannelKind } from '../tokens/usage-store.js';
import type {
  MintedToken,
  MintInput,
  RotatedToken,
  TokenListEntry,
  TokenUsageReport,
} from '../tokens/tokens.js';
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

/** One namespace's secrets, as the acting identity: every call audited where the vault is. */
export interface VaultPort {
  set(name: string, value: Uint8Array, options?: SetOptions): Promise<SecretMeta>;
  get(name: string): Promise<PulledSecret>;
  getVersion(name: string, rev: number): Promise<PulledSecret>;
  list(): Promise<SecretMeta[]>;
  remove(name: string): Promise<void>;
  /** The secrets read, and the read record the vault appended (the audit head the reader saw). */
  pull(names?: readonly string[]): Promise<PullResult>;
  history(name: string): Promise<SecretVersion[]>;
  /** Make rev `rev` of `name` current again, as a new rev. */
  rollback(name: string, rev: number): Promise<SecretMeta>;
  /** Store every entry or none; with `dryRun`, only say what would change. */
  import(entries: readonly ImportEntry[], options?: { dryRun?: boolean }): Promise<ImportPlan>;
  versionsKept(): Promise<number>;
  setVersionsKept(count: number): Promise<void>;
  auditTrail(): Promise<AuditRecord[]>;
}

/**
 * Sealed provider keys of one namespace (backends/sealed-keys.ts): the public key they are
 * sealed to, and the store of a sealed blob as it is (checked, never unsealed).
 */
export interface SealingPort {
  /** `create`: the key is wanted to seal a value now (a write), not only to be shown. */
  publicKey(options?: { create?: boolean }): Promise<SealingPublicKey>;
  put(input: {
    name: string;
    sealed: unknown;
    upstream: string;
    inject?: string | undefined;
  }): Promise<SecretMeta>;
}

/** One namespace's tokens: minted, listed, revoked, rotated, killed, and their usage and throttles. */
export interface TokensPort {
  mint(input: MintInput): Promise<MintedToken>;
  list(): Promise<TokenListEntry[]>;
  revoke(ids: readonly string[], tags: Record<string, string>): Promise<RevokeResult>;
  rotate(id: string, graceSeconds: number): Promise<RotatedToken>;
  /** Void every token of the namespace issued until now. */
  killSwitch(): Promise<{ notBefore: string }>;
  /** The usage of `ids` (every token with usage when empty) over the last `sinceSeconds`. */
  usage(ids: readonly string[], sinceSeconds: number): Promise<TokenUsageReport>;
  /** Lift the throttles of `ids`; the ids that had one in force. */
  unthrottle(ids: readonly string[]): Promise<string[]>;
}

export interface RevokeResult {
  revoked: string[];
  unknown: string[];
}

/** A namespace one can see: its secrets counted where the store is read directly, the caller's role in service mode. */
export interface NamespaceSummary {
  namespace: string;
  secrets?: number;
  role?: string;
}

/** An alert channel as listed or added: never its secret. */
export interface AlertChannelView {
  id: string;
  kind: ChannelKind;
  url: string;
}

/** One namespace's alert channels and alerts (src/alerts/alerts.ts). */
export interface AlertsPort {
  /** A webhook channel; its secret is returned this once (made here, on the api backend, and never sent back). */
  addWebhook(url: string, shape: WebhookShape): Promise<AlertChannelView & { secret: string }>;
  addSnsTopic(arn: string): Promise<AlertChannelView>;
  addEventBus(bus?: string): Promise<AlertChannelView>;
  removeChannel(id: string): Promise<{ id: string }>;
  list(
    limit: number,
  ): Promise<{ channels: (AlertChannelView & { createdAt: string })[]; alerts: AlertRecord[] }>;
  test(): Promise<{ channel: string; kind: ChannelKind; url: string; delivery: Delivery }[]>;
}

/** A rule as `egg alerts rules` shows it: src/proxy/rule-settings.ts `RuleView`, which this layer may not import. */
export interface RuleSettingsView {
  rule: string;
  on: boolean;
  settings: Record<string, { value: number; default: number }>;
}

/** A change to one rule: on, off, back to the defaults, and settings by name (checked where the rules are). */
export interface RuleSettingsChange {
  state?: 'on' | 'off' | 'reset';
  settings?: Record<string, number>;
}

/** One namespace's anomaly rule settings. */
export interface RuleSettingsPort {
  list(): Promise<RuleSettingsView[]>;
  change(rule: string, change: RuleSettingsChange): Promise<RuleSettingsView[]>;
}

/** The configured namespace's vault and tokens, for one command; `close()` when done. */
export interface VaultSession {
  readonly kind: BackendKind;
  readonly vault: VaultPort;
  readonly sealing: SealingPort;
  tokens(): Promise<TokensPort>;
  namespaces(): Promise<NamespaceSummary[]>;
  /** The trail's verdict, its checkpoints checked against the anchor key of wherever the vault is. */
  verifyAudit(): Promise<TrailVerdict>;
  /** Sign a checkpoint of the trail's head with the anchor key of wherever the vault is; undefined for an empty trail. */
  checkpoint(): Promise<{ checkpoint: AuditCheckpoint; created: boolean } | undefined>;
  alerts(): Promise<AlertsPort>;
  ruleSettings(): Promise<RuleSettingsPort>;
  close(): Promise<void>;
}
