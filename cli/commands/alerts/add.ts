import { Flags } from '@oclif/core';
import type { WebhookShape } from '../../../src/alerts/alerts.js';
import { EggCommand } from '../../base.js';

export default class AlertsAdd extends EggCommand {
  static override summary =
    "Send the namespace's alerts to a webhook (signed with HMAC-SHA256), an SNS topic or EventBridge.";
  static override description =
    'Every proxy posts each alert (a token throttled by an anomaly rule) to the URL as JSON, with an Egg-Signature header: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, keyed with the secret printed here once (it is stored sealed and never shown again). With --shape slack the body is what Slack incoming webhooks take (text and blocks), still signed. The URL must be https (plain http only to a loopback address); redirects are never followed. With --backend api the secret is made here and sent once to the API, which never sends it back, and the API posts the alerts. On --backend aws, --sns-topic publishes each alert to a topic and --eventbridge puts it on an event bus (source egg.carton), so e-mail, Slack and PagerDuty follow from their subscriptions and rules. See docs/alerts.md.';
  static override examples = [
    '<%= config.bin %> alerts add --webhook https://hooks.example.com/egg',
    '<%= config.bin %> alerts add --webhook https://hooks.slack.com/services/T000/B000/XXXX --shape slack',
    '<%= config.bin %> alerts add --sns-topic arn:aws:sns:eu-west-1:123456789012:egg-alerts --backend aws',
    '<%= config.bin %> alerts add --eventbridge --event-bus egg-alerts --backend aws',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    webhook: Flags.string({
      summary: 'The https:// URL to post alerts to.',
      exactlyOne: ['webhook', 'sns-topic', 'eventbridge'],
    }),
    shape: Flags.string({
      summary: "With --webhook, the body: egg's signed JSON, or a Slack incoming webhook's text and blocks.",
      options: ['json', 'slack'],
      default: 'json',
    }),
    'sns-topic': Flags.string({ summary: 'The ARN of an SNS topic to publish alerts to (aws backend).' }),
    eventbridge: Flags.boolean({ summary: 'Put alerts on an EventBridge bus as events (aws backend).' }),
    'event-bus': Flags.string({
      summary: 'With --eventbridge, the bus name or ARN (default: the default bus).',
      dependsOn: ['eventbridge'],
    }),
  };

  async run() {
    const { flags } = await this.parse(AlertsAdd);
    const config = this.eggConfig(flags);
    return this.withSession(config, async (session) => {
      const alerts = await session.alerts();
      if (flags.webhook === undefined) {
        const channel =
          flags['sns-topic'] === undefined
            ? await alerts.addEventBus(flags['event-bus'])
            : await alerts.addSnsTopic(flags['sns-topic']);
        this.log(
          `Alert channel ${channel.id} added for ${config.namespace}: ${channel.kind} ${channel.url}.`,
        );
        return { namespace: config.namespace, ...channel };
      }
      const channel = await alerts.addWebhook(flags.webhook, flags.shape as WebhookShape);
      this.log(channel.secret);
      process.stderr.write(
        `Webhook ${channel.id} added for ${config.namespace}: verify the Egg-Signature header with the secret above (shown once).\n`,
      );
      return { namespace: config.namespace, ...channel };
    });
  }
}
