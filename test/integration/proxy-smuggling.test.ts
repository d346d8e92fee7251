/**
 * Request smuggling through the proxy (issue 9, item 1) and what it forwards (item 2).
 *
 * The attack: a token holder sends a request whose body the proxy passes on without framing,
 * so the upstream reads that body as the start of the next request on the same keep-alive
 * socket; the next request through that socket, another namespace's with its key injected,
 * completes it. The upstream here parses HTTP/1.1 by hand (raw-upstream.ts) and records
 * which socket each request came on, so the test sees what a real upstream would run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tokens } from '../../src/tokens/tokens.js';
import { send } from '../support/proxy-http.js';
import {
  APP_ORIGIN,
  createWorld,
  KEY_NAME,
  type ProxyWorld,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.js';
import { connectRaw, sendRaw } from '../support/raw-client.js';
import { type RawUpstream, startRawUpstream } from '../support/raw-upstream.js';

const ATTACKER_KEY = 'sk-attacker-own-key-1f0c';
const VICTIM_KEY = 'sk-victim-canary-77ab31e0-DO-NOT-LEAK';
const SECOND_KEY = 'sk-second-key-of-acme-web-4410';
const VICTIM_NAMESPACE = 'acme/victim';
const SMUGGLED = 'GET /attacker-chosen HTTP/1.1\r\nHost: x\r\nX-Absorb: ';

/** The attacker's request head, with its token; `framing` is the rest of the head. */
function head(method: string, path: string, token: string, framing: string): string {
  return `${method} ${path} HTTP/1.1\r\nHost: proxy.test\r\nOrigin: ${APP_ORIGIN}\r\nAuthorization: Bearer ${token}\r\n${framing}\r\n`;
}

const chunked = (body: string) => `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;

describe('the proxy against request smuggling', () => {
  let world: ProxyWorld;
  let attacker: string;
  let victim: string;
  let second: string;

  beforeAll(async () => {
    world = await createWorld('sqlite');
    const victimTokens = new Tokens({
      namespace: VICTIM_NAMESPACE,
      signer: world.signer,
      tokens: await world.openTokenStore(),
      secrets: world.secrets,
      actor: 'test',
    });
    // Tokens are minted once; each case pins the keys to its own fresh upstream below.
    await world.vault.set(KEY_NAME, Buffer.from(ATTACKER_KEY), { upstream: 'http://127.0.0.1:9' });
    await world.vault.set('SECOND_KEY', Buffer.from(SECOND_KEY), { upstream: 'http://127.0.0.1:9' });
    await world
      .newVault(VICTIM_NAMESPACE)
      .set(KEY_NAME, Buffer.from(VICTIM_KEY), { upstream: 'http://127.0.0.1:9' });
    attacker = await world.mint();
    second = await world.mint({ key: 'SECOND_KEY' });
    const spec = { origins: [APP_ORIGIN], ttlSeconds: 600, rps: 1000, burst: 1000, spend: 1_000_000 };
    victim = (await victimTokens.mint({ key: KEY_NAME, ...spec })).token;
  });
  afterAll(async () => {
    await world?.close();
  });

  /** A fresh upstream with every key pinned to it, and a fresh proxy (no pooled sockets yet). */
  async function fresh(): Promise<{ upstream: RawUpstream; proxy: TestProxy; close(): Promise<void> }> {
    const upstream = await startRawUpstream();
    await world.vault.set(KEY_NAME, Buffer.from(ATTACKER_KEY), { upstream: upstream.url });
    await world.vault.set('SECOND_KEY', Buffer.from(SECOND_KEY), { upstream: upstream.url });
    await world.newVault(VICTIM_NAMESPACE).set(KEY_NAME, Buffer.from(VICTIM_KEY), { upstream: upstream.url });
    const proxy = await startTestProxy(world);
    return {
      upstream,
      proxy,
      close: async () => {
        await proxy.close();
        await upstream.close();
      },
    };
  }

  const carriers: Record<string, (token: string) => string> = {
    'a GET with a chunked body': (t) =>
      head('GET', '/carrier', t, 'Transfer-Encoding: chunked\r\n') + chunked(SMUGGLED),
    'a HEAD with a chunked body': (t) =>
      head('HEAD', '/carrier', t, 'Transfer-Encoding: chunked\r\n') + chunked(SMUGGLED),
    'a DELETE with a chunked body': (t) =>
      head('DELETE', '/carrier', t, 'Transfer-Encoding: chunked\r\n') + chunked(SMUGGLED),
    'an OPTIONS with a chunked body': (t) =>
      head('OPTIONS', '/carrier', t, 'Transfer-Encoding: chunked\r\n') + chunked(SMUGGLED),
    'a GET whose Connection header names Content-Length': (t) =>
      head('GET', '/carrier', t, `Connection: Content-Length\r\nContent-Length: ${SMUGGLED.length}\r\n`) +
      SMUGGLED,
    'a GET whose Connection header names Transfer-Encoding': (t) =>
      head(
        'GET',
        '/carrier',
        t,
        'Connection: keep-alive, Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n',
      ) + chunked(SMUGGLED),
    'a POST whose Connection header names Content-Length': (t) =>
      head('POST', '/carrier', t, `Connection: Content-Length\r\nContent-Length: ${SMUGGLED.length}\r\n`) +
      SMUGGLED,
  };

  for (const [name, carrier] of Object.entries(carriers)) {
    it(`never lets ${name} complete another namespace's request with its key`, async () => {
      const { upstream, proxy, close } = await fresh();
      try {
        const first = await sendRaw(proxy.url, carrier(attacker));
        expect(first.status).toBe(200);
        const next = await send(proxy.url, {
          token: victim,
          path: '/victim',
          headers: { origin: APP_ORIGIN },
        });
        expect(next.status).toBe(200);
        const method = name.split(' ')[1]!;
        // The carrier reached the upstream whole, its body framed; the victim's request ran as itself.
        expect(upstream.requests.map((r) => [r.method, r.path, r.headers.authorization])).toEqual([
          [method, '/carrier', `Bearer ${ATTACKER_KEY}`],
          ['GET', '/victim', `Bearer ${VICTIM_KEY}`],
        ]);
        expect(upstream.requests[0]!.body.toString()).toBe(SMUGGLED);
        expect(JSON.parse(next.body)).toMatchObject({ method: 'GET', path: '/victim' });
      } finally {
        await close();
      }
    });
  }

  it('never reuses an upstream socket across namespaces or provider keys, and still keeps sockets alive', async () => {
    const { upstream, proxy, close } = await fresh();
    try {
      const order = [attacker, victim, second, attacker, victim, second];
      for (const token of order) {
        expect((await send(proxy.url, { token, headers: { origin: APP_ORIGIN } })).status).toBe(200);
      }
      const socketOf = (key: string) =>
        new Set(
          upstream.requests.filter((r) => r.headers.authorization === `Bearer ${key}`).map((r) => r.socket),
        );
      const [a, v, s] = [socketOf(ATTACKER_KEY), socketOf(VICTIM_KEY), socketOf(SECOND_KEY)];
      // One socket each, used twice (keep-alive), never another key's.
      expect([a.size, v.size, s.size]).toEqual([1, 1, 1]);
      expect(new Set([...a, ...v, ...s]).size).toBe(3);
      expect(upstream.opened()).toBe(3);
    } finally {
      await close();
    }
  });

  it('refuses framing it cannot pass on exactly, and never calls the upstream', async () => {
    const { upstream, proxy, close } = await fresh();
    try {
      const cases: Record<string, string> = {
        'Transfer-Encoding gzip, chunked':
          head('POST', '/x', attacker, 'Transfer-Encoding: gzip, chunked\r\n') + chunked('abc'),
        'two Transfer-Encoding headers':
          head('POST', '/x', attacker, 'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n') +
          chunked('abc'),
        'Content-Length and Transfer-Encoding':
          head('POST', '/x', attacker, 'Content-Length: 3\r\nTransfer-Encoding: chunked\r\n') +
          chunked('abc'),
        'two Content-Length headers':
          head('POST', '/x', attacker, 'Content-Length: 3\r\nContent-Length: 3\r\n') + 'abc',
        'a Content-Length list': head('POST', '/x', attacker, 'Content-Length: 3, 3\r\n') + 'abc',
      };
      for (const [name, bytes] of Object.entries(cases)) {
        const reply = await sendRaw(proxy.url, bytes);
        expect({ name, status: reply.status }).toEqual({ name, status: 400 });
      }
      expect(upstream.requests).toEqual([]);
    } finally {
      await close();
    }
  });
});

describe('what the proxy forwards', () => {
  let world: ProxyWorld;
  let upstream: RawUpstream;
  let proxy: TestProxy;
  let token: string;

  beforeAll(async () => {
    world = await createWorld('sqlite');
    upstream = await startRawUpstream();
    await world.vault.set(KEY_NAME, Buffer.from(ATTACKER_KEY), { upstream: upstream.url });
    proxy = await startTestProxy(world);
    token = await world.mint();
  });
  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
    await world?.close();
  });

  it('answers TRACE and other methods 405 with Allow, and never sends them upstream with the key', async () => {
    const before = upstream.requests.length;
    for (const method of ['TRACE', 'PROPFIND', 'MKCOL', 'LOCK', 'PURGE', 'SEARCH', 'LINK']) {
      const reply = await sendRaw(proxy.url, head(method, '/v1/echo', token, ''));
      expect({ method, status: reply.status, allow: reply.headers.allow }).toEqual({
        method,
        status: 405,
        allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
      });
      expect(JSON.parse(reply.body).error.code).toBe('method_not_allowed');
    }
    expect(upstream.requests.length).toBe(before);
  });

  it('forwards each allowed method with the key', async () => {
    const before = upstream.requests.length;
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      const res = await send(proxy.url, { method, token, headers: { origin: APP_ORIGIN } });
      expect({ method, status: res.status }).toEqual({ method, status: 200 });
    }
    expect(upstream.requests.slice(before).map((r) => [r.method, r.headers.authorization])).toEqual(
      ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => [m, `Bearer ${ATTACKER_KEY}`]),
    );
  });

  it('refuses CONNECT and never opens a tunnel', async () => {
    const before = upstream.requests.length;
    const target = new URL(upstream.url).host;
    const connection = await connectRaw(proxy.url);
    connection.write(
      `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nAuthorization: Bearer ${token}\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    const reply = await connection.reply();
    await connection.closed;
    expect(reply.status === 0 || reply.status >= 400).toBe(true);
    expect(upstream.requests.length).toBe(before);
  });

  it('never passes on an Upgrade: the request goes upstream as plain HTTP or not at all', async () => {
    const before = upstream.requests.length;
    const reply = await sendRaw(
      proxy.url,
      head('GET', '/ws', token, 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n'),
    );
    expect(reply.status).not.toBe(101);
    for (const seen of upstream.requests.slice(before)) {
      expect(seen.headers.upgrade).toBeUndefined();
      expect(seen.headers.connection ?? '').not.toMatch(/upgrade/i);
    }
  });

  it('strips Forwarded and X-Forwarded-* before the upstream', async () => {
    const before = upstream.requests.length;
    const res = await send(proxy.url, {
      token,
      headers: {
        origin: APP_ORIGIN,
        forwarded: 'for=203.0.113.7;host=evil.example;proto=http',
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'http',
        'x-forwarded-port': '80',
        'X-Forwarded-Prefix': '/admin',
        'x-kept': 'yes',
      },
    });
    expect(res.status).toBe(200);
    const seen = upstream.requests[before]!;
    expect(
      Object.keys(seen.headers).filter((h) => h === 'forwarded' || h.startsWith('x-forwarded-')),
    ).toEqual([]);
    expect(seen.headers['x-kept']).toBe('yes');
  });
});
