/**
 * GitHub's immutable `sub` end to end (issue 15): grants → the trust policies infra/
 * synthesizes → a loopback STS that evaluates those documents with the independent IAM
 * evaluator (test/support/iam-policy.ts) → the bundled Action, whose OIDC token comes from
 * the loopback issuer in either form. An immutable-form job is trusted by a grant with ids;
 * a name-only grant refuses it and the Action says why; a recycled name (same names, other
 * ids) is refused; a grant with both forms carries a repository through its opt-in.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';
import { newJob } from '../support/action-runner.js';
import { type FakeOidc, startFakeOidc } from '../support/fake-oidc.js';
import { type FakeSts, providerArnOf, startFakeSts } from '../support/fake-sts.js';
import { cfnResolver, type PolicyDocument } from '../support/iam-policy.js';

const P = 'token.actions.githubusercontent.com';
/** AWS endpoints that refuse at once, on loopback, so no test can reach real AWS. */
const NOWHERE = {
  AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
  AWS_ENDPOINT_URL_KMS: 'http://127.0.0.1:9',
  AWS_EC2_METADATA_DISABLED: 'true',
};
const MAIN = 'ref:refs/heads/main';
const GRANTS = [
  // acme (owner id 1001) / web (repository id 2002), as the loopback issuer's tokens name them.
  { id: 'web', namespace: 'acme/web', subjects: [`repo:acme@1001/web@2002:${MAIN}`] },
  {
    id: 'web/name-only',
    namespace: 'acme/web',
    subjects: [`repo:acme/web:${MAIN}`],
    allowMutableSubject: true,
  },
  {
    id: 'web/migrating',
    namespace: 'acme/web',
    subjects: [`repo:acme/web:${MAIN}`, `repo:acme@1001/web@2002:${MAIN}`],
    allowMutableSubject: true,
  },
];

describe('the Action with GitHub’s immutable subjects, against synthesized trust policies', () => {
  let base: string;
  let oidc: FakeOidc;
  let sts: FakeSts;
  let env: NodeJS.ProcessEnv;
  /** Grant id → the role's ARN. */
  const roles = new Map<string, string>();

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-action-immutable-'));
    const rotatorCode = join(base, 'rotator');
    mkdirSync(rotatorCode);
    writeFileSync(join(rotatorCode, 'index.js'), 'exports.handler = async () => ({});\n');
    oidc = await startFakeOidc({ subjectForm: 'immutable' });
    const { stack } = buildStack({
      grants: parseGrants(JSON.stringify(GRANTS)),
      githubOidcProviderArn: providerArnOf(oidc.issuer),
      rotatorCodePath: rotatorCode,
      outdir: join(base, 'cdk.out'),
    });
    const template = Template.fromStack(stack).toJSON() as {
      Resources: Record<string, { Properties: { AssumeRolePolicyDocument?: PolicyDocument } }>;
    };
    const resolve = cfnResolver({ account: '123456789012', region: 'us-east-1', template });
    const fakeRoles = [...stack.roles.entries()].map(([id, role]) => {
      const logicalId = stack.getLogicalId(role.node.defaultChild as never);
      const arn = resolve({ 'Fn::GetAtt': [logicalId, 'Arn'] }) as string;
      roles.set(id, arn);
      const policy = template.Resources[logicalId]?.Properties.AssumeRolePolicyDocument;
      if (policy === undefined) throw new TypeError(`${logicalId} has no trust policy`);
      return { arn, trustPolicy: { policy, resolve } };
    });
    sts = await startFakeSts({
      providers: [{ issuer: oidc.issuer, jwksUrl: oidc.jwksUrl, audiences: ['sts.amazonaws.com'] }],
      roles: fakeRoles,
    });
    env = {
      ...NOWHERE,
      ACTIONS_ID_TOKEN_REQUEST_URL: oidc.requestUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.requestToken,
      AWS_ENDPOINT_URL_STS: sts.endpoint,
    };
  });
  afterEach(() => {
    oidc.setClaims({});
    oidc.setSubjectForm('immutable');
    sts.calls.length = 0;
  });
  afterAll(async () => {
    await Promise.all([oidc?.close(), sts?.close()]);
    if (base !== undefined) rmSync(base, { recursive: true, force: true });
  });

  const inputs = (grant: string) => ({
    'role-to-assume': roles.get(grant) as string,
    'aws-region': 'us-east-1',
    table: 'egg-test',
    'kms-key-id': 'alias/egg',
    namespace: 'acme/web',
  });
  /** The `::error::` line of a step, its `%0A`s back to newlines. */
  const error = (stdout: string) =>
    stdout
      .split('\n')
      .find((line) => line.startsWith('::error::'))
      ?.slice('::error::'.length)
      .split('%0A');
  const outcomes = () => sts.calls.map((c) => c.outcome);

  it('trusts an immutable-form token with a grant that names the ids', async () => {
    const main = await newJob(base).main(inputs('web'), env);
    expect(outcomes()).toEqual(['ok']);
    // Past STS the step goes on to DynamoDB (a closed port here): the refusal is not STS's.
    expect(error(main.stdout)?.[0]).not.toMatch(/STS/);
  });

  it('refuses an immutable-form token with a name-only grant, and says the forms differ', async () => {
    const role = roles.get('web/name-only') as string;
    const main = await newJob(base).main(inputs('web/name-only'), env);
    expect(main.code).toBe(1);
    expect(outcomes()).toEqual(['AccessDenied']);
    expect(error(main.stdout)).toEqual([
      `STS refused to let this job assume ${role}: AccessDenied.`,
      'The job’s OIDC token presents:',
      `  sub: repo:acme@1001/web@2002:${MAIN}`,
      '  aud: sts.amazonaws.com',
      '  ref: refs/heads/main',
      '  environment: (absent)',
      '  job_workflow_ref: acme/web/.github/workflows/ci.yml@refs/heads/main',
      '  repository: acme/web',
      'This job’s sub is in GitHub’s immutable form, with the owner’s and the repository’s ids (acme@1001/web@2002), ' +
        'so a condition in the name-only form ("repo:acme/web:…") does not match it; ' +
        'a condition with other ids for acme/web means the owner or repository was recreated or renamed since it was written, ' +
        'and this job is not the repository it trusts.',
      `Change the role's trust policy: its condition on "${P}:sub" must match "repo:acme@1001/web@2002:${MAIN}" ` +
        `(StringLike, e.g. "repo:acme@1001/web@2002:*"), and "${P}:aud" must equal "sts.amazonaws.com". ` +
        'A job that names an environment presents sub "repo:acme@1001/web@2002:environment:NAME" instead of its ref.',
    ]);
    expect(main.env).toEqual(new Map());
  });

  it('refuses a token whose ids differ from the grant’s (a recycled name)', async () => {
    // Someone else's acme/web: the name registered again after the original was deleted or renamed.
    oidc.setClaims({ repository_owner_id: '9999', repository_id: '8888' });
    const main = await newJob(base).main(inputs('web'), env);
    expect(main.code).toBe(1);
    expect(outcomes()).toEqual(['AccessDenied']);
    expect(error(main.stdout)?.slice(2, 3)).toEqual([`  sub: repo:acme@9999/web@8888:${MAIN}`]);
    expect(error(main.stdout)?.at(-2)).toContain(
      'a condition with other ids for acme/web means the owner or repository was recreated or renamed since it was written, and this job is not the repository it trusts.',
    );
    expect(main.env).toEqual(new Map());
  });

  it('refuses a name-only token with a grant that names the ids, and says the repository has not opted in', async () => {
    oidc.setSubjectForm('name-only');
    const main = await newJob(base).main(inputs('web'), env);
    expect(outcomes()).toEqual(['AccessDenied']);
    expect(error(main.stdout)?.at(-2)).toBe(
      'This job’s sub is in the name-only form (its repository does not use GitHub’s immutable subjects), ' +
        'so a condition in the immutable form ("repo:acme@1001/web@2002:…") does not match it ' +
        'until the repository opts in (docs/deploy.md, "Immutable subjects").',
    );
  });

  it('carries a repository through its opt-in without a refusal: add the new form, switch, remove the old', async () => {
    // Before: the repository presents the name-only form; the grant lists both.
    oidc.setSubjectForm('name-only');
    await newJob(base).main(inputs('web/migrating'), env);
    // The switch: the repository opts in and presents the immutable form; the same grant trusts it.
    oidc.setSubjectForm('immutable');
    await newJob(base).main(inputs('web/migrating'), env);
    // After: the old form removed (the grant "web"), the repository's jobs still get in.
    await newJob(base).main(inputs('web'), env);
    expect(outcomes()).toEqual(['ok', 'ok', 'ok']);
  });
});
