/**
 * The built CLI logs in against the loopback fake issuer (approving after two polls) and
 * the fake STS, then `whoami`, an aws-backend command signed with the session's
 * credentials, and `logout`. No token the fakes issued appears in any output.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eggAsync, findLeaks } from '../support/cli.js';
import { type FakeIssuer, startFakeIssuer } from '../support/fake-issuer.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';

const ROLE = 'arn:aws:iam::123456789012:role/egg-people';

describe('egg login, whoami, logout (built CLI)', () => {
  let issuer: FakeIssuer;
  let sts: FakeSts;
  let dynamodb: Server;
  const signedWith: string[] = [];
  let base: string;
  let env: NodeJS.ProcessEnv;
  const outputs: string[] = [];
  const run = async (args: string[]) => {
    const result = await eggAsync(args, env);
    outputs.push(result.stdout, result.stderr);
    return result;
  };

  beforeAll(async () => {
    issuer = await startFakeIssuer({ interval: 1, approveAfter: 1 });
    sts = await startFakeSts({
      providers: [{ issuer: issuer.issuer, jwksUrl: issuer.jwksUri, audiences: [issuer.clientId] }],
      roles: [{ arn: ROLE, sub: ['user-*'], aud: issuer.clientId }],
    });
    // A DynamoDB endpoint that records which access key signed each request, then refuses it.
    dynamodb = createServer((req, res) => {
      const credential = /Credential=([A-Z0-9]+)\//.exec(req.headers.authorization ?? '');
      signedWith.push(credential?.[1] ?? '(unsigned)');
      req.resume();
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' }).end(
        JSON.stringify({
          __type: 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException',
          message: 'Requested resource not found',
        }),
      );
    });
    await new Promise<void>((resolve) => dynamodb.listen(0, '127.0.0.1', resolve));
    base = mkdtempSync(join(tmpdir(), 'egg-login-e2e-'));
    env = {
      PATH: process.env.PATH,
      HOME: base,
      FORCE_COLOR: '0',
      EGG_HOME: join(base, 'home'),
      EGG_TOKEN_STORE: 'file',
      AWS_REGION: 'us-east-1',
      AWS_CONFIG_FILE: join(base, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(base, 'no-aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ENDPOINT_URL_STS: sts.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${(dynamodb.address() as AddressInfo).port}`,
    };
  });
  afterAll(async () => {
    const everything = outputs.join('\n');
    const secrets = [
      ...issuer.issuedSecrets,
      ...sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken]),
    ];
    expect(secrets.length).toBeGreaterThan(4);
    for (const secret of secrets) expect(findLeaks(everything, secret)).toEqual([]);
    dynamodb.closeAllConnections();
    await Promise.all([
      issuer.close(),
      sts.close(),
      new Promise<void>((resolve) => dynamodb.close(() => resolve())),
    ]);
    rmSync(base, { recursive: true, force: true });
  });

  it('logs in through the device flow, prompting on stderr and printing JSON on stdout', async () => {
    const result = await run([
      'login',
      '--issuer',
      issuer.issuer,
      '--client-id',
      issuer.clientId,
      '--role-arn',
      ROLE,
      '--json',
    ]);
    expect(result.stderr).toBe(
      `To log in, open ${issuer.issuer}/activate?user_code=WDJB-MJHT\nand confirm the code WDJB-MJHT (it expires in 10 minutes).\nWaiting for approval…\n`,
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      loggedIn: true,
      issuer: issuer.issuer,
      subject: 'user-8a1f',
      email: 'ada@example.com',
      roleArn: ROLE,
      assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/egg-people/egg-ada@example.com',
      credentialsExpireAt: expect.any(String),
      credentialsExpired: false,
      refreshable: true,
      tokenStore: join(base, 'home', 'login-refresh-token'),
    });
    expect(issuer.requests.filter((r) => r.startsWith('/token'))).toHaveLength(2);
    expect(statSync(join(base, 'home', 'login-refresh-token')).mode & 0o777).toBe(0o600);
  });

  it('whoami shows the identity and the expiry, never a token', async () => {
    const result = await run(['whoami']);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines.slice(0, 5)).toEqual([
      `Issuer:      ${issuer.issuer}`,
      'Subject:     user-8a1f',
      'Email:       ada@example.com',
      `Role:        ${ROLE}`,
      'Session:     arn:aws:sts::123456789012:assumed-role/egg-people/egg-ada@example.com',
    ]);
    expect(lines[5]).toMatch(/^Credentials: valid until \d{4}-\d\d-\d\dT[\d:.]+Z$/);
  });

  it('signs aws-backend requests with the session’s credentials', async () => {
    const result = await eggAsync(['secrets', 'list', '--backend', 'aws', '-n', 'acme/web'], {
      ...env,
      EGG_TABLE: 'egg',
      EGG_KMS_KEY_ID: 'alias/egg',
    });
    outputs.push(result.stdout, result.stderr);
    expect(result).toMatchObject({ code: 1, stderr: expect.stringContaining('egg') });
    expect(signedWith.length).toBeGreaterThan(0);
    expect(new Set(signedWith)).toEqual(new Set([sts.issued.at(-1)?.accessKeyId]));
  }, 60_000);

  it('logout revokes at the issuer and deletes the session', async () => {
    const result = await run(['logout', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ loggedIn: true, revocation: 'revoked' });
    expect(issuer.revoked).toHaveLength(1);
    const after = await run(['whoami', '--json', '--backend', 'aws']);
    expect(after.code).toBe(1);
    expect(JSON.parse(after.stdout)).toEqual({ loggedIn: false, backend: 'aws' });
  });
});
