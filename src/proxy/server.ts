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
 * the secret's pinned metadata and the path is sent to it verbatim. Error bodies are fixed
 * strings: nothing from the request is echoed, and the log carries no token, key or body.
 */
import { hash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { isEggError } from '../errors.js';
import type { TokenClaims } from '../tokens/claims.js';
import type { SpendResult, TokenStore } from '../tokens/token-store.js';
import type { TokenVerifier } from '../tokens/verifier.js';
import type { KeyLease, KeySource } from './provider-keys.js';
import type { RateLimiter } from './rate.js';
import type { RevocationWatcher } from './revocation.js';

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
  /** Agents for upstream connections (keep-alive by default). */
  agents?: { http: http.Agent; https: https.Agent };
}

/** Headers are bounded by Node (431 beyond this); a token by MAX_TOKEN_CHARS (401). */
export const MAX_HEADER_BYTES = 128 * 1024;

const HOP_BY_HOP = new Set([
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
]);
/** Request headers that never travel upstream: where tokens ride, and the proxy's own cookies. */
const STRIP_REQUEST = new Set(['authorization', 'x-api-key', 'cookie']);
const STRIP_RESPONSE = new Set([
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'set-cookie',
]);
const TOKEN_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:[ \t]*,[ \t]*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** A key that cannot sit in a header line unchanged is refused, never "fixed". */
const HEADER_SAFE_KEY = /^[\x21-\x7e]+$/;

type Refusal = { status: number; code: string; message: string; headers?: Record<string, string> };

const REFUSALS = {
  badRequest: { status: 400, code: 'bad_request', message: 'the request target must be a path' },
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
  upstream: { status: 502, code: 'upstream_error', message: 'the upstream could not be reached' },
  timeout: { status: 504, code: 'upstream_timeout', message: 'the upstream did not answer in time' },
} satisfies Record<string, Refusal>;

/** The request handler; `createProxyServer` wraps it in a server with the right limits. */
export function createProxyHandler(
  options: ProxyOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const clock = options.clock ?? Date.now;
  const timeoutMs = options.upstreamTimeoutMs ?? 120_000;
  const maxBody = options.maxBodyBytes ?? 100 * 1024 * 1024;
  const agents = options.agents ?? {
    http: new http.Agent({ keepAlive: true, maxSockets: 256 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 256 }),
  };

  return (req, res) => {
    const started = performance.now();
    const entry = { token: null as string | null, bytesIn: 0, bytesOut: 0 };
    let logged = false;
    const writeLog = () => {
      if (logged) return;
      logged = true;
      // Built by hand (the hot path's largest cost after the sockets): every field is a
      // number, an ISO time, a verified token id (TOKEN_ID: [A-Za-z0-9_-]) or null, or hex.
      const token = entry.token === null ? 'null' : `"${entry.token}"`;
      const ms = Math.round((performance.now() - started) * 100) / 100;
      options.log(
        `{"time":"${new Date(clock()).toISOString()}","token":${token},"status":${res.statusCode},"bytesIn":${entry.bytesIn},"bytesOut":${entry.bytesOut},"ms":${ms},"headers":"${headerHash(req.rawHeaders)}"}\n`,
      );
    };
    res.once('finish', writeLog);
    res.once('close', writeLog);
    handle(req, res, entry).catch(() => {
      if (!res.headersSent) refuse(res, REFUSALS.upstream);
      else res.destroy();
    });
  };

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    entry: { token: string | null; bytesIn: number; bytesOut: number },
  ) {
    const origin = singleHeader(req.headers.origin);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      return preflight(req, res, origin);
    }
    if (req.url === undefined || !req.url.startsWith('/') || req.url.startsWith('/\\')) {
      return refuse(res, REFUSALS.badRequest);
    }
    const token = extractToken(req);
    if (token === undefined) return refuse(res, REFUSALS.token);
    const verdict = await options.verifier.verify(token);
    if (!verdict.ok) return refuse(res, REFUSALS.token);
    const claims = verdict.claims;
    entry.token = claims.jti;

    const revocation = await options.revocations.check(claims);
    if (revocation === 'revoked') return refuse(res, REFUSALS.token);
    if (revocation === 'unavailable') return refuse(res, REFUSALS.unavailable);

    // A request with no Origin is not from a web page (or is same-origin navigation): caps bound it.
    if (origin !== undefined && !claims.origins.includes(origin.toLowerCase()))
      return refuse(res, REFUSALS.origin);
    const cors = origin === undefined ? {} : { 'access-control-allow-origin': origin, vary: 'Origin' };

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
      spend = await options.spend.reserveSpend(
        claims.sub,
        claims.jti,
        verdict.digest,
        claims.cost,
        claims.spend,
      );
    } catch {
      return refuse(res, { ...REFUSALS.unavailable, headers: { ...cors, ...REFUSALS.unavailable.headers } });
    }
    if (!spend.ok) {
      return spend.reason === 'unknown-token'
        ? refuse(res, REFUSALS.token)
        : refuse(res, { ...REFUSALS.spend, headers: cors });
    }

    let lease: KeyLease;
    try {
      lease = await options.keys.lease(claims.sub, claims.key);
    } catch (error) {
      const refusal: Refusal = isEggError(error, 'ERR_STORE_UNAVAILABLE')
        ? REFUSALS.unavailable
        : REFUSALS.keyUnavailable;
      return refuse(res, { ...refusal, headers: { ...cors, ...refusal.headers } });
    }
    forward(req, res, claims, lease, cors, entry);
  }

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    _claims: TokenClaims,
    lease: KeyLease,
    cors: Record<string, string>,
    entry: { bytesIn: number; bytesOut: number },
  ) {
    let upstreamReq: http.ClientRequest;
    try {
      const key = lease.value.toString('latin1');
      if (!HEADER_SAFE_KEY.test(key)) {
        refuse(res, { ...REFUSALS.keyUnavailable, headers: cors });
        return;
      }
      const target = new URL(lease.upstream);
      const headers = requestHeaders(req.rawHeaders, lease, target.host, key);
      const secure = target.protocol === 'https:';
      upstreamReq = (secure ? https : http).request({
        protocol: target.protocol,
        hostname: target.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: target.port === '' ? (secure ? 443 : 80) : Number(target.port),
        ...(secure ? { servername: target.hostname } : {}),
        method: req.method,
        // The path as received, never resolved against anything: the host is fixed above.
        path: req.url,
        headers,
        agent: secure ? agents.https : agents.http,
        setHost: false,
      });
    } catch {
      refuse(res, { ...REFUSALS.badRequest, headers: cors });
      return;
    } finally {
      // The header is written into the request now; our copy of the key is no longer needed.
      lease.release();
    }

    let answered = false;
    upstreamReq.setTimeout(timeoutMs, () => upstreamReq.destroy(new UpstreamTimeout()));
    upstreamReq.on('error', (error) => {
      if (!res.headersSent) {
        const refusal = error instanceof UpstreamTimeout ? REFUSALS.timeout : REFUSALS.upstream;
        refuse(res, { ...refusal, headers: cors });
      } else res.destroy();
    });
    upstreamReq.on('response', (upstreamRes) => {
      answered = true;
      res.writeHead(upstreamRes.statusCode ?? 502, responseHeaders(upstreamRes.rawHeaders, cors));
      // A streamed answer (no length: SSE, chunked) gets its status and headers at once;
      // a sized one sends them with the first body bytes, in one write.
      if (upstreamRes.headers['content-length'] === undefined) res.flushHeaders();
      upstreamRes.on('data', (chunk: Buffer) => {
        entry.bytesOut += chunk.length;
      });
      upstreamRes.on('error', () => res.destroy());
      upstreamRes.pipe(res);
    });
    // A client gone early takes the upstream request with it.
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.on('data', (chunk: Buffer) => {
      entry.bytesIn += chunk.length;
      if (entry.bytesIn > maxBody) {
        upstreamReq.destroy();
        if (!answered && !res.headersSent) refuse(res, { ...REFUSALS.tooLarge, headers: cors });
        req.destroy();
      }
    });
    req.on('error', () => upstreamReq.destroy());
    req.pipe(upstreamReq);
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
      !METHODS.has(method) ||
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

/** The proxy's HTTP server: bounded headers, keep-alive, no Nagle delay (SSE events go out as written). */
export function createProxyServer(options: ProxyOptions): http.Server {
  const server = http.createServer(
    { maxHeaderSize: MAX_HEADER_BYTES, noDelay: true, keepAliveTimeout: 5_000, headersTimeout: 30_000 },
    createProxyHandler(options),
  );
  return server;
}

function refuse(res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
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

/** The egg token: `Authorization: Bearer …` (OpenAI's clients) or `x-api-key` (Anthropic's). */
function extractToken(req: IncomingMessage): string | undefined {
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(authorization);
    return match?.[1];
  }
  const apiKey = req.headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey.trim() : undefined;
}

/** Headers named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionTokens(raw: string[]): Set<string> {
  const names = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'connection') {
      for (const name of (raw[i + 1] as string).split(',')) names.add(name.trim().toLowerCase());
    }
  }
  return names;
}

function requestHeaders(raw: string[], lease: KeyLease, host: string, key: string): string[] {
  const dropped = connectionTokens(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(name) || STRIP_REQUEST.has(name) || dropped.has(name) || name === lease.inject.name)
      continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  out.push('host', host, lease.inject.name, `${lease.inject.prefix}${key}${lease.inject.suffix}`);
  return out;
}

function responseHeaders(raw: string[], cors: Record<string, string>): string[] {
  const dropped = connectionTokens(raw);
  const out: string[] = [];
  const vary: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(name) || STRIP_RESPONSE.has(name) || dropped.has(name)) continue;
    if (name === 'vary' && cors.vary !== undefined) {
      vary.push(raw[i + 1] as string);
      continue;
    }
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  for (const [name, value] of Object.entries(cors))
    out.push(name, name === 'vary' ? [...vary, value].join(', ') : value);
  return out;
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
