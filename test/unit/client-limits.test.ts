/**
 * The proxy's client limits (src/proxy/client-limits.ts) against a hostile caller with many
 * addresses: what it keeps stays bounded, refused addresses are never kept, and past the
 * proxy-wide bound new addresses are refused rather than kept (fail closed).
 */
import { describe, expect, it } from 'vitest';
import { ClientLimits, clientDigest } from '../../src/proxy/client-limits.js';

const token = (jti: string, maxClients?: number, clientRps?: number) => ({
  sub: 'ns',
  jti,
  ...(maxClients === undefined ? {} : { maxClients }),
  ...(clientRps === undefined ? {} : { clientRps }),
});

describe('client limits', () => {
  it('a caller cycling through 10,000 addresses on a token that allows 3 leaves 3 kept and 9,997 refusals counted', () => {
    const limits = new ClientLimits({ clock: () => 1_000_030_000 });
    const verdicts = Array.from({ length: 10_000 }, (_, i) =>
      limits.check(token('t', 3), `10.0.${i >> 8}.${i & 255}`),
    );
    expect(verdicts.filter((v) => v.ok)).toHaveLength(3);
    const [report, ...rest] = limits.drain();
    expect(rest).toEqual([]);
    expect(report).toMatchObject({ namespace: 'ns', id: 't', maxClients: 3, refused: 9_997 });
    expect(report!.clients).toEqual(
      ['10.0.0.0', '10.0.0.1', '10.0.0.2'].map((a) => clientDigest('ns', 't', a)),
    );
    // Nothing new since: the next batch sends no addresses again.
    expect(limits.drain()).toEqual([]);
  });

  it('past the proxy-wide bound of kept addresses, a new address is refused (fail closed), a known one served', () => {
    const limits = new ClientLimits({ clock: () => 1_000_030_000, maxAddresses: 4 });
    for (const a of ['a1', 'a2', 'a3']) expect(limits.check(token('a', 3), a).ok).toBe(true);
    expect(limits.check(token('b', 3), 'b1').ok).toBe(true);
    expect(limits.check(token('b', 3), 'b2')).toMatchObject({ ok: false, code: 'too_many_clients' });
    expect(limits.check(token('b', 3), 'b1').ok).toBe(true);
  });

  it('a new window forgets the last one, whose unsent addresses still go to the next batch', () => {
    let now = 1_000_030_000;
    const limits = new ClientLimits({ clock: () => now, maxAddresses: 3 });
    for (const a of ['a1', 'a2', 'a3']) expect(limits.check(token('a', 3), a).ok).toBe(true);
    now += 60_000;
    expect(limits.check(token('b', 3), 'b1').ok).toBe(true);
    const reports = limits.drain();
    expect(reports.map((r) => [r.id, r.window, r.clients.length])).toEqual([
      ['a', 1_000_020, 3],
      ['b', 1_000_080, 1],
    ]);
  });

  it('addresses another proxy admitted, learnt from the store, are served here and fill the limit', () => {
    const limits = new ClientLimits({ clock: () => 1_000_030_000 });
    expect(limits.check(token('t', 2), 'x1').ok).toBe(true);
    limits.learn('ns', 't', 1_000_020, [clientDigest('ns', 't', 'x1'), clientDigest('ns', 't', 'y1')]);
    expect(limits.check(token('t', 2), 'y1').ok).toBe(true);
    expect(limits.check(token('t', 2), 'z1')).toEqual({
      ok: false,
      code: 'too_many_clients',
      retryAfterSeconds: 50,
    });
    // A set learnt for another window is ignored.
    limits.learn('ns', 't', 1_000_080, [clientDigest('ns', 't', 'z1')]);
    expect(limits.check(token('t', 2), 'z1').ok).toBe(false);
  });

  it('a client over --client-rps is refused alone; an IPv4 client of a dual-stack socket is one client', () => {
    const limits = new ClientLimits({ clock: () => 1_000_030_000 });
    expect(limits.check(token('t', undefined, 1), '127.0.0.2').ok).toBe(true);
    expect(limits.check(token('t', undefined, 1), '::ffff:127.0.0.2')).toEqual({
      ok: false,
      code: 'client_rate_limited',
      retryAfterSeconds: 1,
    });
    expect(limits.check(token('t', undefined, 1), '127.0.0.3').ok).toBe(true);
    // No addresses kept for a token without --max-clients.
    expect(limits.drain()).toEqual([]);
  });

  it('a token without client limits is not looked at', () => {
    const limits = new ClientLimits();
    for (let i = 0; i < 100; i++) expect(limits.check(token('t'), `10.1.0.${i}`).ok).toBe(true);
    expect(limits.drain()).toEqual([]);
  });
});
