/**
 * Where the proxy's alerts go on AWS (issue 10, docs/alerts.md): an SNS topic and the
 * account's default EventBridge bus. The proxy's task role may publish to this topic and put
 * events on that bus, nothing more; which namespace alerts where is data (`egg alerts add
 * --sns-topic <AlertsTopicArn>` or `--eventbridge`), not infrastructure. E-mail, Slack (AWS
 * Chatbot), PagerDuty and the rest subscribe to the topic, or match `source: egg.carton` on
 * the bus, with AWS's own integrations.
 *
 * The topic is encrypted at rest with the AWS managed SNS key (its key policy lets any
 * principal of the account that may publish use it through SNS, and lets AWS Chatbot and
 * e-mail subscriptions read) and refuses publishes not over TLS. Alerts carry names, ids
 * and figures only (never a token, a key or a body), so no customer managed key is needed.
 */
import { Aws, CfnOutput } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/** The event source and bus the proxy puts alerts on (src/alerts/aws-channels.ts). */
export const ALERT_EVENT_BUS = 'default';

export interface AlertingProps {
  /** Who publishes alerts: the proxy's task role. */
  publisher: iam.IRole;
}

export class Alerting extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: AlertingProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Egg Carton alerts',
      masterKey: kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
      enforceSSL: true,
    });
    this.topic.grantPublish(props.publisher);
    props.publisher.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'AlertEvents',
        actions: ['events:PutEvents'],
        resources: [
          `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:event-bus/${ALERT_EVENT_BUS}`,
        ],
      }),
    );
    new CfnOutput(this, 'TopicArn', {
      value: this.topic.topicArn,
      description: 'egg alerts add --sns-topic: subscribe e-mail, AWS Chatbot (Slack) or PagerDuty to it',
    });
  }
}
