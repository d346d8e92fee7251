import { EggError } from '../../../src/errors.js';
import { EggCommand } from '../../base.js';

export default class AlertsTest extends EggCommand {
  static override summary =
    'Send a test alert to every channel of the namespace and say whether each took it.';
  static override examples = ['<%= config.bin %> alerts test'];
  static override enableJsonFlag = true;

  async run() {
    const { flags } = await this.parse(AlertsTest);
    const config = this.eggConfig(flags);
    return this.withSession(config, async (session) => {
      const results = await (await session.alerts()).test();
      if (results.length === 0)
        throw new EggError('ERR_USAGE', `${config.namespace} has no alert channel to test`, {
          hint: 'add one with `egg alerts add --webhook URL`',
        });
      for (const r of results)
        this.log(
          `${r.channel} ${r.url}: ${r.delivery.ok ? 'delivered' : 'NOT delivered'} (${r.delivery.attempts} attempt${r.delivery.attempts === 1 ? '' : 's'}, last ${r.delivery.last})`,
        );
      if (results.some((r) => !r.delivery.ok)) process.exitCode = 1;
      return { namespace: config.namespace, results };
    });
  }
}
