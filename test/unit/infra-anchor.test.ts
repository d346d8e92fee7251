/**
 * The anchor of the audit trails in the synthesized stack (issue 9, item 14): an Ed25519 key
 * only the rotator may sign with, and a partition per namespace (`anchor#<ns>`) only the
 * rotator may write; every grant may read both, to run `egg audit verify`. Shown by
 * evaluating the template's policies for concrete requests: item requests with the IAM
 * simulator (test/support/iam-simulator.ts), KMS with the key policy by
 * test/support/iam-policy.ts (not moved to the simulator yet).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';
import { anchorPartition } from '../../infra/partitions.js';
import type { EggCartonStack } from '../../infra/stack.js';
import { anchorPartition as storeAnchorPartition } from '../../src/stores/dynamodb.js';
import {
  cfnResolver,
  evaluateKeyAccess,
  type IntrinsicResolver,
  keyPolicyFromTemplate,
  type Policy,
  roleStatementsFromTemplate,
} from '../support/iam-policy.js';
import { allowsItem } from '../support/iam-simulator.js';

const A = 'acme/web/prod';
const B = 'acme/api/prod';
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const TABLE = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/egg-carton`;
const DATA_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-4000-8000-00000000da7a`;
const SIGNING_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-4000-8000-0000000051e9`;
const ANCHOR_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-4000-8000-0000000a4c40`;

type Json = Record<string, unknown>;
const dir = mkdtempSync(join(tmpdir(), 'egg-infra-anchor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let stack: EggCartonStack;
let template: Template;
let json: Json;
let resolve: IntrinsicResolver;
const idOf = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);
const roleArn = (logicalId: string) => `arn:aws:iam::${ACCOUNT}:role/${logicalId}`;

beforeAll(() => {
  mkdirSync(join(dir, 'rotator'));
  writeFileSync(join(dir, 'rotator', 'index.js'), 'exports.handler = async () => ({});\n');
  ({ stack } = buildStack({
    grants: parseGrants(
      JSON.stringify([
        { namespace: A, subjects: ['repo:acme@1001/web@2002:environment:prod'] },
        {
          namespace: B,
          subjects: ['repo:acme@1001/api@2003:environment:prod'],
          mintTokens: true,
          manageSecrets: true,
        },
      ]),
    ),
    githubOidcProviderArn: `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`,
    rotatorCodePath: join(dir, 'rotator'),
    outdir: join(dir, 'cdk.out'),
    proxy: { enabled: true, certificateArn: `arn:aws:acm:${REGION}:${ACCOUNT}:certificate/0b1c2d3e` },
  }));
  template = Template.fromStack(stack);
  json = template.toJSON() as Json;
  resolve = cfnResolver({
    account: ACCOUNT,
    region: REGION,
    template: json,
    attributes: {
      [`${idOf(stack.key)}.Arn`]: DATA_KEY,
      [`${idOf(stack.signingKey)}.Arn`]: SIGNING_KEY,
      [`${idOf(stack.anchorKey)}.Arn`]: ANCHOR_KEY,
    },
  });
});

/** Each principal that holds a role in the stack, by what it is. */
const principals = () => ({
  'read-only grant A': idOf(stack.roles.get(A) as never),
  'minting, writing grant B': idOf(stack.roles.get(B) as never),
  rotator: idOf(stack.rotator.role),
  proxy: idOf(stack.proxy?.taskRole as never),
});
type Who = keyof ReturnType<typeof principals>;

const identity = (who: Who): Policy => roleStatementsFromTemplate(json, principals()[who]);
/** The attributes a checkpoint's PutItem names (src/stores/dynamodb.ts), as IAM sees them. */
const CHECKPOINT_ATTRIBUTES = ['pk', 'sk', 'seq', 'hash', 'time', 'kid', 'signature'];
const table = (who: Who, action: string, partition: string) =>
  allowsItem(
    identity(who),
    {
      action,
      resource: TABLE,
      context: {
        'dynamodb:LeadingKeys': [partition],
        ...(action === 'dynamodb:Query' ? {} : { 'dynamodb:Attributes': CHECKPOINT_ATTRIBUTES }),
      },
    },
    resolve,
  );
/** KMS on the anchor key: the role's IAM policies and the key policy together, as KMS decides. */
const anchorKey = (who: Who, action: string, context: Record<string, string> = {}) => {
  const principalArn = roleArn(principals()[who]);
  return (
    evaluateKeyAccess(
      { identity: identity(who), keyPolicy: keyPolicyFromTemplate(json, idOf(stack.anchorKey)) },
      { action, resource: ANCHOR_KEY, context: { ...context, 'aws:PrincipalArn': principalArn } },
      { principalArn },
      { resolve },
    ).decision === 'allow'
  );
};
const RAW = { 'kms:SigningAlgorithm': 'ED25519_SHA_512', 'kms:MessageType': 'RAW' };

describe('the anchor partition', () => {
  it('is the one the DynamoDB store writes checkpoints to', () => {
    expect(anchorPartition(A)).toBe(storeAnchorPartition(A));
    expect(anchorPartition(A)).toBe(`anchor#${A}`);
  });

  it.each<[Who, string, string, boolean]>([
    ['rotator', 'dynamodb:PutItem', `anchor#${A}`, true],
    ['rotator', 'dynamodb:Query', `anchor#${B}`, true],
    ['rotator', 'dynamodb:DeleteItem', `anchor#${A}`, false],
    ['rotator', 'dynamodb:UpdateItem', `anchor#${A}`, false],
    ['read-only grant A', 'dynamodb:Query', `anchor#${A}`, true],
    ['read-only grant A', 'dynamodb:GetItem', `anchor#${A}`, true],
    ['read-only grant A', 'dynamodb:PutItem', `anchor#${A}`, false],
    ['read-only grant A', 'dynamodb:DeleteItem', `anchor#${A}`, false],
    ['read-only grant A', 'dynamodb:UpdateItem', `anchor#${A}`, false],
    ['read-only grant A', 'dynamodb:Query', `anchor#${B}`, false],
    ['minting, writing grant B', 'dynamodb:PutItem', `anchor#${B}`, false],
    ['minting, writing grant B', 'dynamodb:DeleteItem', `anchor#${B}`, false],
    ['minting, writing grant B', 'dynamodb:Query', `anchor#${B}`, true],
    ['proxy', 'dynamodb:PutItem', `anchor#${A}`, false],
    ['proxy', 'dynamodb:Query', `anchor#${A}`, false],
  ])('%s: %s on %s → %s', async (who, action, partition, expected) => {
    expect(await table(who, action, partition)).toBe(expected);
  });
});

describe('the anchor key', () => {
  it('is an Ed25519 SIGN_VERIFY key of its own, kept on stack deletion, and an output', () => {
    const keys = template.findResources('AWS::KMS::Key');
    expect(keys[idOf(stack.anchorKey)]).toMatchObject({
      Properties: { KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' },
      DeletionPolicy: 'Retain',
    });
    expect(idOf(stack.anchorKey)).not.toBe(idOf(stack.signingKey));
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/egg-carton-anchor' });
    template.hasOutput('AnchorKeyArn', { Value: { 'Fn::GetAtt': [idOf(stack.anchorKey), 'Arn'] } });
  });

  it('has a policy with administration, the public key through IAM, and Sign for the rotator alone', () => {
    const sids = (keyPolicyFromTemplate(json, idOf(stack.anchorKey)) as { Sid?: string }[]).map((s) => s.Sid);
    expect(sids).toEqual([
      'KeyAdministration',
      'GrantsOnlyForAwsResources',
      'PublicKeyThroughIam',
      'RotatorSignsCheckpoints',
    ]);
  });

  it.each<[Who, string, Record<string, string>, boolean]>([
    ['rotator', 'kms:Sign', RAW, true],
    ['rotator', 'kms:Sign', { ...RAW, 'kms:MessageType': 'DIGEST' }, false],
    ['rotator', 'kms:GetPublicKey', {}, true],
    ['read-only grant A', 'kms:Sign', RAW, false],
    ['read-only grant A', 'kms:GetPublicKey', {}, true],
    ['minting, writing grant B', 'kms:Sign', RAW, false],
    ['minting, writing grant B', 'kms:GetPublicKey', {}, true],
    ['proxy', 'kms:Sign', RAW, false],
    ['read-only grant A', 'kms:CreateGrant', {}, false],
  ])('%s: %s → %s', (who, action, context, expected) => {
    expect(anchorKey(who, action, context)).toBe(expected);
  });

  it('is what the rotator is told to sign with', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: { EGG_ANCHOR_KEY_ID: { 'Fn::GetAtt': [idOf(stack.anchorKey), 'Arn'] } },
      },
    });
  });
});
