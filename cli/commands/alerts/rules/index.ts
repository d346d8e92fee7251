import type { RuleSettingsView } from '../../../../src/backends/vault-port.js';
import { EggCommand } from '../../../base.js';
import { table } from '../../secrets/list.js';

export default class AlertsRules extends EggCommand {
  static override summary = "Show the namespace's anomaly rules: on or off, and each setting.";
  static override description =
    'A setting changed in this namespace is marked with * (the default follows in brackets). Change them with `egg alerts rules set`. See docs/alerts.md.';
  static override examples = ['<%= config.bin %> alerts rules', '<%= config.bin %> alerts rules --json'];
  static override enableJsonFlag = true;

  async run() {
    const { flags } = await this.parse(AlertsRules);
    const config = this.eggConfig(flags);
    return this.withSession(config, async (session) => {
      const rules = await (await session.ruleSettings()).list();
      this.log(rulesTable(rules));
      return { namespace: config.namespace, rules };
    });
  }
}

/** One line a rule: its name, on/off, and `name=value` settings (`*` and the default when changed). */
export function rulesTable(rules: RuleSettingsView[]): string {
  return table(
    ['RULE', 'STATE', 'SETTINGS'],
    rules.map((r) => [
      r.rule,
      r.rule === 'throttle' ? '-' : r.on ? 'on' : 'off',
      Object.entries(r.settings)
        .map(([name, s]) =>
          s.value === s.default ? `${name}=${s.value}` : `${name}=${s.value}* (${s.default})`,
        )
        .join(' '),
    ]),
  );
}
