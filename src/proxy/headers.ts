/**
 * The headers of a proxied exchange: what of the client's request reaches the upstream, and
 * what of the upstream's answer reaches the client. Headers arrive as Node's `rawHeaders`
 * (name, value, name, value…) and leave as such an array, in order, so nothing is merged.
 *
 * Upstream, the proxy sends: the client's end-to-end headers, less where tokens ride
 * (`Authorization`, `x-api-key`), the proxy's own cookies, hop-by-hop headers and those that
 * `Connection` names (RFC 9110 §7.6.1), `Forwarded` and `X-Forwarded-*` (the upstream learns
 * nothing of the client's network); then `Host` of the pinned origin, the body's framing
 * (framing.ts) and the injected key.
 */
import type { InjectTemplate } from '../tokens/upstream.js';
import type { BodyFraming } from './framing.js';

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
];
/**
 * One lookup a header rather than several: hop-by-hop, where tokens ride, the proxy's own
 * cookies, `Forwarded`; `content-length` is restated from the parsed request.
 */
const DROP_REQUEST = new Set([
  ...HOP_BY_HOP,
  'authorization',
  'x-api-key',
  'cookie',
  'forwarded',
  'content-length',
]);
const DROP_RESPONSE = new Set([
  ...HOP_BY_HOP,
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'set-cookie',
]);
/** `X-Forwarded-For`, `-Host`, `-Proto`, `-Port`, `-Prefix`, and any other of the family. */
const X_FORWARDED = 'x-forwarded-';

/** The CORS headers of a request without `Origin`: none. */
export const NO_CORS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The CORS headers of the answer to a request from `origin` (already allowed for its token,
 * origin.ts): that origin, and `Vary: Origin` since the answer depends on it.
 */
export function corsHeaders(origin: string | undefined): Readonly<Record<string, string>> {
  return origin === undefined ? NO_CORS : { 'access-control-allow-origin': origin, vary: 'Origin' };
}

/**
 * Headers named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1). Undefined when that
 * names nothing beyond HOP_BY_HOP: no `Connection` header, or the usual `keep-alive`. Names
 * are ASCII tokens, so only a name of `connection`'s length needs lowercasing.
 */
export function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let names: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      const value = raw[i + 1] as string;
      if (value.length === 10 && value.toLowerCase() === 'keep-alive') continue;
      names ??= new Set();
      for (const token of value.split(',')) names.add(token.trim().toLowerCase());
    }
  }
  return names;
}

/**
 * The headers sent upstream. `framing` comes from the parsed request (framing.ts), so no
 * header of the client's, `Connection` included, can add, remove or change it.
 */
export function requestHeaders(
  raw: readonly string[],
  framing: BodyFraming,
  inject: InjectTemplate,
  host: string,
  key: string,
): string[] {
  const dropped = connectionTokens(raw);
  const injected = inject.name;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (DROP_REQUEST.has(name) || name === injected || dropped?.has(name) || name.startsWith(X_FORWARDED))
      continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  out.push('host', host);
  if (framing !== null) out.push(framing[0], framing[1]);
  out.push(injected, `${inject.prefix}${key}${inject.suffix}`);
  return out;
}

/** The upstream's response headers as the client gets them, with the proxy's CORS answer. */
export function responseHeaders(raw: readonly string[], cors: Readonly<Record<string, string>>): string[] {
  const dropped = connectionTokens(raw);
  const out: string[] = [];
  const withCors = cors !== NO_CORS;
  const vary: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    // The upstream's Content-Length frames the body it sends, so its Connection cannot remove it.
    if (DROP_RESPONSE.has(name) || (dropped?.has(name) && name !== 'content-length')) continue;
    if (withCors && name === 'vary' && cors.vary !== undefined) {
      vary.push(raw[i + 1] as string);
      continue;
    }
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  if (withCors)
    for (const [name, value] of Object.entries(cors))
      out.push(name, name === 'vary' ? [...vary, value].join(', ') : value);
  return out;
}

/** Whether the upstream sized its body (else it streams: SSE, chunked). */
export function hasContentLength(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 14 && name.toLowerCase() === 'content-length') return true;
  }
  return false;
}
