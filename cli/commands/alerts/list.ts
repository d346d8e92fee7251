import { Flags } from '@oclif/core';
import { EggCommand } from '../../base.js';
import { table } from '../secrets/list.js';

export default class AlertsList extends EggCommand {
  static override summary =
    "List the namespace's alert channels (never their secrets) and its recent alerts.";
  static override examples = [
    '<%= config.bin %> alerts list',
    '<%= config.bin %> alerts list --limit 50 --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    limit: Flags.integer({ summary: 'How many recent alerts.', default: 20, min: 1, max: 1000 }),
  };

  async run() {
    const { flags } = await this.parse(AlertsList);
    const config = this.eggConfig(flags);
    return this.withSession(config, async (session) => {
      const { channels, alerts } = await (await session.alerts()).list(flags.limit);
      if (channels.length === 0)
        this.log(`No alert channels in ${config.namespace}. Add one with \`egg alerts add --webhook URL\`.`);
      else
        this.log(
          table(
            ['CHANNEL', 'KIND', 'TO', 'ADDED'],
            channels.map((c) => [c.id, c.kind, c.url, c.createdAt]),
          ),
        );
      this.log('');
      if (alerts.length === 0) this.log('No alerts yet.');
      else
        this.log(
          table(
            ['TIME', 'TOKEN', 'RULE', 'FIGURES'],
            alerts.map((a) => [
              a.time,
              a.tokenId,
              a.rule,
              Object.entries(a.figures)
                .map(([k, v]) => `${k}=${v}`)
                .join(' '),
            ]),
          ),
        );
      return { namespace: config.namespace, channels, alerts };
    });
  }
}
