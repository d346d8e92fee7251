/**
 * `egg login` against the loopback fake issuer and the fake STS: the device flow's state
 * machine, ID token checks, storage, automatic refresh with rotation, logout, and that no
 * token reaches any output. Sleep and the clock are injected, so nothing waits.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { jsonLogger } from '../../src/log.js';
import { REFRESH_TOKEN_FILE, SESSION_FILE } from '../../src/login/files.js';
import {
  type LoginDeps,
  login,
  loginCredentialsProvider,
  logout,
  sessionCredentials,
  sessionIdToken,
  whoami,
} from '../../src/login/login.js';
import { type Session, writeSession } from '../../src/login/session.js';
import { apiBearer } from '../../src/api/bearer.js';
import { type LoginSettings, resolveLoginSettings } from '../../src/login/settings.js';
import { FileTokenStore } from '../../src/login/token-store.js';
import { findLeaks } from '../support/cli.js';
import { type FakeIssuer, startFakeIssuer } from '../support/fake-issuer.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';

const ROLE = 'arn:aws:iam::123456789012:role/egg-people';

describe('egg login', () => {
  let issuer: FakeIssuer;
  let sts: FakeSts;
  let base: string;
  let home: string;
  let settings: LoginSettings;
  let offset = 0;
  let sleeps: number[];
  let logLines: string[];
  let prompts: unknown[];
  /** Everything a user or a log could see, searched for every token at the end. */
  const outputs: string[] = [];

  const deps = (extra: Partial<LoginDeps> = {}): LoginDeps & { onPrompt: (p: unknown) => void } => ({
    now: () => new Date(Date.now() + offset),
    sleep: async (ms) => {
      sleeps.push(ms);
      offset += ms;
    },
    env: { AWS_ENDPOINT_URL_STS: sts.endpoint, EGG_TOKEN_STORE: 'file', PATH: process.env.PATH },
    logger: jsonLogger({ debug: true, write: (line) => logLines.push(line) }),
    onPrompt: (prompt) => {
      prompts.push(prompt);
      outputs.push(JSON.stringify(prompt));
    },
    ...extra,
  });
  const record = <T>(value: T): T => {
    outputs.push(JSON.stringify(value));
    return value;
  };
  const refusal = async (promise: Promise<unknown>) => {
    const error = (await promise.then(
      () => undefined,
      (e: unknown) => e,
    )) as { code: string; message: string; hint?: string } | undefined;
    expect(error).toBeDefined();
    outputs.push(`${error?.message} ${error?.hint}`);
    return { code: error?.code, message: error?.message };
  };

  beforeAll(async () => {
    // The fakes share the test's clock, as the real issuer, STS and this machine share time.
    const clock = () => Date.now() + offset;
    issuer = await startFakeIssuer({ now: clock });
    sts = await startFakeSts({
      now: clock,
      providers: [{ issuer: issuer.issuer, jwksUrl: issuer.jwksUri, audiences: [issuer.clientId] }],
      roles: [{ arn: ROLE, sub: ['user-*'], aud: issuer.clientId }],
    });
    base = mkdtempSync(join(tmpdir(), 'egg-login-'));
  });
  beforeEach(() => {
    home = mkdtempSync(join(base, 'home-'));
    offset = 0;
    sleeps = [];
    logLines = [];
    prompts = [];
    issuer.requests.length = 0;
    sts.calls.length = 0;
    issuer.setIdTokenClaims({});
    issuer.signWithForeignKey(false);
    settings = resolveLoginSettings(
      resolveConfig({
        flags: { oidcIssuer: issuer.issuer, oidcClientId: issuer.clientId, roleArn: ROLE },
        env: {},
        cwd: base,
        home,
      }),
      {},
    );
  });
  afterEach(() => outputs.push(...logLines));
  afterAll(async () => {
    // The canary: no token the issuer or STS handed out appears in any output or log line.
    const everything = outputs.join('\n');
    const secrets = [
      ...issuer.issuedSecrets,
      ...sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken]),
    ];
    expect(secrets.length).toBeGreaterThan(20);
    for (const secret of secrets) expect(findLeaks(everything, secret)).toEqual([]);
    await Promise.all([issuer.close(), sts.close()]);
    rmSync(base, { recursive: true, force: true });
  });

  it('logs in: prompt, polls at the interval, verified ID token, STS, 0600 files', async () => {
    const me = record(await login(home, settings, deps()));
    expect(prompts).toEqual([
      {
        verificationUri: `${issuer.issuer}/activate`,
        verificationUriComplete: `${issuer.issuer}/activate?user_code=WDJB-MJHT`,
        userCode: 'WDJB-MJHT',
        expiresAt: expect.any(Date),
      },
    ]);
    expect(sleeps).toEqual([5000, 5000]);
    // (The fake STS fetches /jwks too, once.)
    expect(issuer.requests.filter((r) => r !== '/jwks')).toEqual([
      '/.well-known/openid-configuration',
      '/device',
      '/token:urn:ietf:params:oauth:grant-type:device_code',
      '/token:urn:ietf:params:oauth:grant-type:device_code',
    ]);
    expect(sts.calls).toEqual([
      { roleArn: ROLE, sessionName: 'egg-ada@example.com', durationSeconds: 3600, outcome: 'ok' },
    ]);
    expect(me).toEqual({
      loggedIn: true,
      issuer: issuer.issuer,
      subject: 'user-8a1f',
      email: 'ada@example.com',
      roleArn: ROLE,
      assumedRoleArn: 'arn:aws:sts::123456789012:assumed-role/egg-people/egg-ada@example.com',
      credentialsExpireAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      credentialsExpired: false,
      refreshable: true,
      tokenStore: join(home, REFRESH_TOKEN_FILE),
    });
    for (const file of [SESSION_FILE, REFRESH_TOKEN_FILE]) {
      expect(statSync(join(home, file)).mode & 0o777).toBe(0o600);
    }
    const stored = readFileSync(join(home, REFRESH_TOKEN_FILE), 'utf8').trim();
    expect(issuer.liveRefreshTokens.has(stored)).toBe(true);
    // The session file holds no refresh or ID token.
    const session = readFileSync(join(home, SESSION_FILE), 'utf8');
    for (const secret of issuer.issuedSecrets) expect(session).not.toContain(secret);
    expect(record(whoami(home, deps()))).toEqual(me);
  });

  it('adds 5 seconds to the interval on every slow_down, for all later polls', async () => {
    issuer.script(['authorization_pending', 'slow_down', 'authorization_pending', 'slow_down', 'approve']);
    record(await login(home, settings, deps()));
    expect(sleeps).toEqual([5000, 5000, 10000, 10000, 15000]);
  });

  it.each([
    ['access_denied', { code: 'ERR_ACCESS_DENIED', message: 'the login was denied at the issuer' }],
    [
      'expired_token',
      { code: 'ERR_LOGIN_REQUIRED', message: 'the login code expired before it was approved' },
    ],
  ] as const)('stops polling on %s with an exact error, and calls STS never', async (answer, expected) => {
    issuer.script(['authorization_pending', answer]);
    expect(await refusal(login(home, settings, deps()))).toEqual(expected);
    expect(sleeps).toEqual([5000, 5000]);
    expect(sts.calls).toEqual([]);
    expect(whoami(home, deps())).toBeUndefined();
  });

  it('accepts the draft verification_url of Google’s device endpoint', async () => {
    // Google answers RFC 8628 §3.2 with the draft's name for verification_uri.
    const google: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input).endsWith('/device')) return response;
      const {
        verification_uri,
        verification_uri_complete: _,
        ...rest
      } = (await response.json()) as Record<string, unknown>;
      return Response.json({ ...rest, verification_url: verification_uri }, { status: response.status });
    };
    record(await login(home, settings, deps({ fetch: google })));
    expect(prompts).toEqual([
      { verificationUri: `${issuer.issuer}/activate`, userCode: 'WDJB-MJHT', expiresAt: expect.any(Date) },
    ]);
  });

  it.each([
    [
      'names another issuer (a mix-up, OIDC Discovery §4.3)',
      { issuer: 'https://evil.example' },
      {
        code: 'ERR_OIDC',
        message:
          'the discovery document at ISSUER/.well-known/openid-configuration names another issuer (https://evil.example)',
      },
    ],
    [
      'sends the token endpoint over plain http to another host',
      { token_endpoint: 'http://evil.example/token' },
      {
        code: 'ERR_INVALID_CONFIG',
        message: 'the issuer’s token_endpoint "http://evil.example" must use https',
      },
    ],
  ])('refuses a discovery document that %s, before any grant', async (_, change, expected) => {
    const tampered: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input).endsWith('/openid-configuration')) return response;
      return Response.json({ ...((await response.json()) as object), ...change });
    };
    expect(await refusal(login(home, settings, deps({ fetch: tampered })))).toEqual({
      ...expected,
      message: expected.message.replace('ISSUER', issuer.issuer),
    });
    expect(issuer.requests.filter((r) => r !== '/.well-known/openid-configuration')).toEqual([]);
  });

  it('gives up when the device code outlives its expires_in without approval', async () => {
    const short = await startFakeIssuer({ approveAfter: 1000, deviceCodeLifetime: 12, clientId: 'egg-cli' });
    try {
      const expired = login(home, { ...settings, issuer: short.issuer }, deps());
      expect(await refusal(expired)).toEqual({
        code: 'ERR_LOGIN_REQUIRED',
        message: 'the login code expired before it was approved',
      });
      expect(sleeps).toEqual([5000, 5000, 5000]);
      expect(short.requests.filter((r) => r.startsWith('/token'))).toHaveLength(2);
    } finally {
      await short.close();
    }
  });

  it.each([
    [
      'another audience',
      () => issuer.setIdTokenClaims({ aud: 'someone-else' }),
      'the issuer’s ID token was refused: it was issued to another client (not egg-cli)',
    ],
    [
      'a signature by another key',
      () => issuer.signWithForeignKey(true),
      'the issuer’s ID token was refused: its signature does not verify against the issuer’s published keys',
    ],
    [
      'an expired token',
      () => {
        const past = Math.floor((Date.now() + offset) / 1000) - 7200;
        issuer.setIdTokenClaims({ iat: past, exp: past + 600 });
      },
      'the issuer’s ID token was refused: it has expired',
    ],
    [
      'another issuer',
      () => issuer.setIdTokenClaims({ iss: 'https://evil.example' }),
      `the issuer’s ID token was refused: it was issued by another issuer (not ${'ISSUER'})`,
    ],
    [
      'several audiences and an azp naming another client',
      () => issuer.setIdTokenClaims({ aud: ['egg-cli', 'someone-else'], azp: 'someone-else' }),
      'the ID token names several audiences and was not issued to this client',
    ],
    [
      'no subject',
      () => issuer.setIdTokenClaims({ sub: undefined }),
      'the issuer’s ID token was refused: it lacks the "sub" claim',
    ],
  ])('refuses an ID token with %s before it reaches STS', async (_, arrange, message) => {
    arrange();
    expect(await refusal(login(home, settings, deps()))).toEqual({
      code: 'ERR_OIDC',
      message: message.replace('ISSUER', issuer.issuer),
    });
    expect(sts.calls).toEqual([]);
  });

  it('uses cached credentials while fresh, then refreshes with rotation when < 5 minutes remain', async () => {
    record(await login(home, settings, deps()));
    const first = readFileSync(join(home, REFRESH_TOKEN_FILE), 'utf8').trim();
    const cached = await sessionCredentials(home, deps());
    expect(issuer.requests.filter((r) => r === '/token:refresh_token')).toEqual([]);
    expect(cached.accessKeyId).toBe(sts.issued.at(-1)?.accessKeyId);

    // 55 minutes and a second later, 4:59 remain of the hour: refresh.
    offset += 55 * 60_000 + 1000;
    const refreshed = await sessionCredentials(home, deps());
    expect(issuer.requests.filter((r) => r === '/token:refresh_token')).toHaveLength(1);
    expect(refreshed.accessKeyId).toBe(sts.issued.at(-1)?.accessKeyId);
    expect(refreshed.accessKeyId).not.toBe(cached.accessKeyId);
    // The rotated refresh token replaced the old one, which the issuer no longer accepts.
    const second = readFileSync(join(home, REFRESH_TOKEN_FILE), 'utf8').trim();
    expect(second).not.toBe(first);
    expect(issuer.liveRefreshTokens.has(first)).toBe(false);
    expect(issuer.liveRefreshTokens.has(second)).toBe(true);
    expect(statSync(join(home, REFRESH_TOKEN_FILE)).mode & 0o777).toBe(0o600);
    // The new credentials are cached: the next call refreshes nothing.
    expect((await sessionCredentials(home, deps())).accessKeyId).toBe(refreshed.accessKeyId);
    expect(issuer.requests.filter((r) => r === '/token:refresh_token')).toHaveLength(1);
    expect(record(whoami(home, deps()))).toMatchObject({
      credentialsExpireAt: refreshed.expiration.toISOString(),
    });
  });

  it('gives the AWS SDK a provider that refreshes the session itself', async () => {
    record(await login(home, settings, deps()));
    const provider = await loginCredentialsProvider(home, deps());
    const before = await provider?.();
    offset = 56 * 60_000;
    const after = await provider?.();
    expect(after?.accessKeyId).toBe(sts.issued.at(-1)?.accessKeyId);
    expect(after?.accessKeyId).not.toBe(before?.accessKeyId);
    expect(after?.expiration).toBeInstanceOf(Date);
    expect(await loginCredentialsProvider(mkdtempSync(join(base, 'empty-')), deps())).toBeUndefined();
  });

  it('says to log in again when the refresh token was revoked', async () => {
    record(await login(home, settings, deps()));
    issuer.liveRefreshTokens.clear();
    offset = 60 * 60_000;
    expect(await refusal(sessionCredentials(home, deps()))).toEqual({
      code: 'ERR_LOGIN_REQUIRED',
      message: 'your login has expired or was revoked at the issuer',
    });
  });

  it('refuses a refreshed ID token about another subject', async () => {
    record(await login(home, settings, deps()));
    issuer.setIdTokenClaims({ sub: 'user-mallory' });
    offset = 60 * 60_000;
    expect(await refusal(sessionCredentials(home, deps()))).toEqual({
      code: 'ERR_LOGIN_REQUIRED',
      message: 'could not refresh your login: the refreshed ID token names another subject than the login',
    });
  });

  it('logout revokes the refresh token at the issuer and deletes everything it stored', async () => {
    record(await login(home, settings, deps()));
    const token = readFileSync(join(home, REFRESH_TOKEN_FILE), 'utf8').trim();
    const report = record(await logout(home, deps()));
    expect(report).toEqual({
      loggedIn: true,
      issuer: issuer.issuer,
      subject: 'user-8a1f',
      revocation: 'revoked',
      deleted: [
        `refresh token (${join(home, REFRESH_TOKEN_FILE)})`,
        `login session and cached AWS credentials (${join(home, SESSION_FILE)})`,
      ],
      credentialsValidUntil: expect.any(String),
    });
    expect(issuer.revoked).toEqual([token]);
    expect(issuer.liveRefreshTokens.has(token)).toBe(false);
    expect(whoami(home, deps())).toBeUndefined();
    expect(record(await logout(home, deps()))).toEqual({
      loggedIn: false,
      revocation: 'no-refresh-token',
      deleted: [],
    });
    expect(await refusal(sessionCredentials(home, deps()))).toEqual({
      code: 'ERR_LOGIN_REQUIRED',
      message: 'you are not logged in',
    });
  });

  it('refuses a refresh-token file open to other users', async () => {
    record(await login(home, settings, deps()));
    chmodSync(join(home, REFRESH_TOKEN_FILE), 0o644);
    offset = 60 * 60_000;
    const refused = await refusal(sessionCredentials(home, deps()));
    expect(refused).toEqual({
      code: 'ERR_INSECURE_PERMISSIONS',
      message: `${join(home, REFRESH_TOKEN_FILE)} is open to other users (mode 0644); refusing to use it`,
    });
    expect(issuer.requests.filter((r) => r === '/token:refresh_token')).toEqual([]);
  });

  it('never reads a refresh-token file that is a symlink', async () => {
    record(await login(home, settings, deps()));
    const path = join(home, REFRESH_TOKEN_FILE);
    const elsewhere = join(base, `planted-${Date.now()}`);
    writeFileSync(elsewhere, 'rt-planted\n', { mode: 0o600 });
    rmSync(path);
    symlinkSync(elsewhere, path);
    offset = 60 * 60_000;
    expect(await refusal(sessionCredentials(home, deps()))).toEqual({
      code: 'ERR_INSECURE_PERMISSIONS',
      message: `${path} is not a regular file`,
    });
    expect(issuer.requests.filter((r) => r === '/token:refresh_token')).toEqual([]);
  });
  it('refuses to write the session through a planted symlink, and leaves its target alone', async () => {
    record(await login(home, settings, deps()));
    const path = join(home, SESSION_FILE);
    const session = JSON.parse(readFileSync(path, 'utf8')) as Session;
    const elsewhere = join(base, `planted-session-${Date.now()}`);
    writeFileSync(elsewhere, 'untouched', { mode: 0o600 });
    rmSync(path);
    symlinkSync(elsewhere, path);
    expect(() => writeSession(home, session)).toThrow(
      expect.objectContaining({
        code: 'ERR_INSECURE_PERMISSIONS',
        message: `${path} is a symlink; refusing to write the login session through it`,
      }),
    );
    expect(readFileSync(elsewhere, 'utf8')).toBe('untouched');
  });

  it('refuses to write the refresh token through a planted symlink, and leaves its target alone', async () => {
    const path = join(home, REFRESH_TOKEN_FILE);
    const elsewhere = join(base, `planted-token-${Date.now()}`);
    writeFileSync(elsewhere, 'untouched', { mode: 0o600 });
    symlinkSync(elsewhere, path);
    expect(await refusal(new FileTokenStore(path, home).save('rt-would-leak'))).toEqual({
      code: 'ERR_INSECURE_PERMISSIONS',
      message: `${path} is a symlink; refusing to write the refresh token through it`,
    });
    expect(readFileSync(elsewhere, 'utf8')).toBe('untouched');
  });

  describe('for the api backend', () => {
    let apiSettings: LoginSettings;
    const refreshGrants = () => issuer.requests.filter((r) => r === '/token:refresh_token').length;
    /** The error's code, message and hint (the hint names the command to run). */
    const failure = async (promise: Promise<unknown>) => {
      const error = (await promise.then(
        () => undefined,
        (e: unknown) => e,
      )) as { code: string; message: string; hint?: string } | undefined;
      outputs.push(`${error?.message} ${error?.hint}`);
      return { code: error?.code, message: error?.message, hint: error?.hint };
    };
    const storedIdToken = () =>
      (JSON.parse(readFileSync(join(home, SESSION_FILE), 'utf8')) as { idToken: { token: string } }).idToken
        .token;

    beforeEach(() => {
      apiSettings = resolveLoginSettings(
        resolveConfig({
          flags: { backend: 'api', oidcIssuer: issuer.issuer, oidcClientId: issuer.clientId },
          env: {},
          cwd: base,
          home,
        }),
        {},
      );
    });

    it('logs in without a role or STS, keeping the verified ID token and its exp in the 0600 session', async () => {
      const me = record(await login(home, apiSettings, deps()));
      expect(sts.calls).toEqual([]);
      expect(me).toEqual({
        loggedIn: true,
        backend: 'api',
        issuer: issuer.issuer,
        subject: 'user-8a1f',
        email: 'ada@example.com',
        audience: issuer.clientId,
        idTokenExpiresAt: new Date(Math.floor((Date.now() + offset) / 1000) * 1000 + 3600_000).toISOString(),
        idTokenExpired: false,
        refreshable: true,
        tokenStore: join(home, REFRESH_TOKEN_FILE),
      });
      expect(statSync(join(home, SESSION_FILE)).mode & 0o777).toBe(0o600);
      // The session holds the ID token the issuer gave (the API's bearer), never the refresh token.
      const session = readFileSync(join(home, SESSION_FILE), 'utf8');
      expect(issuer.issuedSecrets).toContain(storedIdToken());
      for (const token of issuer.liveRefreshTokens) expect(session).not.toContain(token);
      expect(record(whoami(home, deps()))).toEqual(me);
      // Its audience is the client id: what the API must list for this issuer.
      const claims = JSON.parse(Buffer.from(storedIdToken().split('.')[1]!, 'base64url').toString()) as {
        aud: string;
      };
      expect(claims.aud).toBe(issuer.clientId);
    });

    it('gives the cached ID token while more than two minutes remain, then refreshes it once, with rotation', async () => {
      record(await login(home, apiSettings, deps()));
      // The device flow's polls moved the clock; the hour counts from here.
      const loggedIn = offset;
      const first = storedIdToken();
      const firstRefreshToken = readFileSync(join(home, REFRESH_TOKEN_FILE), 'utf8').trim();
      expect(await apiBearer({}, home)).toBe(first);
      offset = loggedIn + 57 * 60_000;
      expect(await sessionIdToken(home, deps())).toBe(first);
      expect(refreshGrants()).toBe(0);

      // 58 minutes and a second later, 1:59 remain of the hour: refresh.
      offset = loggedIn + 58 * 60_000 + 1000;
      const refreshed = await sessionIdToken(home, deps());
      expect(refreshGrants()).toBe(1);
      expect(refreshed).not.toBe(first);
      expect(refreshed).toBe(storedIdToken());
      expect(issuer.liveRefreshTokens.has(firstRefreshToken)).toBe(false);
      expect(issuer.liveRefreshTokens.has(readFileSync(join(home, REFRESH_TOKEN_FILE), 'utf8').trim())).toBe(
        true,
      );
      expect(await sessionIdToken(home, deps())).toBe(refreshed);
      expect(refreshGrants()).toBe(1);
      expect(record(whoami(home, deps()))).toMatchObject({ idTokenExpired: false });
      expect(sts.calls).toEqual([]);
    });

    it('refreshes once when several callers find it expired at the same time (the session lock)', async () => {
      record(await login(home, apiSettings, deps()));
      offset += 61 * 60_000;
      expect(record(whoami(home, deps()))).toMatchObject({ idTokenExpired: true });
      // The waiters really wait (100 ms at a time) while the first caller refreshes.
      const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
      const tokens = await Promise.all([1, 2, 3].map(() => sessionIdToken(home, deps({ sleep: wait }))));
      expect(refreshGrants()).toBe(1);
      expect(new Set(tokens)).toEqual(new Set([storedIdToken()]));
    });

    it('an explicit EGG_API_TOKEN wins over the session, which is then not even read', async () => {
      record(await login(home, apiSettings, deps()));
      chmodSync(join(home, SESSION_FILE), 0o644);
      expect(await apiBearer({ EGG_API_TOKEN: 'explicit.jwt.here' }, home)).toBe('explicit.jwt.here');
      expect(refreshGrants()).toBe(0);
    });

    it('without a login, or with an aws login, says to run egg login --backend api', async () => {
      expect(await failure(apiBearer({}, home))).toEqual({
        code: 'ERR_LOGIN_REQUIRED',
        message: 'you are not logged in',
        hint: 'run `egg login --backend api`',
      });
      record(await login(home, settings, deps()));
      expect(await failure(apiBearer({}, home))).toEqual({
        code: 'ERR_LOGIN_REQUIRED',
        message: 'your login is for the aws backend (a role), not for the API',
        hint: 'run `egg login --backend api`',
      });
    });

    it('an api login gives the aws backend no credentials, saying why', async () => {
      record(await login(home, apiSettings, deps()));
      expect(await failure(loginCredentialsProvider(home, deps()))).toEqual({
        code: 'ERR_LOGIN_REQUIRED',
        message: 'your login is for the api backend, which has no AWS credentials',
        hint: 'run `egg login` with a role (--role-arn) to use the aws backend',
      });
    });

    it('says to log in again with --backend api when the refresh token was revoked', async () => {
      record(await login(home, apiSettings, deps()));
      issuer.liveRefreshTokens.clear();
      offset = 60 * 60_000;
      expect(await failure(sessionIdToken(home, deps()))).toEqual({
        code: 'ERR_LOGIN_REQUIRED',
        message: 'your login has expired or was revoked at the issuer',
        hint: 'run `egg login --backend api` again',
      });
    });

    it('refuses a refreshed ID token about another subject, and keeps the old one', async () => {
      record(await login(home, apiSettings, deps()));
      const first = storedIdToken();
      issuer.setIdTokenClaims({ sub: 'user-mallory' });
      offset = 60 * 60_000;
      expect(await failure(sessionIdToken(home, deps()))).toMatchObject({
        code: 'ERR_LOGIN_REQUIRED',
        message: 'could not refresh your login: the refreshed ID token names another subject than the login',
      });
      expect(storedIdToken()).toBe(first);
    });

    it('logout revokes the refresh token, deletes the session and its ID token, and says until when that token was valid', async () => {
      const me = record(await login(home, apiSettings, deps()));
      const token = readFileSync(join(home, REFRESH_TOKEN_FILE), 'utf8').trim();
      const report = record(await logout(home, deps()));
      // As the aws logout's report, but about the ID token instead of STS credentials.
      const { deleted, idTokenValidUntil, credentialsValidUntil } = report;
      expect({ deleted, idTokenValidUntil, credentialsValidUntil }).toEqual({
        deleted: [
          `refresh token (${join(home, REFRESH_TOKEN_FILE)})`,
          `login session and its ID token (${join(home, SESSION_FILE)})`,
        ],
        idTokenValidUntil: (me as { idTokenExpiresAt: string }).idTokenExpiresAt,
        credentialsValidUntil: undefined,
      });
      expect(report.revocation).toBe('revoked');
      expect(issuer.revoked).toContain(token);
      expect(issuer.liveRefreshTokens.has(token)).toBe(false);
      expect(whoami(home, deps())).toBeUndefined();
    });
  });
});

describe('login settings', () => {
  const settingsOf = (flags: Record<string, string>) => () =>
    resolveLoginSettings(
      resolveConfig({ flags, env: {}, cwd: tmpdir(), home: join(tmpdir(), 'no-egg-home') }),
      {},
    );
  const good = { oidcIssuer: 'https://login.example.com/', oidcClientId: 'egg', roleArn: ROLE };

  it('reads flags, EGG_* variables and defaults', () => {
    expect(settingsOf(good)()).toEqual({
      issuer: 'https://login.example.com',
      clientId: 'egg',
      scopes: 'openid email offline_access',
      roleArn: ROLE,
      region: 'us-east-1',
      durationSeconds: 3600,
      redirectPort: 27843,
    });
    const config = resolveConfig({
      env: {
        EGG_OIDC_ISSUER: 'https://id.example.org',
        EGG_OIDC_CLIENT_ID: 'c1',
        EGG_OIDC_SCOPES: 'openid profile',
        EGG_ROLE_ARN: ROLE,
        EGG_OIDC_REDIRECT_PORT: '0',
        AWS_REGION: 'eu-west-1',
      },
      cwd: tmpdir(),
      home: join(tmpdir(), 'no-egg-home'),
    });
    expect(resolveLoginSettings(config, { EGG_OIDC_CLIENT_SECRET: 'not-really-secret' })).toMatchObject({
      issuer: 'https://id.example.org',
      clientId: 'c1',
      clientSecret: 'not-really-secret',
      scopes: 'openid profile',
      region: 'eu-west-1',
      redirectPort: 0,
    });
  });

  it('needs no role for the api backend, and leaves a configured one out', () => {
    const expected = {
      backend: 'api',
      issuer: 'https://login.example.com',
      clientId: 'egg',
      scopes: 'openid email offline_access',
      redirectPort: 27843,
    };
    expect(settingsOf({ ...good, backend: 'api' })()).toEqual(expected);
    expect(settingsOf({ oidcIssuer: good.oidcIssuer, oidcClientId: 'egg', backend: 'api' })()).toEqual(
      expected,
    );
  });

  it.each([
    [{ ...good, oidcIssuer: undefined }, 'egg login needs an OIDC issuer'],
    [{ ...good, oidcClientId: undefined }, 'egg login needs an OAuth client id'],
    [{ ...good, roleArn: undefined }, 'egg login needs an IAM role to assume'],
    [{ ...good, roleArn: 'egg-people' }, '"egg-people" is not an IAM role ARN'],
    [
      { ...good, oidcIssuer: 'http://login.example.com' },
      'the OIDC issuer "http://login.example.com" must use https',
    ],
    [{ ...good, oidcScopes: 'email' }, 'the login scopes "email" lack "openid"'],
    [{ ...good, oidcRedirectPort: '65536' }, '"65536" is not a port for the login’s redirect'],
    [{ ...good, oidcRedirectPort: '-1' }, '"-1" is not a port for the login’s redirect'],
  ])('refuses %o', (flags, message) => {
    const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as Record<
      string,
      string
    >;
    expect(settingsOf(defined)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CONFIG', message }));
  });
});
