/**
 * What the proxy forwards and how a forwarded body is delimited (DESIGN, Contracts for the
 * next capabilities: Proxy requests; issue 9, items 1 and 2).
 *
 * The upstream socket is pooled and kept alive, so a body sent without framing is read by
 * the upstream as the start of the next request on that socket: request smuggling. Node's
 * client adds no framing for a GET, HEAD, DELETE or OPTIONS given an array of headers, and
 * the client's own `Transfer-Encoding` is hop-by-hop (RFC 9110 §7.6.1), so the proxy always
 * states the framing itself, from what Node's parser read: the client's `Content-Length`
 * when it sent one, else `Transfer-Encoding: chunked` when it sent a chunked body, else no
 * body at all (RFC 9112 §6.3: a request with neither has none). `Connection` cannot remove
 * it, since it is taken from the parsed request, not from the headers passed on.
 */

/** The methods forwarded upstream (DESIGN); anything else is answered 405. */
export const FORWARDED_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
]);

/** The `Allow` header of a 405 (RFC 9110 §15.5.6). */
export const ALLOWED_METHODS = [...FORWARDED_METHODS].join(', ');

/**
 * Whether a request target is a path (origin-form, RFC 9112 §3.2.1), the only form forwarded:
 * an absolute-form target (`http://evil.com/x`) or `*` is refused, and so is a path that
 * starts `/\`, which a WHATWG URL parser reads as `//`, a host (`/\evil.com`). The path goes
 * upstream verbatim, never resolved, so `//evil.com/x` stays a path on the pinned host.
 */
export function isPathTarget(url: string | undefined): url is string {
  return url !== undefined && url.startsWith('/') && !url.startsWith('/\\');
}

/**
 * How a request's body is delimited on its way upstream: the header that says so, `null` for
 * a request without a body, or `'refused'` for framing that cannot be passed on exactly.
 */
export type Framing =
  readonly ['content-length', string] | readonly ['transfer-encoding', 'chunked'] | null | 'refused';

/** The framing of a request the proxy forwards. */
export type BodyFraming = Exclude<Framing, 'refused'>;

/** 15 digits is a petabyte: far beyond any body limit, and exact as a double. */
const LENGTH = /^\d{1,15}$/;

/**
 * The framing of a request from its parsed `Content-Length` and `Transfer-Encoding` (Node
 * joins repeated `Transfer-Encoding` headers with ", ").
 *
 * Refused: both headers at once (RFC 9112 §6.3 calls it a smuggling attempt; Node's parser
 * refuses it too, unless started with `--insecure-http-parser`, so this holds either way),
 * a transfer coding other than exactly `chunked` (`gzip, chunked` would reach the upstream
 * decoded of its chunks but still gzip-coded, with nothing saying so), and a length that is
 * not plain digits.
 *
 * @example requestFraming('12', undefined) // ['content-length', '12']
 * @example requestFraming(undefined, 'chunked') // ['transfer-encoding', 'chunked']
 */
export function requestFraming(
  contentLength: string | undefined,
  transferEncoding: string | undefined,
): Framing {
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) return 'refused';
    return transferEncoding.trim().toLowerCase() === 'chunked' ? CHUNKED : 'refused';
  }
  if (contentLength === undefined) return null;
  return LENGTH.test(contentLength) ? ['content-length', String(Number(contentLength))] : 'refused';
}

const CHUNKED = Object.freeze(['transfer-encoding', 'chunked'] as const);
