import { Args, Flags } from '@oclif/core';
import { assertRuleTarget, parseSettings, RULE_SETTINGS } from '../../../../src/proxy/rule-settings.js';
import { EggError } from '../../../../src/errors.js';
import { EggCommand } from '../../../base.js';
import { rulesTable } from './index.js';

export default class AlertsRulesSet extends EggCommand {
  static override summary = 'Tune an anomaly rule for the namespace, or turn it off or on.';
  static override description = `Settings are NAME=VALUE: ${Object.entries(RULE_SETTINGS)
    .map(([rule, s]) => `${rule} ${Object.keys(s).join(', ')}`)
    .join(
      '; ',
    )}. \`throttle\` is what a firing rule does (the token's rate becomes rps-fraction of its own, for seconds); it cannot be turned off. Every proxy runs the new settings within 5 s; the change is in the audit trail. See docs/alerts.md.`;
  static override examples = [
    '<%= config.bin %> alerts rules set refusal-burst threshold=50',
    '<%= config.bin %> alerts rules set rate-spike factor=20 floor=120',
    '<%= config.bin %> alerts rules set spend-velocity --off',
    '<%= config.bin %> alerts rules set throttle seconds=300',
    '<%= config.bin %> alerts rules set rate-spike --reset',
  ];
  static override strict = false;
  static override enableJsonFlag = true;
  static override args = {
    rule: Args.string({
      description: `The rule: ${Object.keys(RULE_SETTINGS).join(', ')}.`,
      required: true,
    }),
    settings: Args.string({ description: 'NAME=VALUE settings of the rule.' }),
  };
  static override flags = {
    off: Flags.boolean({ summary: 'Turn the rule off (its settings are kept).', exclusive: ['on', 'reset'] }),
    on: Flags.boolean({ summary: 'Turn the rule back on.', exclusive: ['off', 'reset'] }),
    reset: Flags.boolean({
      summary: 'Back to the defaults: on, default settings.',
      exclusive: ['off', 'on'],
    }),
  };

  async run() {
    const { argv, flags } = await this.parse(AlertsRulesSet);
    const [rule = '', ...pairs] = argv as string[];
    const target = assertRuleTarget(rule);
    const settings = parseSettings(target, pairs);
    const state = flags.off ? 'off' : flags.on ? 'on' : flags.reset ? 'reset' : undefined;
    if (state === undefined && pairs.length === 0)
      throw new EggError('ERR_USAGE', `say what to change in ${target}`, {
        hint: 'give NAME=VALUE settings, --off, --on or --reset; egg alerts rules set --help lists the settings',
      });
    if (state === 'reset' && pairs.length > 0)
      throw new EggError(
        'ERR_USAGE',
        '--reset puts every setting back to its default, so it takes no NAME=VALUE',
        {
          hint: `run egg alerts rules set ${target} --reset first, then set what you want`,
        },
      );
    const config = this.eggConfig(flags);
    return this.withSession(config, async (session) => {
      const rules = await (
        await session.ruleSettings()
      ).change(target, { ...(state === undefined ? {} : { state }), settings });
      this.log(rulesTable(rules));
      return { namespace: config.namespace, rules };
    });
  }
}
