/**
 * The grants file (infra/grants.ts) and `npm run synth` (infra/synth.ts): over-broad `sub`
 * patterns are refused before anything is synthesized, with a message naming the grant,
 * the pattern and the rule; the example grants file synthesizes offline.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { buildStack } from '../../infra/app.js';
import { parseGrants, subjectProblem } from '../../infra/grants.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'egg-infra-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const grant = (subjects: string[], extra: Record<string, unknown> = {}) =>
  JSON.stringify([{ namespace: 'acme/web/prod', subjects, ...extra }]);

describe('subject patterns', () => {
  it.each([
    'repo:acme/web:environment:prod',
    'repo:acme/web:environment:prod-*',
    'repo:acme/web:ref:refs/heads/main',
    'repo:acme/web:ref:refs/tags/v*',
    'repo:Acme.Inc/web_site-2:ref:refs/heads/release/2.x',
  ])('accepts %s', (pattern) => {
    expect(subjectProblem(pattern)).toBeUndefined();
  });

  it.each([
    ['*', 'it must start with "repo:<owner>/<repo>:"'],
    ['repo:*', 'the owner and repository must be literal (no "*" or "?"), as in "repo:acme/web:…"'],
    ['repo:acme/*', 'the owner and repository must be literal (no "*" or "?"), as in "repo:acme/web:…"'],
    [
      'repo:acme/*:environment:prod',
      'the owner and repository must be literal (no "*" or "?"), as in "repo:acme/web:…"',
    ],
    [
      'repo:acme/we?:environment:prod',
      'the owner and repository must be literal (no "*" or "?"), as in "repo:acme/web:…"',
    ],
    [
      'repo:acme/web',
      'it needs a qualifier after the repository: ":environment:<name>", ":ref:refs/heads/<branch>" or ":ref:refs/tags/<tag>"',
    ],
    [
      'repo:acme/web:*',
      'the qualifier must be "environment:<name>", "ref:refs/heads/<branch>" or "ref:refs/tags/<tag>" (pull_request and custom subjects are not allowed)',
    ],
    [
      'repo:acme/web:pull_request',
      'the qualifier must be "environment:<name>", "ref:refs/heads/<branch>" or "ref:refs/tags/<tag>" (pull_request and custom subjects are not allowed)',
    ],
    [
      'repo:acme/web:ref:*',
      'the qualifier must be "environment:<name>", "ref:refs/heads/<branch>" or "ref:refs/tags/<tag>" (pull_request and custom subjects are not allowed)',
    ],
    [
      'repo:acme/web:environment:*',
      'the environment part must start with a literal character (no "*" or "?" first, no spaces)',
    ],
    [
      'repo:acme/web:environment:',
      'the environment part must start with a literal character (no "*" or "?" first, no spaces)',
    ],
    [
      'repo:acme/web:ref:refs/heads/*',
      'the ref:refs/heads/ part must start with a literal character (no "*" or "?" first, no spaces)',
    ],
    [
      'repo:acme/web:ref:refs/tags/?1',
      'the ref:refs/tags/ part must start with a literal character (no "*" or "?" first, no spaces)',
    ],
  ])('refuses %s', (pattern, problem) => {
    expect(subjectProblem(pattern)).toBe(problem);
  });
});

describe('parseGrants', () => {
  it('fills the defaults: read-only, no minting, one-hour sessions, id = namespace', () => {
    expect(parseGrants(grant(['repo:acme/web:environment:prod']))).toEqual([
      {
        id: 'acme/web/prod',
        namespace: 'acme/web/prod',
        subjects: ['repo:acme/web:environment:prod'],
        mintTokens: false,
        manageSecrets: false,
        maxSessionSeconds: 3600,
      },
    ]);
  });

  it.each([
    [
      grant(['repo:acme/*']),
      'invalid grant in grants.json[0]: the subject pattern "repo:acme/*" is too broad or malformed: the owner and repository must be literal (no "*" or "?"), as in "repo:acme/web:…"',
    ],
    [
      grant([]),
      'invalid grant in grants.json[0]: "subjects" must be a non-empty list of GitHub OIDC "sub" patterns',
    ],
    [
      grant(['repo:acme/web:environment:prod'], { mintToken: true }),
      'invalid grant in grants.json[0]: unknown field "mintToken"; allowed: id, namespace, subjects, mintTokens, manageSecrets, maxSessionSeconds',
    ],
    [
      grant(['repo:acme/web:environment:prod'], { mintTokens: 'yes' }),
      'invalid grant in grants.json[0]: "mintTokens" must be true or false',
    ],
    [
      JSON.stringify([{ namespace: 'Acme/Web', subjects: ['repo:acme/web:environment:prod'] }]),
      'invalid grant in grants.json[0]: "namespace" must be 1 to 3 segments of [a-z0-9._-] separated by "/" (got "Acme/Web")',
    ],
    [
      JSON.stringify([
        { namespace: 'acme/web', subjects: ['repo:acme/web:environment:prod'] },
        { namespace: 'acme/web', subjects: ['repo:acme/web:ref:refs/tags/v*'] },
      ]),
      'invalid grant in grants.json: two grants have the id "acme/web"; give one of them a distinct "id"',
    ],
    ['{}', 'invalid grant in grants.json: it must be a JSON array of grants'],
    ['[', 'invalid grant in grants.json: it is not valid JSON'],
  ])('refuses %s', (text, message) => {
    expect(() => parseGrants(text)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CONFIG', message }));
  });
});

describe('buildStack', () => {
  it('refuses an over-broad pattern before synthesizing anything', () => {
    const file = join(dir, 'broad.json');
    writeFileSync(file, grant(['repo:*']));
    expect(() => buildStack({ grantsFile: file })).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_CONFIG',
        message: `invalid grant in ${file}[0]: the subject pattern "repo:*" is too broad or malformed: the owner and repository must be literal (no "*" or "?"), as in "repo:acme/web:…"`,
      }),
    );
  });

  it('creates the GitHub OIDC provider for sts.amazonaws.com when none is imported', () => {
    const { stack } = buildStack({ grants: parseGrants(grant(['repo:acme/web:environment:prod'])) });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::IAM::OIDCProvider', 1);
    template.hasResourceProperties('AWS::IAM::OIDCProvider', {
      Url: 'https://token.actions.githubusercontent.com',
      ClientIdList: ['sts.amazonaws.com'],
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Principal: {
              Federated: {
                Ref: stack.getLogicalId(
                  stack.node.findChild('GitHubOidcProvider').node.defaultChild as never,
                ),
              },
            },
          },
        ],
      },
    });
  });
});

describe('npm run synth (infra/synth.ts)', () => {
  const synth = (...args: string[]) =>
    run(process.execPath, ['--import', './test/support/ts-hooks.mjs', 'infra/synth.ts', ...args], {
      cwd: root,
      env: { ...process.env, AWS_ACCESS_KEY_ID: '', AWS_PROFILE: 'egg-none', AWS_REGION: '' },
    });

  it('synthesizes the example grants offline, with no bootstrap parameter or assets', async () => {
    const out = join(dir, 'cdk.out');
    const { stdout } = await synth('--out', out);
    expect(stdout).toBe(
      `synthesized EggCarton with 2 grant role(s): ${join(out, 'EggCarton.template.json')}\n`,
    );
    const template = JSON.parse(readFileSync(join(out, 'EggCarton.template.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(template.Parameters).toBeUndefined();
    expect(template.Rules).toBeUndefined();
    const manifest = readFileSync(join(out, 'manifest.json'), 'utf8');
    expect(manifest).not.toContain('aws:cdk:asset');
  });

  it('exits 2 with one sentence naming the bad pattern', async () => {
    const file = join(dir, 'star.json');
    writeFileSync(file, grant(['*']));
    const failure = await synth('--grants', file, '--out', join(dir, 'never')).then(
      () => undefined,
      (error: unknown) => error as { code: number; stdout: string; stderr: string },
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stdout).toBe('');
    expect(failure?.stderr).toBe(
      `error: invalid grant in ${file}[0]: the subject pattern "*" is too broad or malformed: it must start with "repo:<owner>/<repo>:"\nsee docs/deploy.md, "Grants"\n`,
    );
  });
});
