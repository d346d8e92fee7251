/**
 * What the secrets, tokens, audit and namespaces commands ask of a vault, whichever backend
 * holds it: the `Vault` and `Tokens` of a local or aws backend satisfy these as they are, and
 * the api backend's remote ones (src/api/remote.ts) call the API for each. `openSession`
 * (cli/session.ts) chooses; a command never asks which backend it has. Types only.
 */
import type { BackendKind } from '../config.js';
import type { AuditRecord } from '../stores/store.js';
import type { MintedToken, MintInput, RotatedToken, TokenListEntry } from '../tokens/tokens.js';
import type { TrailVerdict } from '../vault/anchor.js';
import type { PulledSecret, PullResult, SecretMeta, SecretVersion, SetOptions } from '../vault/vault.js';

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
  auditTrail(): Promise<AuditRecord[]>;
}

/** One namespace's tokens: minted, listed, revoked and rotated. */
export interface TokensPort {
  mint(input: MintInput): Promise<MintedToken>;
  list(): Promise<TokenListEntry[]>;
  revoke(ids: readonly string[], tags: Record<string, string>): Promise<RevokeResult>;
  rotate(id: string, graceSeconds: number): Promise<RotatedToken>;
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

/** The configured namespace's vault and tokens, for one command; `close()` when done. */
export interface VaultSession {
  readonly kind: BackendKind;
  readonly vault: VaultPort;
  tokens(): Promise<TokensPort>;
  namespaces(): Promise<NamespaceSummary[]>;
  /** The trail's verdict, its checkpoints checked against the anchor key of wherever the vault is. */
  verifyAudit(): Promise<TrailVerdict>;
  close(): Promise<void>;
}
