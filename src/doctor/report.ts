/**
 * What `egg doctor` finds: a list of checks, each ok, failed (with the fix) or skipped
 * (with why), plus, inside a job, the OIDC token's non-secret claims. Never a token, a
 * credential or a secret value.
 */

export type CheckStatus = 'ok' | 'fail' | 'skip';

export interface Check {
  /** What was checked, e.g. "EGG_HOME permissions". */
  name: string;
  status: CheckStatus;
  /** What was found; may span lines. */
  detail: string;
  /** The next step, for a failed or skipped check. */
  fix?: string;
}

export interface TrustFindings {
  /** Where the policy came from: a file path or the role ARN. */
  source: string;
  allowed: boolean;
  problems: string[];
  notes: string[];
}

export interface DoctorReport {
  /** `job`: inside a GitHub Actions job that may request an OIDC token; `laptop` otherwise. */
  where: 'job' | 'laptop';
  /** No check failed. */
  ok: boolean;
  checks: Check[];
  /** The OIDC token's claims a trust policy can condition on (job only). */
  claims?: Record<string, string>;
  trust?: TrustFindings;
}

/** The claims shown, in this order; all of them are public facts about the job. */
export const SHOWN_CLAIMS = [
  'iss',
  'sub',
  'aud',
  'ref',
  'environment',
  'repository',
  'job_workflow_ref',
] as const;

export const ok = (name: string, detail: string): Check => ({ name, status: 'ok', detail });
export const fail = (name: string, detail: string, fix?: string): Check =>
  fix === undefined ? { name, status: 'fail', detail } : { name, status: 'fail', detail, fix };
export const skip = (name: string, detail: string, fix?: string): Check =>
  fix === undefined ? { name, status: 'skip', detail } : { name, status: 'skip', detail, fix };

/** The report as the lines `egg doctor` prints: claims first, then one line per check. */
export function formatReport(report: DoctorReport): string[] {
  const lines: string[] = [];
  lines.push(
    report.where === 'job'
      ? 'Inside a GitHub Actions job that may request an OIDC token.'
      : 'Not inside a GitHub Actions job with an OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL is not set): checking this machine.',
  );
  if (report.claims !== undefined) {
    lines.push('', 'OIDC token claims (the token itself is never printed):');
    for (const [name, value] of Object.entries(report.claims)) lines.push(`  ${name}: ${value}`);
  }
  lines.push('');
  for (const check of report.checks) {
    const [first, ...rest] = check.detail.split('\n');
    lines.push(`${check.status.padEnd(4)}  ${check.name}: ${first ?? ''}`);
    for (const line of rest) lines.push(`        ${line}`);
    if (check.fix !== undefined && check.status !== 'ok') lines.push(`        fix: ${check.fix}`);
  }
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  lines.push(
    '',
    failed === 0
      ? `All ${report.checks.filter((c) => c.status === 'ok').length} checks passed.`
      : `${failed} of ${report.checks.length} checks failed.`,
  );
  return lines;
}

/** An error's message and hint as a check's detail and fix. */
export function fromError(error: unknown): { detail: string; fix?: string } {
  if (error instanceof Error) {
    const hint = (error as { hint?: unknown }).hint;
    const detail = error.message.split('\n')[0] ?? error.name;
    return typeof hint === 'string' ? { detail, fix: hint } : { detail };
  }
  return { detail: String(error) };
}
