/**
 * Per-token client limits (issue 10: `--max-clients`, `--client-rps`) on both backends (the
 * local vault and DynamoDB Local): two proxies on one store, clients on many loopback
 * addresses (127.0.0.2, 127.0.0.3, …: the client socket bound with `localAddress`). A new
 * address past the limit is refused with 429 `too_many_clients` and Retry-After, at either
 * proxy once the first has shared its addresses through the store, and raises one signed
 * `client-fanout` alert; a client over its own rate is refused alone.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToken } from '../../src/tokens/format.js';
import { USAGE_WINDOW_SECONDS, windowOf } from '../../src/tokens/usage-store.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import {
  createWorld,
  KEY_NAME,
  NAMESPACE,
  type ProxyWorld,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.js';
import { send } from '../support/proxy-http.js';

const client = (n: number) => `127.0.0.${n}`;

function tokenIdOf(token: string): string {
  return (
    JSON.parse(Buffer.from(decodeToken(token)!.split('.')[1]!, 'base64url').toString()) as { jti: string }
  ).jti;
}

/** A loopback receiver that keeps every alert body. */
async function startReceiver() {
  const bodies: Record<string, unknown>[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/egg`,
    bodies,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function clientLimitsSuite(backend: 'sqlite' | 'dynamodb') {
  describe(`client limits (${backend})`, () => {
    let upstream: FakeUpstream;
    let world: ProxyWorld;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let first: TestProxy;
    let second: TestProxy;

    beforeAll(async () => {
      upstream = await startFakeUpstream();
      receiver = await startReceiver();
      world = await createWorld(backend);
      await world.vault.set(KEY_NAME, Buffer.from('sk-client-limits'), { upstream: upstream.url });
      // Both count and share; their batches run by hand (flush), so the order is the test's,
      // and their clocks (the meter's and the client limits') stand still in the middle of one
      // window, so no minute boundary resets the addresses mid-test.
      const pinnedMs = (windowOf(Math.floor(Date.now() / 1000)) + USAGE_WINDOW_SECONDS / 2) * 1000;
      const usage = { flushMs: 3_600_000, rulesRefreshMs: 0, clock: () => pinnedMs };
      first = await startTestProxy(world, { usage });
      second = await startTestProxy(world, { usage });
      await first.alerts!.addWebhook(NAMESPACE, receiver.url);
    });
    afterAll(async () => {
      await first?.close();
      await second?.close();
      await world?.close();
      await Promise.all([upstream?.close(), receiver?.close()]);
    });

    it('a fourth client address of a token that allows three is refused at both proxies, with one alert', async () => {
      const token = await world.mint({ maxClients: 3 });
      const id = tokenIdOf(token);
      for (const n of [2, 3, 4])
        expect((await send(first.url, { token, localAddress: client(n) })).status).toBe(200);
      // The same clients again: still three, all served.
      for (const n of [2, 3, 4])
        expect((await send(first.url, { token, localAddress: client(n) })).status).toBe(200);
      const refused = await send(first.url, { token, localAddress: client(5) });
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body).error.code).toBe('too_many_clients');
      const retryAfter = Number(refused.headers['retry-after']);
      // Until the window ends: half of it, on the pinned clock.
      expect(retryAfter).toBe(USAGE_WINDOW_SECONDS / 2);

      // The first proxy's batch shares its three addresses: the second proxy serves them and
      // refuses a new one, although it has seen none of them itself.
      await first.meter!.flush();
      expect((await send(second.url, { token, localAddress: client(6) })).status).toBe(200);
      await second.meter!.flush();
      expect((await send(second.url, { token, localAddress: client(3) })).status).toBe(200);
      const elsewhere = await send(second.url, { token, localAddress: client(7) });
      expect(elsewhere.status).toBe(429);
      expect(JSON.parse(elsewhere.body).error.code).toBe('too_many_clients');

      // One alert, whichever proxy's batch found it first, and however many batches follow.
      await first.meter!.flush();
      await second.meter!.flush();
      await first.meter!.flush();
      await first.sender!.idle();
      await second.sender!.idle();
      const alerts = receiver.bodies.filter((b) => b.tokenId === id);
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({
        rule: 'client-fanout',
        tokenId: id,
        namespace: NAMESPACE,
        figures: { maxClients: 3, windowSeconds: 60 },
      });
      expect(JSON.stringify(alerts[0])).not.toContain('127.0.0.');
    });

    it('a client over --client-rps is refused alone; the other clients are served', async () => {
      const token = await world.mint({ clientRps: 1 });
      expect((await send(first.url, { token, localAddress: client(8) })).status).toBe(200);
      const over = await send(first.url, { token, localAddress: client(8) });
      expect(over.status).toBe(429);
      expect(JSON.parse(over.body).error.code).toBe('client_rate_limited');
      expect(over.headers['retry-after']).toBe('1');
      expect((await send(first.url, { token, localAddress: client(9) })).status).toBe(200);
      expect((await send(first.url, { token, localAddress: client(10) })).status).toBe(200);
    });

    it('a token minted without client limits is served from any number of addresses', async () => {
      const token = await world.mint();
      const statuses = [];
      for (let n = 11; n < 31; n++)
        statuses.push((await send(first.url, { token, localAddress: client(n) })).status);
      expect(statuses.every((s) => s === 200)).toBe(true);
      await first.meter!.flush();
      await first.sender!.idle();
      expect(receiver.bodies.filter((b) => b.tokenId === tokenIdOf(token))).toEqual([]);
    });
  });
}

clientLimitsSuite('sqlite');
clientLimitsSuite('dynamodb');
