import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES, findAnomalies, throttleFor } from '../../src/proxy/anomaly-rules.js';
import { emptyCounts, type UsageCounts, type UsageTotals } from '../../src/tokens/usage-store.js';

const WINDOW = 1_800_000_000;

function totals(counts: Partial<UsageCounts>, over: Partial<UsageTotals> = {}): UsageTotals {
  return {
    namespace: 'acme/web',
    id: 'a'.repeat(22),
    window: WINDOW,
    counts: { ...emptyCounts(), ...counts },
    baseline: { windows: 0, requests: 0 },
    rps: 10,
    cap: 1000,
    spent: 0,
    exp: WINDOW + 3600,
    ...over,
  };
}

describe('anomaly rules with their defaults', () => {
  it.each([
    ['19 refusals stay quiet', totals({ invalidToken: 10, refusedOrigin: 9 }), []],
    ['20 refusals fire refusal-burst', totals({ invalidToken: 10, refusedOrigin: 10 }), ['refusal-burst']],
    ['a rate spike with no baseline stays quiet', totals({ requests: 5000 }), []],
    [
      'a rate spike over 10x a baseline of 2 fires at the floor of 60',
      totals({ requests: 60 }, { baseline: { windows: 3, requests: 6 } }),
      ['rate-spike'],
    ],
    [
      'a busy token within 10x its baseline stays quiet',
      totals({ requests: 900 }, { baseline: { windows: 10, requests: 1000 } }),
      [],
    ],
    [
      'spend that would empty the cap in minutes of an hour fires spend-velocity',
      totals({ spend: 200, requests: 40 }, { spent: 200 }),
      ['spend-velocity'],
    ],
    ['spend under a tenth of the cap stays quiet', totals({ spend: 90 }, { spent: 90 }), []],
  ])('%s', (_name, t, rules) => {
    expect(findAnomalies(t, DEFAULT_RULES, WINDOW + 10).map((f) => f.rule)).toEqual(rules);
  });

  it('fires client-fanout on a refused new client, or on more distinct clients than allowed, and only with a limit', () => {
    const clients = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);
    const fired = (t: UsageTotals, limit?: { max: number; refused: number }) =>
      findAnomalies(t, DEFAULT_RULES, WINDOW + 10, limit);
    expect(fired(totals({ requests: 9 }, { clients: clients(3) }), { max: 3, refused: 0 })).toEqual([]);
    expect(fired(totals({ requests: 9 }, { clients: clients(3) }), { max: 3, refused: 1 })).toEqual([
      {
        namespace: 'acme/web',
        tokenId: 'a'.repeat(22),
        rule: 'client-fanout',
        figures: { distinctClients: 3, maxClients: 3, refusedClients: 1, windowSeconds: 60 },
      },
    ]);
    // Two proxies that each admitted 2 before either learnt of the other's: 4 of 3 allowed.
    expect(
      fired(totals({ requests: 9 }, { clients: clients(4) }), { max: 3, refused: 0 }).map((f) => f.rule),
    ).toEqual(['client-fanout']);
    expect(fired(totals({ requests: 9 }, { clients: clients(40) }))).toEqual([]);
    expect(
      findAnomalies(totals({}, { clients: clients(4) }), { ...DEFAULT_RULES, clientFanout: false }, WINDOW, {
        max: 3,
        refused: 5,
      }),
    ).toEqual([]);
    expect(
      findAnomalies(
        totals({}, { clients: clients(3) }),
        { ...DEFAULT_RULES, clientFanout: { threshold: 5 } },
        WINDOW,
        {
          max: 3,
          refused: 4,
        },
      ),
    ).toEqual([]);
  });

  it('turns a rule off with false', () => {
    const t = totals({ invalidToken: 50 });
    expect(findAnomalies(t, { ...DEFAULT_RULES, refusalBurst: false }, WINDOW + 10)).toEqual([]);
  });

  it('throttles to a tenth of the rate, at least 1 r/s, for 15 minutes', () => {
    expect(throttleFor('rate-spike', 10, DEFAULT_RULES, 100)).toEqual({
      rule: 'rate-spike',
      rps: 1,
      since: 100,
      until: 1000,
    });
    expect(throttleFor('rate-spike', 250, DEFAULT_RULES, 100).rps).toBe(25);
  });
});
