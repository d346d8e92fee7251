import { Args } from '@oclif/core';
import { EggCommand } from '../../base.js';

export default class AlertsRm extends EggCommand {
  static override summary = 'Remove an alert channel; its sealed secret goes with it.';
  static override description =
    'Alerts stop going to the channel at once: every proxy reads the channels when it raises an alert. The removal is in the audit trail. See docs/alerts.md.';
  static override examples = ['<%= config.bin %> alerts rm wh_3f9a0c12'];
  static override enableJsonFlag = true;
  static override args = {
    id: Args.string({ description: 'The channel id (see `egg alerts list`).', required: true }),
  };

  async run() {
    const { args, flags } = await this.parse(AlertsRm);
    const config = this.eggConfig(flags);
    return this.withSession(config, async (session) => {
      await (await session.alerts()).removeChannel(args.id);
      this.log(`Removed alert channel ${args.id} from ${config.namespace}.`);
      return { namespace: config.namespace, removed: args.id };
    });
  }
}
