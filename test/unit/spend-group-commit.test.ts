/**
 * The SQLite token store commits the spend reservations of one event-loop turn together
 * (group commit): the proxy's CPU per request at load (issue 9's bench targets). Each
 * reservation is still its own conditional UPDATE, so the cap stays exact; a batch that
 * cannot take the vault's lock waits without blocking and then commits whole or not at all.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteTokenStore } from '../../src/tokens/sqlite-token-store.js';
import type { TokenRecord } from '../../src/tokens/token-store.js';

const NS = 'acme/web';
const A = 'AAAAAAAAAAAAAAAAAAAAAA';
const B = 'BBBBBBBBBBBBBBBBBBBBBB';

function record(id: string, digest: string, spend: number): TokenRecord {
  return {
    id,
    digest,
    namespace: NS,
    key: 'OPENAI_KEY',
    origins: ['https://app.example.com'],
    rps: 10,
    burst: 10,
    spend,
    cost: 1,
    iat: 1_900_000_000,
    exp: 1_900_000_600,
    tags: {},
    actor: 'test',
    allowNoOrigin: false,
  };
}

describe('spend reservations in one turn share one write transaction', () => {
  let dir: string;
  let path: string;
  let store: SqliteTokenStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'egg-group-commit-'));
    path = join(dir, 'vault.db');
    store = new SqliteTokenStore(path, { lockWaitMs: 200 });
    await store.putToken(record(A, 'da', 10));
    await store.putToken(record(B, 'db', 1000));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const spent = async (id: string) => (await store.listTokens(NS)).find((t) => t.id === id)?.spent;

  it("settles a priced request's real cost in the turn's batch: past the cap when charged, no give-back below 0, only on its own record", async () => {
    // Reserved 6 of 10, then the answer reported 13: charged past the cap, and refused after.
    expect(await store.reserveSpend(NS, A, 'da', 6, 10)).toEqual({ ok: true });
    const [, settled, after] = await Promise.all([
      store.reserveSpend(NS, A, 'da', 1, 10),
      store.adjustSpend(NS, A, 'da', 7),
      store.reserveSpend(NS, A, 'da', 1, 10),
    ]);
    expect(settled).toBeUndefined();
    expect(after).toEqual({ ok: false, reason: 'spend-cap', spent: 14 });
    // A give-back larger than the counter changes nothing (as DynamoDB's condition); one within it does.
    await store.adjustSpend(NS, A, 'da', -100);
    expect(await spent(A)).toBe(14);
    await store.adjustSpend(NS, A, 'da', -14);
    expect(await spent(A)).toBe(0);
    // Another digest or namespace changes nothing.
    await store.adjustSpend(NS, B, 'not-its-digest', 50);
    await store.adjustSpend('acme/other', B, 'db', 50);
    expect(await spent(B)).toBe(0);
  });

  it('grants exactly the cap when 300 reservations for one token arrive in the same turn', async () => {
    const results = await Promise.all(
      Array.from({ length: 300 }, () => store.reserveSpend(NS, A, 'da', 1, 10)),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    expect(results.filter((r) => !r.ok && r.reason === 'spend-cap')).toHaveLength(290);
    expect(await spent(A)).toBe(10);
  });

  it('answers each reservation of a mixed batch for itself: granted, at the cap, another digest, another namespace', async () => {
    const [granted, capped, forged, elsewhere, other] = await Promise.all([
      store.reserveSpend(NS, A, 'da', 10, 10),
      store.reserveSpend(NS, A, 'da', 1, 10),
      store.reserveSpend(NS, B, 'not-its-digest', 1, 1000),
      store.reserveSpend('acme/other', B, 'db', 1, 1000),
      store.reserveSpend(NS, B, 'db', 7, 1000),
    ]);
    expect(granted).toEqual({ ok: true });
    expect(capped).toEqual({ ok: false, reason: 'spend-cap', spent: 10 });
    expect(forged).toEqual({ ok: false, reason: 'unknown-token' });
    expect(elsewhere).toEqual({ ok: false, reason: 'unknown-token' });
    expect(other).toEqual({ ok: true });
    expect(await spent(B)).toBe(7);
  });

  it('refuses a batch made after the kill switch marked the record, in the same turn as one made before', async () => {
    expect(await store.reserveSpend(NS, B, 'db', 1, 1000)).toEqual({ ok: true });
    await store.killSwitch(NS, 1_900_000_001);
    const results = await Promise.all([1, 2, 3].map(() => store.reserveSpend(NS, B, 'db', 1, 1000)));
    expect(results).toEqual([1, 2, 3].map(() => ({ ok: false, reason: 'revoked' })));
    expect(await spent(B)).toBe(1);
  });

  it('waits for a vault another connection holds locked without holding the event loop, then commits the batch', async () => {
    const other = new DatabaseSync(path);
    other.exec('BEGIN IMMEDIATE');
    const order: string[] = [];
    const pending = Promise.all([1, 2, 3].map(() => store.reserveSpend(NS, B, 'db', 2, 1000))).then((r) => {
      order.push('committed');
      return r;
    });
    // A timer set after the reservations fires while they wait for the lock: the loop is free.
    await new Promise((resolve) => setTimeout(resolve, 20));
    order.push('timer');
    other.exec('COMMIT');
    other.close();
    expect(await pending).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    expect(order).toEqual(['timer', 'committed']);
    expect(await spent(B)).toBe(6);
  });

  it('fails every reservation of a batch that cannot take the lock with ERR_STORE_UNAVAILABLE, and spends nothing', async () => {
    const other = new DatabaseSync(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      const settled = await Promise.allSettled([1, 2].map(() => store.reserveSpend(NS, B, 'db', 5, 1000)));
      for (const s of settled) {
        expect(s.status).toBe('rejected');
        expect((s as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      }
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(await spent(B)).toBe(0);
    // The next turn's batch is a batch of its own, and commits.
    expect(await store.reserveSpend(NS, B, 'db', 5, 1000)).toEqual({ ok: true });
  });

  it('refuses a reservation once vault.db is replaced under the store, instead of writing spend no other process sees', async () => {
    expect(await store.reserveSpend(NS, B, 'db', 1, 1000)).toEqual({ ok: true });
    rmSync(path);
    new DatabaseSync(path).close();
    // Past the store's 10 ms between file checks.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(store.reserveSpend(NS, B, 'db', 1, 1000)).rejects.toThrow(/vault\.db was replaced/);
    // For good: the store does not come back to life.
    await expect(store.reserveSpend(NS, B, 'db', 1, 1000)).rejects.toThrow(/vault\.db was replaced/);
  });
});
