import { isUtf8 } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dotenv from 'dotenv';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EggError } from '../../src/errors.js';
import {
  ByteWriter,
  codePointAt,
  isEnvText,
  isJsWhitespace,
  lastCodePoint,
  leftOut,
  NOT_ENV_TEXT,
  type Unrepresentable,
} from '../../src/formats/bytes.js';
import { DOCKER_MAX_LINE_BYTES, FORMATS, type Format, formatSecrets } from '../../src/formats/index.js';
import { parseSecrets } from '../../src/formats/parse.js';

/** Every value below goes through every format and the real tool that reads it. */
const HOSTILE: Record<string, Buffer> = {
  plain: b('s3cr3t-value'),
  pem: b(
    '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n',
  ),
  crlf: b('line one\r\nline two\r\n'),
  lone_cr: b('a\rb'),
  single_quote: b("it's"),
  double_quote: b('say "hi"'),
  backtick: b('run `id`'),
  all_quotes: b(`'"\``),
  home: b('$HOME'),
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, literally
  braces: b('${HOME:-x}'),
  subshell: b('$(whoami)'),
  backslashes: b('C:\\path\\to\\file'),
  literal_n: b('line1\\nline2'),
  literal_n_and_newline: b('a\\nb\nc'),
  trailing_backslash: b('abc\\'),
  trailing_backslash_multiline: b('a\nb\\'),
  escaped_quote: b("\\'"),
  hash: b('#not a comment'),
  hash_after_space: b('value # comment'),
  spaces: b('  padded  '),
  tabs: b('\tx\t'),
  equals: b('a=b=c'),
  unicode: b('🥚🔑 秘密の鍵 ключ'),
  unicode_spaces: b('\u00a0x\u2028y\u3000'),
  empty: b(''),
  export_like: b('export FOO=bar'),
  double_quoted: b('"quoted"'),
  single_quoted: b("'quoted'"),
  two_quotes: b('""'),
  trailing_cr: b('a\r'),
  nul: b('a\0b'),
  non_utf8: Buffer.from([0xff, 0xfe, 0x41, 0x80]),
  quotes_and_newline: b(`'"\`\n`),
  cr_and_double_quote: b('a\r"b'),
  cr_and_literal_n: b('a\r\\n'),
  quotes_hash: b(`'"\` #`),
  quote_led: b(`'"\`x`),
  padded_quotes: b(` it's "x" \``),
  line_separators: b('x\' \u2028" \u2028` \u2028y'),
  big: Buffer.from(
    `${randomBytes(48 * 1024)
      .toString('base64')
      .slice(0, 64 * 1024 - 16)}'"$\\#=\n\t end`,
  ),
  big_line: Buffer.alloc(64 * 1024, 'x'),
};

const DOCKER_TOO_LONG = `is too long for docker --env-file, whose lines are at most ${DOCKER_MAX_LINE_BYTES} bytes; use --format json or dotenv`;

/** The exact refusal for each (format, value); every other pair must round-trip. */
const REFUSED: Record<Format, Record<string, string>> = {
  shell: {
    nul: 'contains a NUL byte, which a shell variable cannot carry; use --format json, or write it raw with `egg secrets get nul > FILE`',
  },
  json: {},
  dotenv: {
    nul: 'contains a NUL byte, which an environment variable cannot carry; use --format json, or write it raw with `egg secrets get nul > FILE`',
    non_utf8:
      'is not valid UTF-8, which a dotenv file cannot carry; use --format json, or write it raw with `egg secrets get non_utf8 > FILE`',
    cr_and_literal_n:
      'contains a carriage return and a literal \\n or \\r, a mix that no dotenv quoting reads back exactly; use --format json or shell',
    quotes_hash:
      'contains \', ", ` and #, a mix that no dotenv quoting reads back exactly; use --format json or shell',
    line_separators:
      'contains \', ", ` and a Unicode line separator, a mix that no dotenv quoting reads back exactly; use --format json or shell',
  },
  docker: {
    pem: 'contains a line break, which docker --env-file cannot carry; use --format json or dotenv',
    crlf: 'contains a line break, which docker --env-file cannot carry; use --format json or dotenv',
    literal_n_and_newline:
      'contains a line break, which docker --env-file cannot carry; use --format json or dotenv',
    trailing_backslash_multiline:
      'contains a line break, which docker --env-file cannot carry; use --format json or dotenv',
    quotes_and_newline:
      'contains a line break, which docker --env-file cannot carry; use --format json or dotenv',
    big: 'contains a line break, which docker --env-file cannot carry; use --format json or dotenv',
    big_line: DOCKER_TOO_LONG,
    nul: 'contains a NUL byte, which an environment variable cannot carry; use --format json, or write it raw with `egg secrets get nul > FILE`',
    non_utf8:
      'is not valid UTF-8, which docker --env-file refuses; use --format json, or write it raw with `egg secrets get non_utf8 > FILE`',
    double_quoted:
      'starts and ends with the same quote character, which docker versions may read differently (docker/cli#3630); use --format json or dotenv',
    single_quoted:
      'starts and ends with the same quote character, which docker versions may read differently (docker/cli#3630); use --format json or dotenv',
    two_quotes:
      'starts and ends with the same quote character, which docker versions may read differently (docker/cli#3630); use --format json or dotenv',
    trailing_cr: 'ends with a carriage return, which docker --env-file drops; use --format json or dotenv',
  },
};

/** A small seeded generator (mulberry32): `random(n)` is an integer in [0, n). */
function prng(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n) >>> 0;
  };
}

/** Under `npm run mutate` every covering test runs again for each mutant: fewer random rounds. */
const ROUNDS = process.env.EGG_MUTATION === '1' ? 0.1 : 1;

function b(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egg-formats-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The real consumer of each format, returning what it reads back, name → bytes. */
const READ: Record<Format, (output: Buffer) => Map<string, Buffer>> = {
  shell: (output) => readWithSh(output),
  dotenv: (output) => toBytes(dotenv.parse(output)),
  json: (output) => toBytes(JSON.parse(output.toString('utf8')) as Record<string, string>),
  docker: (output) => parseDockerEnvFile(output),
};

/** Strings as UTF-8, and `{"base64": "…"}` (json.ts) as the bytes it holds. */
function toBytes(record: Record<string, string | { base64: string }>): Map<string, Buffer> {
  return new Map(
    Object.entries(record).map(([k, v]) => [
      k,
      typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.base64, 'base64'),
    ]),
  );
}

/** Source the file in `sh` (dash here) with an empty environment and dump it with `env -0`. */
function readWithSh(output: Buffer): Map<string, Buffer> {
  const file = join(dir, `shell-${randomBytes(4).toString('hex')}.sh`);
  writeFileSync(file, output);
  const dump = execFileSync('/bin/sh', ['-c', '. "$1" && exec /usr/bin/env -0', 'sh', file], {
    env: {},
    maxBuffer: 64 * 1024 * 1024,
  });
  return parseEnv0(dump);
}

function parseEnv0(dump: Buffer): Map<string, Buffer> {
  const vars = new Map<string, Buffer>();
  let start = 0;
  for (let end = dump.indexOf(0); end !== -1; start = end + 1, end = dump.indexOf(0, start)) {
    const entry = dump.subarray(start, end);
    const eq = entry.indexOf(0x3d);
    vars.set(entry.subarray(0, eq).toString('latin1'), entry.subarray(eq + 1));
  }
  vars.delete('PWD');
  vars.delete('OLDPWD');
  return vars;
}

/**
 * docker/cli `pkg/kvfile` parseKeyValueFile (v28; formerly `opts/file.go`), line for line:
 * `bufio.Scanner` lines (split at `\n`, one trailing `\r` dropped, at most 64 KiB with the
 * newline), invalid UTF-8 rejected, a BOM trimmed from line 1, leading `unicode.IsSpace`
 * trimmed, blank and `#` lines skipped, split at the first `=`, the value kept as is, and a
 * line without `=` taken from the environment (empty here).
 */
function parseDockerEnvFile(file: Buffer): Map<string, Buffer> {
  const vars = new Map<string, Buffer>();
  const lines: Buffer[] = [];
  let start = 0;
  while (start < file.length) {
    let end = file.indexOf(0x0a, start);
    if (end === -1) end = file.length;
    if (end - start + 1 > 64 * 1024) throw new Error('bufio.Scanner: token too long');
    let line = file.subarray(start, end);
    if (line[line.length - 1] === 0x0d) line = line.subarray(0, -1);
    lines.push(line);
    start = end + 1;
  }
  lines.forEach((raw, index) => {
    if (!isUtf8(raw)) throw new Error(`invalid utf8 bytes at line ${index + 1}`);
    let text = raw.toString('utf8');
    if (index === 0 && text.startsWith('\ufeff')) text = text.slice(1);
    text = text.replace(/^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u, '');
    if (text.length === 0 || text.startsWith('#')) return;
    const eq = text.indexOf('=');
    const key = eq === -1 ? text : text.slice(0, eq);
    if (key.length === 0) throw new Error('no variable name');
    if (/[ \t]/.test(key)) throw new Error(`variable '${key}' contains whitespaces`);
    if (eq !== -1) vars.set(key, Buffer.from(text.slice(eq + 1), 'utf8'));
  });
  return vars;
}

function refusal(run: () => unknown): EggError {
  try {
    run();
  } catch (error) {
    if (error instanceof EggError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe.each(FORMATS)('the %s format', (format) => {
  const cases = Object.entries(HOSTILE);

  it.each(cases)('round-trips %s through the real reader, or refuses it by name', (name, value) => {
    const message = REFUSED[format][name];
    if (message !== undefined) {
      const error = refusal(() => formatSecrets([{ name, value }], format));
      expect({ code: error.code, message: error.message }).toEqual({
        code: 'ERR_UNREPRESENTABLE_VALUE',
        message: `${name} ${message}`,
      });
      return;
    }
    const output = formatSecrets([{ name, value }], format);
    expect(READ[format](output)).toEqual(new Map([[name, value]]));
  });

  it('round-trips every value it accepts in one file, in order', () => {
    const accepted = cases
      .filter(([name]) => REFUSED[format][name] === undefined)
      .map(([name, value]) => ({ name, value }));
    const output = formatSecrets(accepted, format);
    const read = READ[format](output);
    expect([...read.keys()].sort()).toEqual(accepted.map((s) => s.name).sort());
    for (const { name, value } of accepted) expect(read.get(name), name).toEqual(value);
    if (format === 'json')
      expect(Object.keys(JSON.parse(output.toString()))).toEqual(accepted.map((s) => s.name));
  });

  it('never puts the value in a refusal', () => {
    const canary = `CANARY${randomBytes(6).toString('hex')}`;
    const nasty = [
      `${canary}\0`,
      `${canary}\n'"\``,
      `${canary}\r"`,
      `'${canary}'`,
      `${canary}'"\` #`,
      `${canary}\n${'x'.repeat(70_000)}`,
    ];
    for (const text of nasty) {
      for (const value of [b(text), Buffer.concat([b(text), Buffer.from([0xff])])]) {
        try {
          formatSecrets([{ name: 'LEAKY', value }], format);
        } catch (error) {
          expect((error as Error).message).not.toContain(canary);
          expect((error as Error).message).toContain('LEAKY');
        }
      }
    }
  });

  it.runIf(format !== 'json')(
    'refuses the whole batch when one value cannot be carried, naming that one; with skip, leaves out only that one',
    () => {
      const secrets = [
        { name: 'GOOD', value: b('fine') },
        { name: 'BAD', value: HOSTILE.nul! },
        { name: 'LAST', value: b('last') },
      ];
      const error = refusal(() => formatSecrets(secrets, format));
      expect(error.message.startsWith('BAD ')).toBe(true);
      const skipped: Unrepresentable[] = [];
      const output = formatSecrets(secrets, format, { skip: (refused) => skipped.push(refused) });
      expect(READ[format](output)).toEqual(
        new Map([
          ['GOOD', b('fine')],
          ['LAST', b('last')],
        ]),
      );
      expect(skipped.map((r) => [r.secret, `${r.secret} ${r.reason}; ${r.instead}`])).toEqual([
        ['BAD', error.message],
      ]);
    },
  );

  it('leaves out with skip only what it cannot carry, never an invalid name', () => {
    expect(() => formatSecrets([{ name: '1BAD', value: b('x') }], format, { skip: () => undefined })).toThrow(
      EggError,
    );
  });
});

describe('formatSecrets', () => {
  it('writes the documented shapes', () => {
    const secrets = [
      { name: 'A', value: b("it's") },
      { name: 'B', value: b('x\ny') },
    ];
    expect(formatSecrets(secrets, 'shell').toString()).toBe(`export A='it'\\''s'\nexport B='x\ny'\n`);
    expect(formatSecrets(secrets, 'dotenv').toString()).toBe(`A="it's"\nB="x\\ny"\n`);
    expect(formatSecrets(secrets, 'json').toString()).toBe(`{\n  "A": "it's",\n  "B": "x\\ny"\n}\n`);
    expect(formatSecrets([{ name: 'A', value: b('a b ') }], 'docker').toString()).toBe('A=a b \n');
    expect(formatSecrets([], 'json').toString()).toBe('{}\n');
    expect(formatSecrets([], 'dotenv').length).toBe(0);
  });

  it('writes a value that is not UTF-8 as {"base64": "…"} in JSON, of every length, and parseSecrets reads it back to the bytes', () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x41, 0xc3, 0x28, 0x0a]);
    for (let length = 1; length <= bytes.length; length++) {
      const value = Buffer.concat([Buffer.from([0xff]), bytes.subarray(1, length)]);
      const output = formatSecrets(
        [
          { name: 'TEXT', value: b('plain') },
          { name: 'BIN', value },
        ],
        'json',
      );
      expect(output.toString()).toBe(
        `{\n  "TEXT": "plain",\n  "BIN": {"base64": "${value.toString('base64')}"}\n}\n`,
      );
      expect(parseSecrets(output).secrets).toEqual([
        { name: 'TEXT', value: b('plain') },
        { name: 'BIN', value },
      ]);
    }
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i));
    expect(JSON.parse(formatSecrets([{ name: 'ALL', value: all }], 'json').toString())).toEqual({
      ALL: { base64: all.toString('base64') },
    });
  });

  it('escapes JSON exactly as JSON.stringify does', () => {
    const all = `${Buffer.from(Array.from({ length: 128 }, (_, i) => i)).toString('latin1')}\u2028é🥚`;
    const output = formatSecrets([{ name: 'ALL', value: b(all) }], 'json').toString();
    expect(output).toBe(`{\n  "ALL": ${JSON.stringify(all)}\n}\n`);
  });

  it('rejects invalid names and repeated names before writing anything', () => {
    const error = refusal(() => formatSecrets([{ name: 'BAD-NAME', value: b('x') }], 'shell'));
    expect(error.code).toBe('ERR_INVALID_NAME');
    expect(() =>
      formatSecrets(
        [
          { name: 'A', value: b('1') },
          { name: 'A', value: b('2') },
        ],
        'json',
      ),
    ).toThrow(new TypeError('secret A is given twice'));
    expect(() => formatSecrets([], 'yaml' as Format)).toThrow(new TypeError('unknown format "yaml"'));
  });

  it('zeroes what it wrote of earlier secrets when a later one is refused', () => {
    const written: Buffer[] = [];
    const result = ByteWriter.prototype.result;
    const spy = vi.spyOn(ByteWriter.prototype, 'result').mockImplementation(function (this: ByteWriter) {
      const view = result.call(this);
      written.push(view);
      return view;
    });
    try {
      const secrets = [
        { name: 'FIRST', value: b('first-secret') },
        { name: 'NUL', value: b('a\0b') },
      ];
      expect(refusal(() => formatSecrets(secrets, 'shell')).code).toBe('ERR_UNREPRESENTABLE_VALUE');
    } finally {
      spy.mockRestore();
    }
    expect(written).toHaveLength(1);
    expect(written[0]?.length).toBeGreaterThan('first-secret'.length);
    expect(written[0]?.every((byte) => byte === 0)).toBe(true);
  });
});

describe('the shell format in sh', () => {
  it('carries every byte but NUL, including invalid UTF-8, through `. file`, `eval` and printf', () => {
    const secrets = Array.from({ length: 64 }, (_, i) => ({
      name: `BIN_${i}`,
      value: Buffer.from(
        randomBytes(1 + i * 7)
          .map((x) => x || 0x27)
          .map((x, j) => (j % 5 === 0 ? [0x27, 0x0a, 0x5c, 0x24, 0xff][i % 5]! : x)),
      ),
    }));
    const output = formatSecrets(secrets, 'shell');
    const read = READ.shell(output);
    for (const { name, value } of secrets) expect(read.get(name), name).toEqual(value);

    const file = join(dir, 'eval.sh');
    writeFileSync(file, output);
    for (const { name, value } of secrets.slice(0, 8)) {
      const dotted = execFileSync('/bin/sh', ['-c', `. ./eval.sh; printf %s "$${name}"`], {
        cwd: dir,
        env: {},
      });
      const evaled = execFileSync('/bin/sh', ['-c', `eval "$(cat ./eval.sh)"; printf %s "$${name}"`], {
        cwd: dir,
        env: {},
      });
      expect(dotted).toEqual(value);
      expect(evaled).toEqual(value);
    }
  });

  it('does not run anything a value contains', () => {
    const marker = join(dir, 'pwned');
    const output = formatSecrets(
      [{ name: 'X', value: b(`'; touch ${marker}; '$(touch ${marker})\`touch ${marker}\`\n`) }],
      'shell',
    );
    READ.shell(output);
    expect(() => execFileSync('/bin/sh', ['-c', `test ! -e ${marker}`])).not.toThrow();
  });
});

describe('the dotenv format against the dotenv parser', () => {
  // Every character the parser treats specially, plus filler.
  const ALPHABET = ["'", '"', '`', '\\', 'n', 'r', '\n', '\r', '#', ' ', '=', '$', 'a', '\u2028', '\t', 'é'];

  /** Every quoting we know of, to show that a refused value really has none. */
  const encodings = (value: string): string[] => {
    const escaped = value.replaceAll('\r', '\\r').replaceAll('\n', '\\n');
    const out = [`K=${value}\n`, ...["'", '"', '`'].map((q) => `K=${value}\n#${q} guard\n`)];
    for (const q of ["'", '"', '`']) {
      for (const body of q === '"' ? [value, escaped] : [value]) {
        out.push(`K=${q}${body}${q}\n`, `K=${q}${body}${q}\n#${q} guard\n`);
      }
    }
    return out;
  };

  it('round-trips random hostile values, in both parsers, or refuses only what no quoting can carry', () => {
    const random = prng(7);
    const value = () => Array.from({ length: random(12) }, () => ALPHABET[random(ALPHABET.length)]).join('');
    let accepted = 0;
    let refused = 0;
    for (let round = 0; round < 4000 * ROUNDS; round++) {
      const secrets = ['A', 'B', 'C'].map((name) => ({ name, text: value() }));
      const output = (() => {
        try {
          return formatSecrets(
            secrets.map(({ name, text }) => ({ name, value: b(text) })),
            'dotenv',
          );
        } catch (error) {
          expect(error).toBeInstanceOf(EggError);
          return undefined;
        }
      })();
      if (output !== undefined) {
        const expected = Object.fromEntries(secrets.map(({ name, text }) => [name, text]));
        expect(dotenv.parse(output), JSON.stringify(output.toString())).toEqual(expected);
        expect(dotenv.parse(output, { fast: true }), JSON.stringify(output.toString())).toEqual(expected);
        accepted++;
        continue;
      }
      for (const { name, text } of secrets) {
        try {
          formatSecrets([{ name, value: b(text) }], 'dotenv');
        } catch {
          refused++;
          for (const candidate of encodings(text)) expect(dotenv.parse(candidate).K).not.toBe(text);
        }
      }
    }
    expect(accepted).toBeGreaterThan(1000 * ROUNDS);
    expect(refused).toBeGreaterThan(10 * ROUNDS);
  });
});

describe('the dotenv format, line for line', () => {
  it.each([
    ['x\n\\', 'K="x\\n\\"\n#" egg: keeps K, which ends with a backslash, from running on\n'],
    [`'a"b` + '`c', `K='a"b` + '`c\n' + `#' egg: keeps K, which starts with a quote, from running on\n`],
    [`"a'b` + '`c', `K="a'b` + '`c\n' + `#" egg: keeps K, which starts with a quote, from running on\n`],
    ['a\\', 'K=a\\\n'],
    ['it\'s "q" `b`', 'K=it\'s "q" `b`\n'],
    ["'abc", 'K="\'abc"\n'],
    ['"x\\n', "K='\"x\\n'\n"],
    ['a\r\'"`', 'K="a\\r\'"`"\n'],
    ['x\n\'"`', 'K="x\\n\'"`"\n'],
    [' it\'s "q" `b`', "K=' it's \"q\" `b`'\n"],
    ['it\'s "q" `b` ', "K='it's \"q\" `b` '\n"],
    ["'a'\"`", "K='a'\"`\n#' egg: keeps K, which starts with a quote, from running on\n"],
    ['"a\\n\'`', "K='\"a\\n'`'\n"],
    ["'a\u2028'\"`", "K=''a\u2028'\"`'\n"],
    ['x "y\u2028\'`', "K='x \"y\u2028'`'\n"],
    ['"\'` \u2028"', "K='\"'` \u2028\"'\n"],
    ["'\"` \u2029'", "K=''\"` \u2029''\n"],
    ['\u00e9\'"`', 'K=\u00e9\'"`\n'],
    ['a\'\u00a0\u2028"`', 'K="a\'\u00a0\u2028"`"\n'],
    ['a"\u3000\u2029\'`', "K='a\"\u3000\u2029'`'\n"],
    ['a`\u00a0\u3000\u2028\'"', "K='a`\u00a0\u3000\u2028'\"'\n"],
    // A three-byte space between a quote and a line separator, stepped over whole.
    ['"\u3000\r\u2028n', 'K=""\u3000\\r\u2028n"\n'],
    // A backslash after a quote does not escape it.
    ['\r"\\', 'K="\\r"\\"\n'],
    ['`\\', "K='`\\'\n#' egg: keeps K, which ends with a backslash, from running on\n"],
    ['`a\'b"c', 'K=`a\'b"c\n#` egg: keeps K, which starts with a quote, from running on\n'],
    ['`\'"`', "K='`'\"`'\n"],
    ['\'nn`\\n"', "K='nn`\\n\"\n#' egg: keeps K, which starts with a quote, from running on\n"],
  ])('writes %j as this line (and guard line), which both parsers read back', (text, expected) => {
    const output = formatSecrets([{ name: 'K', value: b(text) }], 'dotenv');
    expect(output.toString()).toBe(expected);
    expect(dotenv.parse(output).K).toBe(text);
    expect(dotenv.parse(output, { fast: true }).K).toBe(text);
  });

  it.each([
    [`'"` + '`\n#', 'K contains \', ", `, a line break and #'],
    [`'"` + '`\r#\\n', 'K contains \', ", `, a carriage return, # and a literal \\n or \\r'],
    // Quotes escaped, or running (over white space) into U+2028 or U+2029, which the parser takes for a line end.
    ['\\""\u2028\'\u2028`\u2029', 'K contains \', ", ` and a Unicode line separator'],
    ['\r"\u2029', 'K contains ", a carriage return and a Unicode line separator'],
    ['\r`"\ufeff\u2029', 'K contains ", `, a carriage return and a Unicode line separator'],
  ])('refuses %j, naming each part of the mix', (text, contains) => {
    const error = refusal(() => formatSecrets([{ name: 'K', value: b(text) }], 'dotenv'));
    expect(error.message).toBe(
      `${contains}, a mix that no dotenv quoting reads back exactly; use --format json or shell`,
    );
  });
});

describe('the docker format against docker --env-file rules', () => {
  it('round-trips random single-line values or refuses them with a reason', () => {
    const ALPHABET = [' ', '\t', '#', '=', "'", '"', '\\', 'x', '\r', '\u00a0', '\ufeff', '🥚', '\u0085'];
    const random = prng(11);
    for (let round = 0; round < 3000 * ROUNDS; round++) {
      const text = Array.from({ length: random(7) }, () => ALPHABET[random(ALPHABET.length)]).join('');
      try {
        const output = formatSecrets([{ name: 'K', value: b(text) }], 'docker');
        expect(parseDockerEnvFile(output).get('K')?.toString(), JSON.stringify(text)).toBe(text);
      } catch (error) {
        expect((error as EggError).code).toBe('ERR_UNREPRESENTABLE_VALUE');
        const reason = /\r$/.test(text) || (text.length >= 2 && /^(['"]).*\1$/su.test(text));
        expect(reason, JSON.stringify(text)).toBe(true);
      }
    }
  });

  it('accepts the longest line docker reads and refuses one byte more', () => {
    const fits = Buffer.alloc(DOCKER_MAX_LINE_BYTES - 'K='.length - 1, 0x61);
    expect(parseDockerEnvFile(formatSecrets([{ name: 'K', value: fits }], 'docker')).get('K')).toEqual(fits);
    const error = refusal(() =>
      formatSecrets([{ name: 'K', value: Buffer.concat([fits, b('a')]) }], 'docker'),
    );
    expect(error.message).toBe(`K ${DOCKER_TOO_LONG}`);
  });
});

describe('the byte helpers the formats share', () => {
  it('takes for environment text exactly UTF-8 without NUL, and says so in the one warning', () => {
    expect(isEnvText(b('plain é ✓'))).toBe(true);
    expect(isEnvText(b(''))).toBe(true);
    expect(isEnvText(b('a\0b'))).toBe(false);
    expect(isEnvText(Buffer.from([0x41, 0xff]))).toBe(false);
    expect(leftOut('CERT', NOT_ENV_TEXT, "the command's environment")).toBe(
      "CERT is not UTF-8 text without NUL bytes, so it was left out of the command's environment",
    );
  });

  it('grows a writer past any one write, keeping the bytes and zeroing the buffer it leaves', () => {
    const out = new ByteWriter(0);
    out.ascii('KEY=');
    const left = out.result();
    const big = randomBytes(1000);
    out.bytes(big);
    out.byte(0x0a);
    expect(out.result().equals(Buffer.concat([b('KEY='), big, b('\n')]))).toBe(true);
    expect(left.every((byte) => byte === 0)).toBe(true);
    const small = new ByteWriter(16);
    small.bytes(big, 10, 900);
    expect(small.result().equals(big.subarray(10, 900))).toBe(true);
  });

  it('reads the first and the last code point of UTF-8 at every length boundary', () => {
    for (const codePoint of [
      0x00, 0x41, 0x7f, 0x80, 0xe9, 0x7ff, 0x800, 0x20ac, 0xffff, 0x10000, 0x1f600, 0x10ffff,
    ]) {
      const char = String.fromCodePoint(codePoint);
      expect([codePoint, codePointAt(b(`${char}x`), 0)]).toEqual([codePoint, codePoint]);
      expect([codePoint, lastCodePoint(b(char))]).toEqual([codePoint, codePoint]);
      expect([codePoint, lastCodePoint(b(`a\u00e9${char}`))]).toEqual([codePoint, codePoint]);
    }
  });

  it("treats as white space exactly what JavaScript's \\s matches", () => {
    const differ: number[] = [];
    for (let codePoint = 0; codePoint <= 0x10000; codePoint++) {
      if (isJsWhitespace(codePoint) !== /^\s$/u.test(String.fromCodePoint(codePoint))) differ.push(codePoint);
    }
    expect(differ).toEqual([]);
  });
});
