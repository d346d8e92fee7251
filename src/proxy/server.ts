/**
 * The edge proxy (DESIGN, Host-bound tokens and the edge proxy). Each request runs the
 * flow in DESIGN's order:
 *   token shape and checksum → signature and time → revocation → Origin → rate → spend
 *   (which also requires the token's record in its own namespace) → provider key → inject it, strip the egg token → forward to the pinned upstream,
 *   streaming both bodies → one JSON log line → the key buffer released once the
 *   upstream request is written.
 * Answers: 401 bad/expired/revoked token, 403 origin, 429 rate (Retry-After), 402 spend,
 * 503 when revocation or spend state cannot be confirmed (fail closed), 502/504 upstream.
 *
 * Every header is hostile: the request's Host, an absolute-form target or a path like
 * `//evil.com/x` never choose where the key goes; the upstream's origin comes only from
 * the secret's pinned metadata and the path is sent to it verbatim. Only the methods of
 * framing.ts are forwarded (405 otherwise), every forwarded body is framed by the proxy
 * itself, and each provider key has its own upstream sockets (upstream-pools.ts), so no
 * request can leave bytes on a socket that another key's request will use. Error bodies
 * are fixed strings: nothing from the request is echoed, and the log carries no token, key
 * or body.
 */
import { hash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { isEggError } from '../errors.js';
import type { SpendResult, TokenStore } from '../tokens/token-store.js';
import type { TokenVerifier } from '../tokens/verifier.js';
import { isSendableProviderKey } from '../vault/provider-key.js';
import { ALLOWED_METHODS, type BodyFraming, FORWARDED_METHODS, requestFraming } from './framing.js';
import { hasContentLength, NO_CORS, requestHeaders, responseHeaders } from './headers.js';
import { InactivityWatch } from './inactivity.js';
import { originAllowed } from './origin.js';
import type { KeyLease, KeySource } from './provider-keys.js';
import type { RateLimiter } from './rate.js';
import type { RevocationWatcher } from './revocation.js';
import type { TlsSettings } from './tls.js';
import { UpstreamPools } from './upstream-pools.js';

export interface ProxyOptions {
  verifier: Pick<TokenVerifier, 'verify'>;
  revocations: Pick<RevocationWatcher, 'check'>;
  rate: Pick<RateLimiter, 'take'>;
  spend: Pick<TokenStore, 'reserveSpend'>;
  keys: KeySource;
  /** Receives one JSON line (with its newline) per request. */
  log: (line: string) => void;
  clock?: () => number;
  /** Upstream inactivity (no response yet, or a silent body) before 504 / cut: default 120 s. */
  upstreamTimeoutMs?: number;
  /** Largest request body forwarded: default 100 MiB. */
  maxBodyBytes?: number;
  /** Upstream connections, one keep-alive pool per provider key (default: a fresh set). */
  pools?: UpstreamPools;
}

/** Headers are bounded by Node (431 beyond this); a token by MAX_TOKEN_CHARS (401). */
export const MAX_HEADER_BYTES = 128 * 1024;

/** Request headers whose values the log's header hash leaves out: where tokens ride, cookies. */
const STRIP_REQUEST = new Set(['authorization', 'x-api-key', 'cookie']);
const TOKEN_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:[ \t]*,[ \t]*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;

type Refusal = { status: number; code: string; message: string; headers?: Record<string, string> };

const REFUSALS = {
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

/** What one request's log line needs, and its upstream request once there is one. */
interface Exchange {
  token: string | null;
  /** How the body goes upstream (framing.ts). */
  framing: BodyFraming;
  bytesIn: number;
  bytesOut: number;
  upstream: http.ClientRequest | undefined;
  /** The upstream's last sign of life, and the links of the inactivity watch (inactivity.ts). */
  lastTick: number;
  watchPrev: Exchange | null;
  watchNext: Exchange | null;
  logged: boolean;
}

/** Where a pinned upstream origin is reached: parsed once, not on every request. */
interface UpstreamTarget {
  secure: boolean;
  protocol: string;
  hostname: string;
  port: number;
  /** The `Host` header sent: the origin's host exactly. */
  host: string;
  servername: string;
}

/** The refusal code of each response the proxy answered itself, for the log line of a 5xx. */
const refusalCodes = new WeakMap<ServerResponse, string>();

/** The request handler; `createProxyServer` wraps it in a server with the right limits. */
export function createProxyHandler(
  options: ProxyOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const clock = options.clock ?? Date.now;
  const timeoutMs = options.upstreamTimeoutMs ?? 120_000;
  const maxBody = options.maxBodyBytes ?? 100 * 1024 * 1024;
  const pools = options.pools ?? new UpstreamPools();
  const isoTime = isoClock();
  const targets = new Map<string, UpstreamTarget>();
  // Upstream silence (no answer yet, or a body that stops) past the bound: 504, or a cut.
  const silence = new InactivityWatch<Exchange>(timeoutMs, (exchange) =>
    exchange.upstream?.destroy(new UpstreamTimeout()),
  );

  return (req, res) => {
    const started = performance.now();
    const exchange: Exchange = {
      token: null,
      framing: null,
      bytesIn: 0,
      bytesOut: 0,
      upstream: undefined,
      lastTick: 0,
      watchPrev: null,
      watchNext: null,
      logged: false,
    };
    // 'close' follows 'finish' on every response (Node's resOnFinish emits it a tick later)
    // and comes alone when the client goes first: one listener logs the request, and takes
    // with it an upstream request that has not both sent the whole body and been answered
    // (a client gone early, or one that declared more body than it sent: issue 9, item 3).
    res.on('close', () => {
      if (exchange.upstream !== undefined) {
        silence.delete(exchange);
        if (!res.writableFinished || !req.complete) exchange.upstream.destroy();
      }
      if (exchange.logged) return;
      exchange.logged = true;
      // Built by hand: every field is a number, an ISO time, a verified token id
      // (TOKEN_ID: [A-Za-z0-9_-]) or null, hex, or a refusal code ([a-z_]).
      const token = exchange.token === null ? 'null' : `"${exchange.token}"`;
      const status = res.statusCode;
      // A 5xx says why: the proxy's refusal code, or that the upstream answered it.
      const code = status >= 500 ? `,"code":"${refusalCodes.get(res) ?? 'upstream_status'}"` : '';
      options.log(
        `{"time":"${isoTime(clock())}","token":${token},"status":${status}${code},"bytesIn":${exchange.bytesIn},"bytesOut":${exchange.bytesOut},"ms":${hundredths(performance.now() - started)},"headers":"${headerHash(req.rawHeaders)}"}\n`,
      );
    });
    handle(req, res, exchange).catch(() => {
      if (!res.headersSent) refuse(res, REFUSALS.upstream);
      else res.destroy();
    });
  };

  async function handle(req: IncomingMessage, res: ServerResponse, exchange: Exchange) {
    const origin = singleHeader(req.headers.origin);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      return preflight(req, res, origin);
    }
    if (!FORWARDED_METHODS.has(req.method as string)) return refuse(res, REFUSALS.method);
    if (req.url === undefined || !req.url.startsWith('/') || req.url.startsWith('/\\')) {
      return refuse(res, REFUSALS.badRequest);
    }
    const framing = requestFraming(req.headers['content-length'], req.headers['transfer-encoding']);
    if (framing === 'refused') return refuse(res, REFUSALS.badFraming);
    exchange.framing = framing;
    const token = extractToken(req);
    if (token === undefined) return refuse(res, REFUSALS.token);
    // Each step answers at once when it can (a verified token, polled revocation state,
    // SQLite, a cached key) and is awaited only when it cannot: a busy token's request makes
    // no promise round trips. Every step still runs, in DESIGN's order, on every request.
    const verifying = options.verifier.verify(token);
    const verdict = isPromise(verifying) ? await verifying : verifying;
    if (!verdict.ok) return refuse(res, REFUSALS.token);
    const claims = verdict.claims;
    exchange.token = claims.jti;

    const checking = options.revocations.check(claims);
    const revocation = isPromise(checking) ? await checking : checking;
    if (revocation === 'revoked') return refuse(res, REFUSALS.token);
    if (revocation === 'unavailable') return refuse(res, REFUSALS.unavailable);

    // An allowed origin, or no Origin only for a token minted --allow-no-origin (origin.ts).
    if (!originAllowed(origin, claims)) return refuse(res, REFUSALS.origin);
    const cors = origin === undefined ? NO_CORS : { 'access-control-allow-origin': origin, vary: 'Origin' };

    const declared = Number(req.headers['content-length'] ?? 0);
    if (!(declared <= maxBody)) return refuse(res, { ...REFUSALS.tooLarge, headers: cors });

    const rate = options.rate.take(claims.jti, claims.rps, claims.burst);
    if (!rate.ok) {
      return refuse(res, {
        status: 429,
        code: 'rate_limited',
        message: "the token's rate cap is reached",
        headers: { ...cors, 'retry-after': String(rate.retryAfterSeconds) },
      });
    }

    // One conditional write on the token's record: the reservation, and the proof that the
    // token was minted in its own namespace (a valid signature alone is not enough).
    let spend: SpendResult;
    try {
      const reserving = options.spend.reserveSpend(
        claims.sub,
        claims.jti,
        verdict.digest,
        claims.cost,
        claims.spend,
      );
      spend = isPromise(reserving) ? await reserving : reserving;
    } catch {
      return refuse(res, { ...REFUSALS.unavailable, headers: { ...cors, ...REFUSALS.unavailable.headers } });
    }
    if (!spend.ok) {
      // No live record (never minted here, another digest, marked by a kill switch): 401.
      return spend.reason === 'spend-cap'
        ? refuse(res, { ...REFUSALS.spend, headers: cors })
        : refuse(res, REFUSALS.token);
    }

    let lease: KeyLease;
    try {
      const leasing = options.keys.lease(claims.sub, claims.key);
      lease = isPromise(leasing) ? await leasing : leasing;
    } catch (error) {
      const refusal: Refusal = isEggError(error, 'ERR_STORE_UNAVAILABLE')
        ? REFUSALS.unavailable
        : REFUSALS.keyUnavailable;
      return refuse(res, { ...refusal, headers: { ...cors, ...refusal.headers } });
    }
    forward(req, res, lease, cors, exchange, `${claims.sub}\n${claims.key}`);
  }

  function upstreamTarget(upstream: string): UpstreamTarget {
    let target = targets.get(upstream);
    if (target === undefined) {
      const url = new URL(upstream);
      const secure = url.protocol === 'https:';
      target = {
        secure,
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
        host: url.host,
        servername: url.hostname,
      };
      // Pinned origins are few; a bound all the same.
      if (targets.size >= 256) targets.clear();
      targets.set(upstream, target);
    }
    return target;
  }

  /** `pool`: the provider key's own upstream sockets (namespace and secret name). */
  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    lease: KeyLease,
    cors: Readonly<Record<string, string>>,
    exchange: Exchange,
    pool: string,
  ) {
    let upstreamReq: http.ClientRequest;
    try {
      const key = lease.value.toString('latin1');
      // A key that cannot sit in a header line unchanged is refused, never "fixed".
      if (!isSendableProviderKey(key)) {
        refuse(res, { ...REFUSALS.keyInvalid, headers: cors });
        return;
      }
      const target = upstreamTarget(lease.upstream);
      const headers = requestHeaders(req.rawHeaders, exchange.framing, lease.inject, target.host, key);
      upstreamReq = target.secure
        ? https.request({
            protocol: target.protocol,
            hostname: target.hostname,
            port: target.port,
            servername: target.servername,
            method: req.method,
            // The path as received, never resolved against anything: the host is fixed above.
            path: req.url,
            headers,
            agent: pools.agent(pool, true),
            setHost: false,
          })
        : http.request({
            protocol: target.protocol,
            hostname: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers,
            agent: pools.agent(pool, false),
            setHost: false,
          });
    } catch {
      refuse(res, { ...REFUSALS.badRequest, headers: cors });
      return;
    } finally {
      // The header is written into the request now; our copy of the key is no longer needed.
      lease.release();
    }
    // From here a client gone early takes the upstream request with it (the 'close'
    // listener); the watch ends with the upstream's answer or with the response.
    exchange.upstream = upstreamReq;
    silence.add(exchange);

    let answered = false;
    upstreamReq.on('error', (error) => {
      if (!res.headersSent) {
        const refusal = error instanceof UpstreamTimeout ? REFUSALS.timeout : REFUSALS.upstream;
        refuse(res, { ...refusal, headers: cors });
      } else res.destroy();
    });
    upstreamReq.on('response', (upstreamRes) => {
      answered = true;
      exchange.lastTick = silence.tick;
      const raw = upstreamRes.rawHeaders;
      res.writeHead(upstreamRes.statusCode ?? 502, responseHeaders(raw, cors));
      // A streamed answer (no length: SSE, chunked) gets its status and headers at once;
      // a sized one sends them with the first body bytes, in one write.
      if (!hasContentLength(raw)) res.flushHeaders();
      // Both bodies are pumped by hand rather than piped: the same back-pressure (pause on a
      // full buffer, resume on 'drain'), the byte count in the same listener, and none of
      // pipe()'s per-request listener bookkeeping.
      upstreamRes.on('data', (chunk: Buffer) => {
        exchange.bytesOut += chunk.length;
        exchange.lastTick = silence.tick;
        if (!res.write(chunk)) upstreamRes.pause();
      });
      upstreamRes.on('end', () => {
        silence.delete(exchange);
        // Answered before the whole body came: nobody will read the rest upstream, so the
        // request goes now rather than hold its socket (the client's rest is read and dropped).
        if (!req.complete) upstreamReq.destroy();
        res.end();
      });
      upstreamRes.on('error', () => res.destroy());
      res.on('drain', () => upstreamRes.resume());
    });
    req.on('data', (chunk: Buffer) => {
      exchange.bytesIn += chunk.length;
      if (exchange.bytesIn > maxBody) {
        upstreamReq.destroy();
        if (!answered && !res.headersSent) refuse(res, { ...REFUSALS.tooLarge, headers: cors });
        req.destroy();
        return;
      }
      // The upstream request is gone (answered early, cut): the rest is read and dropped, so
      // the client's connection stays usable.
      if (upstreamReq.destroyed) return;
      exchange.lastTick = silence.tick;
      if (!upstreamReq.write(chunk)) req.pause();
    });
    upstreamReq.on('drain', () => req.resume());
    req.on('end', () => {
      if (!upstreamReq.destroyed) upstreamReq.end();
    });
    req.on('error', () => upstreamReq.destroy());
  }

  function preflight(req: IncomingMessage, res: ServerResponse, origin: string | undefined) {
    // Browsers send no credentials on a preflight (Fetch Standard, "CORS-preflight fetch"),
    // so it cannot name a token: it is answered for any well-formed origin and grants
    // nothing. The actual request is checked against its token's origins (403 otherwise).
    const method = singleHeader(req.headers['access-control-request-method']) ?? '';
    const requested = singleHeader(req.headers['access-control-request-headers']) ?? '';
    if (
      origin === undefined ||
      !/^https?:\/\/[A-Za-z0-9.\-[\]:]{1,260}$/.test(origin) ||
      !FORWARDED_METHODS.has(method) ||
      requested.length > 2048 ||
      (requested !== '' && !TOKEN_LIST.test(requested))
    ) {
      return refuse(res, REFUSALS.origin);
    }
    res.writeHead(204, {
      'access-control-allow-origin': origin,
      'access-control-allow-methods': method,
      ...(requested === '' ? {} : { 'access-control-allow-headers': requested }),
      'access-control-max-age': '600',
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    });
    res.end();
  }
}

class UpstreamTimeout extends Error {}

/**
 * The proxy's server: bounded headers, keep-alive, no Nagle delay (SSE events go out as
 * written), Node's strict HTTP parser whatever `--insecure-http-parser` says. With `tls`,
 * HTTPS (tls.ts). Closing it destroys the upstream pools.
 */
export function createProxyServer(options: ProxyOptions): http.Server;
export function createProxyServer(options: ProxyOptions, tls: TlsSettings): https.Server;
export function createProxyServer(options: ProxyOptions, tls?: TlsSettings): http.Server | https.Server {
  const pools = options.pools ?? new UpstreamPools();
  const handler = createProxyHandler({ ...options, pools });
  const settings = {
    maxHeaderSize: MAX_HEADER_BYTES,
    noDelay: true,
    keepAliveTimeout: 5_000,
    headersTimeout: 30_000,
    insecureHTTPParser: false,
  };
  const server =
    tls === undefined
      ? http.createServer(settings, handler)
      : https.createServer(
          {
            ...settings,
            cert: tls.cert,
            key: tls.key,
            minVersion: tls.minVersion,
            ciphers: tls.ciphers,
            ALPNProtocols: ['http/1.1'],
            handshakeTimeout: 10_000,
          },
          handler,
        );
  server.on('close', () => pools.close());
  return server;
}

function refuse(res: ServerResponse, refusal: Refusal): void {
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

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Whether a step answered later rather than at once (see `handle`). */
function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * The egg token: `Authorization: Bearer …` (OpenAI's clients) or `x-api-key` (Anthropic's).
 * `Bearer` in any case, spaces, the token, spaces. What is left is not checked further
 * here: the verifier refuses anything that is not exactly a token (whitespace included).
 */
function extractToken(req: IncomingMessage): string | undefined {
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    if (authorization.length < 8 || authorization.charCodeAt(6) !== 0x20) return undefined;
    if (authorization.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
    let start = 7;
    while (authorization.charCodeAt(start) === 0x20) start++;
    let end = authorization.length;
    while (end > start && authorization.charCodeAt(end - 1) === 0x20) end--;
    return start === end ? undefined : authorization.slice(start, end);
  }
  const apiKey = req.headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey.trim() : undefined;
}

/** SHA-256 over the request's header names and values; the token's value is left out. */
function headerHash(raw: string[]): string {
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
function hundredths(ms: number): string {
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
function isoClock(): (ms: number) => string {
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
