/**
 * Property tests for the `egg run` masker (issue 13): for any secrets and any output, cut
 * into chunks anywhere, no maskable secret (nor a maskable line of one) is left in what the
 * masker emits, and the output is the same for every way of cutting the input (mask.test.ts
 * compares it with a brute-force reference on chosen cases).
 *
 * Secrets here never contain `*`: the masker writes `***`, so a secret made of stars (or
 * ending in them) could appear in the output beside a replacement without any of it having
 * come from the input. Without `*`, an occurrence in the output lies wholly inside text
 * that passed through unchanged, which is the leak these properties rule out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MaskSet, MIN_MASKED_BYTES, SecretMasker } from '../../src/run/mask.js';

/** A small alphabet, so that secrets overlap, repeat and share prefixes often. */
const ALPHABET = [0x61, 0x62, 0x63, 0x0d, 0x0a, 0xff];
const bytes = (maxLength: number) =>
  fc.array(fc.constantFrom(...ALPHABET), { maxLength }).map((a) => Buffer.from(a));

const secrets = fc.array(bytes(9), { minLength: 1, maxLength: 5 });

/** Output built from secrets, pieces of secrets and noise, so that near-misses are common. */
function output(values: Buffer[]) {
  const piece = fc.oneof(
    fc.constantFrom(...values),
    fc
      .tuple(fc.constantFrom(...values), fc.nat(), fc.nat())
      .map(([v, a, b]) => v.subarray(Math.min(a, b) % (v.length + 1), Math.max(a, b) % (v.length + 1))),
    bytes(4),
  );
  return fc.array(piece, { maxLength: 24 }).map((pieces) => Buffer.concat(pieces));
}

/** Where to cut: sorted offsets into the input (repeats give empty chunks). */
const cuts = fc.array(fc.nat(), { maxLength: 12 });

const scenario = secrets.chain((values) =>
  fc.record({ values: fc.constant(values), input: output(values), cuts }),
);

/**
 * Long secrets that share a prefix and a suffix, as tokens of one kind do (`ghp_…`, or the
 * bench's `mask-N-…-secretvalue`): they share the trigrams Wu–Manber keys on, so a
 * candidate window is told apart by its fingerprint, and the window covers the varying
 * middle only for some of them.
 */
const SHARED_PREFIX = Buffer.from('tok_abcab');
const SHARED_SUFFIX = Buffer.from('cbacb');
const sharedSecrets = fc.array(
  fc
    .tuple(bytes(6), fc.boolean())
    .map(([middle, suffix]) =>
      Buffer.concat([SHARED_PREFIX, middle, suffix ? SHARED_SUFFIX : Buffer.alloc(0)]),
    ),
  { minLength: 1, maxLength: 8 },
);
const sharedScenario = sharedSecrets.chain((values) =>
  fc.record({ values: fc.constant(values), input: output(values), cuts }),
);

/** Push `input` in the chunks `cuts` makes, then end; the output joined. */
function maskInChunks(set: MaskSet, input: Buffer, at: number[]): Buffer {
  const masker = new SecretMasker(set);
  const offsets = at.map((n) => n % (input.length + 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const end of [...offsets, input.length]) {
    out.push(masker.push(Buffer.from(input.subarray(start, end))));
    start = end;
  }
  out.push(masker.end());
  return Buffer.concat(out);
}

/** What must be masked: each value and each line of it, if at least MIN_MASKED_BYTES long. */
function patterns(values: Buffer[]): Buffer[] {
  const lines = values.flatMap((v) => v.toString('latin1').split(/\r\n|\r|\n/u));
  return [...values.map((v) => v.toString('latin1')), ...lines]
    .filter((p) => p.length >= MIN_MASKED_BYTES)
    .map((p) => Buffer.from(p, 'latin1'));
}

describe('the masker, for any secrets, output and chunk boundaries', () => {
  it('never lets a maskable secret or line of one through', () => {
    fc.assert(
      fc.property(scenario, ({ values, input, cuts: at }) => {
        const masked = maskInChunks(new MaskSet(values), input, at);
        for (const p of patterns(values)) expect(masked.includes(p), p.toString('latin1')).toBe(false);
      }),
      { numRuns: 600 },
    );
  });

  it('gives the same output however the input is cut', () => {
    fc.assert(
      fc.property(scenario, ({ values, input, cuts: at }) => {
        const set = new MaskSet(values);
        expect(maskInChunks(set, input, at)).toEqual(maskInChunks(set, input, []));
      }),
      { numRuns: 600 },
    );
  });

  it('never lets a long secret through when many share a prefix and a suffix', () => {
    fc.assert(
      fc.property(sharedScenario, ({ values, input, cuts: at }) => {
        const set = new MaskSet(values);
        const masked = maskInChunks(set, input, at);
        for (const p of patterns(values)) expect(masked.includes(p), p.toString('latin1')).toBe(false);
        expect(masked).toEqual(maskInChunks(set, input, []));
      }),
      { numRuns: 600 },
    );
  });

  const EMPTY = new MaskSet([]);

  it('emits every byte it received once the stream ends, with nothing to mask', () => {
    fc.assert(
      fc.property(bytes(40), cuts, (input, at) => {
        expect(maskInChunks(EMPTY, input, at)).toEqual(input);
      }),
    );
  });
});
