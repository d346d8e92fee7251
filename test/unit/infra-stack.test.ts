/**
 * The security properties of the synthesized stack (infra/stack.ts, infra/rotator.ts,
 * infra/proxy.ts), asserted on the CloudFormation template. Isolation is shown twice: by
 * exact assertions on every statement, and by evaluating the roles' and keys' policies for
 * concrete requests with the tests' IAM evaluator (test/support/iam-policy.ts), the
 * template's intrinsics resolved by `cfnResolver` for an account and region of our choosing
 * (the stack has no env). The rotator's code is a stand-in written here, so these tests
 * never depend on `npm run package` having run.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateTrustPolicy, parseTrustPolicy } from '../../src/doctor/trust-policy.js';
import { auditPartition as storeAuditPartition } from '../../src/stores/dynamodb.js';
import {
  ACCOUNT_TOKEN_PARTITION as STORE_ACCOUNT_TOKEN_PARTITION,
  tokenPartition as storeTokenPartition,
} from '../../src/tokens/dynamodb-token-store.js';
import { usagePartition as storeUsagePartition } from '../../src/tokens/dynamodb-usage.js';
import { type BuildOptions, buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';
import {
  ACCOUNT_TOKEN_PARTITION,
  auditPartition,
  tokenPartition,
  usagePartition,
} from '../../infra/partitions.js';
import { PROXY_IMAGE_CONTEXT } from '../../infra/proxy.js';
import type { EggCartonStack } from '../../infra/stack.js';
import {
  type ContextValue,
  cfnResolver,
  evaluateKeyAccess,
  evaluatePolicy,
  evaluateResourcePolicy,
  type IntrinsicResolver,
  keyPolicyFromTemplate,
  type Policy,
  type RequestContext,
  roleStatementsFromTemplate,
} from '../support/iam-policy.js';
import { allowsItem } from '../support/iam-simulator.js';

const PROVIDER_ARN = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com';
const CERTIFICATE_ARN = 'arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e';
const A = 'acme/web/prod';
const B = 'acme/api/prod';
const C = 'acme/ops/prod';
const GRANTS = parseGrants(
  JSON.stringify([
    { namespace: A, subjects: ['repo:acme/web:environment:prod'], allowMutableSubject: true },
    {
      namespace: B,
      subjects: ['repo:acme/api:environment:prod', 'repo:acme/api:ref:refs/tags/v*'],
      allowMutableSubject: true,
      mintTokens: true,
    },
    {
      namespace: C,
      subjects: ['repo:acme/ops:environment:prod'],
      allowMutableSubject: true,
      manageSecrets: true,
    },
  ]),
);

/** Where the evaluated requests go: the stack has no env, so the resolver supplies these. */
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const TABLE = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/egg-carton`;
const DATA_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-4000-8000-00000000da7a`;
const SIGNING_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-4000-8000-0000000051e9`;
const ANCHOR_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-4000-8000-0000000a4c40`;
const SEALING_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-4000-8000-00000005ea15`;
/** A role's ARN as `cfnResolver` names it: the stack gives no RoleName, so its logical id. */
const roleArn = (logicalId: string) => `arn:aws:iam::${ACCOUNT}:role/${logicalId}`;

type Json = Record<string, unknown>;
/** A template statement, typed for the exact assertions that read its fields. */
interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const dir = mkdtempSync(join(tmpdir(), 'egg-infra-stack-'));
const rotatorCode = join(dir, 'rotator');
mkdirSync(rotatorCode);
writeFileSync(join(rotatorCode, 'index.js'), 'exports.handler = async () => ({ batchItemFailures: [] });\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let outdirs = 0;
/** A stack with the test grants, the stand-in rotator code and its own cloud assembly directory. */
function build(options: Partial<BuildOptions> = {}): { stack: EggCartonStack; template: Template } {
  const { stack } = buildStack({
    grants: GRANTS,
    githubOidcProviderArn: PROVIDER_ARN,
    rotatorCodePath: rotatorCode,
    outdir: join(dir, `cdk.out.${outdirs++}`),
    ...options,
  });
  return { stack, template: Template.fromStack(stack) };
}

let stack: EggCartonStack;
let template: Template;
let json: Json;
let resources: Record<string, Json>;
let resolve: IntrinsicResolver;

beforeAll(() => {
  ({ stack, template } = build());
  json = template.toJSON() as Json;
  resources = json.Resources as Record<string, Json>;
  resolve = resolverFor(stack, json);
});

const ref = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const idOf = (s: EggCartonStack, construct: { node: { defaultChild?: unknown } }) =>
  s.getLogicalId(construct.node.defaultChild as never);
const roleId = (namespace: string) => idOf(stack, stack.roles.get(namespace) as never);
const tableArn = () => ref(idOf(stack, stack.table));
const streamArn = () => ({ 'Fn::GetAtt': [idOf(stack, stack.table), 'StreamArn'] });
const keyArn = () => ref(idOf(stack, stack.key));
const signingKeyArn = () => ref(idOf(stack, stack.signingKey));
const anchorKeyArn = () => ref(idOf(stack, stack.anchorKey));
const sealingKeyArn = () => ref(idOf(stack, stack.sealingKey));
/** Unsealing sealed provider keys (docs/sealed-keys.md): Decrypt with RSAES_OAEP_SHA_256, and the public key. */
const unseal = () => [
  {
    Sid: 'UnsealProviderKeys',
    Effect: 'Allow',
    Action: 'kms:Decrypt',
    Resource: sealingKeyArn(),
    Condition: { StringEquals: { 'kms:EncryptionAlgorithm': 'RSAES_OAEP_SHA_256' } },
  },
  { Sid: 'SealingPublicKey', Effect: 'Allow', Action: 'kms:GetPublicKey', Resource: sealingKeyArn() },
];
/** Every grant may read the anchor key's public key, to check its trail's checkpoints. */
const anchorPublicKey = () => ({
  Sid: 'AnchorPublicKey',
  Effect: 'Allow',
  Action: 'kms:GetPublicKey',
  Resource: anchorKeyArn(),
});
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);
const viaDynamoDB = {
  Sid: 'TableEncryptionViaDynamoDB',
  Effect: 'Allow',
  Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*', 'kms:DescribeKey'],
  Resource: keyArn,
  Condition: {
    StringEquals: {
      'kms:ViaService': { 'Fn::Join': ['', ['dynamodb.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
    },
  },
};
const tableEncryption = () => ({ ...viaDynamoDB, Resource: keyArn() });
/**
 * The denies that keep `expiresAt` out of a role's writes (infra/ttl.ts), but in `tokenPartition`
 * (a minter) or the partitions `like` (the proxy's `usage#*`).
 */
const ttlDenies = (table: unknown, tokenPartition?: string, like?: string) => {
  const elsewhere =
    tokenPartition !== undefined
      ? { 'ForAnyValue:StringNotEquals': { 'dynamodb:LeadingKeys': [tokenPartition] } }
      : like !== undefined
        ? { 'ForAnyValue:StringNotLike': { 'dynamodb:LeadingKeys': [like] } }
        : {};
  const deny = { Effect: 'Deny', Action: ['dynamodb:PutItem', 'dynamodb:UpdateItem'], Resource: table };
  return [
    {
      Sid: 'NoTtlWrites',
      ...deny,
      Condition: { 'ForAnyValue:StringEquals': { 'dynamodb:Attributes': ['expiresAt'] }, ...elsewhere },
    },
    { Sid: 'NoUnnamedWrites', ...deny, Condition: { Null: { 'dynamodb:Attributes': 'true' }, ...elsewhere } },
  ];
};

/**
 * Resolves a stack's template intrinsics: the pseudo parameters, its roles and table from the
 * template itself, and its keys (whose ids only exist once created) to DATA_KEY and SIGNING_KEY.
 */
function resolverFor(s: EggCartonStack, templateJson: Json): IntrinsicResolver {
  return cfnResolver({
    account: ACCOUNT,
    region: REGION,
    template: templateJson,
    attributes: {
      [`${idOf(s, s.key)}.Arn`]: DATA_KEY,
      [`${idOf(s, s.signingKey)}.Arn`]: SIGNING_KEY,
      [`${idOf(s, s.anchorKey)}.Arn`]: ANCHOR_KEY,
      [`${idOf(s, s.sealingKey)}.Arn`]: SEALING_KEY,
      [`${idOf(s, s.table)}.StreamArn`]: `${TABLE}/stream/2026-01-01T00:00:00.000`,
    },
  });
}
/** Every statement of the identity policies attached to a role, by logical id. */
const statementsOf = (templateJson: Json, role: string) =>
  roleStatementsFromTemplate(templateJson, role) as Statement[];
const roleStatements = (namespace: string) => statementsOf(json, roleId(namespace));
/** The statements of a KMS key's policy, by logical id. */
const keyPolicy = (templateJson: Json, key: string) =>
  keyPolicyFromTemplate(templateJson, key) as Statement[];

/** An item request on `partitions`, naming the key attributes (as every item request does). */
const keys = (...partitions: string[]) => ({
  'dynamodb:LeadingKeys': partitions,
  'dynamodb:Attributes': ['pk', 'sk'],
});
const context = (namespace: string, secret = 'API_KEY') => ({
  'kms:EncryptionContext:namespace': [namespace],
  'kms:EncryptionContext:secret': [secret],
});
/** One request; made by `principal`, it carries that ARN as `aws:PrincipalArn`, as IAM's do. */
const request = (
  action: string,
  resource: string,
  ctx: Record<string, ContextValue>,
  principal?: string,
): RequestContext => ({
  action,
  resource,
  context: principal === undefined ? ctx : { ...ctx, 'aws:PrincipalArn': principal },
});
/** Whether identity policies alone allow a request. */
const allows = (policy: Policy, req: RequestContext, using = resolve) =>
  evaluatePolicy(policy, req, { resolve: using }).decision === 'allow';
/** Whether a key policy allows `principal` a request (naming the account, it leaves the rest to IAM). */
const keyPolicyAllows = (keyStatements: Policy, req: RequestContext, principal: string, using = resolve) =>
  evaluateResourcePolicy(keyStatements, req, { principalArn: principal }, { resolve: using }).decision ===
  'allow';
/** Whether KMS lets `principal` make a request: its identity policies and the key policy together. */
const keyAccess = (
  policies: { identity: Policy; keyPolicy: Policy },
  req: RequestContext,
  principal: string,
  using = resolve,
) => evaluateKeyAccess(policies, req, { principalArn: principal }, { resolve: using }).decision === 'allow';
/**
 * Whether identity policies allow an item request on `partitions`, decided by the IAM
 * simulator (test/support/iam-simulator.ts) with the request's LeadingKeys and Attributes.
 */
const item = async (statements: Policy, action: string, partitions: string[], using = resolve) => {
  // A Scan names no partition: IAM sets no dynamodb:LeadingKeys for it.
  const req =
    partitions.length === 0
      ? request(action, TABLE, { 'dynamodb:Attributes': ['pk', 'sk'] })
      : request(action, TABLE, keys(...partitions));
  return allowsItem(statements, req, using);
};

describe('the table partitions', () => {
  it('are the ones the stores write: audit#<namespace> and tokens#<namespace>', () => {
    expect(auditPartition(A)).toBe(storeAuditPartition(A));
    expect(tokenPartition(A)).toBe(storeTokenPartition(A));
    expect(usagePartition(A)).toBe(storeUsagePartition(A));
    expect([auditPartition(A), tokenPartition(A)]).toEqual([`audit#${A}`, `tokens#${A}`]);
    expect(ACCOUNT_TOKEN_PARTITION).toBe(STORE_ACCOUNT_TOKEN_PARTITION);
  });
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

  it('gives the account no cryptographic use of the data key outside DynamoDB and named roles', () => {
    const statements = keyPolicy(json, idOf(stack, stack.key));
    const rotator = JSON.stringify(ref(idOf(stack, stack.rotator.role)));
    for (const s of statements) {
      const crypto = list(s.Action).some((a) =>
        /^kms:(Decrypt|Encrypt|GenerateDataKey|ReEncrypt)/.test(String(a)),
      );
      if (!crypto) continue;
      // Through DynamoDB (table encryption), one grant role for its own namespace, or the
      // rotator for data keys that name some namespace.
      const via = s.Condition?.StringEquals?.['kms:ViaService'];
      const namespace = s.Condition?.StringEquals?.['kms:EncryptionContext:namespace'];
      const caller = JSON.stringify(s.Condition?.ArnEquals?.['aws:PrincipalArn']);
      const anyNamespace = s.Condition?.Null?.['kms:EncryptionContext:namespace'] === 'false';
      expect(
        via !== undefined ||
          (namespace !== undefined && caller !== undefined) ||
          (caller === rotator && anyNamespace),
        JSON.stringify(s),
      ).toBe(true);
    }
    const admin = statements.find((s) => s.Sid === 'KeyAdministration');
    expect(list(admin?.Action).some((a) => /Decrypt|Encrypt|GenerateDataKey|Sign/.test(String(a)))).toBe(
      false,
    );
  });

  it('lets another principal of the account use neither key, whatever its IAM policies, except through DynamoDB', () => {
    const other = roleArn('SomeoneElse');
    const identity = [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }];
    const use = (key: string, keyStatements: Statement[], action: string, ctx: Record<string, string[]>) =>
      keyAccess({ identity, keyPolicy: keyStatements }, request(action, key, ctx, other), other);
    const dataKey = keyPolicy(json, idOf(stack, stack.key));
    const signing = keyPolicy(json, idOf(stack, stack.signingKey));
    for (const action of ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:ReEncryptFrom']) {
      expect(use(DATA_KEY, dataKey, action, context(A)), action).toBe(false);
      expect(use(DATA_KEY, dataKey, action, {}), action).toBe(false);
    }
    expect(use(SIGNING_KEY, signing, 'kms:Sign', {})).toBe(false);
    // DynamoDB, for the table's encryption at rest, in this account; and administration.
    const viaTable = {
      'kms:ViaService': ['dynamodb.us-east-1.amazonaws.com'],
      'kms:CallerAccount': [ACCOUNT],
    };
    expect(use(DATA_KEY, dataKey, 'kms:Decrypt', viaTable)).toBe(true);
    expect(
      use(DATA_KEY, dataKey, 'kms:Decrypt', { ...viaTable, 'kms:CallerAccount': ['210987654321'] }),
    ).toBe(false);
    expect(use(DATA_KEY, dataKey, 'kms:ScheduleKeyDeletion', {})).toBe(true);
  });

  it('names each grant role in the key policy with its own namespace only, Decrypt unless it writes', () => {
    const statements = keyPolicy(json, idOf(stack, stack.key));
    for (const [namespace, actions] of [
      [A, 'kms:Decrypt'],
      [B, 'kms:Decrypt'],
      [C, ['kms:Decrypt', 'kms:GenerateDataKey']],
    ] as const) {
      const mine = statements.filter(
        (s) =>
          JSON.stringify(s.Condition?.ArnEquals?.['aws:PrincipalArn']) ===
          JSON.stringify(ref(roleId(namespace))),
      );
      expect(mine).toHaveLength(1);
      expect(mine[0]?.Action).toEqual(actions);
      expect(mine[0]?.Condition?.StringEquals).toEqual({ 'kms:EncryptionContext:namespace': namespace });
      for (const other of [A, B, C].filter((n) => n !== namespace))
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

describe('a read-only grant (the default)', () => {
  it('is exactly: read its secrets and trail, append to its trail, Decrypt in its namespace', () => {
    expect(roleStatements(A)).toEqual([
      {
        Sid: 'NamespaceRead',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'],
        Resource: tableArn(),
        Condition: {
          'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [A, `audit#${A}`, `anchor#${A}`] },
        },
      },
      {
        Sid: 'AuditAppend',
        Effect: 'Allow',
        Action: 'dynamodb:PutItem',
        Resource: tableArn(),
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`audit#${A}`] } },
      },
      ...ttlDenies(tableArn()),
      {
        Sid: 'NamespaceDataKeys',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: keyArn(),
        Condition: { StringEquals: { 'kms:EncryptionContext:namespace': A } },
      },
      tableEncryption(),
      ...unseal(),
      anchorPublicKey(),
    ]);
  });

  it('has no statement that writes its secrets or token items, and no GenerateDataKey', () => {
    const writes = /^dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem|\*)$/;
    for (const s of roleStatements(A)) {
      if (s.Effect === 'Deny' || !list(s.Action).some((a) => writes.test(String(a)))) continue;
      const partitions = list(s.Condition?.['ForAllValues:StringEquals']?.['dynamodb:LeadingKeys']);
      expect(partitions).toEqual([`audit#${A}`]);
    }
    const actions = roleStatements(A).flatMap((s) => list(s.Action).map(String));
    expect(actions.filter((a) => a.startsWith('kms:GenerateDataKey'))).toEqual(['kms:GenerateDataKey*']);
    // … and that one only through DynamoDB, for the table's own encryption at rest:
    expect(roleStatements(A).filter((s) => list(s.Action).includes('kms:GenerateDataKey*'))).toEqual([
      tableEncryption(),
    ]);
    expect(actions).not.toContain('kms:Sign');
    // The public keys it may read: the sealing key's (its kid is checked before unsealing) and
    // the anchor key's, to check its trail's checkpoints.
    expect(roleStatements(A).filter((s) => list(s.Action).includes('kms:GetPublicKey'))).toEqual([
      unseal()[1],
      anchorPublicKey(),
    ]);
  });

  it.each([
    ['dynamodb:GetItem', [A], true],
    ['dynamodb:BatchGetItem', [A], true],
    ['dynamodb:BatchGetItem', [A, `audit#${A}`], true],
    ['dynamodb:Query', [A], true],
    ['dynamodb:Query', [`audit#${A}`], true],
    ['dynamodb:PutItem', [`audit#${A}`], true],
    ['dynamodb:PutItem', [A], false],
    ['dynamodb:UpdateItem', [A], false],
    ['dynamodb:DeleteItem', [A], false],
    ['dynamodb:DeleteItem', [`audit#${A}`], false],
    ['dynamodb:UpdateItem', [`audit#${A}`], false],
    ['dynamodb:GetItem', [`tokens#${A}`], false],
    ['dynamodb:PutItem', [`tokens#${A}`], false],
    ['dynamodb:UpdateItem', [`tokens#${A}`], false],
    ['dynamodb:GetItem', [B], false],
    ['dynamodb:BatchGetItem', [A, B], false],
    ['dynamodb:Query', [`audit#${B}`], false],
    ['dynamodb:PutItem', [`audit#${B}`], false],
    ['dynamodb:Scan', [], false],
  ])('A’s role, %s on %j → %s', async (action, partitions, expected) => {
    expect(await item(roleStatements(A), action, partitions)).toBe(expected);
  });

  it.each([
    ['kms:Decrypt', context(A), true],
    [
      'kms:Decrypt',
      { 'kms:EncryptionContext:namespace': [A], 'kms:EncryptionContext:purpose': ['egg/namespace-kek'] },
      true,
    ],
    ['kms:GenerateDataKey', context(A), false],
    ['kms:Decrypt', context(B), false],
    [
      'kms:Decrypt',
      { 'kms:EncryptionContext:namespace': [B], 'kms:EncryptionContext:purpose': ['egg/namespace-kek'] },
      false,
    ],
    ['kms:Decrypt', {}, false],
    ['kms:Decrypt', { ...context(B), 'kms:ViaService': ['lambda.us-east-1.amazonaws.com'] }, false],
    // Through DynamoDB, for the table's encryption at rest (DynamoDB decrypts no caller's blob):
    ['kms:Decrypt', { ...context(B), 'kms:ViaService': ['dynamodb.us-east-1.amazonaws.com'] }, true],
    ['kms:ReEncryptFrom', context(A), false],
  ])('A’s role, %s with %j → %s', (action, ctx, expected) => {
    expect(allows(roleStatements(A), request(action, DATA_KEY, ctx))).toBe(expected);
  });

  it('lets the key policy admit A’s role with A’s context and refuse it with B’s', () => {
    const statements = keyPolicy(json, idOf(stack, stack.key));
    const [asA, asB] = [roleArn(roleId(A)), roleArn(roleId(B))];
    const use = (action: string, ctx: Record<string, string[]>, principal: string) =>
      keyPolicyAllows(statements, request(action, DATA_KEY, ctx, principal), principal);
    expect(use('kms:Decrypt', context(A), asA)).toBe(true);
    expect(use('kms:GenerateDataKey', context(A), asA)).toBe(false);
    expect(use('kms:Decrypt', context(B), asA)).toBe(false);
    expect(use('kms:Decrypt', context(A), asB)).toBe(false);
  });

  it('says in its output that jobs must use rotation: deferred', () => {
    template.hasOutput('GrantAcmeWebProdRoleArn', {
      Value: ref(roleId(A)),
      Description: `role-to-assume for namespace ${A}; read-only: the job must use rotation: deferred`,
    });
    template.hasOutput('GrantAcmeOpsProdRoleArn', {
      Value: ref(roleId(C)),
      Description: `role-to-assume for namespace ${C} (may write secrets)`,
    });
  });
});

describe('a grant with mintTokens', () => {
  it('adds exactly its token partition and pure Ed25519 signing', () => {
    expect(roleStatements(B)).toEqual([
      {
        Sid: 'NamespaceRead',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'],
        Resource: tableArn(),
        Condition: {
          'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [B, `audit#${B}`, `anchor#${B}`] },
        },
      },
      {
        Sid: 'AuditAppend',
        Effect: 'Allow',
        Action: 'dynamodb:PutItem',
        Resource: tableArn(),
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`audit#${B}`] } },
      },
      {
        Sid: 'TokenItems',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        Resource: tableArn(),
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`tokens#${B}`] } },
      },
      {
        Sid: 'UsageRead',
        Effect: 'Allow',
        Action: 'dynamodb:Query',
        Resource: tableArn(),
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`usage#${B}`] } },
      },
      {
        Sid: 'AccountRevocationRead',
        Effect: 'Allow',
        Action: 'dynamodb:GetItem',
        Resource: tableArn(),
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['tokens##account'] } },
      },
      ...ttlDenies(tableArn(), `tokens#${B}`),
      {
        Sid: 'NamespaceDataKeys',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: keyArn(),
        Condition: { StringEquals: { 'kms:EncryptionContext:namespace': B } },
      },
      tableEncryption(),
      ...unseal(),
      anchorPublicKey(),
      {
        Sid: 'SignTokens',
        Effect: 'Allow',
        Action: 'kms:Sign',
        Resource: signingKeyArn(),
        Condition: { StringEquals: { 'kms:SigningAlgorithm': 'ED25519_SHA_512', 'kms:MessageType': 'RAW' } },
      },
      { Sid: 'SigningPublicKey', Effect: 'Allow', Action: 'kms:GetPublicKey', Resource: signingKeyArn() },
    ]);
  });

  it.each([
    ['dynamodb:PutItem', [`tokens#${B}`], true],
    ['dynamodb:UpdateItem', [`tokens#${B}`], true],
    ['dynamodb:Query', [`tokens#${B}`], true],
    ['dynamodb:PutItem', [B], false],
    ['dynamodb:UpdateItem', [B], false],
    ['dynamodb:DeleteItem', [`tokens#${B}`], false],
    ['dynamodb:UpdateItem', [`tokens#${A}`], false],
    ['dynamodb:PutItem', [`tokens#${A}`], false],
    // The account-wide kill switch: read to date a token after it, never moved by a minter.
    ['dynamodb:GetItem', ['tokens##account'], true],
    ['dynamodb:PutItem', ['tokens##account'], false],
    ['dynamodb:UpdateItem', ['tokens##account'], false],
  ])('B’s role, %s on %j → %s', async (action, partitions, expected) => {
    expect(await item(roleStatements(B), action, partitions)).toBe(expected);
  });

  it('gives a grant without mintTokens no place in the signing key’s policy', () => {
    const signingPolicy = JSON.stringify(keyPolicy(json, idOf(stack, stack.signingKey)));
    expect(signingPolicy).not.toContain(roleId(A));
    expect(signingPolicy).not.toContain(roleId(C));
    expect(signingPolicy).toContain(roleId(B));
  });
});

describe('a grant with manageSecrets', () => {
  it('adds exactly PutItem and DeleteItem on its namespace and GenerateDataKey in its context', () => {
    expect(roleStatements(C)).toEqual([
      {
        Sid: 'NamespaceRead',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'],
        Resource: tableArn(),
        Condition: {
          'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [C, `audit#${C}`, `anchor#${C}`] },
        },
      },
      {
        Sid: 'AuditAppend',
        Effect: 'Allow',
        Action: 'dynamodb:PutItem',
        Resource: tableArn(),
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`audit#${C}`] } },
      },
      {
        Sid: 'SecretWrites',
        Effect: 'Allow',
        Action: ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
        Resource: tableArn(),
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [C] } },
      },
      ...ttlDenies(tableArn()),
      {
        Sid: 'NamespaceDataKeys',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: keyArn(),
        Condition: { StringEquals: { 'kms:EncryptionContext:namespace': C } },
      },
      tableEncryption(),
      ...unseal(),
      anchorPublicKey(),
    ]);
  });

  it.each([
    ['dynamodb:PutItem', [C], true],
    ['dynamodb:DeleteItem', [C], true],
    ['dynamodb:UpdateItem', [C], false],
    ['dynamodb:PutItem', [`tokens#${C}`], false],
    ['dynamodb:DeleteItem', [`audit#${C}`], false],
    ['dynamodb:PutItem', [A], false],
  ])('C’s role, %s on %j → %s', async (action, partitions, expected) => {
    expect(await item(roleStatements(C), action, partitions)).toBe(expected);
  });

  it.each([
    ['kms:GenerateDataKey', context(C), true],
    ['kms:GenerateDataKey', context(A), false],
  ])('C’s role, %s with %j → %s', (action, ctx, expected) => {
    expect(allows(roleStatements(C), request(action, DATA_KEY, ctx))).toBe(expected);
  });
});

describe('the sealing key', () => {
  it('is an RSA_3072 encryption key, given as EGG_SEALING_KEY_ID to the rotator', () => {
    template.hasResourceProperties('AWS::KMS::Key', {
      KeySpec: 'RSA_3072',
      KeyUsage: 'ENCRYPT_DECRYPT',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { EGG_SEALING_KEY_ID: sealingKeyArn() } },
    });
    template.hasOutput('SealingKeyArn', { Value: sealingKeyArn() });
  });

  it.each([
    ['read-only grant A', 'kms:Decrypt', { 'kms:EncryptionAlgorithm': ['RSAES_OAEP_SHA_256'] }, true],
    ['read-only grant A', 'kms:Decrypt', { 'kms:EncryptionAlgorithm': ['RSAES_OAEP_SHA_1'] }, false],
    ['read-only grant A', 'kms:GetPublicKey', {}, true],
    ['the rotator', 'kms:Decrypt', { 'kms:EncryptionAlgorithm': ['RSAES_OAEP_SHA_256'] }, true],
    ['read-only grant A', 'kms:Encrypt', {}, false],
    ['read-only grant A', 'kms:CreateGrant', {}, false],
  ])('%s: %s with %j → %s', (who, action, ctx, expected) => {
    const role = who === 'the rotator' ? idOf(stack, stack.rotator.role) : roleId(A);
    const principal = roleArn(role);
    expect(
      keyAccess(
        { identity: statementsOf(json, role), keyPolicy: keyPolicy(json, idOf(stack, stack.sealingKey)) },
        request(action, SEALING_KEY, ctx, principal),
        principal,
      ),
    ).toBe(expected);
  });

  it('lets no principal of the account Decrypt unless the key policy names its role', () => {
    const outsider = roleArn('SomeOtherRole');
    const identity = [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }];
    const ctx = { 'kms:EncryptionAlgorithm': ['RSAES_OAEP_SHA_256'] };
    const keyStatements = keyPolicy(json, idOf(stack, stack.sealingKey));
    expect(
      keyAccess(
        { identity, keyPolicy: keyStatements },
        request('kms:Decrypt', SEALING_KEY, ctx, outsider),
        outsider,
      ),
    ).toBe(false);
    expect(
      keyAccess(
        { identity, keyPolicy: keyStatements },
        request('kms:GetPublicKey', SEALING_KEY, {}, outsider),
        outsider,
      ),
    ).toBe(true);
  });
});

describe('the rotator', () => {
  const rotatorRole = () => idOf(stack, stack.rotator.role);
  const rotatorStatements = () => statementsOf(json, rotatorRole());

  it('runs the bundle on Node.js 24 with the table, key and keyring, bounded in time and concurrency', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 60,
      MemorySize: 512,
      ReservedConcurrentExecutions: 2,
      Role: ref(rotatorRole()),
      Environment: {
        Variables: {
          EGG_BACKEND: 'aws',
          EGG_TABLE: { Ref: idOf(stack, stack.table) },
          EGG_KMS_KEY_ID: keyArn(),
          EGG_KEYRING: 'kms',
        },
      },
      LoggingConfig: { LogGroup: { Ref: idOf(stack, stack.rotator.logGroup) } },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });

  it('fires on new audit read records only, within a second, retrying and bisecting, then to a queue', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    const [mapping] = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'));
    expect(mapping?.Properties).toEqual({
      FunctionName: { Ref: idOf(stack, stack.rotator.function) },
      EventSourceArn: streamArn(),
      StartingPosition: 'LATEST',
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 5,
      MaximumRecordAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: ref(idOf(stack, stack.rotator.failures)) } },
      FilterCriteria: {
        Filters: [
          {
            Pattern: JSON.stringify({
              eventName: ['INSERT'],
              dynamodb: { NewImage: { pk: { S: [{ prefix: 'audit#' }] }, action: { S: ['read'] } } },
            }),
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
  });

  it('is trusted by Lambda only', () => {
    expect((resources[rotatorRole()]?.Properties as Json).AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: 'lambda.amazonaws.com' } },
      ],
    });
  });

  it('has exactly: secret items of any namespace, audit appends, checkpoints, the stream, data keys, the anchor key, its logs and queue', () => {
    expect(rotatorStatements()).toEqual([
      {
        Sid: 'SecretItems',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem'],
        Resource: tableArn(),
        Condition: { 'ForAllValues:StringNotLike': { 'dynamodb:LeadingKeys': ['*#*'] } },
      },
      {
        Sid: 'AuditAppend',
        Effect: 'Allow',
        Action: ['dynamodb:Query', 'dynamodb:PutItem'],
        Resource: tableArn(),
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['audit#*'] } },
      },
      {
        Sid: 'CheckpointWrite',
        Effect: 'Allow',
        Action: ['dynamodb:Query', 'dynamodb:PutItem'],
        Resource: tableArn(),
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['anchor#*'] } },
      },
      {
        Sid: 'TableStream',
        Effect: 'Allow',
        Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        Resource: streamArn(),
      },
      { Sid: 'ListStreams', Effect: 'Allow', Action: 'dynamodb:ListStreams', Resource: '*' },
      {
        Sid: 'DataKeys',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: keyArn(),
        Condition: { Null: { 'kms:EncryptionContext:namespace': 'false' } },
      },
      tableEncryption(),
      {
        Sid: 'SignCheckpoints',
        Effect: 'Allow',
        Action: 'kms:Sign',
        Resource: anchorKeyArn(),
        Condition: { StringEquals: { 'kms:SigningAlgorithm': 'ED25519_SHA_512', 'kms:MessageType': 'RAW' } },
      },
      { Sid: 'AnchorPublicKey', Effect: 'Allow', Action: 'kms:GetPublicKey', Resource: anchorKeyArn() },
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: ref(idOf(stack, stack.rotator.logGroup)),
      },
      {
        Effect: 'Allow',
        Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
        Resource: ref(idOf(stack, stack.rotator.failures)),
      },
      ...unseal(),
      ...ttlDenies(tableArn()),
    ]);
  });

  it.each([
    ['dynamodb:BatchGetItem', [A, B], true],
    ['dynamodb:PutItem', [A], true],
    ['dynamodb:GetItem', [C], true],
    ['dynamodb:PutItem', [`audit#${A}`], true],
    ['dynamodb:Query', [`audit#${B}`], true],
    ['dynamodb:Query', [A], false],
    ['dynamodb:GetItem', [`tokens#${A}`], false],
    ['dynamodb:PutItem', [`tokens#${A}`], false],
    ['dynamodb:BatchGetItem', [A, `tokens#${A}`], false],
    ['dynamodb:UpdateItem', [A], false],
    ['dynamodb:DeleteItem', [A], false],
    ['dynamodb:DeleteItem', [`audit#${A}`], false],
    ['dynamodb:Scan', [], false],
  ])('the rotator, %s on %j → %s', async (action, partitions, expected) => {
    expect(await item(rotatorStatements(), action, partitions)).toBe(expected);
  });

  it('may use the data key for any namespace’s data keys, and nothing without one', () => {
    const statements = keyPolicy(json, idOf(stack, stack.key));
    expect(statements.find((s) => s.Sid === 'Rotator')).toEqual({
      Sid: 'Rotator',
      Effect: 'Allow',
      Principal: {
        AWS: {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']],
        },
      },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: '*',
      Condition: {
        Null: { 'kms:EncryptionContext:namespace': 'false' },
        ArnEquals: { 'aws:PrincipalArn': ref(rotatorRole()) },
      },
    });
    const asRotator = roleArn(rotatorRole());
    const use = (action: string, ctx: Record<string, string[]>) =>
      keyAccess(
        { identity: rotatorStatements(), keyPolicy: statements },
        request(action, DATA_KEY, ctx, asRotator),
        asRotator,
      );
    expect(use('kms:Decrypt', context(A))).toBe(true);
    expect(use('kms:GenerateDataKey', context(B))).toBe(true);
    expect(use('kms:Decrypt', {})).toBe(false);
    expect(use('kms:Sign', context(A))).toBe(false);
    expect(JSON.stringify(keyPolicy(json, idOf(stack, stack.signingKey)))).not.toContain(rotatorRole());
  });

  it('takes the keyring, and no reserved concurrency when asked', () => {
    const { template: other } = build({ keyring: 'kms-hierarchical', rotatorReservedConcurrency: false });
    other.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ EGG_KEYRING: 'kms-hierarchical' }) },
      ReservedConcurrentExecutions: Match.absent(),
    });
  });

  it('refuses to synthesize without its bundle, saying how to build it', () => {
    const missing = join(dir, 'no-rotator');
    expect(() => build({ rotatorCodePath: missing })).toThrow(
      expect.objectContaining({
        code: 'ERR_NOT_INITIALIZED',
        message: `the rotator is not built: ${join(missing, 'index.js')} is missing`,
        hint: 'run `npm run package` first (it bundles dist/rotator/), or pass --rotator-code DIR',
      }),
    );
  });
});

describe('the proxy runtime', () => {
  let proxyStack: EggCartonStack;
  let proxyTemplate: Template;
  let proxyResources: Record<string, Json>;
  const taskRole = () => idOf(proxyStack, proxyStack.proxy?.taskRole as never);
  let proxyJson: Json;
  let proxyResolve: IntrinsicResolver;
  const proxyStatements = () => statementsOf(proxyJson, taskRole());

  beforeAll(() => {
    ({ stack: proxyStack, template: proxyTemplate } = build({
      proxy: { enabled: true, certificateArn: CERTIFICATE_ARN, desiredCount: 3 },
    }));
    proxyJson = proxyTemplate.toJSON() as Json;
    proxyResources = proxyJson.Resources as Record<string, Json>;
    proxyResolve = resolverFor(proxyStack, proxyJson);
  });

  it('is not deployed unless asked', () => {
    expect(stack.proxy).toBeUndefined();
    for (const type of [
      'AWS::ECS::Service',
      'AWS::ECS::TaskDefinition',
      'AWS::ElasticLoadBalancingV2::LoadBalancer',
    ])
      template.resourceCountIs(type, 0);
    expect(build({ proxy: { enabled: false } }).stack.proxy).toBeUndefined();
  });

  it('runs `egg proxy serve` on Fargate with the aws backend, deferred rotation and no secrets in its environment', () => {
    const [definition] = Object.values(proxyTemplate.findResources('AWS::ECS::TaskDefinition'));
    const properties = definition?.Properties as Json;
    expect(properties.RequiresCompatibilities).toEqual(['FARGATE']);
    expect(properties.TaskRoleArn).toEqual(ref(taskRole()));
    expect(properties.RuntimePlatform).toEqual({ CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' });
    const [container] = properties.ContainerDefinitions as Json[];
    expect(container?.PortMappings).toEqual([{ ContainerPort: 8080, Protocol: 'tcp' }]);
    expect(container?.Secrets).toBeUndefined();
    expect(container?.Environment).toEqual([
      { Name: 'EGG_BACKEND', Value: 'aws' },
      { Name: 'EGG_TABLE', Value: { Ref: idOf(proxyStack, proxyStack.table) } },
      { Name: 'EGG_KMS_KEY_ID', Value: ref(idOf(proxyStack, proxyStack.key)) },
      { Name: 'EGG_SIGNING_KEY_ID', Value: ref(idOf(proxyStack, proxyStack.signingKey)) },
      { Name: 'EGG_SEALING_KEY_ID', Value: ref(idOf(proxyStack, proxyStack.sealingKey)) },
      { Name: 'EGG_KEYRING', Value: 'kms' },
      { Name: 'EGG_ROTATION', Value: 'deferred' },
      { Name: 'EGG_REGION', Value: { Ref: 'AWS::Region' } },
    ]);
    proxyTemplate.hasResourceProperties('AWS::ECS::Service', {
      LaunchType: 'FARGATE',
      DesiredCount: 3,
      DeploymentConfiguration: Match.objectLike({
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        MinimumHealthyPercent: 100,
      }),
    });
  });

  it('terminates TLS 1.2+ at the load balancer, redirects HTTP, and keeps the client address from the provider', () => {
    proxyTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: CERTIFICATE_ARN }],
      SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09',
    });
    proxyTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [
        { Type: 'redirect', RedirectConfig: { Port: '443', Protocol: 'HTTPS', StatusCode: 'HTTP_301' } },
      ],
    });
    proxyTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'idle_timeout.timeout_seconds', Value: '150' },
        { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
        { Key: 'routing.http.xff_header_processing.mode', Value: 'remove' },
      ]),
    });
    proxyTemplate.hasOutput('ProxyUrl', {
      Description: 'Egg Carton proxy (HTTPS: point a DNS name of the certificate at the load balancer)',
    });
    expect(Annotations.fromStack(proxyStack).findWarning('*', Match.stringLikeRegexp('plain HTTP'))).toEqual(
      [],
    );
  });

  it('checks health with a token-less request, which the proxy refuses (401) before touching any state', () => {
    proxyTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckPath: '/',
      Matcher: { HttpCode: '401' },
      TargetType: 'ip',
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '30' }]),
    });
  });

  it('speaks plain HTTP without a certificate only when allowed, and says so loudly', () => {
    const { stack: plain, template: plainTemplate } = build({
      proxy: { enabled: true, allowPlainHttp: true },
    });
    plainTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
    });
    plainTemplate.resourcePropertiesCountIs(
      'AWS::ElasticLoadBalancingV2::Listener',
      { Protocol: 'HTTPS' },
      0,
    );
    plainTemplate.hasOutput('ProxyUrl', {
      Description:
        'Egg Carton proxy over PLAIN HTTP: tokens cross the network unencrypted; deploy with --proxy-certificate-arn',
    });
    expect(Annotations.fromStack(plain).findWarning('*', Match.stringLikeRegexp('plain HTTP'))).toHaveLength(
      1,
    );
  });

  it('has exactly: read secrets, append reads, token items and spend, Decrypt, the public key, alerts to its topic and bus', () => {
    expect(proxyStatements()).toEqual([
      {
        Sid: 'SecretReads',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem'],
        Resource: ref(idOf(proxyStack, proxyStack.table)),
        Condition: { 'ForAllValues:StringNotLike': { 'dynamodb:LeadingKeys': ['*#*'] } },
      },
      {
        Sid: 'AuditAppend',
        Effect: 'Allow',
        Action: ['dynamodb:Query', 'dynamodb:PutItem'],
        Resource: ref(idOf(proxyStack, proxyStack.table)),
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['audit#*'] } },
      },
      {
        Sid: 'TokenItems',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
        Resource: ref(idOf(proxyStack, proxyStack.table)),
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['tokens#*'] } },
      },
      {
        Sid: 'UsageCounters',
        Effect: 'Allow',
        Action: ['dynamodb:Query', 'dynamodb:UpdateItem'],
        Resource: ref(idOf(proxyStack, proxyStack.table)),
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['usage#*'] } },
      },
      {
        Sid: 'DataKeys',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: ref(idOf(proxyStack, proxyStack.key)),
        Condition: { Null: { 'kms:EncryptionContext:namespace': 'false' } },
      },
      { ...viaDynamoDB, Resource: ref(idOf(proxyStack, proxyStack.key)) },
      {
        Sid: 'SigningPublicKey',
        Effect: 'Allow',
        Action: 'kms:GetPublicKey',
        Resource: ref(idOf(proxyStack, proxyStack.signingKey)),
      },
      // Alerts to the stack's SNS topic and the default event bus (infra/alerting.ts).
      {
        Effect: 'Allow',
        Action: 'sns:Publish',
        Resource: { Ref: idOf(proxyStack, proxyStack.alerting?.topic as never) },
      },
      {
        Sid: 'AlertEvents',
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':events:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':event-bus/default',
            ],
          ],
        },
      },
      {
        Sid: 'UnsealProviderKeys',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: ref(idOf(proxyStack, proxyStack.sealingKey)),
        Condition: { StringEquals: { 'kms:EncryptionAlgorithm': 'RSAES_OAEP_SHA_256' } },
      },
      {
        Sid: 'SealingPublicKey',
        Effect: 'Allow',
        Action: 'kms:GetPublicKey',
        Resource: ref(idOf(proxyStack, proxyStack.sealingKey)),
      },
      ...ttlDenies(ref(idOf(proxyStack, proxyStack.table)), undefined, 'usage#*'),
    ]);
    // Its trust (ECS tasks of this account and region only): test/unit/infra-proxy.test.ts.
    expect((proxyResources[taskRole()]?.Properties as Json).AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        expect.objectContaining({
          Action: 'sts:AssumeRole',
          Principal: { Service: 'ecs-tasks.amazonaws.com' },
        }),
      ],
    });
  });

  it.each([
    ['dynamodb:BatchGetItem', [A, B], true],
    ['dynamodb:GetItem', [A], true],
    ['dynamodb:PutItem', [`audit#${A}`], true],
    ['dynamodb:GetItem', [`tokens#${A}`], true],
    ['dynamodb:Query', [`tokens#${B}`], true],
    ['dynamodb:UpdateItem', [`tokens#${A}`], true],
    ['dynamodb:PutItem', [A], false],
    ['dynamodb:UpdateItem', [A], false],
    ['dynamodb:DeleteItem', [A], false],
    ['dynamodb:PutItem', [`tokens#${A}`], false],
    ['dynamodb:DeleteItem', [`tokens#${A}`], false],
    ['dynamodb:Query', [A], false],
    ['dynamodb:Scan', [], false],
  ])('the proxy, %s on %j → %s', async (action, partitions, expected) => {
    expect(await item(proxyStatements(), action, partitions, proxyResolve)).toBe(expected);
  });

  it('may Decrypt namespace data keys and read the public key, never sign or make data keys', () => {
    const keyStatements = keyPolicy(proxyJson, idOf(proxyStack, proxyStack.key));
    const signingStatements = keyPolicy(proxyJson, idOf(proxyStack, proxyStack.signingKey));
    const asProxy = roleArn(taskRole());
    const use = (action: string, resource: string, statements: Statement[], ctx: Record<string, string[]>) =>
      keyAccess(
        { identity: proxyStatements(), keyPolicy: statements },
        request(action, resource, ctx, asProxy),
        asProxy,
        proxyResolve,
      );
    expect(use('kms:Decrypt', DATA_KEY, keyStatements, context(A))).toBe(true);
    expect(use('kms:Decrypt', DATA_KEY, keyStatements, {})).toBe(false);
    expect(use('kms:GenerateDataKey', DATA_KEY, keyStatements, context(A))).toBe(false);
    expect(use('kms:GetPublicKey', SIGNING_KEY, signingStatements, {})).toBe(true);
    expect(use('kms:Sign', SIGNING_KEY, signingStatements, {})).toBe(false);
    expect(keyStatements.find((s) => s.Sid === 'Proxy')?.Action).toBe('kms:Decrypt');
    expect(signingStatements.find((s) => s.Sid === 'ProxyPublicKey')?.Action).toBe('kms:GetPublicKey');
  });

  it('builds its image from infra/proxy/Dockerfile with only the sources in the context', () => {
    const assembly = join(dir, 'cdk.out.proxy');
    const { app, stack: staged } = buildStack({
      grants: GRANTS,
      rotatorCodePath: rotatorCode,
      outdir: assembly,
      proxy: { enabled: true, certificateArn: CERTIFICATE_ARN },
    });
    app.synth();
    const manifest = JSON.parse(readFileSync(join(assembly, `${staged.stackName}.assets.json`), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile: string; platform: string } }>;
    };
    const images = Object.values(manifest.dockerImages);
    expect(images.map((i) => ({ dockerFile: i.source.dockerFile, platform: i.source.platform }))).toEqual([
      { dockerFile: 'infra/proxy/Dockerfile', platform: 'linux/amd64' },
    ]);
    const context = join(assembly, images[0]?.source.directory ?? '');
    expect(readdirSync(context).sort()).toEqual([
      'cli',
      'infra',
      'package-lock.json',
      'package.json',
      'scripts',
      'src',
      'tsconfig.build.json',
      'tsconfig.json',
    ]);
    expect(readdirSync(join(context, 'infra'))).toEqual(['proxy']);
    expect(readdirSync(join(context, 'scripts'))).toEqual(['bundle.js']);
    expect(PROXY_IMAGE_CONTEXT[0]).toBe('*');
    const dockerfile = readFileSync(join(context, 'infra/proxy/Dockerfile'), 'utf8');
    expect(dockerfile).toContain('FROM node:24-slim');
    expect(dockerfile).toContain('USER node');
    expect(dockerfile).toContain(
      'CMD ["node", "cli/bin/egg.js", "proxy", "serve", "--host", "0.0.0.0", "--port", "8080"]',
    );
  });
});

describe('the OIDC provider', () => {
  it('is imported, not created, when its ARN is given', () => {
    template.resourceCountIs('AWS::IAM::OIDCProvider', 0);
  });

  it('outputs the role ARN of every grant', () => {
    template.hasOutput('GrantAcmeWebProdRoleArn', { Value: ref(roleId(A)) });
    template.hasOutput('GrantAcmeApiProdRoleArn', { Value: ref(roleId(B)) });
    template.hasOutput('GrantAcmeOpsProdRoleArn', { Value: ref(roleId(C)) });
  });
});
