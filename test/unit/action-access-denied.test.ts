/**
 * The Action's access-denied message: the library's denial (src/aws/errors.ts) retold with
 * the role, the namespace, and the IAM policy statement that grants the permission while
 * keeping the role to its namespace.
 */
import { describe, expect, it } from 'vitest';
import { type DeniedContext, explainAccessDenied } from '../../src/action/access-denied.js';
import { identityProblem } from '../../src/aws/errors.js';
import { EggError } from '../../src/errors.js';

const ROLE = 'arn:aws:iam::123456789012:role/egg-ci';
const KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const CONTEXT: DeniedContext = {
  roleArn: ROLE,
  namespace: 'acme/web',
  table: 'egg',
  kmsKeyId: KEY,
  rotation: 'inline',
};
const denied = (permission: string) =>
  identityProblem(
    Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }),
    permission,
    'acme/web',
  );

const DDB = (permission: string, partitions = '"acme/web", "audit#acme/web"') =>
  `Allow ${permission} in the IAM policy of ${ROLE} on table egg, with the condition ` +
  `"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [${partitions}]} that keeps the role to this namespace ` +
  '(docs/dynamodb.md: which partition holds what)';
const APPEND = '"audit#acme/web", "tokens#acme/web"';
const KMS = (permission: string) =>
  `Allow ${permission} in the IAM policy of ${ROLE} on key ${KEY}, with the condition ` +
  '"StringEquals": {"kms:EncryptionContext:namespace": "acme/web"} that keeps the role to this namespace ' +
  '(the key policy must let IAM policies grant access)';
const DEFERRED =
  '; or, if this was the rotation after the read, set rotation: deferred, so the role only reads and a trusted rotator re-encrypts';

describe('explainAccessDenied', () => {
  it.each([
    ['dynamodb:BatchGetItem', 'inline', DDB('dynamodb:BatchGetItem')],
    ['dynamodb:Query', 'inline', DDB('dynamodb:Query')],
    ['dynamodb:PutItem', 'inline', DDB('dynamodb:PutItem', APPEND) + DEFERRED],
    ['dynamodb:PutItem', 'deferred', DDB('dynamodb:PutItem', APPEND)],
    ['dynamodb:UpdateItem', 'deferred', DDB('dynamodb:UpdateItem', '"tokens#acme/web"')],
    ['kms:Decrypt', 'inline', KMS('kms:Decrypt')],
    ['kms:GenerateDataKey', 'inline', KMS('kms:GenerateDataKey') + DEFERRED],
    ['kms:GenerateDataKey', 'deferred', KMS('kms:GenerateDataKey')],
  ] as const)('%s with %s rotation', (permission, rotation, hint) => {
    const original = denied(permission);
    const error = explainAccessDenied(original, { ...CONTEXT, rotation }) as EggError;
    expect(error).toBeInstanceOf(EggError);
    expect({ code: error.code, message: error.message, hint: error.hint }).toEqual({
      code: 'ERR_ACCESS_DENIED',
      message: `access denied: the role ${ROLE} may not call ${permission} for namespace acme/web`,
      hint: hint.charAt(0).toLowerCase() + hint.slice(1),
    });
    expect(error.cause).toBe(original);
  });

  it.each(['kms:Sign', 'kms:GetPublicKey'])(
    '%s (mint-tokens) names the signing key, not the data key',
    (permission) => {
      // KmsSigner reports its denials without a namespace: signing has no encryption context.
      const original = identityProblem({ name: 'AccessDeniedException' }, permission, undefined);
      const signing = 'alias/egg-signing';
      const error = explainAccessDenied(original, { ...CONTEXT, signingKeyId: signing }) as EggError;
      expect({ code: error.code, message: error.message, hint: error.hint }).toEqual({
        code: 'ERR_ACCESS_DENIED',
        message: `access denied: the role ${ROLE} may not call ${permission} for namespace acme/web`,
        hint: `allow kms:Sign and kms:GetPublicKey in the IAM policy of ${ROLE} on the signing key ${signing} (the key policy must let IAM policies grant access)`,
      });
    },
  );

  it.each([
    ['refused credentials', identityProblem({ name: 'ExpiredTokenException' }, 'kms:Decrypt', 'acme/web')],
    ['another code', new EggError('ERR_KMS', 'kms:Decrypt failed (InternalFailure)')],
    ['a plain error', new Error('boom')],
  ])('passes %s through unchanged', (_, error) => {
    expect(explainAccessDenied(error, CONTEXT)).toBe(error);
  });
});
