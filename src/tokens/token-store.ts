/**
 * The token store port: what minting, revocation and the proxy's caps need from the
 * store, kept apart from `SecretStore` so that stays small. Adapters: SQLite (the vault
 * file) and DynamoDB (items in the namespace partition). Both run one conformance suite.
 *
 * Revocation state per namespace is a head (a version that bumps on every change, and
 * the kill switch's not-before epoch) plus one entry per revoked token id. Writers add
 * entries first and bump the head after, so a reader that sees version v and then reads
 * every entry cannot miss one that v counts.
 *
 * An entry may take effect later (`at`: `egg tokens rotate --grace`): it reaches every proxy
 * as any entry does, within a poll, and each proxy refuses the token from `at` by its own
 * clock. No process has to stay alive for the grace to end. Revoking an id again moves its
 * `at` only earlier (an immediate revocation always wins).
 *
 * A token's record is also what makes it valid: the proxy's spend reservation (made on
 * every request) is a conditional write on the record, which succeeds only if a record
 * with the token's digest exists in the token's own namespace. No record, no request:
 * a signing key alone cannot make a token (SECURITY.md, docs/tokens.md).
 *
 * Above the namespaces, one account-wide head (`egg killswitch --all`): its own version and
 * not-before epoch, in a reserved place no namespace can name (`#` never occurs in one).
 * Every proxy reads it once per poll, whatever the number of namespaces it serves, and
 * minting dates its tokens at or after it. It voids by `iat` alone; the marks below are made
 * per namespace, where the caller can list the namespaces.
 *
 * The kill switch compares the record's own creation time (DESIGN, Token times) without
 * trusting any clock or claim: it marks every record that exists when it runs, and the
 * spend reservation refuses a marked record. The epoch (`notBefore`) alone compares `iat`,
 * which the minter chooses: a token dated ahead (a fast clock, or a hostile minter) would
 * outlive it.
 */
import type { Throttle } from './usage-store.js';

/** What is kept about a minted token: its claims, never the token string. */
export interface TokenRecord {
  id: string;
  /** `tokenDigest` of the token string (format.ts): the record validates only that token. */
  digest: string;
  namespace: string;
  key: string;
  origins: string[];
  rps: number;
  burst: number;
  spend: number;
  cost: number;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
  tags: Record<string, string>;
  actor: string;
  /** Minted with `--allow-no-origin` (claim `native`); false for records from before it existed. */
  allowNoOrigin: boolean;
  /** `--max-clients` and `--client-rps` (claims.ts), when minted with them; kept so a rotation keeps them. */
  maxClients?: number;
  clientRps?: number;
}

/** A revocation that takes effect at `at` (seconds), of a token that expires at `exp`. */
export interface ScheduledRevocation {
  at: number;
  exp: number;
}

/** One id to revoke: at once, or from `at` (seconds) on; `exp` lets the entry expire. */
export interface RevocationEntry {
  id: string;
  exp: number;
  at?: number;
}

export interface RevocationState {
  /** Bumps on every revocation and kill switch. */
  version: number;
  /** Tokens issued before this epoch (seconds) are void; 0 when the kill switch was never used. */
  notBefore: number;
  /** Revoked token ids with their expiry (so a reader can forget them once expired). */
  revoked: Map<string, number>;
  /** Token ids revoked from a later time on (`at`, seconds), with their expiry; absent when none. */
  revokeAt?: Map<string, ScheduledRevocation>;
  /** Tokens throttled by an anomaly rule (usage-store.ts), where the store keeps them. */
  throttles?: Map<string, Throttle>;
}

/**
 * A reservation: made, refused at the cap, refused because no record in the namespace has
 * this id and digest (a token nobody minted there), or refused because a kill switch marked
 * the record (the proxy answers 401 to both). A made one
 * carries the new total only where the store returns it with the write (DynamoDB): SQLite
 * would need a RETURNING clause, and its temporary table, on every proxied request.
 */
export type SpendResult =
  | { ok: true; spent?: number }
  | { ok: false; reason: 'spend-cap'; spent: number }
  | { ok: false; reason: 'unknown-token' }
  | { ok: false; reason: 'revoked' };

export interface TokenStore {
  readonly kind: 'sqlite' | 'dynamodb';
  putToken(record: TokenRecord): Promise<void>;
  /**
   * Every recorded token of the namespace, with whether it is revoked now (by id, epoch or
   * mark) and, when a revocation of it takes effect later, from when (`revokeAt`, seconds).
   */
  listTokens(
    namespace: string,
  ): Promise<(TokenRecord & { revoked: boolean; revokeAt?: number; spent: number })[]>;
  /**
   * Revoke ids (idempotent; an entry's `at` only moves earlier), then bump the namespace
   * version. `exp` lets entries expire.
   */
  revoke(namespace: string, entries: readonly RevocationEntry[]): Promise<void>;
  /**
   * Void every token issued before `notBefore` (seconds; the epoch never moves backwards),
   * then mark every token record of the namespace that exists by then, whatever its `iat`:
   * a marked record validates no request again. Returns the epoch in force.
   */
  killSwitch(namespace: string, notBefore: number): Promise<number>;
  /**
   * The account-wide kill switch: move the account's epoch to `notBefore`, or past the epoch
   * in force if that is later (tokens minted since it are dated at it, and no mark voids
   * them), and bump its version. Marks no record (see `killSwitch` per namespace). Returns the epoch.
   */
  accountKillSwitch(notBefore: number): Promise<number>;
  /** The account-wide head: one small read, polled once per interval by every proxy. */
  accountRevocation(): Promise<{ version: number; notBefore: number }>;
  /** The head only: cheap, polled often. */
  revocationVersion(namespace: string): Promise<{ version: number; notBefore: number }>;
  /** The head and every revoked id: read when the version changed. */
  revocationState(namespace: string): Promise<RevocationState>;
  /**
   * Reserve `cost` against `cap` on the record of token `id` in `namespace`, atomically and
   * in one store operation: succeeds only if that record exists, carries `digest`, is not
   * marked by a kill switch, and spent + cost <= cap. The counter lives on the record and expires with it. It runs
   * on every proxied request: an adapter may answer at once rather than through a promise,
   * or (SQLite) commit the reservations of one event-loop turn together.
   */
  reserveSpend(
    namespace: string,
    id: string,
    digest: string,
    cost: number,
    cap: number,
  ): SpendResult | Promise<SpendResult>;
  /**
   * Add `delta` (negative: give back) to the spend counter of token `id`'s record, whatever
   * the cap: the real cost of a priced request, settled against what it reserved
   * (proxy/real-spend.ts). Only the record with `digest` in `namespace` changes, and a give-back
   * that would take the counter below 0 changes nothing (it stays charged: closed). SQLite
   * commits it with the turn's reservations.
   */
  adjustSpend(namespace: string, id: string, digest: string, delta: number): Promise<void>;
  close(): Promise<void>;
}

/** Add one stored entry to `state`: revoked now (`at` 0 or absent) or from `at` on. */
export function addEntry(state: RevocationState, id: string, exp: number, at: number): void {
  if (at > 0) (state.revokeAt ??= new Map()).set(id, { at, exp });
  else state.revoked.set(id, exp);
}
