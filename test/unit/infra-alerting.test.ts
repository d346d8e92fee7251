/**
 * The alerting resources (issue 10, infra/alerting.ts) on the synthesized template: with the
 * proxy, one SNS topic, encrypted and refusing publishes without TLS, that only the proxy's
 * task role may publish to, and the right to put events on the default bus; none without the
 * proxy or with `alerting: false`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { type BuildOptions, buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';

const dir = mkdtempSync(join(tmpdir(), 'egg-infra-alerting-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'rotator'));
writeFileSync(join(dir, 'rotator', 'index.js'), 'exports.handler = async () => ({});\n');

let builds = 0;
const build = (over: Partial<BuildOptions> = {}) =>
  buildStack({
    grants: parseGrants(
      JSON.stringify([
        { namespace: 'acme/web/prod', subjects: ['repo:acme@1001/web@2002:environment:prod'] },
      ]),
    ),
    githubOidcProviderArn: 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com',
    rotatorCodePath: join(dir, 'rotator'),
    outdir: join(dir, `cdk.out.${builds++}`),
    ...over,
  }).stack;

type Json = Record<string, unknown>;
type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Effect: string };

/** Every statement of every inline policy attached to `roleId`. */
function statementsOf(template: Template, roleId: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify((p.Properties as Json).Roles).includes(roleId))
    .flatMap((p) => ((p.Properties as Json).PolicyDocument as { Statement: Statement[] }).Statement);
}

describe('alerting with the proxy', () => {
  const stack = build({ proxy: { enabled: true, allowPlainHttp: true } });
  const template = Template.fromStack(stack);

  it('makes one encrypted topic that refuses publishes without TLS, and outputs its ARN', () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    const [topic] = Object.values(template.findResources('AWS::SNS::Topic'));
    expect(JSON.stringify((topic!.Properties as Json).KmsMasterKeyId)).toContain('alias/aws/sns');
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
    expect(Object.keys(template.findOutputs('*')).some((k) => k.startsWith('AlertingTopicArn'))).toBe(true);
  });

  it('lets the proxy task role publish to that topic and put events on the default bus, and no other role', () => {
    const roleId = stack.getLogicalId(stack.proxy!.taskRole.node.defaultChild as never);
    const topicId = stack.getLogicalId(stack.alerting!.topic.node.defaultChild as never);
    const proxy = statementsOf(template, roleId);
    expect(proxy.filter((s) => [s.Action].flat().includes('sns:Publish'))).toEqual([
      { Action: 'sns:Publish', Effect: 'Allow', Resource: { Ref: topicId } },
    ]);
    const events = proxy.filter((s) => s.Sid === 'AlertEvents');
    expect(events).toHaveLength(1);
    expect(events[0]!.Action).toBe('events:PutEvents');
    expect(JSON.stringify(events[0]!.Resource)).toContain(':event-bus/default');
    // No other role of the stack may publish alerts or put events.
    const others = Object.values(template.findResources('AWS::IAM::Policy')).filter(
      (p) => !JSON.stringify((p.Properties as Json).Roles).includes(roleId),
    );
    expect(JSON.stringify(others)).not.toMatch(/sns:Publish|events:PutEvents/);
  });
});

describe('alerting without the proxy, or turned off', () => {
  it('makes no topic', () => {
    for (const stack of [
      build(),
      build({ proxy: { enabled: true, allowPlainHttp: true }, alerting: false }),
    ]) {
      Template.fromStack(stack).resourceCountIs('AWS::SNS::Topic', 0);
      expect(stack.alerting).toBeUndefined();
    }
  });
});
