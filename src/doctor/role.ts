/**
 * A role's trust policy from IAM (`GetRole` → `AssumeRolePolicyDocument`), with whatever
 * credentials the caller has. This builds its own IAM client instead of adding one to
 * src/aws/clients.ts: the Action bundles clients.ts, and ncc would carry the IAM client
 * (~5 MB installed) into dist/ as a lazy chunk that the Action never loads.
 */
import type { AwsCredentials } from '../aws/clients.js';
import { awsErrorName, identityProblem } from '../aws/errors.js';
import { EggError } from '../errors.js';
import { retry } from '../retry.js';

/** `arn:aws:iam::123456789012:role/path/name` → `name` (GetRole takes the name without its path). */
export function roleNameOf(roleArn: string): string {
  const match = /^arn:aws[a-z-]*:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/.exec(roleArn);
  if (match?.[1] === undefined) {
    throw new EggError('ERR_USAGE', `${roleArn} is not an IAM role ARN`, {
      hint: 'pass one like arn:aws:iam::123456789012:role/egg-ci',
    });
  }
  return match[1];
}

/** IAM is global; its signing region follows the role's partition. */
function iamRegion(roleArn: string): string {
  if (roleArn.startsWith('arn:aws-cn:')) return 'cn-north-1';
  if (roleArn.startsWith('arn:aws-us-gov:')) return 'us-gov-west-1';
  return 'us-east-1';
}

/** The role's trust policy document as IAM returns it (URL-encoded JSON). */
export async function readRoleTrustPolicy(
  roleArn: string,
  options: { credentials?: AwsCredentials } = {},
): Promise<string> {
  const roleName = roleNameOf(roleArn);
  const { IAMClient, GetRoleCommand } = await import('@aws-sdk/client-iam');
  // One attempt per call, as every client here: retry() decides per error.
  const client = new IAMClient({
    region: iamRegion(roleArn),
    maxAttempts: 1,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  });
  try {
    const { Role } = await retry(() => client.send(new GetRoleCommand({ RoleName: roleName })), {
      label: 'iam.GetRole',
    });
    const document = Role?.AssumeRolePolicyDocument;
    if (document === undefined)
      throw new EggError('ERR_STORE_UNAVAILABLE', `IAM returned no trust policy for ${roleArn}`);
    return document;
  } catch (error) {
    if (error instanceof EggError) throw error;
    if (awsErrorName(error) === 'NoSuchEntityException' || awsErrorName(error) === 'NoSuchEntity') {
      throw new EggError(
        'ERR_INVALID_CONFIG',
        `there is no role ${roleName} in the account of these credentials`,
        {
          cause: error,
          hint: `check the role ARN ${roleArn}, and that your credentials are for its account`,
        },
      );
    }
    throw (
      identityProblem(error, 'iam:GetRole', undefined) ??
      new EggError('ERR_STORE_UNAVAILABLE', `could not read the role ${roleArn} (${awsErrorName(error)})`, {
        cause: error,
      })
    );
  } finally {
    client.destroy();
  }
}
