/**
 * A concurrency storm on both stores: 8 writers and 16 readers hammer 5 secrets through
 * several vaults at once, each with its own store connection (and, for SQLite, in separate
 * processes too). It stops:
 * - lost updates: the value with the highest acknowledged rev is the final value, and the
 *   final rev counts every acknowledged set;
 * - torn or invented reads: every read returns a value somebody set;
 * - rotation damage: every item decrypts afterwards;
 * - data-key reuse: every generated data key, wrapped key and IV is unique;
 * - audit loss: the chain verifies and holds exactly one record per operation.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createDynamoDbClient, createKmsClient } from '../../src/aws/clients.js';
import type { Keyring } from '../../src/keyrings/keyring.js';
import { KmsKeyring } from '../../src/keyrings/kms.js';
import { KmsHierarchicalKeyring } from '../../src/keyrings/kms-hierarchical.js';
import { LocalKeyring } from '../../src/keyrings/local.js';
import { DynamoDbStore } from '../../src/stores/dynamodb.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import type { SecretStore } from '../../src/stores/store.js';
import { Vault } from '../../src/vault/vault.js';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';
import {
  type LoadOutcome,
  NAMESPACE,
  type Recorded,
  RecordingKeyring,
  RecordingStore,
  runLoad,
  SECRETS,
  writerSecret,
  writerValue,
} from '../support/storm.js';

interface Shape {
  writers: number;
  readers: number;
  setsPerWriter: number;
  readsPerReader: number;
}

interface Connection {
  store: SecretStore;
  keyring: Keyring;
}

/** Wrap a connection's store and keyring with the recorders and build its vault. */
function recorded(connection: Connection, record: Recorded) {
  const store = new RecordingStore(connection.store, record);
  const keyring = new RecordingKeyring(connection.keyring, record);
  return {
    vault: new Vault({ store, keyring, namespace: NAMESPACE, actor: 'user:storm' }),
    close: async () => {
      keyring.close();
      await store.close();
    },
  };
}

/** Seed each secret once; returns the acknowledged sets. */
async function seed(vault: Vault): Promise<LoadOutcome['acked']> {
  const acked: LoadOutcome['acked'] = [];
  for (const name of SECRETS) {
    const value = `${name}:initial`;
    acked.push({ name, rev: (await vault.set(name, Buffer.from(value))).rev, value });
  }
  return acked;
}

/** The assertions of the storm, over the outcomes of every group (process) that took part. */
async function assertStorm(
  vault: Vault,
  seeded: LoadOutcome['acked'],
  outcomes: LoadOutcome[],
  groups: string[],
  shape: Shape,
) {
  const errors = outcomes.flatMap((o) => o.errors);
  expect(errors).toEqual([]);

  const everSet = new Set(seeded.map((a) => a.value));
  for (const group of groups) {
    for (let w = 0; w < shape.writers; w++) {
      for (let j = 0; j < shape.setsPerWriter; j++) everSet.add(writerValue(group, w, j, writerSecret(w, j)));
    }
  }
  const reads = outcomes.flatMap((o) => o.reads);
  expect(reads).toHaveLength(groups.length * shape.readers * shape.readsPerReader);
  for (const { name, value } of reads) {
    expect(everSet.has(value) && value.startsWith(`${name}:`), `${name} read ${value}`).toBe(true);
  }

  // Every item still decrypts, and holds the value of its highest acknowledged rev.
  const acked = [...seeded, ...outcomes.flatMap((o) => o.acked)];
  expect(acked).toHaveLength(SECRETS.length + groups.length * shape.writers * shape.setsPerWriter);
  const final = await vault.pull();
  expect(final.secrets.map((s) => s.name)).toEqual([...SECRETS].sort());
  for (const secret of final.secrets) {
    const history = acked.filter((a) => a.name === secret.name);
    const revs = history.map((h) => h.rev);
    expect(new Set(revs).size, `${secret.name}: two sets acknowledged the same rev`).toBe(revs.length);
    const last = history.reduce((a, b) => (b.rev > a.rev ? b : a));
    expect([secret.name, secret.value.toString(), secret.rev]).toEqual([
      secret.name,
      last.value,
      history.length,
    ]);
  }
  expect(final.rotation.failed).toBe(0);

  const deks = outcomes.flatMap((o) => o.deks);
  const written = outcomes.flatMap((o) => o.written);
  expect(deks.length).toBeGreaterThanOrEqual(acked.length + reads.length);
  expect(new Set(deks).size).toBe(deks.length);
  expect(new Set(written.map((w) => w.iv)).size).toBe(written.length);
  expect(new Set(written.map((w) => w.wrappedKey)).size).toBe(written.length);

  // One record per set, per read, and for the final pull.
  expect(await vault.verifyAudit()).toMatchObject({ ok: true, records: acked.length + reads.length + 1 });
}

/** 8 writers and 16 readers in this process, spread over `connections` vaults. */
async function inProcessStorm(
  open: () => Promise<Connection>,
  connections: number,
  shape: Omit<Shape, 'writers' | 'readers'>,
) {
  const record: Recorded = { deks: [], written: [] };
  const opened = await Promise.all(
    Array.from({ length: connections }, async () => recorded(await open(), record)),
  );
  const vaults = opened.map((o) => o.vault);
  try {
    const seeded = await seed(vaults[0] as Vault);
    const full = { ...shape, writers: 8, readers: 16 };
    const outcome = await runLoad(vaults, { group: 'g0', ...full }, record);
    await assertStorm(vaults[0] as Vault, seeded, [outcome], ['g0'], full);
  } finally {
    for (const o of opened) await o.close();
  }
}

const WORKER = fileURLToPath(new URL('../support/storm-worker.ts', import.meta.url));
const HOOKS = fileURLToPath(new URL('../support/ts-hooks.mjs', import.meta.url));

/** Start a storm worker process and resolve once it is ready; `go()` releases it. */
async function startWorker(path: string, kek: Buffer, group: string, shape: Shape) {
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      '--import',
      HOOKS,
      WORKER,
      path,
      group,
      ...[shape.writers, shape.readers, shape.setsPerWriter, shape.readsPerReader].map(String),
    ],
    { env: { ...process.env, EGG_STORM_KEK: kek.toString('hex') }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const line = await lines.next();
    if (line.done) throw new Error(`storm worker ${group} ended early: ${stderr}`);
    return line.value;
  };
  expect(await next()).toBe('ready');
  return {
    go: async (): Promise<LoadOutcome> => {
      child.stdin.write('go\n');
      return JSON.parse(await next()) as LoadOutcome;
    },
  };
}

describe('concurrency storm', () => {
  it('SQLite + local keyring: 4 connections on one file, 8 writers, 16 readers, 5 secrets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egg-storm-'));
    const kek = randomBytes(32);
    try {
      await inProcessStorm(
        async () => ({
          store: new SqliteStore(join(dir, 'vault.db')),
          keyring: new LocalKeyring(Buffer.from(kek)),
        }),
        4,
        { setsPerWriter: 12, readsPerReader: 12 },
      );
    } finally {
      kek.fill(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SQLite + local keyring: 4 processes on one file, 2 writers and 4 readers each', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egg-storm-'));
    const path = join(dir, 'vault.db');
    const kek = randomBytes(32);
    const record: Recorded = { deks: [], written: [] };
    const parent = recorded(
      { store: new SqliteStore(path), keyring: new LocalKeyring(Buffer.from(kek)) },
      record,
    );
    try {
      const seeded = await seed(parent.vault);
      const shape = { writers: 2, readers: 4, setsPerWriter: 10, readsPerReader: 10 };
      const groups = ['p0', 'p1', 'p2', 'p3'];
      const workers = await Promise.all(groups.map((group) => startWorker(path, kek, group, shape)));
      const outcomes = await Promise.all(workers.map((worker) => worker.go()));
      await assertStorm(
        parent.vault,
        seeded,
        [...outcomes, { ...record, acked: [], reads: [], errors: [] }],
        groups,
        shape,
      );
    } finally {
      kek.fill(0);
      await parent.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(['kms', 'kms-hierarchical'] as const)(
    'DynamoDB + %s keyring: 4 clients, 8 writers, 16 readers, 5 secrets',
    async (kind) => {
      useTestAws();
      const [table, keyId] = await Promise.all([createTestTable('egg-storm'), createTestKmsKey()]);
      await inProcessStorm(
        async () => {
          const store = new DynamoDbStore({ client: await createDynamoDbClient(), table, ownsClient: true });
          const kmsOptions = { client: await createKmsClient(), keyId, ownsClient: true };
          const keyring =
            kind === 'kms'
              ? new KmsKeyring(kmsOptions)
              : new KmsHierarchicalKeyring({ ...kmsOptions, store });
          return { store, keyring };
        },
        4,
        { setsPerWriter: 6, readsPerReader: 6 },
      );
    },
  );
});
