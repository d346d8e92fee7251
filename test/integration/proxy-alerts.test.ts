/**
 * Anomaly rules, throttling and webhook alerts (issue 10) on both backends (the local vault
 * and DynamoDB Local): two proxies on one store, a loopback upstream and a loopback webhook receiver that checks signatures
 * itself. Each rule raises one alert (not one per request), signed, with no secret in it;
 * the throttle one proxy sets is enforced by the other; a receiver that fails is retried
 * while the proxy keeps serving.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookSender } from '../../src/alerts/webhook.js';
import { decodeToken, encodeToken } from '../../src/tokens/format.js';
import type { TokenStore } from '../../src/tokens/token-store.js';
import {
  emptyCounts,
  USAGE_WINDOW_SECONDS,
  type UsageStore,
  windowOf,
} from '../../src/tokens/usage-store.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import {
  APP_ORIGIN,
  createWorld,
  KEY_NAME,
  NAMESPACE,
  type ProxyWorld,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.js';
import { send } from '../support/proxy-http.js';

const CANARY_KEY = 'sk-canary-alerts-7c1e-DO-NOT-LEAK';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Received {
  body: string;
  signature: string;
  answered: number;
}

/** A loopback receiver: answers 503 to the next `failNext` deliveries, 204 after. */
async function startReceiver() {
  const received: Received[] = [];
  const state = { failNext: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answered = state.failNext > 0 ? 503 : 204;
      if (state.failNext > 0) state.failNext--;
      received.push({
        body: Buffer.concat(chunks).toString(),
        signature: String(req.headers['egg-signature']),
        answered,
      });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/egg`,
    received,
    state,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The receiver's own check: HMAC-SHA256 over "<t>.<body>" with the secret as shown. */
function signatureHolds(secret: string, header: string, body: string): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (match === null) return false;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2]!, 'hex'));
}

/** The same token with its signature's first byte changed (the checksum made again). */
function forged(token: string): string {
  const [header, payload, signature] = decodeToken(token)!.split('.') as [string, string, string];
  const bytes = Buffer.from(signature, 'base64url');
  bytes[0] = bytes[0]! ^ 0xff;
  return encodeToken(`${header}.${payload}.${bytes.toString('base64url')}`);
}

function tokenIdOf(token: string): string {
  return (
    JSON.parse(Buffer.from(decodeToken(token)!.split('.')[1]!, 'base64url').toString()) as { jti: string }
  ).jti;
}

async function eventually<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  deadlineMs = 15_000,
): Promise<T> {
  const start = performance.now();
  while (performance.now() - start < deadlineMs) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(50);
  }
  throw new Error('the outcome never came');
}

function alertsSuite(backend: 'sqlite' | 'dynamodb') {
  describe(`anomaly rules, throttles and alerts (${backend})`, () => {
    let upstream: FakeUpstream;
    let world: ProxyWorld;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let counting: TestProxy;
    let other: TestProxy;
    let secret: string;
    /** The counting proxy's meter clock, pinned by a test that needs all its requests in one window. */
    const meterClock: { pinnedMs: number | undefined } = { pinnedMs: undefined };

    beforeAll(async () => {
      upstream = await startFakeUpstream();
      receiver = await startReceiver();
      world = await createWorld(backend);
      await world.vault.set(KEY_NAME, Buffer.from(CANARY_KEY), { upstream: upstream.url });
      counting = await startTestProxy(world, {
        pollMs: 100,
        usage: { flushMs: 100, rulesRefreshMs: 0, clock: () => meterClock.pinnedMs ?? Date.now() },
      });
      // The second proxy counts nothing: what it enforces came through the store.
      other = await startTestProxy(world, { pollMs: 100 });
      secret = (await counting.alerts!.addWebhook(NAMESPACE, receiver.url)).secret;
    });
    afterAll(async () => {
      await counting?.close();
      await other?.close();
      await world?.close();
      await Promise.all([upstream?.close(), receiver?.close()]);
    });

    const alertsFor = (tokenId: string) =>
      receiver.received
        .filter((r) => r.answered === 204)
        .map((r) => ({ ...r, alert: JSON.parse(r.body) as Record<string, unknown> }))
        .filter((r) => r.alert.tokenId === tokenId);

    /** After more flushes than the rules need: still exactly one alert for the token. */
    async function onlyAlert(tokenId: string) {
      const [first] = await eventually(() =>
        alertsFor(tokenId).length > 0 ? alertsFor(tokenId) : undefined,
      );
      await counting.meter!.flush();
      await sleep(300);
      await counting.meter!.flush();
      await counting.sender!.idle();
      expect(alertsFor(tokenId)).toHaveLength(1);
      expect(signatureHolds(secret, first!.signature, first!.body)).toBe(true);
      expect(first!.body).not.toContain('egg_');
      expect(first!.body).not.toContain(CANARY_KEY);
      expect(first!.body).not.toContain(secret);
      return first!.alert;
    }

    /**
     * Run `body` with the counting proxy's meter clock stopped now (never ahead of the real
     * one, which the meter's other caches compare with): what it counts falls in one window
     * whenever it runs, even across a minute boundary of the real clock, where a rule's
     * threshold would otherwise be split between two windows and never reached.
     */
    async function inOneWindow<T>(body: (window: number) => Promise<T>): Promise<T> {
      meterClock.pinnedMs = Date.now();
      try {
        return await body(windowOf(Math.floor(meterClock.pinnedMs / 1000)));
      } finally {
        meterClock.pinnedMs = undefined;
      }
    }

    it('a burst of refused origins and forged tokens naming one id raises one signed alert, and the other proxy throttles the token', async () => {
      const token = await world.mint({ allowNoOrigin: false, rps: 10, burst: 10 });
      const id = tokenIdOf(token);
      // No timed batch during the burst: the one that counts it goes early, when the 20th
      // refusal reaches the threshold (the forged tokens after it may join it or the next).
      const alert = await inOneWindow(async () => {
        await counting.meter!.close();
        for (let i = 0; i < 12; i++)
          expect(
            (await send(counting.url, { token, headers: { origin: 'https://evil.example' } })).status,
          ).toBe(403);
        for (let i = 0; i < 12; i++)
          expect((await send(counting.url, { token: forged(token) })).status).toBe(401);
        counting.meter!.start();
        return onlyAlert(id);
      });
      expect(alert).toMatchObject({
        type: 'egg.alert',
        namespace: NAMESPACE,
        tokenId: id,
        rule: 'refusal-burst',
        figures: { refusedOrigin: 12, threshold: 20, windowSeconds: 60 },
        throttle: { rps: 1 },
      });
      expect((alert.figures as { invalidToken: number }).invalidToken).toBeGreaterThanOrEqual(8);

      // Throttled to 1 r/s at the proxy that counted nothing: the second request in a row is 429.
      const refused = await eventually(async () => {
        await send(other.url, { token, headers: { origin: APP_ORIGIN } });
        const res = await send(other.url, { token, headers: { origin: APP_ORIGIN } });
        return res.status === 429 ? res : undefined;
      });
      expect(JSON.parse(refused.body).error.code).toBe('token_throttled');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);

      const trail = await world.vault.auditTrail();
      expect(trail.filter((r) => r.action === 'alert.raise' && r.targets[0] === id)).toMatchObject([
        { outcome: 'refusal-burst', actor: 'proxy' },
      ]);

      // The owner lifts it: the other proxy serves the token at its own rate again.
      expect(
        await (counting.store.inner as TokenStore & UsageStore).liftThrottle(
          NAMESPACE,
          id,
          Math.floor(Date.now() / 1000),
        ),
      ).toBe(true);
      await eventually(async () => {
        const statuses = await Promise.all(
          [0, 1, 2].map(() => send(other.url, { token, headers: { origin: APP_ORIGIN } })),
        );
        return statuses.every((r) => r.status === 200) ? true : undefined;
      });
    });

    it('a rate far above the token own baseline raises one alert', async () => {
      const token = await world.mint();
      const id = tokenIdOf(token);
      // Its 60 requests are counted in the window of now whenever they run.
      await inOneWindow(async (now) => {
        // An hour of quiet history: 2 requests in each of 3 earlier windows.
        const store = counting.store.inner as TokenStore & UsageStore;
        await store.addUsage(
          [1, 2, 3].map((k) => ({
            namespace: NAMESPACE,
            id,
            window: now - k * USAGE_WINDOW_SECONDS,
            ...emptyCounts(),
            requests: 2,
          })),
        );
        for (let i = 0; i < 60; i++) expect((await send(counting.url, { token })).status).toBe(200);
        const alert = await onlyAlert(id);
        expect(alert).toMatchObject({
          rule: 'rate-spike',
          figures: { requests: 60, baselinePerWindow: 2, threshold: 60 },
        });
      });
    });

    it("a burst that reaches a rule's threshold is sent at once, not at the next batch", async () => {
      // A proxy whose timed batch is an hour away: only the early batch can bring the alert.
      // Its meter clock stopped now: the 20 refusals fall in one window.
      const pinnedMs = Date.now();
      const slow = await startTestProxy(world, {
        usage: { flushMs: 3_600_000, rulesRefreshMs: 0, clock: () => pinnedMs },
      });
      try {
        const token = await world.mint();
        const id = tokenIdOf(token);
        for (let i = 0; i < 20; i++)
          expect((await send(slow.url, { token: forged(token) })).status).toBe(401);
        const [arrived] = await eventually(() => (alertsFor(id).length > 0 ? alertsFor(id) : undefined));
        expect(arrived!.alert).toMatchObject({ rule: 'refusal-burst', figures: { invalidToken: 20 } });
      } finally {
        await slow.close();
      }
    });

    it('spend that would exhaust the cap long before expiry raises one alert', async () => {
      const token = await world.mint({ spend: 100, cost: 5, ttlSeconds: 600 });
      const id = tokenIdOf(token);
      for (let i = 0; i < 10; i++) expect((await send(counting.url, { token })).status).toBe(200);
      const alert = await onlyAlert(id);
      expect(alert).toMatchObject({ rule: 'spend-velocity', figures: { cap: 100 } });
    });

    it('a receiver that fails is retried, and the proxy keeps serving meanwhile', async () => {
      receiver.state.failNext = 3;
      const token = await world.mint({ allowNoOrigin: false });
      const id = tokenIdOf(token);
      await inOneWindow(async () => {
        for (let i = 0; i < 20; i++)
          await send(counting.url, { token, headers: { origin: 'https://evil.example' } });
        await eventually(() => (receiver.received.some((r) => r.answered === 503) ? true : undefined));
        // The receiver is failing: requests still go through.
        expect((await send(counting.url, { token, headers: { origin: APP_ORIGIN } })).status).toBe(200);
        await onlyAlert(id);
      });
      const attempts = receiver.received.filter(
        (r) => (JSON.parse(r.body) as { tokenId: string }).tokenId === id,
      );
      expect(attempts.map((r) => r.answered)).toEqual([503, 503, 503, 204]);
      // Every attempt was signed afresh, and each signature holds.
      for (const r of attempts) expect(signatureHolds(secret, r.signature, r.body)).toBe(true);
    });

    it('never follows a redirect that would carry a signed alert to another receiver', async () => {
      const elsewhere = await startReceiver();
      const redirecting = http.createServer((_req, res) =>
        res.writeHead(307, { location: elsewhere.url }).end(),
      );
      await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = redirecting.address() as AddressInfo;
        const sender = new WebhookSender({ attempts: 2, backoffMs: 10 });
        const delivery = await sender.deliver(
          new URL(`http://127.0.0.1:${port}/`),
          Buffer.from('s'),
          '{}',
          'test',
        );
        expect(delivery).toEqual({ ok: false, attempts: 2, last: '307' });
        expect(elsewhere.received).toEqual([]);
      } finally {
        redirecting.closeAllConnections();
        await new Promise<void>((resolve) => redirecting.close(() => resolve()));
        await elsewhere.close();
      }
    });

    it('an alert raised while the receiver is unreachable is still kept and audited, and the proxy serves', async () => {
      const unreachable = await startReceiver();
      await unreachable.close();
      const down = await startTestProxy(world, {
        pollMs: 100,
        usage: { flushMs: 100, sender: new WebhookSender({ attempts: 2, backoffMs: 10, timeoutMs: 500 }) },
      });
      try {
        // A namespace of its own, whose only channel points at a closed port.
        const ns = 'acme/unreachable';
        await down.alerts!.addWebhook(ns, unreachable.url);
        const alert = await down.alerts!.raise({
          namespace: ns,
          tokenId: 'a'.repeat(22),
          rule: 'refusal-burst',
          figures: {},
        });
        expect(alert).toMatchObject({ namespace: ns, rule: 'refusal-burst' });
        const token = await world.mint();
        expect((await send(down.url, { token })).status).toBe(200);
        await down.sender!.idle();
        expect((await down.alerts!.list(ns)).alerts.map((a) => a.id)).toEqual([alert!.id]);
        const trail = await world.newVault(ns).auditTrail();
        expect(trail.map((r) => r.action)).toEqual(['alert.channel.add', 'alert.raise']);
      } finally {
        await down.close();
      }
    });

    it('honours the namespace rule settings: a rule turned off raises nothing, a lowered threshold fires at it', async () => {
      const store = counting.store.inner as TokenStore & UsageStore;
      // Each token's refusals in one window: split by a minute boundary, the 5 below would
      // never reach their threshold of 5 (and the 25 would be two rows of usage).
      await inOneWindow(async (window) => {
        try {
          await store.putRuleOverrides(NAMESPACE, { 'refusal-burst': { off: true } });
          const quiet = await world.mint();
          for (let i = 0; i < 25; i++)
            expect((await send(counting.url, { token: forged(quiet) })).status).toBe(401);
          // Stored by a batch (one the store refused goes again with the next), then that
          // batch's rules run to their end.
          const counted = await eventually(async () => {
            const [row] = await store.readUsage(NAMESPACE, [tokenIdOf(quiet)], window);
            return row !== undefined && row.invalidToken >= 25 ? row : undefined;
          });
          expect(counted).toMatchObject({ window, invalidToken: 25 });
          await counting.meter!.flush();
          await counting.sender!.idle();
          expect(alertsFor(tokenIdOf(quiet))).toEqual([]);
          expect((await store.throttles(NAMESPACE)).has(tokenIdOf(quiet))).toBe(false);

          await store.putRuleOverrides(NAMESPACE, { 'refusal-burst': { settings: { threshold: 5 } } });
          const touchy = await world.mint();
          for (let i = 0; i < 5; i++)
            expect((await send(counting.url, { token: forged(touchy) })).status).toBe(401);
          expect(await onlyAlert(tokenIdOf(touchy))).toMatchObject({
            rule: 'refusal-burst',
            figures: { invalidToken: 5, threshold: 5 },
          });
        } finally {
          await store.putRuleOverrides(NAMESPACE, {});
        }
      });
    });

    it('a Slack-shaped channel gets the alert as text and blocks, signed, naming the token id and no secret', async () => {
      const slack = await startReceiver();
      try {
        const ns = 'acme/slack';
        const added = await counting.alerts!.addWebhook(ns, slack.url, 'slack');
        expect(added.kind).toBe('slack');
        const tested = await counting.alerts!.test(ns);
        expect(tested.map((t) => t.delivery)).toEqual([{ ok: true, attempts: 1, last: '204' }]);
        const token = await world.mint();
        const tokenId = tokenIdOf(token);
        const raised = await counting.alerts!.raise({
          namespace: ns,
          tokenId,
          rule: 'rate-spike',
          figures: { requests: 600, threshold: 60 },
          throttle: { rps: 1, until: '2026-12-03T11:17:07.000Z' },
        });
        await counting.sender!.idle();
        expect(slack.received).toHaveLength(2);
        for (const r of slack.received) {
          expect(signatureHolds(added.secret, r.signature, r.body)).toBe(true);
          expect(r.body).not.toContain(token);
          expect(r.body).not.toContain(CANARY_KEY);
          expect(r.body).not.toContain(added.secret);
        }
        const [test, alert] = slack.received.map(
          (r) => JSON.parse(r.body) as { text: string; blocks: { type: string }[] },
        );
        expect(test!.text).toBe('Egg Carton test alert for acme/slack');
        expect(alert!.text).toBe(`Egg Carton alert: rate-spike on token ${tokenId} in acme/slack`);
        expect(JSON.stringify(alert!.blocks)).toContain(raised!.time);
        expect(JSON.stringify(alert!.blocks)).toContain('requests=600  threshold=60');
        expect((await counting.alerts!.list(ns)).channels).toEqual([
          { id: added.id, kind: 'slack', url: slack.url, createdAt: expect.any(String) },
        ]);
      } finally {
        await slack.close();
      }
    });

    it('refuses a webhook URL that would send alerts in clear text off the machine', async () => {
      await expect(
        counting.alerts!.addWebhook(NAMESPACE, 'http://hooks.example.com/egg'),
      ).rejects.toMatchObject({
        code: 'ERR_USAGE',
      });
      await expect(
        counting.alerts!.addWebhook(NAMESPACE, 'https://user:pw@hooks.example.com/egg'),
      ).rejects.toMatchObject({ code: 'ERR_USAGE' });
    });
  });
}

alertsSuite('sqlite');
alertsSuite('dynamodb');
