/**
 * Per-token client limits (issue 10, docs/tokens.md "Client limits"): a token minted with
 * `--max-clients N` may be used from N distinct client addresses in one usage window (a
 * minute), across every proxy; a new address past that is refused (429 `too_many_clients`,
 * `Retry-After` until the window ends) and the `client-fanout` rule fires (usage-meter.ts).
 * A token minted with `--client-rps N` lets each address make N requests a second (429
 * `client_rate_limited` to that address only), per proxy, as `--rps` is.
 *
 * The client address is the TCP peer of the proxy's socket: a proxy behind a load balancer
 * sees the balancer's address, and no header (`X-Forwarded-For`) is trusted for it.
 *
 * Across proxies, addresses are shared through the usage store, in the usage meter's batch:
 * each proxy sends the addresses it admitted since the last batch and learns the window's
 * whole set back (sqlite-usage.ts, dynamodb-usage.ts). Until it has learnt it, a proxy admits
 * at most N of its own, so a window holds at most N × the number of proxies addresses, and
 * the rule fires when it holds more than N.
 *
 * Bounded for a hostile caller with many addresses: refused addresses are counted, never
 * kept; a token keeps only the addresses it admitted (at most N ≤ MAX_CLIENTS, plus those
 * learnt from other proxies); and all tokens together keep at most `maxAddresses`, past which
 * new addresses are refused (fail closed) until the window turns. Addresses are kept, here and
 * in the store, as a keyed digest (`clientDigest`), never as they are.
 */
import { createHash } from 'node:crypto';
import type { TokenClaims } from '../tokens/claims.js';
import { USAGE_WINDOW_SECONDS, windowOf } from '../tokens/usage-store.js';
import { RateLimiter } from './rate.js';
import type { Refusal } from './refusals.js';

export type ClientVerdict =
  { ok: true } | { ok: false; code: 'too_many_clients' | 'client_rate_limited'; retryAfterSeconds: number };

const ALLOWED: ClientVerdict = Object.freeze({ ok: true });

/** What one token's clients did since the last batch, for the store and the rule. */
export interface ClientReport {
  namespace: string;
  id: string;
  window: number;
  maxClients: number;
  /** Digests of the addresses admitted here since the last batch (possibly none). */
  clients: string[];
  /** New addresses refused here since the last batch. */
  refused: number;
}

interface TokenClients {
  namespace: string;
  id: string;
  window: number;
  max: number;
  /** Digests admitted in the window: here, and by every proxy as of the last batch. */
  known: Set<string>;
  /** Admitted here and not sent yet. */
  fresh: string[];
  refused: number;
  /** Used since the last batch: the batch asks the store for the window's set. */
  touched: boolean;
}

export interface ClientLimitsOptions {
  clock?: () => number;
  /** Addresses kept across every token: default 100,000. */
  maxAddresses?: number;
  /** Per-address rate buckets: default 100,000 (their own, so a flood of addresses never evicts a token's bucket). */
  maxBuckets?: number;
}

export class ClientLimits {
  readonly #clock: () => number;
  readonly #maxAddresses: number;
  readonly #rate: RateLimiter;
  readonly #tokens = new Map<string, TokenClients>();
  /** Reports of windows that turned before their batch. */
  #ended: ClientReport[] = [];
  #held = 0;

  constructor(options: ClientLimitsOptions = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#maxAddresses = options.maxAddresses ?? 100_000;
    this.#rate = new RateLimiter({ clock: this.#clock, maxBuckets: options.maxBuckets ?? 100_000 });
  }

  /** Whether a request of a verified token from `address` may go on. At once, nothing awaited. */
  check(
    claims: Pick<TokenClaims, 'sub' | 'jti' | 'maxClients' | 'clientRps'>,
    address: string | undefined,
  ): ClientVerdict {
    if (claims.maxClients === undefined && claims.clientRps === undefined) return ALLOWED;
    const client = canonicalAddress(address);
    if (claims.maxClients !== undefined) {
      const admitted = this.#admit(claims.sub, claims.jti, claims.maxClients, client);
      if (!admitted.ok) return admitted;
    }
    if (claims.clientRps !== undefined) {
      const rate = this.#rate.take(`${claims.jti}\n${client}`, claims.clientRps, claims.clientRps);
      if (!rate.ok)
        return { ok: false, code: 'client_rate_limited', retryAfterSeconds: rate.retryAfterSeconds };
    }
    return ALLOWED;
  }

  /** What changed since the last call, per token used: for the usage meter's batch. */
  drain(): ClientReport[] {
    const reports = this.#ended;
    this.#ended = [];
    for (const t of this.#tokens.values()) {
      if (!t.touched) continue;
      reports.push(report(t));
      t.fresh = [];
      t.refused = 0;
      t.touched = false;
    }
    return reports;
  }

  /** The window's addresses as the store holds them (from every proxy), after a batch. */
  learn(namespace: string, id: string, window: number, clients: readonly string[]): void {
    const t = this.#tokens.get(`${namespace}\n${id}`);
    if (t?.window !== window) return;
    for (const c of clients) {
      if (t.known.has(c) || this.#held >= this.#maxAddresses) continue;
      t.known.add(c);
      this.#held++;
    }
  }

  #admit(namespace: string, id: string, max: number, client: string): ClientVerdict {
    const now = Math.floor(this.#clock() / 1000);
    const window = windowOf(now);
    const key = `${namespace}\n${id}`;
    let t = this.#tokens.get(key);
    if (t !== undefined && t.window !== window) {
      this.#end(key, t);
      t = undefined;
    }
    if (t === undefined) {
      if (this.#held >= this.#maxAddresses) this.#sweep(window);
      t = { namespace, id, window, max, known: new Set(), fresh: [], refused: 0, touched: false };
      this.#tokens.set(key, t);
    }
    t.touched = true;
    const digest = clientDigest(namespace, id, client);
    if (t.known.has(digest)) return ALLOWED;
    if (t.known.size >= t.max || this.#held >= this.#maxAddresses) {
      t.refused++;
      return {
        ok: false,
        code: 'too_many_clients',
        retryAfterSeconds: Math.max(1, window + USAGE_WINDOW_SECONDS - now),
      };
    }
    t.known.add(digest);
    t.fresh.push(digest);
    this.#held++;
    return ALLOWED;
  }

  /** Forget a token's ended window, keeping what its batch has not sent yet. */
  #end(key: string, t: TokenClients): void {
    if (t.touched) this.#ended.push(report(t));
    this.#held -= t.known.size;
    this.#tokens.delete(key);
  }

  /** Forget every window that has ended. */
  #sweep(window: number): void {
    for (const [key, t] of this.#tokens) if (t.window !== window) this.#end(key, t);
  }
}

function report(t: TokenClients): ClientReport {
  return {
    namespace: t.namespace,
    id: t.id,
    window: t.window,
    maxClients: t.max,
    clients: t.fresh,
    refused: t.refused,
  };
}

/** `::ffff:127.0.0.2` (an IPv4 client of a dual-stack socket) is `127.0.0.2`. */
function canonicalAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * How an address is kept: 9 bytes of SHA-256 over the token and the address (12 characters),
 * so the store holds no client addresses and a digest says nothing about another token's.
 */
export function clientDigest(namespace: string, id: string, address: string): string {
  return createHash('sha256')
    .update(`${namespace}\n${id}\n${address}`)
    .digest()
    .subarray(0, 9)
    .toString('base64url');
}

/** The 429 of a client refused by its token's client limits. */
export function clientRefusal(
  verdict: ClientVerdict & { ok: false },
  cors: Readonly<Record<string, string>>,
): Refusal {
  return {
    status: 429,
    code: verdict.code,
    message:
      verdict.code === 'too_many_clients'
        ? 'the token is in use from as many client addresses as it allows'
        : "this client's rate cap for the token is reached",
    headers: { ...cors, 'retry-after': String(verdict.retryAfterSeconds) },
  };
}
