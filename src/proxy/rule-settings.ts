/**
 * Per-namespace settings of the anomaly rules (issue 10, docs/alerts.md, "Tuning the rules"):
 * what `egg alerts rules set` may change, how a change is checked, and how the stored
 * overrides turn into the `AnomalyRules` a proxy runs. The store keeps only the overrides
 * (usage-store.ts `RuleOverrides`), so a default improved later reaches every namespace
 * that did not change it.
 */
import { EggError } from '../errors.js';
import type { SecretStore } from '../stores/store.js';
import type { RuleOverrides, UsageStore } from '../tokens/usage-store.js';
import { chainRecord } from '../vault/audit.js';
import { type AnomalyRules, DEFAULT_RULES, type RuleName } from './anomaly-rules.js';

/** What may be set: the rules, and what a firing rule does (`throttle`, which cannot be off). */
export type RuleSettingTarget = RuleName | 'throttle';

interface SettingSpec {
  /** The field of `AnomalyRules` it sets. */
  field: string;
  min: number;
  max: number;
  integer: boolean;
  /** `min` itself is allowed unless `exclusiveMin`. */
  exclusiveMin?: boolean;
}

/** Every setting by rule, named as on the command line (kebab-case). */
export const RULE_SETTINGS: Record<RuleSettingTarget, Record<string, SettingSpec>> = {
  'refusal-burst': { threshold: { field: 'threshold', min: 1, max: 1_000_000, integer: true } },
  'rate-spike': {
    factor: { field: 'factor', min: 1, max: 10_000, integer: false, exclusiveMin: true },
    floor: { field: 'floor', min: 1, max: 10_000_000, integer: true },
    'min-windows': { field: 'minWindows', min: 1, max: 60, integer: true },
  },
  'client-fanout': { threshold: { field: 'threshold', min: 1, max: 1_000_000, integer: true } },
  'spend-velocity': {
    'life-fraction': { field: 'lifeFraction', min: 0, max: 1, integer: false, exclusiveMin: true },
    'min-spent-fraction': { field: 'minSpentFraction', min: 0, max: 1, integer: false },
  },
  throttle: {
    'rps-fraction': { field: 'rpsFraction', min: 0, max: 1, integer: false, exclusiveMin: true },
    seconds: { field: 'seconds', min: 1, max: 86_400, integer: true },
  },
};

const FIELD_OF: Record<RuleName, 'refusalBurst' | 'rateSpike' | 'clientFanout' | 'spendVelocity'> = {
  'refusal-burst': 'refusalBurst',
  'rate-spike': 'rateSpike',
  'client-fanout': 'clientFanout',
  'spend-velocity': 'spendVelocity',
};

/** A change asked for: on, off, back to the defaults, and settings by name (kebab-case). */
export interface RuleChange {
  state?: 'on' | 'off' | 'reset';
  settings?: Record<string, number>;
}

export function assertRuleTarget(value: string): RuleSettingTarget {
  if (Object.hasOwn(RULE_SETTINGS, value)) return value as RuleSettingTarget;
  throw new EggError('ERR_USAGE', `there is no anomaly rule ${JSON.stringify(value)}`, {
    hint: `name one of ${Object.keys(RULE_SETTINGS).join(', ')}; egg alerts rules lists them`,
  });
}

/** `threshold=50` and the like, as the command line gives them, checked against the rule's settings. */
export function parseSettings(target: RuleSettingTarget, pairs: readonly string[]): Record<string, number> {
  const specs = RULE_SETTINGS[target];
  const settings: Record<string, number> = {};
  for (const pair of pairs) {
    const cut = pair.indexOf('=');
    const name = cut < 0 ? pair : pair.slice(0, cut);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined)
      throw new EggError('ERR_USAGE', `${target} has no setting ${JSON.stringify(name)}`, {
        hint: `its settings: ${Object.keys(specs)
          .map((s) => `${s}=N`)
          .join(', ')}`,
      });
    const raw = cut < 0 ? '' : pair.slice(cut + 1);
    const value = Number(raw);
    const low = spec.exclusiveMin ? value <= spec.min : value < spec.min;
    if (
      raw.trim() === '' ||
      !Number.isFinite(value) ||
      low ||
      value > spec.max ||
      (spec.integer && !Number.isInteger(value))
    )
      throw new EggError('ERR_USAGE', `${target} ${name}=${raw} is not allowed`, {
        hint: `give ${spec.integer ? 'a whole number' : 'a number'} ${spec.exclusiveMin ? 'above' : 'from'} ${spec.min} up to ${spec.max}`,
      });
    settings[name] = value;
  }
  return settings;
}

/** The overrides after `change` to `target`; a rule back at every default is dropped. */
export function applyChange(
  overrides: RuleOverrides,
  target: RuleSettingTarget,
  change: RuleChange,
): RuleOverrides {
  if (change.state === 'off' && target === 'throttle')
    throw new EggError('ERR_USAGE', 'the throttle cannot be turned off', {
      hint: 'turn off the rules that set it with egg alerts rules set RULE --off, or shorten it: egg alerts rules set throttle seconds=60',
    });
  const next: RuleOverrides = { ...overrides };
  const current = next[target] ?? {};
  delete next[target];
  if (change.state === 'reset') return next;
  const off = change.state === 'off' || (change.state !== 'on' && current.off === true);
  const settings = { ...current.settings, ...change.settings };
  const entry = {
    ...(off ? { off: true as const } : {}),
    ...(Object.keys(settings).length > 0 ? { settings } : {}),
  };
  if (Object.keys(entry).length > 0) next[target] = entry;
  return next;
}

/** The rules a proxy runs in a namespace: `base` with the namespace's overrides applied. */
export function rulesWith(base: AnomalyRules, overrides: RuleOverrides): AnomalyRules {
  const rules: AnomalyRules = { ...base };
  for (const [target, override] of Object.entries(overrides)) {
    if (!Object.hasOwn(RULE_SETTINGS, target)) continue; // written by a newer egg: ignored
    const specs = RULE_SETTINGS[target as RuleSettingTarget];
    const set = (from: object) => {
      const merged: Record<string, number> = { ...(from as Record<string, number>) };
      for (const [name, value] of Object.entries(override.settings ?? {})) {
        const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
        if (spec !== undefined && Number.isFinite(value)) merged[spec.field] = value;
      }
      return merged;
    };
    if (target === 'throttle') {
      rules.throttle = set(base.throttle) as AnomalyRules['throttle'];
      continue;
    }
    const field = FIELD_OF[target as RuleName];
    const defaults = DEFAULT_RULES[field] as object;
    const from = base[field] === false ? defaults : (base[field] as object);
    (rules as unknown as Record<string, unknown>)[field] = override.off === true ? false : set(from);
  }
  return rules;
}

/** One row of `egg alerts rules`: a rule, whether it is on, and each setting with where it comes from. */
export interface RuleView {
  rule: RuleSettingTarget;
  on: boolean;
  settings: Record<string, { value: number; default: number }>;
}

/** What `egg alerts rules` shows for a namespace with `overrides`. */
export function viewRules(overrides: RuleOverrides): RuleView[] {
  // The values a rule runs with when on (an off rule keeps its settings for when it is on again).
  const values = rulesWith(
    DEFAULT_RULES,
    Object.fromEntries(Object.entries(overrides).map(([t, o]) => [t, { settings: o.settings ?? {} }])),
  );
  return (Object.keys(RULE_SETTINGS) as RuleSettingTarget[]).map((target) => {
    const field = target === 'throttle' ? 'throttle' : FIELD_OF[target];
    const own = values[field] as unknown as Record<string, number>;
    const defaults = DEFAULT_RULES[field] as unknown as Record<string, number>;
    return {
      rule: target,
      on: overrides[target]?.off !== true,
      settings: Object.fromEntries(
        Object.entries(RULE_SETTINGS[target]).map(([name, spec]) => [
          name,
          { value: own[spec.field]!, default: defaults[spec.field]! },
        ]),
      ),
    };
  });
}

export interface AnomalyRuleSettingsOptions {
  store: Pick<UsageStore, 'ruleOverrides' | 'putRuleOverrides'>;
  audit: Pick<SecretStore, 'appendAudit'>;
  actor: string;
  clock?: () => number;
}

/** A namespace's rule settings as the owner reads and changes them (`egg alerts rules`). */
export class AnomalyRuleSettings {
  readonly #o: AnomalyRuleSettingsOptions;

  constructor(options: AnomalyRuleSettingsOptions) {
    this.#o = options;
  }

  async list(namespace: string): Promise<RuleView[]> {
    return viewRules(await this.#o.store.ruleOverrides(namespace));
  }

  /**
   * Apply `change` to `target`; every proxy runs the new settings within `RULES_REFRESH_MS`.
   * Audited as `alert.rules.set`, the rule as target and the change as outcome.
   */
  async change(namespace: string, target: RuleSettingTarget, change: RuleChange): Promise<RuleView[]> {
    const next = applyChange(await this.#o.store.ruleOverrides(namespace), target, change);
    await this.#o.store.putRuleOverrides(namespace, next);
    const outcome = [
      ...(change.state === undefined ? [] : [change.state]),
      ...Object.entries(change.settings ?? {}).map(([k, v]) => `${k}=${v}`),
    ].join(' ');
    await this.#o.audit.appendAudit(namespace, (head) =>
      chainRecord(
        namespace,
        head,
        { action: 'alert.rules.set', targets: [target], actor: this.#o.actor, outcome: outcome || 'ok' },
        new Date((this.#o.clock ?? Date.now)()),
      ),
    );
    return viewRules(next);
  }
}
