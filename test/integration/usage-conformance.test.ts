/**
 * One conformance suite for the usage port (usage-store.ts) over both token stores: SQLite
 * (the vault file) and DynamoDB (DynamoDB Local). Counters from two connections (two proxies)
 * add up, ids nobody minted add nothing, the baseline is the hour before, a throttle is set
 * once per anomaly and reaches the revocation state with a version bump, and channels and
 * alerts round-trip. DynamoDB's cost per batch follows at the end.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallCounter, createDynamoDbClient } from '../../src/aws/clients.js';
import { DynamoDbTokenStore } from '../../src/tokens/dynamodb-token-store.js';
import { SqliteTokenStore } from '../../src/tokens/sqlite-token-store.js';
import type { TokenRecord, TokenStore } from '../../src/tokens/token-store.js';
import {
  emptyCounts,
  type UsageCounts,
  type UsageStore,
  type UsageWindow,
} from '../../src/tokens/usage-store.js';
import { createTestTable } from '../support/aws.js';

type Store = TokenStore & UsageStore;

interface Harness {
  /** Another connection to the same data (another proxy). */
  open(): Promise<Store>;
  cleanup(): Promise<void>;
}

let nsCounter = 0;
const freshNamespace = () => `u${++nsCounter}-${randomBytes(3).toString('hex')}/web`;
/** A window well in the past, so no test depends on the clock. */
const T0 = 1_800_000_000 - (1_800_000_000 % 60);

function record(namespace: string, over: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id: randomBytes(16).toString('base64url'),
    digest: randomBytes(32).toString('base64url'),
    namespace,
    key: 'OPENAI_API_KEY',
    origins: ['https://app.example.com'],
    rps: 20,
    burst: 40,
    spend: 1000,
    cost: 1,
    iat: T0 - 600,
    exp: T0 + 3000,
    tags: {},
    actor: 'user:test',
    allowNoOrigin: false,
    ...over,
  };
}

const delta = (namespace: string, id: string, window: number, counts: Partial<UsageCounts>): UsageWindow => ({
  namespace,
  id,
  window,
  ...emptyCounts(),
  ...counts,
});

function conformance(name: string, setup: () => Promise<Harness>) {
  describe(`UsageStore conformance: ${name}`, () => {
    let harness: Harness;
    let store: Store;
    let other: Store;
    beforeAll(async () => {
      harness = await setup();
      store = await harness.open();
      other = await harness.open();
    });
    afterAll(async () => {
      await store?.close();
      await other?.close();
      await harness?.cleanup();
    });

    it('adds batches from two proxies into one window, and answers with the totals and the record', async () => {
      const ns = freshNamespace();
      const r = record(ns);
      await store.putToken(r);
      const first = await store.addUsage([
        delta(ns, r.id, T0, { requests: 5, clientErrors: 1, spend: 5, bytesIn: 100, bytesOut: 900 }),
      ]);
      expect(first).toEqual([
        {
          namespace: ns,
          id: r.id,
          window: T0,
          counts: { ...emptyCounts(), requests: 5, clientErrors: 1, spend: 5, bytesIn: 100, bytesOut: 900 },
          baseline: { windows: 0, requests: 0 },
          rps: 20,
          cap: 1000,
          spent: 0,
          exp: T0 + 3000,
        },
      ]);
      const second = await other.addUsage([delta(ns, r.id, T0, { requests: 3, invalidToken: 2 })]);
      expect(second[0]?.counts).toEqual({
        ...emptyCounts(),
        requests: 8,
        clientErrors: 1,
        invalidToken: 2,
        spend: 5,
        bytesIn: 100,
        bytesOut: 900,
      });
    });

    it("joins two proxies' client addresses into one set per window, and gives it back only when asked", async () => {
      const ns = freshNamespace();
      const r = record(ns, { maxClients: 3 });
      await store.putToken(r);
      const withClients = (clients: string[], window = T0): UsageWindow => ({
        ...delta(ns, r.id, window, { requests: 1 }),
        clients,
      });
      expect((await store.addUsage([withClients(['cA', 'cB'])]))[0]?.clients).toEqual(['cA', 'cB']);
      // The other proxy adds one it shares and one of its own: each address once.
      expect((await other.addUsage([withClients(['cB', 'cC'])]))[0]?.clients).toEqual(['cA', 'cB', 'cC']);
      // No new addresses: the set is read back, unchanged.
      expect((await store.addUsage([withClients([])]))[0]?.clients).toEqual(['cA', 'cB', 'cC']);
      // Another window has a set of its own; a delta without `clients` gets none back.
      expect((await store.addUsage([withClients(['cD'], T0 + 60)]))[0]?.clients).toEqual(['cD']);
      const [plain] = await store.addUsage([delta(ns, r.id, T0, { requests: 1 })]);
      expect(plain).not.toHaveProperty('clients');
      expect(plain?.counts.requests).toBe(4);
    });

    it('counts nothing for an id nobody minted in the namespace, however many requests name it', async () => {
      const ns = freshNamespace();
      const elsewhere = record(freshNamespace());
      await store.putToken(elsewhere);
      const made = randomBytes(16).toString('base64url');
      const totals = await store.addUsage([
        delta(ns, made, T0, { invalidToken: 500 }),
        // A real id, but of another namespace: not this namespace's token.
        delta(ns, elsewhere.id, T0, { invalidToken: 500 }),
      ]);
      expect(totals).toEqual([]);
      expect(await store.readUsage(ns, [], T0 - 3600)).toEqual([]);
      expect(await store.readUsage(elsewhere.namespace, [], T0 - 3600)).toEqual([]);
    });

    it('gives the hour before the window as the baseline: active windows and their requests', async () => {
      const ns = freshNamespace();
      const r = record(ns);
      await store.putToken(r);
      await store.addUsage([
        delta(ns, r.id, T0 - 3660, { requests: 1000 }), // more than an hour before: not counted
        delta(ns, r.id, T0 - 3600, { requests: 10 }),
        delta(ns, r.id, T0 - 600, { requests: 20 }),
        delta(ns, r.id, T0 - 300, { invalidToken: 4 }), // no requests: not an active window
        delta(ns, r.id, T0 - 60, { requests: 30 }),
      ]);
      const [totals] = await other.addUsage([delta(ns, r.id, T0, { requests: 1 })]);
      expect(totals?.baseline).toEqual({ windows: 3, requests: 60 });
    });

    it('reads the windows of the ids asked (or all) since a time, ordered by id then window', async () => {
      const ns = freshNamespace();
      const [a, b, c] = [record(ns, { id: 'aaaa' }), record(ns, { id: 'bbbb' }), record(ns, { id: 'cccc' })];
      for (const r of [a, b, c]) await store.putToken(r);
      await store.addUsage([
        delta(ns, b.id, T0 - 120, { requests: 1 }),
        delta(ns, a.id, T0, { requests: 2 }),
        delta(ns, b.id, T0, { requests: 3 }),
        delta(ns, c.id, T0 - 60, { requests: 4 }),
        delta(ns, a.id, T0 - 7200, { requests: 5 }),
      ]);
      const summary = (windows: UsageWindow[]) => windows.map((w) => [w.id, w.window, w.requests]);
      expect(summary(await store.readUsage(ns, [], T0 - 150))).toEqual([
        ['aaaa', T0, 2],
        ['bbbb', T0 - 120, 1],
        ['bbbb', T0, 3],
        ['cccc', T0 - 60, 4],
      ]);
      // `since` inside a window includes that window.
      expect(summary(await other.readUsage(ns, ['cccc', 'bbbb'], T0 - 30))).toEqual([
        ['bbbb', T0, 3],
        ['cccc', T0 - 60, 4],
      ]);
      expect(summary(await other.readUsage(ns, ['aaaa'], T0 - 7200))).toEqual([
        ['aaaa', T0 - 7200, 5],
        ['aaaa', T0, 2],
      ]);
    });

    it('sets a throttle once while it is in force, and every reader of the revocation state sees it', async () => {
      const ns = freshNamespace();
      const r = record(ns);
      await store.putToken(r);
      const before = await store.revocationVersion(ns);
      const throttle = { rule: 'rate-spike', rps: 2, since: T0, until: T0 + 900 };
      const [one, two] = await Promise.all([
        store.setThrottle(ns, r.id, throttle),
        other.setThrottle(ns, r.id, { ...throttle, rule: 'refusal-burst' }),
      ]);
      // Two proxies saw the anomaly at once: exactly one set it (and raises the alert).
      expect([one, two].sort()).toEqual([false, true]);
      const after = await other.revocationVersion(ns);
      expect(after.version).toBeGreaterThan(before.version);
      const state = await other.revocationState(ns);
      expect(state.throttles?.get(r.id)?.until).toBe(T0 + 900);
      expect([...(await store.throttles(ns)).keys()]).toEqual([r.id]);
      // Still in force later on: no second throttle; once it ended, a new one may be set.
      expect(await store.setThrottle(ns, r.id, { ...throttle, since: T0 + 899 })).toBe(false);
      expect(await store.setThrottle(ns, r.id, { ...throttle, since: T0 + 900, until: T0 + 1800 })).toBe(
        true,
      );
      expect((await other.throttles(ns)).get(r.id)).toEqual({
        rule: 'rate-spike',
        rps: 2,
        since: T0 + 900,
        until: T0 + 1800,
      });
    });

    it('lifts a throttle in force (bumping the version) and nothing else', async () => {
      const ns = freshNamespace();
      const r = record(ns);
      await store.putToken(r);
      await store.setThrottle(ns, r.id, { rule: 'spend-velocity', rps: 1, since: T0, until: T0 + 900 });
      const before = await store.revocationVersion(ns);
      expect(await other.liftThrottle(ns, r.id, T0 + 10)).toBe(true);
      expect((await store.revocationVersion(ns)).version).toBeGreaterThan(before.version);
      expect((await store.throttles(ns)).get(r.id)?.until).toBe(T0 + 10);
      expect(await other.liftThrottle(ns, r.id, T0 + 20)).toBe(false);
      // A token never throttled: nothing to lift, and nothing created.
      expect(await other.liftThrottle(ns, 'never-throttled', T0)).toBe(false);
      expect([...(await store.throttles(ns)).keys()]).toEqual([r.id]);
    });

    it('keeps alert channels per namespace, oldest first, and alerts newest first up to the limit', async () => {
      const ns = freshNamespace();
      const channel = (id: string, createdAt: string) => ({
        namespace: ns,
        id,
        kind: 'webhook' as const,
        url: `https://hooks.example.com/${id}`,
        sealed: `{"sealed":"${id}"}`,
        createdAt,
      });
      // A channel with no secret (SNS, EventBridge) keeps its kind and target, and is removed as a webhook is.
      const topic = {
        namespace: ns,
        id: 'sns_1',
        kind: 'sns' as const,
        url: 'arn:aws:sns:eu-west-1:123456789012:egg-alerts',
        sealed: '',
        createdAt: '2026-01-01T00:00:03.000Z',
      };
      await store.putAlertChannel(channel('wh_2', '2026-01-01T00:00:02.000Z'));
      await store.putAlertChannel(channel('wh_1', '2026-01-01T00:00:01.000Z'));
      await store.putAlertChannel({ ...channel('sl_1', '2026-01-01T00:00:02.500Z'), kind: 'slack' });
      await store.putAlertChannel(topic);
      expect(await other.alertChannels(ns)).toEqual([
        channel('wh_1', '2026-01-01T00:00:01.000Z'),
        channel('wh_2', '2026-01-01T00:00:02.000Z'),
        { ...channel('sl_1', '2026-01-01T00:00:02.500Z'), kind: 'slack' },
        topic,
      ]);
      expect(await other.removeAlertChannel(ns, 'sl_1')).toBe(true);
      expect(await store.removeAlertChannel(ns, 'sns_1')).toBe(true);
      expect(await store.removeAlertChannel(ns, 'sns_1')).toBe(false);
      expect(await other.alertChannels(freshNamespace())).toEqual([]);

      const alert = (n: number) => ({
        namespace: ns,
        id: `00000000-0000-4000-8000-00000000000${n}`,
        tokenId: `tok${n}`,
        rule: 'refusal-burst',
        figures: { invalidToken: 20 + n, threshold: 20 },
        time: `2026-01-01T00:0${n}:00.000Z`,
      });
      // Removed: gone from the list, its sealed secret with it, and a second removal finds nothing.
      expect(await other.removeAlertChannel(ns, 'wh_2')).toBe(true);
      expect(await store.alertChannels(ns)).toEqual([channel('wh_1', '2026-01-01T00:00:01.000Z')]);
      expect(await store.removeAlertChannel(ns, 'wh_2')).toBe(false);
      expect(await store.removeAlertChannel(ns, 'wh_never')).toBe(false);
      expect(await store.alertChannels(ns)).toEqual([channel('wh_1', '2026-01-01T00:00:01.000Z')]);

      for (const n of [1, 3, 2]) await store.recordAlert(alert(n));
      expect(await other.alerts(ns, 2)).toEqual([alert(3), alert(2)]);
      expect(await other.alerts(ns, 10)).toEqual([alert(3), alert(2), alert(1)]);
    });

    it('keeps rule overrides per namespace, replaced whole', async () => {
      const [ns, elsewhere] = [freshNamespace(), freshNamespace()];
      expect(await store.ruleOverrides(ns)).toEqual({});
      const first = {
        'refusal-burst': { settings: { threshold: 50 } },
        'rate-spike': { off: true as const },
      };
      await store.putRuleOverrides(ns, first);
      expect(await other.ruleOverrides(ns)).toEqual(first);
      await other.putRuleOverrides(ns, { throttle: { settings: { seconds: 60 } } });
      expect(await store.ruleOverrides(ns)).toEqual({ throttle: { settings: { seconds: 60 } } });
      expect(await store.ruleOverrides(elsewhere)).toEqual({});
    });
  });
}

conformance('SqliteTokenStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'egg-usage-conformance-'));
  const path = join(dir, 'vault.db');
  return {
    open: async () => new SqliteTokenStore(path),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

conformance('DynamoDbTokenStore', async () => {
  const table = await createTestTable();
  return {
    open: async () =>
      new DynamoDbTokenStore({ client: await createDynamoDbClient(), table, ownsClient: true }),
    cleanup: async () => {},
  };
});

describe('DynamoDbTokenStore usage on DynamoDB Local', () => {
  it('costs a batch of 150 tokens two BatchGetItem, 150 UpdateItem and, once a window, 150 Query', async () => {
    const table = await createTestTable();
    const counter = new CallCounter();
    const store = new DynamoDbTokenStore({
      client: await createDynamoDbClient({ onCall: counter.onCall }),
      table,
      ownsClient: true,
    });
    try {
      const ns = freshNamespace();
      const records = Array.from({ length: 150 }, () => record(ns));
      await Promise.all(records.map((r) => store.putToken(r)));
      const batch = (requests: number) =>
        records.map((r) => delta(ns, r.id, T0, { requests, spend: requests }));
      counter.reset();
      expect(await store.addUsage(batch(1000))).toHaveLength(150);
      expect(['BatchGetItem', 'UpdateItem', 'Query'].map((op) => counter.count(`dynamodb.${op}`))).toEqual([
        2, 150, 150,
      ]);
      expect(counter.count('dynamodb')).toBe(302);
      // The next batch in the same window: the baselines are known, whatever the requests.
      counter.reset();
      const totals = await store.addUsage(batch(5000));
      expect(totals.map((t) => t.counts.requests)).toEqual(records.map(() => 6000));
      expect(counter.count('dynamodb')).toBe(152);
    } finally {
      await store.close();
    }
  });
});

describe('SqliteTokenStore alert channels from a vault file before channel kinds', () => {
  it('reads the webhooks it kept as webhooks and keeps new kinds beside them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egg-usage-kinds-'));
    try {
      const path = join(dir, 'vault.db');
      const old = new DatabaseSync(path);
      old.exec(`CREATE TABLE alert_channels (
        namespace TEXT NOT NULL, id TEXT NOT NULL, url TEXT NOT NULL, sealed TEXT NOT NULL,
        created_at TEXT NOT NULL, PRIMARY KEY (namespace, id)) STRICT;
        INSERT INTO alert_channels VALUES ('acme/web', 'wh_old', 'https://hooks.example.com/old', '{}', '2026-01-01T00:00:00.000Z');`);
      old.close();
      chmodSync(path, 0o600);
      const store = new SqliteTokenStore(path);
      try {
        const slack = {
          namespace: 'acme/web',
          id: 'wh_new',
          kind: 'slack' as const,
          url: 'https://hooks.slack.com/services/T/B/X',
          sealed: '{}',
          createdAt: '2026-01-01T00:00:01.000Z',
        };
        await store.putAlertChannel(slack);
        expect(await store.alertChannels('acme/web')).toEqual([
          {
            namespace: 'acme/web',
            id: 'wh_old',
            kind: 'webhook',
            url: 'https://hooks.example.com/old',
            sealed: '{}',
            createdAt: '2026-01-01T00:00:00.000Z',
          },
          slack,
        ]);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
