/**
 * The one-time values of a browser login: the PKCE code verifier and its S256 challenge
 * (RFC 7636 §4.1–4.2), and the `state` (RFC 6749 §10.12) and `nonce` (OIDC Core §3.1.2.1)
 * that bind the answer to this request. All come from the OS CSPRNG, 256 bits each.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A PKCE pair: the verifier stays in this process; only the challenge leaves it. */
export interface Pkce {
  verifier: string;
  challenge: string;
}

/**
 * A fresh verifier (43 base64url characters, RFC 7636 §4.1's minimum length, from 32
 * random bytes as §4.1 recommends) and its S256 challenge. `plain` is never used.
 */
export function createPkce(): Pkce {
  const verifier = randomToken();
  return { verifier, challenge: s256(verifier) };
}

/**
 * RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))).
 * @example
 * s256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk') // 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
 */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** 256 random bits, base64url: a `state` or `nonce` (RFC 6749 §10.10 asks for at least 128). */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Compare a value that came back against the one sent, in constant time for equal lengths. */
export function sameToken(received: string, expected: string): boolean {
  const a = Buffer.from(received);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
