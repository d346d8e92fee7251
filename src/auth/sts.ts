/**
 * STS `AssumeRoleWithWebIdentity` through `@aws-sdk/client-sts` (issue 13: the SDK's
 * protocol code, not ours, builds the Query request and parses the XML answer). The call
 * needs no AWS credentials: the operation's auth scheme is `smithy.api#noAuth`, so the
 * client resolves none and signs nothing.
 *
 * The SDK package is imported on first use (`loadSts`), not when this module loads; the
 * Action starts that import while the OIDC token request is in flight, so the two overlap.
 * Like every client (src/aws/clients.ts), it makes one attempt per call and `retry()`
 * decides per error.
 *
 * The endpoint is the regional one (`https://sts.<region>.amazonaws.com`), or the SDK's own
 * override variables `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL` read from the `env` given,
 * so tests point it at a loopback STS exactly as they would any client.
 */
import type { STSClient } from '@aws-sdk/client-sts';
import { EggError } from '../errors.js';
import type { Logger } from '../log.js';
import { retry } from '../retry.js';

export interface StsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
  /** `arn:aws:sts::123456789012:assumed-role/name/session`. */
  assumedRoleArn: string;
}

export interface AssumeRoleWithWebIdentityOptions {
  roleArn: string;
  webIdentityToken: string;
  /** `[\w+=,.@-]{2,64}`; longer names are cut. */
  sessionName: string;
  durationSeconds: number;
  region: string;
  env?: NodeJS.ProcessEnv;
  /** How long one attempt may take, connection included. Default 10 s. */
  timeoutMs?: number;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
}

/** STS answered with an error; `awsCode` is its `<Code>` (AccessDenied, InvalidIdentityToken, …). */
export class StsRequestFailed extends EggError {
  readonly awsCode: string;
  readonly status: number;
  /** Whether STS refused the identity (as opposed to failing to answer). */
  readonly refused: boolean;

  constructor(status: number, awsCode: string, awsMessage: string) {
    const refused = REFUSALS.has(awsCode);
    super(
      refused ? 'ERR_ACCESS_DENIED' : 'ERR_STORE_UNAVAILABLE',
      `STS refused AssumeRoleWithWebIdentity: ${awsCode}${awsMessage === '' ? '' : `: ${awsMessage}`}`,
    );
    this.name = 'StsRequestFailed';
    this.awsCode = awsCode;
    this.status = status;
    this.refused = refused;
  }
}

/** Codes that are about the token or the role's trust, which retrying cannot change. */
const REFUSALS = new Set([
  'AccessDenied',
  'InvalidIdentityToken',
  'IDPRejectedClaim',
  'ExpiredTokenException',
  'MalformedPolicyDocument',
  'PackedPolicyTooLarge',
  'RegionDisabledException',
  'ValidationError',
]);

/** Codes STS documents as worth retrying (IDPCommunicationError: "retry the request"). */
const TRANSIENT = new Set([
  'IDPCommunicationError',
  'Throttling',
  'ThrottlingException',
  'InternalFailure',
  'ServiceUnavailable',
]);

/** The STS endpoint for `region`, honouring the SDK's endpoint-override variables. */
export function stsEndpoint(region: string, env: NodeJS.ProcessEnv = process.env): string {
  const override = env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL;
  if (override) return override;
  const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `https://sts.${region}.${suffix}`;
}

/** A session name from the run: `egg-<run id>-<attempt>`, so CloudTrail ties calls to the run. */
export function sessionNameFor(env: NodeJS.ProcessEnv): string {
  const parts = ['egg', env.GITHUB_RUN_ID, env.GITHUB_RUN_ATTEMPT].filter((p): p is string => !!p);
  return parts
    .join('-')
    .replace(/[^\w+=,.@-]/g, '_')
    .slice(0, 64);
}

type StsModule = typeof import('@aws-sdk/client-sts');
let stsModule: Promise<StsModule> | undefined;

/** Import `@aws-sdk/client-sts` once; call it early to overlap the import with other I/O. */
export function loadSts(): Promise<StsModule> {
  stsModule ??= import('@aws-sdk/client-sts');
  return stsModule;
}

/** Trade a web-identity token for temporary credentials; retries only what STS calls transient. */
export async function assumeRoleWithWebIdentity(
  options: AssumeRoleWithWebIdentityOptions,
): Promise<StsCredentials> {
  const endpoint = stsEndpoint(options.region, options.env);
  const { STSClient, AssumeRoleWithWebIdentityCommand } = await loadSts();
  const timeout = options.timeoutMs ?? 10_000;
  const client: STSClient = new STSClient({
    region: options.region,
    endpoint,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: timeout, requestTimeout: timeout },
  });
  const command = new AssumeRoleWithWebIdentityCommand({
    RoleArn: options.roleArn,
    RoleSessionName: options.sessionName.slice(0, 64),
    DurationSeconds: options.durationSeconds,
    WebIdentityToken: options.webIdentityToken,
  });
  try {
    const answer = await retry(
      async () => {
        try {
          return await client.send(command);
        } catch (error) {
          throw stsError(error);
        }
      },
      {
        label: 'sts.AssumeRoleWithWebIdentity',
        attempts: 4,
        baseMs: 100,
        ...(options.logger === undefined ? {} : { logger: options.logger }),
        ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
        isRetryable: (error) =>
          error instanceof StsRequestFailed
            ? !error.refused && (TRANSIENT.has(error.awsCode) || error.status >= 500 || error.status === 429)
            : isNetworkError(error),
      },
    );
    const { AccessKeyId, SecretAccessKey, SessionToken, Expiration } = answer.Credentials ?? {};
    const assumedRoleArn = answer.AssumedRoleUser?.Arn;
    if (!AccessKeyId || !SecretAccessKey || !SessionToken || !Expiration || !assumedRoleArn) {
      throw new EggError(
        'ERR_STORE_UNAVAILABLE',
        `STS answered AssumeRoleWithWebIdentity without credentials (${endpoint})`,
      );
    }
    return {
      accessKeyId: AccessKeyId,
      secretAccessKey: SecretAccessKey,
      sessionToken: SessionToken,
      expiration: Expiration,
      assumedRoleArn,
    };
  } finally {
    client.destroy();
  }
}

/**
 * An error STS answered, as a `StsRequestFailed` with its wire `<Code>`. The SDK names the
 * errors STS models after their shape (`IDPRejectedClaimException` for the code
 * `IDPRejectedClaim`) and keeps the code itself in `Code`; anything that is not an answer
 * (a refused connection, a timeout) passes through unchanged.
 */
function stsError(error: unknown): unknown {
  if (!(error instanceof Error) || !('$metadata' in error) || !('$fault' in error)) return error;
  const status = (error.$metadata as { httpStatusCode?: number }).httpStatusCode;
  if (status === undefined) return error;
  const code = 'Code' in error && typeof error.Code === 'string' ? error.Code : error.name;
  return new StsRequestFailed(status, code, clean(error.message === 'UnknownError' ? '' : error.message));
}

/** An AWS error message for our own: one line, printable, bounded. */
function clean(message: string): string {
  const line = message.replace(/[^\x20-\x7e]+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** A refused connection or a timeout: worth another attempt. */
function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && NETWORK_CODES.has(code);
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);
