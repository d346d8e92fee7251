/**
 * The CORS preflight (Fetch Standard, "CORS-preflight fetch"). Browsers send no credentials
 * on a preflight, so it cannot name a token: it is answered for any well-formed origin and
 * grants nothing. The actual request is checked against its token's origins (origin.ts;
 * 403 otherwise).
 */
import { FORWARDED_METHODS } from './framing.js';

/** `Access-Control-Request-Headers`: a comma-separated list of header names (RFC 9110 tokens). */
const TOKEN_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:[ \t]*,[ \t]*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;
/** Longest `Access-Control-Request-Headers` answered. */
export const MAX_REQUESTED_HEADERS = 2048;

/**
 * The headers of the 204 that answers a preflight from `origin` asking for `method` and
 * `requested` headers (empty when it asks for none), or undefined when it is refused (403):
 * no or a malformed origin, a method the proxy does not forward, a malformed header list.
 *
 * @example preflightHeaders('https://app.example.com', 'POST', 'content-type')
 */
export function preflightHeaders(
  origin: string | undefined,
  method: string,
  requested: string,
): Record<string, string> | undefined {
  if (
    origin === undefined ||
    !/^https?:\/\/[A-Za-z0-9.\-[\]:]{1,260}$/.test(origin) ||
    !FORWARDED_METHODS.has(method) ||
    requested.length > MAX_REQUESTED_HEADERS ||
    (requested !== '' && !TOKEN_LIST.test(requested))
  ) {
    return undefined;
  }
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': method,
    ...(requested === '' ? {} : { 'access-control-allow-headers': requested }),
    'access-control-max-age': '600',
    vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
  };
}
