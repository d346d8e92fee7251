/**
 * One conformance suite for every SecretStore adapter (STYLE, Ports and adapters): the
 * embedded SQLite store and the DynamoDB store on DynamoDB Local must behave the same,
 * so the local default and AWS cannot drift apart. DynamoDB-only behaviour (chunking,
 * retries, error translation) follows at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallCounter, createDynamoDbClient } from '../../src/aws/clients.js';
import { DynamoDbStore } from '../../src/stores/dynamodb.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import {
  type AuditRecord,
  isMemberStore,
  type MemberRecord,
  type MemberStore,
  type NamespaceKeyItem,
  type SecretItem,
  type SecretStore,
  type SecretWrite,
} from '../../src/stores/store.js';
import { chainRecord, verifyChain } from '../../src/vault/audit.js';
import { createTestTable } from '../support/aws.js';
import { startFakeAws } from '../support/fake-aws.js';

/** Opens a store on the shared data; each call is another connection (another "process"). */
type OpenStore = () => Promise<SecretStore>;

interface Harness {
  open: OpenStore;
  cleanup(): Promise<void>;
}

let nsCounter = 0;
/** A namespace no other test uses, so tests share one table or file without interfering. */
const freshNamespace = () => `t${++nsCounter}-${randomBytes(3).toString('hex')}/web`;

function secretItem(namespace: string, name: string, over: Partial<SecretItem> = {}): SecretItem {
  return {
    namespace,
    name,
    ciphertext: randomBytes(40),
    iv: randomBytes(12),
    tag: randomBytes(16),
    wrappedKey: randomBytes(40),
    keyId: 'local:0123456789abcdef',
    rev: 1,
    gen: 1,
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    ...over,
  };
}

const audit = (action: string, targets: string[]) => (head: AuditRecord | undefined, namespace: string) =>
  chainRecord(namespace, head, { action, targets, actor: 'user:test', outcome: 'ok' }, new Date());

function conformance(name: string, setup: () => Promise<Harness>) {
  describe(`SecretStore conformance: ${name}`, () => {
    let harness: Harness;
    let store: SecretStore;
    beforeAll(async () => {
      harness = await setup();
      store = await harness.open();
    });
    afterAll(async () => {
      await store?.close();
      await harness?.cleanup();
    });

    it('writes a new secret only when absent, and round-trips every field byte for byte', async () => {
      const ns = freshNamespace();
      const item = secretItem(ns, 'API_KEY', { upstream: 'https://api.example.com', inject: 'Bearer {key}' });
      expect(await store.putSecret(item, { kind: 'absent' })).toBe(true);
      expect(await store.putSecret(secretItem(ns, 'API_KEY'), { kind: 'absent' })).toBe(false);
      expect(await store.getSecrets(ns, ['API_KEY'])).toEqual([item]);
      const plain = secretItem(ns, 'PLAIN');
      await store.putSecret(plain, { kind: 'absent' });
      const [read] = await store.getSecrets(ns, ['PLAIN']);
      expect(read).toEqual(plain);
      expect(read).not.toHaveProperty('upstream');
    });

    it('refuses a set based on a stale rev (a concurrent set is never overwritten)', async () => {
      const ns = freshNamespace();
      await store.putSecret(secretItem(ns, 'TOKEN'), { kind: 'absent' });
      const second = secretItem(ns, 'TOKEN', { rev: 2, gen: 2 });
      expect(await store.putSecret(second, { kind: 'rev', rev: 1 })).toBe(true);
      expect(
        await store.putSecret(secretItem(ns, 'TOKEN', { rev: 2, gen: 3 }), { kind: 'rev', rev: 1 }),
      ).toBe(false);
      expect(await store.putSecret(secretItem(ns, 'MISSING', { rev: 2 }), { kind: 'rev', rev: 1 })).toBe(
        false,
      );
      expect(await store.getSecrets(ns, ['TOKEN', 'MISSING'])).toEqual([second]);
    });

    it('skips a rotation that lost its race on rev or gen', async () => {
      const ns = freshNamespace();
      await store.putSecret(secretItem(ns, 'TOKEN', { rev: 1, gen: 1 }), { kind: 'absent' });
      const rotated = secretItem(ns, 'TOKEN', { rev: 1, gen: 2 });
      expect(await store.putSecret(rotated, { kind: 'rev-gen', rev: 1, gen: 1 })).toBe(true);
      expect(
        await store.putSecret(secretItem(ns, 'TOKEN', { gen: 2 }), { kind: 'rev-gen', rev: 1, gen: 1 }),
      ).toBe(false);
      expect(
        await store.putSecret(secretItem(ns, 'TOKEN', { rev: 2, gen: 3 }), {
          kind: 'rev-gen',
          rev: 2,
          gen: 2,
        }),
      ).toBe(false);
      expect(await store.getSecrets(ns, ['TOKEN'])).toEqual([rotated]);
    });

    it('reads named secrets (ignoring missing and repeated names) and every secret in name order', async () => {
      const ns = freshNamespace();
      for (const name of ['B', 'A', 'C']) await store.putSecret(secretItem(ns, name), { kind: 'absent' });
      const named = await store.getSecrets(ns, ['C', 'NOPE', 'A', 'C']);
      expect(named.map((item) => item.name).sort()).toEqual(['A', 'C']);
      expect(await store.getSecrets(ns, [])).toEqual([]);
      expect((await store.getSecrets(ns)).map((item) => item.name)).toEqual(['A', 'B', 'C']);
      expect(await store.getSecrets(freshNamespace())).toEqual([]);
    });

    it('reads 150 names of which 120 exist (more than one BatchGetItem)', async () => {
      const ns = freshNamespace();
      const names = Array.from({ length: 150 }, (_, i) => `S_${String(i).padStart(3, '0')}`);
      await Promise.all(
        names.slice(0, 120).map((n) => store.putSecret(secretItem(ns, n), { kind: 'absent' })),
      );
      const found = await store.getSecrets(ns, names);
      expect(found.map((item) => item.name).sort()).toEqual(names.slice(0, 120));
      expect(await store.getSecrets(ns)).toHaveLength(120);
    });

    it('deletes once', async () => {
      const ns = freshNamespace();
      await store.putSecret(secretItem(ns, 'GONE'), { kind: 'absent' });
      expect(await store.deleteSecret(ns, 'GONE')).toBe(true);
      expect(await store.deleteSecret(ns, 'GONE')).toBe(false);
      expect(await store.getSecrets(ns, ['GONE'])).toEqual([]);
      expect(await store.putSecret(secretItem(ns, 'GONE'), { kind: 'absent' })).toBe(true);
    });

    it('keeps namespaces apart: a secret, key or audit record in one is invisible in another', async () => {
      const a = freshNamespace();
      const b = `${a}/child`;
      const parent = a.split('/')[0] as string;
      await store.putSecret(secretItem(a, 'SHARED_NAME'), { kind: 'absent' });
      await store.putNamespaceKey({
        namespace: a,
        kekId: 'k',
        wrapped: randomBytes(8),
        kmsKeyId: 'arn',
        createdAt: 'x',
      });
      await store.appendAudit(a, (head) => audit('set', ['SHARED_NAME'])(head, a));
      for (const other of [b, parent]) {
        expect(await store.getSecrets(other, ['SHARED_NAME'])).toEqual([]);
        expect(await store.getSecrets(other)).toEqual([]);
        expect(await store.getNamespaceKey(other)).toBeUndefined();
        expect(await store.readAudit(other)).toEqual([]);
        expect(await store.deleteSecret(other, 'SHARED_NAME')).toBe(false);
      }
      expect(await store.putSecret(secretItem(b, 'SHARED_NAME'), { kind: 'absent' })).toBe(true);
      expect(await store.getSecrets(a, ['SHARED_NAME'])).toHaveLength(1);
    });

    it('creates a namespace key once: the second writer loses and reads the first', async () => {
      const ns = freshNamespace();
      expect(await store.getNamespaceKey(ns)).toBeUndefined();
      const first: NamespaceKeyItem = {
        namespace: ns,
        kekId: 'first',
        wrapped: randomBytes(64),
        kmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/one',
        createdAt: '2025-01-01T00:00:00.000Z',
      };
      const other = await harness.open();
      try {
        const results = await Promise.all([
          store.putNamespaceKey(first),
          other.putNamespaceKey({ ...first, kekId: 'second', wrapped: randomBytes(64) }),
        ]);
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results[0] ? first.kekId : 'second';
        expect((await store.getNamespaceKey(ns))?.kekId).toBe(winner);
        expect(await store.putNamespaceKey(first)).toBe(false);
      } finally {
        await other.close();
      }
    });

    it('appends audit records in order, handing build the current head', async () => {
      const ns = freshNamespace();
      const heads: (number | undefined)[] = [];
      for (const action of ['set', 'read', 'remove']) {
        await store.appendAudit(ns, (head) => {
          heads.push(head?.seq);
          return audit(action, ['X'])(head, ns);
        });
      }
      expect(heads).toEqual([undefined, 1, 2]);
      const records = await store.readAudit(ns);
      expect(records.map((r) => [r.seq, r.action, r.targets])).toEqual([
        [1, 'set', ['X']],
        [2, 'read', ['X']],
        [3, 'remove', ['X']],
      ]);
      expect(verifyChain(records)).toMatchObject({ ok: true, records: 3 });
    });

    it('keeps one unbroken chain under 20 concurrent appends from two connections', async () => {
      const ns = freshNamespace();
      const other = await harness.open();
      try {
        const appended = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? store : other).appendAudit(ns, (head) => audit('read', [`S${i}`])(head, ns)),
          ),
        );
        expect(appended.map((r) => r.seq).sort((x, y) => x - y)).toEqual(
          Array.from({ length: 20 }, (_, i) => i + 1),
        );
        const records = await store.readAudit(ns);
        expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        expect(records.map((r) => r.targets[0]).sort()).toEqual(
          Array.from({ length: 20 }, (_, i) => `S${i}`).sort(),
        );
        expect(verifyChain(records)).toMatchObject({ ok: true, records: 20 });
        // A connection whose cached head is stale still appends at the true head.
        await store.appendAudit(ns, (head) => audit('list', [])(head, ns));
        await other.appendAudit(ns, (head) => audit('list', [])(head, ns));
        expect(verifyChain(await other.readAudit(ns))).toMatchObject({ ok: true, records: 22 });
      } finally {
        await other.close();
      }
    });

    it('applies a batch of writes all together, or none of them when one condition fails', async () => {
      const ns = freshNamespace();
      const kept = secretItem(ns, 'KEPT');
      await store.putSecret(kept, { kind: 'absent' });
      const batch = (over: Partial<SecretItem>) => [
        { item: secretItem(ns, 'NEW_ONE'), condition: { kind: 'absent' as const } },
        { item: secretItem(ns, 'NEW_TWO'), condition: { kind: 'absent' as const } },
        {
          item: secretItem(ns, 'KEPT', { rev: 2, gen: 2, ...over }),
          condition: { kind: 'rev-gen' as const, rev: 1, gen: 2 },
        },
      ];
      expect(await store.putSecrets(batch({}))).toBe(false);
      expect(await store.getSecrets(ns)).toEqual([kept]);
      const good = batch({});
      good[2] = {
        item: secretItem(ns, 'KEPT', { rev: 2, gen: 2 }),
        condition: { kind: 'rev-gen', rev: 1, gen: 1 },
      };
      expect(await store.putSecrets(good)).toBe(true);
      const after = await store.getSecrets(ns);
      expect(after.map((i) => [i.name, i.rev]).sort()).toEqual([
        ['KEPT', 2],
        ['NEW_ONE', 1],
        ['NEW_TWO', 1],
      ]);
    });

    it('says a namespace exists once it holds a secret, and still after its last is removed and marked', async () => {
      const ns = freshNamespace();
      const other = freshNamespace();
      expect(await store.hasNamespace(ns)).toBe(false);
      // An audit record alone (a failed read of a mistyped namespace) does not make one.
      await store.appendAudit(other, (head) => audit('read', [])(head, other));
      expect(await store.hasNamespace(other)).toBe(false);
      await store.putSecret(secretItem(ns, 'ONLY'), { kind: 'absent' });
      expect(await store.hasNamespace(ns)).toBe(true);
      await store.deleteSecret(ns, 'ONLY');
      await store.markNamespace(ns);
      await store.markNamespace(ns);
      expect(await store.hasNamespace(ns)).toBe(true);
      const listed = await store.listNamespaces();
      expect(listed).toContainEqual({ namespace: ns, secrets: 0 });
      expect(listed.map((n) => n.namespace)).not.toContain(other);
    });

    it('lists namespaces sorted, with their secret counts', async () => {
      const a = freshNamespace();
      await store.putSecret(secretItem(a, 'ONE'), { kind: 'absent' });
      await store.putSecret(secretItem(a, 'TWO'), { kind: 'absent' });
      const listed = await store.listNamespaces();
      expect(listed).toContainEqual({ namespace: a, secrets: 2 });
      const names = listed.map((n) => n.namespace);
      expect(names).toEqual([...names].sort());
    });

    it('keeps the replaced version and drops old ones in the same write, each byte for byte', async () => {
      const ns = freshNamespace();
      const v1 = secretItem(ns, 'DB_PASSWORD', { setBy: 'user:alice' });
      expect(await store.putSecrets([{ item: v1, condition: { kind: 'absent' } }])).toBe(true);
      const v2 = secretItem(ns, 'DB_PASSWORD', { rev: 2, gen: 2, setBy: 'user:bob' });
      expect(await store.putSecrets([{ item: v2, condition: { kind: 'rev', rev: 1 }, keep: v1 }])).toBe(true);
      const v3 = secretItem(ns, 'DB_PASSWORD', { rev: 3, gen: 3 });
      expect(
        await store.putSecrets([{ item: v3, condition: { kind: 'rev', rev: 2 }, keep: v2, drop: [1] }]),
      ).toBe(true);
      expect(await store.getSecrets(ns, ['DB_PASSWORD'])).toEqual([v3]);
      expect(await store.getVersions(ns, 'DB_PASSWORD')).toEqual([v2]);
      expect(await store.versionRevs(ns)).toEqual(new Map([['DB_PASSWORD', [2]]]));
      // A stale rev writes nothing: neither the item nor the version it would keep.
      const stale = secretItem(ns, 'DB_PASSWORD', { rev: 4, gen: 4 });
      expect(
        await store.putSecrets([{ item: stale, condition: { kind: 'rev', rev: 2 }, keep: v3, drop: [2] }]),
      ).toBe(false);
      expect(await store.getVersions(ns, 'DB_PASSWORD')).toEqual([v2]);
      expect(await store.getSecrets(ns)).toEqual([v3]);
    });

    it('refuses the whole batch when the version to keep is kept already', async () => {
      const ns = freshNamespace();
      const v1 = secretItem(ns, 'A');
      const v2 = secretItem(ns, 'A', { rev: 2, gen: 2 });
      await store.putSecrets([{ item: v1, condition: { kind: 'absent' } }]);
      await store.putSecrets([{ item: v2, condition: { kind: 'rev', rev: 1 }, keep: v1 }]);
      const other = secretItem(ns, 'B');
      const v3 = secretItem(ns, 'A', { rev: 3, gen: 3 });
      expect(
        await store.putSecrets([
          { item: other, condition: { kind: 'absent' } },
          { item: v3, condition: { kind: 'rev', rev: 2 }, keep: v1 },
        ]),
      ).toBe(false);
      expect((await store.getSecrets(ns)).map((item) => [item.name, item.rev])).toEqual([['A', 2]]);
    });

    it('keeps versions of names that share a prefix apart, and lists revs oldest first', async () => {
      const ns = freshNamespace();
      for (const name of ['A', 'A_B']) {
        let previous: SecretItem | undefined;
        for (let rev = 1; rev <= 3; rev++) {
          const item = secretItem(ns, name, { rev, gen: rev });
          const condition =
            previous === undefined ? { kind: 'absent' as const } : { kind: 'rev' as const, rev: rev - 1 };
          expect(await store.putSecrets([{ item, condition, ...(previous ? { keep: previous } : {}) }])).toBe(
            true,
          );
          previous = item;
        }
      }
      expect((await store.getVersions(ns, 'A')).map((item) => [item.name, item.rev])).toEqual([
        ['A', 1],
        ['A', 2],
      ]);
      expect(await store.versionRevs(ns, ['A'])).toEqual(new Map([['A', [1, 2]]]));
      expect(await store.versionRevs(ns)).toEqual(
        new Map([
          ['A', [1, 2]],
          ['A_B', [1, 2]],
        ]),
      );
      // Versions are not secrets: reads, lists and counts see only the current items.
      expect((await store.getSecrets(ns)).map((item) => item.rev)).toEqual([3, 3]);
      expect((await store.listNamespaces()).find((n) => n.namespace === ns)?.secrets).toBe(2);
    });

    it('rotates a kept version only while its gen is the one read', async () => {
      const ns = freshNamespace();
      const v1 = secretItem(ns, 'TOKEN');
      await store.putSecrets([{ item: v1, condition: { kind: 'absent' } }]);
      await store.putSecrets([
        { item: secretItem(ns, 'TOKEN', { rev: 2, gen: 2 }), condition: { kind: 'rev', rev: 1 }, keep: v1 },
      ]);
      const rotated = secretItem(ns, 'TOKEN', { gen: 2 });
      expect(await store.putVersion(rotated, 1)).toBe(true);
      expect(await store.putVersion(secretItem(ns, 'TOKEN', { gen: 2 }), 1)).toBe(false);
      expect(await store.putVersion(secretItem(ns, 'TOKEN', { rev: 7, gen: 2 }), 1)).toBe(false);
      expect(await store.getVersions(ns, 'TOKEN')).toEqual([rotated]);
    });

    it('deletes a secret with every version of it, and nothing of its neighbours', async () => {
      const ns = freshNamespace();
      for (const name of ['GONE', 'STAYS']) {
        const v1 = secretItem(ns, name);
        await store.putSecrets([{ item: v1, condition: { kind: 'absent' } }]);
        await store.putSecrets([
          { item: secretItem(ns, name, { rev: 2, gen: 2 }), condition: { kind: 'rev', rev: 1 }, keep: v1 },
        ]);
      }
      expect(await store.deleteSecret(ns, 'GONE')).toBe(true);
      expect(await store.getVersions(ns, 'GONE')).toEqual([]);
      expect(await store.deleteSecret(ns, 'GONE')).toBe(false);
      expect(await store.versionRevs(ns)).toEqual(new Map([['STAYS', [1]]]));
    });

    it('records how many versions a namespace keeps, which also makes it exist', async () => {
      const ns = freshNamespace();
      expect(await store.getVersionsKept(ns)).toBeUndefined();
      await store.setVersionsKept(ns, 3);
      expect(await store.getVersionsKept(ns)).toBe(3);
      await store.setVersionsKept(ns, 0);
      expect(await store.getVersionsKept(ns)).toBe(0);
      expect(await store.hasNamespace(ns)).toBe(true);
      await store.markNamespace(ns);
      expect(await store.getVersionsKept(ns)).toBe(0);
    });

    it('lets one claim of a namespace win, and keeps its owner from being replaced or removed', async () => {
      expect(isMemberStore(store)).toBe(true);
      const members = store as SecretStore & MemberStore;
      const ns = freshNamespace();
      const member = (principal: string, role: MemberRecord['role']): MemberRecord => ({
        namespace: ns,
        principal,
        role,
        addedBy: 'https://issuer.example|alice',
        addedAt: '2026-01-01T00:00:00.000Z',
      });
      const alice = member('https://issuer.example|alice', 'owner');
      const claims = await Promise.all([
        members.claimNamespace(alice),
        members.claimNamespace(member('https://issuer.example|mallory', 'owner')),
      ]);
      expect(claims.filter(Boolean)).toHaveLength(1);
      const [owner] = await members.listMembers(ns);
      expect(owner?.role).toBe('owner');
      const holder = owner?.principal as string;
      await expect(members.putMember(member(holder, 'read'))).rejects.toThrow(TypeError);
      expect(await members.deleteMember(ns, holder)).toBe(false);
      expect([alice.principal, 'https://issuer.example|mallory']).toContain(holder);
      expect(await members.listMembers(ns)).toEqual([owner]);
      expect((await members.listMemberships(holder)).map((m) => [m.namespace, m.role])).toEqual([
        [ns, 'owner'],
      ]);
    });

    it('adds, changes and removes members, and lists each principal’s namespaces', async () => {
      const members = store as SecretStore & MemberStore;
      const [a, b] = [freshNamespace(), freshNamespace()];
      const at = '2026-01-01T00:00:00.000Z';
      const bob = 'https://token.actions.githubusercontent.com|repo:acme/web:ref:refs/heads/main';
      await members.claimNamespace({
        namespace: a,
        principal: 'i|alice',
        role: 'owner',
        addedBy: 'i|alice',
        addedAt: at,
      });
      await members.claimNamespace({
        namespace: b,
        principal: 'i|carol',
        role: 'owner',
        addedBy: 'i|carol',
        addedAt: at,
      });
      await members.putMember({
        namespace: a,
        principal: bob,
        role: 'read',
        addedBy: 'i|alice',
        addedAt: at,
      });
      await members.putMember({
        namespace: b,
        principal: bob,
        role: 'write',
        addedBy: 'i|carol',
        addedAt: at,
      });
      await members.putMember({
        namespace: a,
        principal: bob,
        role: 'admin',
        addedBy: 'i|alice',
        addedAt: at,
      });
      expect(await members.listMembers(a)).toEqual([
        { namespace: a, principal: bob, role: 'admin', addedBy: 'i|alice', addedAt: at },
        { namespace: a, principal: 'i|alice', role: 'owner', addedBy: 'i|alice', addedAt: at },
      ]);
      expect((await members.listMemberships(bob)).map((m) => [m.namespace, m.role])).toEqual(
        [
          [a, 'admin'],
          [b, 'write'],
        ].sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1)),
      );
      expect(await members.deleteMember(a, bob)).toBe(true);
      expect(await members.deleteMember(a, bob)).toBe(false);
      expect((await members.listMemberships(bob)).map((m) => m.namespace)).toEqual([b]);
      expect((await members.listMembers(a)).map((m) => m.principal)).toEqual(['i|alice']);
      expect(await members.listMembers(freshNamespace())).toEqual([]);
    });

    it('stores an empty target list', async () => {
      const ns = freshNamespace();
      await store.appendAudit(ns, (head) => audit('list', [])(head, ns));
      expect((await store.readAudit(ns))[0]?.targets).toEqual([]);
    });
  });
}

conformance('SqliteStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'egg-conformance-'));
  const path = join(dir, 'vault.db');
  return {
    open: async () => new SqliteStore(path),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

conformance('DynamoDbStore', async () => {
  const table = await createTestTable();
  return {
    open: async () => new DynamoDbStore({ client: await createDynamoDbClient(), table, ownsClient: true }),
    cleanup: async () => {},
  };
});

describe('DynamoDbStore on DynamoDB Local', () => {
  it('writes a batch of 150 secrets item by item, with no transaction (which the grant roles may not write)', async () => {
    const table = await createTestTable();
    const counter = new CallCounter();
    const store = new DynamoDbStore({
      client: await createDynamoDbClient({ onCall: counter.onCall }),
      table,
      ownsClient: true,
    });
    try {
      const ns = freshNamespace();
      const writes = Array.from({ length: 150 }, (_, i) => ({
        item: secretItem(ns, `S_${i}`),
        condition: { kind: 'absent' as const },
      }));
      expect(await store.putSecrets(writes)).toBe(true);
      expect(counter.count('dynamodb.TransactWriteItems')).toBe(0);
      expect(counter.count('dynamodb.PutItem')).toBe(150);
      expect((await store.getSecrets(ns)).length).toBe(150);
    } finally {
      await store.close();
    }
  });

  /** A namespace of a changed, a rotated and a removed-then-added secret, and the batch that changes them. */
  const partWay = async (store: SecretStore) => {
    const ns = freshNamespace();
    const a1 = secretItem(ns, 'A');
    const b1 = secretItem(ns, 'B');
    const lost = secretItem(ns, 'LOST');
    await store.putSecrets([{ item: a1, condition: { kind: 'absent' } }]);
    await store.putSecrets([{ item: b1, condition: { kind: 'absent' } }]);
    const a2 = secretItem(ns, 'A', { rev: 2, gen: 2 });
    await store.putSecrets([{ item: a2, condition: { kind: 'rev', rev: 1 }, keep: a1 }]);
    await store.putSecrets([{ item: lost, condition: { kind: 'absent' } }]);
    const writes: SecretWrite[] = [
      {
        item: secretItem(ns, 'A', { rev: 3, gen: 3 }),
        condition: { kind: 'rev', rev: 2 },
        keep: a2,
        previous: a2,
        drop: [1],
      },
      { item: secretItem(ns, 'B', { gen: 2 }), condition: { kind: 'rev-gen', rev: 1, gen: 1 }, previous: b1 },
      { item: secretItem(ns, 'C'), condition: { kind: 'absent' } },
      // Another writer set LOST since the batch was read: its condition fails.
      { item: secretItem(ns, 'LOST'), condition: { kind: 'absent' } },
    ];
    const state = async () => ({
      items: (await store.getSecrets(ns)).sort((x, y) => (x.name < y.name ? -1 : 1)),
      versions: await store.getVersions(ns, 'A'),
    });
    return { writes, before: await state(), state };
  };

  it('puts back a changed, a rotated and an added secret when a later write loses its condition, each item and version as before', async () => {
    const store = new DynamoDbStore({
      client: await createDynamoDbClient(),
      table: await createTestTable(),
      ownsClient: true,
    });
    try {
      const { writes, before, state } = await partWay(store);
      expect(before.versions.map((v) => v.rev)).toEqual([1]);
      expect(await store.putSecrets(writes)).toBe(false);
      expect(await state()).toEqual(before);
      // The batch built again without the lost write goes through, dropping version 1 only now.
      expect(await store.putSecrets(writes.slice(0, 3))).toBe(true);
      const after = await state();
      expect(after.items.map((i) => [i.name, i.rev, i.gen])).toEqual([
        ['A', 3, 3],
        ['B', 1, 2],
        ['C', 1, 1],
        ['LOST', 1, 1],
      ]);
      expect(after.versions.map((v) => v.rev)).toEqual([2]);
    } finally {
      await store.close();
    }
  });

  it('puts back what it wrote when a write fails part-way with an error, and throws that error', async () => {
    let puts = 0;
    const store = new DynamoDbStore({
      client: await createDynamoDbClient({
        onCall: ({ operation }) => {
          // The batch's third PutItem (of five: A's version and item, B, C and LOST) never leaves.
          if (operation === 'PutItem' && armed && ++puts === 3)
            throw Object.assign(new Error('cut'), { name: 'Cut' });
        },
      }),
      table: await createTestTable(),
      ownsClient: true,
      retry: { attempts: 1 },
    });
    let armed = false;
    try {
      const { writes, before, state } = await partWay(store);
      armed = true;
      const error = await store.putSecrets(writes.slice(0, 3)).catch((e: unknown) => e);
      expect(error).toMatchObject({ message: expect.stringContaining('dynamodb:PutItem failed') });
      expect((error as Error).cause).toMatchObject({ name: 'Cut' });
      armed = false;
      expect(await state()).toEqual(before);
    } finally {
      await store.close();
    }
  });

  it('reads 250 names in three BatchGetItem calls of at most 100 keys, run in parallel', async () => {
    const table = await createTestTable();
    const counter = new CallCounter();
    const store = new DynamoDbStore({
      client: await createDynamoDbClient({ onCall: counter.onCall }),
      table,
      ownsClient: true,
    });
    const ns = freshNamespace();
    const names = Array.from({ length: 250 }, (_, i) => `N${i}`);
    await Promise.all(names.map((n) => store.putSecret(secretItem(ns, n), { kind: 'absent' })));
    counter.reset();
    expect(await store.getSecrets(ns, names)).toHaveLength(250);
    expect(counter.count('dynamodb.BatchGetItem')).toBe(3);
    expect(counter.count('dynamodb')).toBe(3);
    await store.close();
  });

  it('says how to create a missing table', async () => {
    const store = new DynamoDbStore({
      client: await createDynamoDbClient(),
      table: 'egg-no-such-table',
      ownsClient: true,
    });
    await expect(store.getSecrets('acme/web', ['X'])).rejects.toMatchObject({
      code: 'ERR_NOT_INITIALIZED',
      message: 'the DynamoDB table egg-no-such-table does not exist',
      hint: 'create it with `egg init --backend aws --create-table`, or set EGG_TABLE to the right table',
    });
    await store.close();
  });
});

describe('DynamoDbStore against a scripted DynamoDB', () => {
  const noSleep = { sleep: async () => {}, random: () => 0.5 };

  it('names the namespace and the missing permission on AccessDenied, and never retries it', async () => {
    const fake = await startFakeAws(() => ({
      error: 'com.amazon.coral.service#AccessDeniedException',
      message: 'User: arn:aws:sts::1:assumed-role/ci/x is not authorized to perform: dynamodb:BatchGetItem',
    }));
    const store = new DynamoDbStore({
      client: await createDynamoDbClient({ endpoint: fake.endpoint }),
      table: 'egg',
      ownsClient: true,
      retry: noSleep,
    });
    const error = await store.getSecrets('acme/web', ['X']).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      message: 'access denied: dynamodb:BatchGetItem on namespace acme/web',
    });
    expect((error as Error).cause).toMatchObject({ name: 'AccessDeniedException' });
    expect(fake.requests).toHaveLength(1);
    await store.close();
    await fake.close();
  });

  it('retries throttling and 5xx, then succeeds', async () => {
    const fake = await startFakeAws((_request, i) =>
      i === 0
        ? { error: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException' }
        : i === 1
          ? { error: 'com.amazonaws.dynamodb.v20120810#InternalServerError', status: 500 }
          : { body: { Items: [], Count: 0 } },
    );
    const store = new DynamoDbStore({
      client: await createDynamoDbClient({ endpoint: fake.endpoint }),
      table: 'egg',
      ownsClient: true,
      retry: noSleep,
    });
    expect(await store.getSecrets('acme/web')).toEqual([]);
    expect(fake.requests.map((r) => r.operation)).toEqual(['Query', 'Query', 'Query']);
    await store.close();
    await fake.close();
  });

  it('asks again for UnprocessedKeys until every key is read', async () => {
    const item = (name: string) => ({
      pk: { S: 'acme/web' },
      sk: { S: `S#${name}` },
      ciphertext: { B: 'AA==' },
      iv: { B: 'AAAAAAAAAAAAAAAA' },
      tag: { B: 'AAAAAAAAAAAAAAAAAAAAAA==' },
      wrappedKey: { B: 'AA==' },
      keyId: { S: 'k' },
      rev: { N: '1' },
      gen: { N: '1' },
      createdAt: { S: 't' },
      updatedAt: { S: 't' },
    });
    const fake = await startFakeAws((request, i) => {
      const keys = (request.body.RequestItems as { egg: { Keys: { sk: { S: string } }[] } }).egg.Keys;
      if (i === 0) {
        return {
          body: {
            Responses: { egg: [item('A')] },
            UnprocessedKeys: { egg: { Keys: keys.slice(1), ConsistentRead: true } },
          },
        };
      }
      return { body: { Responses: { egg: keys.map((k) => item(k.sk.S.slice(2))) }, UnprocessedKeys: {} } };
    });
    const store = new DynamoDbStore({
      client: await createDynamoDbClient({ endpoint: fake.endpoint }),
      table: 'egg',
      ownsClient: true,
      retry: noSleep,
    });
    const items = await store.getSecrets('acme/web', ['A', 'B', 'C']);
    expect(items.map((i) => i.name).sort()).toEqual(['A', 'B', 'C']);
    expect(
      fake.requests.map((r) => (r.body.RequestItems as { egg: { Keys: unknown[] } }).egg.Keys.length),
    ).toEqual([3, 2]);
    await store.close();
    await fake.close();
  });

  it('reports an unreachable DynamoDB as unavailable after retrying', async () => {
    const fake = await startFakeAws(() => ({ body: {} }));
    await fake.close(); // nothing listens on this port any more
    const slept: number[] = [];
    const store = new DynamoDbStore({
      client: await createDynamoDbClient({ endpoint: fake.endpoint }),
      table: 'egg',
      ownsClient: true,
      retry: { sleep: async (ms) => void slept.push(ms), random: () => 0.5, attempts: 3 },
    });
    await expect(store.getNamespaceKey('acme/web')).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
      message: 'could not reach DynamoDB table egg (ECONNREFUSED)',
    });
    expect(slept).toEqual([12, 25]);
    await store.close();
  });
});
