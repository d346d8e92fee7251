/**
 * One request to a priced provider key (issue 10 item 6; docs/spend.md): its body read whole
 * (it names `max_tokens`), the worst case reserved on the token's record beyond the
 * per-request cost the proxy already reserved (one more conditional write: concurrent
 * requests cannot overspend), and after the answer the real cost settled from the usage it
 * reported (usage-cost.ts). An answer that reported none, was cut, or never came keeps the
 * reservation charged: the cap fails closed. An upstream that reports more than was reserved
 * is charged what it reported, and the token is capped from then on.
 */
import type { IncomingMessage } from 'node:http';
import { errorLabel } from '../errors.js';
import type { Logger } from '../log.js';
import type { PriceTable } from '../tokens/price.js';
import type { SpendResult, TokenStore } from '../tokens/token-store.js';
import { costOf, UsageTap, worstCase } from './usage-cost.js';

/** Only POST requests generate tokens; any other method keeps the per-request cost. */
export function isMetered(method: string | undefined, price: PriceTable | undefined): price is PriceTable {
  return price !== undefined && method === 'POST';
}

/** The whole request body, or why there is none: over `max` bytes, or the client went. */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large' | 'failed'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > max) {
        resolve('too-large');
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, length)));
    req.on('error', () => resolve('failed'));
    req.on('close', () => resolve('failed'));
  });
}

export interface RealSpendTarget {
  namespace: string;
  id: string;
  digest: string;
  cap: number;
}

export class RealSpend {
  readonly #store: Pick<TokenStore, 'reserveSpend' | 'adjustSpend'>;
  readonly #target: RealSpendTarget;
  readonly #price: PriceTable;
  readonly #logger: Logger;
  /** What the token's record holds for this request now (micro-units). */
  #reserved: number;
  /** Whether a reservation was written yet: the proof of the token's record (none: `reserve` writes one). */
  #written: boolean;
  #tap: UsageTap | undefined;

  /**
   * `reserved`: what the proxy reserved already (the token's per-request cost), or undefined
   * when nothing was: then `reserve` always writes, even a worst case of 0, since that write
   * is what proves the token has a record in its namespace.
   */
  constructor(
    store: Pick<TokenStore, 'reserveSpend' | 'adjustSpend'>,
    target: RealSpendTarget,
    price: PriceTable,
    reserved: number | undefined,
    logger: Logger,
  ) {
    this.#store = store;
    this.#target = target;
    this.#price = price;
    this.#reserved = reserved ?? 0;
    this.#written = reserved !== undefined;
    this.#logger = logger;
  }

  get reserved(): number {
    return this.#reserved;
  }

  /** Reserve the worst case of `body` beyond what is held; refused at the cap, the rest is given back. */
  async reserve(body: Buffer): Promise<SpendResult> {
    const worst = worstCase(body, this.#price);
    if (this.#written && worst <= this.#reserved) return { ok: true };
    const t = this.#target;
    const more = Math.max(0, worst - this.#reserved);
    const result = await this.#store.reserveSpend(t.namespace, t.id, t.digest, more, t.cap);
    this.#written = true;
    if (result.ok) this.#reserved += more;
    else this.cancel();
    return result;
  }

  /** Nothing went upstream: give back all that is held. */
  cancel(): void {
    this.#adjust(-this.#reserved);
    this.#reserved = 0;
  }

  /** The answer began: read its usage as it passes. */
  answered(contentType: string | undefined): UsageTap {
    this.#tap = new UsageTap(contentType);
    return this.#tap;
  }

  /** The whole answer came: charge what it reported (or keep the reservation). Returns the spend. */
  settle(): number {
    const usage = this.#tap?.usage();
    if (usage === undefined) return this.#reserved;
    const real = costOf(usage, this.#price);
    this.#adjust(real - this.#reserved);
    this.#reserved = real;
    return real;
  }

  #adjust(delta: number): void {
    if (delta === 0) return;
    const t = this.#target;
    this.#store.adjustSpend(t.namespace, t.id, t.digest, delta).catch((error: unknown) => {
      // A give-back that fails leaves the token charged more (closed); a charge that fails is
      // what this line is for: the owner sees the token's real spend was not all recorded.
      this.#logger.warn('spend.settle.failed', {
        namespace: t.namespace,
        token: t.id,
        delta,
        error: errorLabel(error),
      });
    });
  }
}
