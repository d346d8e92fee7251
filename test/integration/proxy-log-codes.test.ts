/**
 * Every 5xx line of the request log says why (issue 9, item 8): the proxy's refusal code, or
 * `upstream_status` when the upstream answered the 5xx itself. A provider key that cannot be
 * sent (stored before the vault checked it) is `key_invalid`, never forwarded "fixed".
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encrypt, itemAad } from '../../src/crypto/aead.js';
import { findLeaks } from '../support/cli.js';
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
import { type RawUpstream, startRawUpstream } from '../support/raw-upstream.js';

const KEY = 'sk-log-canary-2e7c90aa-DO-NOT-LEAK';
const BROKEN = 'sk-broken-canary-4d1e-DO-NOT-LEAK\n';

describe('the request log of a 5xx', () => {
  let world: ProxyWorld;
  let upstream: RawUpstream;
  let proxy: TestProxy;

  beforeAll(async () => {
    world = await createWorld('sqlite');
    upstream = await startRawUpstream();
    await world.vault.set(KEY_NAME, Buffer.from(KEY), { upstream: upstream.url });
    proxy = await startTestProxy(world, { upstreamTimeoutMs: 500 });
  });
  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
    await world?.close();
  });

  const call = (token: string, path = '/v1/echo') =>
    send(proxy.url, { token, path, headers: { origin: APP_ORIGIN } });

  it('carries the reason of each 5xx, and no key, token or body', async () => {
    const token = await world.mint();

    // A key stored with the newline `<<<` adds, by a version that did not check: the vault
    // now refuses it, so it is planted as such a version left it (the value as a plain
    // secret, then sealed again under its data key with the upstream bound, crypto/aead.ts).
    await world.vault.set('BROKEN_KEY', Buffer.from(BROKEN));
    const [item] = await world.secrets.getSecrets(NAMESPACE, ['BROKEN_KEY']);
    const dek = await world.keyring.unwrap(item!.wrappedKey, item!.keyId, {
      namespace: NAMESPACE,
      secret: 'BROKEN_KEY',
    });
    const planted = { ...item!, upstream: upstream.url };
    expect(
      await world.secrets.putSecret(
        { ...planted, ...encrypt(dek, Buffer.from(BROKEN), itemAad(planted)) },
        { kind: 'rev', rev: item!.rev },
      ),
    ).toBe(true);
    const broken = await world.mint({ key: 'BROKEN_KEY' });

    const dead = http.createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((resolve) => dead.close(resolve));
    await world.vault.set('DEAD_KEY', Buffer.from(KEY), { upstream: `http://127.0.0.1:${port}` });
    const unreachable = await world.mint({ key: 'DEAD_KEY' });

    await world.vault.set('GONE_KEY', Buffer.from(KEY), { upstream: upstream.url });
    const gone = await world.mint({ key: 'GONE_KEY' });
    await world.vault.remove('GONE_KEY');

    proxy.logs.length = 0;
    const statuses: number[] = [];
    statuses.push((await call(broken)).status);
    statuses.push((await call(unreachable)).status);
    statuses.push((await call(gone)).status);
    statuses.push((await call(token, '/hang')).status);
    statuses.push((await call(token, '/status/500')).status);
    statuses.push((await call(token, '/status/503')).status);
    proxy.store.down = true;
    try {
      statuses.push((await call(token)).status);
    } finally {
      proxy.store.down = false;
    }
    statuses.push((await call(token)).status);
    expect(statuses).toEqual([502, 502, 502, 504, 500, 503, 503, 200]);
    await new Promise((resolve) => setTimeout(resolve, 50));

    const lines = proxy.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((l) => [l.status, l.code])).toEqual([
      [502, 'key_invalid'],
      [502, 'upstream_error'],
      [502, 'key_unavailable'],
      [504, 'upstream_timeout'],
      [500, 'upstream_status'],
      [503, 'upstream_status'],
      [503, 'state_unavailable'],
      [200, undefined],
    ]);
    expect(Object.keys(lines[0]!).sort()).toEqual([
      'bytesIn',
      'bytesOut',
      'code',
      'headers',
      'ms',
      'status',
      'time',
      'token',
    ]);
    // The broken key never reached the upstream, trimmed or not.
    expect(upstream.requests.filter((r) => (r.headers.authorization ?? '').includes('broken'))).toEqual([]);
    const all = proxy.logs.join('');
    for (const secret of [KEY, BROKEN.trim(), token, broken]) expect(findLeaks(all, secret)).toEqual([]);
  });

  it('tells the client the stored key is unusable, without the key', async () => {
    const broken = await world.mint({ key: 'BROKEN_KEY' });
    const res = await call(broken);
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body)).toEqual({
      error: {
        type: 'egg_proxy',
        code: 'key_invalid',
        message:
          'the provider key for this token cannot be sent in a header (empty, or with whitespace); its owner must store it again',
      },
    });
  });
});
