/**
 * `egg login --backend api` with the built CLI: the loopback fake issuer (device flow) and
 * `egg api serve` trusting that issuer with the client id as audience. The session's ID
 * token is what `egg members` sends; one about to expire is refreshed once, by one of two
 * concurrent processes; a revoked login says to log in again. No token the issuer handed
 * out appears in any output, or in any file but the 0600 session and refresh-token files.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFRESH_TOKEN_FILE, SESSION_FILE } from '../../src/login/files.js';
import { eggAsync, findLeaks } from '../support/cli.js';
import { type FakeIssuer, startFakeIssuer } from '../support/fake-issuer.js';
import { type ServeProcess, startServe } from '../support/proxy-serve.js';

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

describe('egg login --backend api: the ID token as the API’s bearer token (built CLI)', () => {
  let issuer: FakeIssuer;
  let serve: ServeProcess;
  let base: string;
  let home: string;
  let env: NodeJS.ProcessEnv;
  const outputs: string[] = [];
  const run = async (args: string[]) => {
    const result = await eggAsync(args, env);
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  const login = (...extra: string[]) =>
    run(['login', '--issuer', issuer.issuer, '--client-id', issuer.clientId, ...extra]);
  /** The next login's ID token expires in 90 seconds: inside the two-minute window, so its first use refreshes. */
  const loginExpiringSoon = async () => {
    issuer.setIdTokenClaims({ exp: Math.floor(Date.now() / 1000) + 90 });
    const result = await login();
    issuer.setIdTokenClaims({});
    expect(result.code).toBe(0);
  };
  const refreshGrants = () => issuer.requests.filter((r) => r === '/token:refresh_token').length;
  const sessionToken = () =>
    (JSON.parse(readFileSync(join(home, SESSION_FILE), 'utf8')) as { idToken: { token: string } }).idToken
      .token;
  const membersList = () => run(['members', 'list', '-n', 'acme/web', '--json']);

  beforeAll(async () => {
    issuer = await startFakeIssuer({ interval: 1, approveAfter: 1 });
    base = mkdtempSync(join(tmpdir(), 'egg-login-api-e2e-'));
    home = join(base, 'home');
    serve = await startServe(
      { EGG_HOME: join(base, 'server') },
      ['--issuer', issuer.issuer, '--audience', issuer.clientId],
      ['api', 'serve'],
    );
    env = {
      PATH: process.env.PATH,
      HOME: base,
      FORCE_COLOR: '0',
      EGG_HOME: home,
      EGG_TOKEN_STORE: 'file',
      EGG_BACKEND: 'api',
      EGG_API_URL: serve.url,
    };
  });
  afterAll(async () => {
    serve?.child.kill('SIGTERM');
    await serve?.exited(6_000);
    const everything = [...outputs, serve.stdout(), serve.stderr()].join('\n');
    const secrets = issuer.issuedSecrets;
    expect(secrets.filter((s) => s.split('.').length === 3).length).toBeGreaterThan(5);
    for (const secret of secrets) expect(findLeaks(everything, secret)).toEqual([]);
    // Files: the server's vault and audit trail, anything else under either EGG_HOME.
    const allowed = new Set([join(home, SESSION_FILE), join(home, REFRESH_TOKEN_FILE)]);
    const files = filesUnder(base).filter((file) => !allowed.has(file));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const secret of secrets)
        expect({ file, leaks: findLeaks(bytes, secret) }).toEqual({ file, leaks: [] });
    }
    await issuer.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('logs in without a role or STS, and egg members uses the session’s ID token', async () => {
    const result = await login('--backend', 'api', '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      loggedIn: true,
      backend: 'api',
      issuer: issuer.issuer,
      subject: 'user-8a1f',
      email: 'ada@example.com',
      audience: issuer.clientId,
      idTokenExpiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/),
      idTokenExpired: false,
      refreshable: true,
      tokenStore: join(home, REFRESH_TOKEN_FILE),
    });
    for (const file of [SESSION_FILE, REFRESH_TOKEN_FILE])
      expect(statSync(join(home, file)).mode & 0o777).toBe(0o600);

    // The namespace is created with the session's token, as `egg` would send it.
    const created = await fetch(`${serve.url}/v1/namespaces/acme%2Fweb`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${sessionToken()}` },
    });
    expect(created.status).toBe(201);
    const added = await run(['members', 'add', '-n', 'acme/web', 'user-bob', '--role', 'read']);
    expect(added).toMatchObject({
      code: 0,
      stdout: `user-bob (${issuer.issuer}) is a read member of acme/web.\n`,
    });
    const listed = await membersList();
    expect(listed.code).toBe(0);
    expect(
      JSON.parse(listed.stdout).members.map((m: { subject: string; role: string }) => [m.subject, m.role]),
    ).toEqual([
      ['user-8a1f', 'owner'],
      ['user-bob', 'read'],
    ]);
    expect(refreshGrants()).toBe(0);

    const me = await run(['whoami']);
    expect(me.code).toBe(0);
    const lines = me.stdout.split('\n');
    expect(lines.slice(0, 4)).toEqual([
      `Issuer:      ${issuer.issuer}`,
      'Subject:     user-8a1f',
      'Email:       ada@example.com',
      `Backend:     api (the ID token's audience: ${issuer.clientId})`,
    ]);
    expect(lines[4]).toMatch(/^ID token: {4}valid until \d{4}-\d\d-\d\dT[\d:.]+Z$/);
  });

  it('refreshes an ID token within two minutes of its expiry once, and the new one works', async () => {
    await loginExpiringSoon();
    const before = refreshGrants();
    const old = sessionToken();
    expect((await membersList()).code).toBe(0);
    expect(refreshGrants()).toBe(before + 1);
    expect(sessionToken()).not.toBe(old);
    expect((await membersList()).code).toBe(0);
    expect(refreshGrants()).toBe(before + 1);
  });

  it('two egg processes that find it expiring refresh it once (the session lock)', async () => {
    await loginExpiringSoon();
    const before = refreshGrants();
    // A slow issuer, so the second process reaches the lock while the first refreshes. The
    // refresh token rotates: a second refresh with the same token would be refused.
    issuer.slowRefresh(1500);
    try {
      const results = await Promise.all([membersList(), membersList()]);
      expect(results.map((r) => [r.code, r.stderr])).toEqual([
        [0, ''],
        [0, ''],
      ]);
    } finally {
      issuer.slowRefresh(0);
    }
    expect(refreshGrants()).toBe(before + 1);
  });

  it('says in one sentence to log in again when the refresh token was revoked, exiting 1', async () => {
    await loginExpiringSoon();
    issuer.liveRefreshTokens.clear();
    const result = await membersList();
    expect(result).toMatchObject({
      code: 1,
      stdout: '',
      stderr:
        'Error: your login has expired or was revoked at the issuer (run `egg login --backend api` again).\n',
    });
  });

  it('logout deletes the session, after which egg members asks for a login', async () => {
    await login();
    const out = await run(['logout', '--json']);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({
      loggedIn: true,
      revocation: 'revoked',
      idTokenValidUntil: expect.any(String),
    });
    const after = await membersList();
    expect(after).toMatchObject({
      code: 1,
      stderr: 'Error: you are not logged in (run `egg login --backend api`).\n',
    });
    const me = await run(['whoami']);
    expect(me).toMatchObject({
      code: 1,
      stderr:
        'Not logged in (run `egg login --backend api`); until then the api backend needs EGG_API_TOKEN.\n',
    });
  });
});
