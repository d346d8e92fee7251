/**
 * The security properties of the synthesized stack (infra/stack.ts), asserted on the
 * CloudFormation template: one synth for the whole file. Isolation between namespaces is
 * shown twice: by exact assertions on every statement's conditions, and by evaluating the
 * roles' policies for requests on another namespace with a small IAM evaluator (below).
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CfnRole } from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateTrustPolicy, iamStringLike, parseTrustPolicy } from '../../src/doctor/trust-policy.js';
import { buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';
import type { EggCartonStack } from '../../infra/stack.js';

const PROVIDER_ARN = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com';
const A = 'acme/web/prod';
const B = 'acme/api/prod';
const GRANTS = parseGrants(
  JSON.stringify([
    { namespace: A, subjects: ['repo:acme/web:environment:prod'], mintTokens: false },
    {
      namespace: B,
      subjects: ['repo:acme/api:environment:prod', 'repo:acme/api:ref:refs/tags/v*'],
      mintTokens: true,
    },
  ]),
);

type Json = Record<string, unknown>;
interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

let stack: EggCartonStack;
let template: Template;
let resources: Record<string, Json>;

beforeAll(() => {
  ({ stack } = buildStack({ grants: GRANTS, githubOidcProviderArn: PROVIDER_ARN }));
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as Record<string, Json>;
});

const ref = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const logicalId = (construct: Parameters<EggCartonStack['getLogicalId']>[0]) => stack.getLogicalId(construct);
const roleId = (namespace: string) => logicalId(stack.roles.get(namespace)?.node.defaultChild as CfnRole);
const tableArn = () => ref(logicalId(stack.table.node.defaultChild as never));
const keyArn = () => ref(logicalId(stack.key.node.defaultChild as never));
const signingKeyArn = () => ref(logicalId(stack.signingKey.node.defaultChild as never));
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

/** Every statement of the identity policies attached to a grant's role. */
function roleStatements(namespace: string): Statement[] {
  const id = roleId(namespace);
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) =>
      list((r.Properties as Json).Roles).some((x) => JSON.stringify(x) === JSON.stringify({ Ref: id })),
    )
    .flatMap((r) => ((r.Properties as Json).PolicyDocument as { Statement: Statement[] }).Statement);
}

function keyPolicy(logical: string): Statement[] {
  return ((resources[logical]?.Properties as Json).KeyPolicy as { Statement: Statement[] }).Statement;
}

/**
 * IAM's evaluation for the operators these policies use, for one request: an Allow statement
 * applies when its action and resource match and every condition holds (keys AND, values
 * OR); `ForAllValues:` holds when every request value is among the policy's. Anything the
 * request does not carry fails a plain operator. No statement here is a Deny.
 */
function allows(
  statements: Statement[],
  request: { action: string; resource: unknown; context: Record<string, string[]> },
): boolean {
  return statements.some((s) => {
    if (s.Effect !== 'Allow') return false;
    if (!list(s.Action).some((a) => iamStringLike(String(a), request.action))) return false;
    if (!list(s.Resource).some((r) => r === '*' || JSON.stringify(r) === JSON.stringify(request.resource)))
      return false;
    return Object.entries(s.Condition ?? {}).every(([operator, keys]) =>
      Object.entries(keys).every(([key, expected]) => {
        // Template values that are not strings (a role's Fn::GetAtt) compare as their JSON.
        const wanted = list(expected).map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
        const actual = request.context[key];
        if (operator === 'ForAllValues:StringEquals')
          return actual === undefined || actual.every((v) => wanted.includes(v));
        if (actual === undefined) return false;
        if (operator === 'StringEquals' || operator === 'ArnEquals')
          return actual.some((v) => wanted.includes(v));
        if (operator === 'StringLike') return actual.some((v) => wanted.some((w) => iamStringLike(w, v)));
        throw new Error(`the test evaluator does not know ${operator}`);
      }),
    );
  });
}

const item = (namespace: string) => ({ 'dynamodb:LeadingKeys': [namespace] });
const context = (namespace: string, secret = 'API_KEY') => ({
  'kms:EncryptionContext:namespace': [namespace],
  'kms:EncryptionContext:secret': [secret],
});

describe('the vault table', () => {
  it('has the documented key schema, on demand, with PITR, deletion protection and a stream', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'egg-carton',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: Match.absent(),
    });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('is encrypted at rest with the project key, not an AWS owned one', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: keyArn() },
    });
  });
});

describe('the KMS keys', () => {
  it('rotates the symmetric data key and keeps it on stack deletion', () => {
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ EnableKeyRotation: true, KeySpec: Match.absent() }),
      DeletionPolicy: 'Retain',
    });
  });

  it('makes the signing key Ed25519 for SIGN_VERIFY', () => {
    template.hasResourceProperties('AWS::KMS::Key', {
      KeySpec: 'ECC_NIST_EDWARDS25519',
      KeyUsage: 'SIGN_VERIFY',
    });
  });

  it('gives the account no cryptographic use of the data key outside DynamoDB', () => {
    const statements = keyPolicy(logicalId(stack.key.node.defaultChild as never));
    for (const s of statements) {
      const crypto = list(s.Action).some((a) =>
        /^kms:(Decrypt|Encrypt|GenerateDataKey|ReEncrypt)/.test(String(a)),
      );
      if (!crypto) continue;
      // Either through DynamoDB (table encryption) or one grant role for its own namespace.
      const via = s.Condition?.StringEquals?.['kms:ViaService'];
      const namespace = s.Condition?.StringEquals?.['kms:EncryptionContext:namespace'];
      const caller = s.Condition?.ArnEquals?.['aws:PrincipalArn'];
      expect(via !== undefined || (namespace !== undefined && caller !== undefined), JSON.stringify(s)).toBe(
        true,
      );
    }
    const admin = statements.find((s) => s.Sid === 'KeyAdministration');
    expect(list(admin?.Action).some((a) => /Decrypt|Encrypt|GenerateDataKey|Sign/.test(String(a)))).toBe(
      false,
    );
  });

  it('names each grant role in the key policy with its own namespace only', () => {
    const statements = keyPolicy(logicalId(stack.key.node.defaultChild as never));
    for (const [namespace, other] of [
      [A, B],
      [B, A],
    ] as const) {
      const mine = statements.filter(
        (s) =>
          JSON.stringify(s.Condition?.ArnEquals?.['aws:PrincipalArn']) ===
          JSON.stringify(ref(roleId(namespace))),
      );
      expect(mine).toHaveLength(1);
      expect(mine[0]?.Action).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
      expect(mine[0]?.Condition?.StringEquals).toEqual({ 'kms:EncryptionContext:namespace': namespace });
      expect(JSON.stringify(mine)).not.toContain(other);
    }
  });
});

describe('the GitHub OIDC trust', () => {
  it('pins aud exactly and sub to the grant patterns, and nothing else', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'sts:AssumeRoleWithWebIdentity',
            Principal: { Federated: PROVIDER_ARN },
            Condition: {
              StringEquals: { 'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com' },
              StringLike: { 'token.actions.githubusercontent.com:sub': ['repo:acme/web:environment:prod'] },
            },
          },
        ],
      },
      MaxSessionDuration: 3600,
    });
  });

  it.each([
    ['the prod environment of acme/web', A, 'repo:acme/web:environment:prod', 'sts.amazonaws.com', true],
    [
      'another environment of the same repository',
      A,
      'repo:acme/web:environment:staging',
      'sts.amazonaws.com',
      false,
    ],
    ['a branch of the same repository', A, 'repo:acme/web:ref:refs/heads/main', 'sts.amazonaws.com', false],
    ['a pull request', A, 'repo:acme/web:pull_request', 'sts.amazonaws.com', false],
    ['the other namespace’s repository', A, 'repo:acme/api:environment:prod', 'sts.amazonaws.com', false],
    ['a look-alike repository', A, 'repo:acme/web-fork:environment:prod', 'sts.amazonaws.com', false],
    [
      'the right subject with another audience',
      A,
      'repo:acme/web:environment:prod',
      'https://github.com/acme',
      false,
    ],
    ['a release tag of acme/api', B, 'repo:acme/api:ref:refs/tags/v1.2.3', 'sts.amazonaws.com', true],
    ['a branch named like a tag', B, 'repo:acme/api:ref:refs/heads/v1', 'sts.amazonaws.com', false],
  ])('%s: role %s, sub %s → allowed %s', (_name, namespace, sub, aud, expected) => {
    const trust = (resources[roleId(namespace)]?.Properties as Json).AssumeRolePolicyDocument;
    const verdict = evaluateTrustPolicy(parseTrustPolicy(JSON.stringify(trust)), {
      iss: 'https://token.actions.githubusercontent.com',
      sub,
      aud,
    });
    expect(verdict.allowed).toBe(expected);
  });
});

describe('namespace isolation', () => {
  it('confines every DynamoDB permission of A’s role to the partition A, on the table only', () => {
    const dynamo = roleStatements(A).filter((s) =>
      list(s.Action).some((a) => String(a).startsWith('dynamodb:')),
    );
    expect(dynamo).toEqual([
      {
        Sid: 'NamespaceItems',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem'],
        Resource: tableArn(),
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [A] } },
      },
    ]);
  });

  it('confines A’s direct KMS use to encryption context namespace A, and the rest to DynamoDB', () => {
    const kms = roleStatements(A).filter((s) => list(s.Action).some((a) => String(a).startsWith('kms:')));
    expect(kms).toEqual([
      {
        Sid: 'NamespaceDataKeys',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: keyArn(),
        Condition: { StringEquals: { 'kms:EncryptionContext:namespace': A } },
      },
      {
        Sid: 'TableEncryptionViaDynamoDB',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*', 'kms:DescribeKey'],
        Resource: keyArn(),
        Condition: {
          StringEquals: {
            'kms:ViaService': { 'Fn::Join': ['', ['dynamodb.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
          },
        },
      },
    ]);
    expect(JSON.stringify(roleStatements(A))).not.toContain(B);
    expect(JSON.stringify(roleStatements(B))).not.toContain(A);
  });

  it.each([
    ['dynamodb:GetItem', item(A), true],
    ['dynamodb:BatchGetItem', item(A), true],
    ['dynamodb:Query', item(A), true],
    ['dynamodb:PutItem', item(A), true],
    ['dynamodb:GetItem', item(B), false],
    ['dynamodb:BatchGetItem', { 'dynamodb:LeadingKeys': [A, B] }, false],
    ['dynamodb:Query', item(B), false],
    ['dynamodb:PutItem', item(B), false],
    ['dynamodb:DeleteItem', item(A), false],
    ['dynamodb:UpdateItem', item(A), false],
    ['dynamodb:Scan', {}, false],
  ])('A’s role, %s on %j → %s', (action, ctx, expected) => {
    expect(allows(roleStatements(A), { action, resource: tableArn(), context: ctx })).toBe(expected);
  });

  it.each([
    ['kms:Decrypt', context(A), true],
    ['kms:GenerateDataKey', context(A), true],
    [
      'kms:Decrypt',
      { 'kms:EncryptionContext:namespace': [A], 'kms:EncryptionContext:purpose': ['egg/namespace-kek'] },
      true,
    ],
    ['kms:Decrypt', context(B), false],
    ['kms:GenerateDataKey', context(B), false],
    [
      'kms:Decrypt',
      { 'kms:EncryptionContext:namespace': [B], 'kms:EncryptionContext:purpose': ['egg/namespace-kek'] },
      false,
    ],
    ['kms:Decrypt', {}, false],
    ['kms:Decrypt', { ...context(B), 'kms:ViaService': ['lambda.us-east-1.amazonaws.com'] }, false],
    ['kms:ReEncryptFrom', context(A), false],
  ])('A’s role, %s with %j → %s', (action, ctx, expected) => {
    expect(allows(roleStatements(A), { action, resource: keyArn(), context: ctx })).toBe(expected);
  });

  it('lets the key policy admit A’s role with A’s context and refuse it with B’s', () => {
    const statements = keyPolicy(logicalId(stack.key.node.defaultChild as never));
    const asA = { 'aws:PrincipalArn': [JSON.stringify(ref(roleId(A)))] };
    const asB = { 'aws:PrincipalArn': [JSON.stringify(ref(roleId(B)))] };
    const decrypt = (ctx: Record<string, string[]>) =>
      allows(statements, { action: 'kms:Decrypt', resource: '*', context: ctx });
    expect(decrypt({ ...context(A), ...asA })).toBe(true);
    expect(decrypt({ ...context(B), ...asA })).toBe(false);
    expect(decrypt({ ...context(A), ...asB })).toBe(false);
  });
});

describe('token minting', () => {
  it('gives no kms:Sign, GetPublicKey or UpdateItem to a grant with mintTokens false', () => {
    const actions = roleStatements(A).flatMap((s) => list(s.Action).map(String));
    expect(actions).not.toContain('kms:Sign');
    expect(actions).not.toContain('kms:GetPublicKey');
    expect(actions).not.toContain('dynamodb:UpdateItem');
    const signingPolicy = JSON.stringify(keyPolicy(logicalId(stack.signingKey.node.defaultChild as never)));
    expect(signingPolicy).not.toContain(roleId(A));
  });

  it('lets a grant with mintTokens sign pure Ed25519 with the signing key only', () => {
    expect(roleStatements(B)).toContainEqual({
      Sid: 'SignTokens',
      Effect: 'Allow',
      Action: 'kms:Sign',
      Resource: signingKeyArn(),
      Condition: { StringEquals: { 'kms:SigningAlgorithm': 'ED25519_SHA_512', 'kms:MessageType': 'RAW' } },
    });
    const signers = roleStatements(B).filter((s) => list(s.Action).includes('kms:Sign'));
    expect(signers.map((s) => s.Resource)).toEqual([signingKeyArn()]);
    expect(
      allows(roleStatements(B), {
        action: 'dynamodb:UpdateItem',
        resource: tableArn(),
        context: item(B),
      }),
    ).toBe(true);
    expect(
      allows(roleStatements(B), { action: 'dynamodb:UpdateItem', resource: tableArn(), context: item(A) }),
    ).toBe(false);
  });
});

describe('the OIDC provider', () => {
  it('is imported, not created, when its ARN is given', () => {
    template.resourceCountIs('AWS::IAM::OIDCProvider', 0);
  });

  it('outputs the role ARN of every grant', () => {
    template.hasOutput('GrantAcmeWebProdRoleArn', { Value: ref(roleId(A)) });
    template.hasOutput('GrantAcmeApiProdRoleArn', { Value: ref(roleId(B)) });
  });
});
