/**
 * Token verification: shape and checksum first (no crypto for garbage), then `jose`
 * with EdDSA as the only algorithm, our `typ`, the one trusted `kid`, at most 30 s of
 * clock skew (DESIGN, Host-bound tokens), then every claim's shape.
 *
 * The time rules that need the clock live here (claims.ts keeps the pure ones): `exp` not
 * past and `nbf` and `iat` at most 30 s ahead (DESIGN, Token times: `iat <= now + 30 s`).
 *
 * A verified token string is remembered (bounded), so a busy client costs one Ed25519
 * verification, not one per request: only the exact same string hits, and every time rule
 * is checked again on every use (`timeVerdict`), so a verdict cached under one clock never
 * answers for another (an expired one is dropped). Revocation is not this module's
 * business (revocation.ts and the spend reservation in the proxy check it on every request).
 */
import type { KeyObject } from 'node:crypto';
import { errors, jwtVerify } from 'jose';
import { isTokenClaims, type TokenClaims } from './claims.js';
import { CHECKSUM_CHARS, decodeToken, tokenDigest } from './format.js';
import { keyIdOf } from './signer.js';

export const TOKEN_TYP = 'egg+jwt';
export const CLOCK_TOLERANCE_SECONDS = 30;

export type RejectReason = 'malformed' | 'signature' | 'expired' | 'not-yet-valid' | 'claims';

/** `digest` (tokenDigest of the string) is what the token's record must carry. */
export type Verdict = { ok: true; claims: TokenClaims; digest: string } | { ok: false; reason: RejectReason };

/** A cached token: the exact string, and its verdict while valid (one frozen object, shared by every hit). */
interface Verified {
  token: string;
  verdict: Verdict & { ok: true };
  iat: number;
  nbf: number;
  exp: number;
}

export interface VerifierOptions {
  publicKey: KeyObject;
  clock?: () => number;
  /** Most verified tokens remembered; 0 turns the cache off. */
  cacheSize?: number;
}

export class TokenVerifier {
  readonly kid: string;
  readonly #key: KeyObject;
  readonly #clock: () => number;
  readonly #cacheSize: number;
  /**
   * Keyed by the token's last characters, its checksum (SHA-256 based, so evenly spread),
   * rather than by the whole string: a lookup hashes 8 characters, not some 400. A hit still
   * needs the exact string; two tokens with one checksum just take turns in the slot.
   */
  readonly #cache = new Map<string, Verified>();

  constructor(options: VerifierOptions) {
    if (options.publicKey.asymmetricKeyType !== 'ed25519')
      throw new TypeError('the verifier needs an Ed25519 key');
    this.#key = options.publicKey;
    this.kid = keyIdOf(options.publicKey);
    this.#clock = options.clock ?? Date.now;
    this.#cacheSize = options.cacheSize ?? 10_000;
  }

  /**
   * Verify `token` (the whole `egg_…` string). Never throws for a bad token. A token verified
   * before is answered at once, without a promise (the proxy's hot path awaits only misses).
   */
  verify(token: string): Verdict | Promise<Verdict> {
    const now = Math.floor(this.#clock() / 1000);
    const slot = token.slice(-CHECKSUM_CHARS);
    const cached = this.#cache.get(slot);
    if (cached === undefined || cached.token !== token) return this.#verify(token, slot, now);
    const verdict = timeVerdict(cached, now);
    // Expired for good: forget it (a not-yet-valid one stays, it will become valid).
    if (!verdict.ok && verdict.reason === 'expired') this.#cache.delete(slot);
    return verdict;
  }

  async #verify(token: string, slot: string, now: number): Promise<Verdict> {
    const jws = decodeToken(token);
    if (jws === undefined) return { ok: false, reason: 'malformed' };
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(
        jws,
        async (header) => {
          // A kid we do not hold (or none) is refused before any signature check.
          if (header.kid !== this.kid || header.alg !== 'EdDSA') throw new errors.JWKSNoMatchingKey();
          return this.#key;
        },
        {
          algorithms: ['EdDSA'],
          typ: TOKEN_TYP,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(now * 1000),
          requiredClaims: ['jti', 'sub', 'iat', 'nbf', 'exp'],
        },
      ));
    } catch (error) {
      if (error instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
      if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'nbf')
        return { ok: false, reason: 'not-yet-valid' };
      return { ok: false, reason: error instanceof errors.JWTClaimValidationFailed ? 'claims' : 'signature' };
    }
    if (!isTokenClaims(payload)) return { ok: false, reason: 'claims' };
    const claims = pick(payload);
    const verified: Verified = {
      token,
      verdict: Object.freeze({ ok: true, claims, digest: tokenDigest(token) } as const),
      iat: claims.iat,
      nbf: claims.nbf,
      exp: claims.exp,
    };
    if (this.#cacheSize > 0) {
      // Oldest first out; a slot taken again moves to the back.
      if (!this.#cache.delete(slot) && this.#cache.size >= this.#cacheSize)
        this.#cache.delete(this.#cache.keys().next().value as string);
      this.#cache.set(slot, verified);
    }
    return timeVerdict(verified, now);
  }
}

const EXPIRED: Verdict = Object.freeze({ ok: false, reason: 'expired' });
const NOT_YET_VALID: Verdict = Object.freeze({ ok: false, reason: 'not-yet-valid' });

function timeVerdict({ verdict, iat, nbf, exp }: Verified, now: number): Verdict {
  // The same rules as jose's: expired once exp <= now - tolerance; early while nbf > now + tolerance.
  if (exp <= now - CLOCK_TOLERANCE_SECONDS) return EXPIRED;
  if (nbf > now + CLOCK_TOLERANCE_SECONDS) return NOT_YET_VALID;
  // jose checks iat only with maxTokenAge. claims.ts already holds iat <= nbf, so this follows
  // from the line above; it stays as the contract's own rule (a token is never dated ahead).
  if (iat > now + CLOCK_TOLERANCE_SECONDS) return NOT_YET_VALID;
  return verdict;
}

/** Only the claims we know, frozen: nothing else from the token travels further. */
function pick(p: TokenClaims): TokenClaims {
  const claims: TokenClaims = {
    jti: p.jti,
    nonce: p.nonce,
    sub: p.sub,
    key: p.key,
    origins: [...p.origins],
    ...(p.native === true ? { native: true as const } : {}),
    rps: p.rps,
    burst: p.burst,
    spend: p.spend,
    cost: p.cost,
    iat: p.iat,
    nbf: p.nbf,
    exp: p.exp,
  };
  if (p.maxClients !== undefined) claims.maxClients = p.maxClients;
  if (p.clientRps !== undefined) claims.clientRps = p.clientRps;
  if (p.tags !== undefined) claims.tags = { ...p.tags };
  return Object.freeze(claims);
}
