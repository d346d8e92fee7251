import { describe, expect, it } from 'vitest';
import { EggError } from '../../src/errors.js';
import {
  evaluateTrustPolicy,
  iamStringLike,
  parseTrustPolicy,
  type TrustPolicy,
} from '../../src/doctor/trust-policy.js';

const ISS = 'https://token.actions.githubusercontent.com';
const P = 'token.actions.githubusercontent.com';
const PROVIDER_ARN = `arn:aws:iam::123456789012:oidc-provider/${P}`;

const CLAIMS = {
  iss: ISS,
  sub: 'repo:acme/web:ref:refs/heads/main',
  aud: 'sts.amazonaws.com',
  ref: 'refs/heads/main',
  repository: 'acme/web',
  job_workflow_ref: 'acme/web/.github/workflows/ci.yml@refs/heads/main',
};

/** A GitHub trust policy with one Allow statement and these conditions. */
function policy(condition: Record<string, Record<string, unknown>>, extra: Record<string, unknown> = {}) {
  return parseTrustPolicy(
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'GitHub',
          Effect: 'Allow',
          Principal: { Federated: PROVIDER_ARN },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: condition,
          ...extra,
        },
      ],
    }),
  );
}

describe('iamStringLike', () => {
  it.each([
    ['repo:acme/web:*', 'repo:acme/web:ref:refs/heads/main', true],
    ['repo:acme/web:*', 'repo:acme/webx:ref:refs/heads/main', false],
    ['repo:acme/*:ref:refs/heads/main', 'repo:acme/api:ref:refs/heads/main', true],
    ['repo:acme/web:ref:refs/heads/release-?', 'repo:acme/web:ref:refs/heads/release-1', true],
    ['repo:acme/web:ref:refs/heads/release-?', 'repo:acme/web:ref:refs/heads/release-10', false],
    ['repo:acme/web:*', 'repo:ACME/web:ref:refs/heads/main', false],
    ['repo:acme/web.*', 'repo:acme/webX', false], // "." is literal
    ['*', '', true],
    ['a*b*c', 'abc', true],
    ['(x)+[y]', '(x)+[y]', true],
  ])('%s against %s → %s', (pattern, value, expected) => {
    expect(iamStringLike(pattern, value)).toBe(expected);
  });
});

describe('evaluateTrustPolicy', () => {
  const table: {
    name: string;
    policy: TrustPolicy;
    claims?: Record<string, unknown>;
    allowed: boolean;
    problems?: string[];
  }[] = [
    {
      name: 'allows the sub and aud it pins exactly',
      policy: policy({ StringEquals: { [`${P}:sub`]: CLAIMS.sub, [`${P}:aud`]: 'sts.amazonaws.com' } }),
      allowed: true,
    },
    {
      name: 'allows a StringLike sub pattern',
      policy: policy({
        StringEquals: { [`${P}:aud`]: 'sts.amazonaws.com' },
        StringLike: { [`${P}:sub`]: 'repo:acme/web:*' },
      }),
      allowed: true,
    },
    {
      name: 'allows when any value of a key matches',
      policy: policy({
        StringLike: { [`${P}:sub`]: ['repo:acme/api:*', 'repo:acme/web:ref:refs/heads/*'] },
      }),
      allowed: true,
    },
    {
      name: 'refuses another branch and says what the token has',
      policy: policy({
        StringEquals: { [`${P}:aud`]: 'sts.amazonaws.com' },
        StringLike: { [`${P}:sub`]: 'repo:acme/web:ref:refs/heads/release' },
      }),
      allowed: false,
      problems: [
        `statement 0 ("GitHub"): "${P}:sub" is "repo:acme/web:ref:refs/heads/main", but StringLike allows only "repo:acme/web:ref:refs/heads/release"`,
      ],
    },
    {
      name: 'refuses an environment-scoped sub for a job without that environment',
      policy: policy({ StringEquals: { [`${P}:sub`]: 'repo:acme/web:environment:prod' } }),
      allowed: false,
      problems: [
        `statement 0 ("GitHub"): "${P}:sub" is "repo:acme/web:ref:refs/heads/main", but StringEquals allows only "repo:acme/web:environment:prod"`,
      ],
    },
    {
      name: 'says StringEquals takes a wildcard literally',
      policy: policy({ StringEquals: { [`${P}:sub`]: 'repo:acme/web:*' } }),
      allowed: false,
      problems: [
        `statement 0 ("GitHub"): "${P}:sub" is "repo:acme/web:ref:refs/heads/main", but StringEquals allows only "repo:acme/web:*"; StringEquals compares "*" and "?" literally: use StringLike for wildcards`,
      ],
    },
    {
      name: 'refuses the wrong audience',
      policy: policy({ StringEquals: { [`${P}:aud`]: ['https://github.com/acme', 'api://egg'] } }),
      allowed: false,
      problems: [
        `statement 0 ("GitHub"): "${P}:aud" is "sts.amazonaws.com", but StringEquals allows only one of "https://github.com/acme", "api://egg"`,
      ],
    },
    {
      name: 'refuses a condition on a claim the token lacks',
      policy: policy({ StringEquals: { [`${P}:environment`]: 'prod' } }),
      allowed: false,
      problems: [
        `statement 0 ("GitHub"): StringEquals on "${P}:environment" needs the token's "environment" claim, which it does not have`,
      ],
    },
    {
      name: 'lets …IfExists pass a missing claim',
      policy: policy({ StringEqualsIfExists: { [`${P}:environment`]: 'prod' } }),
      allowed: true,
    },
    {
      name: 'compares condition keys case-insensitively',
      policy: policy({ StringEquals: { [`${P.toUpperCase()}:SUB`]: CLAIMS.sub } }),
      allowed: true,
    },
    {
      name: 'StringNotLike excludes pull requests',
      policy: policy({ StringNotLike: { [`${P}:sub`]: 'repo:acme/web:pull_request' } }),
      allowed: true,
    },
    {
      name: 'StringNotEquals refuses the value it names',
      policy: policy({ StringNotEquals: { [`${P}:ref`]: 'refs/heads/main' } }),
      allowed: false,
      problems: [
        `statement 0 ("GitHub"): "${P}:ref" is "refs/heads/main", which StringNotEquals excludes ("refs/heads/main")`,
      ],
    },
    {
      name: 'StringEqualsIgnoreCase ignores case',
      policy: policy({ StringEqualsIgnoreCase: { [`${P}:sub`]: 'REPO:ACME/WEB:REF:REFS/HEADS/MAIN' } }),
      allowed: true,
    },
    {
      name: 'ForAnyValue matches a multi-valued aud',
      policy: policy({ 'ForAnyValue:StringEquals': { [`${P}:aud`]: 'api://egg' } }),
      claims: { ...CLAIMS, aud: ['sts.amazonaws.com', 'api://egg'] },
      allowed: true,
    },
    {
      name: 'ForAllValues needs every value allowed',
      policy: policy({ 'ForAllValues:StringEquals': { [`${P}:aud`]: 'api://egg' } }),
      claims: { ...CLAIMS, aud: ['sts.amazonaws.com', 'api://egg'] },
      allowed: false,
    },
    {
      name: 'Null: "false" needs the claim present',
      policy: policy({ Null: { [`${P}:environment`]: 'false' } }),
      allowed: false,
    },
    {
      name: 'a statement for another provider does not apply',
      policy: parseTrustPolicy(
        JSON.stringify({
          Statement: {
            Effect: 'Allow',
            Principal: { Federated: 'arn:aws:iam::123456789012:oidc-provider/gitlab.com' },
            Action: 'sts:AssumeRoleWithWebIdentity',
          },
        }),
      ),
      allowed: false,
      problems: [
        `statement 0 trusts "arn:aws:iam::123456789012:oidc-provider/gitlab.com", but the token comes from ${P}`,
      ],
    },
    {
      name: 'a statement for sts:AssumeRole only does not apply',
      policy: policy({}, { Action: 'sts:AssumeRole' }),
      allowed: false,
      problems: [
        `statement 0 ("GitHub") does not allow sts:AssumeRoleWithWebIdentity (Action: "sts:AssumeRole")`,
      ],
    },
    {
      name: 'action wildcards apply',
      policy: policy({ StringLike: { [`${P}:sub`]: 'repo:acme/*' } }, { Action: ['sts:Assume*'] }),
      allowed: true,
    },
    {
      name: 'a matching Deny wins over an Allow',
      policy: parseTrustPolicy(
        JSON.stringify({
          Statement: [
            {
              Effect: 'Allow',
              Principal: { Federated: PROVIDER_ARN },
              Action: 'sts:AssumeRoleWithWebIdentity',
              Condition: { StringLike: { [`${P}:sub`]: 'repo:acme/*' } },
            },
            {
              Sid: 'NoMain',
              Effect: 'Deny',
              Principal: '*',
              Action: 'sts:*',
              Condition: { StringEquals: { [`${P}:ref`]: 'refs/heads/main' } },
            },
          ],
        }),
      ),
      allowed: false,
      problems: ['statement 1 ("NoMain") (Deny) matches this token, so it is refused'],
    },
    {
      name: 'a GitHub Enterprise issuer with a slug has its own provider',
      policy: policy(
        { StringLike: { [`${P}/acme-corp:sub`]: 'repo:acme/*' } },
        { Principal: { Federated: `arn:aws:iam::123456789012:oidc-provider/${P}/acme-corp` } },
      ),
      claims: { ...CLAIMS, iss: `${ISS}/acme-corp` },
      allowed: true,
    },
  ];

  it.each(table)('$name', ({ policy: p, claims, allowed, problems }) => {
    const verdict = evaluateTrustPolicy(p, claims ?? CLAIMS);
    expect(verdict.allowed).toBe(allowed);
    if (problems !== undefined) expect(verdict.problems).toEqual(problems);
    if (allowed) expect(verdict.problems).toEqual([]);
  });

  it('reports request keys it cannot know as unchecked, without refusing', () => {
    const verdict = evaluateTrustPolicy(
      policy({
        StringLike: { [`${P}:sub`]: 'repo:acme/web:*' },
        IpAddress: { 'aws:SourceIp': '10.0.0.0/8' },
      }),
      CLAIMS,
    );
    expect(verdict.allowed).toBe(true);
    expect(verdict.notes).toEqual([
      'statement 0 ("GitHub"): IpAddress on "aws:SourceIp" depends on the request, not the token; not checked',
    ]);
  });
});

describe('parseTrustPolicy', () => {
  it('reads the URL-encoded document IAM GetRole returns', () => {
    const json = JSON.stringify({
      Statement: [
        { Effect: 'Allow', Principal: { Federated: PROVIDER_ARN }, Action: 'sts:AssumeRoleWithWebIdentity' },
      ],
    });
    expect(parseTrustPolicy(encodeURIComponent(json))).toEqual(parseTrustPolicy(json));
  });

  it.each([
    ['not json', 'it is not valid JSON'],
    ['[]', 'it must be a JSON object'],
    ['{}', 'it has no Statement'],
    ['{"Statement":[{"Effect":"Maybe"}]}', 'statement 0 has Effect "Maybe"; it must be "Allow" or "Deny"'],
    [
      '{"Statement":{"Effect":"Allow","Action":7}}',
      'statement 0: Action must be a string or a list of strings',
    ],
  ])('refuses %s', (text, reason) => {
    let caught: unknown;
    try {
      parseTrustPolicy(text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(EggError);
    expect(caught).toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message: `the trust policy cannot be read: ${reason}`,
    });
  });
});
