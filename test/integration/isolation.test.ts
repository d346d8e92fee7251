/**
 * Isolation shown, not assumed (issue 5): the roles `infra/` synthesizes, enforced on every
 * real request. The vault runs unchanged over the real SDK clients, DynamoDB Local and
 * moto's KMS, with an IAM enforcement point between them (test/support/iam-gateway.ts)
 * that evaluates the synthesized template's identity and key policies for each request's
 * action, resource, `dynamodb:LeadingKeys` and `kms:EncryptionContext:*`, as AWS does.
 *
 * - A's read-only role reads A with deferred rotation, appends its read record, and can
 *   neither read B's items nor decrypt under B's context.
 * - It cannot rewrite a secret of its own namespace: inline rotation, a forged PutItem, a
 *   DeleteItem and a token write are all refused by AWS's rules, not by our code.
 * - Its read is rotated anyway, by the rotator Lambda's handler under the rotator's own
 *   role, fed by DynamoDB Local's real stream.
 */
import { randomBytes } from 'node:crypto';
import { DeleteItemCommand, GetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { DecryptCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGrants } from '../../infra/grants.js';
import { nullLogger } from '../../src/log.js';
import { createHandler } from '../../src/rotator/lambda.js';
import type { SecretStore } from '../../src/stores/store.js';
import { verifyChain } from '../../src/vault/audit.js';
import { Vault } from '../../src/vault/vault.js';
import { useTestAws } from '../support/aws.js';
import { pollStream } from '../support/dynamodb-streams.js';
import { type StackUnderTest, synthesizeForTest } from '../support/stack-roles.js';

const A = `iso-a-${randomBytes(3).toString('hex')}/web`;
const B = `iso-b-${randomBytes(3).toString('hex')}/api`;

let sut: StackUnderTest;
let table: string;
let keyArn: string;
const closers: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  sut = await synthesizeForTest({
    grants: parseGrants(
      JSON.stringify([
        { namespace: A, subjects: ['repo:acme@1001/web@2002:environment:prod'] },
        { namespace: B, subjects: ['repo:acme@1001/api@2003:environment:prod'] },
      ]),
    ),
  });
  ({ table, keyArn } = sut);

  // The administrator (no gateway: a person with the key-user role) stores both namespaces.
  const admin = await openAs(undefined);
  for (const [namespace, name] of [
    [A, 'API_KEY'],
    [A, 'DB_URL'],
    [B, 'API_KEY'],
  ] as const)
    await new Vault({ ...admin, namespace, actor: 'user:admin' }).set(
      name,
      Buffer.from(`${namespace} ${name}`),
    );
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await sut.close();
});

const openAs = (role: Parameters<StackUnderTest['openAs']>[0]) => sut.openAs(role);
const stack = () => sut.stack;

const gens = async (store: SecretStore, namespace: string) =>
  new Map((await store.getSecrets(namespace)).map((item) => [item.name, item.gen]));

describe('a read-only grant role, enforced on every request', () => {
  it('reads its namespace with deferred rotation and appends its read record', async () => {
    const role = await openAs(stack().roles.get(A));
    const vault = new Vault({ ...role, namespace: A, actor: 'job:a', rotation: 'deferred' });
    const { secrets } = await vault.pull(['API_KEY', 'DB_URL']);
    expect(secrets.map((s) => s.value.toString())).toEqual([`${A} API_KEY`, `${A} DB_URL`]);
    const trail = await role.store.readAudit(A);
    expect(trail.at(-1)).toMatchObject({ action: 'read', targets: ['API_KEY', 'DB_URL'], actor: 'job:a' });
    expect(role.gateway?.denied).toEqual([]);
    // What it did, as IAM saw it: reads of A and appends to audit#A, Decrypt with A's context.
    const seen = new Set(
      role.gateway?.decisions.map(
        (d) =>
          `${d.action} ${JSON.stringify(d.context['dynamodb:LeadingKeys'] ?? d.context['kms:EncryptionContext:namespace'])}`,
      ),
    );
    expect(seen).toEqual(
      new Set([
        `dynamodb:BatchGetItem ${JSON.stringify([A])}`,
        `dynamodb:Query ${JSON.stringify([`audit#${A}`])}`,
        `dynamodb:PutItem ${JSON.stringify([`audit#${A}`])}`,
        `kms:Decrypt ${JSON.stringify(A)}`,
      ]),
    );
  });

  it("cannot read B's items, B's audit trail, or decrypt under B's context", async () => {
    const role = await openAs(stack().roles.get(A));
    const vault = new Vault({ ...role, namespace: B, actor: 'job:a', rotation: 'deferred' });
    // The item read and the audit-head read start together; whichever is refused first says so.
    await expect(vault.pull(['API_KEY'])).rejects.toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      message: expect.stringMatching(
        new RegExp(`^access denied: dynamodb:(BatchGetItem|Query) on namespace ${B.replace('.', '\\.')}$`),
      ),
    });
    await expect(
      role.dynamodb.send(
        new GetItemCommand({ TableName: table, Key: { pk: { S: B }, sk: { S: 'S#API_KEY' } } }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await expect(
      role.dynamodb.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: `audit#${B}` } },
        }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });

    // B's wrapped data key, handed to A's role (say it was leaked): KMS refuses B's context.
    const admin = await openAs(undefined);
    const [item] = await admin.store.getSecrets(B, ['API_KEY']);
    await expect(
      role.kms.send(
        new DecryptCommand({
          CiphertextBlob: item?.wrappedKey,
          KeyId: keyArn,
          EncryptionContext: { namespace: B, secret: 'API_KEY' },
        }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(new Set(role.gateway?.denied.map((d) => d.action))).toEqual(
      new Set(['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query', 'kms:Decrypt']),
    );
    expect(role.gateway?.decisions.filter((d) => d.decision === 'allow')).toEqual([]);
  });

  it('cannot rewrite a secret of its own namespace, by rotation or by hand', async () => {
    const role = await openAs(stack().roles.get(A));
    const admin = await openAs(undefined);
    const [before] = await admin.store.getSecrets(A, ['API_KEY']);
    // Inline rotation needs a fresh data key and a write: the role has neither.
    const inline = new Vault({ ...role, namespace: A, actor: 'job:a', rotation: 'inline' });
    await expect(inline.pull(['API_KEY'])).rejects.toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      message: 'access denied: kms:GenerateDataKey on namespace ' + A,
    });
    const forged = {
      pk: { S: A },
      sk: { S: 'S#API_KEY' },
      ciphertext: { B: Buffer.from('attacker') },
    };
    await expect(
      role.dynamodb.send(new PutItemCommand({ TableName: table, Item: forged })),
    ).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
    await expect(
      role.dynamodb.send(
        new DeleteItemCommand({ TableName: table, Key: { pk: { S: A }, sk: { S: 'S#API_KEY' } } }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await expect(
      role.dynamodb.send(
        new PutItemCommand({ TableName: table, Item: { pk: { S: `tokens#${A}` }, sk: { S: 'RV#head' } } }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    const [after] = await admin.store.getSecrets(A, ['API_KEY']);
    expect(after).toEqual(before);
  });
});

describe('the rotator, under its own synthesized role', () => {
  it("re-encrypts what the read-only role read, from the table's stream", async () => {
    const { dynamodb } = useTestAws();
    const reader = await openAs(stack().roles.get(A));
    const rotatorRole = await openAs(stack().rotator.role);
    const admin = await openAs(undefined);
    const handler = createHandler({
      openBackend: async () => ({ store: rotatorRole.store, keyring: rotatorRole.keyring }),
      actor: 'rotator:isolation-test',
      logger: nullLogger,
    });
    const poller = await pollStream(dynamodb, table, handler, { intervalMs: 50 });
    closers.push(() => poller.stop());
    const before = await gens(admin.store, A);
    await new Vault({ ...reader, namespace: A, actor: 'job:a', rotation: 'deferred' }).pull(['DB_URL']);
    const deadline = Date.now() + 15_000;
    while ((await gens(admin.store, A)).get('DB_URL') === before.get('DB_URL')) {
      if (Date.now() > deadline)
        throw new Error(
          `not rotated; the rotator was denied: ${JSON.stringify(rotatorRole.gateway?.denied)}`,
        );
      await new Promise((r) => setTimeout(r, 25));
    }
    expect((await gens(admin.store, A)).get('DB_URL')).toBe((before.get('DB_URL') ?? 0) + 1);
    expect((await gens(admin.store, A)).get('API_KEY')).toBe(before.get('API_KEY'));
    expect(rotatorRole.gateway?.denied).toEqual([]);
    // The value survived; the chain holds the read and then the rotator's record.
    const { secrets } = await new Vault({
      ...reader,
      namespace: A,
      actor: 'job:a',
      rotation: 'deferred',
    }).pull(['DB_URL']);
    expect(secrets[0]?.value.toString()).toBe(`${A} DB_URL`);
    const trail = await admin.store.readAudit(A);
    expect(trail.map((r) => r.action)).toContain('rotate');
    expect(verifyChain(trail)).toMatchObject({ ok: true });
  });
});
