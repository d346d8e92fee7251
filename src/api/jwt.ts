/**
 * The API's check of every request's JWT (issue 16), before any handler runs: a compact JWS
 * from a configured issuer, signed with an asymmetric algorithm of the allow-list by a key in
 * that issuer's JWKS, for one of its audiences, within `exp` and `nbf` (30 s of clock skew, as
 * our own tokens allow), with a `sub`. The checks are jose's `jwtVerify` (RFC 7519 §7.2); the
 * issuer is chosen by the token's `iss` among the configured ones before any key is fetched,
 * so a token from anywhere else costs nothing. `alg: none` and HS* never pass: they are not in
 * the allow-list, and a JWKS of public keys has no key for them.
 *
 * Issuers come from `EGG_API_ISSUERS`, a JSON array of `{issuer, audience, jwksUri?}`;
 * `"issuer": "github"` is GitHub Actions' (both `sub` forms admit a job: principal.ts). Without
 * `jwksUri` the keys come from the issuer's discovery document (OIDC Discovery §4).
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { type HttpFetch, httpFetch } from '../auth/http-fetch.js';
import { EggError } from '../errors.js';
import { type Caller, callerOf, GITHUB_ISSUER, isUsableSubject } from './principal.js';

/** One issuer the API trusts. */
export interface IssuerSetting {
  issuer: string;
  /** A token's `aud` must name one of these. */
  audience: readonly string[];
  /** Where its JWKS is; without it (and without `jwks`), its discovery document says. */
  jwksUri?: string;
  /** Its keys, given here (tests, a deployment without egress to the issuer). */
  jwks?: JSONWebKeySet;
}

/** Asymmetric JWS algorithms only (RFC 7518 §3.1, RFC 8037): never `none`, never HS*. */
export const ALLOWED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

/** Clock skew allowed on `exp`, `nbf` and `iat`, as for egg's own tokens (DESIGN). */
export const CLOCK_TOLERANCE_SECONDS = 30;

/** Far above any real ID token (Cognito's are about 1 kB); a larger header is refused unread. */
const MAX_TOKEN_BYTES = 8192;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** A refused bearer token: HTTP 401. `reason` is the audit record's outcome, never the token. */
export class Unauthenticated extends EggError {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super('ERR_UNAUTHENTICATED', `the bearer token was refused: ${message}`, {
      hint: 'sign in again (`egg login`), or check the token’s issuer and audience against the API’s EGG_API_ISSUERS',
    });
    this.name = 'Unauthenticated';
    this.reason = reason;
  }
}

/** Loopback http is allowed (tests, a sidecar issuer); anything else must be https. */
function assertSafeUrl(text: string, label: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new EggError('ERR_INVALID_CONFIG', `${label} is not a URL: ${JSON.stringify(text.slice(0, 80))}`);
  }
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    throw new EggError('ERR_INVALID_CONFIG', `${label} must be an https URL: ${url.origin}`);
  return url;
}

/**
 * The issuers of `EGG_API_ISSUERS` (its text), checked: each an https URL without `|` (or
 * `"github"`), with at least one audience. `source` names the setting in errors.
 * @example
 * readIssuers('[{"issuer":"github","audience":"https://egg.example.com"}]', 'EGG_API_ISSUERS')
 */
export function readIssuers(text: string, source = 'EGG_API_ISSUERS'): IssuerSetting[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const bad = (why: string) =>
    new EggError('ERR_INVALID_CONFIG', `${source} ${why}`, {
      hint: 'set it to a JSON array like [{"issuer":"github","audience":"https://egg.example.com"}, {"issuer":"https://cognito-idp.REGION.amazonaws.com/POOL","audience":"CLIENT_ID"}]',
    });
  if (!Array.isArray(parsed) || parsed.length === 0) throw bad('is not a non-empty JSON array of issuers');
  const issuers = parsed.map((entry: unknown, index) => {
    if (typeof entry !== 'object' || entry === null) throw bad(`entry ${index + 1} is not an object`);
    const { issuer, audience, jwksUri } = entry as Record<string, unknown>;
    if (typeof issuer !== 'string') throw bad(`entry ${index + 1} has no "issuer"`);
    const audiences = typeof audience === 'string' ? [audience] : audience;
    if (
      !Array.isArray(audiences) ||
      audiences.length === 0 ||
      !audiences.every((a) => typeof a === 'string' && a !== '')
    )
      throw bad(`entry ${index + 1} needs an "audience" (a string or a list of them)`);
    if (jwksUri !== undefined && typeof jwksUri !== 'string')
      throw bad(`entry ${index + 1}: "jwksUri" is not a string`);
    return issuerSetting(issuer, audiences as string[], jwksUri);
  });
  const seen = new Set<string>();
  for (const { issuer } of issuers) {
    if (seen.has(issuer)) throw bad(`names ${issuer} twice`);
    seen.add(issuer);
  }
  return issuers;
}

/** One checked issuer; `"github"` is GitHub Actions'. */
export function issuerSetting(issuer: string, audience: readonly string[], jwksUri?: string): IssuerSetting {
  const name = issuer === 'github' ? GITHUB_ISSUER : issuer;
  assertSafeUrl(name, `the issuer ${JSON.stringify(name.slice(0, 80))}`);
  // `|` separates the issuer from the `sub` in a principal (principal.ts).
  if (name.includes('|')) throw new EggError('ERR_INVALID_CONFIG', `the issuer ${name} contains "|"`);
  const uri = jwksUri ?? (name === GITHUB_ISSUER ? `${GITHUB_ISSUER}/.well-known/jwks` : undefined);
  if (uri !== undefined) assertSafeUrl(uri, `the JWKS URI of ${name}`);
  return { issuer: name, audience: [...audience], ...(uri === undefined ? {} : { jwksUri: uri }) };
}

interface IssuerEntry {
  setting: IssuerSetting;
  keys?: Promise<JWTVerifyGetKey> | undefined;
}

export interface JwtVerifierOptions {
  issuers: readonly IssuerSetting[];
  /** For discovery documents; node:http(s) by default. */
  fetch?: HttpFetch;
  /** The verifier's clock (jose's `currentDate`). */
  clock?: () => Date;
}

/** Verifies bearer tokens against the configured issuers; keys are fetched once and cached by jose. */
export class JwtVerifier {
  readonly #issuers: Map<string, IssuerEntry>;
  readonly #fetch: HttpFetch;
  readonly #clock: (() => Date) | undefined;

  constructor(options: JwtVerifierOptions) {
    if (options.issuers.length === 0) throw new TypeError('the API needs at least one issuer');
    this.#issuers = new Map(options.issuers.map((setting) => [setting.issuer, { setting }]));
    this.#fetch = options.fetch ?? httpFetch;
    this.#clock = options.clock;
  }

  /** The issuers' names, for the server's start-up line. */
  get issuers(): string[] {
    return [...this.#issuers.keys()];
  }

  /**
   * The caller of a request with this `Authorization` header, or `Unauthenticated` saying
   * why not (an issuer's keys out of reach is `ERR_OIDC`: HTTP 503, try again).
   */
  async verify(authorization: string | undefined): Promise<Caller> {
    const match = /^Bearer +(\S+)$/i.exec(authorization ?? '');
    if (match === null)
      throw new Unauthenticated('no-token', 'the request has no "Authorization: Bearer" token');
    const token = match[1] as string;
    if (token.length > MAX_TOKEN_BYTES || !COMPACT_JWS.test(token))
      throw new Unauthenticated('malformed', 'it is not a signed JWT');
    let alg: unknown;
    let iss: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
      iss = decodeJwt(token).iss;
    } catch {
      throw new Unauthenticated('malformed', 'it is not a signed JWT');
    }
    if (typeof alg !== 'string' || !ALLOWED_ALGORITHMS.includes(alg))
      throw new Unauthenticated(
        'algorithm',
        `its algorithm ${JSON.stringify(alg)} is not an asymmetric one this API accepts`,
      );
    const entry = typeof iss === 'string' ? this.#issuers.get(iss) : undefined;
    if (entry === undefined) throw new Unauthenticated('issuer', 'its issuer is not one this API trusts');
    const keys = await this.#keys(entry);
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: entry.setting.issuer,
        audience: [...entry.setting.audience],
        algorithms: ALLOWED_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'sub'],
        ...(this.#clock === undefined ? {} : { currentDate: this.#clock() }),
      }));
    } catch (error) {
      throw refusal(error, entry.setting.issuer);
    }
    const { sub } = payload;
    if (typeof sub !== 'string' || !isUsableSubject(entry.setting.issuer, sub))
      throw new Unauthenticated('subject', 'its "sub" is not a usable subject');
    return callerOf({ ...payload, iss: entry.setting.issuer, sub });
  }

  /** The issuer's key set: given, at its `jwksUri`, or at the `jwks_uri` of its discovery document. */
  #keys(entry: IssuerEntry): Promise<JWTVerifyGetKey> {
    const { setting } = entry;
    entry.keys ??= (async () => {
      if (setting.jwks !== undefined) return createLocalJWKSet(setting.jwks);
      const uri = setting.jwksUri ?? (await this.#discover(setting.issuer));
      return createRemoteJWKSet(new URL(uri), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
    })();
    // A failed discovery is tried again by the next request, not remembered.
    entry.keys.catch(() => {
      entry.keys = undefined;
    });
    return entry.keys;
  }

  async #discover(issuer: string): Promise<string> {
    const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let document: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const answer = await this.#fetch(url, { signal: AbortSignal.timeout(5_000) });
      if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
      document = (await answer.json()) as typeof document;
    } catch (error) {
      throw new EggError('ERR_OIDC', `could not read the discovery document of ${issuer}`, {
        cause: error,
        hint: 'check that the API can reach its issuers, or give the issuer a "jwksUri" in EGG_API_ISSUERS',
      });
    }
    // OIDC Discovery §4.3: the document's issuer must be the one asked about.
    if (document.issuer !== issuer || typeof document.jwks_uri !== 'string')
      throw new EggError(
        'ERR_OIDC',
        `the discovery document of ${issuer} names another issuer or no jwks_uri`,
      );
    return assertSafeUrl(document.jwks_uri, `the jwks_uri of ${issuer}`).href;
  }
}

/** jose's refusal in our words; an issuer whose keys cannot be fetched is not the caller's fault. */
function refusal(error: unknown, issuer: string): EggError {
  if (error instanceof errors.JWTExpired) return new Unauthenticated('expired', 'it has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return new Unauthenticated('not-yet-valid', 'it is not valid yet ("nbf")');
    if (error.claim === 'aud') return new Unauthenticated('audience', 'it is for another audience');
    if (error.claim === 'iss') return new Unauthenticated('issuer', 'its issuer is not one this API trusts');
    return new Unauthenticated('claims', `its "${error.claim}" claim is invalid`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return new Unauthenticated('algorithm', 'its algorithm is not an asymmetric one this API accepts');
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
    return new Unauthenticated('key', 'no key of its issuer matches its "kid" and algorithm');
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return new Unauthenticated('signature', 'its signature does not verify');
  // A JWKS that timed out, answered other than 200 (a generic JOSEError) or is not a key set.
  if (
    !(error instanceof errors.JOSEError) ||
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    error.code === 'ERR_JOSE_GENERIC'
  )
    return new EggError('ERR_OIDC', `could not fetch the keys of ${issuer}`, {
      cause: error,
      hint: 'the issuer may be unreachable; try again',
    });
  return new Unauthenticated('malformed', 'it is not a valid signed JWT');
}
