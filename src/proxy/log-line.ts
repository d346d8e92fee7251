/**
 * The proxy's one JSON log line per request (DESIGN: only time, token id, status, bytes in
 * and out, latency, and a hash of the request headers; a 5xx also says why). Built by hand:
 * every field is a number, an ISO time, a verified token id (TOKEN_ID: [A-Za-z0-9_-]) or
 * null, hex, or a refusal code ([a-z_]), so nothing needs escaping and nothing from the
 * request is written but through its hash.
 */
import { hash } from 'node:crypto';

/** Request headers whose values the header hash leaves out: where tokens ride, cookies. */
const STRIP_REQUEST = new Set(['authorization', 'x-api-key', 'cookie']);

/**
 * One request's log line, with its newline. `refusal` is the code of the proxy's own answer
 * (refusals.ts), if it gave one; a 5xx without one was the upstream's (`upstream_status`).
 */
export function logLine(
  time: string,
  token: string | null,
  status: number,
  refusal: string | undefined,
  bytesIn: number,
  bytesOut: number,
  ms: number,
  rawHeaders: string[],
): string {
  const id = token === null ? 'null' : `"${token}"`;
  const code = status >= 500 ? `,"code":"${refusal ?? 'upstream_status'}"` : '';
  return `{"time":"${time}","token":${id},"status":${status}${code},"bytesIn":${bytesIn},"bytesOut":${bytesOut},"ms":${hundredths(ms)},"headers":"${headerHash(rawHeaders)}"}\n`;
}

/** SHA-256 over the request's header names and values; the token's value is left out. */
export function headerHash(raw: string[]): string {
  // One string and a one-shot hash: cheaper than a Hash object fed line by line.
  let text = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    text += `${name}:${STRIP_REQUEST.has(name) ? '-' : (raw[i + 1] as string)}\n`;
  }
  return hash('sha256', text, 'hex');
}

/**
 * `ms` rounded to hundredths, written as `String(Math.round(ms * 100) / 100)` writes it but
 * from integers (a double's shortest form is the slow part of the log line).
 */
export function hundredths(ms: number): string {
  const all = Math.round(ms * 100);
  if (!(all >= 0 && all < 1e15)) return String(Math.round(ms * 100) / 100);
  const whole = Math.floor(all / 100);
  const part = all - whole * 100;
  if (part === 0) return `${whole}`;
  if (part % 10 === 0) return `${whole}.${part / 10}`;
  return `${whole}.${part < 10 ? '0' : ''}${part}`;
}

/**
 * `Date#toISOString` of a time in ms, for the log line: the date and time to the second are
 * formatted once a second, the milliseconds appended.
 */
export function isoClock(): (ms: number) => string {
  let second = Number.NaN;
  let prefix = '';
  return (ms) => {
    const at = Math.floor(ms);
    const s = Math.floor(at / 1000);
    if (s !== second) {
      prefix = new Date(s * 1000).toISOString().slice(0, -4);
      second = s;
    }
    const milli = at - s * 1000;
    return `${prefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
  };
}
