/**
 * Translation of AWS SDK failures that every AWS adapter shares into `EggError`s that say
 * what to fix: missing or refused credentials, a missing region, an access denial naming
 * the permission and the namespace. The SDK error stays the `cause`.
 */
import { EggError } from '../errors.js';

/** The SDK's error name (`AccessDeniedException`), or the Node error code (`ECONNREFUSED`). */
export function awsErrorName(error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'Error';
  const e = error as { name?: unknown; code?: unknown };
  if (typeof e.name === 'string' && e.name !== 'Error') return e.name;
  if (typeof e.code === 'string') return e.code;
  return typeof e.name === 'string' ? e.name : 'Error';
}

export function isConditionFailed(error: unknown): boolean {
  return awsErrorName(error) === 'ConditionalCheckFailedException';
}

const REFUSED_CREDENTIALS = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'InvalidClientTokenId',
  'ExpiredTokenException',
  'ExpiredToken',
  'MissingAuthenticationTokenException',
]);

/**
 * The failures that are about who we are rather than what we asked: no credentials, refused
 * credentials, no region, or an explicit denial of `permission` (e.g. "dynamodb:PutItem").
 * Undefined for anything else, which the adapter translates itself.
 */
export function identityProblem(
  error: unknown,
  permission: string,
  namespace: string | undefined,
): EggError | undefined {
  const name = awsErrorName(error);
  const scope = namespace === undefined ? '' : ` on namespace ${namespace}`;
  if (name === 'AccessDeniedException' || name === 'AccessDenied') {
    return new EggError('ERR_ACCESS_DENIED', `access denied: ${permission}${scope}`, {
      cause: error,
      hint:
        namespace === undefined
          ? `grant ${permission} to the role you are using (check it with \`egg whoami\`)`
          : `grant ${permission} for namespace ${namespace} to the role you are using, or use a role confined to that namespace (check it with \`egg whoami\`)`,
    });
  }
  if (REFUSED_CREDENTIALS.has(name)) {
    return new EggError('ERR_ACCESS_DENIED', `AWS refused the credentials for ${permission} (${name})`, {
      cause: error,
      hint: 'refresh them (`egg login`, `aws sso login`) or check AWS_PROFILE and the AWS_* variables',
    });
  }
  if (name === 'CredentialsProviderError') {
    return new EggError('ERR_ACCESS_DENIED', `no AWS credentials found for ${permission}`, {
      cause: error,
      hint: 'run `egg login`, set AWS_PROFILE, or run inside the Action with `id-token: write`',
    });
  }
  if (error instanceof Error && /region is missing/i.test(error.message)) {
    return new EggError('ERR_INVALID_CONFIG', 'no AWS region is configured', {
      cause: error,
      hint: 'set AWS_REGION (or EGG_REGION, or --region)',
    });
  }
  return undefined;
}
