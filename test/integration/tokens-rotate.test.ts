/**
 * `egg tokens rotate` (issue 10 item 5): a successor with the same claims works at once, the
 * old token keeps working through the grace and is refused after it, by every proxy's own
 * clock (nothing has to stay running), and at once with no grace. Run on the local vault
 * (SQLite) and on DynamoDB Local. The grace's end is reached by moving a proxy's clock, so
 * nothing here waits for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenStore } from '../../src/tokens/token-store.js';
import type { MintedToken } from '../../src/tokens/tokens.js';
import { APP_ORIGIN, KEY_NAME, NAMESPACE, startTestProxy, useProxyRig } from '../support/proxy-harness.js';
import { send } from '../support/proxy-http.js';

function rotateSuite(backend: 'sqlite' | 'dynamodb') {
  describe(`egg tokens rotate (${backend})`, () => {
    const rig = useProxyRig(backend, 'sk-rotate-test');
    const { call, advance } = rig;
    let store: TokenStore;

    beforeAll(async () => {
      store = await rig.world.openTokenStore();
    });
    afterAll(async () => {
      await store?.close();
    });

    const mint = (
      tags: Record<string, string> = {},
      clients: { maxClients?: number; clientRps?: number } = {},
    ): Promise<MintedToken> =>
      rig.world.tokens.mint({
        key: KEY_NAME,
        origins: [APP_ORIGIN],
        ttlSeconds: 3600,
        rps: 50,
        burst: 60,
        spend: 500,
        cost: 2,
        ...clients,
        tags,
      });
    it('mints a successor with the same claims and tags, a fresh id and the full lifetime', async () => {
      const old = await mint({ run: '41' });
      const rotated = await rig.world.tokens.rotate(old.id, 300);
      const { successor } = rotated;
      expect(successor.id).not.toBe(old.id);
      expect(successor.token).not.toBe(old.token);
      const same = ({ key, origins, rps, burst, spend, cost, tags, sub }: MintedToken['claims']) => ({
        key,
        origins,
        rps,
        burst,
        spend,
        cost,
        tags,
        sub,
      });
      expect(same(successor.claims)).toEqual(same(old.claims));
      expect(successor.claims.exp - successor.claims.iat).toBe(old.claims.exp - old.claims.iat);
      expect(rotated.id).toBe(old.id);
      expect(Date.parse(rotated.stopsAt) / 1000 - successor.claims.iat).toBeGreaterThanOrEqual(300);
      const listed = await rig.world.tokens.list();
      expect(listed.find((t) => t.id === old.id)).toMatchObject({
        status: 'active',
        revokesAt: rotated.stopsAt,
      });
      expect(listed.find((t) => t.id === successor.id)).toMatchObject({ status: 'active', spent: 0 });
      expect(listed.find((t) => t.id === successor.id)?.revokesAt).toBeUndefined();
    });

    it('a successor keeps the client limits of the token it replaces', async () => {
      const old = await mint({}, { maxClients: 3, clientRps: 2 });
      const { successor } = await rig.world.tokens.rotate(old.id, 0);
      expect([successor.claims.maxClients, successor.claims.clientRps]).toEqual([3, 2]);
      expect((await rig.world.tokens.list()).find((t) => t.id === successor.id)).toMatchObject({
        maxClients: 3,
        clientRps: 2,
      });
      const plain = await rig.world.tokens.rotate((await mint()).id, 0);
      expect(plain.successor.claims).not.toHaveProperty('maxClients');
    });

    it('the successor works at once, the old token through the grace, and is refused after it', async () => {
      const old = await mint();
      expect(await call(old.token)).toBe(200);
      const { successor } = await rig.world.tokens.rotate(old.id, 300);
      await rig.proxy.watcher.pollNow();
      expect(await call(successor.token)).toBe(200);
      expect(await call(old.token)).toBe(200);
      await advance(240);
      expect(await call(old.token)).toBe(200);
      await advance(61);
      const before = rig.upstream.requests.length;
      expect(await call(old.token)).toBe(401);
      expect(rig.upstream.requests.length).toBe(before);
      expect(await call(successor.token)).toBe(200);
      // The minting side's clock has not moved: it still lists the old token as on its way out.
      expect((await rig.world.tokens.list()).find((t) => t.id === old.id)?.status).toBe('active');
    });

    it('with --grace 0 the old token is refused at once, and the successor works', async () => {
      const old = await mint();
      expect(await call(old.token)).toBe(200);
      const rotated = await rig.world.tokens.rotate(old.id, 0);
      await rig.proxy.watcher.pollNow();
      expect(await call(old.token)).toBe(401);
      expect(await call(rotated.successor.token)).toBe(200);
      expect((await rig.world.tokens.list()).find((t) => t.id === old.id)?.status).toBe('revoked');
    });

    it('a revocation during the grace stops the old token at once (a grace never postpones one)', async () => {
      const old = await mint();
      await rig.world.tokens.rotate(old.id, 3600);
      await rig.world.tokens.revoke([old.id]);
      // A later scheduled entry for the same id (a rotation racing the revoke) moves nothing.
      await store.revoke(NAMESPACE, [{ id: old.id, exp: old.claims.exp, at: old.claims.exp }]);
      await rig.proxy.watcher.pollNow();
      expect(await call(old.token)).toBe(401);
      expect((await rig.world.tokens.list()).find((t) => t.id === old.id)).toMatchObject({
        status: 'revoked',
      });
    });

    it('a proxy that is polling sees a rotation without being asked', async () => {
      const watching = await startTestProxy(rig.world);
      try {
        const old = await mint();
        const at = async (token: string) =>
          (await send(watching.url, { token, headers: { origin: APP_ORIGIN } })).status;
        expect(await at(old.token)).toBe(200);
        const { successor } = await rig.world.tokens.rotate(old.id, 0);
        expect(await at(successor.token)).toBe(200);
        const seen: number[] = [];
        const deadline = Date.now() + 10_000;
        while (seen.at(-1) !== 401 && Date.now() < deadline) {
          seen.push(await at(old.token));
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(seen.at(-1)).toBe(401);
        expect(new Set(seen)).toEqual(new Set(seen.includes(200) ? [200, 401] : [401]));
      } finally {
        await watching.close();
      }
    });

    it('refuses an unknown, revoked, expired or already rotated id in one sentence', async () => {
      const unknown = 'AAAAAAAAAAAAAAAAAAAAAA';
      await expect(rig.world.tokens.rotate(unknown, 300)).rejects.toMatchObject({
        code: 'ERR_TOKEN_NOT_FOUND',
        message: `no token ${unknown} was minted in ${NAMESPACE}`,
      });
      const revoked = await mint();
      await rig.world.tokens.revoke([revoked.id]);
      await expect(rig.world.tokens.rotate(revoked.id, 300)).rejects.toMatchObject({
        code: 'ERR_TOKEN_NOT_ACTIVE',
        message: `token ${revoked.id} is revoked, so there is nothing to rotate`,
      });
      const short = await rig.world.tokens.mint({
        key: KEY_NAME,
        origins: [APP_ORIGIN],
        ttlSeconds: 1,
        rps: 1,
        spend: 1,
      });
      const expired = new (await import('../../src/tokens/tokens.js')).Tokens({
        namespace: NAMESPACE,
        signer: rig.world.signer,
        tokens: store,
        secrets: rig.world.secrets,
        actor: 'later',
        clock: () => Date.now() + 5000,
      });
      await expect(expired.rotate(short.id, 300)).rejects.toMatchObject({
        code: 'ERR_TOKEN_NOT_ACTIVE',
        message: `token ${short.id} is expired, so there is nothing to rotate`,
      });
      const rotated = await mint();
      const { stopsAt } = await rig.world.tokens.rotate(rotated.id, 300);
      await expect(rig.world.tokens.rotate(rotated.id, 300)).rejects.toMatchObject({
        code: 'ERR_TOKEN_NOT_ACTIVE',
        message: `token ${rotated.id} is already being revoked (at ${stopsAt})`,
      });
      await expect(rig.world.tokens.rotate('not-an-id', 300)).rejects.toMatchObject({ code: 'ERR_USAGE' });
    });

    it('records the rotation in the audit trail, by ids (never tokens)', async () => {
      const old = await mint();
      const { successor } = await rig.world.tokens.rotate(old.id, 60);
      const records = await rig.world.secrets.readAudit(NAMESPACE);
      const actions = records.slice(-2).map((r) => [r.action, r.targets]);
      expect(actions).toEqual([
        ['token.mint', [successor.id]],
        ['token.rotate', [old.id, successor.id]],
      ]);
      expect(JSON.stringify(records)).not.toContain(successor.token);
    });
  });
}

rotateSuite('sqlite');
rotateSuite('dynamodb');

describe('a vault file from before scheduled revocations', () => {
  it('keeps its revocations in force at once after the column is added', async () => {
    const { mkdtempSync, rmSync, chmodSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { DatabaseSync } = await import('node:sqlite');
    const { SqliteTokenStore } = await import('../../src/tokens/sqlite-token-store.js');
    const dir = mkdtempSync(join(tmpdir(), 'egg-rot-'));
    try {
      const path = join(dir, 'vault.db');
      const old = new DatabaseSync(path);
      old.exec(`CREATE TABLE token_revocations (
        namespace TEXT NOT NULL, id TEXT NOT NULL, exp INTEGER NOT NULL, PRIMARY KEY (namespace, id)) STRICT;
        INSERT INTO token_revocations VALUES ('acme/web', 'AAAAAAAAAAAAAAAAAAAAAA', 4102444800);`);
      old.close();
      chmodSync(path, 0o600);
      const upgraded = new SqliteTokenStore(path);
      try {
        const state = await upgraded.revocationState('acme/web');
        expect(state.revoked).toEqual(new Map([['AAAAAAAAAAAAAAAAAAAAAA', 4102444800]]));
        expect(state.revokeAt).toBeUndefined();
      } finally {
        await upgraded.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
