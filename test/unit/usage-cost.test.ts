/**
 * The arithmetic and the answer scanner of spend in real units (src/proxy/usage-cost.ts,
 * src/tokens/price.ts). The expected figures are worked out by hand in each test.
 */
import { describe, expect, it } from 'vitest';
import { costOf, UsageTap, usageOf, worstCase } from '../../src/proxy/usage-cost.js';
import { decimal, formatPrice, parsePrice } from '../../src/tokens/price.js';

const price = parsePrice('input=2.5,output=10,max-output=100');

/** Feed `text` to a tap in pieces of `size` bytes. */
function tapped(contentType: string, text: string, size: number) {
  const tap = new UsageTap(contentType);
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) tap.write(bytes.subarray(i, i + size));
  return tap.usage();
}

describe('price tables', () => {
  it('keeps prices as integer micro-units per million tokens, per-1K scaled, and prints them back', () => {
    expect(price).toEqual({
      input: 2_500_000,
      output: 10_000_000,
      cacheRead: 2_500_000,
      cacheWrite: 2_500_000,
      maxOutput: 100,
    });
    expect(parsePrice('input=0.0025,output=0.01', 'per-1K')).toMatchObject({
      input: 2_500_000,
      output: 10_000_000,
    });
    expect(formatPrice(parsePrice('output=10,input=2.5,cache-read=0.25'))).toBe(
      'input=2.5,output=10,cache-read=0.25',
    );
    expect(decimal(1_000_001)).toBe('1.000001');
  });

  it('refuses what is not a price table (a float past micro-units, a negative, an unknown or repeated kind)', () => {
    for (const bad of [
      'input=2.5',
      'input=0.0000001,output=1',
      'input=-1,output=1',
      'input=1,output=1,input=2',
      'input=1,output=1,tip=2',
      'input=1e3,output=1',
      'input=2000000,output=1',
    ])
      expect(() => parsePrice(bad), bad).toThrow(/not a price table/);
  });
});

describe('worst case and cost', () => {
  it('counts every body byte as input, and max_tokens × n as output (the larger maximum when both are named)', () => {
    const body = Buffer.from(JSON.stringify({ max_tokens: 40, max_completion_tokens: 60, n: 3 }));
    // bytes × 2.5 + 60 × 3 × 10, rounded up.
    expect(worstCase(body, price)).toBe(Math.ceil(body.length * 2.5) + 1800);
    const responses = Buffer.from(JSON.stringify({ max_output_tokens: 70 }));
    expect(worstCase(responses, price)).toBe(Math.ceil(responses.length * 2.5) + 700);
  });

  it("reserves the table's max-output for a request that names no maximum, or is not JSON", () => {
    const body = Buffer.from('not json at all');
    expect(worstCase(body, price)).toBe(Math.ceil(15 * 2.5) + 1000);
    const nameless = Buffer.from('{"max_tokens":"9999999","n":-4}');
    expect(worstCase(nameless, price)).toBe(Math.ceil(nameless.length * 2.5) + 1000);
  });

  it('charges each kind of token at its price, rounded up once per request', () => {
    const table = parsePrice('input=2.5,output=10,cache-read=0.25,cache-write=3.75');
    // 3 × 2.5 + 1 × 10 + 4 × 0.25 + 2 × 3.75 = 26 micro-units.
    expect(costOf({ input: 3, output: 1, cacheRead: 4, cacheWrite: 2 }, table)).toBe(26);
    expect(costOf({ input: 1, output: 0, cacheRead: 0, cacheWrite: 0 }, table)).toBe(3);
  });

  it('reads both usage shapes and refuses counts that are not whole and non-negative', () => {
    expect(
      usageOf({ prompt_tokens: 10, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 4 } }),
    ).toEqual({
      input: 6,
      output: 2,
      cacheRead: 4,
      cacheWrite: 0,
    });
    expect(usageOf({ input_tokens: 5, output_tokens: 7, cache_creation_input_tokens: 1 })).toEqual({
      input: 5,
      output: 7,
      cacheRead: 0,
      cacheWrite: 1,
    });
    expect(usageOf({ prompt_tokens: -1, completion_tokens: 2 })).toBeUndefined();
    expect(usageOf({ input_tokens: 1.5 })).toBeUndefined();
    expect(usageOf({ prompt_tokens: 1, prompt_tokens_details: { cached_tokens: 2 } })).toBeUndefined();
    expect(usageOf(null)).toBeUndefined();
  });
});

describe('reading the usage of an answer as it passes', () => {
  const json = JSON.stringify({
    id: 'x',
    choices: [{ message: { content: 'a "usage": {"prompt_tokens": 999} \\" { [' } }],
    nested: { usage: { prompt_tokens: 555, completion_tokens: 555 } },
    usage: { prompt_tokens: 12, completion_tokens: 34 },
    tail: '}',
  });

  it('keeps only the top-level usage of a JSON answer, whatever the chunk boundaries', () => {
    for (const size of [1, 2, 3, 7, 64, 4096])
      expect(tapped('application/json', json, size), `chunks of ${size}`).toEqual({
        input: 12,
        output: 34,
        cacheRead: 0,
        cacheWrite: 0,
      });
  });

  it('finds no usage in a JSON answer without one, or whose usage is not an object of counts', () => {
    expect(tapped('application/json', '{"usage":null,"x":1}', 3)).toBeUndefined();
    expect(tapped('application/json', '[{"usage":{"prompt_tokens":1}}]', 3)).toBeUndefined();
    expect(tapped('application/json', '{"usage":{"prompt_tokens":1', 3)).toBeUndefined();
  });

  it('reads usage lines of server-sent events split anywhere, keeping the largest cumulative count', () => {
    const events = [
      'event: message_start',
      'data: {"type":"message_start","message":{"usage":{"input_tokens":20,"output_tokens":1}}}',
      '',
      'data: {"type":"content_block_delta","delta":{"text":"\\"usage\\": 1"}}',
      '',
      'data: {"type":"message_delta","usage":{"output_tokens":30}}',
      '',
      'data: {"type":"message_delta","usage":{"output_tokens":31}}',
      '',
    ].join('\n');
    for (const size of [1, 5, 33, 1000])
      expect(tapped('text/event-stream; charset=utf-8', events, size)).toEqual({
        input: 20,
        output: 31,
        cacheRead: 0,
        cacheWrite: 0,
      });
  });

  it('skips null usages and reads a last line with no newline', () => {
    const events =
      'data: {"usage":null,"choices":[]}\n\ndata: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}';
    expect(tapped('text/event-stream', events, 10)).toEqual({
      input: 3,
      output: 4,
      cacheRead: 0,
      cacheWrite: 0,
    });
  });
});
