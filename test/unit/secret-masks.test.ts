/**
 * `egg run` masks every form the Action masks (issue 11, item 5): a child that prints a
 * secret base64-encoded, URL-encoded or JSON-escaped, or one line of it, shows `***`.
 */
import { describe, expect, it } from 'vitest';
import { SecretMasker } from '../../src/run/mask.js';
import { secretMasks } from '../../src/run/secret-masks.js';

const SECRET = 'p@ss/w"rd+hunter2';
const PEM = '-----BEGIN KEY-----\nMIIBVwIBADANBgkq\n-----END KEY-----';

function masked(values: string[], output: string): string {
  const { set } = secretMasks(values.map((v) => Buffer.from(v)));
  try {
    const masker = new SecretMasker(set);
    return Buffer.concat([masker.push(Buffer.from(output)), masker.end()]).toString();
  } finally {
    set.dispose();
  }
}

describe('secretMasks', () => {
  it.each([
    ['the value', SECRET],
    ['its base64', Buffer.from(SECRET).toString('base64')],
    ['its URL encoding', encodeURIComponent(SECRET)],
    ['its JSON escaping', JSON.stringify(SECRET).slice(1, -1)],
  ])('masks %s in the child’s output', (_form, printed) => {
    expect(masked([SECRET], `token=${printed};\n`)).toBe('token=***;\n');
  });

  it('masks each line of a multi-line value, and the value printed as one JSON string', () => {
    expect(masked([PEM], 'MIIBVwIBADANBgkq\n')).toBe('***\n');
    expect(masked([PEM], `{"key":${JSON.stringify(PEM)}}`)).toBe('{"key":"***"}');
  });

  it('skips a value shorter than 3 bytes with all its forms, and says which', () => {
    const masks = secretMasks([Buffer.from('ab'), Buffer.from(SECRET), Buffer.from('')]);
    masks.set.dispose();
    expect(masks.skipped).toEqual([0]);
    expect(masked(['ab'], `ab ${Buffer.from('ab').toString('base64')}`)).toBe('ab YWI=');
  });

  it('masks a value that is not UTF-8 as its bytes', () => {
    const value = Buffer.from([0xff, 0xfe, 0x41, 0x42]);
    const { set } = secretMasks([value]);
    const masker = new SecretMasker(set);
    const out = Buffer.concat([
      masker.push(Buffer.concat([Buffer.from('x '), value, Buffer.from(' y')])),
      masker.end(),
    ]);
    set.dispose();
    expect(out.toString()).toBe('x *** y');
  });
});
