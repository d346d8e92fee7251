/**
 * The optional Cognito user pool for `egg login` (infra/login-pool.ts): absent unless asked
 * for; a public app client with the authorization code grant only, `openid email`, and the
 * one exact loopback callback; Google's client secret only as a Secrets Manager dynamic
 * reference; the pool registered as an IAM OIDC provider; and grants that let listed people
 * (their exact `sub`) assume their role with it. The rotator's code is a stand-in.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { type BuildOptions, buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'egg-infra-cognito-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const rotatorCode = join(dir, 'rotator');
mkdirSync(rotatorCode);
writeFileSync(join(rotatorCode, 'index.js'), 'exports.handler = async () => ({ batchItemFailures: [] });\n');

const ADA = '0f8c2b5e-6f1a-4a7e-9d0c-3b2a1e4f5d6c';
const GRACE = '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d';
const GOOGLE_SECRET_NAME = 'egg/google-oauth-client-secret';
const grants = (extra: Record<string, unknown> = {}) =>
  parseGrants(
    JSON.stringify([
      { namespace: 'acme/web/prod', subjects: ['repo:acme@1001/web@2002:environment:prod'], ...extra },
      { namespace: 'acme/api/prod', subjects: ['repo:acme@1001/api@2003:environment:prod'] },
    ]),
  );
let builds = 0;
const synth = (options: Partial<BuildOptions> = {}) => {
  builds += 1;
  const { stack } = buildStack({
    grants: grants(),
    rotatorCodePath: rotatorCode,
    outdir: join(dir, `cdk.out.${builds}`),
    ...options,
  });
  return { stack, template: Template.fromStack(stack) };
};
const ref = (template: Template, type: string) => {
  const ids = Object.keys(template.findResources(type));
  expect(ids).toHaveLength(1);
  return { Ref: ids[0] };
};

describe('the Cognito user pool for egg login', () => {
  it('is not there unless asked for', () => {
    const { stack, template } = synth();
    expect(stack.loginPool).toBeUndefined();
    for (const type of [
      'AWS::Cognito::UserPool',
      'AWS::Cognito::UserPoolClient',
      'AWS::Cognito::UserPoolDomain',
      'AWS::Cognito::UserPoolIdentityProvider',
      'Custom::AWSCDKCfnJson',
    ])
      template.resourceCountIs(type, 0);
    template.resourceCountIs('AWS::IAM::OIDCProvider', 1);
    expect(Object.keys(template.findOutputs('Login*'))).toEqual([]);
  });

  it('has one public client: code grant only, openid email, the exact loopback callback, no secret', () => {
    const { template } = synth({ loginPool: { domainPrefix: 'acme-egg' } });
    template.resourceCountIs('AWS::Cognito::UserPool', 1);
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      MfaConfiguration: 'ON',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      UsernameAttributes: ['email'],
      DeletionProtection: 'ACTIVE',
    });
    template.resourceCountIs('AWS::Cognito::UserPoolClient', 1);
    const clients = Object.values(template.findResources('AWS::Cognito::UserPoolClient'));
    expect(clients[0]?.Properties).toEqual({
      UserPoolId: ref(template, 'AWS::Cognito::UserPool'),
      GenerateSecret: false,
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthScopes: ['openid', 'email'],
      CallbackURLs: ['http://127.0.0.1:27843/callback'],
      ExplicitAuthFlows: ['ALLOW_REFRESH_TOKEN_AUTH'],
      SupportedIdentityProviders: ['COGNITO'],
      PreventUserExistenceErrors: 'ENABLED',
      EnableTokenRevocation: true,
      IdTokenValidity: 60,
      AccessTokenValidity: 60,
      RefreshTokenValidity: 720,
      TokenValidityUnits: { IdToken: 'minutes', AccessToken: 'minutes', RefreshToken: 'minutes' },
    });
    template.resourceCountIs('AWS::Cognito::UserPoolIdentityProvider', 0);
    template.hasResourceProperties('AWS::Cognito::UserPoolDomain', {
      Domain: 'acme-egg',
      ManagedLoginVersion: 2,
    });
    template.hasResourceProperties('AWS::Cognito::ManagedLoginBranding', {
      ClientId: ref(template, 'AWS::Cognito::UserPoolClient'),
      UseCognitoProvidedValues: true,
    });
  });

  it('registers the pool as an IAM OIDC provider with the client as its only audience, and outputs what egg login needs', () => {
    const { template } = synth({ loginPool: { domainPrefix: 'acme-egg', redirectPort: 41234 } });
    const issuer = {
      'Fn::Join': [
        '',
        [
          'https://cognito-idp.',
          { Ref: 'AWS::Region' },
          '.',
          { Ref: 'AWS::URLSuffix' },
          '/',
          ref(template, 'AWS::Cognito::UserPool'),
        ],
      ],
    };
    template.resourceCountIs('AWS::IAM::OIDCProvider', 2);
    template.hasResourceProperties('AWS::IAM::OIDCProvider', {
      Url: issuer,
      ClientIdList: [ref(template, 'AWS::Cognito::UserPoolClient')],
    });
    template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      CallbackURLs: ['http://127.0.0.1:41234/callback'],
    });
    template.hasOutput('LoginIssuer', { Value: issuer });
    template.hasOutput('LoginClientId', { Value: ref(template, 'AWS::Cognito::UserPoolClient') });
    template.hasOutput('LoginRedirectUri', { Value: 'http://127.0.0.1:41234/callback' });
    template.hasOutput('LoginDomain', { Value: Match.anyValue() });
  });

  it('takes Google’s client secret from Secrets Manager only: no plaintext secret in the template', () => {
    const { template } = synth({
      loginPool: {
        domainPrefix: 'acme-egg',
        google: { clientId: '1234-abc.apps.googleusercontent.com', clientSecretName: GOOGLE_SECRET_NAME },
      },
    });
    template.hasResourceProperties('AWS::Cognito::UserPoolIdentityProvider', {
      ProviderName: 'Google',
      ProviderType: 'Google',
      ProviderDetails: {
        client_id: '1234-abc.apps.googleusercontent.com',
        client_secret: `{{resolve:secretsmanager:${GOOGLE_SECRET_NAME}:SecretString:::}}`,
        authorize_scopes: 'openid email',
      },
    });
    template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      SupportedIdentityProviders: ['COGNITO', 'Google'],
      GenerateSecret: false,
    });
    template.hasResource('AWS::Cognito::UserPoolClient', {
      DependsOn: [Object.keys(template.findResources('AWS::Cognito::UserPoolIdentityProvider'))[0]],
    });
    // Every client secret anywhere is a dynamic reference, and no client carries one.
    const text = JSON.stringify(template.toJSON());
    const secrets = [...text.matchAll(/"client_secret":"([^"]*)"/g)].map((m) => m[1]);
    expect(secrets).toEqual([`{{resolve:secretsmanager:${GOOGLE_SECRET_NAME}:SecretString:::}}`]);
    expect(text).not.toMatch(/"ClientSecret"/);
  });

  it('lets a grant’s listed people assume its role: their exact sub, the client as audience', () => {
    const { stack, template } = synth({
      grants: grants({ loginSubjects: [ADA, GRACE] }),
      loginPool: { domainPrefix: 'acme-egg' },
    });
    const role = stack.roles.get('acme/web/prod');
    const roleId = stack.getLogicalId(role?.node.defaultChild as never);
    const document = template.toJSON().Resources[roleId].Properties.AssumeRolePolicyDocument;
    expect(document.Statement).toHaveLength(2);
    const [, login] = document.Statement;
    const cfnJsonId = Object.keys(template.findResources('Custom::AWSCDKCfnJson'))[0] as string;
    expect(login).toEqual({
      Sid: 'EggLogin',
      Effect: 'Allow',
      Action: 'sts:AssumeRoleWithWebIdentity',
      Principal: { Federated: { Ref: expect.stringMatching(/^LoginOidcProvider/) } },
      Condition: { StringEquals: { 'Fn::GetAtt': [cfnJsonId, 'Value'] } },
    });
    // The keys, once CloudFormation has resolved the region, suffix, pool and client.
    const value = template.toJSON().Resources[cfnJsonId].Properties.Value;
    const names: Record<string, string> = {
      'AWS::Region': 'eu-west-1',
      'AWS::URLSuffix': 'amazonaws.com',
      [ref(template, 'AWS::Cognito::UserPool').Ref as string]: 'eu-west-1_AbCdEf123',
      [ref(template, 'AWS::Cognito::UserPoolClient').Ref as string]: '4p1cl13nt1d',
    };
    const resolve = (part: unknown): string =>
      typeof part === 'string' ? part : (names[(part as { Ref: string }).Ref] ?? '?');
    const joined = (value['Fn::Join'][1] as unknown[]).map(resolve).join('');
    expect(JSON.parse(joined)).toEqual({
      'cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123:aud': '4p1cl13nt1d',
      'cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123:sub': [ADA, GRACE],
    });
    // The other grant's role trusts GitHub alone.
    const other = stack.getLogicalId(stack.roles.get('acme/api/prod')?.node.defaultChild as never);
    expect(template.toJSON().Resources[other].Properties.AssumeRolePolicyDocument.Statement).toHaveLength(1);
  });

  it.each([
    [
      'loginSubjects without a pool',
      () => synth({ grants: grants({ loginSubjects: [ADA] }) }),
      'grant "acme/web/prod" lists loginSubjects, but the stack has no Cognito user pool for egg login',
    ],
    [
      'a wildcard login subject',
      () => grants({ loginSubjects: ['*'] }),
      'invalid grant in grants.json[0]: "loginSubjects" must be a non-empty list of Cognito user "sub" values (lowercase UUIDs, no wildcards)',
    ],
    [
      'a domain prefix with a reserved word',
      () => synth({ loginPool: { domainPrefix: 'acme-aws-egg' } }),
      '"acme-aws-egg" is not a Cognito domain prefix: 1 to 63 lowercase letters, digits and inner hyphens, without "aws", "amazon" or "cognito"',
    ],
  ])('refuses %s', (_, build, message) => {
    expect(build).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CONFIG', message }));
  });
});

describe('npm run synth with the Cognito flags', () => {
  const synthCli = (...args: string[]) =>
    run(process.execPath, ['--import', './test/support/ts-hooks.mjs', 'infra/synth.ts', ...args], {
      cwd: root,
      env: { ...process.env, AWS_ACCESS_KEY_ID: '', AWS_PROFILE: 'egg-none', AWS_REGION: '' },
    });

  it('adds the pool, with Google, offline', async () => {
    const out = join(dir, 'cdk.out.cli');
    const { stderr } = await synthCli(
      '--out',
      out,
      '--rotator-code',
      rotatorCode,
      '--cognito-domain-prefix',
      'acme-egg',
      '--cognito-redirect-port',
      '41234',
      '--google-client-id',
      '1234-abc.apps.googleusercontent.com',
      '--google-client-secret-name',
      GOOGLE_SECRET_NAME,
    );
    expect(stderr).toBe('');
    const template = Template.fromJSON(
      JSON.parse(readFileSync(join(out, 'EggCarton.template.json'), 'utf8')),
    );
    template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      CallbackURLs: ['http://127.0.0.1:41234/callback'],
      SupportedIdentityProviders: ['COGNITO', 'Google'],
    });
  });

  it.each([
    [['--google-client-id', 'x'], 'error: --google-client-id needs --cognito-domain-prefix\n'],
    [
      ['--cognito-domain-prefix', 'acme-egg', '--google-client-id', 'x'],
      'error: --google-client-id and --google-client-secret-name go together\n',
    ],
  ])('refuses %o', async (args, message) => {
    const failed = await synthCli('--out', join(dir, 'cdk.out.bad'), ...args).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr.startsWith(message)).toBe(true);
  });
});
