/**
 * `egg doctor` inside a GitHub Actions job: fetch the job's OIDC token, show its
 * non-secret claims, and with a role, ask STS whether it trusts the token and compare the
 * role's trust policy with the claims, saying which condition refuses them. The token is
 * held in this function only: it is never printed, logged or returned. The trust-policy
 * comparison also serves a laptop, for a `sub` given by hand (`egg doctor --subject`).
 */
import { readFileSync } from 'node:fs';
import { fetchIdToken } from '../auth/oidc-token.js';
import type { AwsCredentials } from '../aws/clients.js';
import { decodeClaims } from '../auth/claims.js';
import { assumeRoleWithWebIdentity, StsRequestFailed, sessionNameFor } from '../auth/sts.js';
import type { Logger } from '../log.js';
import type { SubjectMismatch } from '../subjects.js';
import { type Check, fail, fromError, ok, SHOWN_CLAIMS, skip, type TrustFindings } from './report.js';
import { evaluateTrustPolicy, parseTrustPolicy } from './trust-policy.js';

export interface JobOptions {
  env: NodeJS.ProcessEnv;
  audience: string;
  /** Region of the STS endpoint for the role check. */
  region: string;
  roleArn?: string;
  /** A file holding the trust policy JSON, instead of reading it from IAM. */
  trustPolicyFile?: string;
  logger: Logger;
  fetch?: typeof fetch;
  /** Reads the role's trust policy; IAM GetRole by default. */
  readRolePolicy?: (roleArn: string, credentials: AwsCredentials | undefined) => Promise<string>;
}

export interface JobFindings {
  checks: Check[];
  claims?: Record<string, string>;
  trust?: TrustFindings;
}

/** Variables that give the SDK's default chain something to use without probing instance metadata. */
const CHAIN_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_PROFILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
];

export async function jobChecks(options: JobOptions): Promise<JobFindings> {
  const checks: Check[] = [];
  let token: string;
  try {
    token = await fetchIdToken(options.audience, {
      env: options.env,
      logger: options.logger,
      // Nothing prints the token, so there is nothing to mask: a mask command would itself be
      // a line carrying the token wherever the runner does not read commands.
      mask: () => {},
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
  } catch (error) {
    const { detail, fix } = fromError(error);
    checks.push(fail('OIDC token', detail, fix));
    return { checks };
  }
  let raw: Record<string, unknown>;
  try {
    raw = decodeClaims(token);
  } catch (error) {
    checks.push(fail('OIDC token', fromError(error).detail));
    return { checks };
  }
  const claims = shownClaims(raw);
  const expires = typeof raw.exp === 'number' ? Math.round(raw.exp - Date.now() / 1000) : undefined;
  checks.push(
    ok(
      'OIDC token',
      `issued for audience ${claims.aud ?? '(none)'}${expires === undefined ? '' : `, valid for ${expires} s`}`,
    ),
  );

  let assumed: AwsCredentials | undefined;
  if (options.roleArn !== undefined) {
    const name = `STS AssumeRoleWithWebIdentity`;
    try {
      const credentials = await assumeRoleWithWebIdentity({
        roleArn: options.roleArn,
        webIdentityToken: token,
        sessionName: `${sessionNameFor(options.env)}-doctor`,
        durationSeconds: 900,
        region: options.region,
        env: options.env,
        logger: options.logger,
      });
      assumed = credentials;
      checks.push(ok(name, `${options.roleArn} trusts this job (session ${credentials.assumedRoleArn})`));
    } catch (error) {
      if (error instanceof StsRequestFailed && error.refused) {
        checks.push(
          fail(
            name,
            `STS refused ${options.roleArn}: ${error.awsCode}`,
            error.awsCode === 'InvalidIdentityToken'
              ? `the account needs an IAM OIDC provider for ${String(raw.iss)} that lists the audience ${claims.aud ?? ''}`
              : 'see the trust policy check below for the condition that refuses this token',
          ),
        );
      } else {
        const { detail, fix } = fromError(error);
        checks.push(fail(name, detail, fix));
      }
    }
  }

  const trust = await trustCheck(
    { ...options, defaultChain: CHAIN_VARIABLES.some((name) => !!options.env[name]) },
    raw,
    assumed,
  );
  checks.push(trust.check);
  const findings: JobFindings = { checks, claims };
  if (trust.findings !== undefined) findings.trust = trust.findings;
  return findings;
}

function shownClaims(raw: Record<string, unknown>): Record<string, string> {
  const claims: Record<string, string> = {};
  for (const name of SHOWN_CLAIMS) {
    const value = raw[name];
    if (value === undefined || value === null || value === '') continue;
    claims[name] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return claims;
}

export interface TrustCheckOptions {
  roleArn?: string | undefined;
  trustPolicyFile?: string | undefined;
  /** Read the role with the SDK's default chain (else with the role's own session, when there is one). */
  defaultChain: boolean;
  readRolePolicy?:
    ((roleArn: string, credentials: AwsCredentials | undefined) => Promise<string>) | undefined;
}

/** Compare the role's trust policy (from IAM, or a file) with `claims`, as one check. */
export async function trustCheck(
  options: TrustCheckOptions,
  claims: Record<string, unknown>,
  assumed: AwsCredentials | undefined,
): Promise<{ check: Check; findings?: TrustFindings }> {
  const name = 'trust policy';
  let document: string;
  let source: string;
  if (options.trustPolicyFile !== undefined) {
    source = options.trustPolicyFile;
    try {
      document = readFileSync(options.trustPolicyFile, 'utf8');
    } catch (error) {
      return { check: fail(name, `cannot read ${options.trustPolicyFile}: ${(error as Error).message}`) };
    }
  } else if (options.roleArn !== undefined) {
    source = options.roleArn;
    // The default chain when the job has credentials of its own, else the role's own session;
    // never a probe of instance metadata, which on a hosted runner only times out.
    const hasChain = options.defaultChain;
    if (!hasChain && assumed === undefined) {
      return {
        check: skip(
          name,
          `no AWS credentials in this job to read the trust policy of ${options.roleArn}`,
          trustPolicyHint(options.roleArn),
        ),
      };
    }
    const read =
      options.readRolePolicy ??
      (async (roleArn: string, credentials: AwsCredentials | undefined) =>
        (await import('./role.js')).readRoleTrustPolicy(
          roleArn,
          credentials === undefined ? {} : { credentials },
        ));
    try {
      document = await read(options.roleArn, hasChain ? undefined : assumed);
    } catch (error) {
      return {
        check: skip(
          name,
          `could not read the trust policy of ${options.roleArn}: ${fromError(error).detail}`,
          trustPolicyHint(options.roleArn),
        ),
      };
    }
  } else {
    return {
      check: skip(
        name,
        'no role given',
        'pass --role-arn ARN (and credentials that may iam:GetRole it) or --trust-policy FILE to compare',
      ),
    };
  }
  let verdict: ReturnType<typeof evaluateTrustPolicy>;
  try {
    verdict = evaluateTrustPolicy(parseTrustPolicy(document), claims);
  } catch (error) {
    const { detail, fix } = fromError(error);
    return { check: fail(name, `${source}: ${detail}`, fix) };
  }
  const findings: TrustFindings = {
    source,
    allowed: verdict.allowed,
    problems: verdict.problems,
    notes: verdict.notes,
  };
  const notes = verdict.notes.length === 0 ? '' : `\n${verdict.notes.join('\n')}`;
  if (verdict.allowed) return { check: ok(name, `${source} allows this token${notes}`), findings };
  return {
    check: fail(
      name,
      `${source} refuses this token:\n${verdict.problems.join('\n')}${notes}`,
      verdict.subject === undefined
        ? fixFor(claims, verdict.provider)
        : subjectFix(verdict.subject, verdict.provider),
    ),
    findings,
  };
}

/** What to do when the policy names the job's repository another way (src/subjects.ts). */
function subjectFix(subject: SubjectMismatch, provider: string): string {
  const condition = `"${provider}:sub": ${JSON.stringify(subject.condition)}`;
  const { owner, repo, ownerId, repoId } = subject.job;
  switch (subject.kind) {
    case 'form':
      return subject.form === 'immutable'
        ? `use the condition ${condition} in the role’s trust policy (in infra/grants.json, that pattern in the grant’s "subjects"), ` +
            `after checking that ${ownerId ?? '?'} and ${repoId ?? '?'} are the ids of ${owner} and ${owner}/${repo} ` +
            `(\`gh api repos/${owner}/${repo} --jq '.owner.id, .id'\`)`
        : `opt the repository in to immutable subjects (\`gh api -X PUT repos/${owner}/${repo}/actions/oidc/customization/sub ` +
            '-F use_default=true -F use_immutable_subject=true`, docs/deploy.md), ' +
            `or, while it migrates, also allow ${condition} (in infra/grants.json, with "allowMutableSubject": true)`;
    case 'ids':
      // Never "trust the new ids": that is exactly what a recycled name asks for.
      return (
        `leave the trust policy as it is unless you know ${owner}/${repo} was deleted and created again by you: ` +
        'a name registered again after a deletion or rename comes with new ids, and the policy’s ids are what keep that repository out; ' +
        `if it was you, the condition to use is ${condition}`
      );
    case 'transferred':
      return `if you transferred the repository on purpose and trust its new owner, the condition to use is ${condition}; otherwise leave the trust policy as it is`;
    case 'renamed':
      return `use the condition ${condition} (the same ids under the new names) in the role’s trust policy and in infra/grants.json`;
  }
}

function fixFor(claims: Record<string, unknown>, provider: string): string {
  const sub = typeof claims.sub === 'string' ? claims.sub : '(absent)';
  const aud = typeof claims.aud === 'string' ? claims.aud : JSON.stringify(claims.aud);
  return (
    `allow this job in the role's trust policy: "${provider}:sub" must match ${JSON.stringify(sub)} ` +
    `(StringEquals, or StringLike with a pattern) and "${provider}:aud" must be ${JSON.stringify(aud)}`
  );
}

function trustPolicyHint(roleArn: string): string {
  const name = roleArn.slice(roleArn.lastIndexOf('/') + 1);
  return `save it with \`aws iam get-role --role-name ${name} --query Role.AssumeRolePolicyDocument > trust.json\` and pass --trust-policy trust.json`;
}
