import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES, findAnomalies } from '../../src/proxy/anomaly-rules.js';
import {
  applyChange,
  assertRuleTarget,
  parseSettings,
  rulesWith,
  viewRules,
} from '../../src/proxy/rule-settings.js';
import { emptyCounts } from '../../src/tokens/usage-store.js';

const WINDOW = 1_800_000_000;

describe('anomaly rule settings per namespace', () => {
  it.each([
    ['refusal-burst', ['threshold=50'], { threshold: 50 }],
    [
      'rate-spike',
      ['factor=2.5', 'floor=120', 'min-windows=5'],
      { factor: 2.5, floor: 120, 'min-windows': 5 },
    ],
    [
      'spend-velocity',
      ['life-fraction=1', 'min-spent-fraction=0'],
      { 'life-fraction': 1, 'min-spent-fraction': 0 },
    ],
    ['throttle', ['rps-fraction=0.5', 'seconds=60'], { 'rps-fraction': 0.5, seconds: 60 }],
  ] as const)('reads %s %j', (rule, pairs, expected) => {
    expect(parseSettings(rule, pairs)).toEqual(expected);
  });

  it.each([
    [
      'refusal-burst',
      'threshold=0',
      'refusal-burst threshold=0 is not allowed',
      'give a whole number from 1 up to 1000000',
    ],
    [
      'refusal-burst',
      'threshold=2.5',
      'refusal-burst threshold=2.5 is not allowed',
      'give a whole number from 1 up to 1000000',
    ],
    [
      'refusal-burst',
      'threshold=',
      'refusal-burst threshold= is not allowed',
      'give a whole number from 1 up to 1000000',
    ],
    ['rate-spike', 'factor=1', 'rate-spike factor=1 is not allowed', 'give a number above 1 up to 10000'],
    [
      'spend-velocity',
      'life-fraction=NaN',
      'spend-velocity life-fraction=NaN is not allowed',
      'give a number above 0 up to 1',
    ],
    [
      'throttle',
      'seconds=86401',
      'throttle seconds=86401 is not allowed',
      'give a whole number from 1 up to 86400',
    ],
    ['refusal-burst', 'factor=3', 'refusal-burst has no setting "factor"', 'its settings: threshold=N'],
    [
      'rate-spike',
      '__proto__=1',
      'rate-spike has no setting "__proto__"',
      'its settings: factor=N, floor=N, min-windows=N',
    ],
  ] as const)('refuses %s %s', (rule, pair, message, hint) => {
    expect(() => parseSettings(rule, [pair])).toThrow(
      expect.objectContaining({ code: 'ERR_USAGE', message, hint }),
    );
  });

  it('refuses a rule that does not exist, naming the ones that do', () => {
    expect(() => assertRuleTarget('rate-spikes')).toThrow(
      expect.objectContaining({
        code: 'ERR_USAGE',
        message: 'there is no anomaly rule "rate-spikes"',
        hint: 'name one of refusal-burst, rate-spike, client-fanout, spend-velocity, throttle; egg alerts rules lists them',
      }),
    );
    expect(() => assertRuleTarget('constructor')).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });

  it('keeps only what differs from the defaults: off keeps the settings, on and reset undo', () => {
    let o = applyChange({}, 'refusal-burst', { settings: { threshold: 50 } });
    expect(o).toEqual({ 'refusal-burst': { settings: { threshold: 50 } } });
    o = applyChange(o, 'refusal-burst', { state: 'off' });
    expect(o).toEqual({ 'refusal-burst': { off: true, settings: { threshold: 50 } } });
    o = applyChange(o, 'refusal-burst', { settings: { threshold: 60 } });
    expect(o).toEqual({ 'refusal-burst': { off: true, settings: { threshold: 60 } } });
    o = applyChange(o, 'refusal-burst', { state: 'on' });
    expect(o).toEqual({ 'refusal-burst': { settings: { threshold: 60 } } });
    o = applyChange(applyChange(o, 'rate-spike', { state: 'off' }), 'refusal-burst', { state: 'reset' });
    expect(o).toEqual({ 'rate-spike': { off: true } });
    expect(applyChange(o, 'rate-spike', { state: 'on' })).toEqual({});
  });

  it('refuses to turn the throttle off', () => {
    expect(() => applyChange({}, 'throttle', { state: 'off' })).toThrow(
      expect.objectContaining({ code: 'ERR_USAGE', message: 'the throttle cannot be turned off' }),
    );
  });

  it('runs what the namespace set: a rule off fires nothing, a lower threshold fires sooner', () => {
    const totals = (invalidToken: number) => ({
      namespace: 'acme/web',
      id: 'a'.repeat(22),
      window: WINDOW,
      counts: { ...emptyCounts(), invalidToken },
      baseline: { windows: 0, requests: 0 },
      rps: 10,
      cap: 1000,
      spent: 0,
      exp: WINDOW + 3600,
    });
    const lower = rulesWith(DEFAULT_RULES, { 'refusal-burst': { settings: { threshold: 5 } } });
    expect(findAnomalies(totals(5), DEFAULT_RULES, WINDOW + 1)).toEqual([]);
    expect(findAnomalies(totals(5), lower, WINDOW + 1).map((f) => f.figures)).toEqual([
      { invalidToken: 5, refusedOrigin: 0, threshold: 5, windowSeconds: 60 },
    ]);
    const off = rulesWith(DEFAULT_RULES, { 'refusal-burst': { off: true, settings: { threshold: 5 } } });
    expect(findAnomalies(totals(500), off, WINDOW + 1)).toEqual([]);
    expect(rulesWith(DEFAULT_RULES, { throttle: { settings: { seconds: 60 } } }).throttle).toEqual({
      rpsFraction: 0.1,
      seconds: 60,
    });
    // Written by a newer egg (a rule or setting this one does not know): ignored, not obeyed blindly.
    expect(
      rulesWith(DEFAULT_RULES, { 'geo-fence': { off: true }, 'rate-spike': { settings: { nope: 1 } } }),
    ).toEqual(DEFAULT_RULES);
  });

  it('shows every rule, on or off, with each setting and its default', () => {
    expect(viewRules({ 'rate-spike': { off: true, settings: { floor: 120 } } })).toEqual([
      { rule: 'refusal-burst', on: true, settings: { threshold: { value: 20, default: 20 } } },
      {
        rule: 'rate-spike',
        on: false,
        settings: {
          factor: { value: 10, default: 10 },
          floor: { value: 120, default: 60 },
          'min-windows': { value: 3, default: 3 },
        },
      },
      { rule: 'client-fanout', on: true, settings: { threshold: { value: 1, default: 1 } } },
      {
        rule: 'spend-velocity',
        on: true,
        settings: {
          'life-fraction': { value: 0.25, default: 0.25 },
          'min-spent-fraction': { value: 0.1, default: 0.1 },
        },
      },
      {
        rule: 'throttle',
        on: true,
        settings: { 'rps-fraction': { value: 0.1, default: 0.1 }, seconds: { value: 900, default: 900 } },
      },
    ]);
  });
});
