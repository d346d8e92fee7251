/**
 * The edge proxy end to end in one process: the local vault (SQLite) and DynamoDB Local,
 * a loopback upstream, real tokens. Each attack names what it stops; "the upstream never
 * saw it" is checked on the fake upstream's own record.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalSigner } from '../../src/tokens/signer.js';
import type { TokenRecord, TokenStore } from '../../src/tokens/token-store.js';
import { Tokens } from '../../src/tokens/tokens.js';
import { findLeaks } from '../support/cli.js';
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

const CANARY_KEY = 'sk-canary-5d1f0e9a-DO-NOT-LEAK';
const CANARY_BODY = 'body-canary-0b7e44c2-DO-NOT-LEAK';
const OTHER_NAMESPACE = 'acme/other';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Call until `done(status)` or the deadline; resolves the elapsed ms (or Infinity). The
 * deadline leaves room for a loaded machine: tests assert that an outcome comes and what
 * comes before it, and the bench measures how fast (revocation propagation).
 */
async function until(call: () => Promise<number>, done: (status: number) => boolean, deadlineMs = 10_000) {
  const start = performance.now();
  while (performance.now() - start < deadlineMs) {
    if (done(await call())) return performance.now() - start;
    await sleep(20);
  }
  return Number.POSITIVE_INFINITY;
}

describe('egg proxy on the local vault', () => {
  let upstream: FakeUpstream;
  let other: FakeUpstream;
  let world: ProxyWorld;
  let proxy: TestProxy;

  beforeAll(async () => {
    [upstream, other] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
    world = await createWorld('sqlite');
    await world.vault.set(KEY_NAME, Buffer.from(CANARY_KEY), { upstream: upstream.url });
    proxy = await startTestProxy(world, { upstreamTimeoutMs: 500 });
  });
  afterAll(async () => {
    await proxy?.close();
    await world?.close();
    await Promise.all([upstream?.close(), other?.close()]);
  });

  it('swaps a token for the key and forwards to the pinned upstream', async () => {
    const token = await world.mint();
    const before = upstream.requests.length;
    const res = await send(proxy.url, { token, path: '/v1/echo?x=1', body: '{"hello":1}' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ ok: true, method: 'POST', path: '/v1/echo?x=1', bytes: 11 });
    const seen = upstream.requests[before]!;
    expect(seen.headers.authorization).toBe(`Bearer ${CANARY_KEY}`);
    expect(seen.headers.host).toBe(new URL(upstream.url).host);
    expect(JSON.stringify(seen.headers)).not.toContain(token);
    expect(seen.body.toString()).toBe('{"hello":1}');
  });

  it('accepts the token in x-api-key and injects with the stored template', async () => {
    await world.vault.set('ANTHROPIC_KEY', Buffer.from(CANARY_KEY), {
      upstream: upstream.url,
      inject: 'x-api-key: {}',
    });
    const token = await world.mint({ key: 'ANTHROPIC_KEY' });
    const before = upstream.requests.length;
    const res = await send(proxy.url, { headers: { 'x-api-key': token }, body: '{}' });
    expect(res.status).toBe(200);
    expect(upstream.requests[before]!.headers['x-api-key']).toBe(CANARY_KEY);
    expect(upstream.requests[before]!.headers.authorization).toBeUndefined();
  });

  it('answers every hostile or missing token with 401 and never calls the upstream', async () => {
    const token = await world.mint();
    const stranger = new Tokens({
      namespace: NAMESPACE,
      signer: new LocalSigner(Buffer.alloc(32, 7)),
      tokens: {
        putToken: async () => undefined,
        revocationVersion: async () => ({ version: 0, notBefore: 0 }),
        accountRevocation: async () => ({ version: 0, notBefore: 0 }),
      } as never,
      secrets: world.secrets,
      actor: 't',
    });
    const foreign = (
      await stranger.mint({ key: KEY_NAME, origins: [APP_ORIGIN], ttlSeconds: 60, rps: 1, spend: 1 })
    ).token;
    const past = new Tokens({
      namespace: NAMESPACE,
      signer: world.signer,
      tokens: await world.openTokenStore(),
      secrets: world.secrets,
      actor: 't',
      clock: () => Date.now() - 3_600_000,
    });
    const future = new Tokens({
      namespace: NAMESPACE,
      signer: world.signer,
      tokens: await world.openTokenStore(),
      secrets: world.secrets,
      actor: 't',
      clock: () => Date.now() + 3_600_000,
    });
    const spec = { key: KEY_NAME, origins: [APP_ORIGIN], ttlSeconds: 600, rps: 100, spend: 100 };
    const expired = (await past.mint(spec)).token;
    const early = (await future.mint(spec)).token;
    const [h, p, s] = token.slice(4, token.lastIndexOf('.')).split('.') as [string, string, string];
    const { encodeToken } = await import('../../src/tokens/format.js');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const b64u = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const { createHmac } = await import('node:crypto');
    const pem = (await world.signer.publicKey()).export({ type: 'spki', format: 'pem' }) as string;
    const hsHeader = b64u({ ...header, alg: 'HS256' });
    const cases: Record<string, Record<string, string>> = {
      'no token': {},
      'alg none': { authorization: `Bearer ${encodeToken(`${b64u({ ...header, alg: 'none' })}.${p}.${s}`)}` },
      'HS256 signed with the public key': {
        authorization: `Bearer ${encodeToken(`${hsHeader}.${p}.${createHmac('sha256', pem).update(`${hsHeader}.${p}`).digest('base64url')}`)}`,
      },
      'tampered payload': {
        authorization: `Bearer ${encodeToken(`${h}.${b64u({ ...payload, spend: 1e9 })}.${s}`)}`,
      },
      'tampered signature': {
        authorization: `Bearer ${encodeToken(`${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`)}`,
      },
      expired: { authorization: `Bearer ${expired}` },
      'nbf in the future': { authorization: `Bearer ${early}` },
      'unknown kid': { authorization: `Bearer ${foreign}` },
      'bad prefix': { authorization: `Bearer ${token.replace(/^egg_/, 'gho_')}` },
      'bad checksum': { authorization: `Bearer ${token.slice(0, -1)}${token.endsWith('x') ? 'y' : 'x'}` },
      'a 64 KB token': { authorization: `Bearer egg_${'A'.repeat(64 * 1024)}` },
      'Basic auth': { authorization: `Basic ${Buffer.from(`u:${token}`).toString('base64')}` },
      'two tokens': { authorization: `Bearer ${token} ${token}` },
      'the provider key itself': { authorization: `Bearer ${CANARY_KEY}` },
    };
    const before = upstream.requests.length;
    for (const [name, headers] of Object.entries(cases)) {
      const res = await send(proxy.url, { headers, body: CANARY_BODY });
      expect({ name, status: res.status, code: JSON.parse(res.body).error.code }).toEqual({
        name,
        status: 401,
        code: 'token_invalid',
      });
    }
    expect(upstream.requests.length).toBe(before);
  });

  it('refuses near misses of a token whose verification is cached, and never calls the upstream', async () => {
    const token = await world.mint();
    expect((await send(proxy.url, { token })).status).toBe(200);
    expect((await send(proxy.url, { token })).status).toBe(200);
    const flip = (at: number) =>
      `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`;
    const dot = token.indexOf('.');
    const before = upstream.requests.length;
    // The first three keep the checksum, so they land in the cached token's slot.
    for (const near of [
      flip(6),
      flip(dot + 5),
      flip(token.lastIndexOf('.') - 5),
      `${token}A`,
      `${token} ${token}`,
      token.slice(0, -1),
      token.toUpperCase(),
    ]) {
      const res = await send(proxy.url, { headers: { authorization: `Bearer ${near}` } });
      expect({ status: res.status, code: JSON.parse(res.body).error.code }).toEqual({
        status: 401,
        code: 'token_invalid',
      });
    }
    expect(upstream.requests.length).toBe(before);
    expect((await send(proxy.url, { token })).status).toBe(200);
  });

  it('refuses a token whose verification is cached once it expires', async () => {
    let now = Date.now();
    const clocked = await startTestProxy(world, { clock: () => now });
    try {
      const token = await world.mint({ ttlSeconds: 60 });
      expect((await send(clocked.url, { token })).status).toBe(200);
      expect((await send(clocked.url, { token })).status).toBe(200);
      const before = upstream.requests.length;
      // The watcher confirms revocation state on the same clock: a poll after each jump.
      now += 59_000 + 30_000; // within the 30 s of skew still
      await clocked.watcher.pollNow();
      expect((await send(clocked.url, { token })).status).toBe(200);
      now += 2_000;
      await clocked.watcher.pollNow();
      for (let i = 0; i < 3; i++) {
        const res = await send(clocked.url, { token });
        expect({ status: res.status, code: JSON.parse(res.body).error.code }).toEqual({
          status: 401,
          code: 'token_invalid',
        });
      }
      expect(upstream.requests.length).toBe(before + 1);
    } finally {
      await clocked.close();
    }
  });

  it('refuses a wrong Origin with 403, answers CORS for the allowed one', async () => {
    const token = await world.mint({ origins: [APP_ORIGIN, 'http://localhost:5173'] });
    const before = upstream.requests.length;
    for (const origin of [
      'https://evil.example',
      'null',
      'https://app.example.com.evil.example',
      'http://app.example.com',
    ]) {
      const res = await send(proxy.url, { token, headers: { origin } });
      expect({ origin, status: res.status, acao: res.headers['access-control-allow-origin'] }).toEqual({
        origin,
        status: 403,
        acao: undefined,
      });
    }
    expect(upstream.requests.length).toBe(before);
    const ok = await send(proxy.url, { token, headers: { origin: 'http://localhost:5173' } });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    expect(ok.headers.vary).toContain('Origin');
    const preflight = await send(proxy.url, {
      method: 'OPTIONS',
      headers: {
        origin: APP_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({
      'access-control-allow-origin': APP_ORIGIN,
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'authorization, content-type',
    });
    expect(upstream.requests.length).toBe(before + 1);
  });

  it('never sends the key to another host, whatever the request says', async () => {
    const token = await world.mint();
    const evil = new URL(other.url).host;
    const attempts = [
      { headers: { host: evil } },
      { path: `//${evil}/steal` },
      { path: `/\\${evil}/steal` },
      { path: `http://${evil}/steal` },
      { path: `/@${evil}/steal` },
      { headers: { 'x-forwarded-host': evil, forwarded: `host=${evil}` } },
    ];
    for (const attempt of attempts) {
      const res = await send(proxy.url, { token, ...attempt });
      expect([200, 400]).toContain(res.status);
    }
    expect(other.requests).toEqual([]);
    // Those that went anywhere went to the pinned upstream, with its own Host.
    for (const seen of upstream.requests) expect(seen.headers.host).toBe(new URL(upstream.url).host);
  });

  it('answers 429 with Retry-After past the rate cap', async () => {
    const token = await world.mint({ rps: 1, burst: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await send(proxy.url, { token }));
    expect(statuses.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(statuses[2]!.headers['retry-after']).toBe('1');
  });

  it('streams server-sent events one by one, not at the end', async () => {
    const token = await world.mint();
    const arrivals: number[] = [];
    const start = performance.now();
    await new Promise<void>((resolve, reject) => {
      const url = new URL(proxy.url);
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: '/sse?count=5&gapMs=200',
          headers: { authorization: `Bearer ${token}` },
        },
        (res) => {
          expect(res.headers['content-type']).toBe('text/event-stream');
          let buffered = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffered += chunk;
            let at: number;
            while ((at = buffered.indexOf('\n\n')) >= 0) {
              arrivals.push(performance.now() - start);
              buffered = buffered.slice(at + 2);
            }
          });
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(arrivals).toHaveLength(5);
    // The first event arrives at once; the rest follow the upstream's 200 ms rhythm.
    expect(arrivals[0]!).toBeLessThan(arrivals[4]! - 600);
    for (let i = 1; i < 5; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThan(100);
  });

  it('streams large bodies both ways intact, holding back a slow reader and a slow upstream', async () => {
    // An upstream that echoes the body back, reading it slowly.
    const echo = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.on('data', (chunk: Buffer) => {
        if (!res.write(chunk)) req.pause();
        else if (Math.random() < 0.05) {
          req.pause();
          setTimeout(() => req.resume(), 2);
        }
      });
      res.on('drain', () => req.resume());
      req.on('end', () => res.end());
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    try {
      const port = (echo.address() as AddressInfo).port;
      await world.vault.set('ECHO_KEY', Buffer.from(CANARY_KEY), { upstream: `http://127.0.0.1:${port}` });
      const token = await world.mint({ key: 'ECHO_KEY' });
      const body = randomBytes(8 * 1024 * 1024);
      proxy.logs.length = 0;
      const digest = await new Promise<string>((resolve, reject) => {
        const url = new URL(proxy.url);
        const req = http.request(
          {
            host: url.hostname,
            port: url.port,
            method: 'POST',
            path: '/echo',
            headers: { authorization: `Bearer ${token}` },
          },
          (res) => {
            const seen = createHash('sha256');
            // A slow reader: pauses now and then, so the proxy must hold the upstream back.
            res.on('data', (chunk: Buffer) => {
              seen.update(chunk);
              if (Math.random() < 0.05) {
                res.pause();
                setTimeout(() => res.resume(), 2);
              }
            });
            res.on('end', () => resolve(seen.digest('hex')));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      expect(digest).toBe(createHash('sha256').update(body).digest('hex'));
      await sleep(50);
      const line = JSON.parse(proxy.logs.at(-1)!) as { bytesIn: number; bytesOut: number; status: number };
      expect(line).toMatchObject({ status: 200, bytesIn: body.length, bytesOut: body.length });
    } finally {
      echo.closeAllConnections();
      await new Promise((resolve) => echo.close(resolve));
    }
  });

  it('answers 504 when the upstream is silent and 502 when it is unreachable', async () => {
    const token = await world.mint();
    expect((await send(proxy.url, { token, path: '/hang' })).status).toBe(504);
    const dead = http.createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((resolve) => dead.close(resolve));
    await world.vault.set('DEAD_KEY', Buffer.from(CANARY_KEY), { upstream: `http://127.0.0.1:${port}` });
    const deadToken = await world.mint({ key: 'DEAD_KEY' });
    const res = await send(proxy.url, { token: deadToken });
    expect(res.status).toBe(502);
    expect(res.body).not.toContain(String(port));
  });

  it('logs one line per request with only time, token id, status, bytes, latency and a header hash', async () => {
    const { token, id } = await world.tokens.mint({
      key: KEY_NAME,
      origins: [APP_ORIGIN],
      allowNoOrigin: true,
      ttlSeconds: 60,
      rps: 100,
      spend: 100,
    });
    proxy.logs.length = 0;
    await send(proxy.url, { token, body: CANARY_BODY, headers: { 'x-note': CANARY_BODY } });
    await send(proxy.url, { token: `${token}x`, body: CANARY_BODY });
    await send(proxy.url, { token, headers: { origin: 'https://evil.example' }, body: CANARY_BODY });
    await sleep(50);
    expect(proxy.logs).toHaveLength(3);
    const lines = proxy.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const line of lines) {
      expect(Object.keys(line).sort()).toEqual([
        'bytesIn',
        'bytesOut',
        'headers',
        'ms',
        'status',
        'time',
        'token',
      ]);
      expect(line.headers).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(lines.map((l) => [l.token, l.status])).toEqual([
      [id, 200],
      [null, 401],
      [id, 403],
    ]);
    expect(lines[0]!.bytesIn).toBe(CANARY_BODY.length);
    const all = proxy.logs.join('');
    for (const secret of [token, CANARY_KEY, CANARY_BODY, token.split('.')[2]!])
      expect(findLeaks(all, secret)).toEqual([]);
  });

  it('wipes a provider key after the request when the key cache is off', async () => {
    const uncached = await startTestProxy(world, { keyTtlMs: 0 });
    try {
      const token = await world.mint();
      const before = upstream.requests.length;
      expect((await send(uncached.url, { token })).status).toBe(200);
      expect((await send(uncached.url, { token })).status).toBe(200);
      expect(upstream.requests.slice(before).map((r) => r.headers.authorization)).toEqual([
        `Bearer ${CANARY_KEY}`,
        `Bearer ${CANARY_KEY}`,
      ]);
    } finally {
      await uncached.close();
    }
  });
});

function sharedStateSuite(backend: 'sqlite' | 'dynamodb') {
  describe(`revocation and caps shared through ${backend}`, () => {
    let upstream: FakeUpstream;
    let world: ProxyWorld;
    let proxy: TestProxy;

    beforeAll(async () => {
      upstream = await startFakeUpstream();
      world = await createWorld(backend);
      await world.vault.set(KEY_NAME, Buffer.from(CANARY_KEY), { upstream: upstream.url });
      proxy = await startTestProxy(world, { maxStaleMs: 1500 });
    });
    afterAll(async () => {
      await proxy?.close();
      await world?.close();
      await upstream?.close();
    });

    it('keeps the spend cap exactly under 50 concurrent requests', async () => {
      const { token, id } = await world.tokens.mint({
        key: KEY_NAME,
        origins: [APP_ORIGIN],
        allowNoOrigin: true,
        ttlSeconds: 600,
        rps: 1000,
        burst: 1000,
        spend: 60,
        cost: 3,
      });
      const before = upstream.requests.length;
      const results = await Promise.all(Array.from({ length: 50 }, () => send(proxy.url, { token })));
      const count = (status: number) => results.filter((r) => r.status === status).length;
      expect({ ok: count(200), refused: count(402) }).toEqual({ ok: 20, refused: 30 });
      expect(upstream.requests.length - before).toBe(20);
      expect((await world.tokens.list()).find((t) => t.id === id)?.spent).toBe(60);
    });

    it('refuses (401) a token signed by the trusted key but never recorded, without calling the upstream', async () => {
      // What a role allowed to sign (kms:Sign) but not to write this namespace could make.
      const unrecorded = new Tokens({
        namespace: NAMESPACE,
        signer: world.signer,
        tokens: {
          revocationVersion: async () => ({ version: 0, notBefore: 0 }),
          accountRevocation: async () => ({ version: 0, notBefore: 0 }),
          putToken: async () => undefined,
        } as unknown as TokenStore,
        secrets: world.secrets,
        actor: 'attacker',
      });
      const { token } = await unrecorded.mint({
        key: KEY_NAME,
        origins: [APP_ORIGIN],
        ttlSeconds: 600,
        rps: 100,
        spend: 100,
      });
      const before = upstream.requests.length;
      const res = await send(proxy.url, { token, headers: { origin: APP_ORIGIN } });
      expect({ status: res.status, code: JSON.parse(res.body).error.code }).toEqual({
        status: 401,
        code: 'token_invalid',
      });
      expect(upstream.requests.length).toBe(before);
    });

    it('refuses (401) a token claiming namespace B whose record was written in namespace A', async () => {
      // Namespace B has its own provider key, so only the record check stands in the way.
      const victim = world.newVault(OTHER_NAMESPACE);
      await victim.set(KEY_NAME, Buffer.from(CANARY_KEY), { upstream: upstream.url });
      const store = await world.openTokenStore();
      // A's role signs a token for B; its record can only land in A's own partition.
      const crossing = new Tokens({
        namespace: OTHER_NAMESPACE,
        signer: world.signer,
        tokens: {
          revocationVersion: (ns: string) => store.revocationVersion(ns),
          accountRevocation: () => store.accountRevocation(),
          putToken: (r: TokenRecord) => store.putToken({ ...r, namespace: NAMESPACE }),
        } as unknown as TokenStore,
        secrets: world.secrets,
        actor: 'attacker',
      });
      const { token, id } = await crossing.mint({
        key: KEY_NAME,
        origins: [APP_ORIGIN],
        allowNoOrigin: true,
        ttlSeconds: 600,
        rps: 100,
        spend: 100,
      });
      expect((await world.tokens.list()).map((t) => t.id)).toContain(id);
      const before = upstream.requests.length;
      expect((await send(proxy.url, { token })).status).toBe(401);
      expect(upstream.requests.length).toBe(before);
      await store.close();
    });

    it('refuses (401) a token whose id is recorded with another digest', async () => {
      const { token, claims } = await world.tokens.mint({
        key: KEY_NAME,
        origins: [APP_ORIGIN],
        allowNoOrigin: true,
        ttlSeconds: 600,
        rps: 100,
        spend: 100,
      });
      expect((await send(proxy.url, { token })).status).toBe(200);
      // Same id, key and times, a larger cap: signed by the right key, but not the token minted.
      const { encodeToken } = await import('../../src/tokens/format.js');
      const [h] = token.slice(4).split('.') as [string];
      const p = Buffer.from(JSON.stringify({ ...claims, spend: 1e9 })).toString('base64url');
      const s = Buffer.from(await world.signer.sign(Buffer.from(`${h}.${p}`))).toString('base64url');
      const before = upstream.requests.length;
      expect((await send(proxy.url, { token: encodeToken(`${h}.${p}.${s}`) })).status).toBe(401);
      expect(upstream.requests.length).toBe(before);
    });

    it('shares the spend cap between three proxies with no overshoot', async () => {
      const proxies = [proxy, await startTestProxy(world), await startTestProxy(world)];
      try {
        const token = await world.mint({ spend: 30 });
        const results = await Promise.all(
          Array.from({ length: 60 }, (_, i) => send(proxies[i % 3]!.url, { token })),
        );
        expect(results.filter((r) => r.status === 200)).toHaveLength(30);
        expect(results.filter((r) => r.status === 402)).toHaveLength(30);
      } finally {
        await Promise.all(proxies.slice(1).map((p) => p.close()));
      }
    });

    it('refuses (503) rather than spend when the counters cannot be reached', async () => {
      const token = await world.mint();
      expect((await send(proxy.url, { token })).status).toBe(200);
      const before = upstream.requests.length;
      proxy.store.down = true;
      try {
        const res = await send(proxy.url, { token });
        expect(res.status).toBe(503);
        expect(res.headers['retry-after']).toBe('1');
      } finally {
        proxy.store.down = false;
      }
      expect(upstream.requests.length).toBe(before);
    });

    it('refuses every request once revocation state is stale beyond the bound, and recovers', async () => {
      const token = await world.mint();
      const watched = await startTestProxy(world, { maxStaleMs: 1000 });
      try {
        expect((await send(watched.url, { token })).status).toBe(200);
        const before = upstream.requests.length;
        watched.store.pollsDown = true;
        const cutAt = performance.now();
        // Within the bound the last confirmed state still serves…
        expect((await send(watched.url, { token })).status).toBe(200);
        // …past it, every request is refused.
        const refusedAfter = await until(
          async () => (await send(watched.url, { token })).status,
          (s) => s === 503,
        );
        // Not before the bound (a lower bound cannot fail on a slow machine)…
        expect(refusedAfter).toBeGreaterThan(600);
        expect(refusedAfter).toBeLessThan(Number.POSITIVE_INFINITY);
        const forwarded = upstream.requests.length - before;
        await sleep(200);
        expect((await send(watched.url, { token })).status).toBe(503);
        expect(upstream.requests.length - before).toBe(forwarded);
        expect(performance.now() - cutAt).toBeGreaterThan(1000);
        watched.store.pollsDown = false;
        expect(
          await until(
            async () => (await send(watched.url, { token })).status,
            (s) => s === 200,
          ),
        ).toBeLessThan(Number.POSITIVE_INFINITY);
      } finally {
        await watched.close();
      }
    });

    it('sees a revoked token, though its verification is cached, and forwards nothing after', async () => {
      const { token, id } = await world.tokens.mint({
        key: KEY_NAME,
        origins: [APP_ORIGIN],
        allowNoOrigin: true,
        ttlSeconds: 600,
        rps: 1000,
        burst: 1000,
        spend: 1000,
      });
      const bystander = await world.mint();
      // Five uses put its verification in the cache; revocation must still reach it.
      for (let i = 0; i < 5; i++) expect((await send(proxy.url, { token })).status).toBe(200);
      await world.tokens.revoke([id]);
      const seen = await until(
        async () => (await send(proxy.url, { token })).status,
        (s) => s === 401,
      );
      expect(seen).toBeLessThan(Number.POSITIVE_INFINITY);
      const before = upstream.requests.length;
      for (let i = 0; i < 5; i++) expect((await send(proxy.url, { token })).status).toBe(401);
      expect(upstream.requests.length).toBe(before);
      expect((await send(proxy.url, { token: bystander })).status).toBe(200);
    });

    it('revokes by tag', async () => {
      const tagged = await world.mint({ tags: { run: '99' } });
      const untagged = await world.mint({ tags: { run: '100' } });
      expect((await send(proxy.url, { token: tagged })).status).toBe(200);
      const { revoked } = await world.tokens.revoke([], { run: '99' });
      expect(revoked).toHaveLength(1);
      expect(
        await until(
          async () => (await send(proxy.url, { token: tagged })).status,
          (s) => s === 401,
        ),
      ).toBeLessThan(Number.POSITIVE_INFINITY);
      expect((await send(proxy.url, { token: untagged })).status).toBe(200);
    });

    it('sees the kill switch, and accepts tokens minted after it', async () => {
      const token = await world.mint();
      expect((await send(proxy.url, { token })).status).toBe(200);
      await world.tokens.killSwitch();
      const seen = await until(
        async () => (await send(proxy.url, { token })).status,
        (s) => s === 401,
      );
      expect(seen).toBeLessThan(Number.POSITIVE_INFINITY);
      // Minted at once after the kill switch, in the same second: valid all the same.
      const fresh = await world.mint();
      expect((await send(proxy.url, { token: fresh })).status).toBe(200);
      expect((await world.tokens.list()).filter((t) => t.status === 'revoked').length).toBeGreaterThan(1);
    });
  });
}

sharedStateSuite('sqlite');
sharedStateSuite('dynamodb');
