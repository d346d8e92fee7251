/**
 * The built `egg doctor` as a child process: on a laptop against the local vault and
 * against DynamoDB Local + moto's KMS, and inside a "job" whose OIDC token comes from the
 * loopback token service, whose STS is the loopback fake, and whose role's trust policy
 * is read from moto's IAM.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { spawnNode } from '../support/action-runner.js';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';
import { EGG_BIN, egg } from '../support/cli.js';
import { type FakeOidc, startFakeOidc } from '../support/fake-oidc.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';

const P = 'token.actions.githubusercontent.com';

/**
 * `egg` without blocking this process: the loopback token service and STS answer from
 * this process's event loop, which `spawnSync` would stall.
 */
function eggAsync(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return spawnNode([EGG_BIN, ...args], { ...process.env, FORCE_COLOR: '0', EGG_DEBUG: '', ...env }, base);
}

let base: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'egg-doctor-e2e-'));
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

/** The environment of a laptop: no job variables, nothing inherited that points at a job. */
function laptopEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ACTIONS_ID_TOKEN_REQUEST_URL: '',
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: '',
    EGG_BACKEND: '',
    EGG_NAMESPACE: '',
    EGG_TABLE: '',
    EGG_KMS_KEY_ID: '',
    ...extra,
  };
}

describe('egg doctor on a laptop', () => {
  it('passes a fresh local vault and fails it once its permissions are loosened', () => {
    const home = join(base, 'home');
    const env = laptopEnv({ EGG_HOME: home });
    expect(egg(['init'], { env, cwd: base }).code).toBe(0);
    const good = egg(['doctor'], { env, cwd: base });
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
    expect(good.stdout).toBe(
      [
        'Not inside a GitHub Actions job with an OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL is not set): checking this machine.',
        '',
        `ok    configuration: backend local, namespace default, keyring local, EGG_HOME ${home}`,
        `ok    EGG_HOME permissions: ${home} is 0700 and its 2 files are 0600, all yours`,
        `ok    vault: ${join(home, 'kek')} opens ${join(home, 'vault.db')} (key check value matches); no secrets yet; SQLite quick_check ok`,
        '',
        'All 3 checks passed.',
        '',
      ].join('\n'),
    );

    chmodSync(home, 0o711);
    chmodSync(join(home, 'vault.db'), 0o604);
    const bad = egg(['doctor', '--json'], { env, cwd: base });
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).checks[1]).toEqual({
      name: 'EGG_HOME permissions',
      status: 'fail',
      detail: `${home} is 0711; it must be 0700\n${join(home, 'vault.db')} is 0604; it must be 0600`,
      fix: `chmod 700 ${home} && chmod 600 ${join(home, 'vault.db')}`,
    });
  });

  describe.skipIf(inject('aws') === null)('with the aws backend (DynamoDB Local, moto)', () => {
    let table: string;
    let key: string;
    beforeAll(async () => {
      useTestAws();
      [table, key] = await Promise.all([createTestTable('egg-doctor'), createTestKmsKey()]);
    });

    it('finds the credentials, the table and the key', () => {
      const env = laptopEnv({ EGG_HOME: join(base, 'aws-home'), EGG_BACKEND: 'aws' });
      const result = egg(['doctor', '--table', table, '--kms-key-id', key], { env, cwd: base });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout.split('\n').slice(2, -3)).toEqual([
        `ok    configuration: backend aws, namespace default, keyring kms, table ${table}, KMS key ${key}, region us-east-1`,
        `skip  EGG_HOME permissions: ${join(base, 'aws-home')} does not exist (the aws backend does not need it)`,
        'ok    AWS credentials: found (access key test); region us-east-1',
        `ok    DynamoDB table: ${table} is ACTIVE`,
        `ok    KMS key: ${key} is enabled for encryption`,
      ]);
    });

    it('fails a missing table and an unknown key, with the fix', () => {
      const env = laptopEnv({ EGG_HOME: join(base, 'aws-home'), EGG_BACKEND: 'aws' });
      const result = egg(['doctor', '--table', 'egg-no-such-table', '--kms-key-id', 'alias/no-such-key'], {
        env,
        cwd: base,
      });
      expect(result.code).toBe(1);
      expect(result.stdout.split('\n').slice(5, -3)).toEqual([
        'fail  DynamoDB table: egg-no-such-table does not exist in this account and region',
        '        fix: create it with `egg init --backend aws --create-table` (development) or deploy infra/ (production)',
        'fail  KMS key: alias/no-such-key cannot be used (NotFoundException)',
        '        fix: check EGG_KMS_KEY_ID and the region',
      ]);
      expect(result.stdout.split('\n').at(-2)).toBe('2 of 5 checks failed.');
    });
  });
});

describe.skipIf(inject('aws') === null)('egg doctor inside a job (loopback OIDC and STS, moto IAM)', () => {
  let oidc: FakeOidc;
  let sts: FakeSts;
  let jobEnv: NodeJS.ProcessEnv;
  const role = `arn:aws:iam::123456789012:role/egg-doctor-${process.pid}`;

  beforeAll(async () => {
    const endpoints = useTestAws();
    oidc = await startFakeOidc();
    sts = await startFakeSts({
      providers: [{ issuer: oidc.issuer, jwksUrl: oidc.jwksUrl, audiences: ['sts.amazonaws.com'] }],
      roles: [{ arn: role, sub: ['repo:acme/web:environment:prod'], aud: 'sts.amazonaws.com' }],
    });
    // The same trust policy in moto's IAM, for doctor to read with GetRole.
    const iam = new IAMClient({ region: 'us-east-1', endpoint: endpoints.moto });
    try {
      await iam.send(
        new CreateRoleCommand({
          RoleName: role.split('/').pop(),
          AssumeRolePolicyDocument: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'GitHubProd',
                Effect: 'Allow',
                Principal: { Federated: `arn:aws:iam::123456789012:oidc-provider/${P}` },
                Action: 'sts:AssumeRoleWithWebIdentity',
                Condition: {
                  StringEquals: { [`${P}:aud`]: 'sts.amazonaws.com' },
                  StringLike: { [`${P}:sub`]: 'repo:acme/web:environment:prod' },
                },
              },
            ],
          }),
        }),
      );
    } finally {
      iam.destroy();
    }
    jobEnv = {
      ACTIONS_ID_TOKEN_REQUEST_URL: oidc.requestUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.requestToken,
      AWS_ENDPOINT_URL_STS: sts.endpoint,
      AWS_ENDPOINT_URL_IAM: endpoints.moto,
      GITHUB_ACTIONS: 'true',
      GITHUB_RUN_ID: '4242',
      GITHUB_RUN_ATTEMPT: '1',
    };
  });
  afterAll(async () => {
    await Promise.all([oidc?.close(), sts?.close()]);
  });

  it('prints the claims, never the token, and names the condition that refuses the job', async () => {
    const result = await eggAsync(['doctor', '--role-arn', role], jobEnv);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(1);
    const lines = result.stdout.split('\n');
    expect(lines.slice(0, 11)).toEqual([
      'Inside a GitHub Actions job that may request an OIDC token.',
      '',
      'OIDC token claims (the token itself is never printed):',
      '  iss: https://token.actions.githubusercontent.com',
      '  sub: repo:acme/web:ref:refs/heads/main',
      '  aud: sts.amazonaws.com',
      '  ref: refs/heads/main',
      '  repository: acme/web',
      '  job_workflow_ref: acme/web/.github/workflows/ci.yml@refs/heads/main',
      '',
      expect.stringMatching(/^ok {4}OIDC token: issued for audience sts\.amazonaws\.com, valid for \d+ s$/),
    ]);
    expect(lines.slice(11)).toEqual([
      `fail  STS AssumeRoleWithWebIdentity: STS refused ${role}: AccessDenied`,
      '        fix: see the trust policy check below for the condition that refuses this token',
      `fail  trust policy: ${role} refuses this token:`,
      `        statement 0 ("GitHubProd"): "${P}:sub" is "repo:acme/web:ref:refs/heads/main", but StringLike allows only "repo:acme/web:environment:prod"`,
      `        fix: allow this job in the role's trust policy: "${P}:sub" must match "repo:acme/web:ref:refs/heads/main" (StringEquals, or StringLike with a pattern) and "${P}:aud" must be "sts.amazonaws.com"`,
      '',
      '2 of 3 checks failed.',
      '',
    ]);
    // A JWT's header and payload are base64url JSON, which starts "eyJ".
    expect(result.stdout.includes('eyJ')).toBe(false);
  });

  it('passes a job in the environment the role trusts (--json)', async () => {
    oidc.setClaims({ sub: 'repo:acme/web:environment:prod', environment: 'prod' });
    try {
      const result = await eggAsync(['doctor', '--role-arn', role, '--json'], jobEnv);
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout);
      expect(report).toMatchObject({
        where: 'job',
        ok: true,
        claims: { sub: 'repo:acme/web:environment:prod', environment: 'prod' },
        trust: { source: role, allowed: true, problems: [], notes: [] },
      });
      expect(report.checks.map((c: { status: string }) => c.status)).toEqual(['ok', 'ok', 'ok']);
      expect(result.stdout.includes('eyJ')).toBe(false);
    } finally {
      oidc.setClaims({});
    }
  });
});
