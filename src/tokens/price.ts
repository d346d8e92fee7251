/**
 * A provider key's price table (issue 10 item 6): what a token spends when the upstream
 * reports its usage, in integer micro-units of the owner's unit (a dollar, a euro, a credit),
 * so no sum is ever a float. Set with `egg secrets set NAME --price input=2.5,output=10`
 * (per million tokens; `--price-unit per-1K` for prices per thousand) and kept with the key
 * as its upstream is, in the canonical form `formatPrice` writes (per million tokens).
 *
 * A priced key's tokens spend micro-units: `--spend 5000000` caps a token at 5 units.
 * docs/spend.md says how the proxy reserves the worst case and reconciles.
 */
import { EggError } from '../errors.js';

/** Micro-units per million tokens for each kind of token, and the reservation ceiling. */
export interface PriceTable {
  input: number;
  output: number;
  /** Input read from a prompt cache (default: the input price). */
  cacheRead: number;
  /** Input written to a prompt cache (Anthropic; default: the input price). */
  cacheWrite: number;
  /** Output tokens reserved for a request that names no `max_tokens`. */
  maxOutput: number;
}

/** The output reserved for a request without `max_tokens`, unless the table says otherwise. */
export const DEFAULT_MAX_OUTPUT = 32_768;

/** At most this many units per million tokens: sums of micro-units stay exact (BigInt once per request). */
const MAX_PRICE = 1_000_000;
const DECIMAL = /^(\d{1,7})(?:\.(\d{1,6}))?$/;
const FIELDS = {
  input: 'input',
  output: 'output',
  'cache-read': 'cacheRead',
  'cache-write': 'cacheWrite',
} as const;

/**
 * A price table from its text form: `input=2.5,output=10`, optionally `cache-read=…`,
 * `cache-write=…` and `max-output=N` (tokens). `unit` is what the prices are for:
 * `per-1M` (the stored form) or `per-1K` tokens.
 * @example parsePrice('input=2.5,output=10').input // 2_500_000
 */
export function parsePrice(text: string, unit: 'per-1M' | 'per-1K' = 'per-1M'): PriceTable {
  const scale = unit === 'per-1K' ? 1000 : 1;
  const seen = new Map<string, number>();
  let maxOutput = DEFAULT_MAX_OUTPUT;
  for (const pair of text.split(',')) {
    const at = pair.indexOf('=');
    const name = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    if (name === 'max-output' && /^\d{1,7}$/.test(value) && Number(value) > 0) {
      maxOutput = Number(value);
      continue;
    }
    const micro = microOf(value) * scale;
    if (!(name in FIELDS) || seen.has(name) || !Number.isSafeInteger(micro) || micro > MAX_PRICE * 1e6)
      throw notAPrice(text);
    seen.set(name, micro);
  }
  const input = seen.get('input');
  const output = seen.get('output');
  if (input === undefined || output === undefined) throw notAPrice(text);
  return {
    input,
    output,
    cacheRead: seen.get('cache-read') ?? input,
    cacheWrite: seen.get('cache-write') ?? input,
    maxOutput,
  };
}

/** The canonical text of a table (per million tokens), as the vault keeps it. */
export function formatPrice(price: PriceTable): string {
  const parts = [`input=${decimal(price.input)}`, `output=${decimal(price.output)}`];
  if (price.cacheRead !== price.input) parts.push(`cache-read=${decimal(price.cacheRead)}`);
  if (price.cacheWrite !== price.input) parts.push(`cache-write=${decimal(price.cacheWrite)}`);
  if (price.maxOutput !== DEFAULT_MAX_OUTPUT) parts.push(`max-output=${price.maxOutput}`);
  return parts.join(',');
}

/** Micro-units as the owner's unit: `2500000` → `2.5`. */
export function decimal(micro: number): string {
  const whole = Math.trunc(micro / 1e6);
  const fraction = String(micro % 1e6)
    .padStart(6, '0')
    .replace(/0+$/, '');
  return fraction === '' ? String(whole) : `${whole}.${fraction}`;
}

function microOf(value: string): number {
  const match = DECIMAL.exec(value);
  if (match === null) return Number.NaN;
  return Number(match[1]) * 1e6 + Number((match[2] ?? '').padEnd(6, '0'));
}

function notAPrice(text: string): EggError {
  return new EggError('ERR_USAGE', `--price ${JSON.stringify(text.slice(0, 80))} is not a price table`, {
    hint: 'give input=PRICE,output=PRICE per million tokens (e.g. input=2.5,output=10), optionally cache-read=, cache-write= and max-output=TOKENS',
  });
}
