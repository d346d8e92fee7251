/**
 * The KMS keyrings end to end: the vault on DynamoDB Local, data keys from moto's KMS
 * through the real SDK. Tampering of every kind must fail as one indistinguishable
 * `DecryptionFailed`; the hierarchical keyring must cost one KMS call per namespace.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallCounter, createDynamoDbClient, createKmsClient } from '../../src/aws/clients.js';
import type { Keyring } from '../../src/keyrings/keyring.js';
import { KmsKeyring } from '../../src/keyrings/kms.js';
import { KmsHierarchicalKeyring } from '../../src/keyrings/kms-hierarchical.js';
import { LocalKeyring } from '../../src/keyrings/local.js';
import { DynamoDbStore } from '../../src/stores/dynamodb.js';
import type { SecretItem, SecretStore } from '../../src/stores/store.js';
import { Vault } from '../../src/vault/vault.js';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';
import { startFakeAws } from '../support/fake-aws.js';

const failed = (name: string) => ({
  code: 'ERR_DECRYPTION_FAILED',
  name: 'DecryptionFailed',
  message: `could not decrypt secret ${name}: the item is corrupt, was moved, or the key is wrong`,
});

let table: string;
let keyArn: string;
let otherKeyArn: string;
let nsCounter = 0;
const freshNamespace = () => `kr${++nsCounter}-${randomBytes(3).toString('hex')}/app`;

/** One "process": its own clients, store and keyring, as a CLI run or an Action would have. */
async function openProcess(kind: 'kms' | 'kms-hierarchical' | Keyring, options: { keyId?: string } = {}) {
  const counter = new CallCounter();
  const store = new DynamoDbStore({
    client: await createDynamoDbClient({ onCall: counter.onCall }),
    table,
    ownsClient: true,
  });
  const kmsOptions = {
    client: await createKmsClient({ onCall: counter.onCall }),
    keyId: options.keyId ?? keyArn,
    ownsClient: true,
  };
  const keyring: Keyring =
    typeof kind !== 'string'
      ? kind
      : kind === 'kms'
        ? new KmsKeyring(kmsOptions)
        : new KmsHierarchicalKeyring({ ...kmsOptions, store });
  const vault = (namespace: string) => new Vault({ store, keyring, namespace, actor: 'user:test' });
  return {
    counter,
    store,
    keyring,
    vault,
    close: async () => {
      keyring.close();
      await store.close();
    },
  };
}

beforeAll(async () => {
  useTestAws();
  table = await createTestTable('egg-keyrings');
  [keyArn, otherKeyArn] = await Promise.all([createTestKmsKey(), createTestKmsKey()]);
});

/** Overwrite one stored item with `change(item)`, bypassing the vault (an attacker with table write). */
async function tamper(
  store: SecretStore,
  namespace: string,
  name: string,
  change: (item: SecretItem) => SecretItem,
) {
  const [item] = await store.getSecrets(namespace, [name]);
  if (item === undefined) throw new Error(`no item ${name}`);
  expect(await store.putSecret(change(item), { kind: 'rev-gen', rev: item.rev, gen: item.gen })).toBe(true);
}

describe.each(['kms', 'kms-hierarchical'] as const)('the %s keyring on DynamoDB', (kind) => {
  let proc: Awaited<ReturnType<typeof openProcess>>;
  beforeAll(async () => {
    proc = await openProcess(kind);
  });
  afterAll(async () => proc?.close());

  it('sets, gets, pulls and rotates the data key after every read', async () => {
    const vault = proc.vault(freshNamespace());
    await vault.set('API_KEY', Buffer.from('s3cr3t'));
    await vault.set('DB_URL', Buffer.from('postgres://u:p@h/db'));
    await vault.set('API_KEY', Buffer.from('s3cr3t-2'));
    const before = await vault.list();
    const got = await vault.get('API_KEY');
    expect([got.value.toString(), got.rev, got.gen]).toEqual(['s3cr3t-2', 2, 2]);
    const pulled = await vault.pull();
    expect(pulled.secrets.map((s) => [s.name, s.value.toString(), s.rev, s.gen])).toEqual([
      ['API_KEY', 's3cr3t-2', 2, 3],
      ['DB_URL', 'postgres://u:p@h/db', 1, 1],
    ]);
    expect(pulled.rotation).toEqual({ rotated: 2, skipped: 0, failed: 0, deferred: 0 });
    const after = await vault.list();
    expect(after.map((m) => [m.name, m.rev, m.gen])).toEqual([
      ['API_KEY', 2, 4],
      ['DB_URL', 1, 2],
    ]);
    const keyIds = new Set(after.map((m) => m.keyId));
    if (kind === 'kms') {
      expect([...keyIds]).toEqual([keyArn]);
    } else {
      expect(keyIds.size).toBe(1);
      expect([...keyIds][0]).toMatch(/^hkek:[0-9a-f]{24}$/);
    }
    expect(before.map((m) => m.gen)).toEqual([2, 1]);
    expect((await vault.auditTrail()).map((r) => r.action)).toEqual([
      'set',
      'set',
      'set',
      'list',
      'read',
      'read',
      'list',
    ]);
    expect(await vault.verifyAudit()).toMatchObject({ ok: true, records: 7 });
  });

  it('refuses a wrapped data key copied from another secret (encryption context / AAD)', async () => {
    const ns = freshNamespace();
    const vault = proc.vault(ns);
    await vault.set('A', Buffer.from('alpha'));
    await vault.set('B', Buffer.from('bravo'));
    const [a] = await proc.store.getSecrets(ns, ['A']);
    await tamper(proc.store, ns, 'B', (b) => ({ ...b, wrappedKey: a?.wrappedKey as Buffer }));
    await expect(vault.get('B')).rejects.toMatchObject(failed('B'));
  });

  it('refuses an item copied whole under another name', async () => {
    const ns = freshNamespace();
    const vault = proc.vault(ns);
    await vault.set('SOURCE', Buffer.from('the real value'));
    await vault.set('TARGET', Buffer.from('other'));
    const [source] = await proc.store.getSecrets(ns, ['SOURCE']);
    await tamper(proc.store, ns, 'TARGET', (target) => ({
      ...(source as SecretItem),
      name: 'TARGET',
      rev: target.rev,
    }));
    await expect(vault.get('TARGET')).rejects.toMatchObject(failed('TARGET'));
  });

  it('refuses an item copied into another namespace', async () => {
    const [from, to] = [freshNamespace(), freshNamespace()];
    await proc.vault(from).set('TOKEN', Buffer.from('from-ns'));
    await proc.vault(to).set('TOKEN', Buffer.from('to-ns'));
    const [source] = await proc.store.getSecrets(from, ['TOKEN']);
    await tamper(proc.store, to, 'TOKEN', () => ({ ...(source as SecretItem), namespace: to }));
    await expect(proc.vault(to).get('TOKEN')).rejects.toMatchObject(failed('TOKEN'));
  });

  it.each([
    ['wrapped data key', (i: SecretItem) => ({ ...i, wrappedKey: flip(i.wrappedKey) })],
    ['ciphertext', (i: SecretItem) => ({ ...i, ciphertext: flip(i.ciphertext) })],
    ['tag', (i: SecretItem) => ({ ...i, tag: flip(i.tag) })],
    ['iv', (i: SecretItem) => ({ ...i, iv: flip(i.iv) })],
    ['rev', (i: SecretItem) => ({ ...i, rev: i.rev + 1 })],
    ['gen', (i: SecretItem) => ({ ...i, gen: i.gen + 5 })],
    ['key id', (i: SecretItem) => ({ ...i, keyId: 'local:0000000000000000' })],
  ])('refuses a corrupted %s with the same error', async (_what, change) => {
    const ns = freshNamespace();
    const vault = proc.vault(ns);
    await vault.set('VICTIM', Buffer.from('untouched'));
    await tamper(proc.store, ns, 'VICTIM', change);
    await expect(vault.get('VICTIM')).rejects.toMatchObject(failed('VICTIM'));
  });
});

describe('the kms keyring', () => {
  it('makes one GenerateDataKey per set and one Decrypt plus one GenerateDataKey per read', async () => {
    const proc = await openProcess('kms');
    const vault = proc.vault(freshNamespace());
    await vault.set('ONE', Buffer.from('1'));
    expect([proc.counter.count('kms.GenerateDataKey'), proc.counter.count('kms')]).toEqual([1, 1]);
    proc.counter.reset();
    await vault.get('ONE');
    expect([proc.counter.count('kms.Decrypt'), proc.counter.count('kms.GenerateDataKey')]).toEqual([1, 1]);
    await proc.close();
  });

  it('never accepts a data key wrapped under a KMS key other than the configured one', async () => {
    const ns = freshNamespace();
    const writer = await openProcess('kms', { keyId: otherKeyArn });
    await writer.vault(ns).set('PLANTED', Buffer.from('attacker-chosen'));
    await writer.close();
    const reader = await openProcess('kms');
    // Real KMS answers IncorrectKeyException (→ DecryptionFailed, tested below); moto answers
    // AccessDeniedException for a KeyId that does not match the ciphertext. Either way: no value.
    await expect(reader.vault(ns).get('PLANTED')).rejects.toMatchObject({ code: 'ERR_ACCESS_DENIED' });
    await reader.close();
  });
});

describe('the kms-hierarchical keyring', () => {
  it('makes exactly one KMS call per namespace per process', async () => {
    const [ns1, ns2] = [freshNamespace(), freshNamespace()];
    const first = await openProcess('kms-hierarchical');
    for (const ns of [ns1, ns2]) {
      for (let i = 0; i < 10; i++) await first.vault(ns).set(`S${i}`, Buffer.from(`value-${i}`));
    }
    // Creating each namespace KEK: one GenerateDataKey each, nothing else.
    expect([first.counter.count('kms'), first.counter.count('kms.GenerateDataKey')]).toEqual([2, 2]);
    await first.close();

    const second = await openProcess('kms-hierarchical');
    // Concurrent pulls in a fresh process share one Decrypt of the namespace KEK.
    const pulls = await Promise.all([
      second.vault(ns1).pull(),
      second.vault(ns1).pull(),
      second.vault(ns1).get('S3'),
    ]);
    expect(pulls[0].secrets.map((s) => s.value.toString())).toEqual(
      Array.from({ length: 10 }, (_, i) => `value-${i}`),
    );
    expect(second.counter.count('kms')).toBe(1);
    await second.vault(ns2).pull();
    await second.vault(ns2).pull();
    await second.vault(ns1).set('S0', Buffer.from('new'));
    expect([second.counter.count('kms'), second.counter.count('kms.Decrypt')]).toEqual([2, 2]);
    await second.close();
  });

  it('agrees on one namespace KEK when two processes create it at once', async () => {
    const ns = freshNamespace();
    const [p1, p2] = await Promise.all([openProcess('kms-hierarchical'), openProcess('kms-hierarchical')]);
    await Promise.all([
      p1.vault(ns).set('FROM_P1', Buffer.from('one')),
      p2.vault(ns).set('FROM_P2', Buffer.from('two')),
    ]);
    expect((await p1.vault(ns).get('FROM_P2')).value.toString()).toBe('two');
    expect((await p2.vault(ns).get('FROM_P1')).value.toString()).toBe('one');
    const keyIds = new Set((await p1.vault(ns).list()).map((m) => m.keyId));
    expect(keyIds.size).toBe(1);
    await Promise.all([p1.close(), p2.close()]);
  });

  it("refuses a namespace KEK copied from another namespace (KMS context) or another key's id", async () => {
    const [victim, attacker] = [freshNamespace(), freshNamespace()];
    const setup = await openProcess('kms-hierarchical');
    await setup.vault(victim).set('TOKEN', Buffer.from('victim'));
    await setup.vault(attacker).set('TOKEN', Buffer.from('attacker'));
    await setup.close();
    // Swap the victim namespace's KEK item for the attacker's (raw table write).
    const raw = await createDynamoDbClient();
    const { GetItemCommand, PutItemCommand } = await import('@aws-sdk/client-dynamodb');
    const { Item } = await raw.send(
      new GetItemCommand({ TableName: table, Key: { pk: { S: attacker }, sk: { S: 'K#namespace' } } }),
    );
    await raw.send(new PutItemCommand({ TableName: table, Item: { ...Item, pk: { S: victim } } }));
    raw.destroy();
    const reader = await openProcess('kms-hierarchical');
    await expect(reader.vault(victim).get('TOKEN')).rejects.toMatchObject({
      code: 'ERR_DECRYPTION_FAILED',
      message: `could not decrypt the key of namespace ${victim}: the item is corrupt, was moved, or the key is wrong`,
    });
    await reader.close();
  });

  it('creates no namespace KEK on a read (a read-only role never needs to write one)', async () => {
    const ns = freshNamespace();
    const proc = await openProcess('kms-hierarchical');
    // A namespace with nothing in it does not exist: reads say so, and create nothing.
    await expect(proc.vault(ns).pull()).rejects.toMatchObject({ code: 'ERR_NAMESPACE_NOT_FOUND' });
    await expect(proc.vault(ns).get('NOPE')).rejects.toMatchObject({ code: 'ERR_NAMESPACE_NOT_FOUND' });
    expect(await proc.store.getNamespaceKey(ns)).toBeUndefined();
    expect(proc.counter.count('kms')).toBe(0);
    // A warm racing the first set still ends in one KEK from one KMS call.
    await Promise.all([
      proc.keyring.warm?.(ns),
      proc.vault(ns).set('FIRST', Buffer.from('1')),
      proc.keyring.warm?.(ns),
    ]);
    expect([proc.counter.count('kms'), (await proc.store.getNamespaceKey(ns))?.namespace]).toEqual([1, ns]);
    await proc.close();
  });

  it('refuses an item claiming a namespace KEK that does not exist', async () => {
    const [from, to] = [freshNamespace(), freshNamespace()];
    const proc = await openProcess('kms-hierarchical');
    await proc.vault(from).set('TOKEN', Buffer.from('x'));
    const [item] = await proc.store.getSecrets(from, ['TOKEN']);
    await proc.store.putSecret({ ...(item as SecretItem), namespace: to }, { kind: 'absent' });
    await expect(proc.vault(to).get('TOKEN')).rejects.toMatchObject(failed('TOKEN'));
    await proc.close();
  });

  it('wipes its cached KEKs on close and refuses to work afterwards', async () => {
    const proc = await openProcess('kms-hierarchical');
    await proc.vault(freshNamespace()).set('X', Buffer.from('x'));
    proc.keyring.close();
    await expect(proc.keyring.generate({ namespace: 'acme/web', secret: 'X' })).rejects.toThrow(
      'the keyring is closed',
    );
    await proc.store.close();
  });
});

describe('the local keyring', () => {
  it('refuses to decrypt with a wrong KEK, with the same error', async () => {
    const ns = freshNamespace();
    const writer = await openProcess(new LocalKeyring(randomBytes(32)));
    await writer.vault(ns).set('LOCAL', Buffer.from('local value'));
    await writer.close();
    const reader = await openProcess(new LocalKeyring(randomBytes(32)));
    await expect(reader.vault(ns).get('LOCAL')).rejects.toMatchObject(failed('LOCAL'));
    await reader.close();
  });
});

describe('KMS failures that moto never produces (scripted KMS)', () => {
  const context = { namespace: 'acme/web', secret: 'TOKEN' };
  const arn = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';

  async function scripted(answer: Parameters<typeof startFakeAws>[0]) {
    const fake = await startFakeAws(answer);
    const keyring = new KmsKeyring({
      client: await createKmsClient({ endpoint: fake.endpoint, region: 'us-east-1' }),
      keyId: arn,
      ownsClient: true,
      retry: { sleep: async () => {}, random: () => 0 },
    });
    return { fake, keyring };
  }

  it.each(['IncorrectKeyException', 'InvalidCiphertextException', 'KMSInvalidStateException'])(
    'turns %s into the one DecryptionFailed',
    async (error) => {
      const { fake, keyring } = await scripted(() => ({ error }));
      const thrown = await keyring.unwrap(randomBytes(64), arn, context).catch((e: unknown) => e);
      expect(thrown).toMatchObject(failed('TOKEN'));
      expect((thrown as Error).cause).toMatchObject({ name: error });
      expect(fake.requests).toHaveLength(1);
      keyring.close();
      await fake.close();
    },
  );

  it('names the namespace and kms:Decrypt on AccessDenied, and never retries it', async () => {
    const { fake, keyring } = await scripted(() => ({ error: 'AccessDeniedException' }));
    await expect(keyring.unwrap(randomBytes(64), arn, context)).rejects.toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      message: 'access denied: kms:Decrypt on namespace acme/web',
    });
    expect(fake.requests).toHaveLength(1);
    keyring.close();
    await fake.close();
  });

  it('names kms:GenerateDataKey on AccessDenied', async () => {
    const { fake, keyring } = await scripted(() => ({ error: 'AccessDeniedException' }));
    await expect(keyring.generate(context)).rejects.toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      message: 'access denied: kms:GenerateDataKey on namespace acme/web',
    });
    keyring.close();
    await fake.close();
  });

  it('retries throttling and KMS internal errors, sending the encryption context each time', async () => {
    const { fake, keyring } = await scripted((_request, i) =>
      i === 0
        ? { error: 'ThrottlingException' }
        : i === 1
          ? { error: 'KMSInternalException', status: 500 }
          : {
              body: {
                KeyId: arn,
                Plaintext: Buffer.alloc(32, 7).toString('base64'),
                CiphertextBlob: Buffer.from('wrapped').toString('base64'),
              },
            },
    );
    const key = await keyring.generate(context);
    expect([key.plaintext.equals(Buffer.alloc(32, 7)), key.keyId, key.wrapped.toString()]).toEqual([
      true,
      arn,
      'wrapped',
    ]);
    expect(fake.requests.map((r) => [r.operation, r.body.EncryptionContext, r.body.KeySpec])).toEqual(
      Array(3).fill(['GenerateDataKey', context, 'AES_256']),
    );
    keyring.close();
    await fake.close();
  });

  it('refuses a data key of the wrong length from KMS', async () => {
    const { fake, keyring } = await scripted(() => ({
      body: { KeyId: arn, Plaintext: Buffer.alloc(16).toString('base64') },
    }));
    await expect(keyring.unwrap(randomBytes(64), arn, context)).rejects.toMatchObject(failed('TOKEN'));
    keyring.close();
    await fake.close();
  });
});

function flip(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 1;
  return copy;
}
