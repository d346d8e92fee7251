/**
 * Reading an OIDC token's claims for display, never for trust: the signature is STS's to
 * verify. When STS refuses a token, these are what a trust policy's conditions compare
 * (`token.actions.githubusercontent.com:sub`, `:aud`, …), so showing them beside the role
 * tells the user which condition to change. None of them is secret; the token is.
 */
import { EggError } from '../errors.js';

/** The claims a GitHub trust policy conditions on, in the order they are shown. */
export const TRUST_CLAIMS = ['sub', 'aud', 'ref', 'environment', 'job_workflow_ref', 'repository'] as const;

export type TrustClaim = (typeof TRUST_CLAIMS)[number];

/** The payload of a compact JWS (RFC 7515 §7.1), decoded but not verified. */
export function decodeClaims(token: string): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === undefined || !/^[A-Za-z0-9_-]+$/.test(parts[1])) {
    throw new EggError('ERR_INVALID_CONFIG', 'the OIDC token is not a JSON Web Token');
  }
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    throw new EggError('ERR_INVALID_CONFIG', 'the OIDC token’s payload is not JSON');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new EggError('ERR_INVALID_CONFIG', 'the OIDC token’s payload is not a JSON object');
  }
  return payload as Record<string, unknown>;
}

/** The trust claims as `name: value` lines (absent ones say so), for an error message. */
export function describeClaims(claims: Record<string, unknown>): string[] {
  return TRUST_CLAIMS.map((name) => {
    const value = claims[name];
    if (value === undefined) return `${name}: (absent)`;
    return `${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`;
  });
}
