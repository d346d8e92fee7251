/**
 * The token string: `egg_` + a compact JWS + `.` + an 8-character checksum.
 *
 * The prefix and checksum (after GitHub's token format, "Behind GitHub's new authentication
 * token formats", 2021) let the proxy reject garbage before any crypto and let secret
 * scanners find leaked tokens with few false positives. The checksum is not a MAC: anyone
 * can compute it; only the Ed25519 signature authenticates a token. docs/tokens.md has the
 * exact format and a scanning regex.
 */
import { createHash } from 'node:crypto';

export const TOKEN_PREFIX = 'egg_';
/** Checksum: the first 6 bytes of SHA-256 over everything before it, base64url (8 characters). */
export const CHECKSUM_CHARS = 8;
/** No token we mint comes near this; anything longer is refused unread. */
export const MAX_TOKEN_CHARS = 4096;

const SHAPE = /^egg_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{8}$/;

/**
 * A regex a secret scanner can use (an Ed25519 signature is 86 base64url characters). The
 * ends are bounded by "no base64url character" rather than `\b`: a checksum may end in `-`,
 * where there is no word boundary before a space.
 */
export const TOKEN_SCAN_REGEX =
  /(?<![A-Za-z0-9_-])egg_eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}\.[A-Za-z0-9_-]{8}(?![A-Za-z0-9_-])/g;

function checksum(body: string): string {
  return createHash('sha256').update(body).digest().subarray(0, 6).toString('base64url');
}

/** Wrap a compact JWS into a token string. */
export function encodeToken(jws: string): string {
  const body = `${TOKEN_PREFIX}${jws}`;
  return `${body}.${checksum(body)}`;
}

/**
 * The compact JWS inside `token`, or undefined when the string is not shaped like one of
 * ours (wrong prefix, too long, bad characters, wrong checksum). Cheap: one SHA-256.
 */
export function decodeToken(token: string): string | undefined {
  if (token.length > MAX_TOKEN_CHARS || !SHAPE.test(token)) return undefined;
  const cut = token.length - CHECKSUM_CHARS - 1;
  const body = token.slice(0, cut);
  if (checksum(body) !== token.slice(cut + 1)) return undefined;
  return body.slice(TOKEN_PREFIX.length);
}

/**
 * What a token's record keeps of it (`TokenRecord.digest`): SHA-256 of the whole token
 * string, base64url. The proxy accepts a token only when its record in the token's own
 * namespace carries this digest, so a key that may sign is not enough to make a token.
 */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
