/**
 * An AWS access denial during the pull, said for the Action: which role lacks which
 * permission for which namespace, and the IAM policy statement that grants it while keeping
 * the role confined to that namespace (DESIGN, Identity and isolation). The library's
 * message (src/aws/errors.ts) speaks to a laptop user ("check it with `egg whoami`"); in a
 * job, the role is the `role-to-assume` input and the fix is its IAM policy.
 */
import { EggError } from '../errors.js';

export interface DeniedContext {
  /** The `role-to-assume` input: the role whose IAM policy needs the permission. */
  roleArn: string;
  namespace: string;
  table: string | undefined;
  kmsKeyId: string | undefined;
  /** The `signing-key-id` input, for `mint-tokens`. */
  signingKeyId?: string | undefined;
  rotation: 'inline' | 'deferred';
}

/** `access denied: dynamodb:BatchGetItem on namespace acme/web`, as `identityProblem` words it. */
const LIBRARY_DENIAL = /^access denied: (dynamodb|kms):([A-Za-z]+)(?: on namespace \S+)?$/;

/** Writes a role with `rotation: deferred` never needs (DESIGN, Crypto: a read-only CI role). */
const ROTATION_WRITES = new Set(['dynamodb:PutItem', 'dynamodb:UpdateItem', 'kms:GenerateDataKey']);

/**
 * The Action's error for an AWS access denial in `error`, keeping it as the `cause`; any
 * other error is returned as it is.
 */
export function explainAccessDenied(error: unknown, context: DeniedContext): unknown {
  if (!(error instanceof EggError) || error.code !== 'ERR_ACCESS_DENIED') return error;
  const match = LIBRARY_DENIAL.exec(error.message);
  if (match === null) return error;
  const [, service, operation] = match as unknown as [string, 'dynamodb' | 'kms', string];
  const permission = `${service}:${operation}`;
  const { roleArn, namespace } = context;
  // IAM condition keys: "DynamoDB: Using IAM policy conditions for fine-grained access
  // control" (dynamodb:LeadingKeys) and "AWS KMS: kms:EncryptionContext:context-key".
  // Signing has no encryption context: the role needs the two calls on the signing key itself.
  const grant =
    permission === 'kms:Sign' || permission === 'kms:GetPublicKey'
      ? `allow kms:Sign and kms:GetPublicKey in the IAM policy of ${roleArn} on the signing key ` +
        `${context.signingKeyId ?? '(the signing-key-id input)'} (the key policy must let IAM policies grant access)`
      : service === 'dynamodb'
        ? `allow ${permission} in the IAM policy of ${roleArn} on table ${context.table ?? '(the table input)'}, ` +
          `with the condition "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [${partitionsFor(permission, namespace)}]} ` +
          'that keeps the role to this namespace (docs/dynamodb.md: which partition holds what)'
        : `allow ${permission} in the IAM policy of ${roleArn} on key ${context.kmsKeyId ?? '(the kms-key-id input)'}, ` +
          `with the condition "StringEquals": {"kms:EncryptionContext:namespace": "${namespace}"} ` +
          'that keeps the role to this namespace (the key policy must let IAM policies grant access)';
  const readOnly =
    context.rotation === 'inline' && ROTATION_WRITES.has(permission)
      ? '; or, if this was the rotation after the read, set rotation: deferred, so the role only reads and a trusted rotator re-encrypts'
      : '';
  return new EggError(
    'ERR_ACCESS_DENIED',
    `access denied: the role ${roleArn} may not call ${permission} for namespace ${namespace}`,
    { cause: error, hint: `${grant}${readOnly}` },
  );
}

/**
 * The partitions (docs/dynamodb.md) an operation can touch: secrets under the namespace,
 * audit records under `audit#`, token items under `tokens#`. A read-only role reads the
 * first two and appends to the second; only a grant that mints tokens writes the third.
 */
function partitionsFor(permission: string, namespace: string): string {
  const quoted = (pk: string) => `"${pk}"`;
  const partitions =
    permission === 'dynamodb:UpdateItem'
      ? [`tokens#${namespace}`]
      : permission === 'dynamodb:PutItem'
        ? [`audit#${namespace}`, `tokens#${namespace}`]
        : [namespace, `audit#${namespace}`];
  return partitions.map(quoted).join(', ');
}
