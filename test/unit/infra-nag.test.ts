/**
 * cdk-nag's AwsSolutions pack on the synthesized stack (issue 13). cdk-nag 3 is a CDK
 * policy validation plugin, not an Aspect: `Validations.of(app).addPlugins(...)`, and
 * `app.synth()` throws `ValidationFailed` when any finding is not acknowledged. Every
 * acknowledgement is made in infra/ where the construct is (infra/nag.ts), with a reason;
 * the list below is what the stack accepts, so a new one shows up in review.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type App, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { type BuildOptions, buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';

const dir = mkdtempSync(join(tmpdir(), 'egg-infra-nag-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const rotatorCode = join(dir, 'rotator');
mkdirSync(rotatorCode);
writeFileSync(join(rotatorCode, 'index.js'), 'exports.handler = async () => ({ batchItemFailures: [] });\n');

/** Two grants, one with every permission; `login` lets a person assume it through the pool. */
const grants = (login: boolean) =>
  parseGrants(
    JSON.stringify([
      {
        namespace: 'acme/web/prod',
        subjects: ['repo:acme/web:environment:prod'],
        allowMutableSubject: true,
        mintTokens: true,
        manageSecrets: true,
        ...(login ? { loginSubjects: ['0f8c2b5e-6f1a-4a7e-9d0c-3b2a1e4f5d6c'] } : {}),
      },
      { namespace: 'acme/api/prod', subjects: ['repo:acme/api:environment:prod'], allowMutableSubject: true },
    ]),
  );

/** Every optional part on: the proxy with TLS, the login pool with Google, the access trail, key users. */
const FULL: Partial<BuildOptions> = {
  proxy: { enabled: true, certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e' },
  loginPool: {
    domainPrefix: 'egg-nag-test',
    google: { clientId: '1234-abc.apps.googleusercontent.com', clientSecretName: 'egg/google-secret' },
  },
  cloudTrail: true,
  keyUserArns: ['arn:aws:iam::123456789012:role/Admin'],
  keyAdminArns: ['arn:aws:iam::123456789012:role/KeyAdmin'],
};

let builds = 0;
/** A stack with the AwsSolutions pack registered on its app. */
function build(options: Partial<BuildOptions>): { app: App; stack: ReturnType<typeof buildStack>['stack'] } {
  const { app, stack } = buildStack({
    grants: grants(options.loginPool !== undefined),
    rotatorCodePath: rotatorCode,
    outdir: join(dir, `cdk.out.${builds++}`),
    ...options,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

/** Synthesize, returning the validation failure's message, or undefined when the pack passes. */
function nag(app: App): string | undefined {
  try {
    app.synth();
    return undefined;
  } catch (error) {
    return String(error);
  }
}

/**
 * Every AwsSolutions acknowledgement in the app: construct path → rule id → reason. (CDK's
 * own constructs acknowledge some CloudFormation-Validate rules of theirs; those are not ours.)
 */
function acknowledgements(app: App): Record<string, Record<string, string>> {
  const found: Record<string, Record<string, string>> = {};
  for (const node of app.node.findAll().map((c) => c.node)) {
    for (const entry of node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      // CDK records them under its own `Annotation::` namespace.
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>))
        if (/^(Annotation::)?AwsSolutions-/.test(id))
          found[node.path] = { ...found[node.path], [id.replace(/^Annotation::/, '')]: reason };
    }
  }
  return found;
}

const TABLE_ENCRYPTION = [
  'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
  'AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
];

describe('cdk-nag AwsSolutions on the synthesized stack', () => {
  it.each([
    ['every optional part', FULL],
    ['the defaults', {}],
    [
      'a plain-HTTP proxy and no reserved concurrency',
      {
        proxy: { enabled: true, allowPlainHttp: true },
        rotatorReservedConcurrency: false as const,
      },
    ],
  ])('passes with %s, each finding fixed or acknowledged with a reason', (_label, options) => {
    const { app } = build(options);
    expect(nag(app)).toBeUndefined();
    for (const rules of Object.values(acknowledgements(app)))
      for (const reason of Object.values(rules)) expect(reason.length).toBeGreaterThan(60);
  });

  it('accepts exactly these findings, each on the construct it concerns', () => {
    const { app } = build({ ...FULL, githubOidcProviderArn: 'arn:aws:iam::123456789012:oidc-provider/x' });
    const rules = Object.fromEntries(
      Object.entries(acknowledgements(app)).map(([path, byRule]) => [path, Object.keys(byRule).sort()]),
    );
    expect(rules).toEqual({
      'EggCarton/GrantAcmeWebProd': TABLE_ENCRYPTION,
      'EggCarton/GrantAcmeApiProd': TABLE_ENCRYPTION,
      'EggCarton/Rotator/Role': [...TABLE_ENCRYPTION, 'AwsSolutions-IAM5[Resource::*]'].sort(),
      'EggCarton/Rotator/Failures': ['AwsSolutions-SQS3'],
      'EggCarton/Proxy/TaskRole': TABLE_ENCRYPTION,
      'EggCarton/Proxy/Cluster': ['AwsSolutions-ECS4'],
      'EggCarton/Proxy/Service/LB': ['AwsSolutions-EC23', 'AwsSolutions-ELB2'],
      'EggCarton/Proxy/Service/TaskDef': ['AwsSolutions-ECS2'],
      'EggCarton/Proxy/Service/TaskDef/ExecutionRole': ['AwsSolutions-IAM5[Resource::*]'],
      'EggCarton/AccessTrail/Logs': ['AwsSolutions-S1'],
      'EggCarton/Login/UserPool': ['AwsSolutions-COG1', 'AwsSolutions-COG8'],
    });
  });

  it('fails the synth on a finding nobody acknowledged (a wildcard grant planted on a role)', () => {
    const { app, stack } = build({});
    stack.roles
      .get('acme/api/prod')!
      .addToPolicy(new iam.PolicyStatement({ actions: ['dynamodb:*'], resources: [stack.table.tableArn] }));
    expect(nag(app)).toMatch(/^ValidationFailed: /);
    const report = JSON.parse(readFileSync(join(app.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: {
        violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
      }[];
    };
    const violations = report.pluginReports.flatMap((r) =>
      r.violations.flatMap((v) => v.violatingConstructs.map((c) => [v.ruleName, c.constructPath])),
    );
    expect(violations).toEqual([
      ['AwsSolutions-IAM5[Action::dynamodb:*]', 'EggCarton/GrantAcmeApiProd/DefaultPolicy/Resource'],
    ]);
  });
});
