/**
 * The grants file (infra/grants.ts) and `npm run synth` (infra/synth.ts): over-broad `sub`
 * patterns are refused before anything is synthesized, with a message naming the grant,
 * the pattern and the rule; the example grants file synthesizes offline. The rotator's
 * code is a stand-in written here, so nothing depends on `npm run package` having run.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
const rotatorCode = join(dir, 'rotator');
mkdirSync(rotatorCode);
writeFileSync(join(rotatorCode, 'index.js'), 'exports.handler = async () => ({ batchItemFailures: [] });\n');

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
  it('fills the defaults: read-only (no manageSecrets), no minting, one-hour sessions, id = namespace', () => {
    expect(parseGrants(grant(['repo:acme@1001/web@2002:environment:prod']))).toEqual([
      {
        id: 'acme/web/prod',
        namespace: 'acme/web/prod',
        subjects: ['repo:acme@1001/web@2002:environment:prod'],
        allowMutableSubject: false,
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
      'invalid grant in grants.json[0]: unknown field "mintToken"; allowed: id, namespace, subjects, allowMutableSubject, mintTokens, manageSecrets, maxSessionSeconds, loginSubjects',
    ],
    [
      grant(['repo:acme@1001/web@2002:environment:prod'], { mintTokens: 'yes' }),
      'invalid grant in grants.json[0]: "mintTokens" must be true or false',
    ],
    [
      JSON.stringify([{ namespace: 'Acme/Web', subjects: ['repo:acme/web:environment:prod'] }]),
      'invalid grant in grants.json[0]: "namespace" must be 1 to 3 segments of [a-z0-9._-] separated by "/" (got "Acme/Web")',
    ],
    [
      JSON.stringify([
        { namespace: 'acme/web', subjects: ['repo:acme@1001/web@2002:environment:prod'] },
        { namespace: 'acme/web', subjects: ['repo:acme@1001/web@2002:ref:refs/tags/v*'] },
      ]),
      'invalid grant in grants.json: two grants have the id "acme/web"; give one of them a distinct "id"',
    ],
    ...[900, 3599, 43_201, 3600.5, '3600'].map((seconds) => [
      grant(['repo:acme@1001/web@2002:environment:prod'], { maxSessionSeconds: seconds }),
      'invalid grant in grants.json[0]: "maxSessionSeconds" must be a whole number from 3600 to 43200: IAM refuses a role whose maximum session is under one hour or over twelve (a job can still ask for a shorter session, down to 900 s, with role-session-duration)',
    ]),
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
    const { stack } = buildStack({
      grants: parseGrants(grant(['repo:acme@1001/web@2002:environment:prod'])),
      rotatorCodePath: rotatorCode,
      outdir: join(dir, 'cdk.out.provider'),
    });
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

  it('synthesizes the example grants offline, with the rotator as its only asset and no bootstrap parameter', async () => {
    const out = join(dir, 'cdk.out');
    const { stdout, stderr } = await synth('--out', out, '--rotator-code', rotatorCode);
    expect(stdout).toBe(
      `synthesized EggCarton with 2 grant role(s): ${join(out, 'EggCarton.template.json')}\n`,
    );
    expect(stderr).toBe('');
    const template = JSON.parse(readFileSync(join(out, 'EggCarton.template.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    // CLI credentials: no BootstrapVersion parameter or rule, no bootstrap role to assume.
    expect(template.Parameters).toBeUndefined();
    expect(template.Rules).toBeUndefined();
    const assets = JSON.parse(readFileSync(join(out, 'EggCarton.assets.json'), 'utf8')) as {
      files: Record<
        string,
        { displayName: string; destinations: Record<string, { assumeRoleArn?: string }> }
      >;
      dockerImages?: Record<string, unknown>;
    };
    expect(Object.values(assets.files).map((f) => f.displayName)).toEqual([
      'Rotator/Function/Code',
      'EggCarton Template',
    ]);
    expect(assets.dockerImages ?? {}).toEqual({});
    expect(JSON.stringify(assets)).not.toContain('assumeRoleArn');
  });

  it('adds the proxy image with --proxy, and warns on stderr when plain HTTP was allowed', async () => {
    const out = join(dir, 'cdk.out.proxy');
    const { stdout, stderr } = await synth(
      '--out',
      out,
      '--rotator-code',
      rotatorCode,
      '--proxy',
      '--allow-plain-http',
    );
    expect(stdout).toBe(
      `synthesized EggCarton with 2 grant role(s): ${join(out, 'EggCarton.template.json')}\n`,
    );
    expect(stderr).toBe(
      'warning: --allow-plain-http: the proxy has no certificate, so its load balancer speaks plain HTTP and egg tokens cross the network unencrypted; pass --proxy-certificate-arn instead (docs/proxy-runtime.md)\n',
    );
    const assets = JSON.parse(readFileSync(join(out, 'EggCarton.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { displayName: string }>;
    };
    expect(Object.values(assets.dockerImages).map((i) => i.displayName)).toEqual([
      'Proxy/Service/TaskDef/proxy/AssetImage',
    ]);
  });

  it('sets the recovery period with --pitr-days and adds the trail with --cloudtrail', async () => {
    const out = join(dir, 'cdk.out.retention');
    await synth('--out', out, '--rotator-code', rotatorCode, '--pitr-days', '3', '--cloudtrail');
    const template = JSON.parse(readFileSync(join(out, 'EggCarton.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const resources = Object.values(template.Resources);
    expect(
      resources
        .filter((r) => r.Type === 'AWS::DynamoDB::Table')
        .map((r) => r.Properties.PointInTimeRecoverySpecification),
    ).toEqual([{ PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: 3 }]);
    expect(resources.filter((r) => r.Type === 'AWS::CloudTrail::Trail')).toHaveLength(1);
  });

  it.each([
    [
      'a missing rotator bundle',
      ['--rotator-code', '/nonexistent/rotator'],
      'error: the rotator is not built: /nonexistent/rotator/index.js is missing\nrun `npm run package` first (it bundles dist/rotator/), or pass --rotator-code DIR\n',
    ],
    [
      'an unknown keyring',
      ['--keyring', 'local'],
      'error: --keyring must be "kms" or "kms-hierarchical" (got "local")\nsee docs/deploy.md, "Step by step"\n',
    ],
    [
      'a proxy option without --proxy',
      ['--proxy-certificate-arn', 'arn:aws:acm:us-east-1:123456789012:certificate/x'],
      'error: --proxy-certificate-arn needs --proxy\nsee docs/deploy.md, "Step by step"\n',
    ],
    [
      'a proxy without a certificate',
      ['--proxy'],
      'error: the proxy has no TLS certificate, so its load balancer would carry egg tokens in plain HTTP: pass --proxy-certificate-arn with an ACM certificate in the stack’s region, or --allow-plain-http to accept that\ndocs/proxy-runtime.md; from code: proxy.certificateArn or proxy.allowPlainHttp\n',
    ],
    [
      '--allow-plain-http without --proxy',
      ['--allow-plain-http'],
      'error: --allow-plain-http needs --proxy\nsee docs/deploy.md, "Step by step"\n',
    ],
    ...['0', '36', 'week'].map((days) => [
      `a recovery period of ${days} days`,
      ['--pitr-days', days],
      `error: --pitr-days must be a whole number from 1 to 35 (got "${days}")\nsee docs/deploy.md, "Step by step"\n`,
    ]),
    [
      'a rotator concurrency of 0 (which would stop it)',
      ['--rotator-concurrency', '0'],
      'error: --rotator-concurrency must be a whole number ≥ 1 (got "0")\nsee docs/deploy.md, "Step by step"\n',
    ],
  ])('exits 2 for %s', async (_name, args, stderr) => {
    const failure = await synth('--out', join(dir, 'never'), '--rotator-code', rotatorCode, ...args).then(
      () => undefined,
      (error: unknown) => error as { code: number; stdout: string; stderr: string },
    );
    expect(failure).toMatchObject({ code: 2, stdout: '', stderr });
  });

  it('exits 2, naming the IAM minimum, for a grant with a 15-minute maximum session (not a CDK crash)', async () => {
    const file = join(dir, 'short-session.json');
    writeFileSync(file, grant(['repo:acme@1001/web@2002:environment:prod'], { maxSessionSeconds: 900 }));
    const failure = await synth(
      '--grants',
      file,
      '--out',
      join(dir, 'never'),
      '--rotator-code',
      rotatorCode,
    ).then(
      () => undefined,
      (error: unknown) => error as { code: number; stdout: string; stderr: string },
    );
    expect(failure).toMatchObject({
      code: 2,
      stdout: '',
      stderr: `error: invalid grant in ${file}[0]: "maxSessionSeconds" must be a whole number from 3600 to 43200: IAM refuses a role whose maximum session is under one hour or over twelve (a job can still ask for a shorter session, down to 900 s, with role-session-duration)\nsee docs/deploy.md, "Grants"\n`,
    });
  });

  it('exits 2 with one sentence naming the bad pattern', async () => {
    const file = join(dir, 'star.json');
    writeFileSync(file, grant(['*']));
    const failure = await synth(
      '--grants',
      file,
      '--out',
      join(dir, 'never'),
      '--rotator-code',
      rotatorCode,
    ).then(
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
