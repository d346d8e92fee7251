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
import { detectFormat, IMPORT_FORMATS, parseSecrets } from '../../src/formats/parse.js';

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
      message: 'the file gives A a number, not a string or {"base64": "…"}',
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

/** `file` read in `format` as [name, value] pairs, or the refusal as `{ code, message }`. */
function read(file: string, format?: 'dotenv' | 'json' | 'docker') {
  try {
    return parseSecrets(Buffer.from(file, 'utf8'), format).secrets.map((s) => [
      s.name,
      s.value.toString('utf8'),
    ]);
  } catch (error) {
    return { code: (error as EggError).code, message: (error as EggError).message };
  }
}

describe('the dotenv parser reads what the dotenv package reads', () => {
  it.each([
    [
      'CRLF line ends',
      'A=1\r\nB=2\r\n',
      [
        ['A', '1'],
        ['B', '2'],
      ],
    ],
    ['a lone CR in a double-quoted value, read as a newline', 'A="x\ry"\n', [['A', 'x\ny']]],
    ['blanks around an unquoted value', 'A= 1 \n', [['A', '1']]],
    [
      'an empty value before another line',
      'A=\nB=2\n',
      [
        ['A', ''],
        ['B', '2'],
      ],
    ],
    ['an empty value at the end of the file', 'A=', [['A', '']]],
    ['quotes inside a value, kept', 'A=x"y"\n', [['A', 'x"y"']]],
    ['a quote that does not close the value, kept', "A='a'b\n", [['A', "'a'b"]]],
    ['\\n kept as it is in single quotes', "A='x\\ny'\n", [['A', 'x\\ny']]],
    ['\\n kept as it is unquoted', 'A=x\\ny\n', [['A', 'x\\ny']]],
    ['\\n and \\r read as newlines in double quotes', 'A="x\\ny\\rz"\n', [['A', 'x\ny\rz']]],
    ['export and two blanks', 'export  A=1\n', [['A', '1']]],
    ['export and one blank', 'export A=1\n', [['A', '1']]],
    ['a colon and a blank', 'A: 1\n', [['A', '1']]],
    ['a backtick value holding # after a blank', 'A= `a#b`\n', [['A', 'a#b']]],
    [
      'a comment after a value',
      'A=1 # note\nB=2\n',
      [
        ['A', '1'],
        ['B', '2'],
      ],
    ],
  ])('%s', (_, file, pairs) => {
    expect(read(file, 'dotenv')).toEqual(pairs);
  });
});

describe('the docker parser reads what docker --env-file reads', () => {
  it.each([
    [
      'CRLF line ends, one CR dropped',
      'A=1\r\nB=2\r\r\n',
      [
        ['A', '1'],
        ['B', '2\r'],
      ],
    ],
    [
      'no final newline',
      'A=1\nB=2',
      [
        ['A', '1'],
        ['B', '2'],
      ],
    ],
    [
      'a BOM trimmed from line 1 only',
      '\ufeffA=1\n\ufeffB=2\n',
      [
        ['A', '1'],
        ['\ufeffB', '2'],
      ],
    ],
    ['leading white space trimmed', '  \u00a0\tA=1\n', [['A', '1']]],
    [
      'blank and comment lines skipped',
      'A=1\n\n  \n# c=1\nB=2\n',
      [
        ['A', '1'],
        ['B', '2'],
      ],
    ],
    ['the value kept as it is', 'A= "1" # c\n', [['A', ' "1" # c']]],
  ])('%s', (_, file, pairs) => {
    expect(read(file, 'docker')).toEqual(pairs);
  });

  it('reads a line of 64 KiB with its newline, and refuses one byte more, naming the line', () => {
    const fits = `A=${'x'.repeat(64 * 1024 - 3)}`;
    expect(read(`B=1\n${fits}\n`, 'docker')).toEqual([
      ['B', '1'],
      ['A', 'x'.repeat(64 * 1024 - 3)],
    ]);
    expect(read(`B=1\n${fits}x\n`, 'docker')).toEqual({
      code: 'ERR_USAGE',
      message: 'the file line 2 is longer than docker reads (64 KiB)',
    });
  });

  it('refuses a line with no name before "=", naming the line', () => {
    expect(read('A=1\n=x\n', 'docker')).toEqual({
      code: 'ERR_USAGE',
      message: 'the file line 2 has no valid variable name',
    });
    expect(read('A=1\nB C=x\n', 'docker')).toEqual({
      code: 'ERR_USAGE',
      message: 'the file line 2 has no valid variable name',
    });
  });
});

describe('the JSON parser', () => {
  it('reads a file that opens with a BOM, named or detected', () => {
    expect(read('\ufeff{"A": "1"}', 'json')).toEqual([['A', '1']]);
    expect(detectFormat(Buffer.from('\ufeff{"A": "1"}'))).toBe('json');
    expect(detectFormat(Buffer.from('\n ["A"]'))).toBe('json');
  });

  it.each([
    ['a string', '"x"', 'the file is not one JSON object of names to strings'],
    ['a number', '1', 'the file is not one JSON object of names to strings'],
    ['null', 'null', 'the file is not one JSON object of names to strings'],
    ['a null value', '{"A": null}', 'the file gives A null, not a string or {"base64": "…"}'],
    ['an object value', '{"A": {}}', 'the file gives A an object, not a string or {"base64": "…"}'],
    ['an array value', '{"A": ["QQ=="]}', 'the file gives A an array, not a string or {"base64": "…"}'],
    [
      'a marker with more keys',
      '{"A": {"base64": "QQ==", "x": 1}}',
      'the file gives A an object, not a string or {"base64": "…"}',
    ],
    [
      'a marker holding a number',
      '{"A": {"base64": 1}}',
      'the file gives A an object, not a string or {"base64": "…"}',
    ],
    [
      'base64 that is not canonical',
      '{"A": {"base64": "QQ"}}',
      'the file gives A an object, not a string or {"base64": "…"}',
    ],
    [
      'base64 with other characters',
      '{"A": {"base64": "Q Q=="}}',
      'the file gives A an object, not a string or {"base64": "…"}',
    ],
  ])('refuses %s, naming the secret and never a value', (_, file, message) => {
    expect(read(file, 'json')).toEqual({ code: 'ERR_USAGE', message });
  });
});

describe('detectFormat', () => {
  const ask = {
    code: 'ERR_USAGE',
    message: 'this file reads differently as a dotenv file and as a docker env-file, so egg will not guess',
    hint: 'say which with --format dotenv or --format docker',
  };
  const detected = (file: string) => {
    try {
      return detectFormat(Buffer.from(file, 'utf8'));
    } catch (error) {
      const { code, message, hint } = error as EggError & { hint?: string };
      return { code, message, hint };
    }
  };

  it.each([
    ['a file docker refuses (a line without "=")', 'A=1\nB\n'],
    ['a file both read the same', 'A=1\nB=two words\n'],
    ['a quoted value beside a plain one', 'A="x y"\nB=1\n'],
    ['a single-quoted value', "A='x'\n"],
  ])('says dotenv for %s', (_, file) => {
    expect(detected(file)).toBe('dotenv');
  });

  it.each([
    ['a line docker skips as a comment that dotenv splits at a CR', 'A=1\n#x\rB=2\n'],
    ['a name docker reads with a no-break space', 'A\u00a0=1\n'],
    ['a quote that does not end the value', 'A="a"b #c\n'],
    ['an unquoted value with a comment', 'A=1 #c\n'],
    ['a value ending in quotes that docker reads with a leading blank', 'A= a"x"\n'],
  ])('asks for --format for %s', (_, file) => {
    expect(detected(file)).toEqual(ask);
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
