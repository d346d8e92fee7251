/**
 * What AWS keeps, and who AWS says did what (issue 9, items 12 and 16), on the synthesized
 * template: the table's point-in-time recovery period, which bounds how long old wrapped
 * data keys and old ciphertexts stay restorable, is the deployer's choice (1 to 35 days,
 * 7 by default); and `cloudTrail` adds a trail that records every KMS call (management
 * events, KMS included) and every item call on the table (data events), the authoritative
 * record of who read what.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { type BuildOptions, buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';
import { DEFAULT_PITR_DAYS } from '../../infra/stack.js';

const dir = mkdtempSync(join(tmpdir(), 'egg-infra-retention-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'rotator'));
writeFileSync(join(dir, 'rotator', 'index.js'), 'exports.handler = async () => ({});\n');

let builds = 0;
const build = (options: Partial<BuildOptions> = {}) => {
  const { stack } = buildStack({
    grants: parseGrants(
      JSON.stringify([
        { namespace: 'acme/web/prod', subjects: ['repo:acme@1001/web@2002:environment:prod'] },
      ]),
    ),
    githubOidcProviderArn: 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com',
    rotatorCodePath: join(dir, 'rotator'),
    outdir: join(dir, `cdk.out.${builds++}`),
    ...options,
  });
  return { stack, template: Template.fromStack(stack) };
};
const tableArn = (stack: ReturnType<typeof build>['stack']) => ({
  'Fn::GetAtt': [stack.getLogicalId(stack.table.node.defaultChild as never), 'Arn'],
});

describe('point-in-time recovery', () => {
  it('keeps old items 7 days by default, not AWS’s 35', () => {
    expect(DEFAULT_PITR_DAYS).toBe(7);
    build().template.hasResourceProperties('AWS::DynamoDB::Table', {
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: 7 },
    });
  });

  it.each([1, 35])('keeps them %i days when asked', (days) => {
    build({ pointInTimeRecoveryDays: days }).template.hasResourceProperties('AWS::DynamoDB::Table', {
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: days },
    });
  });

  it.each([0, 36, 7.5])('refuses a period of %s days, naming DynamoDB’s range', (days) => {
    expect(() => build({ pointInTimeRecoveryDays: days })).toThrow(
      new TypeError(`pointInTimeRecoveryDays must be a whole number from 1 to 35 (got ${days})`),
    );
  });
});

describe('the CloudTrail trail', () => {
  it('is not deployed unless asked', () => {
    build().template.resourceCountIs('AWS::CloudTrail::Trail', 0);
  });

  it('records every item call on the table and every KMS call, KMS events not excluded', () => {
    const { stack, template } = build({ cloudTrail: true });
    template.resourceCountIs('AWS::CloudTrail::Trail', 1);
    template.hasResourceProperties('AWS::CloudTrail::Trail', {
      IsLogging: true,
      EnableLogFileValidation: true,
      IncludeGlobalServiceEvents: true,
      IsMultiRegionTrail: false,
      EventSelectors: [
        {
          DataResources: [{ Type: 'AWS::DynamoDB::Table', Values: [tableArn(stack)] }],
          IncludeManagementEvents: true,
          ReadWriteType: 'All',
          ExcludeManagementEventSources: Match.absent(),
        },
      ],
    });
  });

  it('delivers to a private, encrypted, versioned bucket kept with the stack’s data', () => {
    const { template } = build({ cloudTrail: true });
    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        VersioningConfiguration: { Status: 'Enabled' },
      }),
      DeletionPolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
    template.hasOutput('AccessTrailBucket', Match.anyValue());
  });
});
