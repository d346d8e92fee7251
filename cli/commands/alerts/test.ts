import { testAlertDenied } from '../../../src/alerts/aws-channels.js';
import { EggError } from '../../../src/errors.js';
import { EggCommand } from '../../base.js';

export default class AlertsTest extends EggCommand {
  static override summary =
    'Send a test alert to every channel of the namespace and say whether each took it.';
  static override description =
    "Each channel is tried up to three times; the command exits 1 if any did not take it. On aws, SNS and EventBridge channels are sent with your own credentials: the stack grants sns:Publish and events:PutEvents only to the proxy's task role, so a role without them gets ERR_ACCESS_DENIED naming the permission and the target.";
  static override examples = [
    '<%= config.bin %> alerts test',
    '<%= config.bin %> alerts test --backend aws --json',
  ];
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
      // A denial is the caller's role, not the channel: say which permission, and who has it.
      const denied = results
        .map((r) => testAlertDenied(r.kind, r.url, r.delivery))
        .find((e) => e !== undefined);
      if (denied !== undefined) throw denied;
      if (results.some((r) => !r.delivery.ok)) process.exitCode = 1;
      return { namespace: config.namespace, results };
    });
  }
}
