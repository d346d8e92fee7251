/**
 * Anchored audit trails on both stores (issue 9, item 14), and on AWS under the roles infra/
 * synthesizes. A checkpoint, signed by the anchor key and kept where readers cannot write,
 * makes `verifyAudit` refuse a trail cut below it or recomputed from scratch.
 *
 * - Both stores: checkpoints are kept apart, one per seq, never replaced; the attacks
 *   (newest records deleted, the whole chain rewritten, a forged checkpoint) fail verify;
 *   the follower (`egg rotate --follow`) anchors what it rotates.
 * - AWS, enforced on every request by the IAM gateway (test/support/iam-gateway.ts) with the
 *   synthesized policies: a read-only grant can read checkpoints and the anchor key's public
 *   key, but cannot write `anchor#<ns>` nor sign with the anchor key; it can still overwrite
 *   its own records (IAM cannot stop that), and the checkpoint shows it. The rotator's role
 *   signs (KMS Sign through a loopback fake, as moto has no Ed25519) and stores checkpoints,
 *   from DynamoDB Local's real stream.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { SignCommand } from '@aws-sdk/client-kms';
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';
import type { EggCartonStack } from '../../infra/stack.js';
import { createDynamoDbClient, createKmsClient } from '../../src/aws/clients.js';
import type { Keyring } from '../../src/keyrings/keyring.js';
import { KmsKeyring } from '../../src/keyrings/kms.js';
import { LocalKeyring } from '../../src/keyrings/local.js';
import { nullLogger } from '../../src/log.js';
import { follow } from '../../src/rotator/follow.js';
import { createHandler } from '../../src/rotator/lambda.js';
import { auditPartition, auditSortKey, DynamoDbStore } from '../../src/stores/dynamodb.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import type { AuditCheckpoint, AuditRecord, SecretStore } from '../../src/stores/store.js';
import { KmsSigner } from '../../src/tokens/kms-signer.js';
import { LocalSigner } from '../../src/tokens/signer.js';
import {
  type AnchorKey,
  type CheckpointSigner,
  checkpointPayload,
  signCheckpoint,
} from '../../src/vault/anchor.js';
import { chainRecord } from '../../src/vault/audit.js';
import { Vault } from '../../src/vault/vault.js';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';
import { pollStream } from '../support/dynamodb-streams.js';
import { startIamGateway } from '../support/iam-gateway.js';
import { cfnResolver, keyPolicyFromTemplate, roleStatementsFromTemplate } from '../support/iam-policy.js';
import { type FakeKms, startFakeKmsSigner } from '../support/proxy-fake-kms.js';

let dir: string;
let table: string;
let keyArn: string;
let counter = 0;
const fresh = () => `anc${++counter}-${randomBytes(3).toString('hex')}/app`;
const closers: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  useTestAws();
  dir = mkdtempSync(join(tmpdir(), 'egg-checkpoints-'));
  [table, keyArn] = await Promise.all([createTestTable('egg-anchor'), createTestKmsKey()]);
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  rmSync(dir, { recursive: true, force: true });
});

/** The attacker's hands on each store: what someone who can write the records does. */
interface Backend {
  store: SecretStore;
  keyring: Keyring;
  /** Delete the records after `seq` (an administrator on AWS; the file's owner locally). */
  deleteAfter(namespace: string, seq: number): Promise<void>;
  /** Overwrite every record with `records` (on AWS: PutItem, which every read-only grant has). */
  overwrite(namespace: string, records: AuditRecord[]): Promise<void>;
  /** Put a checkpoint in whatever form, bypassing the store's append-only rules. */
  plantCheckpoint(checkpoint: AuditCheckpoint): Promise<void>;
}

function openSqlite(): Backend {
  const path = join(dir, 'vault.db');
  const store = new SqliteStore(path);
  const keyring = new LocalKeyring(randomBytes(32));
  closers.push(async () => {
    keyring.close();
    await store.close();
  });
  const raw = (change: (db: DatabaseSync) => void) => {
    const db = new DatabaseSync(path);
    try {
      db.exec('DROP TRIGGER IF EXISTS audit_no_delete; DROP TRIGGER IF EXISTS audit_no_update;');
      db.exec('DROP TRIGGER IF EXISTS audit_checkpoints_no_delete;');
      change(db);
    } finally {
      db.close();
    }
  };
  return {
    store,
    keyring,
    deleteAfter: async (ns, seq) =>
      raw((db) => db.prepare('DELETE FROM audit WHERE namespace = ? AND seq > ?').run(ns, seq)),
    overwrite: async (ns, records) =>
      raw((db) => {
        db.prepare('DELETE FROM audit WHERE namespace = ?').run(ns);
        for (const r of records)
          db.prepare('INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
            r.namespace,
            r.seq,
            r.time,
            r.action,
            JSON.stringify(r.targets),
            r.actor,
            r.outcome,
            r.prev,
            r.hash,
          );
      }),
    plantCheckpoint: async (c) =>
      raw((db) =>
        db
          .prepare('INSERT OR REPLACE INTO audit_checkpoints VALUES (?, ?, ?, ?, ?, ?)')
          .run(c.namespace, c.seq, c.hash, c.time, c.kid, c.signature),
      ),
  };
}

async function openDynamo(): Promise<Backend> {
  const client = await createDynamoDbClient();
  const store = new DynamoDbStore({ client, table });
  const keyring = new KmsKeyring({ client: await createKmsClient(), keyId: keyArn, ownsClient: true });
  closers.push(async () => {
    keyring.close();
    await store.close();
    client.destroy();
  });
  return {
    store,
    keyring,
    deleteAfter: async (ns, seq) => {
      for (const record of await store.readAudit(ns, { afterSeq: seq }))
        await client.send(
          new DeleteItemCommand({
            TableName: table,
            Key: { pk: { S: auditPartition(ns) }, sk: { S: auditSortKey(record.seq) } },
          }),
        );
    },
    overwrite: async (ns, records) => {
      for (const r of records)
        await client.send(new PutItemCommand({ TableName: table, Item: auditItem(r) }));
    },
    plantCheckpoint: async (c) => {
      await client.send(
        new PutItemCommand({
          TableName: table,
          Item: {
            pk: { S: `anchor#${c.namespace}` },
            sk: { S: `C#${String(c.seq).padStart(12, '0')}` },
            seq: { N: String(c.seq) },
            hash: { S: c.hash },
            time: { S: c.time },
            kid: { S: c.kid },
            signature: { S: c.signature },
          },
        }),
      );
    },
  };
}

function auditItem(r: AuditRecord) {
  return {
    pk: { S: auditPartition(r.namespace) },
    sk: { S: auditSortKey(r.seq) },
    seq: { N: String(r.seq) },
    time: { S: r.time },
    action: { S: r.action },
    targets: { L: r.targets.map((t) => ({ S: t })) },
    actor: { S: r.actor },
    outcome: { S: r.outcome },
    prev: { S: r.prev },
    hash: { S: r.hash },
  };
}

/** The same records, every one rewritten (another actor), with a consistent recomputed chain. */
function recompute(records: AuditRecord[], actor = 'job:innocent'): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (const r of records) out.push(chainRecord(r.namespace, out.at(-1), { ...r, actor }, new Date(r.time)));
  return out;
}

const anchorSigner = new LocalSigner(randomBytes(32));
const anchorKey = async (): Promise<AnchorKey> => ({
  kid: await anchorSigner.kid(),
  publicKey: await anchorSigner.publicKey(),
});

describe.each([
  ['SQLite', async () => openSqlite()],
  ['DynamoDB Local', openDynamo],
])('checkpoints on %s', (_label, open) => {
  /** A namespace with two secrets, read `reads` times, anchored, then read `after` times more. */
  async function anchoredTrail(reads: number, after: number) {
    const backend = await open();
    const namespace = fresh();
    const vault = new Vault({ ...backend, namespace, actor: 'job:ci', rotation: 'deferred' });
    await vault.set('A', Buffer.from('a'));
    await vault.set('B', Buffer.from('b'));
    for (let i = 0; i < reads; i++) await vault.pull();
    const anchored = await vault.checkpoint(anchorSigner);
    for (let i = 0; i < after; i++) await vault.pull();
    return { backend, namespace, vault, anchored: anchored?.checkpoint as AuditCheckpoint };
  }

  it('keeps checkpoints apart from the records, one per seq, never replaced', async () => {
    const { backend, namespace, vault, anchored } = await anchoredTrail(1, 0);
    expect(anchored).toMatchObject({ namespace, seq: 3 });
    const again = await signCheckpoint(
      (await vault.auditTrail())[2] as AuditRecord,
      anchorSigner,
      new Date(),
    );
    expect(await backend.store.putCheckpoint(again)).toBe(false);
    expect(await backend.store.readCheckpoints(namespace)).toEqual([anchored]);
    await vault.pull();
    const second = await vault.checkpoint(anchorSigner);
    expect(second).toMatchObject({ created: true, checkpoint: { seq: 4 } });
    expect((await backend.store.readCheckpoints(namespace)).map((c) => c.seq)).toEqual([3, 4]);
    expect(await backend.store.readCheckpoints(namespace, { latest: true })).toEqual([second?.checkpoint]);
    expect(await backend.store.readCheckpoints(fresh())).toEqual([]);
    // The records are what they were: a checkpoint is no audit record.
    expect((await vault.auditTrail()).map((r) => r.action)).toEqual(['set', 'set', 'read', 'read']);
    expect(await vault.verifyAudit({ anchorKey })).toMatchObject({
      ok: true,
      anchor: { seq: 4 },
      unanchored: 0,
    });
  });

  it('fails verify when the newest records are deleted after a checkpoint', async () => {
    const { backend, namespace, vault, anchored } = await anchoredTrail(3, 2);
    expect(await vault.verifyAudit({ anchorKey })).toMatchObject({ ok: true, records: 7, unanchored: 2 });
    await backend.deleteAfter(namespace, 3);
    expect(await vault.verifyAudit({ anchorKey })).toEqual({
      ok: false,
      records: 3,
      seq: 4,
      reason: `the trail ends at record 3, but a checkpoint signed ${anchored.time} anchors record 5: records were removed from its end`,
    });
  });

  it('fails verify at the checkpoint when the whole chain is recomputed', async () => {
    const { backend, namespace, vault, anchored } = await anchoredTrail(2, 1);
    await backend.overwrite(namespace, recompute(await vault.auditTrail()));
    expect(await vault.verifyAudit({ anchorKey })).toEqual({
      ok: false,
      records: 5,
      seq: 4,
      reason: `it differs from the record the checkpoint signed ${anchored.time} anchors: the chain was rewritten`,
    });
    // And the rotator will not anchor the rewritten trail.
    await expect(vault.checkpoint(anchorSigner)).rejects.toMatchObject({
      code: 'ERR_AUDIT_BROKEN',
      message: `refusing to anchor the audit trail of ${namespace}: record 4 differs from the one its newest checkpoint anchors`,
    });
  });

  it('refuses a forged checkpoint that re-anchors a cut trail', async () => {
    const { backend, namespace, vault } = await anchoredTrail(3, 0);
    await backend.deleteAfter(namespace, 3);
    const { privateKey } = generateKeyPairSync('ed25519');
    const forger: CheckpointSigner = {
      kid: anchorSigner.kid.bind(anchorSigner),
      sign: async (data) => sign(null, data, privateKey),
      publicKey: anchorSigner.publicKey.bind(anchorSigner),
    };
    const forged = await signCheckpoint((await vault.auditTrail())[2] as AuditRecord, forger, new Date());
    // The real checkpoint at 5 replaced by junk, and a forged one at the new head.
    await backend.plantCheckpoint({ ...forged, seq: 5 });
    await backend.plantCheckpoint(forged);
    expect(await vault.verifyAudit({ anchorKey })).toMatchObject({
      ok: false,
      seq: 3,
      reason: expect.stringMatching(/^its checkpoint is not signed by the anchor key/),
    });
    // Nor does the anchor build on it.
    await expect(vault.checkpoint(anchorSigner)).rejects.toMatchObject({ code: 'ERR_AUDIT_BROKEN' });
  });

  it('the follower anchors what it rotates, once per pass', async () => {
    const backend = await open();
    const namespace = fresh();
    const admin = new Vault({ ...backend, namespace, actor: 'user:admin' });
    await admin.set('A', Buffer.from('a'));
    const reader = new Vault({ ...backend, namespace, actor: 'job:ci', rotation: 'deferred' });
    const stop = new AbortController();
    const anchoredSeqs: number[] = [];
    const rotator = new Vault({ ...backend, namespace, actor: 'rotator:test' });
    const following = follow({
      vault: rotator,
      intervalMs: 20,
      signal: stop.signal,
      anchor: anchorSigner,
      checkpointGapMs: 0,
      onCheckpoint: (c) => anchoredSeqs.push(c.seq),
    });
    try {
      await eventually(async () => anchoredSeqs.length === 1); // the startup pass
      const { audit } = await reader.pull(['A']);
      await eventually(async () => (anchoredSeqs.at(-1) ?? 0) > audit.seq);
    } finally {
      stop.abort();
      await following;
    }
    const trail = await rotator.auditTrail();
    // set, rotate (startup), read, rotate: each pass's head anchored, nothing twice.
    expect(trail.map((r) => r.action)).toEqual(['set', 'rotate', 'read', 'rotate']);
    expect(anchoredSeqs).toEqual([2, 4]);
    expect(await reader.verifyAudit({ anchorKey })).toMatchObject({ ok: true, unanchored: 0 });
  });
});

describe('the rotator Lambda on DynamoDB Local', () => {
  /** A read record as the table's stream carries it to the handler. */
  const readEvent = (namespace: string, seq: number, names: string[]) => ({
    Records: [
      {
        eventName: 'INSERT',
        dynamodb: {
          SequenceNumber: String(seq),
          NewImage: {
            pk: { S: auditPartition(namespace) },
            action: { S: 'read' },
            outcome: { S: 'ok' },
            targets: { L: names.map((S) => ({ S })) },
          },
        },
      },
    ],
  });

  it('anchors each batch, and refuses to anchor a trail rewritten since, without failing the batch', async () => {
    const backend = await openDynamo();
    const namespace = fresh();
    const logs: string[] = [];
    const handler = createHandler({
      openBackend: async () => backend,
      openAnchor: async () => anchorSigner,
      actor: 'rotator:test',
      logger: {
        debug: () => undefined,
        info: (event, fields) => logs.push(`${event} ${JSON.stringify(fields)}`),
        warn: (event, fields) => logs.push(`${event} ${JSON.stringify(fields)}`),
      },
    });
    const vault = new Vault({ ...backend, namespace, actor: 'job:ci', rotation: 'deferred' });
    await vault.set('A', Buffer.from('a'));
    const first = await vault.pull(['A']); // 2, then the rotator's record 3
    expect(await handler(readEvent(namespace, first.audit.seq, ['A']))).toEqual({ batchItemFailures: [] });
    expect(await backend.store.readCheckpoints(namespace)).toMatchObject([{ seq: 3 }]);
    expect(logs).toContain(`rotator.anchored ${JSON.stringify({ namespace, seq: 3 })}`);

    // A writer of the trail rewrites record 4 after the next read; the rotator still rotates.
    const second = await vault.pull(['A']);
    const tampered = { ...(await vault.auditTrail()).at(-1), actor: 'job:someone-else' } as AuditRecord;
    await backend.overwrite(namespace, [tampered]);
    expect(await handler(readEvent(namespace, second.audit.seq, ['A']))).toEqual({ batchItemFailures: [] });
    expect((await backend.store.getSecrets(namespace, ['A']))[0]?.gen).toBe(3);
    expect(await backend.store.readCheckpoints(namespace)).toMatchObject([{ seq: 3 }]);
    expect(logs.at(-1)).toBe(
      `rotator.checkpoint-failed ${JSON.stringify({
        namespace,
        error: 'ERR_AUDIT_BROKEN',
        reason: `refusing to anchor the audit trail of ${namespace}: record 4 was altered`,
      })}`,
    );
  });
});

/** Poll `check` until it holds, or fail after `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('on AWS, under the synthesized roles', () => {
  const ACCOUNT = '123456789012'; // moto's account, so the keys and the roles share one
  const A = `anc-a-${randomBytes(3).toString('hex')}/web`;
  let stack: EggCartonStack;
  let template: Record<string, unknown>;
  let resolve: ReturnType<typeof cfnResolver>;
  let signerKms: FakeKms;

  beforeAll(async () => {
    const aws = useTestAws();
    signerKms = await startFakeKmsSigner({ forward: aws.moto });
    closers.push(() => signerKms.close());
    mkdirSync(join(dir, 'rotator'));
    writeFileSync(join(dir, 'rotator', 'index.js'), 'export const handler = async () => ({});\n');
    ({ stack } = buildStack({
      grants: parseGrants(
        JSON.stringify([{ namespace: A, subjects: ['repo:acme@1001/web@2002:environment:prod'] }]),
      ),
      tableName: table,
      githubOidcProviderArn: `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`,
      rotatorCodePath: join(dir, 'rotator'),
      outdir: join(dir, 'cdk.out'),
      env: { account: ACCOUNT, region: 'us-east-1' },
    }));
    template = Template.fromStack(stack).toJSON() as Record<string, unknown>;
    resolve = cfnResolver({
      account: ACCOUNT,
      region: 'us-east-1',
      template,
      attributes: {
        [`${logicalId(stack.key)}.Arn`]: keyArn,
        [`${logicalId(stack.anchorKey)}.Arn`]: signerKms.keyArn,
      },
    });
    const admin = await openAs(undefined);
    await new Vault({ ...admin, namespace: A, actor: 'user:admin' }).set('API_KEY', Buffer.from('a-key'));
  });

  function logicalId(construct: { node: { defaultChild?: unknown } }): string {
    return stack.getLogicalId(construct.node.defaultChild as CfnElement);
  }

  /** SDK clients for a role, through a gateway enforcing its synthesized policies (direct when undefined). */
  async function openAs(role: { node: { defaultChild?: unknown } } | undefined) {
    const aws = useTestAws();
    let endpoints = { dynamodb: aws.dynamodb, kms: signerKms.endpoint };
    let gateway: Awaited<ReturnType<typeof startIamGateway>> | undefined;
    if (role !== undefined) {
      const roleId = logicalId(role);
      gateway = await startIamGateway({
        dynamodbEndpoint: aws.dynamodb,
        kmsEndpoint: signerKms.endpoint,
        resolve,
        principalArn: resolve({ 'Fn::GetAtt': [roleId, 'Arn'] }) as string,
        policies: roleStatementsFromTemplate(template, roleId),
        keyPolicies: {
          [keyArn]: keyPolicyFromTemplate(template, logicalId(stack.key)),
          [signerKms.keyArn]: keyPolicyFromTemplate(template, logicalId(stack.anchorKey)),
        },
      });
      endpoints = { dynamodb: gateway.dynamodbEndpoint, kms: gateway.kmsEndpoint };
      closers.push(() => gateway?.close());
    }
    const dynamodb = await createDynamoDbClient({ endpoint: endpoints.dynamodb });
    const kms = await createKmsClient({ endpoint: endpoints.kms });
    const store: SecretStore = new DynamoDbStore({ client: dynamodb, table });
    const keyring: Keyring = new KmsKeyring({ client: kms, keyId: keyArn });
    const anchor = new KmsSigner({ client: kms, keyId: signerKms.keyArn, setting: 'EGG_ANCHOR_KEY_ID' });
    closers.push(async () => {
      await store.close();
      dynamodb.destroy();
      kms.destroy();
    });
    const key = async (): Promise<AnchorKey> => ({
      kid: await anchor.kid(),
      publicKey: await anchor.publicKey(),
    });
    return { store, keyring, dynamodb, kms, gateway, anchor, anchorKey: key };
  }

  it('the rotator role signs and stores checkpoints from the stream; the reader verifies them', async () => {
    const { dynamodb } = useTestAws();
    const reader = await openAs(stack.roles.get(A));
    const rotatorRole = await openAs(stack.rotator.role);
    const handler = createHandler({
      openBackend: async () => ({ store: rotatorRole.store, keyring: rotatorRole.keyring }),
      openAnchor: async () => rotatorRole.anchor,
      actor: 'rotator:checkpoint-test',
      logger: nullLogger,
    });
    const poller = await pollStream(dynamodb, table, handler, { intervalMs: 50 });
    const vault = new Vault({ ...reader, namespace: A, actor: 'job:a', rotation: 'deferred' });
    try {
      const { audit } = await vault.pull(['API_KEY']);
      // The rotator's pass appends its rotate record after the read, then anchors the head.
      await eventually(
        async () => ((await reader.store.readCheckpoints(A, { latest: true }))[0]?.seq ?? 0) > audit.seq,
      );
    } finally {
      await poller.stop();
    }
    expect(rotatorRole.gateway?.denied).toEqual([]);
    const signed = new Set(rotatorRole.gateway?.decisions.map((d) => d.action));
    expect(signed).toContain('kms:Sign');
    expect(await vault.verifyAudit({ anchorKey: reader.anchorKey })).toMatchObject({
      ok: true,
      unanchored: 0,
    });
    expect(reader.gateway?.denied).toEqual([]);
  });

  it('a read-only grant cannot write the checkpoint partition nor sign with the anchor key', async () => {
    const reader = await openAs(stack.roles.get(A));
    const head = (await reader.store.readAudit(A)).at(-1) as AuditRecord;
    // Through the store, as a compromised job using our own code would.
    const { privateKey } = generateKeyPairSync('ed25519');
    const body = {
      namespace: A,
      seq: head.seq + 100,
      hash: head.hash,
      time: new Date().toISOString(),
      kid: 'x',
    };
    const forged = {
      ...body,
      signature: sign(null, checkpointPayload(body), privateKey).toString('base64url'),
    };
    await expect(reader.store.putCheckpoint(forged)).rejects.toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      message: `access denied: dynamodb:PutItem on namespace ${A}`,
    });
    // By hand: PutItem and DeleteItem in anchor#A.
    const key = { pk: { S: `anchor#${A}` }, sk: { S: 'C#000000000001' } };
    await expect(
      reader.dynamodb.send(new PutItemCommand({ TableName: table, Item: { ...key, seq: { N: '1' } } })),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await expect(
      reader.dynamodb.send(new DeleteItemCommand({ TableName: table, Key: key })),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    // Signing a checkpoint with the anchor key itself.
    await expect(reader.anchor.sign(checkpointPayload(body))).rejects.toMatchObject({
      code: 'ERR_ACCESS_DENIED',
    });
    await expect(
      reader.kms.send(
        new SignCommand({
          KeyId: signerKms.keyArn,
          Message: checkpointPayload(body),
          MessageType: 'RAW',
          SigningAlgorithm: 'ED25519_SHA_512',
        }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(new Set(reader.gateway?.denied.map((d) => d.action))).toEqual(
      new Set(['dynamodb:PutItem', 'dynamodb:DeleteItem', 'kms:Sign']),
    );
  });

  it('a read-only grant that recomputes its own trail (PutItem it has) fails verify at the checkpoint', async () => {
    const reader = await openAs(stack.roles.get(A));
    const rotatorRole = await openAs(stack.rotator.role);
    const vault = new Vault({ ...reader, namespace: A, actor: 'job:a', rotation: 'deferred' });
    await vault.pull(['API_KEY']);
    const anchored = await new Vault({ ...rotatorRole, namespace: A, actor: 'rotator:test' }).checkpoint(
      rotatorRole.anchor,
    );
    expect(anchored?.created).toBe(true);
    // The role may PutItem any A# item of its trail: it rewrites the whole chain, consistently.
    for (const record of recompute(await vault.auditTrail()))
      await reader.dynamodb.send(new PutItemCommand({ TableName: table, Item: auditItem(record) }));
    expect(reader.gateway?.denied).toEqual([]);
    // The oldest checkpoint is the first the rewritten chain no longer matches.
    const [oldest] = await reader.store.readCheckpoints(A);
    expect(await vault.verifyAudit({ anchorKey: reader.anchorKey })).toMatchObject({
      ok: false,
      seq: oldest?.seq,
      reason: expect.stringMatching(/the chain was rewritten$/),
    });
  });
});
