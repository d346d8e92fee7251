/**
 * Origin binding at the proxy (issue 9, item 6), on the local vault with a loopback
 * upstream: a token bound to web origins gets 403 without `Origin`; only a token minted
 * with `--allow-no-origin` may be used without one. "Never forwarded" is checked on the
 * fake upstream's own record.
 */
import { describe, expect, it } from 'vitest';
import { claimsAt, mintHostile } from '../support/hostile-minter.js';
import { APP_ORIGIN, KEY_NAME, NAMESPACE, useProxyRig } from '../support/proxy-harness.js';
import { send } from '../support/proxy-http.js';

const CANARY_KEY = 'sk-origin-canary-71c2e0d4-DO-NOT-LEAK';

describe('origin binding at the proxy', () => {
  const rig = useProxyRig('sqlite', CANARY_KEY);

  /** Status and error code of each request, and how many reached the upstream. */
  async function attempt(token: string, origins: (string | undefined)[]) {
    const before = rig.upstream.requests.length;
    const answers = [];
    for (const origin of origins) {
      const res = await send(rig.proxy.url, {
        token,
        ...(origin === undefined ? {} : { headers: { origin } }),
      });
      answers.push({
        origin,
        status: res.status,
        code:
          res.status === 200 ? undefined : (JSON.parse(res.body) as { error: { code: string } }).error.code,
        acao: res.headers['access-control-allow-origin'],
      });
    }
    return { answers, forwarded: rig.upstream.requests.length - before };
  }

  it('refuses (403) a request with no Origin for a token bound to web origins, and never calls the upstream', async () => {
    const token = await rig.world.mint({ origins: [APP_ORIGIN], allowNoOrigin: false });
    expect(await attempt(token, [undefined])).toEqual({
      answers: [{ origin: undefined, status: 403, code: 'origin_not_allowed', acao: undefined }],
      forwarded: 0,
    });
    // The same token from its own origin still works.
    expect(await attempt(token, [APP_ORIGIN])).toEqual({
      answers: [{ origin: APP_ORIGIN, status: 200, code: undefined, acao: APP_ORIGIN }],
      forwarded: 1,
    });
  });

  it('forwards a request with no Origin only for a token minted with --allow-no-origin, without CORS headers', async () => {
    const token = await rig.world.mint({ origins: [APP_ORIGIN], allowNoOrigin: true });
    expect(await attempt(token, [undefined, APP_ORIGIN, 'https://evil.example'])).toEqual({
      answers: [
        { origin: undefined, status: 200, code: undefined, acao: undefined },
        { origin: APP_ORIGIN, status: 200, code: undefined, acao: APP_ORIGIN },
        { origin: 'https://evil.example', status: 403, code: 'origin_not_allowed', acao: undefined },
      ],
      forwarded: 2,
    });
  });

  it('refuses (403) every Origin for a native-only token, which carries no origins', async () => {
    const token = await rig.world.mint({ origins: [], allowNoOrigin: true });
    expect(await attempt(token, [APP_ORIGIN, 'null', undefined])).toEqual({
      answers: [
        { origin: APP_ORIGIN, status: 403, code: 'origin_not_allowed', acao: undefined },
        { origin: 'null', status: 403, code: 'origin_not_allowed', acao: undefined },
        { origin: undefined, status: 200, code: undefined, acao: undefined },
      ],
      forwarded: 1,
    });
  });

  it('refuses (403) Origin null, an empty Origin and the default port written out, even for a native token', async () => {
    const token = await rig.world.mint({ origins: [APP_ORIGIN], allowNoOrigin: true });
    const refused = ['null', '', 'https://app.example.com:443', 'https://app.example.com/'];
    const { answers, forwarded } = await attempt(token, refused);
    expect(answers.map((a) => [a.origin, a.status, a.acao])).toEqual(refused.map((o) => [o, 403, undefined]));
    expect(forwarded).toBe(0);
  });

  it('compares scheme and host ASCII case-insensitively and echoes the Origin as sent', async () => {
    const token = await rig.world.mint({ origins: ['http://localhost:5173'], allowNoOrigin: false });
    expect(await attempt(token, ['HTTP://LocalHost:5173', 'http://localhost:5174'])).toEqual({
      answers: [
        { origin: 'HTTP://LocalHost:5173', status: 200, code: undefined, acao: 'HTTP://LocalHost:5173' },
        { origin: 'http://localhost:5174', status: 403, code: 'origin_not_allowed', acao: undefined },
      ],
      forwarded: 1,
    });
  });

  it('refuses (401) a signed, recorded token with no origins and a no-origin flag that is not exactly true', async () => {
    const store = await rig.world.openTokenStore();
    try {
      const now = Math.floor(Date.now() / 1000);
      for (const over of [
        { origins: [] },
        { origins: [], native: 'true' },
        { origins: ['null'], native: 1 },
      ]) {
        const token = await mintHostile(rig.world.signer, store, claimsAt(now, over, NAMESPACE, KEY_NAME));
        expect({ over, ...(await attempt(token, [undefined, 'null'])) }).toEqual({
          over,
          answers: [
            { origin: undefined, status: 401, code: 'token_invalid', acao: undefined },
            { origin: 'null', status: 401, code: 'token_invalid', acao: undefined },
          ],
          forwarded: 0,
        });
      }
    } finally {
      await store.close();
    }
  });
});
