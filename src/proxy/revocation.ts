/**
 * The proxy's view of revocation: per namespace, the kill switch epoch and the revoked
 * token ids, refreshed by polling the store (DESIGN: a revocation reaches every running
 * proxy within 1 s). A revocation scheduled for later (a rotation's grace) reaches it as
 * fast, and is enforced from its time by this proxy's clock, on every request. Each poll reads the head (one small read); only when its version
 * moved are the entries read again.
 *
 * The account-wide head (`egg killswitch --all`) is read once per poll, beside the heads of
 * the namespaces in use: one more small read per interval, whatever their number. A token
 * issued before its epoch is revoked in every namespace.
 *
 * Fail closed: a namespace whose state, or the account head, was last confirmed longer ago
 * than `maxStaleMs` answers `unavailable`, and the proxy refuses (503) rather than trust
 * stale state. The first request for a namespace waits for its first read (and the account's).
 *
 * Some failures do not heal (issue 9 item 4): the store's file was deleted or replaced
 * under the proxy (`StoreUnusable` from the store), or a namespace's version or kill switch
 * epoch went backwards (a store restored from an older copy: revocations that were made
 * are gone). Reading on would trust whatever is there now, so every namespace answers
 * `unavailable` from then on, polling stops, and one log line says why: the proxy must be
 * restarted once the store is right again.
 */
import { errorLabel, StoreUnusable } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import type { TokenClaims } from '../tokens/claims.js';
import type { ScheduledRevocation, TokenStore } from '../tokens/token-store.js';
import type { Throttle } from '../tokens/usage-store.js';

export type RevocationVerdict = 'ok' | 'revoked' | 'unavailable';

export interface RevocationWatcherOptions {
  store: Pick<TokenStore, 'revocationVersion' | 'revocationState'> &
    Partial<Pick<TokenStore, 'accountRevocation'>>;
  /** How often each namespace is polled. */
  intervalMs?: number;
  /** Longest time without a confirmed read before requests are refused. */
  maxStaleMs?: number;
  /** A namespace unused this long is no longer polled. */
  idleMs?: number;
  clock?: () => number;
  logger?: Logger;
}

interface NamespaceState {
  version: number;
  notBefore: number;
  revoked: Map<string, number>;
  /** Ids revoked from a later time on (a rotation's grace), compared with this proxy's clock. */
  revokeAt: Map<string, ScheduledRevocation> | undefined;
  /** Throttles set by anomaly rules (usage-store.ts), in force or not. */
  throttles: Map<string, Throttle> | undefined;
  /** When the last successful poll started (what it confirms is at least that fresh). */
  confirmedAt: number;
  lastUsed: number;
  polling: Promise<void> | undefined;
}

export const DEFAULT_POLL_MS = 250;
export const DEFAULT_MAX_STALE_MS = 5000;

export class RevocationWatcher {
  readonly #store: RevocationWatcherOptions['store'];
  readonly #intervalMs: number;
  readonly #maxStaleMs: number;
  readonly #idleMs: number;
  readonly #clock: () => number;
  readonly #logger: Logger;
  readonly #namespaces = new Map<string, NamespaceState>();
  readonly #loading = new Map<string, Promise<NamespaceState | undefined>>();
  /** The account-wide head, as last confirmed (`confirmedAt`); undefined before its first read. */
  #account: { version: number; notBefore: number; confirmedAt: number } | undefined;
  #accountPolling: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failing = false;
  #failedClosed: StoreUnusable | undefined;

  constructor(options: RevocationWatcherOptions) {
    this.#store = options.store;
    this.#intervalMs = options.intervalMs ?? DEFAULT_POLL_MS;
    this.#maxStaleMs = options.maxStaleMs ?? DEFAULT_MAX_STALE_MS;
    this.#idleMs = options.idleMs ?? 10 * 60_000;
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger ?? nullLogger;
  }

  /** Start polling. */
  start(): void {
    this.#timer ??= setInterval(() => this.#pollAll(), this.#intervalMs);
    this.#timer.unref();
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Whether a verified token is revoked, by id or by the kill switch. Answered at once from
   * the polled state (no promise); only a namespace's first request waits for its first read.
   */
  check(claims: Pick<TokenClaims, 'jti' | 'sub' | 'iat'>): RevocationVerdict | Promise<RevocationVerdict> {
    if (this.#failedClosed !== undefined) return 'unavailable';
    const now = this.#clock();
    const state = this.#namespaces.get(claims.sub);
    if (state === undefined || this.#account === undefined)
      return Promise.all([state ?? this.#load(claims.sub), this.#pollAccount()]).then(([loaded]) =>
        this.#verdict(loaded, claims, now),
      );
    return this.#verdict(state, claims, now);
  }

  /**
   * The throttle in force on a token checked before (`check`), or undefined: read from the
   * same polled state, so a throttle reaches every proxy as fast as a revocation does.
   */
  throttleOf(claims: Pick<TokenClaims, 'jti' | 'sub'>): Throttle | undefined {
    const throttle = this.#namespaces.get(claims.sub)?.throttles?.get(claims.jti);
    if (throttle === undefined || throttle.until * 1000 <= this.#clock()) return undefined;
    return throttle;
  }

  /**
   * Refuse every request from now on, for good, and log why once (the store can no longer
   * be trusted: see the module comment). The proxy also calls it when it could not open the
   * store at all.
   */
  failClosed(error: StoreUnusable): void {
    if (this.#failedClosed !== undefined) return;
    this.#failedClosed = error;
    this.close();
    this.#logger.warn('proxy.failed_closed', { reason: error.message, fix: error.hint });
  }

  /**
   * Poll every namespace in use, reading the store after this call (tests: a change just
   * made is then in force). A poll of the timer's already under way may have read before
   * the change, and is confirmed as of when it began: it is waited for, then another is made.
   */
  async pollNow(): Promise<void> {
    await Promise.all([this.#accountPolling, ...[...this.#namespaces.values()].map((s) => s.polling)]);
    await Promise.all([this.#pollAccount(), ...[...this.#namespaces.keys()].map((ns) => this.#poll(ns))]);
  }

  #verdict(
    state: NamespaceState | undefined,
    claims: Pick<TokenClaims, 'jti' | 'iat'>,
    now: number,
  ): RevocationVerdict {
    const account = this.#account;
    if (
      state === undefined ||
      account === undefined ||
      now - state.confirmedAt > this.#maxStaleMs ||
      now - account.confirmedAt > this.#maxStaleMs
    )
      return 'unavailable';
    state.lastUsed = now;
    if (claims.iat < state.notBefore || claims.iat < account.notBefore || state.revoked.has(claims.jti))
      return 'revoked';
    const scheduled = state.revokeAt?.get(claims.jti);
    if (scheduled !== undefined && scheduled.at * 1000 <= now) return 'revoked';
    return 'ok';
  }

  #load(namespace: string): Promise<NamespaceState | undefined> {
    let loading = this.#loading.get(namespace);
    if (loading === undefined) {
      const startedAt = this.#clock();
      loading = this.#store
        .revocationState(namespace)
        .then((s) => {
          const state: NamespaceState = {
            version: s.version,
            notBefore: s.notBefore,
            revoked: s.revoked,
            revokeAt: nonEmpty(s.revokeAt),
            throttles: nonEmpty(s.throttles),
            confirmedAt: startedAt,
            lastUsed: startedAt,
            polling: undefined,
          };
          this.#namespaces.set(namespace, state);
          return state;
        })
        .catch((error) => {
          this.#warn(error);
          return undefined;
        })
        .finally(() => this.#loading.delete(namespace));
      this.#loading.set(namespace, loading);
    }
    return loading;
  }

  #pollAll(): void {
    const now = this.#clock();
    if (this.#namespaces.size > 0) void this.#pollAccount();
    for (const [namespace, state] of this.#namespaces) {
      if (now - state.lastUsed > this.#idleMs) this.#namespaces.delete(namespace);
      else void this.#poll(namespace);
    }
  }

  #poll(namespace: string): Promise<void> {
    const state = this.#namespaces.get(namespace);
    if (state === undefined || this.#failedClosed !== undefined) return Promise.resolve();
    state.polling ??= this.#refresh(state, namespace).finally(() => {
      state.polling = undefined;
    });
    return state.polling;
  }

  /** Read the account-wide head (one read, shared by every namespace); at most one at a time. */
  #pollAccount(): Promise<void> {
    if (this.#failedClosed !== undefined) return Promise.resolve();
    this.#accountPolling ??= this.#refreshAccount().finally(() => {
      this.#accountPolling = undefined;
    });
    return this.#accountPolling;
  }

  async #refreshAccount(): Promise<void> {
    const startedAt = this.#clock();
    try {
      // A store without an account head (a test's fake) has nothing account-wide to revoke.
      const head = (await this.#store.accountRevocation?.()) ?? { version: 0, notBefore: 0 };
      if (this.#account !== undefined) assertForward('the account', this.#account, head);
      this.#account = { ...head, confirmedAt: startedAt };
    } catch (error) {
      this.#warn(error, '(account)');
    }
  }

  async #refresh(state: NamespaceState, namespace: string): Promise<void> {
    const startedAt = this.#clock();
    try {
      const head = await this.#store.revocationVersion(namespace);
      assertForward(namespace, state, head);
      if (head.version !== state.version) {
        const fresh = await this.#store.revocationState(namespace);
        assertForward(namespace, state, fresh);
        state.version = fresh.version;
        state.notBefore = fresh.notBefore;
        state.revoked = fresh.revoked;
        state.revokeAt = nonEmpty(fresh.revokeAt);
        state.throttles = nonEmpty(fresh.throttles);
      }
      // Forget revoked ids whose tokens have expired (plus the verifier's skew).
      const nowSeconds = Math.floor(startedAt / 1000);
      for (const [id, exp] of state.revoked) if (exp + 60 < nowSeconds) state.revoked.delete(id);
      if (state.revokeAt !== undefined)
        for (const [id, { exp }] of state.revokeAt) if (exp + 60 < nowSeconds) state.revokeAt.delete(id);
      state.confirmedAt = startedAt;
      if (this.#failing) this.#logger.info('revocation.poll.recovered', { namespace });
      this.#failing = false;
    } catch (error) {
      this.#warn(error, namespace);
    }
  }

  #warn(error: unknown, namespace?: string): void {
    if (error instanceof StoreUnusable) return this.failClosed(error);
    if (this.#failing) return;
    this.#failing = true;
    this.#logger.warn('revocation.poll.failed', {
      namespace,
      error: errorLabel(error),
    });
  }
}

/**
 * Versions only grow and the kill switch never moves back (token-store.ts): state that went
 * backwards was restored from an older copy, and the revocations made since are gone.
 */
function assertForward(
  namespace: string,
  known: { version: number; notBefore: number },
  seen: { version: number; notBefore: number },
): void {
  if (seen.version >= known.version && seen.notBefore >= known.notBefore) return;
  throw new StoreUnusable(
    `the revocation state of ${namespace} went backwards (version ${known.version} to ${seen.version}): the store was replaced or restored from an older copy, and the revocations made since are gone`,
    'revoke again what was revoked (or use the kill switch), then restart the proxy (egg proxy serve)',
  );
}

/** No map at all when nothing is throttled: the proxy's check is then one property read. */
function nonEmpty<K, V>(map: Map<K, V> | undefined): Map<K, V> | undefined {
  return map === undefined || map.size === 0 ? undefined : map;
}
