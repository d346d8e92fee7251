/**
 * `egg secrets import` reads what `pull` writes (issue 12, item 2): for any secrets a format
 * accepts, parsing its output in that format gives back every name and value byte for byte,
 * and detection either picks a format that does, or refuses and asks for --format. Also the
 * "did you mean" helper the namespace and secret-name errors use.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { closest, editDistance } from '../../src/closest.js';
import { EggError } from '../../src/errors.js';
import { formatSecrets } from '../../src/formats/index.js';
import { IMPORT_FORMATS, parseSecrets } from '../../src/formats/parse.js';

/** Under `npm run mutate` every covering test runs again for each mutant: fewer random runs. */
const RUNS = process.env.EGG_MUTATION === '1' ? 40 : 400;

const SPECIAL = [
  ...["'", '"', '`', '\\', '#', '=', '$', ' ', '\t', '\n', '\r', 'n', 'r', 'a', 'export '],
  ...['\u00a0', '\u0085', '\u2028', '\u2029', '\u3000', '\ufeff', '🥚', 'é'],
];
const value = fc
  .array(
    fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(...SPECIAL) },
      { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
    ),
    {
      maxLength: 12,
    },
  )
  .map((pieces) => Buffer.from(pieces.join(''), 'utf8'));
const secrets = fc.uniqueArray(
  fc.record({ name: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/), value }),
  { minLength: 1, maxLength: 5, selector: (s) => s.name },
);

function written(list: { name: string; value: Buffer }[], format: (typeof IMPORT_FORMATS)[number]) {
  try {
    return formatSecrets(list, format);
  } catch (error) {
    if (error instanceof EggError && error.code === 'ERR_UNREPRESENTABLE_VALUE') return undefined;
    throw error;
  }
}

const asPairs = (list: { name: string; value: Buffer }[]) =>
  list.map((s) => [s.name, s.value.toString('hex')]);

describe('parseSecrets reads back what pull writes', () => {
  for (const format of IMPORT_FORMATS) {
    it(`round-trips every ${format} file pull writes, byte for byte and in order`, () => {
      let checked = 0;
      fc.assert(
        fc.property(secrets, (list) => {
          const out = written(list, format);
          if (out === undefined) return;
          checked++;
          const parsed = parseSecrets(out, format);
          expect(parsed.format).toBe(format);
          expect(asPairs(parsed.secrets)).toEqual(asPairs(list));
        }),
        { numRuns: RUNS },
      );
      expect(checked).toBeGreaterThan(RUNS / 8);
    });

    it(`detects ${format} from a pull, or refuses and asks for --format, never reading it wrong`, () => {
      fc.assert(
        fc.property(secrets, (list) => {
          const out = written(list, format);
          if (out === undefined) return;
          let parsed;
          try {
            parsed = parseSecrets(out);
          } catch (error) {
            expect(format).not.toBe('json');
            expect(error).toMatchObject({
              code: 'ERR_USAGE',
              hint: 'say which with --format dotenv or --format docker',
            });
            return;
          }
          expect(asPairs(parsed.secrets)).toEqual(asPairs(list));
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('detects the plain files people write by hand', () => {
    expect(parseSecrets(Buffer.from('A=1\nexport B="two words" # note\n')).format).toBe('dotenv');
    expect(parseSecrets(Buffer.from('  {"A": "1"}')).format).toBe('json');
    expect(parseSecrets(Buffer.from('A=\'x\'\nB="y"\n')).secrets.map((s) => s.value.toString())).toEqual([
      'x',
      'y',
    ]);
  });

  it('refuses what it cannot read exactly, naming the line or the secret and never a value', () => {
    const refused = (file: string, format?: 'dotenv' | 'json' | 'docker') => {
      try {
        parseSecrets(Buffer.from(file), format);
      } catch (error) {
        return { code: (error as EggError).code, message: (error as EggError).message };
      }
      throw new Error('not refused');
    };
    expect(refused('A=1\nA=2\n')).toEqual({ code: 'ERR_USAGE', message: 'the file sets A twice' });
    expect(refused('A=1\nCANARY_ONLY\n', 'docker')).toEqual({
      code: 'ERR_USAGE',
      message: 'the file line 2 has no "=": docker would take that variable from its own environment',
    });
    expect(refused('{"A": 1}')).toEqual({
      code: 'ERR_USAGE',
      message: 'the file gives A a number, not a string',
    });
    expect(refused('{"A": "s3cr3t-canary",}')).toEqual({
      code: 'ERR_USAGE',
      message: 'the file is not valid JSON',
    });
    expect(refused('["A"]')).toEqual({
      code: 'ERR_USAGE',
      message: 'the file is not one JSON object of names to strings',
    });
    expect(() => parseSecrets(Buffer.from([0x41, 0x3d, 0xff]))).toThrow(/not valid UTF-8/);
  });
});

describe('closest', () => {
  it.each([
    ['acme/web/prd', ['acme/web/prod', 'acme/api/prod'], 'acme/web/prod'],
    ['DATABSE_URL', ['DATABASE_URL', 'REDIS_URL'], 'DATABASE_URL'],
    ['database_url', ['DATABASE_URL'], 'DATABASE_URL'],
    ['STRIPE_KEY', ['DATABASE_URL', 'REDIS_URL'], undefined],
    ['acme/web/prod', ['acme/web/prod'], undefined],
  ])('suggests for %s among %j: %s', (name, candidates, expected) => {
    expect(closest(name, candidates)).toBe(expected);
  });

  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('ab', 'ba')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
});
