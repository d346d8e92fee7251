/**
 * Upstream requests never outlive their exchange (issue 9, item 3): a client that declared
 * more body than it sent, got an early answer and left (or stayed, silent) must not keep an
 * upstream socket, and one namespace's requests stuck upstream must not hold back another's.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Tokens } from '../../src/tokens/tokens.js';
import {
  APP_ORIGIN,
  createWorld,
  KEY_NAME,
  type ProxyWorld,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.js';
import { send } from '../support/proxy-http.js';
import { connectRaw, type RawConnection } from '../support/raw-client.js';
import { type RawUpstream, startRawUpstream } from '../support/raw-upstream.js';

const KEY = 'sk-lifecycle-canary-0c1d-DO-NOT-LEAK';
const OTHER_NAMESPACE = 'acme/other';

/** The head of a request that declares `length` bytes of body. */
const head = (method: string, path: string, token: string, length?: number) =>
  `${method} ${path} HTTP/1.1\r\nHost: proxy.test\r\nOrigin: ${APP_ORIGIN}\r\nAuthorization: Bearer ${token}\r\n` +
  `${length === undefined ? '' : `Content-Length: ${length}\r\n`}\r\n`;

describe('upstream requests end with their exchange', () => {
  let world: ProxyWorld;
  let upstream: RawUpstream;
  let proxy: TestProxy;
  let token: string;
  let other: string;

  beforeAll(async () => {
    world = await createWorld('sqlite');
    upstream = await startRawUpstream();
    await world.vault.set(KEY_NAME, Buffer.from(KEY), { upstream: upstream.url });
    await world.newVault(OTHER_NAMESPACE).set(KEY_NAME, Buffer.from(KEY), { upstream: upstream.url });
    proxy = await startTestProxy(world, { upstreamTimeoutMs: 3_000 });
    token = await world.mint();
    const otherTokens = new Tokens({
      namespace: OTHER_NAMESPACE,
      signer: world.signer,
      tokens: await world.openTokenStore(),
      secrets: world.secrets,
      actor: 'test',
    });
    other = (
      await otherTokens.mint({
        key: KEY_NAME,
        origins: [APP_ORIGIN],
        ttlSeconds: 600,
        rps: 1000,
        burst: 1000,
        spend: 1_000_000,
      })
    ).token;
  });
  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
    await world?.close();
  });

  /** Wait until no upstream socket is open; fails (rather than hangs) if one stays. */
  const upstreamSocketsClose = () =>
    vi.waitFor(() => expect(upstream.open()).toBe(0), { timeout: 10_000, interval: 20 });

  it('destroys the upstream request of a client that declared 4096 bytes, sent 10, got an early answer and left', async () => {
    await upstreamSocketsClose();
    const client = await connectRaw(proxy.url);
    client.write(head('POST', '/early', token, 4096) + '0123456789');
    const reply = await client.reply();
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ early: true });
    expect(upstream.open()).toBeGreaterThan(0);
    client.close();
    await upstreamSocketsClose();
  });

  it('frees the upstream socket when the upstream answers before the body is done, and the client connection goes on', async () => {
    await upstreamSocketsClose();
    const client = await connectRaw(proxy.url);
    try {
      client.write(head('POST', '/early', token, 4096) + '0123456789');
      expect((await client.reply()).status).toBe(200);
      // The client is still there, silent: the upstream request must not wait for it.
      await upstreamSocketsClose();
      // The rest of its body is read and dropped; then the connection serves the next request.
      const before = upstream.requests.length;
      client.write(Buffer.alloc(4086, 0x61));
      client.write(head('GET', '/v1/next', token));
      const next = await client.reply();
      expect(next.status).toBe(200);
      expect(upstream.requests.slice(before).map((r) => [r.method, r.path])).toEqual([['GET', '/v1/next']]);
    } finally {
      client.close();
    }
  });

  it("never lets one namespace's 256 requests stuck upstream hold back another namespace's request", async () => {
    // Its own proxy, whose upstream timeout (which would free the sockets) is far off.
    const patient = await startTestProxy(world, { upstreamTimeoutMs: 30_000 });
    const stuck: RawConnection[] = [];
    const events: string[] = [];
    try {
      const before = upstream.requests.filter((r) => r.path === '/hang').length;
      for (let i = 0; i < 256; i++) {
        const client = await connectRaw(patient.url);
        client.write(head('GET', '/hang', token));
        void client.reply().then(() => events.push('stuck request answered'));
        stuck.push(client);
      }
      await vi.waitFor(
        () => expect(upstream.requests.filter((r) => r.path === '/hang').length - before).toBe(256),
        { timeout: 30_000, interval: 20 },
      );
      // Every socket the first namespace may have is busy upstream; the other namespace's
      // request is answered while they still are.
      const res = await send(patient.url, {
        token: other,
        path: '/v1/other',
        headers: { origin: APP_ORIGIN },
      });
      events.push(`other namespace answered ${res.status}`);
      expect(events[0]).toBe('other namespace answered 200');
    } finally {
      for (const client of stuck) client.close();
      await patient.close();
    }
  });
});
