/**
 * The kill switch and a token's own record (issue 9, item 9; DESIGN: "the kill switch also
 * compares the record's own creation time"). The epoch voids tokens by their `iat`, which the
 * minter chooses; a record, once written, exists, whatever it claims. So the kill switch marks
 * every record that exists when it runs, and the spend reservation every request makes
 * refuses a marked record. Run on the local vault (SQLite) and on DynamoDB Local.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoDbClient } from '../../src/aws/clients.js';
import { DynamoDbTokenStore } from '../../src/tokens/dynamodb-token-store.js';
import { SqliteTokenStore } from '../../src/tokens/sqlite-token-store.js';
import type { TokenStore } from '../../src/tokens/token-store.js';
import { Tokens } from '../../src/tokens/tokens.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import { createTestTable } from '../support/aws.js';
import { claimsAt, mintHostile } from '../support/hostile-minter.js';
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

const YEAR_MS = 365 * 86400_000;
const OTHER_NAMESPACE = 'acme/other';

function killSwitchSuite(backend: 'sqlite' | 'dynamodb') {
  describe(`the kill switch and token records (${backend})`, () => {
    let upstream: FakeUpstream;
    let world: ProxyWorld;
    let proxy: TestProxy;
    let store: TokenStore;
    const stores: TokenStore[] = [];

    beforeAll(async () => {
      upstream = await startFakeUpstream();
      world = await createWorld(backend);
      await world.vault.set(KEY_NAME, Buffer.from('sk-killswitch-test'), { upstream: upstream.url });
      store = await world.openTokenStore();
      stores.push(store);
    });
    afterAll(async () => {
      await proxy?.close();
      for (const s of stores) await s.close();
      await world?.close();
      await upstream?.close();
    });

    /** A fresh namespace per test (the kill switch is per namespace and only moves forward). */
    let counter = 0;
    const freshNamespace = () => `acme/ks${backend === 'sqlite' ? 's' : 'd'}${++counter}`;

    it('marks every record that exists when it runs, and only those, in its own namespace', async () => {
      const ns = freshNamespace();
      const now = Math.floor(Date.now() / 1000);
      // Dated ahead within the skew, and a year ahead: no epoch set now is later than their iat.
      const ahead = claimsAt(now + 25, {}, ns, KEY_NAME);
      const dormant = claimsAt(now + 365 * 86400, {}, ns, KEY_NAME);
      const elsewhere = claimsAt(now + 25, {}, OTHER_NAMESPACE, KEY_NAME);
      const tokens = await Promise.all(
        [ahead, dormant, elsewhere].map((c) => mintHostile(world.signer, store, c)),
      );
      const { tokenDigest } = await import('../../src/tokens/format.js');
      const reserve = (claims: Record<string, unknown>, token: string) =>
        store.reserveSpend(claims.sub as string, claims.jti as string, tokenDigest(token), 1, 100);
      expect(await reserve(ahead, tokens[0]!)).toMatchObject({ ok: true });

      const epoch = await store.killSwitch(ns, now + 1);
      expect(epoch).toBe(now + 1);
      expect(await reserve(ahead, tokens[0]!)).toEqual({ ok: false, reason: 'revoked' });
      expect(await reserve(dormant, tokens[1]!)).toEqual({ ok: false, reason: 'revoked' });
      // Another namespace's kill switch never touches this one.
      expect(await reserve(elsewhere, tokens[2]!)).toMatchObject({ ok: true });

      // A record written after the kill switch is not marked.
      const after = claimsAt(now + 1, {}, ns, KEY_NAME);
      const afterToken = await mintHostile(world.signer, store, after);
      expect(await reserve(after, afterToken)).toMatchObject({ ok: true });
      const listed = await store.listTokens(ns);
      expect(listed.map((t) => [t.id, t.revoked]).sort()).toEqual(
        [
          [ahead.jti, true],
          [dormant.jti, true],
          [after.jti, false],
        ].sort(),
      );
      // A second kill switch marks what is new, and keeps what was marked.
      await store.killSwitch(ns, now + 2);
      expect(await reserve(after, afterToken)).toEqual({ ok: false, reason: 'revoked' });
      expect(await reserve(ahead, tokens[0]!)).toEqual({ ok: false, reason: 'revoked' });
    });

    it('marks all of 40 records (more than one batch of writes)', async () => {
      const ns = freshNamespace();
      const now = Math.floor(Date.now() / 1000);
      const claims = Array.from({ length: 40 }, () => claimsAt(now + 25, {}, ns, KEY_NAME));
      const tokens = await Promise.all(claims.map((c) => mintHostile(world.signer, store, c)));
      await store.killSwitch(ns, now + 1);
      const { tokenDigest } = await import('../../src/tokens/format.js');
      const results = await Promise.all(
        claims.map((c, i) => store.reserveSpend(ns, c.jti as string, tokenDigest(tokens[i]!), 1, 100)),
      );
      expect(results).toEqual(claims.map(() => ({ ok: false, reason: 'revoked' })));
    });

    it('voids a token minted with a future iat (within skew) just before the kill switch', async () => {
      proxy ??= await startTestProxy(world);
      // A minting host whose clock runs 25 s fast: its tokens are dated after a kill switch
      // made a moment later, so the epoch alone (iat < notBefore) would not void them.
      const fastStore = await world.openTokenStore();
      stores.push(fastStore);
      const fast = new Tokens({
        namespace: NAMESPACE,
        signer: world.signer,
        tokens: fastStore,
        secrets: world.secrets,
        actor: 'fast-clock',
        clock: () => Date.now() + 25_000,
      });
      const minted = await fast.mint({
        key: KEY_NAME,
        origins: [APP_ORIGIN],
        ttlSeconds: 600,
        rps: 100,
        spend: 100,
      });
      const call = async (token: string) =>
        (await send(proxy.url, { token, headers: { origin: APP_ORIGIN } })).status;
      expect(await call(minted.token)).toBe(200);
      const { notBefore } = await world.tokens.killSwitch();
      expect(minted.claims.iat).toBeGreaterThanOrEqual(Date.parse(notBefore) / 1000);
      // Refused on the very next request: the mark is on the record the request reserves on.
      const before = upstream.requests.length;
      expect(await call(minted.token)).toBe(401);
      expect(upstream.requests.length).toBe(before);
      expect((await world.tokens.list()).find((t) => t.id === minted.id)?.status).toBe('revoked');
      // A token minted after the kill switch works.
      expect(await call(await world.mint())).toBe(200);
    });

    it('voids a token dated a year ahead and recorded before the kill switch, when its time comes', async () => {
      const dormant = await mintHostile(
        world.signer,
        store,
        claimsAt(Math.floor((Date.now() + YEAR_MS) / 1000), {}, NAMESPACE, KEY_NAME),
      );
      // A proxy a year from now: the token is valid there (its iat, nbf and exp are).
      const later = await startTestProxy(world, { clock: () => Date.now() + YEAR_MS });
      try {
        const call = async () =>
          (await send(later.url, { token: dormant, headers: { origin: APP_ORIGIN } })).status;
        expect(await call()).toBe(200);
        await world.tokens.killSwitch();
        expect(await call()).toBe(401);
      } finally {
        await later.close();
      }
    });

    if (backend === 'sqlite') {
      it('refuses the records of a vault file from before the mark existed (fail closed: mint again)', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'egg-ks-'));
        try {
          const path = join(dir, 'vault.db');
          const old = new DatabaseSync(path);
          // A record from the version before: digest and spend, no mark. An earlier kill switch
          // did not mark it, so whether its token outlived one cannot be told.
          old.exec(`CREATE TABLE tokens (
            namespace TEXT NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, origins TEXT NOT NULL,
            rps INTEGER NOT NULL, burst INTEGER NOT NULL, spend INTEGER NOT NULL, cost INTEGER NOT NULL,
            iat INTEGER NOT NULL, exp INTEGER NOT NULL, tags TEXT NOT NULL, actor TEXT NOT NULL,
            digest TEXT NOT NULL DEFAULT '', spent INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (namespace, id)) STRICT;
            INSERT INTO tokens VALUES ('acme/web', 'AAAAAAAAAAAAAAAAAAAAAA', 'K', '["${APP_ORIGIN}"]', 1, 1, 10, 1,
              4102444800, 4102445400, '{}', 'a', 'd1', 0);`);
          old.close();
          chmodSync(path, 0o600);
          const upgraded = new SqliteTokenStore(path);
          try {
            expect(await upgraded.reserveSpend('acme/web', 'AAAAAAAAAAAAAAAAAAAAAA', 'd1', 1, 10)).toEqual({
              ok: false,
              reason: 'unknown-token',
            });
            expect((await upgraded.listTokens('acme/web'))[0]).toMatchObject({
              revoked: true,
              allowNoOrigin: false,
            });
          } finally {
            await upgraded.close();
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    } else {
      it('refuses a record item from before the mark existed (fail closed: mint again)', async () => {
        const table = await createTestTable('egg-ks-old');
        const client = await createDynamoDbClient();
        const old = new DynamoDbTokenStore({ client, table });
        try {
          const now = Math.floor(Date.now() / 1000);
          // An item as the version before wrote it: digest and spend, no killedAt.
          await client.send(
            new PutItemCommand({
              TableName: table,
              Item: {
                pk: { S: 'tokens#acme/web' },
                sk: { S: 'TK#AAAAAAAAAAAAAAAAAAAAAA' },
                digest: { S: 'd1' },
                spent: { N: '0' },
                key: { S: KEY_NAME },
                origins: { L: [{ S: APP_ORIGIN }] },
                rps: { N: '1' },
                burst: { N: '1' },
                spend: { N: '10' },
                cost: { N: '1' },
                iat: { N: String(now) },
                exp: { N: String(now + 600) },
                tags: { M: {} },
                actor: { S: 'a' },
              },
            }),
          );
          expect(await old.reserveSpend('acme/web', 'AAAAAAAAAAAAAAAAAAAAAA', 'd1', 1, 10)).toEqual({
            ok: false,
            reason: 'unknown-token',
          });
          expect((await old.listTokens('acme/web'))[0]).toMatchObject({ revoked: true, spent: 0 });
        } finally {
          client.destroy();
        }
      });
    }
  });
}

killSwitchSuite('sqlite');
killSwitchSuite('dynamodb');
