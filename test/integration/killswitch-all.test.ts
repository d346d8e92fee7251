/**
 * `egg killswitch --all` (issue 10 item 5): an account-wide epoch every proxy reads with its
 * polls, then each listed namespace's own kill switch (which also marks its records). Run
 * on the local vault (SQLite) and on DynamoDB Local, with a running proxy serving tokens of
 * two namespaces.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EggError } from '../../src/errors.js';
import { RevocationWatcher } from '../../src/proxy/revocation.js';
import { killSwitchAll } from '../../src/tokens/kill-switch-all.js';
import type { TokenStore } from '../../src/tokens/token-store.js';
import { Tokens } from '../../src/tokens/tokens.js';
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

const OTHER = 'acme/api';

function killSwitchAllSuite(backend: 'sqlite' | 'dynamodb') {
  describe(`egg killswitch --all (${backend})`, () => {
    let upstream: FakeUpstream;
    let world: ProxyWorld;
    let proxy: TestProxy;
    let store: TokenStore;
    let other: Tokens;

    beforeAll(async () => {
      upstream = await startFakeUpstream();
      world = await createWorld(backend);
      await world.vault.set(KEY_NAME, Buffer.from('sk-all-test'), { upstream: upstream.url });
      await world.newVault(OTHER).set(KEY_NAME, Buffer.from('sk-all-other'), { upstream: upstream.url });
      store = await world.openTokenStore();
      other = new Tokens({
        namespace: OTHER,
        signer: world.signer,
        tokens: store,
        secrets: world.secrets,
        actor: 'test',
      });
      proxy = await startTestProxy(world);
    });
    afterAll(async () => {
      await proxy?.close();
      await store?.close();
      await world?.close();
      await upstream?.close();
    });

    const tokensIn = async (namespace: string) =>
      namespace === NAMESPACE
        ? world.tokens
        : namespace === OTHER
          ? other
          : new Tokens({
              namespace,
              signer: world.signer,
              tokens: store,
              secrets: world.secrets,
              actor: 'test',
            });
    const mintIn = async (tokens: Tokens) =>
      (
        await tokens.mint({
          key: KEY_NAME,
          origins: [APP_ORIGIN],
          allowNoOrigin: true,
          ttlSeconds: 600,
          rps: 100,
          spend: 1000,
        })
      ).token;
    const call = async (token: string) => (await send(proxy.url, { token })).status;
    /** Until the running proxy refuses `token` (its next poll), bounded: the order is what is asserted. */
    const refusedSoon = async (token: string) => {
      const deadline = Date.now() + 10_000;
      let status = await call(token);
      while (status !== 401 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        status = await call(token);
      }
      return status;
    };

    it('voids the tokens of both namespaces at a running proxy, marks each, and reports each', async () => {
      const web = await mintIn(world.tokens);
      const api = await mintIn(other);
      expect([await call(web), await call(api)]).toEqual([200, 200]);
      const before = upstream.requests.length;
      const result = await killSwitchAll({
        tokens: store,
        listNamespaces: async () => (await world.secrets.listNamespaces()).map((n) => n.namespace),
        tokensIn,
      });
      expect(result.namespaces.map((n) => [n.namespace, n.ok])).toEqual([
        [OTHER, true],
        [NAMESPACE, true],
      ]);
      expect(result.unlisted).toBeUndefined();
      // Marked records: refused from the very next request, no poll needed.
      expect([await call(web), await call(api)]).toEqual([401, 401]);
      expect(upstream.requests.length).toBe(before);
      for (const tokens of [world.tokens, other])
        expect((await tokens.list()).map((t) => t.status)).not.toContain('active');
      expect((await world.secrets.readAudit(OTHER)).at(-1)).toMatchObject({ action: 'token.killswitch' });
      // Tokens minted afterwards, in both namespaces, work at once.
      expect([await call(await mintIn(world.tokens)), await call(await mintIn(other))]).toEqual([200, 200]);
    });

    it('voids every namespace by the account epoch alone when the namespaces cannot be listed', async () => {
      const web = await mintIn(world.tokens);
      const api = await mintIn(other);
      expect([await call(web), await call(api)]).toEqual([200, 200]);
      // A role confined by dynamodb:LeadingKeys may not Scan: no record is marked.
      const denied = new EggError('ERR_ACCESS_DENIED', 'access denied: dynamodb:Scan');
      const result = await killSwitchAll({
        tokens: store,
        listNamespaces: async () => {
          throw denied;
        },
        tokensIn,
      });
      expect(result).toMatchObject({ namespaces: [], unlisted: 'access denied: dynamodb:Scan' });
      // The records are unmarked, so it is the proxy's poll of the account head that refuses them.
      expect([await refusedSoon(web), await refusedSoon(api)]).toEqual([401, 401]);
      expect((await world.tokens.list()).map((t) => t.status)).not.toContain('active');
      // A token minted in the same second is dated at the epoch: valid at once.
      expect(await call(await mintIn(other))).toBe(200);
    });

    it('voids a token dated at a namespace kill switch epoch by an account kill switch in the same second', async () => {
      // One second for everything, ahead of every epoch the other tests moved: a namespace's
      // kill switch (epoch s+1), a token minted after it (dated at s+1), then the account's
      // kill switch in that same second, with no namespace listed and so no record marked.
      const at = (Math.floor(Date.now() / 1000) + 3600) * 1000 + 100;
      const namespace = 'acme/same-second';
      await world
        .newVault(namespace)
        .set(KEY_NAME, Buffer.from('sk-same-second'), { upstream: upstream.url });
      const tokens = new Tokens({
        namespace,
        signer: world.signer,
        tokens: store,
        secrets: world.secrets,
        actor: 'test',
        clock: () => at,
      });
      await tokens.killSwitch();
      const minted = await tokens.mint({
        key: KEY_NAME,
        origins: [APP_ORIGIN],
        allowNoOrigin: true,
        ttlSeconds: 600,
        rps: 100,
        spend: 1000,
      });
      const [record] = await tokens.list();
      expect(record?.status).toBe('active');
      await killSwitchAll({
        tokens: store,
        listNamespaces: async () => {
          throw new EggError('ERR_ACCESS_DENIED', 'access denied: dynamodb:Scan');
        },
        tokensIn,
        clock: () => at,
      });
      expect((await tokens.list()).map((t) => [t.id, t.status])).toEqual([[minted.id, 'revoked']]);
      // What every proxy checks: the token's iat against the account head it polls.
      const watcher = new RevocationWatcher({ store });
      try {
        expect(await watcher.check({ jti: minted.id, sub: namespace, iat: Math.floor(at / 1000) + 1 })).toBe(
          'revoked',
        );
      } finally {
        watcher.close();
      }
    });

    it('reports a namespace whose kill switch failed, and still kills the others', async () => {
      const api = await mintIn(other);
      const result = await killSwitchAll({
        tokens: store,
        listNamespaces: async () => [NAMESPACE, OTHER],
        tokensIn: async (namespace) =>
          namespace === NAMESPACE
            ? {
                killSwitch: () => {
                  throw new EggError('ERR_STORE_UNAVAILABLE', 'the store is down (test)', {
                    hint: 'try again',
                  });
                },
              }
            : other,
      });
      expect(result.namespaces).toEqual([
        { namespace: NAMESPACE, ok: false, error: 'the store is down (test) (try again)' },
        {
          namespace: OTHER,
          ok: true,
          notBefore: result.namespaces[1]?.ok === true ? result.namespaces[1].notBefore : '',
        },
      ]);
      expect(await call(api)).toBe(401);
    });
  });
}

killSwitchAllSuite('sqlite');
killSwitchAllSuite('dynamodb');
