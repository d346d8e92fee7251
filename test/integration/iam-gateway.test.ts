/**
 * The IAM gateway (test/support/iam-gateway.ts) between the real SDK clients and DynamoDB
 * Local / moto's KMS: a role confined to partition and namespace `a` reads `a`, and every
 * path to `b` (GetItem, Query, a mixed BatchGetItem, Decrypt) gets AWS's own
 * AccessDeniedException, which the app turns into ERR_ACCESS_DENIED. Last, the same with
 * the policies as a synthesized CDK template carries them, intrinsics and all.
 */
import {
  BatchGetItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoDbClient, createKmsClient } from '../../src/aws/clients.js';
import { identityProblem } from '../../src/aws/errors.js';
import { KmsCalls } from '../../src/keyrings/kms.js';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';
import type { AwsEndpoints } from '../support/global-setup.js';
import { type IamGateway, type IamGatewayOptions, startIamGateway } from '../support/iam-gateway.js';
import {
  cfnResolver,
  keyPolicyFromTemplate,
  type PolicyStatement,
  roleStatementsFromTemplate,
} from '../support/iam-policy.js';

const ACCOUNT = '123456789012'; // moto's default account, so its key ARNs are in the role's account
const ROLE = `arn:aws:iam::${ACCOUNT}:role/egg-ci-a`;
const OTHER_ROLE = `arn:aws:iam::${ACCOUNT}:role/egg-ci-b`;
const CALLER = `arn:aws:sts::${ACCOUNT}:assumed-role/egg-ci-a/egg-test`;

let aws: AwsEndpoints;
let table: string;
let tableArn: string;
let keyArn: string;
let direct: { dynamodb: DynamoDBClient; kms: KMSClient };
/** Data keys wrapped by moto directly, per namespace. */
const wrapped: Record<'a' | 'b', { blob: Uint8Array; plaintext: Uint8Array }> = {} as never;
const opened: Array<{ gateway: IamGateway; dynamodb: DynamoDBClient; kms: KMSClient }> = [];

const key = (pk: string, sk = 'S#TOKEN') => ({ pk: { S: pk }, sk: { S: sk } });
const context = (namespace: string) => ({ namespace, secret: 'TOKEN' });

/** The hand-written role: reads of partition `a`, Decrypt for namespace `a`, nothing else. */
const policies = (): PolicyStatement[] => [
  {
    Sid: 'ReadPartitionA',
    Effect: 'Allow',
    Action: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:BatchGetItem'],
    Resource: tableArn,
    Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['a'] } },
  },
  {
    Sid: 'DecryptNamespaceA',
    Effect: 'Allow',
    Action: 'kms:Decrypt',
    Resource: keyArn,
    Condition: { StringEquals: { 'kms:EncryptionContext:namespace': 'a' } },
  },
];

/** A gateway with SDK clients pointed at it; closed after the file. */
async function open(options: Partial<IamGatewayOptions> = {}) {
  const gateway = await startIamGateway({
    dynamodbEndpoint: aws.dynamodb,
    kmsEndpoint: aws.moto,
    principalArn: ROLE,
    policies: policies(),
    ...options,
  });
  const clients = {
    gateway,
    dynamodb: await createDynamoDbClient({ endpoint: gateway.dynamodbEndpoint }),
    kms: await createKmsClient({ endpoint: gateway.kmsEndpoint }),
  };
  opened.push(clients);
  return clients;
}

/** The rejection of `promise`, which must reject. */
async function refusal(
  promise: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error('expected the call to be refused');
  return error;
}

const deniedMessage = (action: string, resource: string, policy = 'identity-based') =>
  `User: ${CALLER} is not authorized to perform: ${action} on resource: ${resource} because no ${policy} policy allows the ${action} action`;

beforeAll(async () => {
  aws = useTestAws();
  table = await createTestTable('egg-iamgw');
  tableArn = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/${table}`;
  keyArn = await createTestKmsKey();
  expect(keyArn).toMatch(new RegExp(`^arn:aws:kms:us-east-1:${ACCOUNT}:key/`));
  direct = { dynamodb: await createDynamoDbClient(), kms: await createKmsClient() };
  for (const pk of ['a', 'b'] as const) {
    await direct.dynamodb.send(
      new PutItemCommand({ TableName: table, Item: { ...key(pk), value: { S: `value-${pk}` } } }),
    );
    const { CiphertextBlob, Plaintext } = await direct.kms.send(
      new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', EncryptionContext: context(pk) }),
    );
    wrapped[pk] = { blob: CiphertextBlob as Uint8Array, plaintext: Plaintext as Uint8Array };
  }
});

afterAll(async () => {
  for (const { gateway, dynamodb, kms } of opened) {
    dynamodb.destroy();
    kms.destroy();
    await gateway.close();
  }
  direct?.dynamodb.destroy();
  direct?.kms.destroy();
});

describe('DynamoDB through the gateway', () => {
  it('forwards GetItem on the role’s own partition to DynamoDB Local', async () => {
    const { dynamodb, gateway } = await open();
    const { Item } = await dynamodb.send(new GetItemCommand({ TableName: table, Key: key('a') }));
    expect(Item?.value).toEqual({ S: 'value-a' });
    expect(gateway.decisions).toEqual([
      {
        service: 'dynamodb',
        action: 'dynamodb:GetItem',
        resource: tableArn,
        context: {
          'aws:PrincipalArn': ROLE,
          'aws:PrincipalAccount': ACCOUNT,
          'aws:PrincipalType': 'AssumedRole',
          'aws:RequestedRegion': 'us-east-1',
          'aws:SecureTransport': 'true',
          'dynamodb:LeadingKeys': ['a'],
          'dynamodb:Attributes': ['pk', 'sk'],
        },
        decision: 'allow',
        statement: 'ReadPartitionA',
      },
    ]);
  });

  it('refuses GetItem on another partition with the real AccessDeniedException', async () => {
    const { dynamodb, gateway } = await open();
    const error = await refusal(dynamodb.send(new GetItemCommand({ TableName: table, Key: key('b') })));
    expect(error).toMatchObject({
      name: 'AccessDeniedException',
      message: deniedMessage('dynamodb:GetItem', tableArn),
      $metadata: { httpStatusCode: 400 },
    });
    expect(gateway.denied).toEqual([
      expect.objectContaining({
        action: 'dynamodb:GetItem',
        resource: tableArn,
        context: expect.objectContaining({ 'dynamodb:LeadingKeys': ['b'] }),
        decision: 'implicit-deny',
      }),
    ]);
    // …which the app reports as a denial naming the permission and the namespace.
    expect(identityProblem(error, 'dynamodb:GetItem', 'b')).toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      message: 'access denied: dynamodb:GetItem on namespace b',
    });
  });

  it('derives a Query’s partition from its key condition, names or not', async () => {
    const { dynamodb } = await open();
    const query = (pk: string, named: boolean) =>
      dynamodb.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: named ? '#pk = :pk AND begins_with(#sk, :prefix)' : 'pk = :pk',
          ...(named ? { ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' } } : {}),
          ExpressionAttributeValues: { ':pk': { S: pk }, ...(named ? { ':prefix': { S: 'S#' } } : {}) },
        }),
      );
    expect((await query('a', true)).Items).toHaveLength(1);
    for (const named of [true, false]) {
      expect(await refusal(query('b', named))).toMatchObject({
        name: 'AccessDeniedException',
        message: deniedMessage('dynamodb:Query', tableArn),
      });
    }
  });

  it('refuses a BatchGetItem that mixes partitions, and allows one that does not', async () => {
    const { dynamodb, gateway } = await open();
    const batch = (...pks: string[]) =>
      dynamodb.send(
        new BatchGetItemCommand({ RequestItems: { [table]: { Keys: pks.map((pk) => key(pk)) } } }),
      );
    expect((await batch('a')).Responses?.[table]).toHaveLength(1);
    expect(await refusal(batch('a', 'b'))).toMatchObject({
      name: 'AccessDeniedException',
      message: deniedMessage('dynamodb:BatchGetItem', tableArn),
    });
    expect(gateway.denied.at(-1)?.context['dynamodb:LeadingKeys']).toEqual(['a', 'b']);
  });

  it('refuses a PutItem the policy never allows, and nothing is written', async () => {
    const { dynamodb } = await open();
    const put = new PutItemCommand({ TableName: table, Item: { ...key('a', 'S#NEW'), value: { S: 'x' } } });
    expect(await refusal(dynamodb.send(put))).toMatchObject({
      name: 'AccessDeniedException',
      message: deniedMessage('dynamodb:PutItem', tableArn),
    });
    const { Item } = await direct.dynamodb.send(
      new GetItemCommand({ TableName: table, Key: key('a', 'S#NEW') }),
    );
    expect(Item).toBeUndefined();
  });

  it('authorizes each transaction item as its own action', async () => {
    const { dynamodb, gateway } = await open();
    const write = new TransactWriteItemsCommand({
      TransactItems: [{ Put: { TableName: table, Item: { ...key('a', 'S#TX'), value: { S: 'x' } } } }],
    });
    expect(await refusal(dynamodb.send(write))).toMatchObject({
      message: deniedMessage('dynamodb:PutItem', tableArn),
    });
    expect(gateway.denied.at(-1)?.context).toMatchObject({
      'dynamodb:LeadingKeys': ['a'],
      'dynamodb:EnclosingOperation': 'TransactWriteItems',
    });
  });

  it('is as faithful as AWS about the ForAllValues pitfall: Scan has no leading key', async () => {
    const scan = (statement: PolicyStatement) =>
      open({ policies: [statement] }).then(({ dynamodb }) =>
        dynamodb.send(new ScanCommand({ TableName: table })),
      );
    const confined: PolicyStatement = {
      Effect: 'Allow',
      Action: 'dynamodb:Scan',
      Resource: tableArn,
      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['a'] } },
    };
    // Reads partition b too: why a grant must never include Scan.
    const { Items } = await scan(confined);
    expect(Items?.map((item) => item.pk?.S).sort()).toEqual(['a', 'b']);
    const guarded = {
      ...confined,
      Condition: { ...(confined.Condition as object), Null: { 'dynamodb:LeadingKeys': 'false' } },
    };
    expect(await refusal(scan(guarded))).toMatchObject({ name: 'AccessDeniedException' });
  });

  it('fails closed on what it cannot authorize faithfully', async () => {
    const { dynamodb, gateway } = await open();
    const query = new QueryCommand({
      TableName: table,
      KeyConditionExpression: '#sk = :sk',
      ExpressionAttributeNames: { '#sk': 'sk' },
      ExpressionAttributeValues: { ':sk': { S: 'S#TOKEN' } },
    });
    expect(await refusal(dynamodb.send(query))).toMatchObject({
      name: 'AccessDeniedException',
      message: 'iam-gateway: Query: cannot find one "pk = :value" in "#sk = :sk"',
    });
    expect(gateway.denied.at(-1)).toMatchObject({ action: 'dynamodb:Query', decision: 'deny' });
  });
});

describe('KMS through the gateway', () => {
  const decrypt = (
    client: KMSClient,
    blob: Uint8Array,
    namespace: string,
    keyId: string | undefined = keyArn,
  ) =>
    client.send(
      new DecryptCommand({
        CiphertextBlob: blob,
        EncryptionContext: context(namespace),
        ...(keyId === undefined ? {} : { KeyId: keyId }),
      }),
    );

  it('decrypts a data key of namespace a, through moto', async () => {
    const { kms, gateway } = await open();
    const { Plaintext } = await decrypt(kms, wrapped.a.blob, 'a');
    expect(Buffer.from(Plaintext as Uint8Array)).toEqual(Buffer.from(wrapped.a.plaintext));
    expect(gateway.decisions.at(-1)).toEqual({
      service: 'kms',
      action: 'kms:Decrypt',
      resource: keyArn,
      context: expect.objectContaining({
        'kms:EncryptionContext:namespace': 'a',
        'kms:EncryptionContext:secret': 'TOKEN',
        'kms:EncryptionContextKeys': ['namespace', 'secret'],
        'kms:CallerAccount': ACCOUNT,
      }),
      decision: 'allow',
      statement: 'DecryptNamespaceA',
    });
    expect(gateway.decisions.at(-1)?.context['kms:ViaService']).toBeUndefined();
  });

  it('refuses Decrypt for namespace b, whatever the ciphertext', async () => {
    const { kms } = await open();
    for (const blob of [wrapped.b.blob, wrapped.a.blob]) {
      expect(await refusal(decrypt(kms, blob, 'b'))).toMatchObject({
        name: 'AccessDeniedException',
        message: deniedMessage('kms:Decrypt', keyArn),
        $metadata: { httpStatusCode: 400 },
      });
    }
  });

  it('authorizes a Decrypt without KeyId on the key the ciphertext names', async () => {
    const { kms, gateway } = await open();
    await expect(decrypt(kms, wrapped.a.blob, 'a', undefined)).resolves.toMatchObject({ KeyId: keyArn });
    expect(await refusal(decrypt(kms, wrapped.b.blob, 'b', undefined))).toMatchObject({
      message: deniedMessage('kms:Decrypt', keyArn),
    });
    expect(gateway.denied.at(-1)?.resource).toBe(keyArn);
  });

  it('resolves a bare key id to its ARN before authorizing', async () => {
    const { kms } = await open();
    const keyId = keyArn.split('/').at(-1) as string;
    await expect(decrypt(kms, wrapped.a.blob, 'a', keyId)).resolves.toBeDefined();
    expect(await refusal(decrypt(kms, wrapped.b.blob, 'b', keyId))).toMatchObject({
      message: deniedMessage('kms:Decrypt', keyArn),
    });
  });

  it('refuses GenerateDataKey, which the policy does not grant', async () => {
    const { kms } = await open();
    const generate = new GenerateDataKeyCommand({
      KeyId: keyArn,
      KeySpec: 'AES_256',
      EncryptionContext: context('a'),
    });
    expect(await refusal(kms.send(generate))).toMatchObject({
      name: 'AccessDeniedException',
      message: deniedMessage('kms:GenerateDataKey', keyArn),
    });
  });

  it('surfaces through the app’s KMS keyring as ERR_ACCESS_DENIED', async () => {
    const { kms } = await open();
    const calls = new KmsCalls({ client: kms, keyId: keyArn, retry: { attempts: 1 } });
    await expect(
      calls.decrypt(Buffer.from(wrapped.a.blob), context('a'), 'a', 'TOKEN'),
    ).resolves.toHaveLength(32);
    await expect(
      calls.decrypt(Buffer.from(wrapped.b.blob), context('b'), 'b', 'TOKEN'),
    ).rejects.toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      message: 'access denied: kms:Decrypt on namespace b',
    });
  });

  it('requires the key policy too when one is given', async () => {
    const keyPolicy: PolicyStatement[] = [
      {
        Sid: 'NamespaceA',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
        Action: 'kms:Decrypt',
        Resource: '*',
        Condition: {
          StringEquals: { 'kms:EncryptionContext:namespace': 'a' },
          ArnEquals: { 'aws:PrincipalArn': ROLE },
        },
      },
    ];
    const mine = await open({ keyPolicies: { [keyArn]: keyPolicy } });
    await expect(decrypt(mine.kms, wrapped.a.blob, 'a')).resolves.toBeDefined();
    // Same identity policy, another role: the key policy does not name it.
    const other = await open({ principalArn: OTHER_ROLE, keyPolicies: { [keyArn]: keyPolicy } });
    expect(await refusal(decrypt(other.kms, wrapped.a.blob, 'a'))).toMatchObject({
      message: deniedMessage('kms:Decrypt', keyArn, 'resource-based').replace('egg-ci-a', 'egg-ci-b'),
    });
  });
});

describe('policies from a synthesized CDK template', () => {
  it('enforces the statements a stack attaches, intrinsics resolved', async () => {
    // The shape of infra/stack.ts's grant role, on a stack of its own (that file changes).
    const stack = new Stack(new App(), 'IamGatewayTest');
    const cdkTable = new dynamodb.Table(stack, 'Table', {
      tableName: table,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    });
    const cdkKey = new kms.Key(stack, 'Key', { policy: new iam.PolicyDocument() });
    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.AccountRootPrincipal() });
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'NamespaceItems',
        actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem'],
        resources: [cdkTable.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['a'] } },
      }),
    );
    const keyUse = {
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      conditions: { StringEquals: { 'kms:EncryptionContext:namespace': 'a' } },
    };
    role.addToPolicy(
      new iam.PolicyStatement({ sid: 'NamespaceDataKeys', resources: [cdkKey.keyArn], ...keyUse }),
    );
    cdkKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'NamespaceA',
        principals: [new iam.AccountRootPrincipal()],
        actions: keyUse.actions,
        resources: ['*'],
        conditions: { ...keyUse.conditions, ArnEquals: { 'aws:PrincipalArn': role.roleArn } },
      }),
    );
    const template = Template.fromStack(stack).toJSON();
    const id = (construct: { node: { defaultChild?: unknown } }) =>
      stack.getLogicalId(construct.node.defaultChild as CfnElement);
    // Roles and tables resolve from the template itself; only the key's ARN is moto's.
    const resolve = cfnResolver({
      account: ACCOUNT,
      region: 'us-east-1',
      template,
      attributes: { [`${id(cdkKey)}.Arn`]: keyArn },
    });
    const principalArn = resolve({ 'Fn::GetAtt': [id(role), 'Arn'] }) as string;
    expect(principalArn).toBe(`arn:aws:iam::${ACCOUNT}:role/${id(role)}`);
    const statements = roleStatementsFromTemplate(template, id(role));
    expect(JSON.stringify(statements)).toContain('Fn::GetAtt');
    const keyPolicies = { [keyArn]: keyPolicyFromTemplate(template, id(cdkKey)) };
    const { dynamodb: ddb, kms: kmsClient } = await open({
      principalArn,
      policies: statements,
      keyPolicies,
      resolve,
    });

    await expect(ddb.send(new GetItemCommand({ TableName: table, Key: key('a') }))).resolves.toBeDefined();
    await expect(
      ddb.send(new PutItemCommand({ TableName: table, Item: { ...key('a', 'S#CDK'), value: { S: 'x' } } })),
    ).resolves.toBeDefined();
    expect(await refusal(ddb.send(new GetItemCommand({ TableName: table, Key: key('b') })))).toMatchObject({
      name: 'AccessDeniedException',
      message: `User: arn:aws:sts::${ACCOUNT}:assumed-role/${id(role)}/egg-test is not authorized to perform: dynamodb:GetItem on resource: ${tableArn} because no identity-based policy allows the dynamodb:GetItem action`,
    });
    const decrypt = (client: KMSClient, namespace: 'a' | 'b') =>
      client.send(
        new DecryptCommand({
          CiphertextBlob: wrapped[namespace].blob,
          KeyId: keyArn,
          EncryptionContext: context(namespace),
        }),
      );
    await expect(decrypt(kmsClient, 'a')).resolves.toBeDefined();
    expect(await refusal(decrypt(kmsClient, 'b'))).toMatchObject({ name: 'AccessDeniedException' });
    const other = await open({ principalArn: OTHER_ROLE, policies: statements, keyPolicies, resolve });
    expect(await refusal(decrypt(other.kms, 'a'))).toMatchObject({
      message: expect.stringContaining('because no resource-based policy allows the kms:Decrypt action'),
    });
  });
});
