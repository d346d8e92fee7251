/**
 * Why the issuer's ID token was refused, in our words. The checks themselves (OIDC Core
 * §3.1.3.7: signature against the issuer's JWKS, `iss`, `aud`, `azp` when there are several
 * audiences, `exp` with 30 seconds' tolerance, `iat`, `sub`, and the `nonce` of a browser
 * login's request) are made by oauth4webapi while it processes a token response (see
 * oauth.ts); this module only names what failed, never the token. STS verifies the token
 * again; checking here means a forged or misdirected token is refused with a clear message
 * before it leaves this machine, and the identity `egg whoami` shows is one we checked.
 */
import * as oauth from 'oauth4webapi';
import { EggError } from '../errors.js';

/** The verified identity: who logged in, and when the token stops being usable. */
export interface Identity {
  subject: string;
  email?: string;
  expiresAt: Date;
}

interface Context {
  issuer: string;
  clientId: string;
}

/** The refusal for a library error about the ID token; `undefined` when the error is about something else. */
export function idTokenRefusal(error: unknown, context: Context): EggError | undefined {
  const refuse = (message: string, hint?: string) =>
    new EggError('ERR_OIDC', `the issuer’s ID token was refused: ${message}`, {
      cause: error,
      ...(hint === undefined ? {} : { hint }),
    });
  if (error instanceof oauth.UnsupportedOperationError)
    return refuse('it is not signed with an asymmetric algorithm');
  if (!(error instanceof oauth.OperationProcessingError)) return undefined;
  const cause = (error.cause ?? {}) as { claim?: string; claims?: { aud?: unknown } };
  switch (error.code) {
    case oauth.JWT_TIMESTAMP_CHECK:
      return cause.claim === 'exp'
        ? refuse('it has expired', 'check this machine’s clock, then run `egg login` again')
        : refuse(`its "${cause.claim}" claim is invalid`);
    case oauth.JWT_CLAIM_COMPARISON:
      return claimRefusal(cause, context, refuse);
    case oauth.KEY_SELECTION:
      return refuse('its signature does not verify against the issuer’s published keys');
  }
  if (error.message === 'JWT signature verification failed')
    return refuse('its signature does not verify against the issuer’s published keys');
  if (error.message.startsWith('unexpected JWT "alg"'))
    return refuse(
      'it is not signed with an algorithm the issuer publishes (id_token_signing_alg_values_supported)',
    );
  if (error.message.startsWith('"response" body "id_token" property')) {
    return new EggError('ERR_OIDC', 'the issuer answered without an ID token', {
      hint: 'the login scopes must include "openid"',
    });
  }
  const missing = /^JWT "(\w+)" \(.*\) claim missing$/.exec(error.message)?.[1];
  if (missing === 'nonce') return claimRefusal({ claim: 'nonce' }, context, refuse);
  if (missing !== undefined) return refuse(`it lacks the "${missing}" claim`);
  if (/\bJWT\b/.test(error.message)) return refuse(`it is malformed (${error.message})`);
  return undefined;
}

function claimRefusal(
  cause: { claim?: string; claims?: { aud?: unknown } },
  context: Context,
  refuse: (message: string, hint?: string) => EggError,
): EggError {
  switch (cause.claim) {
    case 'aud':
      // OIDC Core §3.1.3.7 (4)–(5): with several audiences, azp must name us.
      if (Array.isArray(cause.claims?.aud) && cause.claims.aud.includes(context.clientId)) return several();
      return refuse(`it was issued to another client (not ${context.clientId})`, 'check --client-id');
    case 'azp':
      return several();
    case 'iss':
      return refuse(`it was issued by another issuer (not ${context.issuer})`);
    case 'nonce':
      // OIDC Core §3.1.3.7 (11): a token for another sign-in (replayed or injected) carries another nonce.
      return refuse('its nonce does not match this login’s request', 'run `egg login` again');
    default:
      return refuse(`its "${cause.claim}" claim is invalid`);
  }
}

function several(): EggError {
  return new EggError('ERR_OIDC', 'the ID token names several audiences and was not issued to this client');
}

/** The JWKS could not be had (network, timeout, a malformed key set). */
export function keysUnavailable(error: unknown): EggError {
  return new EggError(
    'ERR_OIDC',
    'the issuer’s ID token was refused: the issuer’s keys could not be fetched',
    { cause: error, hint: 'check the network and try again' },
  );
}
