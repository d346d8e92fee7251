/**
 * Spend in real units (issue 10 item 6): what a request to a priced provider key may cost at
 * most, reserved before it is forwarded, and what it did cost, from the usage its answer
 * reports, charged after. docs/spend.md.
 *
 * The worst case is an upper bound the client cannot talk down: every byte of the body
 * counted as an input token at the dearest input price (a token is at least one byte of the
 * text it encodes), plus `max_tokens` (or `max_completion_tokens` or `max_output_tokens`, the
 * largest when several are named) times `n` choices at the output price; a request that names no maximum reserves the
 * table's `max-output`. The real cost rounds up to a whole micro-unit.
 *
 * `UsageTap` reads the answer as it streams past, without holding it: for server-sent events
 * (OpenAI's `stream_options.include_usage` final chunk, Anthropic's `message_start` and
 * `message_delta`) one line at a time, parsed only when it names `"usage"`; for a JSON answer
 * a scanner that keeps only the top-level `usage` value. Neither keeps any other text.
 */
import type { PriceTable } from '../tokens/price.js';

/** Token counts an answer reported, by kind. */
export interface Usage {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

/** The most a request with this body may cost (micro-units). */
export function worstCase(body: Buffer, price: PriceTable): number {
  let request: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      request = parsed as Record<string, unknown>;
  } catch {
    // Not JSON: the upstream will refuse it, and the bound below still holds.
  }
  // Chat completions and Anthropic's messages, and OpenAI's Responses API (`max_output_tokens`).
  const named = [request.max_tokens, request.max_completion_tokens, request.max_output_tokens].filter(
    isCount,
  );
  const maxOutput = named.length === 0 ? price.maxOutput : Math.max(...named);
  const choices = isCount(request.n) ? request.n : 1;
  const inputPrice = Math.max(price.input, price.cacheRead, price.cacheWrite);
  return microUnits(
    BigInt(body.length) * BigInt(inputPrice) + BigInt(maxOutput) * BigInt(choices) * BigInt(price.output),
  );
}

/** What `usage` costs at `price` (micro-units, rounded up). */
export function costOf(usage: Usage, price: PriceTable): number {
  return microUnits(
    BigInt(usage.input) * BigInt(price.input) +
      BigInt(usage.output) * BigInt(price.output) +
      BigInt(usage.cacheRead) * BigInt(price.cacheRead) +
      BigInt(usage.cacheWrite) * BigInt(price.cacheWrite),
  );
}

/** Micro-units per million tokens, summed, as whole micro-units: rounded up. */
function microUnits(perMillion: bigint): number {
  return Number((perMillion + 999_999n) / 1_000_000n);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/**
 * The counts of one `usage` object, in either shape, or undefined when it is not one.
 * OpenAI counts cached prompt tokens inside `prompt_tokens`; Anthropic counts cache reads
 * and writes apart from `input_tokens`.
 */
export function usageOf(value: unknown): Usage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const u = value as Record<string, unknown>;
  if ('prompt_tokens' in u || 'completion_tokens' in u) {
    const prompt = count(u.prompt_tokens ?? 0);
    const details = u.prompt_tokens_details as Record<string, unknown> | null | undefined;
    const cached = count(details?.cached_tokens ?? 0);
    const output = count(u.completion_tokens ?? 0);
    if (prompt === undefined || cached === undefined || output === undefined || cached > prompt)
      return undefined;
    return { input: prompt - cached, output, cacheRead: cached, cacheWrite: 0 };
  }
  if ('input_tokens' in u || 'output_tokens' in u) {
    const usage = {
      input: count(u.input_tokens ?? 0),
      output: count(u.output_tokens ?? 0),
      cacheRead: count(u.cache_read_input_tokens ?? 0),
      cacheWrite: count(u.cache_creation_input_tokens ?? 0),
    };
    return Object.values(usage).every((n) => n !== undefined) ? (usage as Usage) : undefined;
  }
  return undefined;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** A line (or the top-level usage value) longer than this is not read. */
const MAX_LINE = 256 * 1024;
const MAX_USAGE = 16 * 1024;
const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const USAGE_KEY = Buffer.from('"usage"');

/**
 * Reads the usage an answer reports as its bytes pass (`write` each chunk, `usage()` at the
 * end). Counts seen more than once (Anthropic's cumulative `message_delta`) keep the largest.
 */
export class UsageTap {
  readonly #events: boolean;
  #found: Usage | undefined;
  // Server-sent events: the partial line carried to the next chunk.
  #carry: Buffer[] = [];
  #carried = 0;
  #overlong = false;
  // JSON: the scanner's state.
  #depth = 0;
  #inString = false;
  #escaped = false;
  #expectKey = false;
  #key: string | undefined;
  #lastKey = '';
  #capture: Buffer[] | undefined;
  #captured = 0;

  constructor(contentType: string | undefined) {
    this.#events = /^\s*text\/event-stream/i.test(contentType ?? '');
  }

  write(chunk: Buffer): void {
    if (this.#events) this.#lines(chunk);
    else this.#scan(chunk);
  }

  /** The usage reported, once the answer has ended; undefined when it reported none. */
  usage(): Usage | undefined {
    if (this.#events && this.#carried > 0 && !this.#overlong) this.#line(Buffer.concat(this.#carry));
    this.#carry = [];
    this.#carried = 0;
    return this.#found;
  }

  #merge(usage: Usage | undefined): void {
    if (usage === undefined) return;
    const found = this.#found;
    this.#found =
      found === undefined
        ? usage
        : {
            input: Math.max(found.input, usage.input),
            output: Math.max(found.output, usage.output),
            cacheRead: Math.max(found.cacheRead, usage.cacheRead),
            cacheWrite: Math.max(found.cacheWrite, usage.cacheWrite),
          };
  }

  #lines(chunk: Buffer): void {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, end);
      if (this.#carried === 0) this.#line(piece);
      else if (!this.#overlong && this.#carried + piece.length <= MAX_LINE)
        this.#line(Buffer.concat([...this.#carry, piece]));
      this.#carry = [];
      this.#carried = 0;
      this.#overlong = false;
      start = end + 1;
    }
    if (start === chunk.length) return;
    const rest = chunk.length - start;
    if (this.#overlong || this.#carried + rest > MAX_LINE) {
      this.#overlong = true;
      this.#carry = [];
      return;
    }
    this.#carry.push(Buffer.from(chunk.subarray(start)));
    this.#carried += rest;
  }

  /** One event line: parsed only when it is data naming a usage that is not null. */
  #line(line: Buffer): void {
    if (line.length > MAX_LINE || line.toString('latin1', 0, 5) !== 'data:') return;
    const at = line.indexOf(USAGE_KEY);
    if (at === -1) return;
    if (line.lastIndexOf(USAGE_KEY) === at && /^\s*:\s*null/.test(line.toString('latin1', at + 7, at + 16)))
      return;
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line.toString('utf8', 5)) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof event !== 'object' || event === null) return;
    const nested = (field: string) => (event[field] as { usage?: unknown } | null | undefined)?.usage;
    this.#merge(usageOf(event.usage ?? nested('message') ?? nested('response')));
  }

  /**
   * A JSON answer: track strings and depth, and keep the bytes of the top-level `usage`
   * value. Inside a string, jump to the next quote or backslash.
   */
  #scan(chunk: Buffer): void {
    let captureFrom = this.#capture === undefined ? -1 : 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.#inString) {
        if (this.#escaped) {
          this.#escaped = false;
          i++;
          continue;
        }
        const quote = chunk.indexOf(QUOTE, i);
        const backslash = chunk.indexOf(BACKSLASH, i);
        if (backslash !== -1 && (quote === -1 || backslash < quote)) {
          if (this.#key !== undefined) this.#key = undefined; // an escaped key is not "usage"
          this.#escaped = true;
          i = backslash + 1;
          continue;
        }
        if (quote === -1) {
          if (this.#key !== undefined)
            this.#key += chunk.toString('latin1', i, Math.min(chunk.length, i + 8));
          break;
        }
        if (this.#key !== undefined) {
          this.#lastKey = this.#key + chunk.toString('latin1', i, Math.min(quote, i + 8));
          this.#key = undefined;
        }
        this.#inString = false;
        i = quote + 1;
        continue;
      }
      const b = chunk[i] as number;
      if (b === QUOTE) {
        this.#inString = true;
        this.#key = this.#depth === 1 && this.#expectKey ? '' : undefined;
        this.#expectKey = false;
      } else if (b === 0x7b || b === 0x5b) {
        this.#depth++;
        if (this.#depth === 1) this.#expectKey = b === 0x7b;
      } else if (b === 0x7d || b === 0x5d) {
        this.#depth--;
        if (this.#depth === 0 && captureFrom !== -1) {
          this.#endCapture(chunk.subarray(captureFrom, i));
          captureFrom = -1;
        }
      } else if (this.#depth === 1 && b === 0x2c) {
        this.#expectKey = true;
        if (captureFrom !== -1) {
          this.#endCapture(chunk.subarray(captureFrom, i));
          captureFrom = -1;
        }
      } else if (this.#depth === 1 && b === 0x3a && this.#lastKey === 'usage') {
        this.#lastKey = '';
        this.#capture = [];
        this.#captured = 0;
        captureFrom = i + 1;
      }
      i++;
    }
    if (captureFrom !== -1 && this.#capture !== undefined) this.#keep(chunk.subarray(captureFrom));
  }

  #keep(piece: Buffer): void {
    this.#captured += piece.length;
    if (this.#captured > MAX_USAGE) this.#capture = undefined;
    else this.#capture?.push(Buffer.from(piece));
  }

  #endCapture(piece: Buffer): void {
    this.#keep(piece);
    const capture = this.#capture;
    this.#capture = undefined;
    if (capture === undefined) return;
    try {
      const usage = usageOf(JSON.parse(Buffer.concat(capture).toString('utf8')));
      // The top-level usage is the answer's own: the last one counts, as JSON.parse would.
      if (usage !== undefined) this.#found = usage;
    } catch {
      // Not JSON: no usage.
    }
  }
}
