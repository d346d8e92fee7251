/**
 * `egg doctor`'s claim matcher with GitHub's two `sub` forms (issue 15): a token and a trust
 * policy that differ only in form, in ids (a recycled name), in names (a rename) or in the
 * owner (a transfer) are each said so in one sentence, with the condition to use, and a
 * recycled name is never "fixed" by trusting the newcomer's ids. Patterns are matched as IAM's
 * StringLike matches them: `*` and `?` are wildcards (so `?` matches `@`), `@` is literal.
 * Then the same through `egg doctor` in a job (the loopback token service and STS) and from
 * a laptop (`--subject`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor } from '../../src/doctor/doctor.js';
import { evaluateTrustPolicy, parseTrustPolicy } from '../../src/doctor/trust-policy.js';
import { type FakeOidc, startFakeOidc } from '../support/fake-oidc.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';

const ISS = 'https://token.actions.githubusercontent.com';
const P = 'token.actions.githubusercontent.com';
const ROLE = 'arn:aws:iam::123456789012:role/egg-ci';

/** A job of acme/web (owner id 1001, repository id 2002) on main, presenting `sub`. */
function claims(sub: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISS,
    sub,
    aud: 'sts.amazonaws.com',
    ref: 'refs/heads/main',
    repository: 'acme/web',
    repository_owner: 'acme',
    repository_owner_id: '1001',
    repository_id: '2002',
    ...extra,
  };
}

/** A trust policy document allowing `StringLike` (or another operator) on sub. */
function document(sub: string | string[], operator = 'StringLike'): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: `arn:aws:iam::123456789012:oidc-provider/${P}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: { [`${P}:aud`]: 'sts.amazonaws.com' },
          [operator]: { [`${P}:sub`]: sub },
        },
      },
    ],
  });
}

const FORM_IMMUTABLE =
  'they differ only in form: this job’s sub is in GitHub’s immutable form, with the owner’s and the repository’s ids (acme@1001/web@2002), so a condition in the name-only form ("repo:acme/web:…") does not match it';
const FORM_NAME_ONLY =
  'they differ only in form: this job’s sub is in the name-only form (its repository does not use GitHub’s immutable subjects), so a condition in the immutable form ("repo:acme@1001/web@2002:…") does not match it';

describe('the claim matcher with both subject forms', () => {
  const table: {
    name: string;
    sub: string;
    policy: string | string[];
    operator?: string;
    extra?: Record<string, unknown>;
    allowed: boolean;
    problem?: string;
    subject?: { kind: string; condition: string };
  }[] = [
    {
      name: 'allows an immutable sub its immutable pattern names',
      sub: 'repo:acme@1001/web@2002:ref:refs/heads/main',
      policy: 'repo:acme@1001/web@2002:ref:refs/heads/main',
      allowed: true,
    },
    {
      name: 'says an immutable sub and a name-only policy differ only in form, with the condition to use',
      sub: 'repo:acme@1001/web@2002:ref:refs/heads/main',
      policy: 'repo:acme/web:ref:refs/heads/main',
      allowed: false,
      problem: `"${P}:sub" is "repo:acme@1001/web@2002:ref:refs/heads/main", but StringLike allows only "repo:acme/web:ref:refs/heads/main"; ${FORM_IMMUTABLE}`,
      subject: { kind: 'form', condition: 'repo:acme@1001/web@2002:ref:refs/heads/main' },
    },
    {
      name: 'keeps the policy’s wildcards in the condition it prints',
      sub: 'repo:acme@1001/web@2002:ref:refs/tags/v1.2.3',
      extra: { ref: 'refs/tags/v1.2.3' },
      policy: 'repo:acme/web:ref:refs/tags/v*',
      allowed: false,
      subject: { kind: 'form', condition: 'repo:acme@1001/web@2002:ref:refs/tags/v*' },
    },
    {
      name: 'says a name-only sub and an immutable policy differ only in form (the repository has not opted in)',
      sub: 'repo:acme/web:ref:refs/heads/main',
      policy: 'repo:acme@1001/web@2002:ref:refs/heads/main',
      operator: 'StringEquals',
      allowed: false,
      problem: `"${P}:sub" is "repo:acme/web:ref:refs/heads/main", but StringEquals allows only "repo:acme@1001/web@2002:ref:refs/heads/main"; ${FORM_NAME_ONLY}`,
      subject: { kind: 'form', condition: 'repo:acme/web:ref:refs/heads/main' },
    },
    {
      name: 'says the ids differ for a recycled name (the owner re-registered, the repository recreated)',
      sub: 'repo:acme@9999/web@8888:ref:refs/heads/main',
      extra: { repository_owner_id: '9999', repository_id: '8888' },
      policy: 'repo:acme@1001/web@2002:ref:refs/heads/main',
      allowed: false,
      problem: `"${P}:sub" is "repo:acme@9999/web@8888:ref:refs/heads/main", but StringLike allows only "repo:acme@1001/web@2002:ref:refs/heads/main"; the ids differ: the owner or repository was recreated or renamed (this job’s repository is acme@9999/web@8888, the policy’s acme@1001/web@2002)`,
      subject: { kind: 'ids', condition: 'repo:acme@9999/web@8888:ref:refs/heads/main' },
    },
    {
      name: 'sees a recycled name through a name-only sub, by the token’s id claims',
      sub: 'repo:acme/web:ref:refs/heads/main',
      extra: { repository_owner_id: '9999', repository_id: '8888' },
      policy: 'repo:acme@1001/web@2002:ref:refs/heads/main',
      allowed: false,
      subject: { kind: 'ids', condition: 'repo:acme/web:ref:refs/heads/main' },
    },
    {
      name: 'says the ids differ, not the form, when the policy also allows the name-only form of a recycled name',
      sub: 'repo:acme@9999/web@8888:ref:refs/heads/main',
      extra: { repository_owner_id: '9999', repository_id: '8888' },
      policy: ['repo:acme/web:ref:refs/heads/main', 'repo:acme@1001/web@2002:ref:refs/heads/main'],
      allowed: false,
      subject: { kind: 'ids', condition: 'repo:acme@9999/web@8888:ref:refs/heads/main' },
    },
    {
      name: 'says a renamed repository keeps its ids',
      sub: 'repo:acme@1001/site@2002:ref:refs/heads/main',
      extra: { repository: 'acme/site' },
      policy: 'repo:acme@1001/web@2002:ref:refs/heads/main',
      allowed: false,
      problem: `"${P}:sub" is "repo:acme@1001/site@2002:ref:refs/heads/main", but StringLike allows only "repo:acme@1001/web@2002:ref:refs/heads/main"; the names differ but the ids are the same: the owner or repository was renamed (this job’s repository is acme@1001/site@2002, the policy’s acme@1001/web@2002)`,
      subject: { kind: 'renamed', condition: 'repo:acme@1001/site@2002:ref:refs/heads/main' },
    },
    {
      name: 'says a renamed owner keeps its id',
      sub: 'repo:acme-inc@1001/web@2002:ref:refs/heads/main',
      extra: { repository: 'acme-inc/web', repository_owner: 'acme-inc' },
      policy: 'repo:acme@1001/web@2002:ref:refs/heads/*',
      allowed: false,
      subject: { kind: 'renamed', condition: 'repo:acme-inc@1001/web@2002:ref:refs/heads/*' },
    },
    {
      name: 'says a repository transferred to another owner keeps its id but not its owner’s',
      sub: 'repo:globex@3003/web@2002:ref:refs/heads/main',
      extra: { repository: 'globex/web', repository_owner: 'globex', repository_owner_id: '3003' },
      policy: 'repo:acme@1001/web@2002:ref:refs/heads/main',
      allowed: false,
      problem: `"${P}:sub" is "repo:globex@3003/web@2002:ref:refs/heads/main", but StringLike allows only "repo:acme@1001/web@2002:ref:refs/heads/main"; the repository’s id is the same but its owner’s is not: the repository was transferred (this job’s repository is globex@3003/web@2002, the policy’s acme@1001/web@2002)`,
      subject: { kind: 'transferred', condition: 'repo:globex@3003/web@2002:ref:refs/heads/main' },
    },
    {
      name: 'says nothing about form when only the branch differs',
      sub: 'repo:acme@1001/web@2002:ref:refs/heads/feature',
      extra: { ref: 'refs/heads/feature' },
      policy: ['repo:acme/web:ref:refs/heads/main', 'repo:acme@1001/web@2002:ref:refs/heads/main'],
      allowed: false,
    },
    {
      name: 'matches "?" against "@" as IAM’s StringLike does',
      sub: 'repo:acme@1001/web@2002:ref:refs/heads/main',
      policy: 'repo:acme?1001/web?2002:ref:refs/heads/main',
      allowed: true,
    },
    {
      name: 'compares "@" literally: a pattern with ids never matches the name-only sub',
      sub: 'repo:acme/web:ref:refs/heads/main',
      extra: { repository_owner_id: undefined, repository_id: undefined },
      policy: 'repo:acme@*/web@*:ref:refs/heads/main',
      allowed: false,
    },
  ];

  it.each(table)('$name', ({ sub, policy, operator, extra, allowed, problem, subject }) => {
    const token = claims(sub, extra);
    for (const [key, value] of Object.entries(token)) if (value === undefined) delete token[key];
    const verdict = evaluateTrustPolicy(parseTrustPolicy(document(policy, operator)), token);
    expect(verdict.allowed).toBe(allowed);
    if (problem !== undefined) expect(verdict.problems).toEqual([`statement 0: ${problem}`]);
    const found = verdict.subject;
    expect(found === undefined ? undefined : { kind: found.kind, condition: found.condition }).toEqual(
      subject,
    );
  });
});

describe('egg doctor with both subject forms', () => {
  let base: string;
  let oidc: FakeOidc;
  let sts: FakeSts;
  let jobEnv: NodeJS.ProcessEnv;
  const policyFile = (name: string, sub: string) => {
    const file = join(base, name);
    writeFileSync(file, document(sub));
    return file;
  };

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-doctor-subjects-'));
    oidc = await startFakeOidc({ subjectForm: 'immutable' });
    sts = await startFakeSts({
      providers: [{ issuer: oidc.issuer, jwksUrl: oidc.jwksUrl, audiences: ['sts.amazonaws.com'] }],
      roles: [{ arn: ROLE, sub: ['repo:acme/web:ref:refs/heads/main'], aud: 'sts.amazonaws.com' }],
    });
    jobEnv = {
      ACTIONS_ID_TOKEN_REQUEST_URL: oidc.requestUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.requestToken,
      AWS_ENDPOINT_URL_STS: sts.endpoint,
      GITHUB_RUN_ID: '4242',
      GITHUB_RUN_ATTEMPT: '1',
    };
  });
  afterAll(async () => {
    await Promise.all([oidc?.close(), sts?.close()]);
    rmSync(base, { recursive: true, force: true });
  });

  it('in a job: says the immutable token and the name-only role differ only in form, and prints the condition to use', async () => {
    const file = policyFile('name-only.json', 'repo:acme/web:ref:refs/heads/main');
    const report = await runDoctor({ env: jobEnv, roleArn: ROLE, trustPolicyFile: file });
    expect(report.claims?.sub).toBe('repo:acme@1001/web@2002:ref:refs/heads/main');
    expect(report.checks.slice(1)).toEqual([
      {
        name: 'STS AssumeRoleWithWebIdentity',
        status: 'fail',
        detail: `STS refused ${ROLE}: AccessDenied`,
        fix: 'see the trust policy check below for the condition that refuses this token',
      },
      {
        name: 'trust policy',
        status: 'fail',
        detail: `${file} refuses this token:\nstatement 0: "${P}:sub" is "repo:acme@1001/web@2002:ref:refs/heads/main", but StringLike allows only "repo:acme/web:ref:refs/heads/main"; ${FORM_IMMUTABLE}`,
        fix:
          `use the condition "${P}:sub": "repo:acme@1001/web@2002:ref:refs/heads/main" in the role’s trust policy ` +
          '(in infra/grants.json, that pattern in the grant’s "subjects"), after checking that 1001 and 2002 are the ids of acme and acme/web ' +
          "(`gh api repos/acme/web --jq '.owner.id, .id'`)",
      },
    ]);
  });

  it('in a job: says the ids differ for a recycled name, and does not tell you to trust the newcomer', async () => {
    oidc.setClaims({ repository_owner_id: '9999', repository_id: '8888' });
    try {
      const file = policyFile('recycled.json', 'repo:acme@1001/web@2002:ref:refs/heads/main');
      const report = await runDoctor({ env: jobEnv, roleArn: ROLE, trustPolicyFile: file });
      expect(report.checks.at(-1)).toEqual({
        name: 'trust policy',
        status: 'fail',
        detail: `${file} refuses this token:\nstatement 0: "${P}:sub" is "repo:acme@9999/web@8888:ref:refs/heads/main", but StringLike allows only "repo:acme@1001/web@2002:ref:refs/heads/main"; the ids differ: the owner or repository was recreated or renamed (this job’s repository is acme@9999/web@8888, the policy’s acme@1001/web@2002)`,
        fix:
          'leave the trust policy as it is unless you know acme/web was deleted and created again by you: ' +
          'a name registered again after a deletion or rename comes with new ids, and the policy’s ids are what keep that repository out; ' +
          `if it was you, the condition to use is "${P}:sub": "repo:acme@9999/web@8888:ref:refs/heads/main"`,
      });
    } finally {
      oidc.setClaims({});
    }
  });

  it('from a laptop: compares a --subject with a trust policy file', async () => {
    const file = policyFile('laptop.json', 'repo:acme@1001/web@2002:environment:prod');
    const home = join(base, 'home');
    const report = await runDoctor({
      env: { EGG_HOME: home },
      cwd: base,
      subject: 'repo:acme/web:environment:prod',
      trustPolicyFile: file,
    });
    expect(report.where).toBe('laptop');
    expect(report.checks.at(-1)).toEqual({
      name: 'trust policy',
      status: 'fail',
      detail: `${file} refuses this token:\nstatement 0: "${P}:sub" is "repo:acme/web:environment:prod", but StringLike allows only "repo:acme@1001/web@2002:environment:prod"; ${FORM_NAME_ONLY}`,
      fix:
        'opt the repository in to immutable subjects (`gh api -X PUT repos/acme/web/actions/oidc/customization/sub -F use_default=true -F use_immutable_subject=true`, docs/deploy.md), ' +
        `or, while it migrates, also allow "${P}:sub": "repo:acme/web:environment:prod" (in infra/grants.json, with "allowMutableSubject": true)`,
    });
  });

  it('from a laptop: says an allowed --subject is allowed', async () => {
    const file = policyFile('laptop-ok.json', 'repo:acme@1001/web@2002:environment:prod');
    const report = await runDoctor({
      env: { EGG_HOME: join(base, 'home') },
      cwd: base,
      subject: 'repo:acme@1001/web@2002:environment:prod',
      trustPolicyFile: file,
    });
    expect(report.checks.at(-1)).toEqual({
      name: 'trust policy',
      status: 'ok',
      detail: `${file} allows this token`,
    });
  });
});
