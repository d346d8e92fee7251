/**
 * Key administrators administer; they do not get to use the keys (issue 9, item 16). A
 * grant is a second, quiet way to use a KMS key: it does not appear in the key policy. So
 * the key policies of both keys refuse `kms:CreateGrant` unless an AWS service makes the
 * grant for one of its resources (`kms:GrantIsForAWSResource`: DynamoDB for the table's
 * encryption at rest), whoever the administrators are. Evaluated on the synthesized template
 * with the tests' IAM evaluator (KMS: the identity policies and the key policy together).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { type BuildOptions, buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';
import {
  type ContextValue,
  cfnResolver,
  evaluateKeyAccess,
  keyPolicyFromTemplate,
} from '../support/iam-policy.js';

const ACCOUNT = '123456789012';
const DATA_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/00000000-0000-4000-8000-00000000da7a`;
const SIGNING_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/00000000-0000-4000-8000-0000000051e9`;
const ANCHOR_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/00000000-0000-4000-8000-0000000a1c40`;
const ADMIN = `arn:aws:iam::${ACCOUNT}:role/platform-admins`;
/** What an administrator typically holds in IAM: every KMS action. */
const ADMIN_IDENTITY = [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }];

const dir = mkdtempSync(join(tmpdir(), 'egg-infra-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'rotator'));
writeFileSync(join(dir, 'rotator', 'index.js'), 'exports.handler = async () => ({});\n');

let builds = 0;
function keyPolicies(options: Partial<BuildOptions> = {}) {
  const { stack } = buildStack({
    grants: parseGrants(
      JSON.stringify([
        {
          namespace: 'acme/web/prod',
          subjects: ['repo:acme@1001/web@2002:environment:prod'],
          mintTokens: true,
        },
      ]),
    ),
    githubOidcProviderArn: `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`,
    rotatorCodePath: join(dir, 'rotator'),
    outdir: join(dir, `cdk.out.${builds++}`),
    ...options,
  });
  const template = Template.fromStack(stack).toJSON() as Record<string, unknown>;
  const id = (key: typeof stack.key) => stack.getLogicalId(key.node.defaultChild as never);
  const resolve = cfnResolver({
    account: ACCOUNT,
    region: 'us-east-1',
    template,
    attributes: {
      [`${id(stack.key)}.Arn`]: DATA_KEY,
      [`${id(stack.signingKey)}.Arn`]: SIGNING_KEY,
      [`${id(stack.anchorKey)}.Arn`]: ANCHOR_KEY,
    },
  });
  const may = (key: string, action: string, context: Record<string, ContextValue>, caller = ADMIN) =>
    evaluateKeyAccess(
      {
        identity: ADMIN_IDENTITY,
        keyPolicy: keyPolicyFromTemplate(
          template,
          id(key === DATA_KEY ? stack.key : key === ANCHOR_KEY ? stack.anchorKey : stack.signingKey),
        ),
      },
      { action, resource: key, context: { ...context, 'aws:PrincipalArn': caller } },
      { principalArn: caller },
      { resolve },
    ).decision === 'allow';
  return { may };
}

/** A CreateGrant a person makes by calling KMS: never for an AWS resource. */
const grantToSelf = (operations: string[]) => ({
  'kms:GrantIsForAWSResource': 'false',
  'kms:GranteePrincipal': ADMIN,
  'kms:GrantOperations': operations,
  'kms:CallerAccount': ACCOUNT,
});

describe.each([
  ['named with --key-admin', { keyAdminArns: [ADMIN] }],
  ['the account (the default)', {}],
])('a key administrator %s', (_name, options) => {
  const { may } = keyPolicies(options);

  it.each([
    ['the data key', DATA_KEY, ['Decrypt']],
    ['the data key', DATA_KEY, ['GenerateDataKey', 'Decrypt']],
    ['the signing key', SIGNING_KEY, ['Sign']],
    ['the anchor key', ANCHOR_KEY, ['Sign']],
  ])('cannot CreateGrant on %s to itself for %j', (_key, key, operations) => {
    expect(may(key, 'kms:CreateGrant', grantToSelf(operations))).toBe(false);
  });

  it('cannot CreateGrant with the condition key left out either', () => {
    const { 'kms:GrantIsForAWSResource': _, ...unnamed } = grantToSelf(['Decrypt']);
    expect(may(DATA_KEY, 'kms:CreateGrant', unnamed)).toBe(false);
  });

  it('still administers: the key policy, rotation, grants it can revoke, deletion', () => {
    for (const action of [
      'kms:PutKeyPolicy',
      'kms:EnableKeyRotation',
      'kms:ListGrants',
      'kms:RevokeGrant',
      'kms:ScheduleKeyDeletion',
      'kms:DescribeKey',
    ])
      expect(may(DATA_KEY, action, {}), action).toBe(true);
    expect(may(DATA_KEY, 'kms:Decrypt', { 'kms:EncryptionContext:namespace': 'acme/web/prod' })).toBe(false);
  });

  it('lets DynamoDB make the grants it needs for the table’s encryption at rest', () => {
    const viaTable = {
      'kms:ViaService': 'dynamodb.us-east-1.amazonaws.com',
      'kms:CallerAccount': ACCOUNT,
      'kms:GrantIsForAWSResource': 'true',
    };
    expect(may(DATA_KEY, 'kms:CreateGrant', viaTable)).toBe(true);
  });
});
