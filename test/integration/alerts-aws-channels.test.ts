/**
 * Alerts to an SNS topic and an EventBridge bus (issue 10, item 4) on moto, through the real
 * SDK clients: a topic with a loopback HTTP subscriber (moto posts each notification to it),
 * and a bus with a rule whose target is an SQS queue, read back. Alerts go through `Alerts`
 * as the proxy raises them (queued, retried) and as `egg alerts test` sends them; a channel
 * whose topic does not exist is given up without retries, and the local backend refuses them.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateEventBusCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Alerts } from '../../src/alerts/alerts.js';
import {
  AwsAlertPublisher,
  EVENT_DETAIL_TYPE,
  EVENT_SOURCE,
  testAlertDenied,
} from '../../src/alerts/aws-channels.js';
import { WebhookSender } from '../../src/alerts/webhook.js';
import { CallCounter, createEventBridgeClient, createSnsClient } from '../../src/aws/clients.js';
import { LocalKeyring } from '../../src/keyrings/local.js';
import type { AlertChannelRecord, AlertRecord } from '../../src/tokens/usage-store.js';
import { useTestAws } from '../support/aws.js';
import { startFakeAws } from '../support/fake-aws.js';

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

/** moto's SQS through its JSON protocol (no SQS client in the project: the test only reads). */
async function sqs<T>(moto: string, action: string, body: object): Promise<T> {
  const res = await fetch(moto, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `AmazonSQS.${action}`,
      authorization: `AWS4-HMAC-SHA256 Credential=test/20260101/${REGION}/sqs/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`SQS ${action}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** An in-memory channel and alert store: this suite is about delivery, not storage. */
function memoryStore() {
  const channels: AlertChannelRecord[] = [];
  const alerts: AlertRecord[] = [];
  return {
    putAlertChannel: async (c: AlertChannelRecord) => void channels.push(c),
    removeAlertChannel: async () => false,
    alertChannels: async (ns: string) => channels.filter((c) => c.namespace === ns),
    recordAlert: async (a: AlertRecord) => void alerts.push(a),
    alerts: async () => alerts,
  };
}

describe('alerts to SNS and EventBridge (moto)', () => {
  let moto: string;
  let receiver: http.Server;
  const notifications: Record<string, unknown>[] = [];
  let publisher: AwsAlertPublisher;
  const counter = new CallCounter();
  let alerts: Alerts;
  let sender: WebhookSender;
  let topicArn: string;
  let bus: string;
  let queueUrl: string;

  beforeAll(async () => {
    moto = useTestAws().moto;
    Object.assign(process.env, { AWS_ENDPOINT_URL_SNS: moto, AWS_ENDPOINT_URL_EVENTBRIDGE: moto });
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        notifications.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const suffix = randomBytes(4).toString('hex');
    const sns = await createSnsClient();
    const events = await createEventBridgeClient();
    try {
      topicArn = (await sns.send(new CreateTopicCommand({ Name: `egg-alerts-${suffix}` }))).TopicArn!;
      await sns.send(
        new SubscribeCommand({
          TopicArn: topicArn,
          Protocol: 'http',
          Endpoint: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/sns`,
        }),
      );
      bus = `egg-alerts-${suffix}`;
      await events.send(new CreateEventBusCommand({ Name: bus }));
      const { QueueUrl } = await sqs<{ QueueUrl: string }>(moto, 'CreateQueue', {
        QueueName: `egg-alerts-${suffix}`,
      });
      queueUrl = QueueUrl;
      await events.send(
        new PutRuleCommand({
          Name: 'egg-alerts',
          EventBusName: bus,
          EventPattern: JSON.stringify({ source: [EVENT_SOURCE], 'detail-type': [EVENT_DETAIL_TYPE] }),
        }),
      );
      await events.send(
        new PutTargetsCommand({
          Rule: 'egg-alerts',
          EventBusName: bus,
          Targets: [{ Id: 'queue', Arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:egg-alerts-${suffix}` }],
        }),
      );
    } finally {
      sns.destroy();
      events.destroy();
    }
    publisher = new AwsAlertPublisher({ clientOptions: { onCall: counter.onCall } });
    sender = new WebhookSender({ backoffMs: 10, attempts: 3 });
    alerts = new Alerts({
      store: memoryStore(),
      keyring: new LocalKeyring(randomBytes(32)),
      audit: { appendAudit: async () => ({}) as never },
      actor: 'proxy',
      sender,
      aws: publisher,
    });
  });
  afterAll(async () => {
    await publisher?.close();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it('publishes a raised alert to the topic: its JSON and a subject naming the rule', async () => {
    const ns = 'acme/sns';
    const added = await alerts.addSnsTopic(ns, topicArn);
    expect(added).toMatchObject({ kind: 'sns', url: topicArn, id: expect.stringMatching(/^sns_/) });
    const raised = await alerts.raise({
      namespace: ns,
      tokenId: 'a'.repeat(22),
      rule: 'refusal-burst',
      figures: { invalidToken: 12, threshold: 20 },
    });
    await sender.idle();
    expect(notifications).toHaveLength(1);
    expect(notifications[0]).toMatchObject({
      Type: 'Notification',
      TopicArn: topicArn,
      Subject: 'Egg Carton alert: refusal-burst',
    });
    expect(JSON.parse(notifications[0]!.Message as string)).toEqual(raised);
    expect(counter.count('sns.Publish')).toBe(1);
    expect(await alerts.test(ns)).toEqual([
      {
        channel: added.id,
        kind: 'sns',
        url: topicArn,
        delivery: { ok: true, attempts: 1, last: expect.stringMatching(/^published /) },
      },
    ]);
    expect(JSON.parse(notifications[1]!.Message as string)).toMatchObject({ rule: 'test', test: true });
  });

  it('puts a raised alert on the bus as an egg.carton event that a rule routes to a queue', async () => {
    const ns = 'acme/events';
    const added = await alerts.addEventBus(ns, bus);
    const raised = await alerts.raise({
      namespace: ns,
      tokenId: 'b'.repeat(22),
      rule: 'rate-spike',
      figures: { requests: 600 },
      throttle: { rps: 1, until: '2026-12-03T11:17:07.000Z' },
    });
    await sender.idle();
    const { Messages } = await sqs<{ Messages?: { Body: string }[] }>(moto, 'ReceiveMessage', {
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
    });
    expect(Messages).toHaveLength(1);
    const event = JSON.parse(Messages![0]!.Body) as Record<string, unknown>;
    expect(event).toMatchObject({ source: EVENT_SOURCE, 'detail-type': EVENT_DETAIL_TYPE, detail: raised });
    expect(counter.count('events.PutEvents')).toBe(1);
    expect((await alerts.test(ns))[0]).toMatchObject({ channel: added.id, url: bus, delivery: { ok: true } });
  });

  it('gives up at once on a topic that does not exist, and refuses what is not a topic ARN', async () => {
    const ns = 'acme/missing';
    await alerts.addSnsTopic(ns, `arn:aws:sns:${REGION}:${ACCOUNT}:egg-no-such-topic`);
    const [result] = await alerts.test(ns);
    expect(result!.delivery).toEqual({ ok: false, attempts: 1, last: 'NotFoundException' });
    await expect(alerts.addSnsTopic(ns, 'https://sns.example.com/topic')).rejects.toMatchObject({
      code: 'ERR_USAGE',
    });
    await expect(alerts.addEventBus(ns, 'no spaces allowed')).rejects.toMatchObject({ code: 'ERR_USAGE' });
  });

  it('says which permission a denied test needs, and that only the proxy’s task role has it, after one attempt', async () => {
    // EventBridge as a role without events:PutEvents sees it (moto grants everything).
    const fake = await startFakeAws(() => ({ error: 'AccessDeniedException', message: 'not authorized' }));
    const denied = new AwsAlertPublisher({ clientOptions: { endpoint: fake.endpoint } });
    try {
      const caller = new Alerts({
        store: memoryStore(),
        keyring: new LocalKeyring(randomBytes(32)),
        audit: { appendAudit: async () => ({}) as never },
        actor: 'user:alice',
        sender,
        aws: denied,
      });
      await caller.addEventBus('acme/denied');
      const [result] = await caller.test('acme/denied');
      expect(result).toMatchObject({
        kind: 'eventbridge',
        url: 'default',
        delivery: { ok: false, attempts: 1, last: 'AccessDeniedException' },
      });
      expect(fake.requests.map((r) => r.operation)).toEqual(['PutEvents']);
      const error = testAlertDenied(result!.kind, result!.url, result!.delivery);
      expect(error).toMatchObject({
        code: 'ERR_ACCESS_DENIED',
        message: 'access denied: events:PutEvents on the event bus default',
      });
      expect(error?.hint).toContain("only the proxy's task role");
    } finally {
      await denied.close();
      await fake.close();
    }
  });

  it('refuses SNS and EventBridge channels without the aws backend', async () => {
    const local = new Alerts({
      store: memoryStore(),
      keyring: new LocalKeyring(randomBytes(32)),
      audit: { appendAudit: async () => ({}) as never },
      actor: 'cli',
      sender,
    });
    await expect(local.addSnsTopic('acme/web', topicArn)).rejects.toMatchObject({
      code: 'ERR_USAGE',
      message: '--sns-topic channels need the aws backend',
    });
    await expect(local.addEventBus('acme/web')).rejects.toMatchObject({
      code: 'ERR_USAGE',
      message: '--eventbridge channels need the aws backend',
    });
  });
});
