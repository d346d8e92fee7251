/**
 * The proxy's origin decision (DESIGN, Contracts: "A token bound to web origins requires
 * `Origin`; native-app tokens say `--allow-no-origin` at mint time"). Pure: the request's
 * `Origin` header as received and the token's verified claims in, allowed or not out.
 *
 * The token's origins are canonical (claims.ts `normalizeOrigin`): lowercase scheme and
 * host, no default port. Browsers serialise `Origin` the same way (RFC 6454 §6.2, WHATWG
 * URL "serialization of an origin"), so the header is compared with them ASCII
 * case-insensitively, which only scheme and host can differ by (a port is digits): never
 * Unicode case folding (U+212A KELVIN SIGN must not become `k`), never trimmed, the port
 * exactly as written (`:443` on https is not the canonical form, so it does not match).
 * `null` (an opaque origin: sandboxed frames, `file:`, some redirects) never matches, and
 * neither does an empty or repeated header.
 */
import type { TokenClaims } from '../tokens/claims.js';

/**
 * Whether a request whose `Origin` header is `header` (undefined when absent) may use a
 * token with these claims: an allowed origin, or no `Origin` at all when the token was
 * minted for native apps (`native: true`).
 *
 * @example originAllowed('HTTPS://App.Example.com', { origins: ['https://app.example.com'] }) // true
 */
export function originAllowed(
  header: string | undefined,
  token: { readonly origins: readonly string[]; readonly native?: TokenClaims['native'] },
): boolean {
  if (header === undefined) return token.native === true;
  const origin = asciiLowerCase(header);
  // Up to 32 short strings: a scan beats building a set per request.
  for (const allowed of token.origins) if (allowed === origin) return true;
  return false;
}

const ASCII_UPPER = /[A-Z]/;
const ASCII_UPPER_ALL = /[A-Z]/g;

/** `A`–`Z` to `a`–`z`, every other character as it is (String#toLowerCase folds Unicode too). */
function asciiLowerCase(value: string): string {
  // Browsers send lowercase: the common case costs one test and no new string.
  return ASCII_UPPER.test(value)
    ? value.replace(ASCII_UPPER_ALL, (c) => String.fromCharCode(c.charCodeAt(0) + 32))
    : value;
}
