/**
 * The edge proxy (DESIGN, Host-bound tokens and the edge proxy). Each request runs the
 * flow in DESIGN's order:
 *   token shape and checksum → signature and time → revocation → Origin → client limits → rate → spend
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
import { StoreUnusable } from '../errors.js';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { SpendResult, TokenStore } from '../tokens/token-store.js';
import type { TokenVerifier } from '../tokens/verifier.js';
import { isSendableProviderKey } from '../vault/provider-key.js';
import { type ClientLimits, clientRefusal } from './client-limits.js';
import { declaredBodyAllowed, rateRefusal, spendRefusal, throttleRefusal } from './caps.js';
import { type BodyFraming, FORWARDED_METHODS, isPathTarget, requestFraming } from './framing.js';
import { corsHeaders, hasContentLength, requestHeaders, responseHeaders } from './headers.js';
import { InactivityWatch } from './inactivity.js';
import { isoClock, logLine } from './log-line.js';
import { originAllowed } from './origin.js';
import { preflightHeaders } from './preflight.js';
import type { KeyLease, KeySource } from './provider-keys.js';
import type { RateLimiter } from './rate.js';
import { leaseRefusal, REFUSALS, refusalCode, refuse } from './refusals.js';
import type { RevocationWatcher } from './revocation.js';
import type { TlsSettings } from './tls.js';
import { tokenFromHeaders } from './token-header.js';
import { UpstreamPools } from './upstream-pools.js';
import { namedToken } from './named-token.js';
import type { UsageMeter } from './usage-meter.js';
import { isMetered, readBody, RealSpend, type RealSpendTarget } from './real-spend.js';
import type { UsageTap } from './usage-cost.js';
import type { PriceTable } from '../tokens/price.js';
import { type Logger, nullLogger } from '../log.js';
import { upstreamTargets } from './upstream-target.js';

export interface ProxyOptions {
  verifier: Pick<TokenVerifier, 'verify'>;
  revocations: Pick<RevocationWatcher, 'check'> &
    Partial<Pick<RevocationWatcher, 'failClosed' | 'throttleOf'>>;
  rate: Pick<RateLimiter, 'take'>;
  /** Spend reservations; `adjustSpend` settles what a priced key's request really cost (real-spend.ts). */
  spend: Pick<TokenStore, 'reserveSpend' | 'adjustSpend'>;
  /** Per-token client limits, `--max-clients` and `--client-rps` (client-limits.ts); none when absent. */
  clients?: Pick<ClientLimits, 'check'>;
  /** Per-token usage counting and anomaly rules (usage-meter.ts); none when absent. */
  usage?: Pick<UsageMeter, 'record'>;
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
  /** Where a spend that could not be settled is reported (never a body). */
  logger?: Logger;
}

/** Headers are bounded by Node (431 beyond this); a token by MAX_TOKEN_CHARS (401). */
export const MAX_HEADER_BYTES = 128 * 1024;

/** What one request's log line needs, and its upstream request once there is one. */
interface Exchange {
  token: string | null;
  /** The verified token's namespace, and the spend its request reserved (usage counting). */
  namespace: string | null;
  spent: number;
  /** A priced key's request: its reservation, settled from the answer's usage (real-spend.ts). */
  real: RealSpend | undefined;
  tap: UsageTap | undefined;
  /** The token string as presented, kept for usage counting when it did not verify. */
  presented: string | undefined;
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

/** The request handler; `createProxyServer` wraps it in a server with the right limits. */
export function createProxyHandler(
  options: ProxyOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  return new ProxyHandler(options).onRequest;
}

/**
 * One proxy's request flow, as named steps: `#handle` runs the checks in DESIGN's order,
 * `#forward` opens the upstream request and pumps both bodies, `#preflight` answers CORS
 * preflights, `#close` ends the exchange and writes its log line. The checks themselves are
 * small functions of their own modules (framing, headers, origin, caps, refusals, log-line).
 */
export class ProxyHandler {
  readonly #options: ProxyOptions;
  readonly #clock: () => number;
  readonly #maxBody: number;
  readonly #pools: UpstreamPools;
  readonly #logger: Logger;
  readonly #isoTime = isoClock();
  readonly #upstreamTarget = upstreamTargets();
  /** Upstream silence (no answer yet, or a body that stops) past the bound: 504, or a cut. */
  readonly #silence: InactivityWatch<Exchange>;

  constructor(options: ProxyOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#maxBody = options.maxBodyBytes ?? 100 * 1024 * 1024;
    this.#pools = options.pools ?? new UpstreamPools();
    this.#logger = options.logger ?? nullLogger;
    this.#silence = new InactivityWatch<Exchange>(options.upstreamTimeoutMs ?? 120_000, (exchange) =>
      exchange.upstream?.destroy(new UpstreamTimeout()),
    );
  }

  /** The request listener (bound: pass it to a server as it is). */
  readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const exchange: Exchange = {
      token: null,
      namespace: null,
      spent: 0,
      real: undefined,
      tap: undefined,
      presented: undefined,
      framing: null,
      bytesIn: 0,
      bytesOut: 0,
      upstream: undefined,
      lastTick: 0,
      watchPrev: null,
      watchNext: null,
      logged: false,
    };
    res.on('close', () => this.#close(req, res, exchange, started));
    this.#handle(req, res, exchange).catch(() => {
      if (!res.headersSent) refuse(res, REFUSALS.upstream);
      else res.destroy();
    });
  };

  /**
   * The end of an exchange: 'close' follows 'finish' on every response (Node's resOnFinish
   * emits it a tick later) and comes alone when the client goes first. It takes with it an
   * upstream request that has not both sent the whole body and been answered (a client gone
   * early, or one that declared more body than it sent: issue 9, item 3), and logs the request.
   */
  #close(req: IncomingMessage, res: ServerResponse, exchange: Exchange, started: number): void {
    if (exchange.upstream !== undefined) {
      this.#silence.delete(exchange);
      if (!res.writableFinished || !req.complete) exchange.upstream.destroy();
    }
    if (exchange.logged) return;
    exchange.logged = true;
    if (this.#options.usage !== undefined) this.#count(this.#options.usage, res, exchange);
    this.#options.log(
      logLine(
        this.#isoTime(this.#clock()),
        exchange.token,
        res.statusCode,
        refusalCode(res),
        exchange.bytesIn,
        exchange.bytesOut,
        performance.now() - started,
        req.rawHeaders,
      ),
    );
  }

  /** Count the request against the token it named (usage-meter.ts), if it named one. */
  #count(usage: Pick<UsageMeter, 'record'>, res: ServerResponse, exchange: Exchange): void {
    const code = refusalCode(res);
    if (exchange.namespace !== null && exchange.token !== null) {
      usage.record(
        exchange.namespace,
        exchange.token,
        true,
        res.statusCode,
        code,
        exchange.spent,
        exchange.bytesIn,
        exchange.bytesOut,
      );
      return;
    }
    // Refused before it verified: counted against the id it names, unverified (the store
    // keeps counts only for ids recorded in that namespace).
    if (exchange.presented === undefined || code !== 'token_invalid') return;
    const named = namedToken(exchange.presented);
    if (named !== undefined) usage.record(named.sub, named.jti, false, res.statusCode, code, 0, 0, 0);
  }

  async #handle(req: IncomingMessage, res: ServerResponse, exchange: Exchange) {
    const origin = singleHeader(req.headers.origin);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      return this.#preflight(req, res, origin);
    }
    if (!FORWARDED_METHODS.has(req.method as string)) return refuse(res, REFUSALS.method);
    if (!isPathTarget(req.url)) return refuse(res, REFUSALS.badRequest);
    const framing = requestFraming(req.headers['content-length'], req.headers['transfer-encoding']);
    if (framing === 'refused') return refuse(res, REFUSALS.badFraming);
    exchange.framing = framing;
    const token = tokenFromHeaders(req.headers.authorization, req.headers['x-api-key']);
    if (token === undefined) return refuse(res, REFUSALS.token);
    // Each step answers at once when it can (a verified token, polled revocation state,
    // SQLite, a cached key) and is awaited only when it cannot: a busy token's request makes
    // no promise round trips. Every step still runs, in DESIGN's order, on every request.
    const verifying = this.#options.verifier.verify(token);
    const verdict = isPromise(verifying) ? await verifying : verifying;
    if (!verdict.ok) {
      exchange.presented = token;
      return refuse(res, REFUSALS.token);
    }
    const claims = verdict.claims;
    exchange.token = claims.jti;
    exchange.namespace = claims.sub;

    const checking = this.#options.revocations.check(claims);
    const revocation = isPromise(checking) ? await checking : checking;
    if (revocation === 'revoked') return refuse(res, REFUSALS.token);
    if (revocation === 'unavailable') return refuse(res, REFUSALS.unavailable);

    // An allowed origin, or no Origin only for a token minted --allow-no-origin (origin.ts).
    if (!originAllowed(origin, claims)) return refuse(res, REFUSALS.origin);
    const cors = corsHeaders(origin);

    if (!declaredBodyAllowed(req.headers['content-length'], this.#maxBody))
      return refuse(res, { ...REFUSALS.tooLarge, headers: cors });

    // The token's client limits first: a refused client takes nothing from the token's bucket.
    const client = this.#options.clients?.check(claims, req.socket.remoteAddress);
    if (client !== undefined && !client.ok) return refuse(res, clientRefusal(client, cors));
    const rate = this.#options.rate.take(claims.jti, claims.rps, claims.burst);
    if (!rate.ok) return refuse(res, rateRefusal(rate.retryAfterSeconds, cors));
    // Throttled by an anomaly rule (usage-meter.ts), seen at the last revocation poll: a
    // second, slower bucket of its own.
    const throttle = this.#options.revocations.throttleOf?.(claims);
    if (throttle !== undefined) {
      const slow = this.#options.rate.take(`${claims.jti}\nthrottled`, throttle.rps, throttle.rps);
      if (!slow.ok) return refuse(res, throttleRefusal(slow.retryAfterSeconds, cors));
    }

    // A priced key the key cache holds: its request's worst case is the one reservation.
    const price = this.#options.keys.priceOf?.(claims.sub, claims.key) ?? undefined;
    if (isMetered(req.method, price)) {
      const target = { namespace: claims.sub, id: claims.jti, digest: verdict.digest, cap: claims.spend };
      return this.#metered(req, res, cors, exchange, target, claims.key, price, undefined);
    }

    // One conditional write on the token's record: the reservation, and the proof that the
    // token was minted in its own namespace (a valid signature alone is not enough).
    let spend: SpendResult;
    try {
      const reserving = this.#options.spend.reserveSpend(
        claims.sub,
        claims.jti,
        verdict.digest,
        claims.cost,
        claims.spend,
      );
      spend = isPromise(reserving) ? await reserving : reserving;
    } catch (error) {
      return this.#storeFailed(res, error, cors);
    }
    // No live record (never minted here, another digest, marked by a kill switch): 401.
    if (!spend.ok) return refuse(res, spendRefusal(spend, cors));
    exchange.spent = claims.cost;

    let lease: KeyLease;
    try {
      const leasing = this.#options.keys.lease(claims.sub, claims.key);
      lease = isPromise(leasing) ? await leasing : leasing;
    } catch (error) {
      return refuse(res, leaseRefusal(error, cors));
    }
    if (isMetered(req.method, lease.price)) {
      lease.release();
      const target = { namespace: claims.sub, id: claims.jti, digest: verdict.digest, cap: claims.spend };
      return this.#metered(req, res, cors, exchange, target, claims.key, lease.price, claims.cost);
    }
    this.#forward(req, res, lease, cors, exchange, `${claims.sub}\n${claims.key}`);
  }

  /** 503: spend state cannot be confirmed. */
  #storeFailed(res: ServerResponse, error: unknown, cors: Readonly<Record<string, string>>) {
    // The file under the store changed (sqlite-file.ts): the whole proxy fails closed now,
    // and says why once, rather than at the next revocation poll.
    if (error instanceof StoreUnusable) this.#options.revocations.failClosed?.(error);
    return refuse(res, { ...REFUSALS.unavailable, headers: { ...cors, ...REFUSALS.unavailable.headers } });
  }

  /**
   * A priced key's request (real-spend.ts): the body read whole, its worst case reserved
   * beyond what `reserved` holds already (the per-request cost, when the key's price was not
   * known before it; undefined when nothing was reserved), then the key leased (from its cache) and the body forwarded. The
   * reservation is also the proof of the token's record, as on the per-request path.
   */
  async #metered(
    req: IncomingMessage,
    res: ServerResponse,
    cors: Readonly<Record<string, string>>,
    exchange: Exchange,
    target: RealSpendTarget,
    keyName: string,
    price: PriceTable,
    reserved: number | undefined,
  ) {
    const real = new RealSpend(this.#options.spend, target, price, reserved, this.#logger);
    const body = await readBody(req, this.#maxBody);
    if (typeof body === 'string') {
      real.cancel();
      exchange.spent = 0;
      return body === 'failed' ? res.destroy() : refuse(res, { ...REFUSALS.tooLarge, headers: cors });
    }
    exchange.bytesIn = body.length;
    let spend: SpendResult;
    try {
      spend = await real.reserve(body);
    } catch (error) {
      real.cancel();
      exchange.spent = 0;
      return this.#storeFailed(res, error, cors);
    }
    exchange.spent = real.reserved;
    if (!spend.ok) {
      exchange.spent = 0;
      return refuse(res, spendRefusal(spend, cors));
    }
    let lease: KeyLease;
    try {
      const leasing = this.#options.keys.lease(target.namespace, keyName);
      lease = isPromise(leasing) ? await leasing : leasing;
    } catch (error) {
      real.cancel();
      exchange.spent = 0;
      return refuse(res, leaseRefusal(error, cors));
    }
    exchange.real = real;
    this.#forward(req, res, lease, cors, exchange, `${target.namespace}\n${keyName}`, body);
  }

  /**
   * The upstream request for a leased key, to the key's pinned origin through the key's own
   * pool (`pool`: namespace and secret name), the key injected; or undefined once refused.
   * The lease is released here, whatever happens: the header holds the key from now on.
   */
  #openUpstream(
    req: IncomingMessage,
    res: ServerResponse,
    lease: KeyLease,
    cors: Readonly<Record<string, string>>,
    exchange: Exchange,
    pool: string,
  ): http.ClientRequest | undefined {
    try {
      const key = lease.value.toString('latin1');
      // A key that cannot sit in a header line unchanged is refused, never "fixed".
      if (!isSendableProviderKey(key)) {
        refuse(res, { ...REFUSALS.keyInvalid, headers: cors });
        return undefined;
      }
      const target = this.#upstreamTarget(lease.upstream);
      const headers = requestHeaders(req.rawHeaders, exchange.framing, lease.inject, target.host, key);
      return target.secure
        ? https.request({
            protocol: target.protocol,
            hostname: target.hostname,
            port: target.port,
            servername: target.servername,
            method: req.method,
            // The path as received, never resolved against anything: the host is fixed above.
            path: req.url,
            headers,
            agent: this.#pools.agent(pool, true),
            setHost: false,
          })
        : http.request({
            protocol: target.protocol,
            hostname: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers,
            agent: this.#pools.agent(pool, false),
            setHost: false,
          });
    } catch {
      refuse(res, { ...REFUSALS.badRequest, headers: cors });
      return undefined;
    } finally {
      // The header is written into the request now; our copy of the key is no longer needed.
      lease.release();
    }
  }

  /** Forward the request with the key and pump both bodies, each way with back-pressure. */
  #forward(
    req: IncomingMessage,
    res: ServerResponse,
    lease: KeyLease,
    cors: Readonly<Record<string, string>>,
    exchange: Exchange,
    pool: string,
    body?: Buffer,
  ) {
    const upstreamReq = this.#openUpstream(req, res, lease, cors, exchange, pool);
    if (upstreamReq === undefined) return;
    // From here a client gone early takes the upstream request with it (the 'close'
    // listener); the watch ends with the upstream's answer or with the response.
    exchange.upstream = upstreamReq;
    this.#silence.add(exchange);

    let answered = false;
    upstreamReq.on('error', (error) => {
      if (!res.headersSent) {
        const refusal = error instanceof UpstreamTimeout ? REFUSALS.timeout : REFUSALS.upstream;
        refuse(res, { ...refusal, headers: cors });
      } else res.destroy();
    });
    upstreamReq.on('response', (upstreamRes) => {
      answered = true;
      exchange.lastTick = this.#silence.tick;
      const raw = upstreamRes.rawHeaders;
      exchange.tap = exchange.real?.answered(upstreamRes.headers['content-type']);
      res.writeHead(upstreamRes.statusCode ?? 502, responseHeaders(raw, cors));
      // A streamed answer (no length: SSE, chunked) gets its status and headers at once;
      // a sized one sends them with the first body bytes, in one write.
      if (!hasContentLength(raw)) res.flushHeaders();
      // Both bodies are pumped by hand rather than piped: the same back-pressure (pause on a
      // full buffer, resume on 'drain'), the byte count in the same listener, and none of
      // pipe()'s per-request listener bookkeeping.
      upstreamRes.on('data', (chunk: Buffer) => {
        exchange.bytesOut += chunk.length;
        exchange.tap?.write(chunk);
        exchange.lastTick = this.#silence.tick;
        if (!res.write(chunk)) upstreamRes.pause();
      });
      upstreamRes.on('end', () => {
        this.#silence.delete(exchange);
        if (exchange.real !== undefined) exchange.spent = exchange.real.settle();
        // Answered before the whole body came: nobody will read the rest upstream, so the
        // request goes now rather than hold its socket (the client's rest is read and dropped).
        if (!req.complete) upstreamReq.destroy();
        res.end();
      });
      upstreamRes.on('error', () => res.destroy());
      res.on('drain', () => upstreamRes.resume());
    });
    if (body !== undefined) {
      // Read whole already (a priced key's request): sent in one write.
      upstreamReq.end(body);
      return;
    }
    req.on('data', (chunk: Buffer) => {
      exchange.bytesIn += chunk.length;
      if (exchange.bytesIn > this.#maxBody) {
        upstreamReq.destroy();
        if (!answered && !res.headersSent) refuse(res, { ...REFUSALS.tooLarge, headers: cors });
        req.destroy();
        return;
      }
      // The upstream request is gone (answered early, cut): the rest is read and dropped, so
      // the client's connection stays usable.
      if (upstreamReq.destroyed) return;
      exchange.lastTick = this.#silence.tick;
      if (!upstreamReq.write(chunk)) req.pause();
    });
    upstreamReq.on('drain', () => req.resume());
    req.on('end', () => {
      if (!upstreamReq.destroyed) upstreamReq.end();
    });
    req.on('error', () => upstreamReq.destroy());
  }

  #preflight(req: IncomingMessage, res: ServerResponse, origin: string | undefined) {
    const headers = preflightHeaders(
      origin,
      singleHeader(req.headers['access-control-request-method']) ?? '',
      singleHeader(req.headers['access-control-request-headers']) ?? '',
    );
    if (headers === undefined) return refuse(res, REFUSALS.origin);
    res.writeHead(204, headers);
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

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Whether a step answered later rather than at once (see `handle`). */
function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
