/**
 * Property tests for the `pull` formats (issue 13): for any byte strings, a file holding
 * them either reads back through the format's real consumer exactly, every value and no
 * other variable, or is refused with ERR_UNREPRESENTABLE_VALUE naming a value that cannot
 * be carried alone either. Where a format's refusals are a short rule (shell: NUL; json:
 * not UTF-8; docker: its documented list), the rule is checked both ways.
 */
import { isUtf8 } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EggError } from '../../src/errors.js';
import { DOCKER_MAX_LINE_BYTES, FORMATS, type Format, formatSecrets } from '../../src/formats/index.js';
import { formatReaders, readWithFastDotenv } from '../support/format-readers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egg-formats-prop-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bytes each consumer treats specially, UTF-8 white space and separators, and stray bytes. */
const SPECIAL = [
  ...["'", '"', '`', '\\', '#', '=', '$', ' ', '\t', '\n', '\r', 'n', 'r', 'a', '\0'],
  ...['\u00a0', '\u0085', '\u2028', '\u2029', '\u3000', '\ufeff', '🥚', 'é'],
].map((text) => Buffer.from(text, 'utf8'));

const value = fc
  .oneof(
    {
      weight: 4,
      arbitrary: fc.array(
        fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(...SPECIAL) },
          { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 2 }) },
        ),
        { maxLength: 14 },
      ),
    },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }).map((s) => [Buffer.from(s)]) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((bytes) => [bytes]) },
  )
  .map((pieces) => Buffer.concat(pieces));

/** One to four secrets with distinct names (prefixed so none is a shell's own variable). */
const secrets = fc.uniqueArray(
  fc.record({ name: fc.stringMatching(/^[A-Za-z0-9_]{1,12}$/).map((n) => `S_${n}`), value }),
  { minLength: 1, maxLength: 4, selector: (s) => s.name },
);

/** Either the formatted bytes, or the refusal (anything but an EggError fails the property). */
function attempt(list: { name: string; value: Buffer }[], format: Format): Buffer | EggError {
  try {
    return formatSecrets(list, format);
  } catch (error) {
    if (error instanceof EggError) return error;
    throw error;
  }
}

/** The documented refusals where they are a short rule; undefined where none is (dotenv). */
const REFUSES: Partial<Record<Format, (value: Buffer) => boolean>> = {
  shell: (v) => v.includes(0),
  // JSON carries every value: bytes that are not UTF-8 as {"base64": "…"}.
  json: () => false,
  docker: (v) =>
    !isUtf8(v) ||
    v.includes(0) ||
    v.includes(0x0a) ||
    v.at(-1) === 0x0d ||
    (v.length >= 2 && (v[0] === 0x22 || v[0] === 0x27) && v.at(-1) === v[0]) ||
    v.length > DOCKER_MAX_LINE_BYTES,
};

describe.each(FORMATS)('the %s format, for any byte strings', (format) => {
  const runs = format === 'shell' ? 250 : 1500;

  it('round-trips every value through its real consumer, or refuses one that no file could carry', () => {
    const read = formatReaders(dir)[format];
    fc.assert(
      fc.property(secrets, (list) => {
        const result = attempt(list, format);
        const rule = REFUSES[format];
        if (result instanceof EggError) {
          expect(result.code).toBe('ERR_UNREPRESENTABLE_VALUE');
          const refused = list.find(({ name }) => result.message.startsWith(`${name} `));
          expect(refused).toBeDefined();
          // The refusal is the value's own, not the mix: alone, it is refused too.
          expect(attempt([refused!], format)).toBeInstanceOf(EggError);
          if (rule !== undefined) expect(rule(refused!.value)).toBe(true);
          if (refused!.value.length >= 8) expect(result.message).not.toContain(refused!.value.toString());
          return;
        }
        const expected = new Map(list.map(({ name, value: v }) => [name, v]));
        expect(read(result)).toEqual(expected);
        if (format === 'dotenv') expect(readWithFastDotenv(result)).toEqual(expected);
        if (rule !== undefined) expect(list.some(({ value: v }) => rule(v))).toBe(false);
      }),
      { numRuns: runs },
    );
  });
});
