/**
 * The built `egg doctor --subject` on a laptop (issue 15): the sub a job presents (as the
 * Action's error prints it) against a role's trust policy file, saying when the two differ
 * only in GitHub's subject form, or in ids (a recycled name), and exiting 1.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { egg } from '../support/cli.js';

const P = 'token.actions.githubusercontent.com';

let base: string;
let policy: string;
let env: NodeJS.ProcessEnv;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'egg-doctor-subjects-e2e-'));
  const home = join(base, 'home');
  mkdirSync(home, { mode: 0o700 });
  env = {
    EGG_HOME: home,
    EGG_BACKEND: '',
    EGG_NAMESPACE: '',
    ACTIONS_ID_TOKEN_REQUEST_URL: '',
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: '',
  };
  policy = join(base, 'trust.json');
  writeFileSync(
    policy,
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'GitHubProd',
          Effect: 'Allow',
          Principal: { Federated: `arn:aws:iam::123456789012:oidc-provider/${P}` },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: { [`${P}:aud`]: 'sts.amazonaws.com' },
            StringLike: { [`${P}:sub`]: 'repo:acme/web:environment:prod' },
          },
        },
      ],
    }),
  );
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

/** The lines of the trust policy check. */
const trustLines = (stdout: string) => {
  const lines = stdout.split('\n');
  const start = lines.findIndex((line) => line.includes('trust policy:'));
  return lines.slice(start, lines.indexOf('', start));
};

describe('egg doctor --subject on a laptop', () => {
  it('says an immutable sub and a name-only policy differ only in form, and prints the condition to use', () => {
    const result = egg(
      ['doctor', '--subject', 'repo:acme@1001/web@2002:environment:prod', '--trust-policy', policy],
      { env, cwd: base },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(1);
    expect(trustLines(result.stdout)).toEqual([
      `fail  trust policy: ${policy} refuses this token:`,
      `        statement 0 ("GitHubProd"): "${P}:sub" is "repo:acme@1001/web@2002:environment:prod", but StringLike allows only "repo:acme/web:environment:prod"; ` +
        'they differ only in form: this job’s sub is in GitHub’s immutable form, with the owner’s and the repository’s ids (acme@1001/web@2002), ' +
        'so a condition in the name-only form ("repo:acme/web:…") does not match it',
      `        fix: use the condition "${P}:sub": "repo:acme@1001/web@2002:environment:prod" in the role’s trust policy ` +
        '(in infra/grants.json, that pattern in the grant’s "subjects"), after checking that 1001 and 2002 are the ids of acme and acme/web ' +
        "(`gh api repos/acme/web --jq '.owner.id, .id'`)",
    ]);
  });

  it('passes a sub the policy allows (--json)', () => {
    const result = egg(
      ['doctor', '--subject', 'repo:acme/web:environment:prod', '--trust-policy', policy, '--json'],
      { env, cwd: base },
    );
    const report = JSON.parse(result.stdout);
    expect(report.trust).toEqual({ source: policy, allowed: true, problems: [], notes: [] });
  });
});
