/**
 * STS `AssumeRoleWithWebIdentity` as one unsigned HTTPS POST of the Query protocol (STS API
 * Reference, "AssumeRoleWithWebIdentity"; "Making Query requests"), parsing the small XML
 * answer. The call needs no AWS credentials, so it needs no signer either: doing it with
 * `httpFetch` keeps the STS SDK client (and its start-up cost) out of the Action.
 *
 * The endpoint is the regional one (`https://sts.<region>.amazonaws.com`), or the SDK's own
 * override variables `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL`, so tests point it at a
 * loopback STS exactly as they would the SDK.
 */
import { EggError } from '../errors.js';
import type { Logger } from '../log.js';
import { retry } from '../retry.js';
import { type HttpFetch, httpFetch } from './http-fetch.js';

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
  /** `httpFetch` by default; the global `fetch` works too. */
  fetch?: HttpFetch;
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

/** Trade a web-identity token for temporary credentials; retries only what STS calls transient. */
export async function assumeRoleWithWebIdentity(
  options: AssumeRoleWithWebIdentityOptions,
): Promise<StsCredentials> {
  const endpoint = stsEndpoint(options.region, options.env);
  const doFetch = options.fetch ?? httpFetch;
  const body = new URLSearchParams({
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
    RoleArn: options.roleArn,
    RoleSessionName: options.sessionName.slice(0, 64),
    DurationSeconds: String(options.durationSeconds),
    WebIdentityToken: options.webIdentityToken,
  }).toString();
  const xml = await retry(
    async () => {
      const response = await doFetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', accept: 'text/xml' },
        body,
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
      const text = await response.text();
      if (!response.ok) {
        const code = tag(text, 'Code') ?? `HTTP ${response.status}`;
        throw new StsRequestFailed(response.status, code, clean(tag(text, 'Message') ?? ''));
      }
      return text;
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
  const credentials = {
    accessKeyId: tag(xml, 'AccessKeyId'),
    secretAccessKey: tag(xml, 'SecretAccessKey'),
    sessionToken: tag(xml, 'SessionToken'),
    expiration: tag(xml, 'Expiration'),
    assumedRoleArn: tag(xml, 'Arn'),
  };
  const { accessKeyId, secretAccessKey, sessionToken, expiration, assumedRoleArn } = credentials;
  if (!accessKeyId || !secretAccessKey || !sessionToken || !expiration || !assumedRoleArn) {
    throw new EggError(
      'ERR_STORE_UNAVAILABLE',
      `STS answered AssumeRoleWithWebIdentity without credentials (${endpoint})`,
    );
  }
  return { accessKeyId, secretAccessKey, sessionToken, expiration: new Date(expiration), assumedRoleArn };
}

/** The text of the first `<name>` element; STS answers are flat enough for this. */
function tag(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return match?.[1] === undefined ? undefined : unescapeXml(match[1]);
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, entity: string) => {
    if (entity === 'lt') return '<';
    if (entity === 'gt') return '>';
    if (entity === 'amp') return '&';
    if (entity === 'quot') return '"';
    if (entity === 'apos') return "'";
    const code = entity.startsWith('#x') ? Number.parseInt(entity.slice(2), 16) : Number(entity.slice(1));
    return String.fromCodePoint(code);
  });
}

/** An AWS error message for our own: one line, printable, bounded. */
function clean(message: string): string {
  const line = message.replace(/[^\x20-\x7e]+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // fetch (and httpFetch) wrap socket errors as TypeError('fetch failed') with the system error as cause.
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return true;
  return error instanceof TypeError && error.message === 'fetch failed';
}
