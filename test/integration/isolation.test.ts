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
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteItemCommand, GetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { DecryptCommand } from '@aws-sdk/client-kms';
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';
import type { EggCartonStack } from '../../infra/stack.js';
import { createDynamoDbClient, createKmsClient } from '../../src/aws/clients.js';
import type { Keyring } from '../../src/keyrings/keyring.js';
import { KmsKeyring } from '../../src/keyrings/kms.js';
import { nullLogger } from '../../src/log.js';
import { createHandler } from '../../src/rotator/lambda.js';
import { DynamoDbStore } from '../../src/stores/dynamodb.js';
import type { SecretStore } from '../../src/stores/store.js';
import { verifyChain } from '../../src/vault/audit.js';
import { Vault } from '../../src/vault/vault.js';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';
import { pollStream } from '../support/dynamodb-streams.js';
import { startIamGateway } from '../support/iam-gateway.js';
import { cfnResolver, keyPolicyFromTemplate, roleStatementsFromTemplate } from '../support/iam-policy.js';

const A = `iso-a-${randomBytes(3).toString('hex')}/web`;
const B = `iso-b-${randomBytes(3).toString('hex')}/api`;
const ACCOUNT = '123456789012'; // moto's account, so the keys and the roles share one

let dir: string;
let table: string;
let keyArn: string;
let stack: EggCartonStack;
let template: Record<string, unknown>;
let resolve: ReturnType<typeof cfnResolver>;
const closers: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  useTestAws();
  dir = mkdtempSync(join(tmpdir(), 'egg-isolation-'));
  mkdirSync(join(dir, 'rotator'));
  writeFileSync(join(dir, 'rotator', 'index.js'), 'export const handler = async () => ({});\n');
  [table, keyArn] = await Promise.all([createTestTable('egg-isolation'), createTestKmsKey()]);
  ({ stack } = buildStack({
    grants: parseGrants(
      JSON.stringify([
        { namespace: A, subjects: ['repo:acme@1001/web@2002:environment:prod'] },
        { namespace: B, subjects: ['repo:acme@1001/api@2003:environment:prod'] },
      ]),
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
    attributes: { [`${logicalId(stack.key)}.Arn`]: keyArn },
  });

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
  rmSync(dir, { recursive: true, force: true });
});

function logicalId(construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/** SDK clients for a role: through a gateway enforcing its synthesized policies, or direct when undefined. */
async function openAs(role: { node: { defaultChild?: unknown } } | undefined) {
  const aws = useTestAws();
  let endpoints = { dynamodb: aws.dynamodb, kms: aws.moto };
  let gateway: Awaited<ReturnType<typeof startIamGateway>> | undefined;
  if (role !== undefined) {
    const roleId = logicalId(role);
    gateway = await startIamGateway({
      dynamodbEndpoint: aws.dynamodb,
      kmsEndpoint: aws.moto,
      resolve,
      principalArn: resolve({ 'Fn::GetAtt': [roleId, 'Arn'] }) as string,
      policies: roleStatementsFromTemplate(template, roleId),
      keyPolicies: { [keyArn]: keyPolicyFromTemplate(template, logicalId(stack.key)) },
    });
    endpoints = { dynamodb: gateway.dynamodbEndpoint, kms: gateway.kmsEndpoint };
    closers.push(() => gateway?.close());
  }
  const dynamodb = await createDynamoDbClient({ endpoint: endpoints.dynamodb });
  const kms = await createKmsClient({ endpoint: endpoints.kms });
  const store: SecretStore = new DynamoDbStore({ client: dynamodb, table, ownsClient: true });
  const keyring: Keyring = new KmsKeyring({ client: kms, keyId: keyArn, ownsClient: true });
  closers.push(async () => {
    keyring.close();
    await store.close();
  });
  return { store, keyring, dynamodb, kms, gateway };
}

const gens = async (store: SecretStore, namespace: string) =>
  new Map((await store.getSecrets(namespace)).map((item) => [item.name, item.gen]));

describe('a read-only grant role, enforced on every request', () => {
  it('reads its namespace with deferred rotation and appends its read record', async () => {
    const role = await openAs(stack.roles.get(A));
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
    const role = await openAs(stack.roles.get(A));
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
    const role = await openAs(stack.roles.get(A));
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
    const reader = await openAs(stack.roles.get(A));
    const rotatorRole = await openAs(stack.rotator.role);
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
