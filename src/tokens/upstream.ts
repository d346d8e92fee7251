/**
 * A provider key's proxy metadata: the pinned upstream origin the proxy may send it to,
 * and the template of the header that carries it (`Authorization: Bearer {}`).
 */
import { EggError } from '../errors.js';
import { normalizeOrigin } from './claims.js';

export const DEFAULT_INJECT = 'Authorization: Bearer {}';

/** Headers a template may not set: they route, frame or authenticate the hop itself. */
const FORBIDDEN_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-connection',
  'cookie',
  'origin',
]);
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
/** Visible ASCII and spaces, no `{`/`}` besides the one placeholder. */
const HEADER_TEXT = /^[\x20-\x7a|~]*$/;

export interface InjectTemplate {
  /** Lowercase header name. */
  name: string;
  prefix: string;
  suffix: string;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether `origin` is a loopback host, the only place plain http is allowed. */
export function isLoopbackOrigin(origin: string): boolean {
  return LOOPBACK.has(new URL(origin).hostname);
}

/**
 * The canonical upstream origin: `https://host[:port]` (plain `http` only on loopback, for
 * local development and tests). No path: the proxy appends the request's path to it.
 */
export function parseUpstream(value: string): string {
  const origin = normalizeOrigin(value);
  if (origin === undefined || (origin.startsWith('http:') && !isLoopbackOrigin(origin))) {
    throw new EggError(
      'ERR_USAGE',
      `--upstream ${JSON.stringify(value.slice(0, 80))} is not an https origin`,
      {
        hint: 'give the provider API origin exactly, e.g. https://api.openai.com (no path; http only on localhost)',
      },
    );
  }
  return origin;
}

/** `Header-Name: text{}text` → its parts; exactly one `{}`, where the key goes. */
export function parseInject(value: string): InjectTemplate {
  const colon = value.indexOf(':');
  const name = value.slice(0, colon).trim();
  const text = value.slice(colon + 1).trim();
  const at = text.indexOf('{}');
  const prefix = text.slice(0, at);
  const suffix = text.slice(at + 2);
  if (
    colon < 1 ||
    !HEADER_NAME.test(name) ||
    FORBIDDEN_HEADERS.has(name.toLowerCase()) ||
    at < 0 ||
    !HEADER_TEXT.test(prefix) ||
    !HEADER_TEXT.test(suffix) ||
    /[{}]/.test(prefix + suffix)
  ) {
    throw new EggError(
      'ERR_USAGE',
      `--inject ${JSON.stringify(value.slice(0, 80))} is not a header template`,
      {
        hint: "give 'Header-Name: text{}text' with one {} where the key goes, e.g. 'Authorization: Bearer {}' or 'x-api-key: {}'",
      },
    );
  }
  return { name: name.toLowerCase(), prefix, suffix };
}

/** The template in its canonical form (`name: prefix{}suffix`), after checking it. */
export function canonicalInject(value: string): string {
  const template = parseInject(value);
  return `${template.name}: ${template.prefix}{}${template.suffix}`;
}
