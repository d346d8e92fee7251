/**
 * Deferred rotation (DESIGN, Crypto): a reader writes nothing but its read record, and the
 * rotator re-encrypts every secret read under a fresh data key. The follower (`egg rotate
 * --follow`) runs on both stores; the Lambda handler runs on DynamoDB Local's real stream.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoDbClient, createKmsClient } from '../../src/aws/clients.js';
import { EggError } from '../../src/errors.js';
import type { Keyring } from '../../src/keyrings/keyring.js';
import { KmsKeyring } from '../../src/keyrings/kms.js';
import { LocalKeyring } from '../../src/keyrings/local.js';
import { follow, type RotationPass } from '../../src/rotator/follow.js';
import {
  type BatchResponse,
  createHandler,
  type StreamEvent,
  type StreamRecord,
} from '../../src/rotator/lambda.js';
import { DynamoDbStore } from '../../src/stores/dynamodb.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import type { SecretStore } from '../../src/stores/store.js';
import { verifyChain } from '../../src/vault/audit.js';
import { Vault } from '../../src/vault/vault.js';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';
import { pollStream } from '../support/dynamodb-streams.js';

let table: string;
let keyArn: string;
let dir: string;
let counter = 0;
const freshNamespace = () => `rot${++counter}-${randomBytes(3).toString('hex')}/app`;

beforeAll(async () => {
  useTestAws();
  dir = mkdtempSync(join(tmpdir(), 'egg-rotator-'));
  [table, keyArn] = await Promise.all([createTestTable('egg-rotator'), createTestKmsKey()]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function openDynamo(): Promise<{ store: SecretStore; keyring: Keyring; close(): Promise<void> }> {
  const store = new DynamoDbStore({ client: await createDynamoDbClient(), table, ownsClient: true });
  const keyring = new KmsKeyring({ client: await createKmsClient(), keyId: keyArn, ownsClient: true });
  return {
    store,
    keyring,
    close: async () => {
      keyring.close();
      await store.close();
    },
  };
}

const localKek = randomBytes(32);
async function openSqlite() {
  const store = new SqliteStore(join(dir, 'vault.db'));
  const keyring = new LocalKeyring(Buffer.from(localKek));
  return {
    store: store as SecretStore,
    keyring: keyring as Keyring,
    close: async () => {
      keyring.close();
      await store.close();
    },
  };
}

/** Poll `check` until it holds, or fail after `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const value = (name: string) => Buffer.from(`value of ${name} ${randomBytes(4).toString('hex')}`);

describe.each([
  ['SQLite + local keyring', openSqlite],
  ['DynamoDB + kms keyring', openDynamo],
])('deferred rotation on %s', (_label, open) => {
  async function seed(namespace: string, names: string[]) {
    const backend = await open();
    const admin = new Vault({ ...backend, namespace, actor: 'user:admin' });
    const values = new Map<string, Buffer>();
    for (const name of names) {
      values.set(name, value(name));
      await admin.set(name, values.get(name) as Buffer);
    }
    const reader = new Vault({ ...backend, namespace, actor: 'job:ci', rotation: 'deferred' });
    const gens = async () =>
      new Map((await backend.store.getSecrets(namespace)).map((item) => [item.name, item.gen]));
    return { backend, admin, reader, values, gens };
  }

  it('a deferred read writes no secret item, only its read record', async () => {
    const namespace = freshNamespace();
    const { backend, reader, values, gens } = await seed(namespace, ['A', 'B']);
    const before = await backend.store.getSecrets(namespace);
    const { secrets, rotation } = await reader.pull(['A']);
    expect(secrets[0]?.value).toEqual(values.get('A'));
    expect(rotation).toEqual({ rotated: 0, skipped: 0, failed: 0, deferred: 1 });
    expect(await backend.store.getSecrets(namespace)).toEqual(before);
    expect(await gens()).toEqual(
      new Map([
        ['A', 1],
        ['B', 1],
      ]),
    );
    const trail = await backend.store.readAudit(namespace);
    expect(trail.at(-1)).toMatchObject({ action: 'read', targets: ['A'], outcome: 'ok', actor: 'job:ci' });
    await backend.close();
  });

  it('rotate() re-encrypts each named secret under a fresh data key and records it', async () => {
    const namespace = freshNamespace();
    const { backend, admin, values, gens } = await seed(namespace, ['A', 'B', 'C']);
    const [beforeA] = await backend.store.getSecrets(namespace, ['A']);
    expect(await admin.rotate(['A', 'C', 'GONE'])).toEqual({
      rotated: 2,
      skipped: 0,
      failed: 0,
      deferred: 0,
    });
    expect(await gens()).toEqual(
      new Map([
        ['A', 2],
        ['B', 1],
        ['C', 2],
      ]),
    );
    const [afterA] = await backend.store.getSecrets(namespace, ['A']);
    expect(afterA?.wrappedKey.equals(beforeA?.wrappedKey as Buffer)).toBe(false);
    expect(afterA?.iv.equals(beforeA?.iv as Buffer)).toBe(false);
    expect(afterA?.rev).toBe(beforeA?.rev);
    // Reading with inline rotation off shows the value survived, under the new generation.
    const reader = new Vault({ ...backend, namespace, actor: 'job:ci', rotation: 'deferred' });
    const { secrets } = await reader.pull(['A', 'C']);
    expect(secrets.map((s) => [s.name, s.gen, s.value.toString()])).toEqual([
      ['A', 2, values.get('A')?.toString()],
      ['C', 2, values.get('C')?.toString()],
    ]);
    const trail = await backend.store.readAudit(namespace);
    expect(trail.map((r) => [r.action, r.targets, r.outcome])).toContainEqual(['rotate', ['A', 'C'], 'ok']);
    expect(verifyChain(trail)).toMatchObject({ ok: true });
    await backend.close();
  });

  it('the follower rotates everything once at start, then every secret a read names', async () => {
    const namespace = freshNamespace();
    const { backend, reader, values, gens } = await seed(namespace, ['A', 'B', 'C']);
    // Read before any rotator runs: the startup pass must cover it.
    await reader.pull(['A']);
    const rotator = await open();
    const passes: RotationPass[] = [];
    const errors: unknown[] = [];
    const stop = new AbortController();
    const running = follow({
      vault: new Vault({ ...rotator, namespace, actor: 'rotator:test' }),
      intervalMs: 20,
      signal: stop.signal,
      onPass: (pass) => passes.push(pass),
      onError: (error) => errors.push(error),
    });
    await eventually(async () => passes.length >= 1);
    expect(passes[0]).toMatchObject({ reason: 'startup', counts: { rotated: 3, failed: 0 } });
    expect(await gens()).toEqual(
      new Map([
        ['A', 2],
        ['B', 2],
        ['C', 2],
      ]),
    );

    await reader.pull(['B', 'C']);
    // The pass is reported once its rotate record is appended, just after the writes.
    await eventually(async () => passes.some((p) => p.reason === 'reads'));
    expect(await gens()).toEqual(
      new Map([
        ['A', 2],
        ['B', 3],
        ['C', 3],
      ]),
    );
    expect(passes.filter((p) => p.reason === 'reads')).toMatchObject([
      { reason: 'reads', names: ['B', 'C'], counts: { rotated: 2 } },
    ]);

    // Its own rotate records, and reads that failed, name nothing to rotate.
    await expect(reader.pull(['MISSING'])).rejects.toMatchObject({ code: 'ERR_SECRET_NOT_FOUND' });
    const settled = passes.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(passes.length).toBe(settled);

    const { secrets } = await reader.pull(['A', 'B', 'C']);
    expect(secrets.map((s) => s.value.toString())).toEqual(
      ['A', 'B', 'C'].map((n) => values.get(n)?.toString()),
    );
    stop.abort();
    await running;
    expect(errors).toEqual([]);
    expect(verifyChain(await backend.store.readAudit(namespace))).toMatchObject({ ok: true });
    await rotator.close();
    await backend.close();
  });
});

describe('the rotator Lambda on the table stream', () => {
  function lambda(keyring?: () => Keyring) {
    const logs: string[] = [];
    const handler = createHandler({
      openBackend: async () => {
        const backend = await openDynamo();
        return keyring === undefined ? backend : { store: backend.store, keyring: keyring() };
      },
      actor: 'rotator:lambda-test',
      logger: {
        debug: () => undefined,
        info: (event, fields) => logs.push(JSON.stringify({ event, ...fields })),
        warn: (event, fields) => logs.push(JSON.stringify({ event, ...fields })),
      },
    });
    return { handler, logs };
  }

  it('rotates what deferred readers read, within the poll, and nothing else', async () => {
    const { dynamodb } = useTestAws();
    const namespace = freshNamespace();
    const backend = await openDynamo();
    const admin = new Vault({ ...backend, namespace, actor: 'user:admin' });
    const canary = Buffer.from(`canary-${randomBytes(12).toString('hex')}`);
    await admin.set('A', canary);
    await admin.set('B', value('B'));
    await admin.set('C', value('C'));
    const { handler, logs } = lambda();
    const poller = await pollStream(dynamodb, table, handler, { intervalMs: 50 });
    try {
      const reader = new Vault({ ...backend, namespace, actor: 'job:ci', rotation: 'deferred' });
      const { secrets } = await reader.pull(['A', 'B']);
      expect(secrets.map((s) => s.gen)).toEqual([1, 1]);
      const gens = async () =>
        new Map((await backend.store.getSecrets(namespace)).map((item) => [item.name, item.gen]));
      await eventually(async () => (await gens()).get('A') === 2 && (await gens()).get('B') === 2);
      expect((await gens()).get('C')).toBe(1);
      // The admin's sets and the rotator's own record never reached the handler.
      expect(poller.batches.flat().map((r) => r.dynamodb?.NewImage?.action?.S)).toEqual(['read']);
      const again = await reader.pull(['A']);
      expect(again.secrets[0]?.value).toEqual(canary);
      expect(again.secrets[0]?.gen).toBe(2);
      expect(logs.join('\n')).not.toContain(canary.toString());
      expect(logs.join('\n')).toContain('"event":"rotator.rotated"');
    } finally {
      await poller.stop();
      await backend.close();
    }
  });

  it('reports a namespace it could not rotate, and the redelivery rotates it', async () => {
    const { dynamodb } = useTestAws();
    const namespace = freshNamespace();
    const backend = await openDynamo();
    await new Vault({ ...backend, namespace, actor: 'user:admin' }).set('A', value('A'));
    let failures = 1;
    const flaky = (): Keyring => {
      const real = new KmsKeyring({ client: kms, keyId: keyArn });
      return {
        ...real,
        unwrap: (...args: Parameters<Keyring['unwrap']>) => {
          if (failures-- > 0) return Promise.reject(new EggError('ERR_STORE_UNAVAILABLE', 'kms down'));
          return real.unwrap(...args);
        },
        generate: (...args: Parameters<Keyring['generate']>) => real.generate(...args),
        close: () => real.close(),
      } as Keyring;
    };
    const kms = await createKmsClient();
    const { handler, logs } = lambda(flaky);
    const poller = await pollStream(dynamodb, table, handler, { intervalMs: 50 });
    try {
      await new Vault({ ...backend, namespace, actor: 'job:ci', rotation: 'deferred' }).pull(['A']);
      await eventually(async () => (await backend.store.getSecrets(namespace, ['A']))[0]?.gen === 2);
      expect(poller.batches.length).toBe(2);
      expect(logs.some((line) => line.includes('"event":"rotator.failed"'))).toBe(true);
    } finally {
      await poller.stop();
      kms.destroy();
      await backend.close();
    }
  });

  it('ships as dist/rotator, configured from the function environment like the CLI', async () => {
    const { dynamodb } = useTestAws();
    const namespace = freshNamespace();
    const backend = await openDynamo();
    await new Vault({ ...backend, namespace, actor: 'user:admin' }).set('A', value('A'));
    // Each invocation in its own Node process, as a Lambda runtime would load the bundle.
    const bundle = fileURLToPath(new URL('../../dist/rotator/index.js', import.meta.url));
    const invoke = async (event: StreamEvent): Promise<BatchResponse> => {
      const child = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const { handler } = await import(${JSON.stringify(bundle)});
           const event = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
           process.stderr.write(JSON.stringify(await handler(event)));`.replace(
            'require(',
            '(await import("node:module")).createRequire(import.meta.url)(',
          ),
        ],
        {
          input: JSON.stringify(event),
          encoding: 'utf8',
          env: { ...process.env, EGG_TABLE: table, EGG_KMS_KEY_ID: keyArn, EGG_KEYRING: 'kms' },
        },
      );
      if (child.status !== 0) throw new Error(`the bundled handler failed: ${child.stderr}`);
      logs.push(child.stdout);
      return JSON.parse(child.stderr) as BatchResponse;
    };
    const logs: string[] = [];
    const poller = await pollStream(dynamodb, table, invoke, { intervalMs: 50 });
    try {
      await new Vault({ ...backend, namespace, actor: 'job:ci', rotation: 'deferred' }).pull(['A']);
      await eventually(async () => (await backend.store.getSecrets(namespace, ['A']))[0]?.gen === 2);
      const trail = await backend.store.readAudit(namespace);
      expect(trail.at(-1)).toMatchObject({ action: 'rotate', targets: ['A'], actor: 'rotator:lambda' });
      expect(logs.join('')).toContain('"event":"rotator.rotated"');
    } finally {
      await poller.stop();
      await backend.close();
    }
  });

  it('skips records that are not a successful read by a valid namespace', async () => {
    const calls: string[] = [];
    const handler = createHandler({
      openBackend: async () => ({
        store: {
          getSecrets: async (namespace: string, names?: readonly string[]) => {
            calls.push(`${namespace}:${names?.join(',')}`);
            return [];
          },
        } as unknown as SecretStore,
        keyring: {} as Keyring,
      }),
      actor: 'rotator:test',
      logger: { debug: () => undefined, info: () => undefined, warn: () => undefined },
    });
    const record = (image: Record<string, unknown>, eventName = 'INSERT'): StreamRecord => ({
      eventName,
      dynamodb: { NewImage: image as never, SequenceNumber: String(++counter) },
    });
    const read = (pk: string, targets: string[], extra: Record<string, unknown> = {}) => ({
      pk: { S: pk },
      sk: { S: 'A#000000000001' },
      action: { S: 'read' },
      outcome: { S: 'ok' },
      targets: { L: targets.map((S) => ({ S })) },
      ...extra,
    });
    const result = await handler({
      Records: [
        record(read('audit#../../etc', ['A'])),
        record(read('audit#good/ns', ['A', 'not a name', '$(rm -rf)'])),
        record(read('good/ns', ['B'])),
        record(read('audit#good/ns', ['C'], { outcome: { S: 'not-found' } })),
        record(read('audit#good/ns', ['D'], { action: { S: 'rotate' } })),
        record(read('audit#good/ns', ['E']), 'MODIFY'),
        { eventName: 'INSERT' },
      ],
    });
    expect(result).toEqual({ batchItemFailures: [] });
    expect(calls).toEqual(['good/ns:A']);
  });
});
