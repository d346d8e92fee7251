/**
 * `egg doctor` as a library: the laptop checks on the local backend (private and loose
 * permissions), and the job path against the loopback OIDC token service and STS.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor } from '../../src/doctor/doctor.js';
import { formatReport } from '../../src/doctor/report.js';
import { openLocalBackend } from '../../src/backends/local.js';
import { type FakeOidc, startFakeOidc } from '../support/fake-oidc.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';

const P = 'token.actions.githubusercontent.com';
const ROLE = 'arn:aws:iam::123456789012:role/egg-ci';

let base: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'egg-doctor-'));
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

function newHome(name: string): string {
  const home = join(base, name);
  const backend = openLocalBackend(home, { create: true });
  backend.keyring.close();
  void backend.store.close();
  return home;
}

const laptop = (home: string, extra: NodeJS.ProcessEnv = {}) =>
  runDoctor({ env: { EGG_HOME: home, ...extra }, cwd: base });

describe('egg doctor on a laptop (local backend)', () => {
  it('passes a fresh vault', async () => {
    const home = newHome('good');
    const report = await laptop(home);
    expect(report).toEqual({
      where: 'laptop',
      ok: true,
      checks: [
        {
          name: 'configuration',
          status: 'ok',
          detail: `backend local, namespace default, keyring local, EGG_HOME ${home}`,
        },
        {
          name: 'EGG_HOME permissions',
          status: 'ok',
          detail: `${home} is 0700 and its 2 files are 0600, all yours`,
        },
        {
          name: 'vault',
          status: 'ok',
          detail: `${join(home, 'kek')} opens ${join(home, 'vault.db')} (key check value matches); no secrets yet; SQLite quick_check ok`,
        },
      ],
    });
  });

  it('fails loose permissions with the chmod that fixes them', async () => {
    const home = newHome('loose');
    chmodSync(home, 0o755);
    chmodSync(join(home, 'vault.db'), 0o644);
    const report = await laptop(home);
    expect(report.ok).toBe(false);
    expect(report.checks[1]).toEqual({
      name: 'EGG_HOME permissions',
      status: 'fail',
      detail: `${home} is 0755; it must be 0700\n${join(home, 'vault.db')} is 0644; it must be 0600`,
      fix: `chmod 700 ${home} && chmod 600 ${join(home, 'vault.db')}`,
    });
    expect(report.checks[2]).toEqual({
      name: 'vault',
      status: 'skip',
      detail: 'not opened: the vault refuses to open until EGG_HOME permissions are fixed',
    });
  });

  it('fails a key readable by others, and a planted symlink', async () => {
    const home = newHome('kek-open');
    chmodSync(join(home, 'kek'), 0o640);
    symlinkSync(join(base, 'elsewhere'), join(home, 'vault.db-wal'));
    const report = await laptop(home);
    expect(report.checks.slice(1)).toEqual([
      {
        name: 'EGG_HOME permissions',
        status: 'fail',
        detail: `${join(home, 'kek')} is 0640; it must be 0600\n${join(home, 'vault.db-wal')} is a symlink; the vault refuses them`,
        fix: `replace ${join(home, 'vault.db-wal')} with the file itself && chmod 600 ${join(home, 'kek')}`,
      },
      {
        name: 'vault',
        status: 'skip',
        detail: 'not opened: the vault refuses to open until EGG_HOME permissions are fixed',
      },
    ]);
  });

  it('says to run egg init when there is no vault', async () => {
    const report = await laptop(join(base, 'missing'));
    expect(report.checks[1]).toEqual({
      name: 'EGG_HOME permissions',
      status: 'fail',
      detail: `there is no vault at ${join(base, 'missing')}`,
      fix: 'run `egg init` to create one, or set EGG_HOME',
    });
  });

  it('fails bad configuration and stops there', async () => {
    const report = await laptop(join(base, 'x'), { EGG_BACKEND: 'cloud' });
    expect(report).toEqual({
      where: 'laptop',
      ok: false,
      checks: [
        {
          name: 'configuration',
          status: 'fail',
          detail: 'unknown backend "cloud" (from EGG_BACKEND)',
          fix: 'use "local", "aws" or "api"',
        },
      ],
    });
  });

  it('prints one line per check, with the fix under a failure', async () => {
    const home = newHome('print');
    chmodSync(home, 0o750);
    expect(formatReport(await laptop(home))).toEqual([
      'Not inside a GitHub Actions job with an OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL is not set): checking this machine.',
      '',
      `ok    configuration: backend local, namespace default, keyring local, EGG_HOME ${home}`,
      `fail  EGG_HOME permissions: ${home} is 0750; it must be 0700`,
      `        fix: chmod 700 ${home}`,
      'skip  vault: not opened: the vault refuses to open until EGG_HOME permissions are fixed',
      '',
      '1 of 3 checks failed.',
    ]);
  });
});

describe('egg doctor inside a job', () => {
  let oidc: FakeOidc;
  let sts: FakeSts;
  let jobEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    oidc = await startFakeOidc();
    sts = await startFakeSts({
      providers: [{ issuer: oidc.issuer, jwksUrl: oidc.jwksUrl, audiences: ['sts.amazonaws.com'] }],
      roles: [{ arn: ROLE, sub: ['repo:acme/web:environment:prod'], aud: 'sts.amazonaws.com' }],
    });
    jobEnv = {
      ACTIONS_ID_TOKEN_REQUEST_URL: oidc.requestUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.requestToken,
      AWS_ENDPOINT_URL_STS: sts.endpoint,
      GITHUB_RUN_ID: '4242',
      GITHUB_RUN_ATTEMPT: '1',
    };
  });
  afterAll(async () => {
    await Promise.all([oidc?.close(), sts?.close()]);
  });

  const CLAIMS = {
    iss: 'https://token.actions.githubusercontent.com',
    sub: 'repo:acme/web:ref:refs/heads/main',
    aud: 'sts.amazonaws.com',
    ref: 'refs/heads/main',
    repository: 'acme/web',
    job_workflow_ref: 'acme/web/.github/workflows/ci.yml@refs/heads/main',
  };

  it('shows the claims and skips the trust check without a role', async () => {
    const report = await runDoctor({ env: jobEnv });
    expect(report.where).toBe('job');
    expect(report.ok).toBe(true);
    expect(report.claims).toEqual(CLAIMS);
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ['OIDC token', 'ok'],
      ['trust policy', 'skip'],
    ]);
    expect(report.checks[0]?.detail).toMatch(
      /^issued for audience sts\.amazonaws\.com, valid for (29\d|300) s$/,
    );
    expect(oidc.requests.at(-1)).toEqual({ audience: 'sts.amazonaws.com', status: 200 });
  });

  it('asks STS and names the condition that refuses the job (trust policy from a file)', async () => {
    const file = join(base, 'trust.json');
    writeFileSync(
      file,
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Federated: `arn:aws:iam::123456789012:oidc-provider/${P}` },
            Action: 'sts:AssumeRoleWithWebIdentity',
            Condition: {
              StringEquals: {
                [`${P}:aud`]: 'sts.amazonaws.com',
                [`${P}:sub`]: 'repo:acme/web:environment:prod',
              },
            },
          },
        ],
      }),
    );
    const report = await runDoctor({ env: jobEnv, roleArn: ROLE, trustPolicyFile: file });
    expect(report.ok).toBe(false);
    expect(report.checks).toEqual([
      expect.objectContaining({ name: 'OIDC token', status: 'ok' }),
      {
        name: 'STS AssumeRoleWithWebIdentity',
        status: 'fail',
        detail: `STS refused ${ROLE}: AccessDenied`,
        fix: 'see the trust policy check below for the condition that refuses this token',
      },
      {
        name: 'trust policy',
        status: 'fail',
        detail: `${file} refuses this token:\nstatement 0: "${P}:sub" is "repo:acme/web:ref:refs/heads/main", but StringEquals allows only "repo:acme/web:environment:prod"`,
        fix: `allow this job in the role's trust policy: "${P}:sub" must match "repo:acme/web:ref:refs/heads/main" (StringEquals, or StringLike with a pattern) and "${P}:aud" must be "sts.amazonaws.com"`,
      },
    ]);
    expect(report.trust).toEqual({
      source: file,
      allowed: false,
      problems: [
        `statement 0: "${P}:sub" is "repo:acme/web:ref:refs/heads/main", but StringEquals allows only "repo:acme/web:environment:prod"`,
      ],
      notes: [],
    });
    expect(sts.calls.at(-1)).toEqual({
      roleArn: ROLE,
      sessionName: 'egg-4242-1-doctor',
      durationSeconds: 900,
      outcome: 'AccessDenied',
    });
  });

  it('passes when the job matches, reading the role with the session STS gave it', async () => {
    oidc.setClaims({ sub: 'repo:acme/web:environment:prod', environment: 'prod' });
    try {
      const seen: unknown[] = [];
      const report = await runDoctor({
        env: jobEnv,
        roleArn: ROLE,
        readRolePolicy: async (arn, credentials) => {
          seen.push(arn, credentials);
          return encodeURIComponent(
            JSON.stringify({
              Statement: {
                Effect: 'Allow',
                Principal: { Federated: `arn:aws:iam::123456789012:oidc-provider/${P}` },
                Action: 'sts:AssumeRoleWithWebIdentity',
                Condition: { StringLike: { [`${P}:sub`]: 'repo:acme/web:environment:*' } },
              },
            }),
          );
        },
      });
      expect(report.ok).toBe(true);
      expect(report.claims?.environment).toBe('prod');
      expect(report.checks.map((c) => [c.name, c.status, c.detail])).toEqual([
        ['OIDC token', 'ok', expect.any(String)],
        [
          'STS AssumeRoleWithWebIdentity',
          'ok',
          `${ROLE} trusts this job (session arn:aws:sts::123456789012:assumed-role/egg-ci/egg-4242-1-doctor)`,
        ],
        ['trust policy', 'ok', `${ROLE} allows this token`],
      ]);
      expect(seen[0]).toBe(ROLE);
      expect(seen[1]).toMatchObject({ accessKeyId: sts.issued.at(-1)?.accessKeyId });
    } finally {
      oidc.setClaims({});
    }
  });

  it('skips the trust check, saying how to pass the policy, when nothing may read the role', async () => {
    const report = await runDoctor({
      env: { ...jobEnv, AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9' },
      roleArn: ROLE,
    });
    expect(report.checks.at(-1)).toEqual({
      name: 'trust policy',
      status: 'skip',
      detail: `no AWS credentials in this job to read the trust policy of ${ROLE}`,
      fix: 'save it with `aws iam get-role --role-name egg-ci --query Role.AssumeRolePolicyDocument > trust.json` and pass --trust-policy trust.json',
    });
  });

  it('says to add id-token: write when the runner refuses the token request', async () => {
    const report = await runDoctor({
      env: { ...jobEnv, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'wrong' },
    });
    expect(report.ok).toBe(false);
    expect(report.checks).toEqual([
      {
        name: 'OIDC token',
        status: 'fail',
        detail: 'could not get an OIDC token from the runner (HTTP 401)',
        fix: 'the runner refused the request; check `permissions: id-token: write`',
      },
    ]);
  });

  it('never puts the token in the report', async () => {
    const tokens: string[] = [];
    const recording: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (String(input).startsWith(oidc.requestUrl.split('?')[0] as string)) {
        const body = (await response.clone().json()) as { value: string };
        tokens.push(body.value);
      }
      return response;
    };
    const report = await runDoctor({ env: jobEnv, roleArn: ROLE, fetch: recording });
    expect(tokens).toHaveLength(1);
    const printed = JSON.stringify(report) + formatReport(report).join('\n');
    for (const part of (tokens[0] as string).split('.')) expect(printed.includes(part)).toBe(false);
  });
});

describe('egg doctor outside a job with a role', () => {
  it('skips the trust check: there is no token to compare', async () => {
    const home = join(base, 'role-laptop');
    mkdirSync(home, { mode: 0o700 });
    const report = await runDoctor({ env: { EGG_HOME: home }, cwd: base, roleArn: ROLE });
    expect(report.checks.at(-1)).toEqual({
      name: 'trust policy',
      status: 'skip',
      detail: 'there is no OIDC token outside a GitHub Actions job to compare it with',
      fix: 'run `egg doctor --role-arn ARN` as a step of the job (with `permissions: id-token: write`), or pass the sub the job presents as --subject',
    });
  });
});
