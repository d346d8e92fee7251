/**
 * STS through @aws-sdk/client-sts against the loopback STS (which verifies the token and
 * the trust condition), a recording server (what goes on the wire), and, when the
 * integration services run, moto's STS, an independent implementation of the same API.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeClaims, describeClaims } from '../../src/auth/claims.js';
import {
  assumeRoleWithWebIdentity,
  StsRequestFailed,
  sessionNameFor,
  stsEndpoint,
} from '../../src/auth/sts.js';
import { type FakeOidc, startFakeOidc } from '../support/fake-oidc.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';

const ROLE = 'arn:aws:iam::123456789012:role/egg-ci';

describe('assumeRoleWithWebIdentity', () => {
  let oidc: FakeOidc;
  let sts: FakeSts;
  const sleeps: number[] = [];
  const options = async (claims: Record<string, unknown> = {}) => ({
    roleArn: ROLE,
    webIdentityToken: await oidc.mint('sts.amazonaws.com', claims),
    sessionName: 'egg-4242-1',
    durationSeconds: 900,
    region: 'eu-west-1',
    env: { AWS_ENDPOINT_URL_STS: sts.endpoint },
    sleep: async (ms: number) => {
      sleeps.push(ms);
    },
  });

  beforeAll(async () => {
    oidc = await startFakeOidc();
    sts = await startFakeSts({
      providers: [{ issuer: oidc.issuer, jwksUrl: oidc.jwksUrl, audiences: ['sts.amazonaws.com'] }],
      roles: [{ arn: ROLE, sub: ['repo:acme/web:ref:refs/heads/main'], aud: 'sts.amazonaws.com' }],
    });
  });
  afterEach(() => {
    sts.calls.length = 0;
    sleeps.length = 0;
  });
  afterAll(async () => {
    await Promise.all([oidc.close(), sts.close()]);
  });

  it('returns the credentials STS issued', async () => {
    const credentials = await assumeRoleWithWebIdentity(await options());
    const issued = sts.issued.at(-1);
    expect(credentials).toEqual({
      accessKeyId: issued?.accessKeyId,
      secretAccessKey: issued?.secretAccessKey,
      sessionToken: issued?.sessionToken,
      expiration: expect.any(Date),
      assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/egg-ci/egg-4242-1',
    });
    expect(credentials.expiration.getTime() - Date.now()).toBeGreaterThan(890_000);
    expect(sts.calls).toEqual([
      { roleArn: ROLE, sessionName: 'egg-4242-1', durationSeconds: 900, outcome: 'ok' },
    ]);
  });

  it('refuses a token from another branch with AccessDenied, without retrying', async () => {
    const refused = assumeRoleWithWebIdentity(await options({ sub: 'repo:acme/web:ref:refs/heads/evil' }));
    await expect(refused).rejects.toThrow(StsRequestFailed);
    await expect(refused).rejects.toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      awsCode: 'AccessDenied',
      status: 403,
      refused: true,
      message:
        'STS refused AssumeRoleWithWebIdentity: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity',
    });
    expect(sts.calls.map((c) => c.outcome)).toEqual(['AccessDenied']);
  });

  it('refuses a token signed by another key (a forged token)', async () => {
    const forger = await startFakeOidc();
    try {
      const opts = await options();
      opts.webIdentityToken = await forger.mint('sts.amazonaws.com');
      await expect(assumeRoleWithWebIdentity(opts)).rejects.toMatchObject({
        awsCode: 'InvalidIdentityToken',
        refused: true,
      });
    } finally {
      await forger.close();
    }
  });

  it('refuses an expired token', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect(assumeRoleWithWebIdentity(await options({ exp: now - 60 }))).rejects.toMatchObject({
      awsCode: 'ExpiredTokenException',
    });
  });

  it.each([
    [503, 'ServiceUnavailable'],
    [500, 'InternalFailure'],
    [400, 'IDPCommunicationError'],
    [400, 'Throttling'],
  ])('retries a %i %s with backoff, then succeeds', async (status, code) => {
    sts.failNext(2, status, code);
    await assumeRoleWithWebIdentity(await options());
    expect(sts.calls.map((c) => c.outcome)).toEqual([code, code, 'ok']);
    expect(sleeps).toHaveLength(2);
  });

  it('gives up after four attempts', async () => {
    sts.failNext(4, 503, 'ServiceUnavailable');
    await expect(assumeRoleWithWebIdentity(await options())).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
      awsCode: 'ServiceUnavailable',
      refused: false,
    });
    expect(sts.calls).toHaveLength(4);
  });

  it('retries a refused connection', async () => {
    const opts = await options();
    opts.env = { AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9' };
    await expect(assumeRoleWithWebIdentity(opts)).rejects.toThrow('connect ECONNREFUSED 127.0.0.1:9');
    expect(sleeps).toHaveLength(3);
  });

  it('sends the token unsigned, even with AWS credentials in the environment, and decodes XML entities', async () => {
    const seen: { headers: IncomingHttpHeaders; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ headers: req.headers, body });
        res
          .setHeader('content-type', 'text/xml')
          .end(
            `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>` +
              `<Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s&amp;cret</SecretAccessKey>` +
              `<SessionToken>t&lt;ok&gt;en</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>` +
              `<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/egg-ci/egg-4242-1</Arn></AssumedRoleUser>` +
              `</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`,
          );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const ambient = { AWS_ACCESS_KEY_ID: 'AKIAAMBIENT', AWS_SECRET_ACCESS_KEY: 'ambient-secret' };
    const before = Object.keys(ambient).map((name) => [name, process.env[name]] as const);
    Object.assign(process.env, ambient);
    try {
      const opts = await options();
      opts.env = { AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
      expect(await assumeRoleWithWebIdentity(opts)).toEqual({
        accessKeyId: 'ASIAEXAMPLE',
        secretAccessKey: 's&cret',
        sessionToken: 't<ok>en',
        expiration: new Date('2030-01-01T00:00:00Z'),
        assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/egg-ci/egg-4242-1',
      });
      expect(seen).toHaveLength(1);
      const [{ headers, body }] = seen as [(typeof seen)[number]];
      expect(headers.authorization).toBeUndefined();
      expect(headers['x-amz-security-token']).toBeUndefined();
      expect(Object.fromEntries(new URLSearchParams(body))).toEqual({
        Action: 'AssumeRoleWithWebIdentity',
        Version: '2011-06-15',
        RoleArn: ROLE,
        RoleSessionName: 'egg-4242-1',
        DurationSeconds: '900',
        WebIdentityToken: opts.webIdentityToken,
      });
    } finally {
      for (const [name, value] of before) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it.skipIf(inject('aws') === null)('speaks the same wire format as moto', async () => {
    const moto = inject('aws')?.moto as string;
    const credentials = await assumeRoleWithWebIdentity({
      ...(await options()),
      env: { AWS_ENDPOINT_URL_STS: moto },
    });
    expect(credentials).toMatchObject({
      accessKeyId: expect.stringMatching(/^ASIA/),
      secretAccessKey: expect.any(String),
      sessionToken: expect.any(String),
      assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/egg-ci/egg-4242-1',
    });
  });
});

describe('stsEndpoint and sessionNameFor', () => {
  it.each<[string, NodeJS.ProcessEnv, string]>([
    ['eu-west-1', {}, 'https://sts.eu-west-1.amazonaws.com'],
    ['cn-north-1', {}, 'https://sts.cn-north-1.amazonaws.com.cn'],
    ['eu-west-1', { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' }, 'http://127.0.0.1:1'],
    ['eu-west-1', { AWS_ENDPOINT_URL: 'http://a', AWS_ENDPOINT_URL_STS: 'http://b' }, 'http://b'],
  ])('%s with %o is %s', (region, env, endpoint) => {
    expect(stsEndpoint(region, env)).toBe(endpoint);
  });

  it.each<[NodeJS.ProcessEnv, string]>([
    [{ GITHUB_RUN_ID: '4242', GITHUB_RUN_ATTEMPT: '3' }, 'egg-4242-3'],
    [{}, 'egg'],
    [{ GITHUB_RUN_ID: '4242/../x' }, 'egg-4242_.._x'],
  ])('names the session for %o %s', (env, name) => {
    expect(sessionNameFor(env)).toBe(name);
  });
});

describe('decodeClaims', () => {
  it('reads the trust claims of a token without verifying it', async () => {
    const oidc = await startFakeOidc({ claims: { environment: 'prod' } });
    try {
      const claims = decodeClaims(await oidc.mint('sts.amazonaws.com'));
      expect(describeClaims(claims)).toEqual([
        // A job in an environment presents it in its sub, as GitHub's do.
        'sub: repo:acme/web:environment:prod',
        'aud: sts.amazonaws.com',
        'ref: refs/heads/main',
        'environment: prod',
        'job_workflow_ref: acme/web/.github/workflows/ci.yml@refs/heads/main',
        'repository: acme/web',
      ]);
    } finally {
      await oidc.close();
    }
  });

  it.each(['not-a-jwt', 'a.b', 'a.!!.c', `a.${Buffer.from('[1]').toString('base64url')}.c`])(
    'refuses %s',
    (token) => {
      expect(() => decodeClaims(token)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CONFIG' }));
    },
  );
});
