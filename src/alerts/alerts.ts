/**
 * Alerts of a namespace (issue 10, docs/alerts.md): its webhook channels, and raising an
 * alert, which records it, appends it to the audit trail and queues one signed delivery per
 * channel. An alert carries the namespace, the token id, the rule, its figures and the time;
 * never a token, a key or a body.
 *
 * Raising never waits for a receiver (webhook.ts queues and retries); it is called off the
 * request path, once per anomaly (the throttle's conditional write decides which proxy).
 */
import { randomUUID } from 'node:crypto';
import { EggError, errorLabel } from '../errors.js';
import { wipe } from '../crypto/wipe.js';
import type { Keyring } from '../keyrings/keyring.js';
import { type Logger, nullLogger } from '../log.js';
import type { SecretStore } from '../stores/store.js';
import type { AlertRecord, ChannelKind, UsageStore } from '../tokens/usage-store.js';
import { chainRecord } from '../vault/audit.js';
import { isWebhookSecret, newWebhookSecret, openChannelSecret, sealChannelSecret } from './channel-secret.js';
import type { AlertBody } from './alert-body.js';
import { slackBody } from './slack.js';
import { assertEventBus, assertTopicArn, type AwsAlertPublisher, DEFAULT_EVENT_BUS } from './aws-channels.js';
import { type Attempt, assertWebhookUrl, type Delivery, type WebhookSender } from './webhook.js';

export type { AlertBody } from './alert-body.js';

/** What a webhook receives: the signed JSON body above, or Slack's incoming-webhook body (slack.ts). */
export type WebhookShape = 'json' | 'slack';

/** The body a webhook channel of `kind` posts for `alert`. */
function webhookBody(kind: ChannelKind, alert: AlertBody): string {
  return kind === 'slack' ? slackBody(alert) : JSON.stringify(alert);
}

/** A channel ready to deliver: a webhook with its secret, or an AWS target. */
type OpenedChannel =
  | { id: string; kind: ChannelKind; url: URL; secret: Buffer }
  | { id: string; kind: ChannelKind; target: string };

export interface AlertsOptions {
  store: Pick<
    UsageStore,
    'putAlertChannel' | 'removeAlertChannel' | 'alertChannels' | 'recordAlert' | 'alerts'
  >;
  keyring: Keyring;
  audit: Pick<SecretStore, 'appendAudit'>;
  actor: string;
  sender: WebhookSender;
  /** SNS and EventBridge, on the aws backend only (aws-channels.ts). */
  aws?: AwsAlertPublisher;
  clock?: () => number;
  logger?: Logger;
}

export class Alerts {
  readonly #o: AlertsOptions;
  readonly #clock: () => number;
  readonly #logger: Logger;

  constructor(options: AlertsOptions) {
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger ?? nullLogger;
  }

  /**
   * Add a webhook channel posting in `shape` (both signed); its secret is returned this once
   * (stored sealed only). `given` is a secret the caller made (`isWebhookSecret`), as the
   * api backend's client does so that the API never sends one back; it is sealed as given.
   */
  async addWebhook(
    namespace: string,
    url: string,
    shape: WebhookShape = 'json',
    given?: Buffer,
  ): Promise<{ id: string; kind: ChannelKind; url: string; secret: string }> {
    const parsed = assertWebhookUrl(url);
    if (given !== undefined && !isWebhookSecret(given.toString()))
      throw new EggError('ERR_USAGE', 'a webhook secret is "whsec_" and 43 base64url characters');
    const kind = shape === 'slack' ? 'slack' : 'webhook';
    const id = `wh_${randomUUID().slice(0, 8)}`;
    const secret = given === undefined ? newWebhookSecret() : Buffer.from(given);
    try {
      const sealed = await sealChannelSecret(this.#o.keyring, namespace, id, secret);
      await this.#put(namespace, id, kind, parsed.href, sealed);
      return { id, kind, url: parsed.href, secret: secret.toString() };
    } finally {
      wipe(secret);
    }
  }

  /** Add an SNS topic channel (aws backend): alerts are published to `arn` as JSON. */
  async addSnsTopic(namespace: string, arn: string): Promise<{ id: string; kind: ChannelKind; url: string }> {
    this.#requireAws('--sns-topic');
    const id = `sns_${randomUUID().slice(0, 8)}`;
    await this.#put(namespace, id, 'sns', assertTopicArn(arn), '');
    return { id, kind: 'sns', url: arn };
  }

  /** Add an EventBridge channel (aws backend): alerts are put on `bus` as `egg.carton` events. */
  async addEventBus(
    namespace: string,
    bus: string = DEFAULT_EVENT_BUS,
  ): Promise<{ id: string; kind: ChannelKind; url: string }> {
    this.#requireAws('--eventbridge');
    const id = `eb_${randomUUID().slice(0, 8)}`;
    await this.#put(namespace, id, 'eventbridge', assertEventBus(bus), '');
    return { id, kind: 'eventbridge', url: bus };
  }

  #requireAws(flag: string): void {
    if (this.#o.aws === undefined)
      throw new EggError('ERR_USAGE', `${flag} channels need the aws backend`, {
        hint: 'run with --backend aws (EGG_BACKEND=aws); on the local backend, use --webhook',
      });
  }

  async #put(namespace: string, id: string, kind: ChannelKind, url: string, sealed: string): Promise<void> {
    await this.#o.store.putAlertChannel({
      namespace,
      id,
      kind,
      url,
      sealed,
      createdAt: new Date(this.#clock()).toISOString(),
    });
    await this.#audit(namespace, 'alert.channel.add', [id], 'ok');
  }

  /**
   * Remove a channel and its sealed secret: alerts stop going to it at once (every proxy reads
   * the channels when it raises one). ERR_USAGE when the namespace has no such channel.
   */
  async removeChannel(namespace: string, id: string): Promise<{ id: string }> {
    if (!(await this.#o.store.removeAlertChannel(namespace, id)))
      throw new EggError('ERR_USAGE', `${namespace} has no alert channel ${id}`, {
        hint: 'egg alerts list shows the channels and their ids',
      });
    await this.#audit(namespace, 'alert.channel.rm', [id], 'ok');
    return { id };
  }

  /** The channels (never their secrets) and the newest alerts. */
  async list(namespace: string, limit = 20) {
    const channels = (await this.#o.store.alertChannels(namespace)).map((c) => ({
      id: c.id,
      kind: c.kind,
      url: c.url,
      createdAt: c.createdAt,
    }));
    return { channels, alerts: await this.#o.store.alerts(namespace, limit) };
  }

  /**
   * Raise an alert: kept, audited, and queued to every channel. Never throws (it runs in the
   * proxy's background): a failure is logged, and what could be done is done.
   */
  async raise(alert: Omit<AlertBody, 'type' | 'id' | 'time'>): Promise<AlertBody | undefined> {
    try {
      const body = await this.#keep(alert);
      // The sender owns each secret from here, and wipes it once its delivery is done.
      for (const c of await this.#channels(alert.namespace)) {
        if ('secret' in c) this.#o.sender.send(c.url, c.secret, webhookBody(c.kind, body), c.id);
        else this.#o.sender.queue(c.id, this.#awsAttempt(c, body));
      }
      return body;
    } catch (error) {
      this.#logger.warn('alert.failed', {
        namespace: alert.namespace,
        rule: alert.rule,
        error: errorLabel(error),
      });
      return undefined;
    }
  }

  /** Send a test alert to every channel and wait for each delivery's outcome. */
  async test(
    namespace: string,
  ): Promise<{ channel: string; kind: ChannelKind; url: string; delivery: Delivery }[]> {
    const body = await this.#keep({ namespace, tokenId: '-', rule: 'test', figures: {}, test: true });
    const channels = await this.#channels(namespace);
    return Promise.all(
      channels.map(async (c) => {
        if (!('secret' in c))
          return {
            channel: c.id,
            kind: c.kind,
            url: c.target,
            delivery: await this.#o.sender.retrying(c.id, this.#awsAttempt(c, body)),
          };
        try {
          return {
            channel: c.id,
            kind: c.kind,
            url: c.url.href,
            delivery: await this.#o.sender.deliver(c.url, c.secret, webhookBody(c.kind, body), c.id),
          };
        } finally {
          wipe(c.secret);
        }
      }),
    );
  }

  /** One attempt of an AWS channel's delivery (#channels opens them only with a publisher). */
  #awsAttempt(c: { kind: ChannelKind; target: string }, body: AlertBody): () => Promise<Attempt> {
    const aws = this.#o.aws!;
    return c.kind === 'sns' ? () => aws.publish(c.target, body) : () => aws.putEvent(c.target, body);
  }

  async #keep(alert: Omit<AlertBody, 'type' | 'id' | 'time'>): Promise<AlertBody> {
    const body: AlertBody = {
      type: 'egg.alert',
      id: randomUUID(),
      time: new Date(this.#clock()).toISOString(),
      ...alert,
    };
    const record: AlertRecord = {
      namespace: body.namespace,
      id: body.id,
      tokenId: body.tokenId,
      rule: body.rule,
      figures: body.figures,
      time: body.time,
    };
    await this.#o.store.recordAlert(record);
    await this.#audit(body.namespace, body.test ? 'alert.test' : 'alert.raise', [body.tokenId], body.rule);
    return body;
  }

  /** The channels, webhooks' secrets opened (each wiped by the caller once used). */
  async #channels(namespace: string): Promise<OpenedChannel[]> {
    const records = await this.#o.store.alertChannels(namespace);
    const opened: OpenedChannel[] = [];
    for (const c of records) {
      try {
        if (c.kind === 'sns' || c.kind === 'eventbridge') {
          if (this.#o.aws === undefined)
            throw new EggError('ERR_USAGE', `${c.kind} channels need the aws backend`);
          opened.push({ id: c.id, kind: c.kind, target: c.url });
          continue;
        }
        opened.push({
          id: c.id,
          kind: c.kind,
          url: assertWebhookUrl(c.url),
          secret: await openChannelSecret(this.#o.keyring, namespace, c.id, c.sealed),
        });
      } catch (error) {
        this.#logger.warn('alert.channel.unusable', { namespace, channel: c.id, error: errorLabel(error) });
      }
    }
    return opened;
  }

  async #audit(namespace: string, action: string, targets: string[], outcome: string): Promise<void> {
    await this.#o.audit.appendAudit(namespace, (head) =>
      chainRecord(
        namespace,
        head,
        { action, targets, actor: this.#o.actor, outcome },
        new Date(this.#clock()),
      ),
    );
  }
}
