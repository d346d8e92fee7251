/**
 * The roles `infra/` synthesizes, acting on DynamoDB Local and moto's KMS through an IAM
 * gateway (test/support/iam-gateway.ts) that enforces the synthesized template's identity
 * and key policies on every request. A suite synthesizes one stack over its own table and
 * key, then opens SDK clients and the app's adapters as any of its roles, or as the
 * administrator (no gateway).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type BuildOptions, buildStack } from '../../infra/app.js';
import type { EggCartonStack } from '../../infra/stack.js';
import { createDynamoDbClient, createKmsClient } from '../../src/aws/clients.js';
import type { Keyring } from '../../src/keyrings/keyring.js';
import { KmsKeyring } from '../../src/keyrings/kms.js';
import { DynamoDbStore } from '../../src/stores/dynamodb.js';
import type { SecretStore } from '../../src/stores/store.js';
import { DynamoDbTokenStore } from '../../src/tokens/dynamodb-token-store.js';
import { createTestKmsKey, createTestTable, useTestAws } from './aws.js';
import { type IamGateway, startIamGateway } from './iam-gateway.js';
import { cfnResolver, keyPolicyFromTemplate, roleStatementsFromTemplate } from './iam-policy.js';

/** moto's account, so the keys and the roles share one. */
export const TEST_ACCOUNT = '123456789012';

/** A construct with a CloudFormation resource under it (a role, a key, a table). */
type Resource = { node: { defaultChild?: unknown } };

/** SDK clients and the app's adapters acting as one role (or the administrator). */
export interface RoleClients {
  dynamodb: DynamoDBClient;
  kms: KMSClient;
  store: SecretStore;
  tokens: DynamoDbTokenStore;
  keyring: Keyring;
  /** The gateway enforcing the role's policies; undefined for the administrator. */
  gateway: IamGateway | undefined;
}

export interface StackUnderTest {
  stack: EggCartonStack;
  template: Record<string, unknown>;
  table: string;
  keyArn: string;
  resolve: ReturnType<typeof cfnResolver>;
  logicalId(construct: Resource): string;
  /** Clients acting as `role` through a gateway, or as the administrator when undefined. */
  openAs(role: Resource | undefined): Promise<RoleClients>;
  /** Closes every client and gateway opened, and removes the stand-in rotator code. */
  close(): Promise<void>;
}

/**
 * Synthesizes the stack (with a stand-in rotator bundle) over a fresh table and KMS key.
 * @example
 * const sut = await synthesizeForTest({ grants: parseGrants(text) });
 * const reader = await sut.openAs(sut.stack.roles.get('acme/web'));
 */
export async function synthesizeForTest(
  options: Omit<BuildOptions, 'tableName' | 'rotatorCodePath' | 'outdir' | 'env'>,
): Promise<StackUnderTest> {
  useTestAws();
  const dir = mkdtempSync(join(tmpdir(), 'egg-stack-roles-'));
  mkdirSync(join(dir, 'rotator'));
  writeFileSync(join(dir, 'rotator', 'index.js'), 'export const handler = async () => ({});\n');
  const [table, keyArn] = await Promise.all([createTestTable('egg-roles'), createTestKmsKey()]);
  const { stack } = buildStack({
    githubOidcProviderArn: `arn:aws:iam::${TEST_ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`,
    ...options,
    tableName: table,
    rotatorCodePath: join(dir, 'rotator'),
    outdir: join(dir, 'cdk.out'),
    env: { account: TEST_ACCOUNT, region: 'us-east-1' },
  });
  const template = Template.fromStack(stack).toJSON() as Record<string, unknown>;
  const logicalId = (construct: Resource) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
  const resolve = cfnResolver({
    account: TEST_ACCOUNT,
    region: 'us-east-1',
    template,
    attributes: { [`${logicalId(stack.key)}.Arn`]: keyArn },
  });
  const closers: (() => Promise<unknown> | void)[] = [];

  const openAs = async (role: Resource | undefined): Promise<RoleClients> => {
    const aws = useTestAws();
    let endpoints = { dynamodb: aws.dynamodb, kms: aws.moto };
    let gateway: IamGateway | undefined;
    if (role !== undefined) {
      const roleId = logicalId(role);
      const opened = await startIamGateway({
        dynamodbEndpoint: aws.dynamodb,
        kmsEndpoint: aws.moto,
        resolve,
        principalArn: resolve({ 'Fn::GetAtt': [roleId, 'Arn'] }) as string,
        policies: roleStatementsFromTemplate(template, roleId),
        keyPolicies: { [keyArn]: keyPolicyFromTemplate(template, logicalId(stack.key)) },
      });
      gateway = opened;
      endpoints = { dynamodb: opened.dynamodbEndpoint, kms: opened.kmsEndpoint };
      closers.push(() => opened.close());
    }
    const dynamodb = await createDynamoDbClient({ endpoint: endpoints.dynamodb });
    const kms = await createKmsClient({ endpoint: endpoints.kms });
    const store: SecretStore = new DynamoDbStore({ client: dynamodb, table, ownsClient: true });
    const tokens = new DynamoDbTokenStore({ client: dynamodb, table });
    const keyring: Keyring = new KmsKeyring({ client: kms, keyId: keyArn, ownsClient: true });
    closers.push(async () => {
      keyring.close();
      await store.close();
    });
    return { dynamodb, kms, store, tokens, keyring, gateway };
  };

  return {
    stack,
    template,
    table,
    keyArn,
    resolve,
    logicalId,
    openAs,
    close: async () => {
      for (const close of closers.reverse()) await close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
