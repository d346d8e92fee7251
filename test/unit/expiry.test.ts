import { describe, expect, it } from 'vitest';
import { describeExpiry, expiresWithin, isExpired, parseExpiry } from '../../src/expiry.js';

const NOW = new Date('2026-01-01T00:00:00.000Z');

describe('expiry', () => {
  it.each([
    ['90d', '2026-04-01T00:00:00.000Z'],
    ['12h', '2026-01-01T12:00:00.000Z'],
    ['2w', '2026-01-15T00:00:00.000Z'],
    [' 1d ', '2026-01-02T00:00:00.000Z'],
    ['2026-06-30', '2026-06-30T00:00:00.000Z'],
    ['2026-06-30T12:30:00Z', '2026-06-30T12:30:00.000Z'],
    ['2026-06-30T12:30:00+02:00', '2026-06-30T10:30:00.000Z'],
  ])('reads %j as %s', (text, expected) => {
    expect(parseExpiry(text, NOW)).toBe(expected);
  });

  it.each([
    ['90', '--expires "90" is not a duration or a date'],
    ['3m', '--expires "3m" is not a duration or a date'],
    ['next week', '--expires "next week" is not a duration or a date'],
    ['2026-13-45', '--expires "2026-13-45" is not a duration or a date'],
    ['0d', '--expires 0d is not in the future'],
    ['2025-12-31', '--expires 2025-12-31 is not in the future'],
  ])('refuses %j', (text, message) => {
    expect(() => parseExpiry(text, NOW)).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message }));
  });

  it('says whether a secret has expired, at its instant and after', () => {
    expect(isExpired(undefined, NOW)).toBe(false);
    expect(isExpired('2026-01-01T00:00:00.001Z', NOW)).toBe(false);
    expect(isExpired('2026-01-01T00:00:00.000Z', NOW)).toBe(true);
    expect(isExpired('2025-12-31T00:00:00.000Z', NOW)).toBe(true);
  });

  it('says what expires within a window, expired ones included', () => {
    expect(expiresWithin(undefined, NOW, 14)).toBe(false);
    expect(expiresWithin('2026-01-15T00:00:00.000Z', NOW, 14)).toBe(true);
    expect(expiresWithin('2026-01-15T00:00:00.001Z', NOW, 14)).toBe(false);
    expect(expiresWithin('2025-06-01T00:00:00.000Z', NOW, 14)).toBe(true);
  });

  it.each([
    ['2026-01-06T00:00:00.000Z', 'expires in 5 days'],
    ['2026-01-01T05:30:00.000Z', 'expires in 5 hours'],
    ['2026-01-01T00:10:00.000Z', 'expires in 1 hour'],
    ['2025-12-29T00:00:00.000Z', 'expired 3 days ago'],
    ['2025-12-31T23:00:00.000Z', 'expired 1 hour ago'],
  ])('describes %s as %j', (expires, text) => {
    expect(describeExpiry(expires, NOW)).toBe(text);
  });
});
