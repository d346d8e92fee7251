/**
 * The bundled Action's OIDC → STS exchange against a loopback token service (RS256 JWTs
 * with GitHub's claims) and a loopback STS that verifies them and evaluates the role's
 * trust condition. Isolation is tested, not assumed: a job whose `sub` doesn't match gets
 * nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { commandData, newJob } from '../support/action-runner.js';
import { type FakeOidc, startFakeOidc } from '../support/fake-oidc.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';

const ROLE = 'arn:aws:iam::123456789012:role/egg-ci';
/** AWS endpoints that refuse at once, on loopback, so no test can reach real AWS. */
const NOWHERE = {
  AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
  AWS_ENDPOINT_URL_KMS: 'http://127.0.0.1:9',
  AWS_EC2_METADATA_DISABLED: 'true',
};
const INPUTS = {
  'role-to-assume': ROLE,
  'aws-region': 'eu-west-1',
  table: 'egg-test',
  'kms-key-id': 'alias/egg',
  namespace: 'acme/web',
};

describe('the Action’s OIDC exchange', () => {
  let base: string;
  let oidc: FakeOidc;
  let sts: FakeSts;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-action-oidc-'));
    oidc = await startFakeOidc();
    sts = await startFakeSts({
      providers: [{ issuer: oidc.issuer, jwksUrl: oidc.jwksUrl, audiences: ['sts.amazonaws.com'] }],
      roles: [{ arn: ROLE, sub: ['repo:acme/web:ref:refs/heads/main'], aud: 'sts.amazonaws.com' }],
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
    oidc.requests.length = 0;
    sts.calls.length = 0;
  });
  afterAll(async () => {
    await Promise.all([oidc.close(), sts.close()]);
    rmSync(base, { recursive: true, force: true });
  });

  /** The token the runner handed out, from the first `::add-mask::` line. */
  const maskedToken = (stdout: string) => commandData(stdout.split('\n')[0] as string, 'add-mask') as string;

  it('refuses a token whose sub the trust policy does not allow, printing its claims, and exports nothing', async () => {
    oidc.setClaims({ sub: 'repo:acme/web:ref:refs/heads/feature', ref: 'refs/heads/feature' });
    const job = newJob(base);
    const main = await job.main(INPUTS, env);
    expect(main.code).toBe(1);
    expect(main.stderr).toBe('');
    const lines = main.stdout.split('\n');
    const token = maskedToken(main.stdout);
    expect(token).toMatch(/^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+$/);
    expect(lines.slice(1)).toEqual([
      `::error::${[
        `STS refused to let this job assume ${ROLE}: AccessDenied.`,
        'The job’s OIDC token presents:',
        '  sub: repo:acme/web:ref:refs/heads/feature',
        '  aud: sts.amazonaws.com',
        '  ref: refs/heads/feature',
        '  environment: (absent)',
        '  job_workflow_ref: acme/web/.github/workflows/ci.yml@refs/heads/main',
        '  repository: acme/web',
        'This job’s sub is in the name-only form (its repository does not use GitHub’s immutable subjects), ' +
          'so a condition in the immutable form ("repo:acme@1001/web@2002:…") does not match it ' +
          'until the repository opts in (docs/deploy.md, "Immutable subjects").',
        'Change the role\'s trust policy: its condition on "token.actions.githubusercontent.com:sub" must match ' +
          '"repo:acme/web:ref:refs/heads/feature" (StringLike, e.g. "repo:acme/web:*"), and ' +
          '"token.actions.githubusercontent.com:aud" must equal "sts.amazonaws.com". A job that names an environment ' +
          'presents sub "repo:acme/web:environment:NAME" instead of its ref.',
      ].join('%0A')}`,
      '',
    ]);
    expect(oidc.requests).toEqual([{ audience: 'sts.amazonaws.com', status: 200 }]);
    expect(sts.calls).toEqual([
      { roleArn: ROLE, sessionName: 'egg-4242-1', durationSeconds: 900, outcome: 'AccessDenied' },
    ]);
    expect(main.env).toEqual(new Map());
    expect(main.outputs).toEqual(new Map());
    // The token is a credential: masked first, and in no other line.
    expect(lines.slice(1).some((line) => line.includes(token))).toBe(false);

    const post = await job.post();
    expect(post).toMatchObject({
      code: 0,
      stdout: 'No tokens were minted by this job; nothing to revoke.\n',
    });
  });

  it('names the environment claim when the job runs in an environment the role does not trust', async () => {
    oidc.setClaims({ sub: 'repo:acme/web:environment:prod', environment: 'prod' });
    const main = await newJob(base).main(INPUTS, env);
    expect(main.code).toBe(1);
    expect(main.stdout).toContain('%0A  sub: repo:acme/web:environment:prod%0A');
    expect(main.stdout).toContain('%0A  environment: prod%0A');
    expect(main.env).toEqual(new Map());
  });

  it('says which provider setting to fix when the audience is not registered', async () => {
    const main = await newJob(base).main({ ...INPUTS, audience: 'https://github.com/acme' }, env);
    expect(main.code).toBe(1);
    expect(oidc.requests).toEqual([{ audience: 'https://github.com/acme', status: 200 }]);
    expect(sts.calls.map((c) => c.outcome)).toEqual(['InvalidIdentityToken']);
    expect(main.stdout.split('\n').slice(1, 2)[0]?.split('%0A').at(-1)).toBe(
      "Check the IAM OIDC identity provider for https://token.actions.githubusercontent.com in the role's account: " +
        'it must exist and list "https://github.com/acme" as an audience (or set the audience input to one it lists).',
    );
  });

  it('tells the user to grant id-token: write when the job has no token endpoint', async () => {
    const main = await newJob(base).main(INPUTS, { AWS_ENDPOINT_URL_STS: sts.endpoint });
    expect(main).toMatchObject({
      code: 1,
      stderr: '',
      stdout:
        '::error::this job cannot request an OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is not set.%0A' +
        'Add `permissions: id-token: write` to the job or the workflow (a pull request from a fork never gets one).\n',
    });
    expect(sts.calls).toEqual([]);
  });

  it('says the runner refused when its request token is wrong, without retrying', async () => {
    const main = await newJob(base).main(INPUTS, { ...env, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'wrong' });
    expect(main.code).toBe(1);
    expect(main.stdout).toBe(
      '::error::could not get an OIDC token from the runner (HTTP 401).%0A' +
        'The runner refused the request; check `permissions: id-token: write`.\n',
    );
    expect(oidc.requests).toEqual([{ audience: 'sts.amazonaws.com', status: 401 }]);
    expect(sts.calls).toEqual([]);
  });

  it('retries a token service that fails for a moment, then exchanges the token', async () => {
    oidc.failNext(2, 503);
    // Past STS the step opens the AWS backend: keep it on loopback (a closed port) and off IMDS.
    const main = await newJob(base).main(
      { ...INPUTS, 'role-session-duration': '1800' },
      { ...env, ...NOWHERE },
    );
    expect(oidc.requests.map((r) => r.status)).toEqual([503, 503, 200]);
    expect(sts.calls).toEqual([
      { roleArn: ROLE, sessionName: 'egg-4242-1', durationSeconds: 1800, outcome: 'ok' },
    ]);
    // Past STS, the step goes on to the AWS backend with the temporary credentials; the
    // credentials STS issued are never printed.
    const issued = sts.issued.at(-1);
    expect(issued).toBeDefined();
    for (const secret of [issued?.secretAccessKey, issued?.sessionToken] as string[]) {
      expect(main.stdout.includes(secret)).toBe(false);
      expect(main.stderr.includes(secret)).toBe(false);
      expect(main.envFile.includes(secret)).toBe(false);
    }
  });
});
