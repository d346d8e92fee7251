/**
 * What the proxy answers by itself (DESIGN, Host-bound tokens: 401 bad/expired/revoked
 * token, 403 origin, 429 rate, 402 spend, 502/504 upstream; 503 when revocation or spend
 * state cannot be confirmed). Bodies are fixed strings: nothing from the request is echoed.
 * Each answer's `code` is what the request's log line names for a 5xx (log-line.ts).
 */
import type { ServerResponse } from 'node:http';
import { isEggError } from '../errors.js';
import { ALLOWED_METHODS } from './framing.js';

export type Refusal = { status: number; code: string; message: string; headers?: Record<string, string> };

export const REFUSALS = {
  badRequest: { status: 400, code: 'bad_request', message: 'the request target must be a path' },
  badFraming: {
    status: 400,
    code: 'bad_framing',
    message: 'send a request body with one Content-Length or with Transfer-Encoding: chunked alone',
  },
  method: {
    status: 405,
    code: 'method_not_allowed',
    message: 'the proxy forwards GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS only',
    headers: { allow: ALLOWED_METHODS },
  },
  token: {
    status: 401,
    code: 'token_invalid',
    message: 'the egg token is missing, invalid, expired or revoked',
  },
  origin: { status: 403, code: 'origin_not_allowed', message: 'this origin may not use this token' },
  spend: { status: 402, code: 'spend_cap_reached', message: "the token's spend cap is reached" },
  tooLarge: { status: 413, code: 'body_too_large', message: 'the request body is too large' },
  unavailable: {
    status: 503,
    code: 'state_unavailable',
    message: 'the proxy cannot confirm revocation or spend state right now; try again',
    headers: { 'retry-after': '1' },
  },
  keyUnavailable: {
    status: 502,
    code: 'key_unavailable',
    message: 'the provider key for this token is not available',
  },
  keyInvalid: {
    status: 502,
    code: 'key_invalid',
    message:
      'the provider key for this token cannot be sent in a header (empty, or with whitespace); its owner must store it again',
  },
  upstream: { status: 502, code: 'upstream_error', message: 'the upstream could not be reached' },
  timeout: { status: 504, code: 'upstream_timeout', message: 'the upstream did not answer in time' },
} satisfies Record<string, Refusal>;

/** The refusal code of each response the proxy answered itself, for the log line of a 5xx. */
const refusalCodes = new WeakMap<ServerResponse, string>();

/** The code of the refusal `res` carried, or undefined when the proxy did not answer it itself. */
export function refusalCode(res: ServerResponse): string | undefined {
  return refusalCodes.get(res);
}

/** Answer `res` with `refusal`, or cut it when its headers are already gone. */
export function refuse(res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  refusalCodes.set(res, refusal.code);
  const body = JSON.stringify({ error: { type: 'egg_proxy', code: refusal.code, message: refusal.message } });
  res.writeHead(refusal.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...refusal.headers,
  });
  res.end(body);
}

/**
 * The answer when the provider key cannot be had: 503 when its store is unreachable (fail
 * closed, try again), 502 otherwise.
 */
export function leaseRefusal(error: unknown, cors: Readonly<Record<string, string>>): Refusal {
  const refusal: Refusal = isEggError(error, 'ERR_STORE_UNAVAILABLE')
    ? REFUSALS.unavailable
    : REFUSALS.keyUnavailable;
  return { ...refusal, headers: { ...cors, ...refusal.headers } };
}
