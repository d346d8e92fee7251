/**
 * The job's OIDC token traded for temporary AWS credentials. When STS refuses, the error
 * shows the token's non-secret claims beside the role and says which trust-policy
 * condition to change (configure-aws-credentials only says "Not authorized"), and in the
 * words `egg doctor` uses, which of GitHub's two `sub` forms the job presents and what a
 * condition in the other form, or with other ids, means (src/subjects.ts).
 */
import { decodeClaims, describeClaims } from '../auth/claims.js';
import type { AwsCredentials } from '../aws/clients.js';
import {
  assumeRoleWithWebIdentity,
  loadSts,
  type StsCredentials,
  StsRequestFailed,
  sessionNameFor,
} from '../auth/sts.js';
import { EggError } from '../errors.js';
import type { Logger } from '../log.js';
import { fetchIdToken } from '../auth/oidc-token.js';
import { formSentence, subjectPrefix, tokenSubject } from '../subjects.js';

export interface Exchanged {
  credentials: StsCredentials;
  /** The OIDC token (masked on arrival), for `web-identity-token-file`. */
  token: string;
}

/** What to assume: the main step's inputs, or what it saved for the post step. */
export interface ExchangeRequest {
  roleArn: string;
  audience: string;
  region: string;
  durationSeconds: number;
}

/**
 * Fetch the token (masking it with `mask` on arrival) and assume `roleArn` with it. The main
 * step and the post step (which keeps no credentials from the main step) both come here.
 */
export async function exchangeToken(
  request: ExchangeRequest,
  env: NodeJS.ProcessEnv,
  logger: Logger,
  mask: (value: string) => void,
): Promise<Exchanged> {
  const { roleArn } = request;
  const tokenRequest = fetchIdToken(request.audience, { env, logger, mask });
  // Import the STS client while the token request is in flight. One turn of the event loop
  // first: compiling the SDK blocks the loop, and the request should be on the wire before.
  const sts = new Promise<void>((resolve) => setImmediate(resolve)).then(loadSts);
  sts.catch(() => undefined);
  const token = await tokenRequest;
  try {
    const credentials = await assumeRoleWithWebIdentity({
      roleArn,
      webIdentityToken: token,
      sessionName: sessionNameFor(env),
      durationSeconds: request.durationSeconds,
      region: request.region,
      env,
      logger,
    });
    return { credentials, token };
  } catch (error) {
    if (error instanceof StsRequestFailed && error.refused) throw trustError(error, roleArn, token);
    throw error;
  }
}

/** The STS credentials as the SDK clients take them (without the role ARN). */
export function sdkCredentials(credentials: StsCredentials): AwsCredentials {
  return {
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    sessionToken: credentials.sessionToken,
    expiration: credentials.expiration,
  };
}

/** "STS refused …", the claims it was shown, and what to change. */
function trustError(error: StsRequestFailed, roleArn: string, token: string): EggError {
  let claims: Record<string, unknown>;
  try {
    claims = decodeClaims(token);
  } catch {
    claims = {};
  }
  const issuer = typeof claims.iss === 'string' ? claims.iss : 'https://token.actions.githubusercontent.com';
  const provider = issuer.replace(/^https:\/\//, '').replace(/\/$/, '');
  const sub = typeof claims.sub === 'string' ? claims.sub : '(absent)';
  const aud = typeof claims.aud === 'string' ? claims.aud : JSON.stringify(claims.aud ?? '(absent)');
  let fix: string;
  if (error.awsCode === 'InvalidIdentityToken') {
    fix =
      `Check the IAM OIDC identity provider for ${issuer} in the role's account: it must exist and list ${JSON.stringify(aud)} ` +
      'as an audience (or set the audience input to one it lists).';
  } else if (error.awsCode === 'ExpiredTokenException') {
    fix = 'The token expired before STS saw it; re-run the job, and check the runner’s clock.';
  } else if (error.awsCode === 'ValidationError' || error.awsCode === 'RegionDisabledException') {
    fix =
      'Check role-to-assume, role-session-duration (at most the role’s maximum session duration) and aws-region.';
  } else {
    const job = tokenSubject(claims);
    const prefix = job === undefined ? 'repo:OWNER/REPO' : subjectPrefix(job, job.form);
    fix =
      `Change the role's trust policy: its condition on "${provider}:sub" must match ${JSON.stringify(sub)} ` +
      `(StringLike, e.g. ${JSON.stringify(wildcard(sub))}), and "${provider}:aud" must equal ${JSON.stringify(aud)}. ` +
      `A job that names an environment presents sub "${prefix}:environment:NAME" instead of its ref.`;
    // STS never says which condition refused; the form of the job's sub is what changes
    // under a policy nobody touched (GitHub's immutable subjects, issue 15).
    if (job !== undefined) fix = `${formNote(job)}\n${fix}`;
  }
  const message = [
    `STS refused to let this job assume ${roleArn}: ${error.awsCode}.`,
    'The job’s OIDC token presents:',
    ...describeClaims(claims).map((line) => `  ${line}`),
    fix,
  ].join('\n');
  return new EggError('ERR_ACCESS_DENIED', message, { cause: error });
}

/** The form of the job's sub and what it means for a trust policy in the other form, or with other ids. */
function formNote(job: NonNullable<ReturnType<typeof tokenSubject>>): string {
  const sentence = formSentence(job);
  const text = `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}`;
  return job.form === 'immutable'
    ? `${text}; a condition with other ids for ${job.owner}/${job.repo} means the owner or repository was ` +
        'recreated or renamed since it was written, and this job is not the repository it trusts.'
    : `${text} until the repository opts in (docs/deploy.md, "Immutable subjects").`;
}

/** `repo:o/r:ref:refs/heads/main` → `repo:o/r:*`: a starting point, not a recommendation to widen. */
function wildcard(sub: string): string {
  const match = /^(repo:[^:]+):/.exec(sub);
  return match?.[1] === undefined ? sub : `${match[1]}:*`;
}
