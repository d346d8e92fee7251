/**
 * The console's gate (src/console/gate.ts): the one-time secret buys one session, once; the
 * session cookie is the only key; a write needs the console's own Origin, a same-origin
 * fetch and the session's CSRF token; Host must be the loopback address and port.
 */
import { describe, expect, it } from 'vitest';
import { ConsoleGate, CSRF_HEADER, SESSION_COOKIE } from '../../src/console/gate.js';

const PORT = 41234;
const secretOf = (gate: ConsoleGate) => new URL(gate.oneTimeUrl()).searchParams.get('secret') ?? '';

describe('ConsoleGate', () => {
  it('prints a 256-bit secret on 127.0.0.1 and the port', () => {
    const url = new URL(new ConsoleGate(PORT).oneTimeUrl());
    expect(url.origin).toBe(`http://127.0.0.1:${PORT}`);
    expect(Buffer.from(secretOf(new ConsoleGate(PORT)), 'base64url')).toHaveLength(32);
  });

  it('refuses the one-time secret used a second time, and a wrong one', () => {
    const gate = new ConsoleGate(PORT);
    const secret = secretOf(gate);
    expect(gate.exchange(`${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    const session = gate.exchange(secret);
    expect(session?.id).toMatch(/^[\w-]{43}$/);
    expect(gate.exchange(secret)).toBeUndefined();
    expect(() => gate.oneTimeUrl()).toThrow(TypeError);
  });

  it('knows the session only by its cookie', () => {
    const gate = new ConsoleGate(PORT);
    const session = gate.exchange(secretOf(gate))!;
    expect(ConsoleGate.cookie(session)).toBe(
      `${SESSION_COOKIE}=${session.id}; HttpOnly; SameSite=Strict; Path=/`,
    );
    expect(gate.session({ cookie: `a=b; ${SESSION_COOKIE}=${session.id}` })).toBe(session);
    expect(gate.session({ cookie: `${SESSION_COOKIE}=${session.csrf}` })).toBeUndefined();
    expect(gate.session({})).toBeUndefined();
  });

  it('refuses a Host that is not 127.0.0.1 or localhost with the port (DNS rebinding)', () => {
    const gate = new ConsoleGate(PORT);
    expect([`127.0.0.1:${PORT}`, `localhost:${PORT}`].map((h) => gate.hostAllowed(h))).toEqual([true, true]);
    for (const host of [
      undefined,
      '127.0.0.1',
      `evil.example:${PORT}`,
      `127.0.0.1:${PORT + 1}`,
      `[::1]:${PORT}`,
    ])
      expect(gate.hostAllowed(host), String(host)).toBe(false);
  });

  it.each([
    ['another origin', { origin: 'http://127.0.0.1:1' }, 'origin'],
    ['no Origin', { origin: undefined }, 'origin'],
    ['a cross-site fetch', { 'sec-fetch-site': 'same-site' }, 'fetch-site'],
    ['no CSRF token', { [CSRF_HEADER]: undefined }, 'csrf'],
    ['another CSRF token', { [CSRF_HEADER]: 'x'.repeat(43) }, 'csrf'],
    ['nothing wrong', {}, undefined],
  ])('judges a write with %s', (_what, change, refusal) => {
    const gate = new ConsoleGate(PORT);
    const session = gate.exchange(secretOf(gate))!;
    const headers: Record<string, string | undefined> = {
      host: `127.0.0.1:${PORT}`,
      origin: `http://127.0.0.1:${PORT}`,
      'sec-fetch-site': 'same-origin',
      [CSRF_HEADER]: session.csrf,
      ...change,
    };
    expect(gate.writeRefusal(headers, session)).toBe(refusal);
  });
});
