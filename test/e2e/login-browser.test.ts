/**
 * The built CLI logs in with the authorization code grant and PKCE over a loopback redirect
 * (`egg login --flow browser`, and `auto` at an issuer without the device grant, as Amazon
 * Cognito is), against the loopback fake issuer and the fake STS. `EGG_BROWSER` runs
 * test/support/fake-browser.ts, which follows the issuer's redirect to the callback as a
 * browser would and reports what it saw. No code, verifier or token appears in any output.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eggAsync, findLeaks } from '../support/cli.js';
import type { FakeBrowserReport } from '../support/fake-browser.js';
import { type FakeIssuer, startFakeIssuer } from '../support/fake-issuer.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';

const ROLE = 'arn:aws:iam::123456789012:role/egg-people';
const FAKE_BROWSER = fileURLToPath(new URL('../support/fake-browser.ts', import.meta.url));

/** A port nothing listens on right now, for an exact registered redirect URI. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('egg login in a browser: authorization code + PKCE over a loopback redirect (built CLI)', () => {
  let issuer: FakeIssuer;
  let sts: FakeSts;
  let base: string;
  let home: string;
  let port: number;
  let env: NodeJS.ProcessEnv;
  let reportFile: string;
  let runs = 0;
  const outputs: string[] = [];

  const login = (...extra: string[]) =>
    run([
      'login',
      '--issuer',
      issuer.issuer,
      '--client-id',
      issuer.clientId,
      '--role-arn',
      ROLE,
      '--redirect-port',
      String(port),
      ...extra,
    ]);
  const run = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
    const result = await eggAsync(args, { ...env, ...extraEnv });
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  /** The fake browser runs detached and may finish after `egg` has exited. */
  const report = async (): Promise<FakeBrowserReport> => {
    for (let waited = 0; !existsSync(reportFile) && waited < 10_000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const seen = JSON.parse(readFileSync(reportFile, 'utf8')) as FakeBrowserReport;
    outputs.push(JSON.stringify(seen));
    return seen;
  };
  const prompt = (redirectUri: string, opened = true) =>
    new RegExp(
      `^${opened ? 'Opened your browser to sign in\\. If it did not open, open' : 'To log in, open'} this link in a browser on this machine:\\n${issuer.issuer}/authorize\\?response_type=code&client_id=${issuer.clientId}&redirect_uri=${encodeURIComponent(redirectUri).replace(/\./g, '\\.')}&scope=openid\\+email\\+offline_access&state=[\\w-]{43}&nonce=[\\w-]{43}&code_challenge=[\\w-]{43}&code_challenge_method=S256\\nWaiting up to (5 minutes|1 second) for the sign-in to come back to ${redirectUri.replace(/\./g, '\\.')}…\\n`,
    );

  beforeAll(async () => {
    port = await freePort();
    // Like a Cognito app client: no device grant, exactly one registered callback URL.
    issuer = await startFakeIssuer({
      device: false,
      redirectUris: [`http://127.0.0.1:${port}/callback`],
    });
    sts = await startFakeSts({
      providers: [{ issuer: issuer.issuer, jwksUrl: issuer.jwksUri, audiences: [issuer.clientId] }],
      roles: [{ arn: ROLE, sub: ['user-*'], aud: issuer.clientId }],
    });
    base = mkdtempSync(join(tmpdir(), 'egg-login-browser-e2e-'));
  });
  beforeEach(() => {
    runs += 1;
    home = join(base, `home-${runs}`);
    reportFile = join(base, `browser-${runs}.json`);
    issuer.authorizeWith('approve');
    env = {
      PATH: process.env.PATH,
      HOME: base,
      FORCE_COLOR: '0',
      EGG_HOME: home,
      EGG_TOKEN_STORE: 'file',
      EGG_BROWSER: `${process.execPath} ${FAKE_BROWSER}`,
      FAKE_BROWSER_OUT: reportFile,
      AWS_REGION: 'us-east-1',
      AWS_CONFIG_FILE: join(base, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(base, 'no-aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ENDPOINT_URL_STS: sts.endpoint,
    };
  });
  afterAll(async () => {
    // The canary: no authorization code, PKCE verifier, ID/access/refresh token or STS secret in any output or page.
    const everything = outputs.join('\n');
    const secrets = [
      ...issuer.issuedSecrets,
      ...sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken]),
    ];
    expect(issuer.issuedSecrets.filter((s) => s.startsWith('ac-')).length).toBeGreaterThanOrEqual(3);
    expect(secrets.length).toBeGreaterThan(8);
    for (const secret of secrets) expect(findLeaks(everything, secret)).toEqual([]);
    await Promise.all([issuer.close(), sts.close()]);
    rmSync(base, { recursive: true, force: true });
  });

  it('logs in through the browser (auto: the issuer has no device grant), and whoami shows the session', async () => {
    const redirectUri = `http://127.0.0.1:${port}/callback`;
    const result = await login('--json');
    expect(result.stderr).toMatch(prompt(redirectUri));
    expect(result.stderr.split('\n')).toHaveLength(4);
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
      tokenStore: join(home, 'login-refresh-token'),
    });
    // The request: code + S256 challenge of a 43-character verifier, 256-bit state and nonce, the exact callback.
    const asked = issuer.authorizations.at(-1);
    expect(asked).toMatchObject({
      responseType: 'code',
      redirectUri,
      scope: 'openid email offline_access',
      codeChallengeMethod: 'S256',
      codeChallenge: expect.stringMatching(/^[\w-]{43}$/),
      state: expect.stringMatching(/^[\w-]{43}$/),
      nonce: expect.stringMatching(/^[\w-]{43}$/),
    });
    expect(issuer.requests.filter((r) => r.startsWith('/token'))).toEqual(['/token:authorization_code']);

    const seen = await report();
    expect(seen).toMatchObject({ authorizeStatus: 302, callbackStatus: 200, second: 'refused' });
    expect(seen.page).toContain('You can close this tab.');
    expect(seen.headers).toMatchObject({ 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' });
    // Bound to 127.0.0.1 alone: not reachable on 127.0.0.2, ::1 or the machine's other addresses.
    expect(seen.probes.length).toBeGreaterThanOrEqual(2);
    expect(seen.probes.filter((p) => p.connected)).toEqual([]);

    const me = await run(['whoami']);
    expect(me.code).toBe(0);
    expect(me.stdout.split('\n').slice(0, 4)).toEqual([
      `Issuer:      ${issuer.issuer}`,
      'Subject:     user-8a1f',
      'Email:       ada@example.com',
      `Role:        ${ROLE}`,
    ]);
    const out = await run(['logout', '--json']);
    expect(JSON.parse(out.stdout)).toMatchObject({ loggedIn: true, revocation: 'revoked' });
  });

  it('refuses a code bound to another PKCE challenge (an injected code): invalid_grant, nothing stored', async () => {
    issuer.authorizeWith('foreign_challenge');
    const calls = sts.calls.length;
    const result = await login();
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(prompt(`http://127.0.0.1:${port}/callback`));
    expect(result.stderr.split('\n').at(-2)).toBe(
      'Error: the issuer refused the authorization code: invalid_grant: PKCE verification failed (run `egg login` again).',
    );
    expect(sts.calls.length).toBe(calls);
    expect(existsSync(home) ? readdirSync(home).filter((f) => f.startsWith('login')) : []).toEqual([]);
  });

  it('refuses a redirect whose state is not ours, never spends the code, and stores nothing', async () => {
    issuer.authorizeWith('wrong_state');
    const before = issuer.requests.length;
    const result = await login();
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n').at(-2)).toBe(
      'Error: the sign-in response’s state does not match this login’s request (a forged or stale response); nothing was stored (run `egg login` again, and finish only the sign-in it opens).',
    );
    expect(issuer.requests.slice(before).filter((r) => r.startsWith('/token'))).toEqual([]);
    expect(existsSync(home) ? readdirSync(home).filter((f) => f.startsWith('login')) : []).toEqual([]);
    const seen = await report();
    expect(seen).toMatchObject({ callbackStatus: 400, second: 'refused' });
    expect(seen.page).toContain('egg did not accept this sign-in response. You can close this tab');
    // No session was stored: whoami on aws says nobody is logged in (local would name the OS user).
    const me = await run(['whoami', '--json', '--backend', 'aws']);
    expect(me.code).toBe(1);
  });

  it('says the login was denied when the issuer redirects with error=access_denied', async () => {
    issuer.authorizeWith('access_denied');
    const result = await login();
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n').at(-2)).toBe(
      'Error: the login was denied at the issuer (run `egg login` again and approve the request).',
    );
    expect(await report()).toMatchObject({ callbackStatus: 400 });
  });

  it('with --no-open only prints the link (EGG_BROWSER is not run), and gives up after --timeout', async () => {
    const started = Date.now();
    const result = await login('--no-open', '--timeout', '1');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(prompt(`http://127.0.0.1:${port}/callback`, false));
    expect(result.stderr.split('\n').at(-2)).toBe(
      'Error: the browser sign-in did not finish within 1 second (run `egg login` again and finish signing in sooner; with --no-open, open the printed link in a browser on this machine).',
    );
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(existsSync(reportFile)).toBe(false);
  });

  it('refuses --flow device at an issuer without the device grant, naming the browser flow', async () => {
    const result = await login('--flow', 'device');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `Error: cannot log in with ${issuer.issuer}: the issuer does not offer the device authorization grant (RFC 8628) (use --flow browser).\n`,
    );
  });
});
