/**
 * GitHub's two `sub` forms in the grants file and the trust policies synthesized from it
 * (issue 15): the immutable `repo:OWNER@OWNER_ID/REPO@REPO_ID:…` is accepted with decimal
 * ids only, every over-broad pattern is refused in either form, and a name-only pattern
 * (which a recycled or renamed name can match) is refused unless the grant says
 * `allowMutableSubject: true`, with a message that says how to get the ids.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { buildStack } from '../../infra/app.js';
import { parseGrants, subjectProblem } from '../../infra/grants.js';

const dir = mkdtempSync(join(tmpdir(), 'egg-infra-subjects-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const rotatorCode = join(dir, 'rotator');
mkdirSync(rotatorCode);
writeFileSync(join(rotatorCode, 'index.js'), 'exports.handler = async () => ({ batchItemFailures: [] });\n');

const P = 'token.actions.githubusercontent.com';
const LITERAL_IDS =
  'the owner and repository must be literal (no "*" or "?"), as in "repo:acme@123/web@456:…": a wildcard there admits whoever registers a matching name';
const DIGITS =
  'the owner and repository ids must be decimal digits as GitHub assigns them, without "*" or "?" (as in "repo:acme@123/web@456:…")';

const grants = (entry: Record<string, unknown>) => JSON.stringify([{ namespace: 'acme/web/prod', ...entry }]);

describe('immutable subject patterns', () => {
  it.each([
    'repo:acme@123/web@456:environment:prod',
    'repo:acme@123/web@456:environment:prod-*',
    'repo:acme@123/web@456:ref:refs/heads/main',
    'repo:acme@123/web@456:ref:refs/tags/v*',
    'repo:Acme.Inc@9007199254740993/web_site-2@1:ref:refs/heads/release/2.x',
  ])('accepts %s', (pattern) => {
    expect(subjectProblem(pattern)).toBeUndefined();
  });

  it.each([
    // As broad as repo:acme/* (any repository, any owner id).
    ['repo:acme@*/*', LITERAL_IDS],
    // Ids, but a wildcard repository: still any repository of the owner.
    ['repo:acme@123/*', LITERAL_IDS],
    ['repo:acme@123/*:environment:prod', LITERAL_IDS],
    ['repo:*@123/web@456:environment:prod', LITERAL_IDS],
    ['repo:acme@123/we?@456:environment:prod', LITERAL_IDS],
    // Wildcards inside ids admit any account or repository that takes the name.
    ['repo:acme@*/web@456:environment:prod', DIGITS],
    ['repo:acme@123/web@*:environment:prod', DIGITS],
    ['repo:acme@12*/web@456:environment:prod', DIGITS],
    ['repo:acme@123/web@45?:environment:prod', DIGITS],
    ['repo:acme@0x7b/web@456:environment:prod', DIGITS],
    ['repo:acme@0123/web@456:environment:prod', DIGITS],
    ['repo:acme@/web@456:environment:prod', DIGITS],
    ['repo:acme@123@4/web@456:environment:prod', DIGITS],
    [
      'repo:acme@123/web:environment:prod',
      'the immutable form names both ids, "repo:<owner>@<owner id>/<repo>@<repository id>:…"; GitHub never presents one without the other',
    ],
    [
      'repo:acme/web@456:environment:prod',
      'the immutable form names both ids, "repo:<owner>@<owner id>/<repo>@<repository id>:…"; GitHub never presents one without the other',
    ],
    [
      'repo:acme@123/web@456',
      'it needs a qualifier after the repository: ":environment:<name>", ":ref:refs/heads/<branch>" or ":ref:refs/tags/<tag>"',
    ],
    [
      'repo:acme@123/web@456:*',
      'the qualifier must be "environment:<name>", "ref:refs/heads/<branch>" or "ref:refs/tags/<tag>" (pull_request and custom subjects are not allowed)',
    ],
    [
      'repo:acme@123/web@456:pull_request',
      'the qualifier must be "environment:<name>", "ref:refs/heads/<branch>" or "ref:refs/tags/<tag>" (pull_request and custom subjects are not allowed)',
    ],
    [
      'repo:acme@123/web@456:ref:refs/heads/*',
      'the ref:refs/heads/ part must start with a literal character (no "*" or "?" first, no spaces)',
    ],
  ])('refuses %s', (pattern, problem) => {
    expect(subjectProblem(pattern)).toBe(problem);
  });
});

describe('name-only patterns in grants', () => {
  it('refuses a name-only pattern without allowMutableSubject, and says how to get the ids', () => {
    expect(() => parseGrants(grants({ subjects: ['repo:acme/web:environment:prod'] }))).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_CONFIG',
        message:
          'invalid grant in grants.json[0]: the subject pattern "repo:acme/web:environment:prod" names the repository by name only, ' +
          'which whoever next holds the name "acme" or "acme/web" (after a rename or deletion) also presents: ' +
          'write it with the ids, "repo:acme@<owner id>/web@<repository id>:environment:prod" ' +
          "(`gh api repos/acme/web --jq '.owner.id, .id'` prints them, or `egg ci init` prints the whole pattern), " +
          'or set "allowMutableSubject": true for a repository that does not use immutable subjects yet',
        hint: 'see docs/deploy.md, "Grants"',
      }),
    );
  });

  it('accepts it with allowMutableSubject: true, beside the immutable form (the migration)', () => {
    const subjects = ['repo:acme/web:environment:prod', 'repo:acme@123/web@456:environment:prod'];
    expect(parseGrants(grants({ subjects, allowMutableSubject: true }))).toEqual([
      {
        id: 'acme/web/prod',
        namespace: 'acme/web/prod',
        subjects,
        allowMutableSubject: true,
        mintTokens: false,
        manageSecrets: false,
        maxSessionSeconds: 3600,
      },
    ]);
  });

  it('keeps applying the over-broad rule to name-only patterns when they are allowed', () => {
    expect(() => parseGrants(grants({ subjects: ['repo:acme/*'], allowMutableSubject: true }))).toThrow(
      expect.objectContaining({
        message:
          'invalid grant in grants.json[0]: the subject pattern "repo:acme/*" is too broad or malformed: the owner and repository must be literal (no "*" or "?"), as in "repo:acme/web:…"',
      }),
    );
  });

  it('refuses an allowMutableSubject that is not a boolean', () => {
    expect(() =>
      parseGrants(grants({ subjects: ['repo:acme/web:environment:prod'], allowMutableSubject: 'yes' })),
    ).toThrow(
      expect.objectContaining({
        message: 'invalid grant in grants.json[0]: "allowMutableSubject" must be true or false',
      }),
    );
  });
});

describe('the synthesized trust policy', () => {
  const trust = (entries: Record<string, unknown>[]) => {
    const { stack } = buildStack({
      grants: parseGrants(JSON.stringify(entries)),
      rotatorCodePath: rotatorCode,
      outdir: join(dir, `cdk.out.${entries.length}`),
    });
    const template = Template.fromStack(stack).toJSON() as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    return [...stack.roles.entries()].map(([id, role]) => {
      const logicalId = stack.getLogicalId(role.node.defaultChild as never);
      const document = template.Resources[logicalId]?.Properties.AssumeRolePolicyDocument as {
        Statement: { Condition: Record<string, Record<string, unknown>> }[];
      };
      return [id, document.Statement[0]?.Condition] as const;
    });
  };

  it('pins the immutable form for a grant with ids, and both forms only where a grant allows the mutable one', () => {
    expect(
      trust([
        {
          id: 'web',
          namespace: 'acme/web/prod',
          subjects: ['repo:acme@123/web@456:environment:prod', 'repo:acme@123/web@456:ref:refs/tags/v*'],
        },
        {
          id: 'api',
          namespace: 'acme/api/prod',
          subjects: ['repo:acme/api:environment:prod', 'repo:acme@123/api@789:environment:prod'],
          allowMutableSubject: true,
        },
      ]),
    ).toEqual([
      [
        'web',
        {
          StringEquals: { [`${P}:aud`]: 'sts.amazonaws.com' },
          StringLike: {
            [`${P}:sub`]: [
              'repo:acme@123/web@456:environment:prod',
              'repo:acme@123/web@456:ref:refs/tags/v*',
            ],
          },
        },
      ],
      [
        'api',
        {
          StringEquals: { [`${P}:aud`]: 'sts.amazonaws.com' },
          StringLike: {
            [`${P}:sub`]: ['repo:acme/api:environment:prod', 'repo:acme@123/api@789:environment:prod'],
          },
        },
      ],
    ]);
  });

  it('refuses the example grants file’s old name-only form before synthesizing anything', () => {
    const file = join(dir, 'old.json');
    writeFileSync(file, grants({ subjects: ['repo:acme/web:ref:refs/tags/v*'] }));
    expect(() => buildStack({ grantsFile: file, rotatorCodePath: rotatorCode })).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_CONFIG',
        message: expect.stringContaining(
          `invalid grant in ${file}[0]: the subject pattern "repo:acme/web:ref:refs/tags/v*" names the repository by name only`,
        ),
      }),
    );
  });
});
