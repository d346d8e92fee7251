/**
 * Webhook delivery (issue 10, docs/alerts.md): a JSON body signed with HMAC-SHA256, sent
 * off the request path with retries and backoff.
 *
 * The URL is configuration input and the body goes wherever it points, so: https only (plain
 * http is allowed to a loopback address alone, for a local receiver), no credentials in it,
 * redirects never followed (a 3xx is a failed attempt), every attempt bounded by a timeout,
 * and the queue bounded (the oldest alert waiting is dropped, and said so, past it).
 *
 * The signature header follows the shape receivers already verify for Stripe and Slack:
 * `Egg-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. Binding the
 * time lets a receiver refuse replays older than a few minutes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { wipe } from '../crypto/wipe.js';
import { EggError, errorLabel } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';

export const SIGNATURE_HEADER = 'egg-signature';

/** The URL as a webhook may use it, or ERR_USAGE saying what is wrong with it. */
export function assertWebhookUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new EggError('ERR_USAGE', 'the webhook URL is not a URL', {
      hint: 'give an absolute https:// URL',
    });
  }
  if (url.username !== '' || url.password !== '')
    throw new EggError('ERR_USAGE', 'the webhook URL carries credentials', {
      hint: 'receivers verify the Egg-Signature header instead; remove user:password@ from the URL',
    });
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return url;
  throw new EggError(
    'ERR_USAGE',
    `the webhook URL must use https (${url.protocol} is allowed only to a loopback address)`,
    {
      hint: 'give an https:// URL; plain http:// only to 127.0.0.1, ::1 or localhost',
    },
  );
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** The `Egg-Signature` value for `body` sent at `timestamp` (seconds). */
export function signBody(secret: Buffer, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/**
 * Whether `header` signs `body` with `secret`, no older than `toleranceSeconds` at `now`
 * (seconds): what a receiver runs (docs/alerts.md shows it in a few lines).
 */
export function verifySignature(
  secret: Buffer,
  header: string,
  body: string,
  now: number,
  toleranceSeconds = 300,
): boolean {
  const parts = new Map(
    header.split(',').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]),
  );
  const timestamp = Number(parts.get('t'));
  const given = Buffer.from(parts.get('v1') ?? '', 'hex');
  if (!Number.isSafeInteger(timestamp) || Math.abs(now - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(signBody(secret, timestamp, body).slice(`t=${timestamp},v1=`.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface WebhookSenderOptions {
  /** Each attempt's bound: default 5 s. */
  timeoutMs?: number;
  /** Attempts in all: default 6. */
  attempts?: number;
  /** Wait before the second attempt, doubled for each after (full jitter): default 500 ms. */
  backoffMs?: number;
  /** Deliveries waiting or in flight at most: default 1000. */
  maxQueued?: number;
  clock?: () => number;
  logger?: Logger;
  fetch?: typeof fetch;
}

/** The outcome of one delivery: delivered, or given up after `attempts`. */
export interface Delivery {
  ok: boolean;
  attempts: number;
  /** The last attempt's status, or its error's label. */
  last: string;
}

/** One attempt's outcome: delivered, or not (and whether another attempt may help). */
export interface Attempt {
  ok: boolean;
  retry: boolean;
  /** The status, or the error's label. */
  last: string;
}

/** Sends signed bodies (and queues the AWS channels' deliveries); `send` never waits for the network (`idle` does, for tests and shutdown). */
export class WebhookSender {
  readonly #timeoutMs: number;
  readonly #attempts: number;
  readonly #backoffMs: number;
  readonly #maxQueued: number;
  readonly #clock: () => number;
  readonly #logger: Logger;
  readonly #fetch: typeof fetch;
  readonly #inFlight = new Set<Promise<Delivery>>();

  constructor(options: WebhookSenderOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#attempts = options.attempts ?? 6;
    this.#backoffMs = options.backoffMs ?? 500;
    this.#maxQueued = options.maxQueued ?? 1000;
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger ?? nullLogger;
    this.#fetch = options.fetch ?? fetch;
  }

  /**
   * Queue one delivery and return at once; false when the queue is full (nothing sent). The
   * sender owns `secret` from now on and wipes it once the delivery is done.
   */
  send(url: URL, secret: Buffer, body: string, label: string): boolean {
    return this.queue(
      label,
      () => this.#post(url, secret, body),
      () => wipe(secret),
    );
  }

  /** Deliver with retries; resolves (never rejects) once delivered or given up. */
  deliver(url: URL, secret: Buffer, body: string, label: string): Promise<Delivery> {
    return this.retrying(label, () => this.#post(url, secret, body));
  }

  /**
   * Queue any channel's delivery (an SNS publish, an EventBridge event: aws-channels.ts) under
   * the same bound, retries and backoff; `done` runs once it settles.
   */
  queue(label: string, attempt: () => Promise<Attempt>, done: () => void = () => {}): boolean {
    if (this.#inFlight.size >= this.#maxQueued) {
      done();
      this.#logger.warn('alert.dropped', { channel: label, reason: 'too many deliveries waiting' });
      return false;
    }
    const delivery = this.retrying(label, attempt);
    this.#inFlight.add(delivery);
    void delivery.finally(() => {
      done();
      this.#inFlight.delete(delivery);
    });
    return true;
  }

  /** Try `attempt` up to `attempts` times with full-jitter backoff; never rejects. */
  async retrying(label: string, attempt: () => Promise<Attempt>): Promise<Delivery> {
    let last = '';
    for (let n = 1; n <= this.#attempts; n++) {
      if (n > 1) await sleep(Math.random() * this.#backoffMs * 2 ** (n - 2));
      let outcome: Attempt;
      try {
        outcome = await attempt();
      } catch (error) {
        outcome = { ok: false, retry: true, last: errorLabel(error) };
      }
      last = outcome.last;
      if (outcome.ok) return { ok: true, attempts: n, last };
      if (!outcome.retry) return this.#gaveUp(label, n, last);
    }
    return this.#gaveUp(label, this.#attempts, last);
  }

  async #post(url: URL, secret: Buffer, body: string): Promise<Attempt> {
    const res = await this.#fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'egg-carton-alerts',
        [SIGNATURE_HEADER]: signBody(secret, Math.floor(this.#clock() / 1000), body),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    await res.body?.cancel();
    const ok = res.status >= 200 && res.status < 300;
    // The receiver says the request itself is wrong: sending it again will not help.
    const retry = res.status >= 500 || res.status === 408 || res.status === 429 || res.status < 400;
    return { ok, retry, last: String(res.status) };
  }

  /** Every queued delivery settled. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  #gaveUp(label: string, attempts: number, last: string): Delivery {
    this.#logger.warn('alert.undelivered', { channel: label, attempts, last });
    return { ok: false, attempts, last };
  }
}
