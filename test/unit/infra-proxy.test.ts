/**
 * The proxy runtime's transport and trust (issue 9, items 7 and 16), on the synthesized
 * template: no load balancer speaks plain HTTP to the proxy unless the deployer says so in
 * words (`--allow-plain-http`); with a certificate, port 80 only redirects to HTTPS and
 * HTTPS offers TLS 1.3 with TLS 1.2 as the floor; and only ECS tasks of the stack's own
 * account (and region) can assume the task role.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { type BuildOptions, buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';
import { PROXY_SSL_POLICY } from '../../infra/proxy.js';

const CERTIFICATE_ARN = 'arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e';
const dir = mkdtempSync(join(tmpdir(), 'egg-infra-proxy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'rotator'));
writeFileSync(join(dir, 'rotator', 'index.js'), 'exports.handler = async () => ({});\n');

let builds = 0;
const build = (proxy: NonNullable<BuildOptions['proxy']>) =>
  buildStack({
    grants: parseGrants(
      JSON.stringify([
        { namespace: 'acme/web/prod', subjects: ['repo:acme@1001/web@2002:environment:prod'] },
      ]),
    ),
    githubOidcProviderArn: 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com',
    rotatorCodePath: join(dir, 'rotator'),
    outdir: join(dir, `cdk.out.${builds++}`),
    proxy,
  }).stack;

type Json = Record<string, unknown>;
const listeners = (template: Template) =>
  Object.values(template.findResources('AWS::ElasticLoadBalancingV2::Listener')).map(
    (r) => r.Properties as Json,
  );

describe('a proxy without a certificate', () => {
  it('is refused, in one sentence that says what to pass', () => {
    expect(() => build({ enabled: true })).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_CONFIG',
        message:
          'the proxy has no TLS certificate, so its load balancer would carry egg tokens in plain HTTP: pass --proxy-certificate-arn with an ACM certificate in the stack’s region, or --allow-plain-http to accept that',
        hint: 'docs/proxy-runtime.md; from code: proxy.certificateArn or proxy.allowPlainHttp',
      }),
    );
  });

  it('speaks plain HTTP only when allowed in words, and says so loudly', () => {
    const stack = build({ enabled: true, allowPlainHttp: true });
    const template = Template.fromStack(stack);
    expect(listeners(template).map((l) => [l.Port, l.Protocol])).toEqual([[80, 'HTTP']]);
    expect(stack.proxy?.https).toBe(false);
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('plain HTTP'))).toHaveLength(
      1,
    );
  });

  it('refuses --allow-plain-http next to a certificate, which would make it mean nothing', () => {
    expect(() => build({ enabled: true, certificateArn: CERTIFICATE_ARN, allowPlainHttp: true })).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_CONFIG',
        message:
          '--allow-plain-http is for a proxy without a certificate; with --proxy-certificate-arn, port 80 only redirects to HTTPS',
      }),
    );
  });
});

describe('a proxy with a certificate', () => {
  const template = Template.fromStack(build({ enabled: true, certificateArn: CERTIFICATE_ARN }));

  it('only redirects on port 80: no forward, no rules, permanently to HTTPS on 443', () => {
    const plain = listeners(template).filter((l) => l.Port === 80);
    expect(plain).toEqual([
      expect.objectContaining({
        Protocol: 'HTTP',
        DefaultActions: [
          { Type: 'redirect', RedirectConfig: { Port: '443', Protocol: 'HTTPS', StatusCode: 'HTTP_301' } },
        ],
      }),
    ]);
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::ListenerRule', 0);
  });

  it('offers TLS 1.3 with TLS 1.2 as the floor, forward-secret AEAD ciphers only, hybrid post-quantum key exchange', () => {
    expect(PROXY_SSL_POLICY).toBe('ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09');
    expect(listeners(template).filter((l) => l.Port === 443)).toEqual([
      expect.objectContaining({
        Protocol: 'HTTPS',
        Certificates: [{ CertificateArn: CERTIFICATE_ARN }],
        SslPolicy: PROXY_SSL_POLICY,
      }),
    ]);
  });

  it('lets only ECS tasks of its own account and region assume the task role (aws:SourceAccount)', () => {
    const roles = Object.values(template.findResources('AWS::IAM::Role')).map((r) => r.Properties as Json);
    const taskRole = roles.find((r) =>
      String(r.Description).startsWith('Egg Carton proxy: injects provider keys'),
    );
    expect(taskRole?.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'sts:AssumeRole',
          Principal: { Service: 'ecs-tasks.amazonaws.com' },
          Condition: {
            StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            ArnLike: {
              'aws:SourceArn': {
                'Fn::Join': [
                  '',
                  [
                    'arn:',
                    { Ref: 'AWS::Partition' },
                    ':ecs:',
                    { Ref: 'AWS::Region' },
                    ':',
                    { Ref: 'AWS::AccountId' },
                    ':*',
                  ],
                ],
              },
            },
          },
        },
      ],
    });
  });
});
