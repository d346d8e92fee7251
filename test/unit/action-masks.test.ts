/**
 * The Action's mask forms (src/run/mask-forms.ts): what `::add-mask::` is given for one value.
 * The runner masks exact strings within a line, so each form a value may be printed in must
 * be registered on its own.
 */
import { describe, expect, it } from 'vitest';
import { maskForms } from '../../src/run/mask-forms.js';

describe('mask forms', () => {
  it('masks the URL-encoded and JSON-escaped forms: p@ss/w"rd', () => {
    const forms = maskForms('p@ss/w"rd', ['url', 'json']);
    expect(forms).toEqual(['p@ss/w"rd', 'p%40ss%2Fw%22rd', 'p@ss/w\\"rd']);
  });

  it('masks the base64 form of the UTF-8 bytes', () => {
    expect(maskForms('pässwörd', ['base64'])).toEqual([
      'pässwörd',
      Buffer.from('pässwörd').toString('base64'),
    ]);
  });

  it('masks only the value when no encoding is asked for', () => {
    expect(maskForms('p@ss/w"rd', [])).toEqual(['p@ss/w"rd']);
  });

  it('masks each line of a multi-line value, and each line trimmed, at LF, CRLF and CR', () => {
    const value = '-----BEGIN KEY-----\r\n  abc def  \nline3\rlast ';
    expect(maskForms(value, [])).toEqual([
      value,
      '-----BEGIN KEY-----',
      '  abc def  ',
      'abc def',
      'line3',
      'last ',
      'last',
    ]);
  });

  it('registers no blank form: no empty line, no whitespace-only value or line', () => {
    expect(maskForms('a\n\n   \nb', [])).toEqual(['a\n\n   \nb', 'a', 'b']);
    expect(maskForms('   ', ['url', 'json', 'base64'])).toEqual(['%20%20%20', 'ICAg']);
    expect(maskForms('', ['url', 'json', 'base64'])).toEqual([]);
  });

  it('registers each distinct form once, the whole value first', () => {
    expect(maskForms('plain', ['url', 'json', 'base64'])).toEqual(['plain', 'cGxhaW4=']);
    expect(maskForms('x\nx', ['json'])).toEqual(['x\nx', 'x', 'x\\nx']);
  });

  it('leaves a one-line value with surrounding spaces as it is (the runner prints it so)', () => {
    expect(maskForms(' token ', [])).toEqual([' token ']);
  });
});
