import { Flags } from '@oclif/core';
import type { WebhookShape } from '../../../src/alerts/alerts.js';
import { alertsOn } from '../../../src/backends/open-backend.js';
import { EggCommand } from '../../base.js';

export default class AlertsAdd extends EggCommand {
  static override summary = "Send the namespace's alerts to a webhook, signed with HMAC-SHA256.";
  static override description =
    'Every proxy posts each alert (a token throttled by an anomaly rule) to the URL as JSON, with an Egg-Signature header: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, keyed with the secret printed here once (it is stored sealed and never shown again). With --shape slack the body is what Slack incoming webhooks take (text and blocks), still signed. The URL must be https (plain http only to a loopback address); redirects are never followed. See docs/alerts.md.';
  static override examples = [
    '<%= config.bin %> alerts add --webhook https://hooks.example.com/egg',
    '<%= config.bin %> alerts add --webhook https://hooks.slack.com/services/T000/B000/XXXX --shape slack',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    webhook: Flags.string({ summary: 'The https:// URL to post alerts to.', required: true }),
    shape: Flags.string({
      summary: "The body: egg's signed JSON, or a Slack incoming webhook's text and blocks.",
      options: ['json', 'slack'],
      default: 'json',
    }),
  };

  async run() {
    const { flags } = await this.parse(AlertsAdd);
    const config = this.eggConfig(flags);
    return this.withBackend(config, async (backend) => {
      const channel = await (
        await alertsOn(backend, this.logger)
      ).addWebhook(config.namespace, flags.webhook, flags.shape as WebhookShape);
      this.log(channel.secret);
      process.stderr.write(
        `Webhook ${channel.id} added for ${config.namespace}: verify the Egg-Signature header with the secret above (shown once).\n`,
      );
      return { namespace: config.namespace, ...channel };
    });
  }
}
