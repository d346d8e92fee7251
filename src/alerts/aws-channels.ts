/**
 * Alert channels on AWS (issue 10, docs/alerts.md): an SNS topic (`egg alerts add --sns-topic
 * ARN`) and EventBridge events (`--eventbridge [--event-bus NAME]`), from which e-mail, Slack
 * (AWS Chatbot), PagerDuty and the rest follow through AWS's own subscriptions and rules.
 *
 * The body is the alert's JSON as a webhook gets it, unsigned: AWS authenticates the
 * publisher (the proxy's role needs sns:Publish on the topic, events:PutEvents on the bus;
 * infra/alerting.ts grants them). Deliveries go through the webhook sender's queue, with its
 * bound, retries and backoff, off the request path. The SDK clients (and their packages) load
 * when the first alert goes to such a channel, never on the local path or at start-up.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { AwsClientOptions } from '../aws/clients.js';
import { awsErrorName } from '../aws/errors.js';
import { EggError } from '../errors.js';
import type { ChannelKind } from '../tokens/usage-store.js';
import type { AlertBody } from './alert-body.js';
import type { Attempt } from './webhook.js';

/** The event's `source` and `detail-type`, for EventBridge rules to match. */
export const EVENT_SOURCE = 'egg.carton';
export const EVENT_DETAIL_TYPE = 'Egg Carton alert';
/** The account's default bus, when `--event-bus` is not given. */
export const DEFAULT_EVENT_BUS = 'default';

const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/;
const EVENT_BUS = /^(arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/)?[A-Za-z0-9._/-]{1,256}$/;

/** The topic ARN as a channel may use it, or ERR_USAGE. */
export function assertTopicArn(arn: string): string {
  if (!TOPIC_ARN.test(arn) || arn.endsWith('.fifo'))
    throw new EggError('ERR_USAGE', `${JSON.stringify(arn)} is not the ARN of a standard SNS topic`, {
      hint: 'give arn:aws:sns:<region>:<account>:<topic> (FIFO topics are not supported)',
    });
  return arn;
}

/** The event bus name or ARN as a channel may use it, or ERR_USAGE. */
export function assertEventBus(bus: string): string {
  if (!EVENT_BUS.test(bus))
    throw new EggError('ERR_USAGE', `${JSON.stringify(bus)} is not an EventBridge bus name or ARN`, {
      hint: 'give a bus name (default, egg-alerts) or its ARN',
    });
  return bus;
}

/**
 * Errors that another attempt will not fix: the request or the permission is wrong, or the
 * target does not exist. Anything else (throttling, 5xx, the network) is tried again.
 */
const FINAL = new Set([
  'AuthorizationErrorException',
  'AccessDeniedException',
  'AccessDenied',
  'NotFoundException',
  'ResourceNotFoundException',
  'InvalidParameterException',
  'InvalidParameterValueException',
  'ValidationException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSNotFoundException',
]);

function attemptFailed(error: unknown): Attempt {
  const name = awsErrorName(error);
  return { ok: false, retry: !FINAL.has(name), last: name };
}

/** The errors that mean the caller's identity may not publish (SNS) or put events (EventBridge). */
const DENIED = new Set(['AuthorizationErrorException', 'AccessDeniedException', 'AccessDenied']);

/**
 * Why a test alert to an AWS channel was refused, when it was for want of permission: the
 * stack grants sns:Publish on its alerts topic and events:PutEvents on the default bus only to
 * the proxy's task role (infra/alerting.ts), which raises the real alerts, so `egg alerts test`
 * run as anyone else is denied unless their role has the same right. Undefined for any other
 * outcome, which the delivery line reports as it is.
 */
export function testAlertDenied(
  kind: ChannelKind,
  target: string,
  delivery: { ok: boolean; last: string },
): EggError | undefined {
  if (delivery.ok || !DENIED.has(delivery.last)) return undefined;
  if (kind === 'sns')
    return new EggError('ERR_ACCESS_DENIED', `access denied: sns:Publish on ${target}`, {
      hint: "the stack lets only the proxy's task role publish to its alerts topic (the role that sends real alerts); run `egg alerts test` with a role that has sns:Publish on this topic, or trigger a rule through the proxy (check your role with `egg whoami`)",
    });
  if (kind === 'eventbridge')
    return new EggError('ERR_ACCESS_DENIED', `access denied: events:PutEvents on the event bus ${target}`, {
      hint: "the stack lets only the proxy's task role put events on the default bus (the role that sends real alerts); run `egg alerts test` with a role that has events:PutEvents on this bus, or trigger a rule through the proxy (check your role with `egg whoami`)",
    });
  return undefined;
}

export interface AwsAlertPublisherOptions {
  /** The identity's client options (region, credentials), as the backend's other clients. */
  clientOptions: AwsClientOptions;
}

/** Publishes alerts to SNS topics and EventBridge buses, one attempt per call. */
export class AwsAlertPublisher {
  readonly #clientOptions: AwsClientOptions;
  #sns: Promise<SNSClient> | undefined;
  #events: Promise<EventBridgeClient> | undefined;

  constructor(options: AwsAlertPublisherOptions) {
    this.#clientOptions = options.clientOptions;
  }

  /** One attempt to publish `alert` to the topic: its JSON, with attributes to filter on. */
  async publish(topicArn: string, alert: AlertBody): Promise<Attempt> {
    try {
      const [client, { PublishCommand }] = await Promise.all([
        (this.#sns ??= import('../aws/clients.js').then((c) => c.createSnsClient(this.#clientOptions))),
        import('@aws-sdk/client-sns'),
      ]);
      const out = await client.send(
        new PublishCommand({
          TopicArn: topicArn,
          // E-mail subscribers see the subject; names only, and within SNS's 100 characters.
          Subject: (alert.test === true ? 'Egg Carton test alert' : `Egg Carton alert: ${alert.rule}`).slice(
            0,
            100,
          ),
          Message: JSON.stringify(alert),
          MessageAttributes: {
            namespace: { DataType: 'String', StringValue: alert.namespace },
            rule: { DataType: 'String', StringValue: alert.rule },
          },
        }),
        { abortSignal: AbortSignal.timeout(5000) },
      );
      return { ok: true, retry: false, last: `published ${out.MessageId ?? ''}`.trim() };
    } catch (error) {
      return attemptFailed(error);
    }
  }

  /** One attempt to put `alert` on the bus as an event (`source` egg.carton). */
  async putEvent(bus: string, alert: AlertBody): Promise<Attempt> {
    try {
      const [client, { PutEventsCommand }] = await Promise.all([
        (this.#events ??= import('../aws/clients.js').then((c) =>
          c.createEventBridgeClient(this.#clientOptions),
        )),
        import('@aws-sdk/client-eventbridge'),
      ]);
      const out = await client.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: bus,
              Source: EVENT_SOURCE,
              DetailType: EVENT_DETAIL_TYPE,
              Time: new Date(alert.time),
              Detail: JSON.stringify(alert),
            },
          ],
        }),
        { abortSignal: AbortSignal.timeout(5000) },
      );
      const entry = out.Entries?.[0];
      if ((out.FailedEntryCount ?? 0) > 0 || entry?.ErrorCode !== undefined) {
        const code = entry?.ErrorCode ?? 'FailedEntry';
        // PutEvents answers 200 with a failed entry: throttling and internal failures may pass later.
        return { ok: false, retry: /Throttl|InternalFailure/.test(code), last: code };
      }
      return { ok: true, retry: false, last: `put ${entry?.EventId ?? ''}`.trim() };
    } catch (error) {
      return attemptFailed(error);
    }
  }

  /** Destroy the clients built (their sockets). */
  async close(): Promise<void> {
    for (const client of [this.#sns, this.#events]) (await client?.catch(() => undefined))?.destroy();
  }
}
