/**
 * `egg doctor`: inside a job that may request an OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL
 * is set), the token's claims and whether a role trusts them; anywhere else, the laptop
 * checks, and with a `sub` given by hand (from the Action's error, or `egg ci init`),
 * whether the role's trust policy allows it. Returns a report and never throws for a failed
 * check: the command prints it and exits 1 when any check failed.
 */
import type { ConfigInput } from '../config.js';
import { type Logger, nullLogger } from '../log.js';
import { jobChecks, trustCheck } from './job.js';
import { laptopChecks } from './laptop.js';
import { type DoctorReport, skip } from './report.js';

export interface DoctorOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Configuration flags (namespace, backend, table, …), most specific first. */
  flags?: ConfigInput;
  /** The role to check the job's token against. */
  roleArn?: string;
  /** A trust policy JSON file to compare the token with, instead of reading the role from IAM. */
  trustPolicyFile?: string;
  /** The OIDC token's audience; the Action's default. */
  audience?: string;
  /** Outside a job: the `sub` a job presents, to compare with the trust policy. */
  subject?: string;
  logger?: Logger;
  fetch?: typeof fetch;
  readRolePolicy?: (roleArn: string, credentials: unknown) => Promise<string>;
}

export const DEFAULT_AUDIENCE = 'sts.amazonaws.com';
const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';

export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const env = options.env ?? process.env;
  if (env.ACTIONS_ID_TOKEN_REQUEST_URL) {
    const findings = await jobChecks({
      env,
      audience: options.audience ?? DEFAULT_AUDIENCE,
      region: options.flags?.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
      logger: options.logger ?? nullLogger,
      ...(options.roleArn === undefined ? {} : { roleArn: options.roleArn }),
      ...(options.trustPolicyFile === undefined ? {} : { trustPolicyFile: options.trustPolicyFile }),
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      ...(options.readRolePolicy === undefined ? {} : { readRolePolicy: options.readRolePolicy }),
    });
    const report: DoctorReport = {
      where: 'job',
      ok: findings.checks.every((c) => c.status !== 'fail'),
      checks: findings.checks,
    };
    if (findings.claims !== undefined) report.claims = findings.claims;
    if (findings.trust !== undefined) report.trust = findings.trust;
    return report;
  }
  const checks = await laptopChecks({ flags: options.flags ?? {}, env, cwd: options.cwd ?? process.cwd() });
  if (options.subject !== undefined) {
    // The claims a GitHub job with this sub presents to STS; the policy is read with the
    // laptop's own credentials (the SDK's default chain: profiles, SSO).
    const claims = { iss: GITHUB_ISSUER, sub: options.subject, aud: options.audience ?? DEFAULT_AUDIENCE };
    const trust = await trustCheck(
      {
        roleArn: options.roleArn,
        trustPolicyFile: options.trustPolicyFile,
        defaultChain: true,
        readRolePolicy: options.readRolePolicy,
      },
      claims,
      undefined,
    );
    checks.push(trust.check);
    const report: DoctorReport = { where: 'laptop', ok: checks.every((c) => c.status !== 'fail'), checks };
    if (trust.findings !== undefined) report.trust = trust.findings;
    return report;
  }
  if (options.roleArn !== undefined || options.trustPolicyFile !== undefined) {
    checks.push(
      skip(
        'trust policy',
        'there is no OIDC token outside a GitHub Actions job to compare it with',
        'run `egg doctor --role-arn ARN` as a step of the job (with `permissions: id-token: write`), or pass the sub the job presents as --subject',
      ),
    );
  }
  return { where: 'laptop', ok: checks.every((c) => c.status !== 'fail'), checks };
}
