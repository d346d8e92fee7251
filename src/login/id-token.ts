/**
 * Verifying the issuer's ID token before it goes anywhere (OIDC Core §3.1.3.7): signature
 * against the issuer's JWKS (asymmetric algorithms only), `iss`, `aud` = our client id (and
 * `azp` when there are several audiences), `exp`, and the `nonce` of a browser login's
 * request (§3.1.3.7 (11)). STS verifies it again; checking here
 * means a forged or misdirected token is refused with a clear message before it leaves
 * this machine, and the identity `egg whoami` shows is one we checked.
 */
import { createRemoteJWKSet, customFetch, errors, type JWTPayload, jwtVerify } from 'jose';
import { EggError } from '../errors.js';
import { sameToken } from './pkce.js';

/** Asymmetric JWS algorithms only: no `none`, no HMAC with a guessable secret. */
const ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'EdDSA',
  'Ed25519',
];

/** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. */
const CLOCK_TOLERANCE = 30;

export interface VerifyIdTokenOptions {
  issuer: string;
  clientId: string;
  jwksUri: string;
  now: () => Date;
  fetch?: typeof fetch;
  /** The nonce the authorization request carried; the token must repeat it exactly. */
  nonce?: string;
}

/** The verified identity: who logged in, and when the token stops being usable. */
export interface Identity {
  subject: string;
  email?: string;
  expiresAt: Date;
}

/** Verify `idToken`; every refusal is an `ERR_OIDC` naming what was wrong, never the token. */
export async function verifyIdToken(idToken: string, options: VerifyIdTokenOptions): Promise<Identity> {
  const keys = createRemoteJWKSet(new URL(options.jwksUri), {
    timeoutDuration: 10_000,
    ...(options.fetch === undefined ? {} : { [customFetch]: options.fetch }),
  });
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, keys, {
      issuer: [options.issuer, `${options.issuer}/`],
      audience: options.clientId,
      algorithms: ALGORITHMS,
      currentDate: options.now(),
      clockTolerance: CLOCK_TOLERANCE,
      requiredClaims: ['sub', 'exp', 'iat'],
    }));
  } catch (error) {
    throw refusal(error, options);
  }
  // OIDC Core §3.1.3.7 (4)–(5): with several audiences, azp must name us.
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== options.clientId) {
    throw new EggError('ERR_OIDC', 'the ID token names several audiences and was not issued to this client');
  }
  // OIDC Core §3.1.3.7 (11): a token for another sign-in (replayed or injected) carries another nonce.
  if (
    options.nonce !== undefined &&
    (typeof payload.nonce !== 'string' || !sameToken(payload.nonce, options.nonce))
  ) {
    throw new EggError(
      'ERR_OIDC',
      'the issuer’s ID token was refused: its nonce does not match this login’s request',
      { hint: 'run `egg login` again' },
    );
  }
  return {
    subject: payload.sub as string,
    ...(typeof payload.email === 'string' ? { email: payload.email } : {}),
    expiresAt: new Date((payload.exp as number) * 1000),
  };
}

function refusal(error: unknown, options: VerifyIdTokenOptions): EggError {
  const refuse = (message: string, hint?: string) =>
    new EggError('ERR_OIDC', `the issuer’s ID token was refused: ${message}`, {
      cause: error,
      ...(hint === undefined ? {} : { hint }),
    });
  if (error instanceof errors.JWTExpired) {
    return refuse('it has expired', 'check this machine’s clock, then run `egg login` again');
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') {
      return refuse(`it was issued to another client (not ${options.clientId})`, 'check --client-id');
    }
    if (error.claim === 'iss') return refuse(`it was issued by another issuer (not ${options.issuer})`);
    return refuse(`its "${error.claim}" claim is invalid`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JWKSNoMatchingKey) {
    return refuse('its signature does not verify against the issuer’s published keys');
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return refuse('it is not signed with an asymmetric algorithm');
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    return refuse('the issuer’s keys could not be fetched', 'check the network and try again');
  }
  if (error instanceof errors.JOSEError) return refuse(`it is malformed (${error.code})`);
  return refuse('the issuer’s keys could not be fetched', 'check the network and try again');
}
